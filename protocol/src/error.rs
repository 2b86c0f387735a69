//! The crate's error type for framing, decoding and writing PostgreSQL wire messages.

use std::fmt;

/// A wire message could not be framed, decoded or written.
///
/// Every variant names what was wrong and where: the message (by PostgreSQL's name for it), the
/// field, the offending length or value. "Need more bytes" is never an error: the framing
/// functions return `Ok(None)` for it, because a partial message is the normal state of a read
/// buffer, not a fault of the peer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A tagged message declares a length over [`Limits::max_message_len`](crate::framing::Limits).
    #[error("message {} declares length {len}, over the maximum of {max}", Tag(*tag))]
    MessageTooLarge {
        /// The message's tag byte.
        tag: u8,
        /// The declared length (which counts the length field itself, not the tag).
        len: usize,
        /// The limit in force.
        max: usize,
    },
    /// A tagged message declares a length below 4, the size of the length field itself.
    #[error("message {} declares length {len}, below the minimum of 4", Tag(*tag))]
    BadLength {
        /// The message's tag byte.
        tag: u8,
        /// The declared length.
        len: u32,
    },
    /// A startup-phase packet declares a length over
    /// [`MAX_STARTUP_PACKET_LEN`](crate::framing::MAX_STARTUP_PACKET_LEN).
    #[error("startup packet declares length {len}, over the maximum of {max}")]
    StartupTooLarge {
        /// The declared length.
        len: usize,
        /// The limit in force.
        max: usize,
    },
    /// A startup-phase packet declares a length below 8, too short to hold its request code.
    #[error("startup packet declares length {len}, below the minimum of 8")]
    StartupTooShort {
        /// The declared length (negative lengths are shown as sent).
        len: i32,
    },
    /// An SSLRequest, GSSENCRequest or CancelRequest has the wrong length for its code.
    #[error("startup request {code} has length {len}, expected {expected}")]
    BadRequestLength {
        /// The request code.
        code: i32,
        /// The declared length.
        len: usize,
        /// The only length this request may have.
        expected: usize,
    },
    /// A CancelRequest whose secret key is empty or longer than
    /// [`MAX_SECRET_KEY_LEN`](crate::message::tags::MAX_SECRET_KEY_LEN) bytes.
    #[error(
        "CancelRequest has length {len}; its secret key must be 1 to 256 bytes (length 13 to 268)"
    )]
    BadCancelRequestLength {
        /// The declared length.
        len: usize,
    },
    /// A startup-phase packet carries a request code (major version 1234) PostgreSQL does not know.
    #[error("unknown startup request code {code}")]
    UnknownRequestCode {
        /// The request code.
        code: i32,
    },
    /// A StartupMessage asks for a protocol major version other than 3.
    #[error("unsupported protocol version {major}.{minor}")]
    UnsupportedProtocolVersion {
        /// The requested major version.
        major: u16,
        /// The requested minor version.
        minor: u16,
    },
    /// A message tag that the sending side never uses.
    #[error("unknown {sender} message tag {}", Tag(*tag))]
    UnknownTag {
        /// The tag byte.
        tag: u8,
        /// `"frontend"` or `"backend"`.
        sender: &'static str,
    },
    /// An Authentication message carries a code PostgreSQL does not define.
    #[error("unknown authentication request code {code}")]
    UnknownAuthenticationCode {
        /// The authentication request code.
        code: i32,
    },
    /// A message body ended before one of its fields did.
    #[error("{message} message truncated in field {field}")]
    Truncated {
        /// PostgreSQL's name for the message.
        message: &'static str,
        /// The field that was cut short.
        field: &'static str,
    },
    /// A message body goes on after its last field.
    #[error("{message} message has {extra} trailing bytes")]
    TrailingBytes {
        /// PostgreSQL's name for the message.
        message: &'static str,
        /// How many bytes were left over.
        extra: usize,
    },
    /// A text field is not valid UTF-8.
    #[error("{message} message field {field} is not valid UTF-8")]
    InvalidUtf8 {
        /// PostgreSQL's name for the message.
        message: &'static str,
        /// The text field.
        field: &'static str,
    },
    /// A field holds a value outside the set the protocol allows (a negative count, a format code
    /// other than 0 or 1, an unknown transaction status byte, ...).
    #[error("{message} message field {field} has invalid value {value}")]
    InvalidValue {
        /// PostgreSQL's name for the message.
        message: &'static str,
        /// The field.
        field: &'static str,
        /// The value as read from the wire.
        value: i64,
    },
    /// A string given to a writer contains a NUL byte, which would end it early on the wire.
    #[error("{message} message field {field} contains a NUL byte")]
    ContainsNul {
        /// PostgreSQL's name for the message.
        message: &'static str,
        /// The string field.
        field: &'static str,
    },
    /// A value given to a writer breaks a protocol rule other than NUL bytes.
    #[error("{message} message field {field} {reason}")]
    InvalidInput {
        /// PostgreSQL's name for the message.
        message: &'static str,
        /// The field.
        field: &'static str,
        /// What is wrong, as a phrase completing "field ... ", e.g. `"is empty"`.
        reason: &'static str,
    },
    /// A writer was given more items than the protocol's 16-bit count can hold.
    #[error("{message} message has {count} {field}, over the maximum of 65535")]
    TooManyItems {
        /// PostgreSQL's name for the message.
        message: &'static str,
        /// What was counted.
        field: &'static str,
        /// How many were given.
        count: usize,
    },
    /// A writer was given a message whose length does not fit the protocol's 32-bit length field
    /// (or, for startup packets, [`MAX_STARTUP_PACKET_LEN`](crate::framing::MAX_STARTUP_PACKET_LEN)).
    #[error("{message} message would be {len} bytes long, over the maximum of {max}")]
    TooLong {
        /// PostgreSQL's name for the message.
        message: &'static str,
        /// The length it would have had.
        len: usize,
        /// The largest length allowed.
        max: usize,
    },
}

/// Shows a tag byte as `'Z'` when printable and as `0x00` otherwise.
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

#[cfg(test)]
mod tests {
    use super::Error;

    #[test]
    fn display_names_tag_length_and_limit() {
        let err = Error::MessageTooLarge {
            tag: b'D',
            len: 2_000_000_000,
            max: 1_073_741_823,
        };
        assert_eq!(
            err.to_string(),
            "message 'D' declares length 2000000000, over the maximum of 1073741823"
        );
        let err = Error::UnknownTag {
            tag: 0,
            sender: "backend",
        };
        assert_eq!(err.to_string(), "unknown backend message tag 0x00");
    }
}
