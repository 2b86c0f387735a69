//! PostgreSQL v3 message tags, typed views and writers.
//!
//! # Layout
//! - [`tags`]: every message's tag byte and the startup-phase request codes, as named constants.
//! - [`frontend`]: borrowed views of client messages ([`frontend::Query`], [`frontend::Bind`],
//!   [`frontend::StartupMessage`], ...) and [`frontend::FrontendMessage`], which dispatches on
//!   the tag.
//! - [`backend`]: the same for server messages ([`backend::DataRow`],
//!   [`backend::ErrorResponse`], [`backend::Authentication`], ...).
//! - [`copy`]: the COPY sub-protocol's messages, which both sides send.
//! - [`write`](mod@write): free functions appending a message to a caller-owned `BytesMut`.
//!
//! A view is parsed from a frame body ([`Frame::body`](crate::framing::Frame::body)) in one
//! validating pass: every length, count, code and UTF-8 string is checked and a body with bytes
//! left over is rejected, so a view that parsed is well formed. Views borrow from the body,
//! allocate nothing, and give repeated fields as lazy iterators that walk the already-checked
//! bytes again.
//!
//! ```
//! use bytes::BytesMut;
//! use corepool_protocol::framing::{split_frame, Limits};
//! use corepool_protocol::message::{backend::BackendMessage, write};
//!
//! let mut buf = BytesMut::new();
//! write::backend::data_row([Some(&b"42"[..]), None], &mut buf)?;
//! let frame = split_frame(&mut buf, &Limits::default())?.expect("a whole message");
//! match BackendMessage::parse(frame.tag(), frame.body())? {
//!     BackendMessage::DataRow(row) => {
//!         let values: Vec<_> = row.values().collect();
//!         assert_eq!(values, [Some(&b"42"[..]), None]);
//!     }
//!     _ => unreachable!(),
//! }
//! # Ok::<(), corepool_protocol::Error>(())
//! ```

pub mod backend;
pub mod copy;
pub mod frontend;
pub(crate) mod reader;
pub mod tags;
pub mod write;

#[cfg(test)]
mod tests;

/// A PostgreSQL object identifier, such as a type OID in Parse or RowDescription.
pub type Oid = u32;

/// The format of a parameter or column value: format code 0 or 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Format {
    /// Format code 0: the type's text representation.
    #[default]
    Text,
    /// Format code 1: the type's binary representation.
    Binary,
}

impl Format {
    /// Maps a wire format code; only 0 and 1 exist.
    pub fn from_code(code: i16) -> Option<Format> {
        match code {
            0 => Some(Format::Text),
            1 => Some(Format::Binary),
            _ => None,
        }
    }

    /// The wire format code.
    pub fn code(self) -> i16 {
        match self {
            Format::Text => 0,
            Format::Binary => 1,
        }
    }
}

/// What a Describe or Close message refers to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Target {
    /// `'S'`: a prepared statement.
    PreparedStatement,
    /// `'P'`: a portal.
    Portal,
}

impl Target {
    /// Maps the wire byte `'S'` or `'P'`.
    pub fn from_byte(byte: u8) -> Option<Target> {
        match byte {
            b'S' => Some(Target::PreparedStatement),
            b'P' => Some(Target::Portal),
            _ => None,
        }
    }

    /// The wire byte.
    pub fn to_byte(self) -> u8 {
        match self {
            Target::PreparedStatement => b'S',
            Target::Portal => b'P',
        }
    }
}

/// The transaction status a ReadyForQuery message reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TransactionStatus {
    /// `'I'`: not in a transaction block.
    Idle,
    /// `'T'`: in a transaction block.
    InTransaction,
    /// `'E'`: in a failed transaction block; queries are rejected until it ends.
    Failed,
}

impl TransactionStatus {
    /// Maps the wire byte `'I'`, `'T'` or `'E'`.
    pub fn from_byte(byte: u8) -> Option<TransactionStatus> {
        match byte {
            b'I' => Some(TransactionStatus::Idle),
            b'T' => Some(TransactionStatus::InTransaction),
            b'E' => Some(TransactionStatus::Failed),
            _ => None,
        }
    }

    /// The wire byte.
    pub fn to_byte(self) -> u8 {
        match self {
            TransactionStatus::Idle => b'I',
            TransactionStatus::InTransaction => b'T',
            TransactionStatus::Failed => b'E',
        }
    }
}

/// The format codes of a Bind, CopyInResponse, ... message, in order.
///
/// Created by the views after checking that every code is 0 or 1.
#[derive(Debug, Clone)]
pub struct Formats<'a> {
    /// The checked codes, two bytes each.
    codes: std::slice::ChunksExact<'a, u8>,
}

impl<'a> Formats<'a> {
    /// Reads `count` format codes, checking each one.
    pub(crate) fn read(
        reader: &mut reader::Reader<'a>,
        count: u16,
        field: &'static str,
    ) -> Result<Formats<'a>, crate::Error> {
        let raw = reader.bytes(usize::from(count) * 2, field)?;
        let formats = Formats {
            codes: raw.chunks_exact(2),
        };
        for chunk in formats.codes.clone() {
            let code = code_of(chunk);
            if Format::from_code(code).is_none() {
                return Err(reader.invalid(field, code.into()));
            }
        }
        Ok(formats)
    }
}

impl Iterator for Formats<'_> {
    type Item = Format;

    fn next(&mut self) -> Option<Format> {
        Format::from_code(code_of(self.codes.next()?))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.codes.size_hint()
    }
}

impl ExactSizeIterator for Formats<'_> {}

/// A two-byte chunk as a big-endian `int16` (0 if the chunk is not two bytes, which the callers'
/// `chunks_exact(2)` rules out).
fn code_of(chunk: &[u8]) -> i16 {
    <[u8; 2]>::try_from(chunk).map_or(0, i16::from_be_bytes)
}

/// The type OIDs of a Parse or ParameterDescription message, in order.
#[derive(Debug, Clone)]
pub struct Oids<'a> {
    /// The OIDs, four bytes each.
    oids: std::slice::ChunksExact<'a, u8>,
}

impl<'a> Oids<'a> {
    /// Reads `count` OIDs.
    pub(crate) fn read(
        reader: &mut reader::Reader<'a>,
        count: u16,
        field: &'static str,
    ) -> Result<Oids<'a>, crate::Error> {
        let raw = reader.bytes(usize::from(count) * 4, field)?;
        Ok(Oids {
            oids: raw.chunks_exact(4),
        })
    }
}

impl Iterator for Oids<'_> {
    type Item = Oid;

    fn next(&mut self) -> Option<Oid> {
        let chunk = self.oids.next()?;
        <[u8; 4]>::try_from(chunk).ok().map(u32::from_be_bytes)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.oids.size_hint()
    }
}

impl ExactSizeIterator for Oids<'_> {}

/// Length-prefixed values (`int32` length, -1 for NULL, then the bytes) in order: a Bind's
/// parameters or a FunctionCall's arguments. `None` is SQL NULL.
#[derive(Debug, Clone)]
pub struct Values<'a> {
    /// The checked values not yet returned.
    rest: reader::Reader<'a>,
    /// How many values are left.
    left: u16,
}

impl<'a> Values<'a> {
    /// Reads `count` values, checking every length.
    pub(crate) fn read(
        reader: &mut reader::Reader<'a>,
        count: u16,
        field: &'static str,
        message: &'static str,
    ) -> Result<Values<'a>, crate::Error> {
        let start = reader.clone();
        for _ in 0..count {
            reader.value(field)?;
        }
        Ok(Values {
            rest: reader::Reader::new(reader.consumed_since(&start), message),
            left: count,
        })
    }
}

impl<'a> Iterator for Values<'a> {
    type Item = Option<&'a [u8]>;

    fn next(&mut self) -> Option<Option<&'a [u8]>> {
        self.left = self.left.checked_sub(1)?;
        self.rest.value("value").ok()
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let left = usize::from(self.left);
        (left, Some(left))
    }
}

impl ExactSizeIterator for Values<'_> {}

/// NUL-terminated UTF-8 strings in order: a NegotiateProtocolVersion's option names or an
/// AuthenticationSASL's mechanisms. Created by the views after checking every string.
#[derive(Debug, Clone)]
pub struct Strings<'a> {
    /// The checked strings not yet returned, each with its NUL.
    rest: &'a [u8],
}

impl<'a> Strings<'a> {
    /// Iterates over `checked`, a run of NUL-terminated UTF-8 strings.
    pub(crate) fn new(checked: &'a [u8]) -> Strings<'a> {
        Strings { rest: checked }
    }
}

impl<'a> Iterator for Strings<'a> {
    type Item = &'a str;

    fn next(&mut self) -> Option<&'a str> {
        let end = memchr::memchr(0, self.rest)?;
        let (head, tail) = self.rest.split_at(end);
        self.rest = tail.get(1..).unwrap_or_default();
        std::str::from_utf8(head).ok()
    }
}
