//! The duplex relay between a client and one backend: both directions in one task, chunk by
//! chunk as the kernel received them, no copies.
//!
//! Each direction takes a received chunk, walks its message headers
//! ([`ChunkWalker`](corepool_protocol::framing::ChunkWalker)) and queues the chunk itself on the
//! other socket, which sends it on the ring; the chunk's buffer goes back to the kernel when
//! the send completes. Only the few messages corepool must read are looked into: ReadyForQuery,
//! ParameterStatus and ErrorResponse from the backend; Terminate, and the first message of a
//! request when the session asked to see requests, from the client. A direction stops reading
//! while the other socket has more than [`HIGH_WATER`] bytes unsent (backpressure), without
//! blocking the other direction.
//!
//! A run returns why it stopped as a value ([`Stop`]): a request for the session to decide, a
//! drained backend, an idle backend at a transaction boundary, or the end of the session. The
//! relay keeps no state of its own: the client direction's lives in [`ClientSide`], the
//! backend's in each connection's [`BackendSide`](crate::backend::BackendSide), so the session
//! can act on a stop — switch backends, answer a command — and run the relay again.
//!
//! # Layout
//! - `client`: [`ClientSide`] and the client → backend direction.
//! - `backend`: the backend → client direction.
//! - `idle`: client_idle_limit's record of activity and its timer.
//! - `cache`: the query cache's reply capture and write invalidation ([`CacheTrack`]).

mod backend;
mod cache;
mod client;
mod idle;

pub use cache::{CacheTrack, Capture};
pub use client::{ClientSide, Front};
pub use idle::{idle_timeout, IdleWatch};

use std::future::poll_fn;
use std::io;
use std::sync::atomic::AtomicU8;
use std::task::{Context, Poll, Waker};

use corepool_protocol::framing::Limits;
use corepool_protocol::message::TransactionStatus;

use crate::backend::BackendConn;
use crate::cluster::sessions::Activity;
use crate::cluster::stats::{NodeStats, ShardStats};
use crate::runtime::{Chunk, Stream};

/// Unsent bytes on a socket past which the relay stops reading the other side.
pub const HIGH_WATER: usize = 256 * 1024;

/// Chunks handled per poll before yielding to other sessions of the shard.
const POLL_BUDGET: usize = 32;

/// Why a relay run returned.
#[derive(Debug)]
pub enum Stop {
    /// The client's next request is at the front of its input ([`ClientSide::front`]) and the
    /// session asked to decide where it goes. Everything before it was forwarded.
    Request,
    /// Drain mode: the backend owes nothing more and everything it sent was forwarded.
    Drained,
    /// The backend finished the client's transaction (ReadyForQuery `I`, nothing owed) and the
    /// session asked to hear of it (transaction pooling gives the backend back then).
    Idle,
    /// The session is over.
    End(End),
}

/// Why a session ends.
#[derive(Debug)]
pub enum End {
    /// The client sent Terminate (it was not forwarded).
    ClientTerminated,
    /// The client's socket closed or failed without Terminate.
    ClientGone,
    /// The client sent bytes that are not a valid message stream.
    ClientProtocol(corepool_protocol::Error),
    /// The backend closed or failed. `fatal_seen` tells whether it sent a FATAL first (the
    /// client already has the reason then).
    BackendGone {
        /// The I/O error, if any.
        error: Option<io::Error>,
        /// A FATAL or PANIC ErrorResponse was forwarded before the end.
        fatal_seen: bool,
    },
    /// The backend sent bytes that are not a valid message stream.
    BackendProtocol(corepool_protocol::Error),
    /// The shard asked the session to stop (fast shutdown).
    Stopped,
    /// The client sent nothing for client_idle_limit while no request was outstanding.
    IdleTimeout(std::time::Duration),
    /// The session's backend node was detached (failover): the session cannot go on there.
    NodeDetached(usize),
}

impl From<crate::shard::StopReason> for End {
    fn from(r: crate::shard::StopReason) -> Self {
        match r {
            crate::shard::StopReason::Shutdown => End::Stopped,
            crate::shard::StopReason::NodeDetached(node) => End::NodeDetached(node),
        }
    }
}

impl End {
    /// The backend connection failed without a reason the client saw.
    pub fn backend_lost(error: Option<io::Error>) -> Self {
        End::BackendGone {
            error,
            fatal_seen: false,
        }
    }
}

/// What the session wants the relay to stop for.
#[derive(Debug, Clone, Copy, Default)]
pub struct Watch {
    /// Stop at every request's first message (the session routes each request).
    pub requests: bool,
    /// Stop at Binds too (a statement prepared in-band may be bound).
    pub binds: bool,
    /// Stop with [`Stop::Idle`] when the backend is idle between transactions.
    pub idle_backend: bool,
    /// Stop at statements that may change session state a transaction pool carries (SET,
    /// LISTEN, temporary tables, named prepared statements …).
    pub session_state: bool,
}

/// What happens to one client message on its way to the backend, when the session rewrites
/// the client's stream (transaction pooling's prepared statements).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rewritten {
    /// It goes on as it came.
    Forward,
    /// These bytes go instead (they may hold several messages).
    Replace(Vec<u8>),
    /// Nothing goes (its reply was made up).
    Drop,
}

/// Rewrites the client's messages on their way to the backend, queueing in the backend's
/// [`Expected`](crate::backend::expect::Expected) what each reply is.
pub trait Rewrite {
    /// Decides one client message (`frame` whole) and queues what the backend owes for it.
    fn client_message(
        &mut self,
        tag: u8,
        frame: &[u8],
        expect: &mut crate::backend::expect::Expected,
    ) -> Rewritten;

    /// A statement prepared on corepool's own initiative failed on the backend.
    fn statement_failed(&mut self, def: &crate::backend::prepared::Definition);
}

/// What the relay learns about the backend for the session's decision.
#[derive(Debug, Clone, Copy)]
pub struct Observed {
    /// Its node.
    pub node: usize,
    /// Its transaction status from the last ReadyForQuery.
    pub status: TransactionStatus,
    /// It owes nothing: `status` is up to date.
    pub quiet: bool,
}

impl Observed {
    /// What `backend` looks like now.
    pub fn of(backend: &BackendConn) -> Self {
        Self {
            node: backend.node,
            status: backend.status,
            quiet: backend.side.is_quiet(),
        }
    }
}

/// Where a relay counts traffic: the shard's own statistics (no other core writes them).
#[derive(Clone, Copy)]
pub struct Meter<'a> {
    /// The shard's byte counters.
    pub shard: &'a ShardStats,
    /// The backend node's figures on this shard (latency, errors).
    pub node: Option<&'a NodeStats>,
    /// Count statements by their first keyword (sessions that do not route; a routing session's
    /// router counts them).
    pub count_statements: bool,
}

/// One run of the relay over a client and one backend.
pub struct Relay<'a> {
    pub(super) client: &'a mut Stream,
    pub(super) side: &'a mut ClientSide,
    pub(super) backend: &'a mut BackendConn,
    pub(super) limits: &'a Limits,
    pub(super) watch: Watch,
    /// Called on every wake-up with the task's waker (so the shard can wake idle sessions for a
    /// fast shutdown or a failover); an answer ends the run with it.
    stop: &'a dyn Fn(&Waker) -> Option<End>,
    pub(super) drain: bool,
    pub(super) idle: Option<&'a IdleWatch>,
    pub(super) meter: Option<Meter<'a>>,
    activity: Option<&'a AtomicU8>,
    pub(super) rewrite: Option<&'a mut dyn Rewrite>,
    pub(super) cache: Option<&'a mut CacheTrack>,
}

/// What one direction's turn did.
pub(super) enum Turn {
    /// Nothing to do (the waker is registered where progress can come from).
    Waiting,
    /// Bytes moved.
    Moved,
    /// The run ends.
    Stop(Stop),
}

impl<'a> Relay<'a> {
    /// A relay over a client and one backend.
    pub fn new(
        client: &'a mut Stream,
        side: &'a mut ClientSide,
        backend: &'a mut BackendConn,
        limits: &'a Limits,
        stop: &'a dyn Fn(&Waker) -> Option<End>,
    ) -> Self {
        // Bytes an earlier reader (start-up, an internal query) left in the connection's read
        // buffer come first.
        backend.stream.unread_buf(&mut backend.rbuf);
        Self {
            client,
            side,
            backend,
            limits,
            watch: Watch::default(),
            stop,
            drain: false,
            idle: None,
            meter: None,
            activity: None,
            rewrite: None,
            cache: None,
        }
    }

    /// Captures replies for the query cache and invalidates what writes wrote (`track`).
    pub fn caching(mut self, track: Option<&'a mut CacheTrack>) -> Self {
        self.cache = track;
        self
    }

    /// Passes every client message through `rewrite` (and the replies through the backend's
    /// expected-reply queue).
    pub fn rewriting(mut self, rewrite: &'a mut dyn Rewrite) -> Self {
        self.rewrite = Some(rewrite);
        self
    }

    /// Sends the replies corepool made up that are due (everything before them answered).
    pub(super) fn send_made_up(&mut self) -> io::Result<()> {
        while let Some(reply) = self.backend.side.expect.pop_made_up() {
            self.client.send(bytes::Bytes::from_static(reply))?;
        }
        Ok(())
    }

    /// Stops for what `watch` names.
    pub fn watching(mut self, watch: Watch) -> Self {
        self.watch = watch;
        self
    }

    /// Counts traffic into `meter`.
    pub fn metered(mut self, meter: Meter<'a>) -> Self {
        self.meter = Some(meter);
        self
    }

    /// Keeps `watch` up to date for client_idle_limit.
    pub fn watched(mut self, watch: &'a IdleWatch) -> Self {
        self.idle = Some(watch);
        self
    }

    /// Publishes what the session is doing into `cell` (its registry slot) for PCP.
    pub fn published(mut self, cell: Option<&'a AtomicU8>) -> Self {
        self.activity = cell;
        self
    }

    /// Only forwards what the backend still owes, without reading the client, and returns
    /// [`Stop::Drained`] once nothing is owed.
    pub fn draining(mut self) -> Self {
        self.drain = true;
        self
    }

    /// Runs until the relay stops.
    pub async fn run(mut self) -> Stop {
        poll_fn(|cx| self.poll_relay(cx)).await
    }

    pub(super) fn note_activity(&self, client_read: bool) {
        let busy = self.backend.side.in_flight > 0;
        if let Some(w) = self.idle {
            if client_read || w.busy.get() != busy {
                w.last.set(crate::runtime::now());
            }
            w.busy.set(busy);
        }
        if let Some(cell) = self.activity {
            let now = if busy {
                Activity::Executing
            } else if self.backend.status == TransactionStatus::Idle {
                Activity::Idle
            } else {
                Activity::IdleInTransaction
            };
            now.publish(cell);
        }
    }

    fn poll_relay(&mut self, cx: &mut Context<'_>) -> Poll<Stop> {
        if let Some(end) = (self.stop)(cx.waker()) {
            return Poll::Ready(Stop::End(end));
        }
        for _ in 0..POLL_BUDGET {
            let mut moved = false;
            match self.backend_turn(cx) {
                Turn::Stop(s) => return Poll::Ready(s),
                Turn::Moved => moved = true,
                Turn::Waiting => {}
            }
            if !self.drain {
                if self.side.terminated() {
                    return Poll::Ready(Stop::End(End::ClientTerminated));
                }
                match self.client_turn(cx) {
                    Turn::Stop(s) => return Poll::Ready(s),
                    Turn::Moved => moved = true,
                    Turn::Waiting => {}
                }
            }
            if !moved {
                return Poll::Pending;
            }
        }
        // Budget spent with work left: let the shard's other sessions run first.
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

/// Queues `chunk[..len]` on `dst`: the chunk itself when it is not needed afterwards
/// (`keep` false), else a copy of the prefix while `chunk` keeps the rest.
pub(super) fn forward_prefix(
    dst: &mut Stream,
    chunk: &mut Chunk,
    len: usize,
    keep: bool,
) -> io::Result<()> {
    if len == 0 {
        return Ok(());
    }
    if keep {
        dst.send(chunk[..len].to_vec())?;
        chunk.advance(len);
        Ok(())
    } else {
        let mut whole = std::mem::replace(
            chunk,
            Chunk::Owned {
                data: Vec::new(),
                start: 0,
            },
        );
        whole.truncate(len);
        dst.send(whole.into_piece())
    }
}
