//! Side-by-side comparisons of corepool with PgBouncer, PgDog, Pgpool-II and a protocol-blind
//! byte pump (the floor) on a real PostgreSQL.
//!
//! The `compare-proxies` binary starts a PostgreSQL primary with the testkit, puts every target
//! in front of it, runs pgbench's select-only workloads against each in interleaved rounds
//! (TPS, average latency, p50/p99/p99.9 from pgbench's per-transaction log), samples each
//! proxy's CPU time around every run, and then measures the memory each proxy holds per idle
//! client. The `pump` binary is the floor target. The criterion benches of corepool's hot
//! components live in `benches/` and do not use this library.
//!
//! This crate does not tune the machine, pin processes, or judge results: it reports medians
//! and ratios and leaves the conclusions to the reader.
//!
//! # Layout
//! Bottom to top (each module imports only from the ones above it in this list):
//! - [`sys`]: the only `unsafe` (rlimits, signals, CLK_TCK); [`stop`]: Ctrl-C as a flag.
//! - [`latency`]: percentiles from pgbench's per-transaction logs.
//! - [`pgbench`]: the workloads, running `pgbench` as the cluster's user and parsing its
//!   summary and logs.
//! - [`kind`]: what a target is ([`kind::TargetKind`]) and how it pools ([`kind::Pooling`]).
//! - [`procs`]: CPU time and memory of a proxy's processes from `/proc`.
//! - [`idle`]: a tiny blocking client that completes start-up and stays idle.
//! - [`conf`]: each proxy's configuration files from one [`conf::ProxyConfig`].
//! - [`programs`]: where each target's program is (the peers directory, PATH, the build).
//! - [`targets`]: starting and stopping a proxy ([`targets::Proxy`]).
//! - [`plan`]: the run's [`plan::Options`], its workloads, and how it is sized
//!   ([`plan::Plan`]: which pairs fit `max_connections`, each proxy's configuration).
//! - [`results`]: runs, medians and baselines; [`tables`]: the markdown.
//! - [`throughput`]: the interleaved pgbench rounds; [`memory`]: the idle-client phase.
//! - [`compare`]: the whole run and its [`compare::Report`].
//! - [`qcache`]: the query-cache comparison's script and settings (`compare-query-cache`).
//! - [`build`]: finds and builds the release `corepool` and `pump` binaries.
//!
//! Data moves one way: `compare` makes a `plan`, `throughput` asks `targets` for proxies and
//! runs `pgbench` against them while `procs` samples, and `tables` renders the `results`.
#![deny(unsafe_code)]
#![warn(missing_docs)]

pub mod build;
pub mod compare;
pub mod conf;
pub mod idle;
pub mod kind;
pub mod latency;
pub mod memory;
pub mod pgbench;
pub mod plan;
pub mod procs;
pub mod programs;
pub mod qcache;
pub mod results;
pub mod stop;
pub mod sys;
pub mod tables;
pub mod targets;
pub mod throughput;
