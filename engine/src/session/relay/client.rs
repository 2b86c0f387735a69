//! The client → backend direction: [`ClientSide`] and its turn of the relay.
//!
//! Chunks from the client are walked and queued on the backend as they are. A message is
//! looked into only when it is Terminate (the session ends, the backend never sees it), or
//! the first message of a request the session must decide: every request when it routes,
//! otherwise a Query or Parse whose first keyword is one corepool might answer itself
//! (`SHOW`, `PGPOOL`, enhanced `CREATE`/`DROP`), found by [`head`] without lexing. At such a
//! message the relay stops with the chunk held here; [`ClientSide::front`] shows the request to
//! the session, which either lets it pass ([`ClientSide::mark_routed`]) or consumes it.

use std::cell::Cell;

use corepool_protocol::framing::{ChunkWalker, Header, Step};
use corepool_protocol::message::frontend::Query;
use corepool_protocol::message::tags::{
    BIND_TAG, FUNCTION_CALL_TAG, PARSE_TAG, QUERY_TAG, SYNC_TAG, TERMINATE_TAG,
};
use corepool_protocol::sql::{head, may_hold_several, Head};

use super::{forward_prefix, End, Relay, Rewritten, Stop, Turn, HIGH_WATER};
use crate::cluster::stats::{NodeStats, ShardStats, StatementClass};
use crate::runtime::{Chunk, Stream};

/// Where the client → backend direction stands between relay runs.
#[derive(Debug, Default)]
pub struct ClientSide {
    walker: ChunkWalker,
    /// The chunk being walked; bytes before its start were handled.
    held: Option<Chunk>,
    /// Terminate seen: the session ends once what came before it was queued.
    terminated: bool,
    /// An extended-protocol request (Parse … Sync) is open: its messages follow its first one.
    extended_open: bool,
    /// The message at the front was decided: forward it without asking again.
    routed_front: bool,
    /// At a stop: the request's first message, at the front of `held`.
    front: Option<Front>,
}

/// The first message of the request the relay stopped at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Front {
    /// Its tag.
    pub tag: u8,
    /// Its whole length.
    pub len: usize,
    /// It spanned receive chunks: the walker holds it assembled, and its last part is the
    /// first `n` bytes of the held chunk.
    assembled: Option<usize>,
}

impl ClientSide {
    /// True once the client sent Terminate.
    pub fn terminated(&self) -> bool {
        self.terminated
    }

    /// Marks the request at the front as decided: the relay forwards it when it runs again.
    pub fn mark_routed(&mut self) {
        self.routed_front = true;
    }

    /// The request the relay stopped at, if it stopped at one.
    pub fn front(&self) -> Option<Front> {
        self.front
    }

    /// The bytes of the request at the front: its first message and whatever of the request
    /// follows in the same chunk (an extended run's Bind … Sync). A first message that spanned
    /// chunks comes alone.
    pub fn front_bytes(&self) -> &[u8] {
        match self.front {
            Some(Front {
                assembled: Some(_), ..
            }) => self.walker.assembled().unwrap_or_default(),
            _ => self.held.as_deref().unwrap_or_default(),
        }
    }

    /// The request's first message alone.
    pub fn front_message(&self) -> &[u8] {
        let bytes = self.front_bytes();
        let len = self.front.map_or(0, |f| f.len);
        bytes.get(..len).unwrap_or(bytes)
    }

    /// Waits until the client sent something, holding it for the next relay run (transaction
    /// pooling waits so between transactions, without a backend). `Err` when the client left,
    /// sent Terminate, or `stop` says the shard stops.
    pub async fn wait_input(
        &mut self,
        client: &mut Stream,
        stop: &dyn Fn(&std::task::Waker) -> Option<End>,
        stats: &ShardStats,
    ) -> Result<(), End> {
        std::future::poll_fn(|cx| {
            if let Some(end) = stop(cx.waker()) {
                return std::task::Poll::Ready(Err(end));
            }
            if self.held.is_none() && !self.walker.mid_message() {
                match client.poll_recv(cx) {
                    std::task::Poll::Ready(Ok(Some(c))) => {
                        stats.bytes_from_clients.add(c.len() as u64);
                        // Held while a backend is found, which may take long: not in a
                        // receive buffer of the shard's ring (see Chunk::into_owned).
                        self.held = Some(c.into_owned());
                    }
                    std::task::Poll::Ready(_) => {
                        return std::task::Poll::Ready(Err(End::ClientGone))
                    }
                    std::task::Poll::Pending => return std::task::Poll::Pending,
                }
            }
            let terminate = !self.walker.mid_message()
                && self.held.as_deref().and_then(|c| c.first()) == Some(&TERMINATE_TAG);
            std::task::Poll::Ready(if terminate {
                Err(End::ClientTerminated)
            } else {
                Ok(())
            })
        })
        .await
    }

    /// Whether the request at the front is one corepool may answer itself (an in-band command
    /// or enhanced DDL): what a session that does not route must still look at.
    pub fn front_maybe_ours(&self) -> bool {
        let frame = self.front_message();
        let (Some(&tag), Some(body)) = (frame.first(), frame.get(5..)) else {
            return false;
        };
        let text = query_text(tag, body);
        maybe_ours(text, head(text))
    }

    /// The length and text of the Query message at the front (empty when it is not a valid
    /// Query).
    pub fn front_query(&self) -> (usize, String) {
        let frame = self.front_message();
        let Ok(Some(h)) = Header::parse(frame) else {
            return (0, String::new());
        };
        let len = h.frame_len().min(frame.len());
        let sql = frame
            .get(5..len)
            .and_then(|b| Query::parse(b).ok())
            .map(|q| q.query().to_owned())
            .unwrap_or_default();
        (len, sql)
    }

    /// Consumes `len` bytes of the request at the front (the session answered it itself):
    /// the first message and, for an extended run, the messages after it up to `len`.
    pub fn consume_front(&mut self, len: usize) {
        let Some(front) = self.front.take() else {
            return;
        };
        self.routed_front = false;
        let mut rest = len;
        if let Some(tail) = front.assembled {
            self.walker.release();
            if let Some(c) = self.held.as_mut() {
                c.advance(tail);
            }
            rest = rest.saturating_sub(front.len);
        }
        if let Some(c) = self.held.as_mut() {
            c.advance(rest);
            if c.is_empty() {
                self.held = None;
            }
        }
        self.extended_open = false;
    }
}

/// True when a message with this tag begins a new request (the router decides per request).
fn starts_request(tag: u8, extended_open: bool) -> bool {
    match tag {
        QUERY_TAG | FUNCTION_CALL_TAG => true,
        b'P' | b'B' | b'D' | b'E' | b'C' | b'H' | SYNC_TAG => !extended_open,
        _ => false,
    }
}

/// The query text of a Query or Parse body, as bytes (not validated: only its head is read).
fn query_text(tag: u8, body: &[u8]) -> &[u8] {
    let text = match tag {
        QUERY_TAG => body,
        PARSE_TAG => match memchr::memchr(0, body) {
            Some(end) => &body[end + 1..],
            None => &[],
        },
        _ => &[],
    };
    // Up to the string's NUL: what follows it (a Parse's parameter types) is no query text,
    // and the NUL itself after a trailing `;` would look like a second statement.
    match memchr::memchr(0, text) {
        Some(end) => &text[..end],
        None => text,
    }
}

/// Whether a session that does not route must look at this query text: a command corepool
/// answers itself, enhanced DDL, or enhanced DDL among other statements.
fn maybe_ours(text: &[u8], lead: Head) -> bool {
    match lead {
        Head::Show | Head::Pgpool | Head::Create | Head::Drop => true,
        _ => may_hold_several(text) && mentions_create_or_drop(text),
    }
}

/// Whether "create" or "drop" may appear in `text` in any letter case (a cheap over-estimate:
/// an `r` followed by `eate` or `op`, case-folded).
fn mentions_create_or_drop(text: &[u8]) -> bool {
    memchr::memchr2_iter(b'r', b'R', text).any(|at| {
        let rest = &text[at + 1..];
        let is = |word: &[u8]| {
            rest.get(..word.len())
                .is_some_and(|w| w.eq_ignore_ascii_case(word))
        };
        is(b"eate") || is(b"op")
    })
}

/// Whether a transaction-pooled session must look at this request: a named Parse (the
/// statement lives on one backend), or a statement that may change what the session carries.
fn carries_state(tag: u8, body: &[u8], text: &[u8], lead: Head) -> bool {
    if tag == PARSE_TAG && body.first().is_some_and(|b| *b != 0) {
        return true;
    }
    // A string of several statements is read statement by statement by the session.
    crate::session::tx::track::may_matter(lead, text) || may_hold_several(text)
}

/// The statement column a passthrough session counts a Query in.
fn class_of(lead: Head) -> StatementClass {
    match lead.count_column() {
        "select" => StatementClass::Select,
        "insert" => StatementClass::Insert,
        "update" => StatementClass::Update,
        "delete" => StatementClass::Delete,
        "ddl" => StatementClass::Ddl,
        _ => StatementClass::Other,
    }
}

/// What the walk of one chunk decided about one message.
enum Next {
    /// The chunk is used up; its first `pass` bytes go on.
    Done { pass: usize },
    /// Forward the message (in place up to `next`, or the walker's assembled copy).
    Forward { next: usize, assembled: bool },
    /// Send `bytes` instead of the message at `at..next` (or `None`: nothing).
    Rewritten {
        at: usize,
        next: usize,
        assembled: bool,
        bytes: Option<Vec<u8>>,
    },
    /// Stop at the message (it starts at `at`).
    Stop { at: usize, front: Front },
    /// Terminate at `at`: forward what precedes it and end.
    Terminate { at: usize },
}

impl Relay<'_> {
    /// One chunk from the client (or the held one) through to the backend.
    pub(super) fn client_turn(&mut self, cx: &mut std::task::Context<'_>) -> Turn {
        if self.backend.stream.unsent() > HIGH_WATER {
            match self.backend.stream.poll_flush_to(cx, HIGH_WATER / 2) {
                std::task::Poll::Ready(Ok(())) => {}
                std::task::Poll::Ready(Err(e)) => {
                    return Turn::Stop(Stop::End(End::backend_lost(Some(e))))
                }
                std::task::Poll::Pending => return Turn::Waiting,
            }
        }
        let (mut chunk, fresh) = match self.side.held.take() {
            Some(c) => (c, false),
            None => match self.client.poll_recv(cx) {
                std::task::Poll::Ready(Ok(Some(c))) => (c, true),
                std::task::Poll::Ready(Ok(None)) | std::task::Poll::Ready(Err(_)) => {
                    return Turn::Stop(Stop::End(End::ClientGone))
                }
                std::task::Poll::Pending => return Turn::Waiting,
            },
        };
        if fresh {
            if let Some(m) = self.meter {
                m.shard.bytes_from_clients.add(chunk.len() as u64);
            }
        }
        let node_stats = self
            .meter
            .and_then(|m| m.node.filter(|_| m.count_statements));
        let mut pos = 0;
        loop {
            let next = match self.walk_client(&chunk, pos, node_stats) {
                Ok(n) => n,
                Err(e) => return Turn::Stop(Stop::End(End::ClientProtocol(e))),
            };
            let sent = match next {
                Next::Done { pass } => {
                    forward_prefix(&mut self.backend.stream, &mut chunk, pass, false)
                }
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
                    // A message that spanned chunks: its copy goes on, the chunk after it.
                    let copy = self.side.walker.take_assembled();
                    chunk.advance(next);
                    pos = 0;
                    if let Err(e) = self.backend.stream.send(copy) {
                        return Turn::Stop(Stop::End(End::backend_lost(Some(e))));
                    }
                    continue;
                }
                Next::Rewritten {
                    at,
                    next,
                    assembled,
                    bytes,
                } => {
                    if let Err(e) = forward_prefix(&mut self.backend.stream, &mut chunk, at, true) {
                        return Turn::Stop(Stop::End(End::backend_lost(Some(e))));
                    }
                    if assembled {
                        self.side.walker.release();
                        chunk.advance(next);
                    } else {
                        chunk.advance(next - at);
                    }
                    pos = 0;
                    if let Some(bytes) = bytes {
                        if let Err(e) = self.backend.stream.send(bytes) {
                            return Turn::Stop(Stop::End(End::backend_lost(Some(e))));
                        }
                    }
                    if self.send_made_up().is_err() {
                        return Turn::Stop(Stop::End(End::ClientGone));
                    }
                    if chunk.is_empty() {
                        self.note_activity(true);
                        return Turn::Moved;
                    }
                    continue;
                }
                Next::Stop { at, front } => {
                    if let Err(e) = forward_prefix(&mut self.backend.stream, &mut chunk, at, true) {
                        return Turn::Stop(Stop::End(End::backend_lost(Some(e))));
                    }
                    self.side.held = Some(chunk);
                    self.side.front = Some(front);
                    self.note_activity(true);
                    return Turn::Stop(Stop::Request);
                }
                Next::Terminate { at } => {
                    self.side.terminated = true;
                    forward_prefix(&mut self.backend.stream, &mut chunk, at, false)
                }
            };
            if let Err(e) = sent {
                return Turn::Stop(Stop::End(End::backend_lost(Some(e))));
            }
            self.note_activity(true);
            return Turn::Moved;
        }
    }

    /// Walks `chunk` from `pos` to the next thing to do.
    fn walk_client(
        &mut self,
        chunk: &[u8],
        pos: usize,
        node_stats: Option<&NodeStats>,
    ) -> Result<Next, corepool_protocol::Error> {
        let watch = self.watch;
        let rewriting = self.rewrite.is_some();
        let extended_open = Cell::new(self.side.extended_open);
        let requests = Cell::new(0u32);
        // The decided front message is the first request start this walk meets.
        let routed = Cell::new(self.side.routed_front);
        let inspect = |t: u8| {
            rewriting
                || t == TERMINATE_TAG
                || t == QUERY_TAG
                || t == PARSE_TAG
                || (watch.binds && t == BIND_TAG)
                || (watch.requests && !routed.get() && starts_request(t, extended_open.get()))
        };
        let seen = |t: u8| {
            if starts_request(t, extended_open.get()) {
                routed.set(false);
            }
            on_request_tag(t, &extended_open, &requests);
        };
        let step = self
            .side
            .walker
            .step(chunk, pos, self.limits, inspect, seen)?;
        let next = match step {
            Step::Done { pass } => Next::Done { pass: pass.end },
            Step::Message {
                pass,
                message,
                next,
            } => {
                let tag = message.tag;
                let first = starts_request(tag, extended_open.get());
                // The query text's first keyword, read at most once per message.
                let text = query_text(tag, message.body());
                let lead_cell = std::cell::OnceCell::new();
                let lead = || *lead_cell.get_or_init(|| head(text));
                if tag == TERMINATE_TAG {
                    Next::Terminate { at: pass.end }
                } else if first
                    && !routed.get()
                    && (watch.requests
                        || (watch.binds && tag == BIND_TAG)
                        || maybe_ours(text, lead())
                        || (watch.session_state
                            && carries_state(tag, message.body(), text, lead())))
                {
                    Next::Stop {
                        at: pass.end,
                        front: Front {
                            tag,
                            len: message.frame.len(),
                            assembled: message.assembled.then_some(next),
                        },
                    }
                } else {
                    if let (Some(n), QUERY_TAG) = (node_stats, tag) {
                        n.count(class_of(lead()));
                    }
                    if first {
                        routed.set(false);
                    }
                    on_request_tag(tag, &extended_open, &requests);
                    let rewritten = match self.rewrite.as_mut() {
                        Some(r) => {
                            r.client_message(tag, message.frame, &mut self.backend.side.expect)
                        }
                        None => Rewritten::Forward,
                    };
                    match rewritten {
                        Rewritten::Forward => Next::Forward {
                            next,
                            assembled: message.assembled,
                        },
                        Rewritten::Replace(bytes) => Next::Rewritten {
                            at: pass.end,
                            next,
                            assembled: message.assembled,
                            bytes: Some(bytes),
                        },
                        Rewritten::Drop => Next::Rewritten {
                            at: pass.end,
                            next,
                            assembled: message.assembled,
                            bytes: None,
                        },
                    }
                }
            }
        };
        self.side.extended_open = extended_open.get();
        self.side.routed_front = routed.get();
        let started = requests.get();
        if started > 0 {
            let side = &mut self.backend.side;
            if side.in_flight == 0 && self.meter.is_some() {
                side.request_started = Some(crate::runtime::now());
            }
            side.in_flight += started;
        }
        Ok(next)
    }
}

/// Bookkeeping for a message that goes to the backend: requests owed a ReadyForQuery, and
/// whether an extended run is open.
fn on_request_tag(t: u8, extended_open: &Cell<bool>, requests: &Cell<u32>) {
    match t {
        QUERY_TAG | FUNCTION_CALL_TAG => requests.set(requests.get() + 1),
        SYNC_TAG => {
            requests.set(requests.get() + 1);
            extended_open.set(false);
        }
        b'P' | b'B' | b'D' | b'E' | b'C' | b'H' => extended_open.set(true),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_start_at_queries_and_outside_open_extended_runs() {
        assert!(starts_request(b'Q', false));
        assert!(starts_request(b'Q', true));
        assert!(starts_request(b'P', false));
        assert!(!starts_request(b'B', true));
        assert!(!starts_request(b'd', false));
    }

    #[test]
    fn only_commands_corepool_may_answer_are_looked_at() {
        let ours = |text: &[u8]| maybe_ours(text, head(text));
        assert!(ours(b"SHOW pool_nodes"));
        assert!(ours(b"pgpool set client_idle_limit = 1"));
        assert!(ours(b"CREATE TABLE t (a int) PARTITION BY LIST (a)"));
        assert!(ours(b"select 1; drop table t include remote"));
        assert!(!ours(
            b"SELECT abalance FROM pgbench_accounts WHERE aid = 1"
        ));
        assert!(!ours(b"UPDATE t SET a = 1; SELECT 2"));
        assert!(!ours(b"SELECT 1 FROM t WHERE a = 'drop';"));
        assert!(ours(b"select 1;DrOp table t include remote"));
        assert!(ours(
            b"select 1;\nCREATE TABLE p (a int) PARTITION BY RANGE (a)"
        ));
        assert_eq!(query_text(b'P', b"s1\0SELECT 1\0\0\0"), b"SELECT 1");
    }

    #[test]
    fn a_trailing_semicolon_before_the_nul_is_one_statement() {
        // pgbench's -S query as it comes in a Query body: ends in `;` then the string's NUL.
        let body = b"SELECT abalance FROM pgbench_accounts WHERE aid = 7;\0";
        let text = query_text(QUERY_TAG, body);
        assert_eq!(text, &body[..body.len() - 1]);
        assert!(!may_hold_several(text));
        assert!(!carries_state(QUERY_TAG, body, text, head(text)));
        assert!(!maybe_ours(text, head(text)));
        let several = b"SET a = 1; SELECT 2\0";
        assert!(may_hold_several(query_text(QUERY_TAG, several)));
        // A Parse: statement name, text, then parameter types after the text's NUL.
        let parse = b"\0SELECT $1;\0\0\x01\0\0\0\x17";
        let text = query_text(PARSE_TAG, parse);
        assert_eq!(text, b"SELECT $1;");
        assert!(!carries_state(PARSE_TAG, parse, text, head(text)));
    }
}
