//! Cutting complete PostgreSQL messages off a read buffer without copying.
//!
//! After the startup phase every message is a tag byte, a big-endian `int32` length that counts
//! itself but not the tag, and a body. [`split_frame`] cuts one whole message off a `BytesMut`
//! with `split_to(len).freeze()`, so the [`Frame`] shares the read buffer's memory and can be
//! forwarded as it came. Before that, the client's first packets have no tag;
//! [`split_startup`] handles them.
//!
//! Most server output is forwarded without looking inside. [`scan_run`] walks the headers of
//! the messages already in the buffer and says how many bytes can be forwarded in one write and
//! where the first message the engine must read (ReadyForQuery, ErrorResponse, ...) is.
//!
//! A socket's receive buffers need not hold whole messages: [`ChunkWalker`] walks a stream
//! chunk by chunk, passing messages through piece by piece and handing over whole the few the
//! caller must read.
//!
//! "Need more bytes" is `Ok(None)`, not an error: a partial message is the normal state of a
//! read buffer. Nothing is consumed until a whole message is there, so the caller reads more and
//! calls again. Errors mean the peer broke the protocol; the connection cannot be resynchronised.
//!
//! ```
//! use bytes::BytesMut;
//! use corepool_protocol::framing::{split_frame, Limits};
//!
//! let mut buf = BytesMut::from(&b"Z\0\0\0\x05IC\0\0"[..]);
//! let frame = split_frame(&mut buf, &Limits::default())?.expect("ReadyForQuery is whole");
//! assert_eq!((frame.tag(), frame.body()), (b'Z', &b"I"[..]));
//! assert_eq!(split_frame(&mut buf, &Limits::default())?, None); // CommandComplete is partial
//! # Ok::<(), corepool_protocol::Error>(())
//! ```

mod chunks;
mod scan;
mod startup;
#[cfg(test)]
mod tests;

pub use self::chunks::{ChunkWalker, Inspected, Step};
pub use self::scan::{scan_run, scan_run_with, Run, Stop, StopTags};
pub use self::startup::{split_startup, StartupFrame};

use bytes::{Bytes, BytesMut};

use crate::Error;

/// The longest startup-phase packet accepted, as in PostgreSQL's `MAX_STARTUP_PACKET_LENGTH`.
pub const MAX_STARTUP_PACKET_LEN: usize = 10_000;

/// The size of a tagged message's header: the tag byte and the `int32` length.
pub const HEADER_LEN: usize = 5;

/// Bounds on what a peer may send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// The largest length field accepted (it counts itself, not the tag). The default is
    /// PostgreSQL's own limit, 1 GiB - 1 (`PQ_LARGE_MESSAGE_LIMIT`); a proxy that holds whole
    /// messages in memory may want far less for client messages.
    pub max_message_len: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_message_len: (1 << 30) - 1,
        }
    }
}

/// A tagged message's header, read without consuming it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Header {
    /// The tag byte, e.g. [`DATA_ROW_TAG`](crate::message::tags::DATA_ROW_TAG).
    pub tag: u8,
    /// The length field: the body's length plus 4.
    pub len: u32,
}

impl Header {
    /// Reads the header at the front of `buf`; `Ok(None)` if fewer than five bytes are there.
    /// A length below 4 is an error. The limit is checked by [`Header::check`].
    pub fn parse(buf: &[u8]) -> Result<Option<Header>, Error> {
        let Some(&[tag, a, b, c, d]) = buf.first_chunk::<HEADER_LEN>() else {
            return Ok(None);
        };
        let len = u32::from_be_bytes([a, b, c, d]);
        if len < 4 {
            return Err(Error::BadLength { tag, len });
        }
        Ok(Some(Header { tag, len }))
    }

    /// Checks the length against `limits`.
    pub fn check(&self, limits: &Limits) -> Result<(), Error> {
        let len = self.len as usize;
        if len > limits.max_message_len {
            return Err(Error::MessageTooLarge {
                tag: self.tag,
                len,
                max: limits.max_message_len,
            });
        }
        Ok(())
    }

    /// The whole message's size on the wire: `1 + len`.
    pub fn frame_len(&self) -> usize {
        (self.len as usize).saturating_add(1)
    }

    /// The body's size: `len - 4`.
    pub fn body_len(&self) -> usize {
        (self.len as usize).saturating_sub(4)
    }
}

/// One whole tagged message, holding its original bytes (tag, length and body).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// The tag, kept apart so reading it needs no bounds check.
    tag: u8,
    /// Tag, length and body as received; at least [`HEADER_LEN`] bytes.
    bytes: Bytes,
}

impl Frame {
    /// The tag byte.
    pub fn tag(&self) -> u8 {
        self.tag
    }

    /// The header.
    pub fn header(&self) -> Header {
        Header {
            tag: self.tag,
            len: u32::try_from(self.bytes.len().saturating_sub(1)).unwrap_or(u32::MAX),
        }
    }

    /// The body: everything after the tag and length, for the views in
    /// [`message`](crate::message).
    pub fn body(&self) -> &[u8] {
        self.bytes.get(HEADER_LEN..).unwrap_or_default()
    }

    /// The body as `Bytes` sharing the frame's memory, e.g. to keep a DataRow column with
    /// `body.slice(range)`.
    pub fn body_bytes(&self) -> Bytes {
        if self.bytes.len() < HEADER_LEN {
            return Bytes::new();
        }
        self.bytes.slice(HEADER_LEN..)
    }

    /// The whole message as received, to forward untouched.
    pub fn as_bytes(&self) -> &Bytes {
        &self.bytes
    }

    /// The whole message as received.
    pub fn into_bytes(self) -> Bytes {
        self.bytes
    }
}

/// Cuts the first tagged message off `buf`.
///
/// `Ok(None)` means the message is not whole yet (or not even its header is); `buf` is left as
/// it was. A length below 4 or above `limits.max_message_len` is an error, reported as soon as
/// the header is in, before the body is waited for.
pub fn split_frame(buf: &mut BytesMut, limits: &Limits) -> Result<Option<Frame>, Error> {
    let Some(header) = Header::parse(buf)? else {
        return Ok(None);
    };
    header.check(limits)?;
    let frame_len = header.frame_len();
    if buf.len() < frame_len {
        return Ok(None);
    }
    Ok(Some(Frame {
        tag: header.tag,
        bytes: buf.split_to(frame_len).freeze(),
    }))
}
