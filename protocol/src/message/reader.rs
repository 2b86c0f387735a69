//! A bounds-checked cursor over one message body that names the message and field in its errors.

use std::str;

use crate::Error;

/// Reads big-endian integers, C strings and byte runs off the front of a message body.
///
/// Every read checks the remaining length first, so truncated input is an error naming the field,
/// never a panic. [`Reader::finish`] rejects bodies with bytes left over.
#[derive(Debug, Clone)]
pub(crate) struct Reader<'a> {
    /// The bytes not read yet.
    rest: &'a [u8],
    /// PostgreSQL's name for the message, for errors.
    message: &'static str,
}

impl<'a> Reader<'a> {
    /// Starts reading `body`, which belongs to the message called `message`.
    pub(crate) fn new(body: &'a [u8], message: &'static str) -> Self {
        Reader {
            rest: body,
            message,
        }
    }

    /// Returns the next `n` bytes.
    pub(crate) fn bytes(&mut self, n: usize, field: &'static str) -> Result<&'a [u8], Error> {
        if n > self.rest.len() {
            return Err(self.truncated(field));
        }
        let (head, tail) = self.rest.split_at(n);
        self.rest = tail;
        Ok(head)
    }

    /// Returns the next `N` bytes as an array.
    pub(crate) fn array<const N: usize>(&mut self, field: &'static str) -> Result<[u8; N], Error> {
        let head = self.bytes(N, field)?;
        <[u8; N]>::try_from(head).map_err(|_| self.truncated(field))
    }

    /// Reads one byte.
    pub(crate) fn u8(&mut self, field: &'static str) -> Result<u8, Error> {
        let [b] = self.array::<1>(field)?;
        Ok(b)
    }

    /// Reads a big-endian `int16`.
    pub(crate) fn i16(&mut self, field: &'static str) -> Result<i16, Error> {
        self.array(field).map(i16::from_be_bytes)
    }

    /// Reads a big-endian 16-bit count, which PostgreSQL reads unsigned.
    pub(crate) fn u16(&mut self, field: &'static str) -> Result<u16, Error> {
        self.array(field).map(u16::from_be_bytes)
    }

    /// Reads a big-endian `int32`.
    pub(crate) fn i32(&mut self, field: &'static str) -> Result<i32, Error> {
        self.array(field).map(i32::from_be_bytes)
    }

    /// Reads a big-endian `uint32` (an OID).
    pub(crate) fn u32(&mut self, field: &'static str) -> Result<u32, Error> {
        self.array(field).map(u32::from_be_bytes)
    }

    /// Reads a NUL-terminated string's bytes, without the NUL.
    pub(crate) fn cstr_bytes(&mut self, field: &'static str) -> Result<&'a [u8], Error> {
        let end = memchr::memchr(0, self.rest).ok_or_else(|| self.truncated(field))?;
        let head = self.bytes(end, field)?;
        self.bytes(1, field)?;
        Ok(head)
    }

    /// Reads a NUL-terminated UTF-8 string.
    pub(crate) fn cstr(&mut self, field: &'static str) -> Result<&'a str, Error> {
        let raw = self.cstr_bytes(field)?;
        self.utf8(raw, field)
    }

    /// Reads a length-prefixed value: an `int32` length, -1 for NULL, then that many bytes.
    pub(crate) fn value(&mut self, field: &'static str) -> Result<Option<&'a [u8]>, Error> {
        let len = self.i32(field)?;
        if len == -1 {
            return Ok(None);
        }
        let len = usize::try_from(len).map_err(|_| self.invalid(field, len.into()))?;
        self.bytes(len, field).map(Some)
    }

    /// The bytes read since `earlier`, a clone of this reader taken before those reads.
    pub(crate) fn consumed_since(&self, earlier: &Reader<'a>) -> &'a [u8] {
        let len = earlier.rest.len().saturating_sub(self.rest.len());
        earlier.rest.get(..len).unwrap_or_default()
    }

    /// Returns everything left and leaves the reader empty.
    pub(crate) fn rest(&mut self) -> &'a [u8] {
        std::mem::take(&mut self.rest)
    }

    /// Checks that `raw` is UTF-8.
    pub(crate) fn utf8(&self, raw: &'a [u8], field: &'static str) -> Result<&'a str, Error> {
        str::from_utf8(raw).map_err(|_| Error::InvalidUtf8 {
            message: self.message,
            field,
        })
    }

    /// Ends reading: the body must have been consumed exactly.
    pub(crate) fn finish(self) -> Result<(), Error> {
        if self.rest.is_empty() {
            Ok(())
        } else {
            Err(Error::TrailingBytes {
                message: self.message,
                extra: self.rest.len(),
            })
        }
    }

    /// The error for a field that runs past the end of the body.
    pub(crate) fn truncated(&self, field: &'static str) -> Error {
        Error::Truncated {
            message: self.message,
            field,
        }
    }

    /// The error for a field whose value the protocol does not allow.
    pub(crate) fn invalid(&self, field: &'static str, value: i64) -> Error {
        Error::InvalidValue {
            message: self.message,
            field,
            value,
        }
    }
}

/// Checks that a message with no fields (Sync, ParseComplete, ...) has an empty body.
pub(crate) fn expect_empty(body: &[u8], message: &'static str) -> Result<(), Error> {
    Reader::new(body, message).finish()
}

#[cfg(test)]
mod tests {
    use super::Reader;
    use crate::Error;

    #[test]
    fn reads_fields_in_order_and_names_the_truncated_one() {
        let body = b"\x00\x07abc\x00\xff\xff\xff\xff\x00\x00\x00\x02hi";
        let mut r = Reader::new(body, "Test");
        assert_eq!(r.i16("a"), Ok(7));
        assert_eq!(r.cstr("b"), Ok("abc"));
        assert_eq!(r.value("c"), Ok(None));
        assert_eq!(r.value("d"), Ok(Some(&b"hi"[..])));
        assert_eq!(
            r.clone().i32("e"),
            Err(Error::Truncated {
                message: "Test",
                field: "e"
            })
        );
        assert_eq!(r.finish(), Ok(()));
    }

    #[test]
    fn rejects_negative_lengths_missing_nul_and_bad_utf8() {
        let mut r = Reader::new(b"\xff\xff\xff\xfe", "Test");
        assert_eq!(
            r.value("v"),
            Err(Error::InvalidValue {
                message: "Test",
                field: "v",
                value: -2
            })
        );
        assert!(matches!(
            Reader::new(b"abc", "Test").cstr("s"),
            Err(Error::Truncated { .. })
        ));
        assert!(matches!(
            Reader::new(b"\xc3\x28\x00", "Test").cstr("s"),
            Err(Error::InvalidUtf8 { .. })
        ));
        assert_eq!(
            Reader::new(b"x", "Test").finish(),
            Err(Error::TrailingBytes {
                message: "Test",
                extra: 1
            })
        );
    }
}
