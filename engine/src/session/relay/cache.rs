//! The relay's part in the query cache: it captures a cacheable statement's reply on its way
//! to the client and stores it at ReadyForQuery, and it bumps the generations of the tables a
//! write wrote before that write's CommandComplete and ReadyForQuery reach the client.
//!
//! The session decides (session/cache.rs) and leaves its decision here, in [`CacheTrack`],
//! which every relay run of the session (and every drain) carries.

use std::sync::Arc;

use bytes::Bytes;
use corepool_protocol::message::tags::{
    BIND_COMPLETE_TAG, COMMAND_COMPLETE_TAG, DATA_ROW_TAG, EMPTY_QUERY_RESPONSE_TAG,
    ERROR_RESPONSE_TAG, NOTICE_RESPONSE_TAG, NOTIFICATION_RESPONSE_TAG, NO_DATA_TAG,
    PARAMETER_DESCRIPTION_TAG, PARAMETER_STATUS_TAG, PARSE_COMPLETE_TAG, READY_FOR_QUERY_TAG,
    ROW_DESCRIPTION_TAG,
};
use corepool_protocol::message::TransactionStatus;

use crate::query_cache::{QueryCache, Snapshot, TableGen};

/// A session's query-cache work in flight.
#[derive(Debug)]
pub struct CacheTrack {
    /// The shared cache.
    pub cache: Arc<QueryCache>,
    /// Tables written by requests still owed a reply: bumped at every CommandComplete and
    /// ReadyForQuery until the backend owes nothing.
    pub pending: Vec<TableGen>,
    /// Tables written in the open transaction: bumped again when it ends (commit or not).
    pub tx_written: Vec<TableGen>,
    /// The reply being captured for the cache.
    pub capture: Option<Capture>,
    /// A request that changes the session's settings (SET, RESET, DISCARD ALL) is owed a
    /// reply.
    pub settings_in_flight: bool,
    /// Such a request failed: the settings the session tracks may be wrong.
    pub settings_uncertain: bool,
}

/// A reply being captured: the statement was sent after `snapshot` was taken.
#[derive(Debug)]
pub struct Capture {
    /// The entry's key.
    pub key: Box<[u8]>,
    /// The generations of what it reads, before it was sent.
    pub snapshot: Snapshot,
    /// The reply so far (RowDescription, DataRows, CommandComplete; for an extended run
    /// ParseComplete, BindComplete … too), without ReadyForQuery.
    pub bytes: Vec<u8>,
    /// Too large, an error, or a message a replay must not repeat: nothing is stored.
    pub failed: bool,
}

impl CacheTrack {
    /// A track over `cache` with nothing in flight.
    pub fn new(cache: Arc<QueryCache>) -> Self {
        Self {
            cache,
            pending: Vec::new(),
            tx_written: Vec::new(),
            capture: None,
            settings_in_flight: false,
            settings_uncertain: false,
        }
    }

    /// Whether the backend message with tag `t` must be looked at.
    pub(super) fn inspects(&self, t: u8) -> bool {
        self.capture.is_some()
            || (!self.pending.is_empty() && t == COMMAND_COMPLETE_TAG)
            || (self.settings_in_flight && t == ERROR_RESPONSE_TAG)
            || t == READY_FOR_QUERY_TAG
    }

    /// Remembers that the request about to be sent writes `tables`.
    pub fn wrote(&mut self, tables: impl IntoIterator<Item = TableGen>) {
        for t in tables {
            if !self.pending.iter().any(|p| Arc::ptr_eq(p, &t)) {
                self.pending.push(t);
            }
        }
    }

    /// One backend message on its way to the client. `status` is ReadyForQuery's transaction
    /// status; `last` that it answers the last request owed a reply.
    pub(super) fn on_message(
        &mut self,
        tag: u8,
        frame: &[u8],
        status: Option<TransactionStatus>,
        last: bool,
    ) {
        if tag == ERROR_RESPONSE_TAG && self.settings_in_flight {
            self.settings_uncertain = true;
        }
        if tag == COMMAND_COMPLETE_TAG || tag == READY_FOR_QUERY_TAG {
            self.cache.invalidate(&self.pending);
        }
        if tag == READY_FOR_QUERY_TAG {
            if let Some(c) = self.capture.take() {
                if !c.failed && !c.bytes.is_empty() {
                    let now = crate::runtime::now();
                    self.cache
                        .insert(c.key, Bytes::from(c.bytes), c.snapshot, now);
                }
            }
            if status == Some(TransactionStatus::Idle) {
                self.cache.invalidate(&self.tx_written);
                self.tx_written.clear();
            } else {
                for t in &self.pending {
                    if !self.tx_written.iter().any(|w| Arc::ptr_eq(w, t)) {
                        self.tx_written.push(t.clone());
                    }
                }
            }
            if last {
                self.pending.clear();
                self.settings_in_flight = false;
            }
            return;
        }
        let Some(c) = self.capture.as_mut() else {
            return;
        };
        match tag {
            ROW_DESCRIPTION_TAG
            | DATA_ROW_TAG
            | COMMAND_COMPLETE_TAG
            | EMPTY_QUERY_RESPONSE_TAG
            | PARSE_COMPLETE_TAG
            | BIND_COMPLETE_TAG
            | NO_DATA_TAG
            | PARAMETER_DESCRIPTION_TAG => {
                if c.failed {
                    return;
                }
                if c.bytes.len() + frame.len() > self.cache.settings().max_result {
                    c.failed = true;
                    c.bytes = Vec::new();
                } else {
                    c.bytes.extend_from_slice(frame);
                }
            }
            // Asynchronous messages go to the client but are not part of the result.
            NOTICE_RESPONSE_TAG | NOTIFICATION_RESPONSE_TAG | PARAMETER_STATUS_TAG => {}
            _ => {
                c.failed = true;
                c.bytes = Vec::new();
            }
        }
    }

    /// The session ends or its backend went away: a write whose reply never came may still
    /// have committed, so its tables are invalidated now.
    pub fn flush(&mut self) {
        self.cache.invalidate(&self.pending);
        self.cache.invalidate(&self.tx_written);
        self.pending.clear();
        self.tx_written.clear();
        self.capture = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::query_cache::Settings;

    fn frame(tag: u8, body: &[u8]) -> Vec<u8> {
        let mut f = vec![tag];
        f.extend_from_slice(&(body.len() as i32 + 4).to_be_bytes());
        f.extend_from_slice(body);
        f
    }

    #[test]
    fn a_captured_reply_is_stored_at_ready_for_query_and_a_write_bumps_at_its_reply() {
        let cache = Arc::new(QueryCache::new(Settings::default()));
        let t = cache.table("db.t");
        let mut track = CacheTrack::new(cache.clone());
        track.capture = Some(Capture {
            key: Box::from(&b"k"[..]),
            snapshot: cache.snapshot(std::slice::from_ref(&t)),
            bytes: Vec::new(),
            failed: false,
        });
        let c = frame(b'C', b"SELECT 1\0");
        track.on_message(b'C', &c, None, false);
        track.on_message(
            b'Z',
            &frame(b'Z', b"I"),
            Some(TransactionStatus::Idle),
            true,
        );
        let now = crate::runtime::now();
        assert_eq!(cache.get(b"k", now).as_deref(), Some(&c[..]));

        track.wrote([t.clone()]);
        track.on_message(b'C', &c, None, false);
        assert!(cache.get(b"k", now).is_none(), "bumped at CommandComplete");
        track.on_message(
            b'Z',
            &frame(b'Z', b"T"),
            Some(TransactionStatus::InTransaction),
            true,
        );
        assert!(track.pending.is_empty());
        assert_eq!(
            track.tx_written.len(),
            1,
            "bumped again when the transaction ends"
        );
        let before = t.load(std::sync::atomic::Ordering::Acquire);
        track.on_message(
            b'Z',
            &frame(b'Z', b"I"),
            Some(TransactionStatus::Idle),
            true,
        );
        assert_eq!(t.load(std::sync::atomic::Ordering::Acquire), before + 1);
    }

    #[test]
    fn errors_and_copies_are_never_stored() {
        let cache = Arc::new(QueryCache::new(Settings::default()));
        let mut track = CacheTrack::new(cache.clone());
        for tag in [b'E', b'H', b's'] {
            track.capture = Some(Capture {
                key: Box::from(&b"k"[..]),
                snapshot: cache.snapshot(&[]),
                bytes: Vec::new(),
                failed: false,
            });
            track.on_message(b'T', &frame(b'T', b"\0\0"), None, false);
            track.on_message(tag, &frame(tag, b""), None, false);
            track.on_message(
                b'Z',
                &frame(b'Z', b"I"),
                Some(TransactionStatus::Idle),
                true,
            );
            assert!(cache.get(b"k", crate::runtime::now()).is_none());
        }
    }
}
