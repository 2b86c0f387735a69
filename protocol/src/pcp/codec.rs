//! Shared pieces of every PCP packet: a reader over NUL-terminated fields and the writers.
//!
//! Numbers travel as text the way pgpool's `snprintf` renders them (`%d`, `UINT64_FORMAT`,
//! `%f`). The parsers accept only that canonical rendering, so a packet that parses is
//! re-encoded byte for byte by the matching writer.

use std::fmt::{self, Write as _};

use bytes::{BufMut, BytesMut};

use super::Error;

/// The largest length field of a packet a client may send: pgpool rejects 260 and more.
pub(crate) const MAX_REQUEST_LEN: usize = 259;

/// The largest length field of a server's packet: what the signed `int32` holds.
pub(crate) const MAX_RESPONSE_LEN: usize = i32::MAX as usize;

/// Reads the fields of one payload front to back.
pub(crate) struct Reader<'a> {
    /// The packet's name, for errors.
    packet: &'static str,
    /// What is left of the payload.
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    /// A reader over `payload`, naming `packet` in its errors.
    pub(crate) fn new(packet: &'static str, payload: &'a [u8]) -> Self {
        Reader {
            packet,
            rest: payload,
        }
    }

    /// The bytes not read yet.
    pub(crate) fn rest(&self) -> &'a [u8] {
        self.rest
    }

    /// The next NUL-terminated string, without its NUL, as bytes.
    pub(crate) fn cstr_bytes(&mut self, field: &'static str) -> Result<&'a [u8], Error> {
        let end = memchr::memchr(0, self.rest).ok_or(Error::Truncated {
            packet: self.packet,
            field,
        })?;
        let (text, rest) = self.rest.split_at(end);
        self.rest = rest.get(1..).unwrap_or_default();
        Ok(text)
    }

    /// The next NUL-terminated string, which must be UTF-8.
    pub(crate) fn cstr(&mut self, field: &'static str) -> Result<&'a str, Error> {
        let bytes = self.cstr_bytes(field)?;
        std::str::from_utf8(bytes).map_err(|_| Error::InvalidUtf8 {
            packet: self.packet,
            field,
        })
    }

    /// The next string, which must be exactly `expected` (a marker like `CommandComplete`).
    pub(crate) fn marker(&mut self, field: &'static str, expected: &str) -> Result<(), Error> {
        let bytes = self.cstr_bytes(field)?;
        if bytes == expected.as_bytes() {
            Ok(())
        } else {
            Err(Error::invalid_value(self.packet, field, bytes))
        }
    }

    /// The next string parsed with `parse`, which returns `None` for text it rejects.
    pub(crate) fn parsed<T>(
        &mut self,
        field: &'static str,
        parse: impl FnOnce(&[u8]) -> Option<T>,
    ) -> Result<T, Error> {
        let bytes = self.cstr_bytes(field)?;
        parse(bytes).ok_or_else(|| Error::invalid_value(self.packet, field, bytes))
    }

    /// The next string as a canonical decimal integer of type `T`.
    pub(crate) fn int<T: TryFrom<i128>>(&mut self, field: &'static str) -> Result<T, Error> {
        self.parsed(field, parse_int)
    }

    /// The next string as `%f` text.
    pub(crate) fn double(&mut self, field: &'static str) -> Result<f64, Error> {
        self.parsed(field, parse_c_double)
    }

    /// The next `n` raw bytes.
    pub(crate) fn bytes<const N: usize>(&mut self, field: &'static str) -> Result<[u8; N], Error> {
        let (head, rest) = self.rest.split_first_chunk::<N>().ok_or(Error::Truncated {
            packet: self.packet,
            field,
        })?;
        self.rest = rest;
        Ok(*head)
    }

    /// Fails unless every byte has been read.
    pub(crate) fn finish(self) -> Result<(), Error> {
        if self.rest.is_empty() {
            Ok(())
        } else {
            Err(Error::TrailingBytes {
                packet: self.packet,
                extra: self.rest.len(),
            })
        }
    }
}

/// Parses canonical decimal: an optional `-`, then digits with no leading zero (except `0`
/// itself), no `-0`; `None` if malformed or out of `T`'s range.
pub(crate) fn parse_int<T: TryFrom<i128>>(text: &[u8]) -> Option<T> {
    let (negative, digits) = match text.split_first() {
        Some((b'-', digits)) => (true, digits),
        _ => (false, text),
    };
    let canonical = match digits {
        [] => false,
        [b'0'] => !negative,
        [first, ..] => *first != b'0' && digits.len() <= 20,
    };
    if !canonical || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let magnitude = digits
        .iter()
        .fold(0i128, |acc, d| acc * 10 + i128::from(d - b'0'));
    T::try_from(if negative { -magnitude } else { magnitude }).ok()
}

/// Parses the text C's `printf("%f")` makes of a double: `-?digits.dddddd`, or `inf`, `-inf`,
/// `nan`, `-nan` as glibc prints them. Text that is not exactly what `%f` prints for the
/// double it denotes (too many digits, a leading zero) is rejected.
pub(crate) fn parse_c_double(text: &[u8]) -> Option<f64> {
    match text {
        b"nan" => return Some(f64::NAN),
        b"-nan" => return Some(-f64::NAN),
        b"inf" => return Some(f64::INFINITY),
        b"-inf" => return Some(f64::NEG_INFINITY),
        _ => {}
    }
    let unsigned = text.strip_prefix(b"-").unwrap_or(text);
    let (int_part, frac_part) = unsigned.split_at(unsigned.iter().position(|&b| b == b'.')?);
    let well_formed = !int_part.is_empty()
        && frac_part.len() == 7
        && int_part.iter().all(u8::is_ascii_digit)
        && frac_part
            .get(1..)
            .is_some_and(|f| f.iter().all(u8::is_ascii_digit));
    if !well_formed {
        return None;
    }
    let value: f64 = std::str::from_utf8(text).ok()?.parse().ok()?;
    let mut again = StackText::new();
    write_c_double_to(&mut again, value).ok()?;
    (again.as_bytes() == text).then_some(value)
}

/// Writes `value` as C's `printf("%f")` does: six decimals, rounded half to even on the exact
/// binary value (Rust's `{:.6}` does the same), `inf`/`nan` with a `-` when the sign bit is set.
fn write_c_double_to(out: &mut impl fmt::Write, value: f64) -> fmt::Result {
    let sign = if value.is_sign_negative() { "-" } else { "" };
    if value.is_nan() {
        write!(out, "{sign}nan")
    } else if value.is_infinite() {
        write!(out, "{sign}inf")
    } else {
        write!(out, "{value:.6}")
    }
}

/// A fixed buffer big enough for `%f` of any double (at most 317 bytes).
struct StackText {
    /// The bytes written so far.
    buf: [u8; 330],
    /// How many of them.
    len: usize,
}

impl StackText {
    /// An empty buffer.
    fn new() -> Self {
        StackText {
            buf: [0; 330],
            len: 0,
        }
    }

    /// The text written.
    fn as_bytes(&self) -> &[u8] {
        self.buf.get(..self.len).unwrap_or_default()
    }
}

impl fmt::Write for StackText {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let end = self.len.checked_add(s.len()).ok_or(fmt::Error)?;
        self.buf
            .get_mut(self.len..end)
            .ok_or(fmt::Error)?
            .copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}

/// Writes one packet: `tag`, a length placeholder, the payload from `body`, then the length,
/// which counts itself and must not exceed `max`. Leaves `buf` as it was on error.
pub(crate) fn write_packet<F>(
    buf: &mut BytesMut,
    tag: u8,
    packet: &'static str,
    max: usize,
    body: F,
) -> Result<(), Error>
where
    F: FnOnce(&mut BytesMut) -> Result<(), Error>,
{
    let start = buf.len();
    buf.put_u8(tag);
    buf.put_i32(0);
    let result = body(buf).and_then(|()| {
        let len = buf.len() - start - 1;
        let wire = i32::try_from(len)
            .ok()
            .filter(|_| len <= max)
            .ok_or(Error::TooLong { packet, len, max })?;
        if let Some(slot) = buf.get_mut(start + 1..start + 5) {
            slot.copy_from_slice(&wire.to_be_bytes());
        }
        Ok(())
    });
    if result.is_err() {
        buf.truncate(start);
    }
    result
}

/// Appends `text` and its terminating NUL; `text` must not contain a NUL.
pub(crate) fn put_cstr(
    buf: &mut BytesMut,
    packet: &'static str,
    field: &'static str,
    text: &str,
) -> Result<(), Error> {
    if memchr::memchr(0, text.as_bytes()).is_some() {
        return Err(Error::ContainsNul { packet, field });
    }
    buf.put_slice(text.as_bytes());
    buf.put_u8(0);
    Ok(())
}

/// Appends `value` as `%d`-style decimal text, without a NUL.
pub(crate) fn put_decimal(buf: &mut BytesMut, value: impl fmt::Display) {
    let mut text = StackText::new();
    // Decimal integers of at most 128 bits fit the buffer, so this cannot fail.
    if write!(text, "{value}").is_ok() {
        buf.put_slice(text.as_bytes());
    }
}

/// Appends `value` as `%d`-style decimal text and a NUL.
pub(crate) fn put_int(buf: &mut BytesMut, value: impl fmt::Display) {
    put_decimal(buf, value);
    buf.put_u8(0);
}

/// Appends `value` as `%f` text and a NUL.
pub(crate) fn put_double(buf: &mut BytesMut, value: f64) {
    let mut text = StackText::new();
    // `%f` of any double fits the buffer, so this cannot fail.
    if write_c_double_to(&mut text, value).is_ok() {
        buf.put_slice(text.as_bytes());
    }
    buf.put_u8(0);
}
