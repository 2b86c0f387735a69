//! Walking a message stream that arrives in chunks of any size, such as the receive buffers a
//! kernel fills: which bytes may pass through as they are, and which whole messages the caller
//! asked to look at.
//!
//! A proxy forwards most messages without reading them (DataRow, CopyData …) and must look into
//! a few (ReadyForQuery, ErrorResponse, a client's Query …). [`ChunkWalker`] passes the former
//! through piece by piece — a message may start in one chunk and end three chunks later — and
//! hands the latter over whole: borrowed from the chunk when it lies inside it, or assembled in
//! the walker's own buffer when it spans chunks (the only copy it ever makes).
//!
//! The walker never consumes an inspected message by itself: [`Step::Message`] reports it with
//! the offset to go on from, and walking the same chunk from the same offset again reports the
//! same message. So a caller can stop at a message (to decide where it goes) and come back.
//!
//! ```
//! use corepool_protocol::framing::{ChunkWalker, Limits, Step};
//!
//! // A DataRow, then a ReadyForQuery split across two chunks.
//! let (first, second) = (&b"D\0\0\0\x06\0\0Z\0\0"[..], &b"\0\x05I"[..]);
//! let mut walker = ChunkWalker::default();
//! let step = walker.step(first, 0, &Limits::default(), |t| t == b'Z', |_| {})?;
//! assert_eq!(step, Step::Done { pass: 0..7 }); // the DataRow passes; Z is held
//! let Step::Message { pass, message, next } = walker.step(second, 0, &Limits::default(), |t| t == b'Z', |_| {})? else {
//!     panic!("ReadyForQuery is whole now");
//! };
//! assert_eq!((pass, message.tag, message.frame, message.assembled, next), (0..0, b'Z', &b"Z\0\0\0\x05I"[..], true, 3));
//! # Ok::<(), corepool_protocol::Error>(())
//! ```

use std::ops::Range;

use super::{Header, Limits, HEADER_LEN};
use crate::Error;

/// What the walker keeps between chunks.
#[derive(Debug, Default, Clone)]
pub struct ChunkWalker {
    /// Bytes of a passing message still to come (its beginning has passed already).
    body_left: usize,
    /// The header of a passing message split across chunks: the bytes seen so far (the tag is
    /// always among them, so whether it passes was decided).
    split_header: [u8; HEADER_LEN],
    /// How many bytes of `split_header` are filled (0: no header is split).
    split_len: usize,
    /// An inspected message spanning chunks: its bytes so far, from its tag on.
    assembly: Vec<u8>,
    /// The whole length of the message in `assembly` once its header is in (0 before).
    assembly_want: usize,
    /// Bytes of the chunk that completed `assembly` (the message's tail), once it is complete.
    assembly_tail: usize,
}

/// Where a walk over one chunk stopped.
#[derive(Debug, PartialEq, Eq)]
pub enum Step<'a> {
    /// `pass` of the chunk passes through; the chunk is used up (what is left of it, if
    /// anything, belongs to an inspected message the walker is assembling).
    Done {
        /// Chunk bytes to forward as they are.
        pass: Range<usize>,
    },
    /// `pass` of the chunk passes through first; then comes `message`, which the caller handles.
    /// Walking on from `next` skips it; walking again from `pass.end` reports it again.
    Message {
        /// Chunk bytes before the message, to forward as they are.
        pass: Range<usize>,
        /// The message.
        message: Inspected<'a>,
        /// Where the chunk goes on after the message.
        next: usize,
    },
}

/// A whole message the caller asked to inspect.
#[derive(Debug, PartialEq, Eq)]
pub struct Inspected<'a> {
    /// Its tag.
    pub tag: u8,
    /// The whole message: tag, length and body.
    pub frame: &'a [u8],
    /// True when it spanned chunks and `frame` is the walker's assembled copy (its earlier
    /// bytes were not passed with their chunks); false when `frame` lies in this chunk.
    pub assembled: bool,
}

impl Inspected<'_> {
    /// The body (after the tag and length).
    pub fn body(&self) -> &[u8] {
        self.frame.get(HEADER_LEN..).unwrap_or_default()
    }
}

impl ChunkWalker {
    /// True when a passing message is partly through (its remainder is still to come), or an
    /// inspected one is being assembled.
    pub fn mid_message(&self) -> bool {
        self.body_left > 0 || self.split_len > 0 || !self.assembly.is_empty()
    }

    /// Walks `chunk` from `pos` (bytes before it were walked already). `inspect` says which
    /// tags are handed over whole; `seen` is told the tag of every message that passes (once,
    /// when its first byte is walked), never of an inspected one. A length below 4, or above
    /// `limits` for a message of either kind, is an error: the stream cannot be resynchronised.
    pub fn step<'a>(
        &'a mut self,
        chunk: &'a [u8],
        pos: usize,
        limits: &Limits,
        inspect: impl Fn(u8) -> bool,
        mut seen: impl FnMut(u8),
    ) -> Result<Step<'a>, Error> {
        let start = pos.min(chunk.len());
        let mut pos = start;

        if !self.assembly.is_empty() {
            return self.continue_assembly(chunk, pos, limits);
        }
        if self.split_len > 0 {
            let take = (HEADER_LEN - self.split_len).min(chunk.len() - pos);
            self.split_header[self.split_len..self.split_len + take]
                .copy_from_slice(&chunk[pos..pos + take]);
            self.split_len += take;
            pos += take;
            if self.split_len < HEADER_LEN {
                return Ok(Step::Done { pass: start..pos });
            }
            self.split_len = 0;
            let header = Header::parse(&self.split_header)?.ok_or(Error::BadLength {
                tag: self.split_header[0],
                len: 0,
            })?;
            header.check(limits)?;
            self.body_left = header.body_len();
        }
        if self.body_left > 0 {
            let take = self.body_left.min(chunk.len() - pos);
            self.body_left -= take;
            pos += take;
            if self.body_left > 0 {
                return Ok(Step::Done { pass: start..pos });
            }
        }
        loop {
            let rest = &chunk[pos..];
            let Some(&tag) = rest.first() else {
                return Ok(Step::Done { pass: start..pos });
            };
            let header = Header::parse(rest)?;
            if let Some(h) = header {
                h.check(limits)?;
            }
            if inspect(tag) {
                match header {
                    Some(h) if rest.len() >= h.frame_len() => {
                        let len = h.frame_len();
                        return Ok(Step::Message {
                            pass: start..pos,
                            message: Inspected {
                                tag,
                                frame: &chunk[pos..pos + len],
                                assembled: false,
                            },
                            next: pos + len,
                        });
                    }
                    _ => {
                        // Hold the beginning; the rest comes with later chunks.
                        self.assembly.extend_from_slice(rest);
                        self.assembly_want = header.map_or(0, |h| h.frame_len());
                        return Ok(Step::Done { pass: start..pos });
                    }
                }
            }
            seen(tag);
            match header {
                Some(h) if rest.len() >= h.frame_len() => pos += h.frame_len(),
                Some(h) => {
                    // Stream the part that is here; the rest passes with later chunks.
                    self.body_left = h.frame_len() - rest.len();
                    return Ok(Step::Done {
                        pass: start..chunk.len(),
                    });
                }
                None => {
                    self.split_header[..rest.len()].copy_from_slice(rest);
                    self.split_len = rest.len();
                    return Ok(Step::Done {
                        pass: start..chunk.len(),
                    });
                }
            }
        }
    }

    /// The assembled copy of the message just reported (`assembled: true`), while it is kept.
    pub fn assembled(&self) -> Option<&[u8]> {
        (self.assembly_want > 0 && self.assembly.len() == self.assembly_want)
            .then_some(self.assembly.as_slice())
    }

    /// Gives the assembled copy of the message just reported (`assembled: true`) to the caller,
    /// to forward it without another copy; the walker goes on with an empty buffer.
    pub fn take_assembled(&mut self) -> Vec<u8> {
        self.assembly_want = 0;
        self.assembly_tail = 0;
        std::mem::take(&mut self.assembly)
    }

    /// Forgets the assembled copy of the message just reported, once the caller handled it.
    /// (A message that lay in its chunk needs nothing: walking on from `next` skips it.)
    pub fn release(&mut self) {
        if self.assembly_want > 0 && self.assembly.len() == self.assembly_want {
            self.assembly.clear();
            self.assembly_want = 0;
            self.assembly_tail = 0;
        }
    }

    fn continue_assembly<'a>(
        &'a mut self,
        chunk: &'a [u8],
        pos: usize,
        limits: &Limits,
    ) -> Result<Step<'a>, Error> {
        let complete = self.assembly_want > 0 && self.assembly.len() == self.assembly_want;
        if !complete {
            let before = self.assembly.len();
            if self.assembly_want == 0 {
                let take = (HEADER_LEN - before).min(chunk.len() - pos);
                self.assembly.extend_from_slice(&chunk[pos..pos + take]);
                let Some(h) = Header::parse(&self.assembly)? else {
                    return Ok(Step::Done { pass: pos..pos });
                };
                h.check(limits)?;
                self.assembly_want = h.frame_len();
            }
            let have = self.assembly.len() - before;
            let take = (self.assembly_want - self.assembly.len()).min(chunk.len() - pos - have);
            self.assembly
                .extend_from_slice(&chunk[pos + have..pos + have + take]);
            if self.assembly.len() < self.assembly_want {
                return Ok(Step::Done { pass: pos..pos });
            }
            self.assembly_tail = have + take;
        }
        Ok(Step::Message {
            pass: pos..pos,
            message: Inspected {
                tag: self.assembly[0],
                frame: &self.assembly,
                assembled: true,
            },
            next: pos + self.assembly_tail,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn msg(tag: u8, body: &[u8]) -> Vec<u8> {
        let mut v = vec![tag];
        v.extend_from_slice(&((body.len() + 4) as u32).to_be_bytes());
        v.extend_from_slice(body);
        v
    }

    /// Walks `chunks` to the end, as a relay would: returns the bytes forwarded in order (passed
    /// ranges and inspected messages as they came), the inspected messages and the tags seen.
    fn relay(chunks: &[&[u8]], inspect: impl Fn(u8) -> bool) -> (Vec<u8>, Vec<Vec<u8>>, Vec<u8>) {
        let mut w = ChunkWalker::default();
        let (mut out, mut inspected, mut seen) = (Vec::new(), Vec::new(), Vec::new());
        let limits = Limits::default();
        for chunk in chunks {
            let mut pos = 0;
            loop {
                match w
                    .step(chunk, pos, &limits, &inspect, |t| seen.push(t))
                    .unwrap()
                {
                    Step::Done { pass } => {
                        out.extend_from_slice(&chunk[pass]);
                        break;
                    }
                    Step::Message {
                        pass,
                        message,
                        next,
                    } => {
                        out.extend_from_slice(&chunk[pass]);
                        out.extend_from_slice(message.frame);
                        inspected.push(message.frame.to_vec());
                        w.release();
                        pos = next;
                    }
                }
            }
        }
        (out, inspected, seen)
    }

    #[test]
    fn passes_rows_and_hands_over_a_message_inside_one_chunk() {
        let mut stream = msg(b'D', b"row1");
        stream.extend(msg(b'Z', b"I"));
        stream.extend(msg(b'D', b"row2"));
        let (out, inspected, seen) = relay(&[&stream], |t| t == b'Z');
        assert_eq!(out, stream);
        assert_eq!(inspected, vec![msg(b'Z', b"I")]);
        assert_eq!(seen, b"DD");
    }

    #[test]
    fn the_same_message_is_reported_again_until_the_caller_moves_on() {
        let q = msg(b'Q', b"SELECT 1\0");
        let mut w = ChunkWalker::default();
        let limits = Limits::default();
        for _ in 0..2 {
            let step = w.step(&q, 0, &limits, |t| t == b'Q', |_| {}).unwrap();
            assert!(matches!(step, Step::Message { next: 14, .. }), "{step:?}");
        }
        // Assembled across chunks, too.
        let mut w = ChunkWalker::default();
        assert_eq!(
            w.step(&q[..7], 0, &limits, |t| t == b'Q', |_| {}).unwrap(),
            Step::Done { pass: 0..0 }
        );
        for _ in 0..2 {
            let step = w.step(&q[7..], 0, &limits, |t| t == b'Q', |_| {}).unwrap();
            let Step::Message { message, next, .. } = step else {
                panic!("{step:?}")
            };
            assert_eq!((message.frame, message.assembled, next), (&q[..], true, 7));
        }
        assert_eq!(w.take_assembled(), q);
        assert!(!w.mid_message());
    }

    #[test]
    fn a_split_header_of_a_passing_message_passes_with_its_chunks() {
        let d = msg(b'D', &[9u8; 40]);
        let (out, _, seen) = relay(&[&d[..2], &d[2..4], &d[4..30], &d[30..]], |_| false);
        assert_eq!(out, d);
        assert_eq!(seen, b"D");
    }

    #[test]
    fn bad_and_oversized_lengths_are_errors_even_when_split() {
        let limits = Limits {
            max_message_len: 100,
        };
        let mut w = ChunkWalker::default();
        let big = [b'D', 0, 0, 1, 0];
        assert!(w.step(&big, 0, &limits, |_| false, |_| {}).is_err());
        let mut w = ChunkWalker::default();
        w.step(&big[..2], 0, &limits, |_| false, |_| {}).unwrap();
        assert!(w.step(&big[2..], 0, &limits, |_| false, |_| {}).is_err());
        let mut w = ChunkWalker::default();
        w.step(&big[..3], 0, &limits, |_| true, |_| {}).unwrap();
        assert!(w.step(&big[3..], 0, &limits, |_| true, |_| {}).is_err());
        let bad = [b'Z', 0, 0, 0, 3];
        assert!(ChunkWalker::default()
            .step(&bad, 0, &limits, |_| true, |_| {})
            .is_err());
    }

    fn message_strategy() -> impl Strategy<Value = Vec<u8>> {
        (
            prop::sample::select(vec![b'D', b'Z', b'E', b'C', b'd', b'Q']),
            prop::collection::vec(any::<u8>(), 0..60),
        )
            .prop_map(|(tag, body)| msg(tag, &body))
    }

    proptest! {
        #[test]
        fn any_chunking_forwards_the_stream_unchanged_and_inspects_the_same_messages(
            messages in prop::collection::vec(message_strategy(), 0..12),
            cuts in prop::collection::vec(0usize..600, 0..20),
        ) {
            let stream: Vec<u8> = messages.concat();
            let inspect = |t: u8| t == b'Z' || t == b'E' || t == b'Q';
            let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c.min(stream.len())).collect();
            cuts.push(0);
            cuts.push(stream.len());
            cuts.sort_unstable();
            let chunks: Vec<&[u8]> = cuts.windows(2).map(|w| &stream[w[0]..w[1]]).collect();
            let (out, inspected, seen) = relay(&chunks, inspect);
            prop_assert_eq!(out, stream.clone());
            let expected: Vec<Vec<u8>> = messages.iter().filter(|m| inspect(m[0])).cloned().collect();
            prop_assert_eq!(inspected, expected);
            let expected_seen: Vec<u8> = messages.iter().map(|m| m[0]).filter(|t| !inspect(*t)).collect();
            prop_assert_eq!(seen, expected_seen);
        }
    }
}
