//! corepool's shard runtime: one thread, one io_uring, completion-based sockets and timers.
//!
//! Each shard of the proxy is a thread running [`run`]: a queue of async tasks and a reactor
//! that owns one ring. Sockets never return `EAGAIN` to anyone and never arm a readiness poll:
//! a socket's data arrives through a multishot receive into buffers the kernel picks from the
//! shard's provided-buffer ring, and what is sent is queued on the socket and submitted as
//! `SEND`/`SENDMSG` entries that the reactor chains itself. Each loop turn runs every task that
//! is ready, then makes one `io_uring_enter` that submits everything the turn produced, waits
//! only when nothing is left to run, and reaps every completion.
//!
//! # Layout
//! - [`executor`]: the task loop ([`run`], [`spawn`]), other threads' wake-ups through an
//!   eventfd, and the loop turn's clock ([`now`]).
//! - `reactor`: the ring, its operation slots, the sockets' receive inboxes and send queues,
//!   the timers and the park. `reactor/bufring.rs` lends the kernel the receive buffers.
//! - [`net`]: [`net::Socket`] (TCP or UNIX-domain) and [`net::Listener`]: the chunk API the
//!   proxy's relay uses ([`net::Socket::poll_recv`], [`net::Socket::send`]) and, for slower
//!   paths, `AsyncRead`/`AsyncWrite` on top of it.
//! - [`buf`]: [`buf::RecvBuf`] (one received chunk, lent back to the ring when dropped) and
//!   [`buf::Piece`] (what a send queue holds).
//! - [`time`]: [`sleep`], [`timeout`].
//!
//! Data moves: the kernel writes received bytes into a ring buffer and posts a completion → the
//! reactor appends a [`buf::RecvBuf`] to the socket's inbox and wakes its task → the task walks
//! it and hands it (or a part) to another socket's send queue → the reactor submits it, and
//! when the send completes the buffer goes back to the ring. No byte is copied in user space.
//!
//! The runtime needs Linux 6.0 or later (provided-buffer rings, multishot receive and accept);
//! [`run`] fails with a clear error on older kernels.
#![warn(missing_docs)]
#![deny(unsafe_code)]

pub mod buf;
pub mod executor;
pub mod net;
mod reactor;
pub mod time;

pub use executor::{block_on, is_current, now, open_sockets, run, run_with, spawn, stats, Options};
pub use reactor::Stats;
pub use time::{sleep, timeout, Sleep, Timeout};
