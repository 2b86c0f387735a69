//! Cutting whole PCP packets off a read buffer without copying, and peeking at headers.
//!
//! A packet is a type byte, a big-endian `int32` length that counts itself but not the type
//! byte, and the payload. The server reads requests with [`split_request`], which enforces
//! pgpool's limit (length in `1..260`, else FATAL `invalid PCP packet`); the client reads
//! replies with [`split_response`], whose limit the caller picks (pgpool has none: watchdog
//! JSON can be long).

use bytes::{Bytes, BytesMut};

use super::request::Request;
use super::response::Response;
use super::Error;

/// The size of a packet header: the type byte and the `int32` length.
pub const HEADER_LEN: usize = 5;

/// pgpool's `MAX_PCP_PACKET_LENGTH`: a request's length field must be below it.
pub const MAX_PCP_PACKET_LENGTH: i32 = 260;

/// A default limit for [`split_response`]'s `max_len`: 16 MiB, far above anything pgpool
/// sends (its largest reply is the watchdog JSON), small enough to bound a broken peer.
pub const DEFAULT_MAX_RESPONSE_LEN: usize = 16 << 20;

/// A packet header, read without consuming it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Header {
    /// The type byte.
    pub tag: u8,
    /// The length field as sent: payload length plus 4. Signed, as pgpool reads it.
    pub len: i32,
}

impl Header {
    /// Reads the header at the front of `buf` without checking it; `None` if fewer than five
    /// bytes are there.
    pub fn parse(buf: &[u8]) -> Option<Header> {
        let &[tag, a, b, c, d] = buf.first_chunk::<HEADER_LEN>()?;
        Some(Header {
            tag,
            len: i32::from_be_bytes([a, b, c, d]),
        })
    }

    /// Checks a request's length as pgpool does: it must be below 260 and above 0. Lengths
    /// 1 to 3, which pgpool lets through only to fail on a negative payload size, are
    /// rejected here with the same error.
    pub fn check_request(&self) -> Result<(), Error> {
        if (4..MAX_PCP_PACKET_LENGTH).contains(&self.len) {
            Ok(())
        } else {
            Err(Error::InvalidPacketLength {
                tag: self.tag,
                len: self.len,
            })
        }
    }

    /// Checks a reply's length: at least 4, at most `max_len`.
    pub fn check_response(&self, max_len: usize) -> Result<(), Error> {
        let len = usize::try_from(self.len).map_err(|_| Error::BadLength {
            tag: self.tag,
            len: self.len,
        })?;
        if len < 4 {
            return Err(Error::BadLength {
                tag: self.tag,
                len: self.len,
            });
        }
        if len > max_len {
            return Err(Error::TooLarge {
                tag: self.tag,
                len,
                max: max_len,
            });
        }
        Ok(())
    }

    /// The whole packet's size on the wire, `1 + len` (0 for a negative length).
    pub fn packet_len(&self) -> usize {
        usize::try_from(self.len).map_or(0, |len| len.saturating_add(1))
    }

    /// The payload's size, `len - 4` (0 for lengths below 4).
    pub fn payload_len(&self) -> usize {
        usize::try_from(self.len).map_or(0, |len| len.saturating_sub(4))
    }
}

/// One whole packet, holding its original bytes (type, length, payload).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Packet {
    /// The type byte, kept apart so reading it needs no bounds check.
    tag: u8,
    /// Type, length and payload as received; at least [`HEADER_LEN`] bytes.
    bytes: Bytes,
}

impl Packet {
    /// The type byte.
    pub fn tag(&self) -> u8 {
        self.tag
    }

    /// The payload: everything after the length.
    pub fn payload(&self) -> &[u8] {
        self.bytes.get(HEADER_LEN..).unwrap_or_default()
    }

    /// The payload as `Bytes` sharing the packet's memory.
    pub fn payload_bytes(&self) -> Bytes {
        if self.bytes.len() < HEADER_LEN {
            return Bytes::new();
        }
        self.bytes.slice(HEADER_LEN..)
    }

    /// The whole packet as received, to forward untouched.
    pub fn as_bytes(&self) -> &Bytes {
        &self.bytes
    }

    /// The whole packet as received.
    pub fn into_bytes(self) -> Bytes {
        self.bytes
    }

    /// Parses the packet as a request.
    pub fn request(&self) -> Result<Request<'_>, Error> {
        Request::parse(self.tag, self.payload())
    }

    /// Parses the packet as a reply.
    pub fn response(&self) -> Result<Response<'_>, Error> {
        Response::parse(self.tag, self.payload())
    }
}

/// Cuts the first request off `buf` (server side).
///
/// `Ok(None)` means the packet is not whole yet; `buf` is left as it was. A length outside
/// `4..260` is [`Error::InvalidPacketLength`], reported as soon as the header is in; its
/// [`report`](Error::report) is pgpool's FATAL, after which the connection must close.
pub fn split_request(buf: &mut BytesMut) -> Result<Option<Packet>, Error> {
    let Some(header) = Header::parse(buf) else {
        return Ok(None);
    };
    header.check_request()?;
    Ok(split(buf, header))
}

/// Cuts the first reply off `buf` (client side). A length below 4 or over `max_len` (see
/// [`DEFAULT_MAX_RESPONSE_LEN`]) is an error.
pub fn split_response(buf: &mut BytesMut, max_len: usize) -> Result<Option<Packet>, Error> {
    let Some(header) = Header::parse(buf) else {
        return Ok(None);
    };
    header.check_response(max_len)?;
    Ok(split(buf, header))
}

/// Splits off the checked packet if it is whole.
fn split(buf: &mut BytesMut, header: Header) -> Option<Packet> {
    let packet_len = header.packet_len();
    if buf.len() < packet_len {
        return None;
    }
    Some(Packet {
        tag: header.tag,
        bytes: buf.split_to(packet_len).freeze(),
    })
}
