//! Walks message headers in a byte stream to decide how much can be forwarded as-is.
//!
//! Forwarding never waits for a whole message unless the engine must look inside it: the walker
//! passes over uninteresting messages (DataRow, CopyData …) even when only their first bytes have
//! arrived, and stops at a message the engine must inspect until all of it is buffered.

use corepool_protocol::framing::{Header, Limits};
use corepool_protocol::Error as WireError;

/// Where a walk over the buffered bytes stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    /// Everything walked; more bytes are needed to go on.
    NeedMore,
    /// A complete message the caller asked to inspect starts at `at` and is `len` bytes long.
    Inspect {
        /// Offset of the message's tag byte.
        at: usize,
        /// Whole message length (tag included).
        len: usize,
        /// The tag.
        tag: u8,
    },
}

/// The walker's state between reads: how much of a message that is being streamed through is
/// still to come.
#[derive(Debug, Default, Clone, Copy)]
pub struct Walker {
    body_left: usize,
}

impl Walker {
    /// Walks `buf` from offset `from` (bytes before it were already walked). Returns the offset up
    /// to which bytes may be forwarded and why the walk stopped. `seen` is called with the tag of
    /// every message walked past (not for the inspected one it stops at).
    pub fn walk(
        &mut self,
        buf: &[u8],
        from: usize,
        limits: &Limits,
        inspect: impl Fn(u8) -> bool,
        mut seen: impl FnMut(u8),
    ) -> Result<(usize, Stop), WireError> {
        let mut pos = from.min(buf.len());
        if self.body_left > 0 {
            let take = self.body_left.min(buf.len() - pos);
            self.body_left -= take;
            pos += take;
            if self.body_left > 0 {
                return Ok((pos, Stop::NeedMore));
            }
        }
        loop {
            let Some(rest) = buf.get(pos..) else {
                return Ok((pos, Stop::NeedMore));
            };
            let Some(header) = Header::parse(rest)? else {
                return Ok((pos, Stop::NeedMore));
            };
            let len = header.frame_len();
            if header.len as usize > limits.max_message_len {
                return Err(WireError::MessageTooLarge {
                    tag: header.tag,
                    len: header.len as usize,
                    max: limits.max_message_len,
                });
            }
            if inspect(header.tag) {
                // Inspected messages are not reported to `seen`: the caller handles them.
                if rest.len() < len {
                    return Ok((pos, Stop::NeedMore));
                }
                return Ok((
                    pos,
                    Stop::Inspect {
                        at: pos,
                        len,
                        tag: header.tag,
                    },
                ));
            }
            seen(header.tag);
            if rest.len() < len {
                // Stream the part that is here; the rest passes through on later reads.
                self.body_left = len - rest.len();
                return Ok((buf.len(), Stop::NeedMore));
            }
            pos += len;
        }
    }

    /// True when a message is partly forwarded (its remainder is still to come).
    pub fn mid_message(&self) -> bool {
        self.body_left > 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(tag: u8, body: &[u8]) -> Vec<u8> {
        let mut v = vec![tag];
        v.extend_from_slice(&((body.len() + 4) as u32).to_be_bytes());
        v.extend_from_slice(body);
        v
    }

    fn limits() -> Limits {
        Limits {
            max_message_len: 1 << 20,
        }
    }

    #[test]
    fn forwards_uninteresting_and_stops_at_inspected() {
        let mut buf = msg(b'D', b"row1");
        buf.extend(msg(b'D', b"row2"));
        let z_at = buf.len();
        buf.extend(msg(b'Z', b"I"));
        let mut w = Walker::default();
        let (fwd, stop) = w.walk(&buf, 0, &limits(), |t| t == b'Z', |_| {}).unwrap();
        assert_eq!(fwd, z_at);
        assert_eq!(
            stop,
            Stop::Inspect {
                at: z_at,
                len: 6,
                tag: b'Z'
            }
        );
        let (fwd, stop) = w
            .walk(&buf, z_at + 6, &limits(), |t| t == b'Z', |_| {})
            .unwrap();
        assert_eq!((fwd, stop), (buf.len(), Stop::NeedMore));
    }

    #[test]
    fn streams_a_large_message_across_reads() {
        let full = msg(b'd', &[7u8; 100]);
        let mut w = Walker::default();
        let (fwd, stop) = w
            .walk(&full[..30], 0, &limits(), |_| false, |_| {})
            .unwrap();
        assert_eq!((fwd, stop), (30, Stop::NeedMore));
        assert!(w.mid_message());
        // The next read holds the remaining 75 bytes then a complete Z.
        let mut next = full[30..].to_vec();
        next.extend(msg(b'Z', b"I"));
        let (fwd, stop) = w.walk(&next, 0, &limits(), |t| t == b'Z', |_| {}).unwrap();
        assert_eq!(fwd, 75);
        assert_eq!(
            stop,
            Stop::Inspect {
                at: 75,
                len: 6,
                tag: b'Z'
            }
        );
    }

    #[test]
    fn waits_for_a_whole_inspected_message_and_a_whole_header() {
        let q = msg(b'Q', b"SELECT 1\0");
        let mut w = Walker::default();
        assert_eq!(
            w.walk(&q[..3], 0, &limits(), |t| t == b'Q', |_| {})
                .unwrap(),
            (0, Stop::NeedMore)
        );
        assert_eq!(
            w.walk(&q[..8], 0, &limits(), |t| t == b'Q', |_| {})
                .unwrap(),
            (0, Stop::NeedMore)
        );
        assert!(matches!(
            w.walk(&q, 0, &limits(), |t| t == b'Q', |_| {}).unwrap().1,
            Stop::Inspect { .. }
        ));
    }

    #[test]
    fn rejects_oversized_and_bad_lengths() {
        let mut w = Walker::default();
        let mut big = vec![b'D'];
        big.extend_from_slice(&(10_000_000u32).to_be_bytes());
        assert!(w.walk(&big, 0, &limits(), |_| false, |_| {}).is_err());
        let bad = [b'D', 0, 0, 0, 2];
        assert!(Walker::default()
            .walk(&bad, 0, &limits(), |_| false, |_| {})
            .is_err());
    }
}
