//! Walking message headers to find how much backend output can be forwarded in one write.

use std::ops::Range;

use super::{Header, Limits, HEADER_LEN};
use crate::message::backend::ReadyForQuery;
use crate::message::tags::*;
use crate::message::TransactionStatus;
use crate::Error;

/// The set of tags at which [`scan_run_with`] stops, as a 256-entry table so the check per
/// message is one load.
#[derive(Clone, PartialEq, Eq)]
pub struct StopTags {
    /// `table[tag]` is whether the scan stops at `tag`.
    table: [bool; 256],
}

impl StopTags {
    /// The backend messages a proxy must see: ReadyForQuery (the end of a query cycle and the
    /// transaction status), ErrorResponse, ParameterStatus (e.g. `client_encoding` changes) and
    /// the three Copy*Response messages (the connection switches to COPY mode).
    pub const BACKEND: StopTags = StopTags::from_tags(&[
        READY_FOR_QUERY_TAG,
        ERROR_RESPONSE_TAG,
        PARAMETER_STATUS_TAG,
        COPY_IN_RESPONSE_TAG,
        COPY_OUT_RESPONSE_TAG,
        COPY_BOTH_RESPONSE_TAG,
    ]);

    /// A set holding exactly `tags`.
    pub const fn from_tags(tags: &[u8]) -> StopTags {
        let mut table = [false; 256];
        let mut i = 0;
        while i < tags.len() {
            table[tags[i] as usize] = true;
            i += 1;
        }
        StopTags { table }
    }

    /// This set plus `tag`.
    pub const fn with(mut self, tag: u8) -> StopTags {
        self.table[tag as usize] = true;
        self
    }

    /// This set without `tag`.
    pub const fn without(mut self, tag: u8) -> StopTags {
        self.table[tag as usize] = false;
        self
    }

    /// Whether the scan stops at `tag`.
    #[inline]
    pub const fn contains(&self, tag: u8) -> bool {
        self.table[tag as usize]
    }
}

impl Default for StopTags {
    fn default() -> Self {
        StopTags::BACKEND
    }
}

impl std::fmt::Debug for StopTags {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let tags = (0..=u8::MAX)
            .filter(|&tag| self.contains(tag))
            .map(char::from);
        f.debug_set().entries(tags).finish()
    }
}

/// What [`scan_run`] found at the front of a buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Run {
    /// How many leading bytes are whole messages, up to and including [`Run::stop`] if there is
    /// one: `buf.split_to(complete_len).freeze()` is one write's worth to forward.
    pub complete_len: usize,
    /// How many messages `complete_len` covers.
    pub messages: usize,
    /// The first message whose tag is a stop tag; always the last message of the run.
    pub stop: Option<Stop>,
    /// When the run ended at a message whose header is in but whose body is not yet: that
    /// header, so the caller can reserve room for it (or stream a huge one through).
    pub pending: Option<Header>,
}

impl Run {
    /// Whether the run holds no whole message.
    pub fn is_empty(&self) -> bool {
        self.messages == 0
    }
}

/// The message a run stopped at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stop {
    /// Where the message starts in the scanned buffer.
    pub offset: usize,
    /// Its header.
    pub header: Header,
    /// For ReadyForQuery, its transaction status, already checked.
    pub status: Option<TransactionStatus>,
}

impl Stop {
    /// Where the whole message lies in the scanned buffer.
    pub fn frame_range(&self) -> Range<usize> {
        self.offset..self.offset.saturating_add(self.header.frame_len())
    }

    /// Where the message's body lies in the scanned buffer.
    pub fn body_range(&self) -> Range<usize> {
        let range = self.frame_range();
        range.start.saturating_add(HEADER_LEN)..range.end
    }
}

/// Walks the headers of the messages at the front of `buf` up to the first
/// [`StopTags::BACKEND`] message, without reading bodies (except ReadyForQuery's status byte)
/// and without allocating.
///
/// The engine forwards `buf[..run.complete_len]` in one write; if [`Run::stop`] is set, it
/// looks at that message (the last one forwarded) before scanning on. Errors are the framing
/// errors of [`split_frame`](super::split_frame): a length below 4 or over the limit, found at
/// any message of the run; and a malformed ReadyForQuery.
///
/// Measured (`cargo bench -p corepool-bench --bench framing`, 2-core dev VM): 23.8 GiB/s,
/// about 4 ns per message, over RowDescription + 1000 DataRows of ~100 bytes + CommandComplete +
/// ReadyForQuery; split_frame over the same stream runs at 4.5 GiB/s.
pub fn scan_run(buf: &[u8], limits: &Limits) -> Result<Run, Error> {
    scan_run_with(buf, limits, &StopTags::BACKEND)
}

/// [`scan_run`] with a caller-chosen set of stop tags, e.g. to stop at NoticeResponse too, or
/// to walk frontend messages.
pub fn scan_run_with(buf: &[u8], limits: &Limits, stops: &StopTags) -> Result<Run, Error> {
    let max = limits.max_message_len;
    let mut pos = 0usize;
    let mut messages = 0usize;
    while let Some(&[tag, a, b, c, d]) = buf.get(pos..).and_then(<[u8]>::first_chunk) {
        let len = u32::from_be_bytes([a, b, c, d]);
        if len < 4 || len as usize > max {
            return Err(header_error(tag, len, limits));
        }
        let end = pos.saturating_add(1).saturating_add(len as usize);
        if end > buf.len() {
            return Ok(Run {
                complete_len: pos,
                messages,
                stop: None,
                pending: Some(Header { tag, len }),
            });
        }
        messages += 1;
        if stops.contains(tag) {
            let status = if tag == READY_FOR_QUERY_TAG {
                let body = buf.get(pos + HEADER_LEN..end).unwrap_or_default();
                Some(ReadyForQuery::parse(body)?.status())
            } else {
                None
            };
            let stop = Stop {
                offset: pos,
                header: Header { tag, len },
                status,
            };
            return Ok(Run {
                complete_len: end,
                messages,
                stop: Some(stop),
                pending: None,
            });
        }
        pos = end;
    }
    Ok(Run {
        complete_len: pos,
        messages,
        stop: None,
        pending: None,
    })
}

/// The error for a header whose length is out of bounds, kept out of the hot loop.
#[cold]
fn header_error(tag: u8, len: u32, limits: &Limits) -> Error {
    let header = Header { tag, len };
    if len < 4 {
        return Error::BadLength { tag, len };
    }
    header
        .check(limits)
        .err()
        .unwrap_or(Error::BadLength { tag, len })
}
