//! The duplex relay between a client and one backend: both directions in one task, no copies.
//!
//! Each direction forwards straight out of its read buffer: bytes are read from one socket,
//! message headers are walked, and the walked bytes are written to the other socket from the same
//! buffer. A direction stops reading while it has unwritten bytes, so a slow reader slows its
//! writer (backpressure) without blocking the other direction. Only the few messages corepool
//! must look into are held until complete: ReadyForQuery, ParameterStatus and ErrorResponse from
//! the backend; Terminate — and, when routing, the first message of each request — from the
//! client.
//!
//! The relay keeps no state of its own: where each direction stands lives in [`ClientSide`] and
//! in each backend connection's [`BackendSide`], so a session can stop the relay at a request
//! boundary, switch backends, and start it again.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use corepool_protocol::framing::Limits;
use corepool_protocol::message::backend::ParameterStatus;
use corepool_protocol::message::tags::{
    COPY_BOTH_RESPONSE_TAG, ERROR_RESPONSE_TAG, FUNCTION_CALL_TAG, PARAMETER_STATUS_TAG,
    PARSE_COMPLETE_TAG, QUERY_TAG, READY_FOR_QUERY_TAG, SYNC_TAG, TERMINATE_TAG,
};
use corepool_protocol::message::TransactionStatus;
use futures_lite::AsyncWrite;

pub use super::idle::IdleWatch;
use crate::backend::walker::{Stop, Walker};
use crate::backend::BackendConn;
pub use crate::backend::BackendSide;
use crate::cluster::sessions::Activity;
use crate::runtime::{ReadBuf, Stream};

/// Why the relay returned.
#[derive(Debug)]
pub enum RelayEnd {
    /// The client sent Terminate (it was not forwarded).
    ClientTerminated,
    /// The client's socket closed or failed without Terminate.
    ClientGone,
    /// The client sent bytes that are not a valid message stream.
    ClientProtocol(corepool_protocol::Error),
    /// The backend closed or failed. `fatal_seen` tells whether it sent a FATAL first (the client
    /// already has the reason then).
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
    /// The client's next request starts at the front of the client buffer and the session's
    /// hook asked to decide where it goes (everything before it was forwarded).
    Request,
    /// Drain mode: the backend owes nothing more and everything it sent was forwarded.
    Drained,
    /// The client sent nothing for client_idle_limit while no request was outstanding.
    IdleTimeout(std::time::Duration),
}

/// Where the client → backend direction stands between relay runs.
#[derive(Debug, Default)]
pub struct ClientSide {
    walker: Walker,
    /// Bytes at the front of the client buffer already walked and due to the backend.
    ready: usize,
    /// Terminate seen: end after forwarding what came before it.
    terminated: bool,
    /// An extended-protocol request (Parse … Sync) is open: its messages follow its first one.
    extended_open: bool,
    /// The message at the front was just routed: do not ask the hook about it again.
    routed_front: bool,
}

impl ClientSide {
    /// Marks the request at the front of the buffer as routed, so the relay forwards it.
    pub fn mark_routed(&mut self) {
        self.routed_front = true;
    }
}

/// What the hook learns about the backend the relay runs on.
#[derive(Debug, Clone, Copy)]
pub struct Observed {
    /// Its node.
    pub node: usize,
    /// Its transaction status from the last ReadyForQuery.
    pub status: TransactionStatus,
    /// It owes nothing: `status` is up to date.
    pub quiet: bool,
}

/// What the session's hook answers for a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HookAnswer {
    /// Forward it to the current backend.
    Forward,
    /// Stop the relay: the session handles the request.
    Stop,
}

/// Writes per poll before yielding to other sessions of the shard.
const POLL_BUDGET: usize = 32;

/// One run of the relay. `stop` is called on every wake-up with the task's waker (so the shard
/// can wake idle sessions for a fast shutdown) and returns true to end the relay. `hook`, when
/// routing is on, is asked about each request's first message (given the buffered bytes from
/// that message on).
pub struct Relay<'a, S, H> {
    client: &'a mut Stream,
    cbuf: &'a mut ReadBuf,
    side: &'a mut ClientSide,
    backend: &'a mut BackendConn,
    limits: &'a Limits,
    stop: S,
    hook: Option<H>,
    drain: bool,
    idle: Option<&'a IdleWatch>,
    meter: Option<Meter<'a>>,
    activity: Option<&'a std::sync::atomic::AtomicU8>,
}

/// Where a relay counts bytes and request latency.
#[derive(Clone, Copy)]
pub struct Meter<'a> {
    /// The shard's byte counters.
    pub traffic: &'a crate::cluster::traffic::ShardTraffic,
    /// The backend's node latency histogram.
    pub latency: Option<&'a crate::cluster::traffic::LatencyHistogram>,
    /// The backend's node statement and error counters.
    pub counters: Option<&'a crate::cluster::NodeCounters>,
}

impl<'a, S, H> Relay<'a, S, H>
where
    S: Fn(&Waker) -> bool,
    H: FnMut(&[u8], Observed) -> HookAnswer,
{
    /// A relay over a client (with bytes it already sent in `cbuf`) and one backend.
    pub fn new(
        client: &'a mut Stream,
        cbuf: &'a mut ReadBuf,
        side: &'a mut ClientSide,
        backend: &'a mut BackendConn,
        limits: &'a Limits,
        stop: S,
        hook: Option<H>,
    ) -> Self {
        Self {
            client,
            cbuf,
            side,
            backend,
            limits,
            stop,
            hook,
            drain: false,
            idle: None,
            meter: None,
            activity: None,
        }
    }

    /// Counts bytes and request latency into `meter`.
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
    pub fn published(mut self, cell: Option<&'a std::sync::atomic::AtomicU8>) -> Self {
        self.activity = cell;
        self
    }

    fn note_activity(&self, client_read: bool) {
        let busy = self.backend.side.in_flight > 0 || self.side.ready > 0;
        if let Some(w) = self.idle {
            if client_read || w.busy.get() != busy {
                w.last.set(std::time::Instant::now());
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

    /// Only forwards what the backend still owes, without reading the client, and returns
    /// [`RelayEnd::Drained`] once nothing is owed.
    pub fn draining(mut self) -> Self {
        self.drain = true;
        self
    }

    /// Walks new backend bytes: updates status and parameters, marks what may be forwarded.
    fn walk_backend(&mut self) -> Result<(), corepool_protocol::Error> {
        let side = &mut self.backend.side;
        loop {
            let buf = self.backend.rbuf.pending();
            let swallow = side.swallow_parse_complete > 0;
            let (fwd, stop) = side.walker.walk(
                buf,
                side.ready,
                self.limits,
                |t| {
                    matches!(
                        t,
                        READY_FOR_QUERY_TAG
                            | PARAMETER_STATUS_TAG
                            | ERROR_RESPONSE_TAG
                            | COPY_BOTH_RESPONSE_TAG
                    ) || (swallow && t == PARSE_COMPLETE_TAG)
                },
                |_| {},
            )?;
            side.ready = fwd;
            let Stop::Inspect { at, len, tag } = stop else {
                return Ok(());
            };
            let body = &buf[at + 5..at + len];
            match tag {
                READY_FOR_QUERY_TAG => {
                    if let Some(s) = body.first().and_then(|b| TransactionStatus::from_byte(*b)) {
                        self.backend.status = s;
                    }
                    side.in_flight = side.in_flight.saturating_sub(1);
                    side.swallow_parse_complete = 0;
                    if side.in_flight == 0 {
                        if let (Some(started), Some(h)) = (
                            side.request_started.take(),
                            self.meter.and_then(|m| m.latency),
                        ) {
                            h.observe(started.elapsed());
                        }
                    }
                }
                PARAMETER_STATUS_TAG => {
                    // Text in the client's encoding need not be UTF-8: such values are forwarded
                    // but not remembered.
                    if let Ok(p) = ParameterStatus::parse(body) {
                        self.backend.reply.set_parameter(p.name(), p.value());
                    }
                }
                ERROR_RESPONSE_TAG => {
                    side.errors += 1;
                    let fatal = is_fatal(body);
                    if fatal {
                        side.fatal_seen = true;
                    }
                    if let Some(c) = self.meter.and_then(|m| m.counters) {
                        let counter = if fatal { &c.fatal } else { &c.error };
                        counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    }
                }
                PARSE_COMPLETE_TAG => {
                    // The reply to a Parse corepool re-sent itself: the client never asked.
                    side.swallow_parse_complete -= 1;
                    side.skip_len = Some(len);
                    return Ok(());
                }
                _ => side.copy_both = true,
            }
            side.ready = at + len;
        }
    }

    /// Walks new client bytes: counts requests, stops at Terminate and, with a hook, at each
    /// request's first message.
    fn walk_client(&mut self) -> Result<Option<RelayEnd>, corepool_protocol::Error> {
        let routing = self.hook.is_some();
        loop {
            if self.side.terminated {
                return Ok(None);
            }
            let in_flight = &mut self.backend.side.in_flight;
            let extended_open = std::cell::Cell::new(self.side.extended_open);
            let routed_front = std::cell::Cell::new(self.side.routed_front);
            let (fwd, stop) = self.side.walker.walk(
                self.cbuf.pending(),
                self.side.ready,
                self.limits,
                |t| {
                    t == TERMINATE_TAG
                        || (routing
                            && !routed_front.get()
                            && starts_request(t, extended_open.get()))
                },
                |t| {
                    routed_front.set(false);
                    match t {
                        QUERY_TAG | FUNCTION_CALL_TAG => *in_flight += 1,
                        SYNC_TAG => {
                            *in_flight += 1;
                            extended_open.set(false);
                        }
                        b'P' | b'B' | b'D' | b'E' | b'C' | b'H' => extended_open.set(true),
                        _ => {}
                    }
                },
            )?;
            if self.backend.side.in_flight > 0
                && self.backend.side.request_started.is_none()
                && self.meter.is_some()
            {
                self.backend.side.request_started = Some(std::time::Instant::now());
            }
            self.side.extended_open = extended_open.get();
            self.side.routed_front = routed_front.get();
            self.side.ready = fwd;
            let Stop::Inspect { at, tag, .. } = stop else {
                return Ok(None);
            };
            if tag == TERMINATE_TAG {
                self.side.terminated = true;
                return Ok(None);
            }
            if at > 0 {
                // Forward what precedes the request first; ask the hook once it is at the front.
                return Ok(None);
            }
            let observed = Observed {
                node: self.backend.node,
                status: self.backend.status,
                quiet: self.backend.side.is_quiet(),
            };
            let answer = match self.hook.as_mut() {
                Some(h) => h(self.cbuf.pending(), observed),
                None => HookAnswer::Forward,
            };
            match answer {
                HookAnswer::Forward => self.side.routed_front = true,
                HookAnswer::Stop => return Ok(Some(RelayEnd::Request)),
            }
        }
    }

    fn poll_relay(&mut self, cx: &mut Context<'_>) -> Poll<RelayEnd> {
        if (self.stop)(cx.waker()) {
            return Poll::Ready(RelayEnd::Stopped);
        }
        for _ in 0..POLL_BUDGET {
            let mut progress = false;

            // Backend → client.
            if self.backend.side.ready > 0 {
                let out = &self.backend.rbuf.pending()[..self.backend.side.ready];
                match Pin::new(&mut *self.client).poll_write(cx, out) {
                    Poll::Ready(Ok(n)) if n > 0 => {
                        self.backend.rbuf.consume(n);
                        self.backend.side.ready -= n;
                        progress = true;
                    }
                    Poll::Ready(_) => return Poll::Ready(RelayEnd::ClientGone),
                    Poll::Pending => {}
                }
            }
            if self.backend.side.ready == 0 {
                if let Some(len) = self.backend.side.skip_len.take() {
                    // A swallowed message is at the front now: drop it and walk on.
                    self.backend.rbuf.consume(len);
                    if let Err(e) = self.walk_backend() {
                        return Poll::Ready(RelayEnd::BackendProtocol(e));
                    }
                    continue;
                }
                if self.drain
                    && self.backend.side.in_flight == 0
                    && !self.backend.side.walker.mid_message()
                {
                    return Poll::Ready(RelayEnd::Drained);
                }
                match self
                    .backend
                    .stream
                    .poll_read_buf(cx, &mut self.backend.rbuf)
                {
                    Poll::Ready(Ok(0)) => {
                        return Poll::Ready(RelayEnd::BackendGone {
                            error: None,
                            fatal_seen: self.backend.side.fatal_seen,
                        })
                    }
                    Poll::Ready(Ok(n)) => {
                        if let Some(m) = self.meter {
                            m.traffic
                                .bytes_from_backends
                                .fetch_add(n as u64, std::sync::atomic::Ordering::Relaxed);
                        }
                        if let Err(e) = self.walk_backend() {
                            return Poll::Ready(RelayEnd::BackendProtocol(e));
                        }
                        self.note_activity(false);
                        progress = true;
                    }
                    Poll::Ready(Err(e)) => {
                        return Poll::Ready(RelayEnd::BackendGone {
                            error: Some(e),
                            fatal_seen: self.backend.side.fatal_seen,
                        })
                    }
                    Poll::Pending => {}
                }
            }
            if self.drain {
                if !progress {
                    return Poll::Pending;
                }
                continue;
            }

            // Client → backend.
            if self.side.ready > 0 {
                let out = &self.cbuf.pending()[..self.side.ready];
                match Pin::new(&mut self.backend.stream).poll_write(cx, out) {
                    Poll::Ready(Ok(n)) if n > 0 => {
                        self.cbuf.consume(n);
                        self.side.ready -= n;
                        progress = true;
                    }
                    Poll::Ready(Ok(_)) => {
                        return Poll::Ready(RelayEnd::BackendGone {
                            error: None,
                            fatal_seen: self.backend.side.fatal_seen,
                        })
                    }
                    Poll::Ready(Err(e)) => {
                        return Poll::Ready(RelayEnd::BackendGone {
                            error: Some(e),
                            fatal_seen: self.backend.side.fatal_seen,
                        })
                    }
                    Poll::Pending => {}
                }
            }
            if self.side.ready == 0 {
                if self.side.terminated {
                    return Poll::Ready(RelayEnd::ClientTerminated);
                }
                // Bytes already buffered (left by an earlier run) are walked before reading more.
                match self.walk_client() {
                    Err(e) => return Poll::Ready(RelayEnd::ClientProtocol(e)),
                    Ok(Some(end)) => return Poll::Ready(end),
                    Ok(None) => self.note_activity(false),
                }
                if self.side.ready > 0 || self.side.terminated {
                    continue;
                }
                match self.client.poll_read_buf(cx, self.cbuf) {
                    Poll::Ready(Ok(0)) | Poll::Ready(Err(_)) => {
                        return Poll::Ready(RelayEnd::ClientGone)
                    }
                    Poll::Ready(Ok(n)) => {
                        if let Some(m) = self.meter {
                            m.traffic
                                .bytes_from_clients
                                .fetch_add(n as u64, std::sync::atomic::Ordering::Relaxed);
                        }
                        progress = true;
                        self.note_activity(true);
                    }
                    Poll::Pending => {}
                }
            }

            if !progress {
                return Poll::Pending;
            }
        }
        // Budget spent with work left: let the shard's other sessions run first.
        cx.waker().wake_by_ref();
        Poll::Pending
    }

    /// Runs the relay until it ends or stops at a request.
    pub async fn run(mut self) -> RelayEnd {
        RelayFuture { relay: &mut self }.await
    }
}

/// True when an ErrorResponse body says FATAL or PANIC. Reads the raw fields: messages are in
/// the client's encoding, which need not be UTF-8, and only the ASCII severity matters here.
fn is_fatal(body: &[u8]) -> bool {
    let mut fields = body;
    while let Some((&kind, rest)) = fields.split_first() {
        if kind == 0 {
            break;
        }
        let end = memchr::memchr(0, rest).unwrap_or(rest.len());
        let value = &rest[..end];
        if (kind == b'V' || kind == b'S') && (value == b"FATAL" || value == b"PANIC") {
            return true;
        }
        fields = rest.get(end + 1..).unwrap_or(&[]);
    }
    false
}

/// True when a message with this tag begins a new request (the router decides per request).
fn starts_request(tag: u8, extended_open: bool) -> bool {
    match tag {
        QUERY_TAG | FUNCTION_CALL_TAG => true,
        b'P' | b'B' | b'D' | b'E' | b'C' | b'H' | SYNC_TAG => !extended_open,
        _ => false,
    }
}

struct RelayFuture<'r, 'a, S, H> {
    relay: &'r mut Relay<'a, S, H>,
}

impl<S, H> Future for RelayFuture<'_, '_, S, H>
where
    S: Fn(&Waker) -> bool,
    H: FnMut(&[u8], Observed) -> HookAnswer,
{
    type Output = RelayEnd;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<RelayEnd> {
        self.get_mut().relay.poll_relay(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn severity_is_read_from_raw_fields_in_any_encoding() {
        assert!(is_fatal(b"SFATAL\0VFATAL\0C57P01\0Mterminating\0\0"));
        assert!(is_fatal(b"SPANIK\0VPANIC\0\0"));
        assert!(!is_fatal(b"SERROR\0VERROR\0C22012\0Mcaf\xe9\0\0"));
        assert!(!is_fatal(b""));
        assert!(!is_fatal(b"SFAT"));
    }

    #[test]
    fn requests_start_at_queries_and_outside_open_extended_runs() {
        assert!(starts_request(b'Q', false));
        assert!(starts_request(b'Q', true));
        assert!(starts_request(b'P', false));
        assert!(!starts_request(b'B', true));
        assert!(!starts_request(b'd', false));
    }
}
