//! `pump`: the cheapest proxy this kernel allows, the floor of compare-proxies. It pairs each
//! client with its own PostgreSQL connection and copies bytes both ways without looking at a
//! single message: no protocol, no pooling, no authentication of its own (the client talks
//! to PostgreSQL through it), one thread.
//!
//! ```text
//! pump --mode epoll --listen 127.0.0.1:6432 --backend 127.0.0.1:5432 [--trigger edge|level]
//! pump --mode uring --listen 127.0.0.1:6432 --backend 127.0.0.1:5432
//! ```
//!
//! # Layout
//! - `epoll`: a readiness loop on libc's epoll (`recv`/`send` per event), edge- or
//!   level-triggered.
//! - `uring`: a completion loop on corepool's shard runtime (multishot receive into provided
//!   buffers, zero-copy forwarding, one `io_uring_enter` per turn).
//! - `sys`: the libc wrappers `epoll` uses, the only `unsafe`.
//!
//! It runs until killed (compare-proxies sends SIGINT); a listening failure exits with 1.
#![deny(unsafe_code)]
#![warn(missing_docs)]

mod epoll;
mod sys;
mod uring;

use std::net::SocketAddrV4;
use std::process::ExitCode;

use clap::Parser;

/// A protocol-blind byte pump between clients and PostgreSQL.
#[derive(Debug, Parser)]
#[command(version)]
struct Args {
    /// Which loop.
    #[arg(long, value_enum)]
    mode: Mode,
    /// Address to accept clients on.
    #[arg(long)]
    listen: SocketAddrV4,
    /// PostgreSQL's address; every client gets its own connection to it.
    #[arg(long)]
    backend: SocketAddrV4,
    /// epoll registration (`--mode epoll` only).
    #[arg(long, value_enum, default_value_t = epoll::Trigger::Edge)]
    trigger: epoll::Trigger,
}

/// `--mode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Mode {
    /// libc epoll readiness loop.
    Epoll,
    /// io_uring completion loop (corepool-runtime).
    Uring,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let result = match args.mode {
        Mode::Epoll => epoll::run(args.listen, args.backend, args.trigger),
        Mode::Uring => uring::run(args.listen.into(), args.backend.into()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("pump: {e}");
            ExitCode::FAILURE
        }
    }
}
