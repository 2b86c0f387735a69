//! The backend → client direction: each chunk the backend sends is walked and queued on the
//! client as it came. ReadyForQuery (transaction status, a request done, its latency),
//! ParameterStatus (remembered for pooled reuse), ErrorResponse (counted; FATAL noted) and
//! CopyBothResponse (the connection is never pooled again) are read in passing; a ParseComplete
//! answering a Parse corepool re-sent on its own is dropped.

use std::task::{Context, Poll};

use corepool_protocol::framing::Step;
use corepool_protocol::message::backend::ParameterStatus;
use corepool_protocol::message::tags::{
    COPY_BOTH_RESPONSE_TAG, ERROR_RESPONSE_TAG, PARAMETER_STATUS_TAG, PARSE_COMPLETE_TAG,
    READY_FOR_QUERY_TAG,
};
use corepool_protocol::message::TransactionStatus;

use super::{forward_prefix, End, Relay, Stop, Turn, HIGH_WATER};
use crate::runtime::Chunk;

/// What the walk of a backend chunk decided about one message.
enum Next {
    /// The chunk is used up; its first `pass` bytes go on.
    Done { pass: usize },
    /// The message was read in passing; go on from `next` (an assembled copy goes on alone).
    Forward { next: usize, assembled: bool },
    /// Drop the message at `at..next`.
    Skip {
        at: usize,
        next: usize,
        assembled: bool,
    },
    /// Replies corepool made up are due before the message at `at`: send them first.
    MadeUpFirst { at: usize },
}

impl Relay<'_> {
    /// One chunk from the backend through to the client.
    pub(super) fn backend_turn(&mut self, cx: &mut Context<'_>) -> Turn {
        if self.client.unsent() > HIGH_WATER {
            match self.client.poll_flush_to(cx, HIGH_WATER / 2) {
                Poll::Ready(Ok(())) => {}
                Poll::Ready(Err(_)) => return Turn::Stop(Stop::End(End::ClientGone)),
                Poll::Pending => return Turn::Waiting,
            }
        }
        if self.drain && self.backend.side.is_quiet() {
            return Turn::Stop(Stop::Drained);
        }
        let mut chunk = match self.backend.stream.poll_recv(cx) {
            Poll::Ready(Ok(Some(c))) => c,
            Poll::Ready(Ok(None)) => {
                return Turn::Stop(Stop::End(End::BackendGone {
                    error: None,
                    fatal_seen: self.backend.side.fatal_seen,
                }))
            }
            Poll::Ready(Err(e)) => {
                return Turn::Stop(Stop::End(End::BackendGone {
                    error: Some(e),
                    fatal_seen: self.backend.side.fatal_seen,
                }))
            }
            Poll::Pending => return Turn::Waiting,
        };
        if let Some(m) = self.meter {
            m.shard.bytes_from_backends.add(chunk.len() as u64);
        }
        if self.send_made_up().is_err() {
            return Turn::Stop(Stop::End(End::ClientGone));
        }
        let mut pos = 0;
        loop {
            let next = match self.walk_backend(&chunk, pos) {
                Ok(n) => n,
                Err(e) => return Turn::Stop(Stop::End(End::BackendProtocol(e))),
            };
            let sent = match next {
                Next::Done { pass } => forward_prefix(self.client, &mut chunk, pass, false),
                Next::Forward {
                    next,
                    assembled: false,
                } => {
                    pos = next;
                    continue;
                }
                Next::Forward {
                    next,
                    assembled: true,
                } => {
                    let copy = self.backend.side.walker.take_assembled();
                    chunk.advance(next);
                    pos = 0;
                    if self.client.send(copy).is_err() {
                        return Turn::Stop(Stop::End(End::ClientGone));
                    }
                    continue;
                }
                Next::MadeUpFirst { at } => {
                    if forward_prefix(self.client, &mut chunk, at, true).is_err()
                        || self.send_made_up().is_err()
                    {
                        return Turn::Stop(Stop::End(End::ClientGone));
                    }
                    pos = 0;
                    continue;
                }
                Next::Skip {
                    at,
                    next,
                    assembled,
                } => {
                    if assembled {
                        self.backend.side.walker.release();
                    } else if forward_prefix(self.client, &mut chunk, at, true).is_err() {
                        return Turn::Stop(Stop::End(End::ClientGone));
                    }
                    chunk.advance(next - at.min(next));
                    pos = 0;
                    if chunk.is_empty() {
                        Ok(())
                    } else {
                        continue;
                    }
                }
            };
            // Replies corepool made up that the chunk's last message made due.
            if sent.is_err() || self.send_made_up().is_err() {
                return Turn::Stop(Stop::End(End::ClientGone));
            }
            self.note_activity(false);
            return match self.backend_done() {
                Some(stop) => Turn::Stop(stop),
                None => Turn::Moved,
            };
        }
    }

    /// After a chunk: a drain finished, or (when watched) the backend became idle between
    /// transactions.
    fn backend_done(&self) -> Option<Stop> {
        let side = &self.backend.side;
        if !side.is_quiet() {
            return None;
        }
        if self.drain {
            return Some(Stop::Drained);
        }
        if self.watch.idle_backend && self.backend.status == TransactionStatus::Idle {
            return Some(Stop::Idle);
        }
        None
    }

    fn walk_backend(
        &mut self,
        chunk: &Chunk,
        pos: usize,
    ) -> Result<Next, corepool_protocol::Error> {
        let swallow = self.backend.side.swallow_parse_complete > 0;
        let discarding = self.backend.side.discard_pending > 0;
        let rewriting = !self.backend.side.expect.is_empty();
        let cache = self.cache.as_deref();
        let inspect = |t: u8| {
            discarding
                || rewriting
                || cache.is_some_and(|c| c.inspects(t))
                || matches!(
                    t,
                    READY_FOR_QUERY_TAG
                        | PARAMETER_STATUS_TAG
                        | ERROR_RESPONSE_TAG
                        | COPY_BOTH_RESPONSE_TAG
                )
                || (swallow && t == PARSE_COMPLETE_TAG)
        };
        let step = self
            .backend
            .side
            .walker
            .step(chunk, pos, self.limits, inspect, |_| {})?;
        let (message, pass, next) = match step {
            Step::Done { pass } => return Ok(Next::Done { pass: pass.end }),
            Step::Message {
                pass,
                message,
                next,
            } => (message, pass, next),
        };
        let assembled = message.assembled;
        let body = message.body();
        if discarding {
            // A reply to a statement corepool sent on its own (a parameter replay): dropped.
            if message.tag == READY_FOR_QUERY_TAG {
                if let Some(s) = body.first().and_then(|b| TransactionStatus::from_byte(*b)) {
                    self.backend.status = s;
                }
                self.backend.side.discard_pending -= 1;
            }
            return Ok(Next::Skip {
                at: pass.end,
                next,
                assembled,
            });
        }
        if rewriting {
            if self.backend.side.expect.pop_made_up_ready() {
                return Ok(Next::MadeUpFirst { at: pass.end });
            }
            let d = self.backend.side.expect.on_reply(message.tag);
            if let (Some(def), Some(r)) = (&d.failed_statement, self.rewrite.as_mut()) {
                r.statement_failed(def);
            }
            if !d.forward {
                return Ok(Next::Skip {
                    at: pass.end,
                    next,
                    assembled,
                });
            }
        }
        if let Some(track) = self.cache.as_deref_mut() {
            if !(swallow && message.tag == PARSE_COMPLETE_TAG) {
                let status = (message.tag == READY_FOR_QUERY_TAG)
                    .then(|| body.first().and_then(|b| TransactionStatus::from_byte(*b)))
                    .flatten();
                let last = self.backend.side.in_flight <= 1;
                track.on_message(message.tag, message.frame, status, last);
            }
        }
        match message.tag {
            READY_FOR_QUERY_TAG => {
                if let Some(s) = body.first().and_then(|b| TransactionStatus::from_byte(*b)) {
                    self.backend.status = s;
                }
                let side = &mut self.backend.side;
                side.in_flight = side.in_flight.saturating_sub(1);
                side.swallow_parse_complete = 0;
                if side.in_flight == 0 {
                    if let (Some(started), Some(n)) =
                        (side.request_started.take(), self.meter.and_then(|m| m.node))
                    {
                        n.observe(crate::runtime::now().saturating_duration_since(started));
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
                let severity = severity(body);
                let side = &mut self.backend.side;
                side.errors += 1;
                if matches!(severity, Severity::Fatal | Severity::Panic) {
                    side.fatal_seen = true;
                }
                if let Some(n) = self.meter.and_then(|m| m.node) {
                    match severity {
                        Severity::Panic => n.panics.add(1),
                        Severity::Fatal => n.fatals.add(1),
                        Severity::Error => n.errors.add(1),
                    }
                }
            }
            PARSE_COMPLETE_TAG if swallow => {
                // The reply to a Parse corepool re-sent itself: the client never asked.
                self.backend.side.swallow_parse_complete -= 1;
                return Ok(Next::Skip {
                    at: pass.end,
                    next,
                    assembled,
                });
            }
            COPY_BOTH_RESPONSE_TAG => self.backend.side.copy_both = true,
            // Everything else is only looked at by the expected-reply queue (rewriting).
            _ => {}
        }
        Ok(Next::Forward { next, assembled })
    }
}

/// An ErrorResponse's severity, as far as the relay cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Severity {
    Error,
    Fatal,
    Panic,
}

/// Reads the severity from raw fields: messages are in the client's encoding, which need not be
/// UTF-8, and only the ASCII severity matters here.
fn severity(body: &[u8]) -> Severity {
    let mut fields = body;
    let mut found = Severity::Error;
    while let Some((&kind, rest)) = fields.split_first() {
        if kind == 0 {
            break;
        }
        let end = memchr::memchr(0, rest).unwrap_or(rest.len());
        let value = &rest[..end];
        if kind == b'V' || kind == b'S' {
            match value {
                b"FATAL" => found = Severity::Fatal,
                b"PANIC" => return Severity::Panic,
                _ if kind == b'V' => return found,
                _ => {}
            }
        }
        fields = rest.get(end + 1..).unwrap_or(&[]);
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn severity_is_read_from_raw_fields_in_any_encoding() {
        assert_eq!(
            severity(b"SFATAL\0VFATAL\0C57P01\0Mterminating\0\0"),
            Severity::Fatal
        );
        assert_eq!(severity(b"SPANIK\0VPANIC\0\0"), Severity::Panic);
        assert_eq!(
            severity(b"SERROR\0VERROR\0C22012\0Mcaf\xe9\0\0"),
            Severity::Error
        );
        assert_eq!(severity(b""), Severity::Error);
        assert_eq!(severity(b"SFAT"), Severity::Error);
    }
}
