//! Side-by-side comparisons of corepool with PgBouncer and Pgpool-II on a real PostgreSQL.
//!
//! The `compare-proxies` binary starts a PostgreSQL primary with the testkit, puts every proxy
//! in front of it, runs pgbench's select-only workloads against each in interleaved rounds,
//! samples each proxy's CPU time around every run, and then measures the memory each proxy
//! holds per idle client. The criterion benches of corepool's hot components live in
//! `benches/` and do not use this library.
//!
//! This crate does not tune the machine, pin processes, or judge results: it reports medians
//! and ratios and leaves the conclusions to the reader.
//!
//! # Layout
//! - [`compare`]: the run itself: cluster, proxies, interleaved pgbench rounds, the
//!   [`compare::Report`].
//! - [`memory`]: the idle-client phase: memory and backends held per idle client.
//! - [`targets`]: what a run is pointed at ([`targets::TargetKind`]) and starting and stopping
//!   each proxy ([`targets::Proxy`]), with its configuration from [`conf`].
//! - [`pgbench`]: the workloads, running `pgbench` as the cluster's user and parsing its summary.
//! - [`procs`]: CPU time and memory of a proxy's processes from `/proc`.
//! - [`idle`]: a tiny blocking client that completes start-up and stays idle.
//! - [`report`]: medians, ratios and the markdown tables.
//! - [`build`]: finds and builds the release `corepool` binary.
//! - [`stop`]: Ctrl-C as a flag, so guards get to clean up.
//! - [`sys`]: the only `unsafe` (rlimits, signals, CLK_TCK).
//!
//! Data moves one way: `compare` asks `targets` for proxies, runs `pgbench` against them while
//! `procs` samples, and hands the numbers to `report` for rendering.
#![deny(unsafe_code)]
#![warn(missing_docs)]

pub mod build;
pub mod compare;
pub mod conf;
pub mod idle;
pub mod memory;
pub mod pgbench;
pub mod procs;
pub mod report;
pub mod stop;
pub mod sys;
pub mod targets;
