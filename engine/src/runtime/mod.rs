//! The runtime seam: what the engine needs from its shard runtime, over `corepool-runtime`.
//!
//! Everything above this module (sessions, pools, health checks) sees [`Stream`], [`Chunk`],
//! [`Listener`], [`sleep`], [`timeout`], [`spawn`] and [`now`]. A shard is a thread running
//! corepool's io_uring loop ([`start_shards`]); a [`Stream`] is a socket on that shard's ring,
//! in clear or with TLS ([`tls`]) on top.
//!
//! # Layout
//! - `stream`: [`Stream`] (chunk API for the relay, byte-stream API for everything else),
//!   [`Chunk`], [`Listener`], [`UnixListener`].
//! - [`tls`]: rustls configurations and the TLS session over a plain stream.
//! - `shards`: one pinned thread per shard, the start gate, the port check, `RLIMIT_NOFILE`.
//! - `readbuf`: [`ReadBuf`], the contiguous buffer of the slow paths (start-up, auth, queries).
//! - `sys`: CPU affinity, resource limits and the effective uid (the seam's only unsafe code).

mod readbuf;
mod shards;
mod stream;
mod sys;
pub mod tls;

pub use corepool_runtime::buf::{Piece, RecvBuf};
pub use corepool_runtime::{now, sleep, spawn, timeout};
pub use readbuf::ReadBuf;
pub use shards::{
    check_port_free, raise_fd_limit, start_shards, ExecutorSettings, ShardHandle, StartGate,
};
pub use stream::{Chunk, Listener, Stream, UnixListener};
pub use sys::effective_uid;
