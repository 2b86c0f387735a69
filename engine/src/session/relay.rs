//! The duplex relay between a client and its backend: both directions in one task, no copies.
//!
//! Each direction forwards straight out of its read buffer: bytes are read from one socket,
//! message headers are walked, and the walked bytes are written to the other socket from the same
//! buffer. A direction stops reading while it has unwritten bytes, so a slow reader slows its
//! writer (backpressure) without blocking the other direction. Only the few messages corepool
//! must look into are held until complete: ReadyForQuery, ParameterStatus and ErrorResponse from
//! the backend; Terminate from the client.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use corepool_protocol::framing::Limits;
use corepool_protocol::message::backend::{ErrorResponse, ParameterStatus};
use corepool_protocol::message::tags::{
    COPY_BOTH_RESPONSE_TAG, ERROR_RESPONSE_TAG, FUNCTION_CALL_TAG, PARAMETER_STATUS_TAG, QUERY_TAG,
    READY_FOR_QUERY_TAG, SYNC_TAG, TERMINATE_TAG,
};
use corepool_protocol::message::TransactionStatus;
use futures_lite::AsyncWrite;

use super::walker::{Stop, Walker};
use crate::backend::BackendConn;
use crate::runtime::{ReadBuf, Stream};

/// Why the relay ended.
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
}

/// What the relay learned about the backend, for the pool decision afterwards.
#[derive(Debug, Default, Clone, Copy)]
pub struct BackendTally {
    /// Requests forwarded that still owe a ReadyForQuery (Query, Sync, FunctionCall).
    pub in_flight: u32,
    /// The backend entered COPY BOTH (replication): never reusable.
    pub copy_both: bool,
}

/// Relays until one side ends. `stop` is called on every wake-up with the task's waker (so the
/// shard can wake idle sessions for a fast shutdown) and returns true to end the relay.
pub struct Relay<'a, S: Fn(&std::task::Waker) -> bool> {
    client: &'a mut Stream,
    cbuf: &'a mut ReadBuf,
    backend: &'a mut BackendConn,
    limits: &'a Limits,
    stop: S,
    c_walker: Walker,
    c_ready: usize,
    b_walker: Walker,
    b_ready: usize,
    client_terminated: bool,
    fatal_seen: bool,
    /// What the backend still owes, kept across calls.
    pub tally: BackendTally,
}

/// Writes per poll before yielding to other sessions of the shard.
const POLL_BUDGET: usize = 32;

impl<'a, S: Fn(&std::task::Waker) -> bool> Relay<'a, S> {
    /// A relay over a client (with bytes it already sent in `cbuf`) and its backend.
    pub fn new(
        client: &'a mut Stream,
        cbuf: &'a mut ReadBuf,
        backend: &'a mut BackendConn,
        limits: &'a Limits,
        stop: S,
    ) -> Self {
        Self {
            client,
            cbuf,
            backend,
            limits,
            stop,
            c_walker: Walker::default(),
            c_ready: 0,
            b_walker: Walker::default(),
            b_ready: 0,
            client_terminated: false,
            fatal_seen: false,
            tally: BackendTally::default(),
        }
    }

    /// Walks new backend bytes: updates status and parameters, marks what may be forwarded.
    fn walk_backend(&mut self) -> Result<(), corepool_protocol::Error> {
        loop {
            let buf = self.backend.rbuf.pending();
            let (fwd, stop) = self.b_walker.walk(
                buf,
                self.b_ready,
                self.limits,
                |t| {
                    matches!(
                        t,
                        READY_FOR_QUERY_TAG
                            | PARAMETER_STATUS_TAG
                            | ERROR_RESPONSE_TAG
                            | COPY_BOTH_RESPONSE_TAG
                    )
                },
                |_| {},
            )?;
            self.b_ready = fwd;
            let Stop::Inspect { at, len, tag } = stop else {
                return Ok(());
            };
            let body = &buf[at + 5..at + len];
            match tag {
                READY_FOR_QUERY_TAG => {
                    if let Some(s) = body.first().and_then(|b| TransactionStatus::from_byte(*b)) {
                        self.backend.status = s;
                    }
                    self.tally.in_flight = self.tally.in_flight.saturating_sub(1);
                }
                PARAMETER_STATUS_TAG => {
                    let p = ParameterStatus::parse(body)?;
                    self.backend.reply.set_parameter(p.name(), p.value());
                }
                ERROR_RESPONSE_TAG => {
                    let e = ErrorResponse::parse(body)?;
                    if matches!(
                        e.severity_nonlocalized().or(e.severity()),
                        Some("FATAL" | "PANIC")
                    ) {
                        self.fatal_seen = true;
                    }
                }
                _ => self.tally.copy_both = true,
            }
            self.b_ready = at + len;
        }
    }

    /// Walks new client bytes: counts requests, stops at Terminate.
    fn walk_client(&mut self) -> Result<(), corepool_protocol::Error> {
        if self.client_terminated {
            return Ok(());
        }
        let tally = &mut self.tally;
        let (fwd, stop) = self.c_walker.walk(
            self.cbuf.pending(),
            self.c_ready,
            self.limits,
            |t| t == TERMINATE_TAG,
            |t| {
                if matches!(t, QUERY_TAG | SYNC_TAG | FUNCTION_CALL_TAG) {
                    tally.in_flight += 1;
                }
            },
        )?;
        self.c_ready = fwd;
        if let Stop::Inspect { .. } = stop {
            self.client_terminated = true;
        }
        Ok(())
    }

    fn poll_relay(&mut self, cx: &mut Context<'_>) -> Poll<RelayEnd> {
        if (self.stop)(cx.waker()) {
            return Poll::Ready(RelayEnd::Stopped);
        }
        for _ in 0..POLL_BUDGET {
            let mut progress = false;

            // Backend → client.
            if self.b_ready > 0 {
                let out = &self.backend.rbuf.pending()[..self.b_ready];
                match Pin::new(&mut *self.client).poll_write(cx, out) {
                    Poll::Ready(Ok(n)) if n > 0 => {
                        self.backend.rbuf.consume(n);
                        self.b_ready -= n;
                        progress = true;
                    }
                    Poll::Ready(_) => return Poll::Ready(RelayEnd::ClientGone),
                    Poll::Pending => {}
                }
            }
            if self.b_ready == 0 {
                match self
                    .backend
                    .stream
                    .poll_read_buf(cx, &mut self.backend.rbuf)
                {
                    Poll::Ready(Ok(0)) => {
                        return Poll::Ready(RelayEnd::BackendGone {
                            error: None,
                            fatal_seen: self.fatal_seen,
                        })
                    }
                    Poll::Ready(Ok(_)) => {
                        if let Err(e) = self.walk_backend() {
                            return Poll::Ready(RelayEnd::BackendProtocol(e));
                        }
                        progress = true;
                    }
                    Poll::Ready(Err(e)) => {
                        return Poll::Ready(RelayEnd::BackendGone {
                            error: Some(e),
                            fatal_seen: self.fatal_seen,
                        })
                    }
                    Poll::Pending => {}
                }
            }

            // Client → backend.
            if self.c_ready > 0 {
                let out = &self.cbuf.pending()[..self.c_ready];
                match Pin::new(&mut self.backend.stream).poll_write(cx, out) {
                    Poll::Ready(Ok(n)) if n > 0 => {
                        self.cbuf.consume(n);
                        self.c_ready -= n;
                        progress = true;
                    }
                    Poll::Ready(Ok(_)) => {
                        return Poll::Ready(RelayEnd::BackendGone {
                            error: None,
                            fatal_seen: self.fatal_seen,
                        })
                    }
                    Poll::Ready(Err(e)) => {
                        return Poll::Ready(RelayEnd::BackendGone {
                            error: Some(e),
                            fatal_seen: self.fatal_seen,
                        })
                    }
                    Poll::Pending => {}
                }
            }
            if self.c_ready == 0 {
                if self.client_terminated {
                    return Poll::Ready(RelayEnd::ClientTerminated);
                }
                match self.client.poll_read_buf(cx, self.cbuf) {
                    Poll::Ready(Ok(0)) | Poll::Ready(Err(_)) => {
                        return Poll::Ready(RelayEnd::ClientGone)
                    }
                    Poll::Ready(Ok(_)) => {
                        if let Err(e) = self.walk_client() {
                            return Poll::Ready(RelayEnd::ClientProtocol(e));
                        }
                        progress = true;
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

    /// Runs the relay to its end. Bytes the client already sent (in `cbuf`) go first.
    pub async fn run(&mut self) -> RelayEnd {
        if let Err(e) = self.walk_client() {
            return RelayEnd::ClientProtocol(e);
        }
        RelayFuture { relay: self }.await
    }
}

struct RelayFuture<'r, 'a, S: Fn(&std::task::Waker) -> bool> {
    relay: &'r mut Relay<'a, S>,
}

impl<S: Fn(&std::task::Waker) -> bool> Future for RelayFuture<'_, '_, S> {
    type Output = RelayEnd;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<RelayEnd> {
        self.get_mut().relay.poll_relay(cx)
    }
}
