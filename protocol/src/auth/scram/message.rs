//! A byte-level reader of SCRAM's `attr=value,attr=value` messages, shared by both sides.

use super::{scram_error, ScramErrorKind, ScramMessage};
use crate::auth::AuthError;

/// Reads one SCRAM message front to back; every failure names the message.
pub(super) struct Parser<'a> {
    /// The whole message.
    input: &'a [u8],
    /// How far the reader has got.
    pos: usize,
    /// Which message this is, for errors.
    message: ScramMessage,
}

impl<'a> Parser<'a> {
    /// Starts reading `input`, which must be non-empty and free of NUL bytes, like the C
    /// strings PostgreSQL parses.
    pub(super) fn new(input: &'a [u8], message: ScramMessage) -> Result<Parser<'a>, AuthError> {
        if input.is_empty() {
            return Err(scram_error(message, ScramErrorKind::Empty));
        }
        if input.contains(&0) {
            return Err(scram_error(message, ScramErrorKind::NulByte));
        }
        Ok(Parser {
            input,
            pos: 0,
            message,
        })
    }

    /// An error about this message.
    pub(super) fn error(&self, kind: ScramErrorKind) -> AuthError {
        scram_error(self.message, kind)
    }

    /// The current offset into the message.
    pub(super) fn position(&self) -> usize {
        self.pos
    }

    /// Everything from `start` to the current offset.
    pub(super) fn since(&self, start: usize) -> &'a [u8] {
        self.input.get(start..self.pos).unwrap_or_default()
    }

    /// The next byte, without consuming it.
    pub(super) fn peek(&self) -> Option<u8> {
        self.input.get(self.pos).copied()
    }

    /// Whether the whole message has been read.
    pub(super) fn is_done(&self) -> bool {
        self.pos >= self.input.len()
    }

    /// Consumes one byte, whatever it is.
    pub(super) fn next_byte(&mut self) -> Result<u8, AuthError> {
        let byte = self
            .peek()
            .ok_or_else(|| self.error(ScramErrorKind::UnexpectedEnd))?;
        self.pos += 1;
        Ok(byte)
    }

    /// Consumes a `,`.
    pub(super) fn comma(&mut self) -> Result<(), AuthError> {
        match self.peek() {
            Some(b',') => {
                self.pos += 1;
                Ok(())
            }
            None => Err(self.error(ScramErrorKind::UnexpectedEnd)),
            Some(_) => Err(self.error(ScramErrorKind::ExpectedComma)),
        }
    }

    /// Consumes a value: everything up to the next `,` or the end.
    pub(super) fn value(&mut self) -> &'a [u8] {
        let rest = self.input.get(self.pos..).unwrap_or_default();
        let len = memchr::memchr(b',', rest).unwrap_or(rest.len());
        self.pos += len;
        rest.get(..len).unwrap_or_default()
    }

    /// Consumes `name=` and the value after it.
    pub(super) fn attribute(&mut self, name: u8) -> Result<&'a [u8], AuthError> {
        let expected = ScramErrorKind::ExpectedAttribute {
            expected: char::from(name),
        };
        match (self.peek(), self.input.get(self.pos + 1)) {
            (Some(found), Some(b'=')) if found == name => {
                self.pos += 2;
                Ok(self.value())
            }
            (None, _) => Err(self.error(ScramErrorKind::UnexpectedEnd)),
            _ => Err(self.error(expected)),
        }
    }

    /// Consumes any `x=value` attribute, returning its name and value.
    pub(super) fn any_attribute(&mut self) -> Result<(u8, &'a [u8]), AuthError> {
        match (self.peek(), self.input.get(self.pos + 1)) {
            (Some(name), Some(b'=')) if name.is_ascii_alphabetic() => {
                self.pos += 2;
                Ok((name, self.value()))
            }
            (None, _) => Err(self.error(ScramErrorKind::UnexpectedEnd)),
            _ => Err(self.error(ScramErrorKind::MalformedAttribute)),
        }
    }

    /// Consumes `,ext=value` extensions up to the end of the message, ignoring them.
    pub(super) fn skip_extensions(&mut self) -> Result<(), AuthError> {
        while !self.is_done() {
            self.comma()?;
            self.any_attribute()?;
        }
        Ok(())
    }

    /// Fails unless the whole message has been read.
    pub(super) fn end(&self) -> Result<(), AuthError> {
        if self.is_done() {
            Ok(())
        } else {
            Err(self.error(ScramErrorKind::TrailingData))
        }
    }
}

/// Parses a decimal iteration count: digits only, no sign or spaces. Returns the count as
/// `u64` so the caller can report an out-of-range one; `None` if it is not a number.
pub(super) fn parse_count(digits: &[u8]) -> Option<u64> {
    if digits.is_empty() || digits.len() > 19 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(
        digits
            .iter()
            .fold(0u64, |acc, d| acc * 10 + u64::from(d - b'0')),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parser(input: &[u8]) -> Parser<'_> {
        Parser::new(input, ScramMessage::ServerFirst).expect("valid test input")
    }

    #[test]
    fn reads_attributes_and_values() {
        let mut p = parser(b"r=abc,s=,i=4096");
        assert_eq!(p.attribute(b'r'), Ok(&b"abc"[..]));
        assert_eq!(p.comma(), Ok(()));
        assert_eq!(p.attribute(b's'), Ok(&b""[..]));
        assert_eq!(p.comma(), Ok(()));
        assert_eq!(p.any_attribute(), Ok((b'i', &b"4096"[..])));
        assert!(p.end().is_ok());
        assert_eq!(p.since(0), b"r=abc,s=,i=4096");
    }

    #[test]
    fn reports_what_is_wrong() {
        let kind = |r: Result<&[u8], AuthError>| match r {
            Err(AuthError::Scram { kind, .. }) => Some(kind),
            _ => None,
        };
        assert_eq!(
            kind(parser(b"s=abc").attribute(b'r')),
            Some(ScramErrorKind::ExpectedAttribute { expected: 'r' })
        );
        assert_eq!(
            kind(parser(b"r").attribute(b'r')),
            Some(ScramErrorKind::ExpectedAttribute { expected: 'r' })
        );
        let mut p = parser(b"r=x");
        p.pos = 3;
        assert_eq!(kind(p.attribute(b'r')), Some(ScramErrorKind::UnexpectedEnd));
        assert_eq!(
            parser(b"1=x").any_attribute(),
            Err(scram_error(
                ScramMessage::ServerFirst,
                ScramErrorKind::MalformedAttribute
            ))
        );
        assert_eq!(
            Parser::new(b"", ScramMessage::ClientFirst).err(),
            Some(scram_error(
                ScramMessage::ClientFirst,
                ScramErrorKind::Empty
            ))
        );
        assert_eq!(
            Parser::new(b"r=a\0b", ScramMessage::ClientFirst).err(),
            Some(scram_error(
                ScramMessage::ClientFirst,
                ScramErrorKind::NulByte
            ))
        );
    }

    #[test]
    fn counts() {
        assert_eq!(parse_count(b"4096"), Some(4096));
        assert_eq!(parse_count(b"0"), Some(0));
        assert_eq!(
            parse_count(b"9999999999999999999"),
            Some(9_999_999_999_999_999_999)
        );
        for bad in [
            &b""[..],
            b"-1",
            b"+1",
            b" 1",
            b"1a",
            b"99999999999999999999",
        ] {
            assert_eq!(parse_count(bad), None);
        }
    }
}
