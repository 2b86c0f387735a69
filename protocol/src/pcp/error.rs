//! The error type of the PCP module: framing, decoding and writing PCP packets.

use std::fmt;

use super::report::Report;

/// A PCP packet could not be framed, decoded or written.
///
/// Every variant names what was wrong and where: the packet (by the name used in this module's
/// docs), the field, the offending length or value. "Need more bytes" is never an error: the
/// framing functions return `Ok(None)` for it. [`Error::report`] gives the `E` packet
/// Pgpool-II 4.3 answers with, for the errors it has an answer to.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A request's length field is not in `1..260`, the check `pcp_worker.c` makes on every
    /// incoming packet (and lengths 1 to 3, which cannot even hold the length field, which
    /// pgpool lets through only to fail later).
    #[error("invalid PCP packet: incorrect packet length ({len})")]
    InvalidPacketLength {
        /// The packet's type byte.
        tag: u8,
        /// The declared length, as the signed `int32` pgpool reads it.
        len: i32,
    },
    /// A response's length field is below 4, the size of the length field itself.
    #[error("PCP packet {} declares length {len}, below the minimum of 4", Tag(*tag))]
    BadLength {
        /// The packet's type byte.
        tag: u8,
        /// The declared length.
        len: i32,
    },
    /// A response's length field is over the limit the reader set.
    #[error("PCP packet {} declares length {len}, over the maximum of {max}", Tag(*tag))]
    TooLarge {
        /// The packet's type byte.
        tag: u8,
        /// The declared length.
        len: usize,
        /// The limit in force.
        max: usize,
    },
    /// A type byte the sending side never uses (for requests: Pgpool-II 4.3 answers FATAL
    /// `unknown PCP packet type`).
    #[error("unknown PCP {sender} type {}", Tag(*tag))]
    UnknownTag {
        /// The type byte.
        tag: u8,
        /// `"request"` or `"response"`.
        sender: &'static str,
    },
    /// A payload ended before one of its fields did (a string without its NUL, a missing
    /// byte).
    #[error("PCP {packet} packet truncated in field {field}")]
    Truncated {
        /// The packet's name.
        packet: &'static str,
        /// The field that was cut short.
        field: &'static str,
    },
    /// A payload goes on after its last field.
    #[error("PCP {packet} packet has {extra} trailing bytes")]
    TrailingBytes {
        /// The packet's name.
        packet: &'static str,
        /// How many bytes were left over.
        extra: usize,
    },
    /// A text field is not valid UTF-8.
    #[error("PCP {packet} packet field {field} is not valid UTF-8")]
    InvalidUtf8 {
        /// The packet's name.
        packet: &'static str,
        /// The text field.
        field: &'static str,
    },
    /// A field holds text outside the set the protocol allows: a number that is not canonical
    /// decimal (`%d`, `%f`) or out of range, an unknown status name, a wrong marker string.
    #[error("PCP {packet} packet field {field} has invalid value {value:?}")]
    InvalidValue {
        /// The packet's name.
        packet: &'static str,
        /// The field.
        field: &'static str,
        /// The value as read from the wire, cut to 64 characters.
        value: String,
    },
    /// An error packet lacks one of the fields pgpool always sends (`S`, `C`, `M`).
    #[error("PCP {packet} packet has no field {field}")]
    MissingField {
        /// The packet's name.
        packet: &'static str,
        /// The missing field's code.
        field: &'static str,
    },
    /// A stop request names a shutdown mode other than `s`, `f` or `i`.
    #[error("invalid shutdown mode {}", Tag(*mode))]
    InvalidShutdownMode {
        /// The mode byte.
        mode: u8,
    },
    /// A user name given to the authentication writer is 128 bytes or longer
    /// (`MAX_USER_PASSWD_LEN`); pgpool would not find its end.
    #[error("PCP user name is {len} bytes long, over the maximum of 127")]
    UserTooLong {
        /// The user name's length in bytes.
        len: usize,
    },
    /// A string given to a writer contains a NUL byte, which would end it early on the wire.
    #[error("PCP {packet} packet field {field} contains a NUL byte")]
    ContainsNul {
        /// The packet's name.
        packet: &'static str,
        /// The string field.
        field: &'static str,
    },
    /// A value given to a writer breaks a protocol rule other than NUL bytes.
    #[error("PCP {packet} packet field {field} {reason}")]
    InvalidInput {
        /// The packet's name.
        packet: &'static str,
        /// The field.
        field: &'static str,
        /// What is wrong, as a phrase completing "field ... ", e.g. `"is not finite"`.
        reason: &'static str,
    },
    /// A writer was given a packet whose length field would exceed the limit: 259 for
    /// requests (the server rejects more), `i32::MAX` for responses.
    #[error("PCP {packet} packet would have length {len}, over the maximum of {max}")]
    TooLong {
        /// The packet's name.
        packet: &'static str,
        /// The length field it would have had.
        len: usize,
        /// The largest length allowed.
        max: usize,
    },
}

impl Error {
    /// The error packet Pgpool-II 4.3.5 sends when a client's request fails this way, if it
    /// sends one: FATAL `invalid PCP packet` for a bad length, FATAL `PCP processing request`
    /// for an unknown type, ERROR for a bad shutdown mode. `None` for errors pgpool has no
    /// answer to (it reads those fields with `atoi` and carries on), for response parsing and
    /// for writers.
    pub fn report(&self) -> Option<Report> {
        match *self {
            Error::InvalidPacketLength { len, .. } => Some(Report::invalid_packet_length(len)),
            Error::UnknownTag {
                tag,
                sender: "request",
            } => Some(Report::unknown_packet_type(tag)),
            Error::InvalidShutdownMode { mode } => Some(Report::invalid_shutdown_mode(mode)),
            _ => None,
        }
    }

    /// An [`Error::InvalidValue`] holding at most 64 characters of `value`.
    pub(crate) fn invalid_value(packet: &'static str, field: &'static str, value: &[u8]) -> Self {
        let value = value
            .iter()
            .take(64)
            .flat_map(|&b| std::ascii::escape_default(b))
            .map(char::from)
            .collect();
        Error::InvalidValue {
            packet,
            field,
            value,
        }
    }
}

/// Shows a type byte as `'Z'` when printable and as `0x00` otherwise.
struct Tag(u8);

impl fmt::Display for Tag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_ascii_graphic() {
            write!(f, "'{}'", char::from(self.0))
        } else {
            write!(f, "0x{:02x}", self.0)
        }
    }
}
