//! Writers: free functions that append one message to a caller-owned `BytesMut`.
//!
//! Each writer puts the tag and a placeholder length, writes the body straight into the buffer
//! and fills the length in afterwards, so nothing is allocated per message (the buffer grows
//! only if it lacks capacity). Writers whose input can be invalid return `Result`: a string with
//! a NUL byte, more than 65535 items in a 16-bit count, or a message too long for its length
//! field. On error the buffer is left exactly as it was.
//!
//! - [`frontend`]: what a client (or the proxy, towards a server) sends.
//! - [`backend`]: what a server (or the proxy, towards a client) sends.
//! - CopyData, CopyDone, CopyFail and the Copy*Response messages are re-exported by both.

pub mod backend;
mod copy;
pub mod frontend;

use bytes::{BufMut, BytesMut};

use crate::Error;

/// The largest length a message's `int32` length field can hold.
const MAX_LEN: usize = i32::MAX as usize;

/// Writes a tagged message: tag, length placeholder, the body from `body`, then the length.
/// Restores `buf` if `body` fails or the message is too long.
pub(crate) fn write_body<F>(
    tag: u8,
    message: &'static str,
    buf: &mut BytesMut,
    body: F,
) -> Result<(), Error>
where
    F: FnOnce(&mut BytesMut) -> Result<(), Error>,
{
    let start = buf.len();
    buf.put_u8(tag);
    let result = write_length_prefixed(buf, message, MAX_LEN, body);
    if result.is_err() {
        buf.truncate(start);
    }
    result
}

/// Writes a length placeholder, the body from `body`, then the length (which counts itself),
/// failing if it exceeds `max`. Restores `buf` on error.
pub(crate) fn write_length_prefixed<F>(
    buf: &mut BytesMut,
    message: &'static str,
    max: usize,
    body: F,
) -> Result<(), Error>
where
    F: FnOnce(&mut BytesMut) -> Result<(), Error>,
{
    let at = buf.len();
    buf.put_i32(0);
    let result = body(buf).and_then(|()| {
        let len = buf.len() - at;
        let wire = i32::try_from(len)
            .ok()
            .filter(|_| len <= max)
            .ok_or(Error::TooLong { message, len, max })?;
        patch(buf, at, &wire.to_be_bytes());
        Ok(())
    });
    if result.is_err() {
        buf.truncate(at);
    }
    result
}

/// Writes a tagged message with no body.
pub(crate) fn write_empty(tag: u8, buf: &mut BytesMut) {
    buf.put_slice(&[tag, 0, 0, 0, 4]);
}

/// Overwrites `bytes.len()` bytes at `at`, which the caller wrote as a placeholder.
fn patch(buf: &mut BytesMut, at: usize, bytes: &[u8]) {
    if let Some(slot) = buf.get_mut(at..at + bytes.len()) {
        slot.copy_from_slice(bytes);
    }
}

/// Writes a NUL-terminated string, rejecting one that contains a NUL.
pub(crate) fn write_cstr(
    s: &[u8],
    buf: &mut BytesMut,
    message: &'static str,
    field: &'static str,
) -> Result<(), Error> {
    if memchr::memchr(0, s).is_some() {
        return Err(Error::ContainsNul { message, field });
    }
    buf.put_slice(s);
    buf.put_u8(0);
    Ok(())
}

/// Writes a length-prefixed value: `int32` length (-1 for NULL) then the bytes.
pub(crate) fn write_value(
    value: Option<&[u8]>,
    buf: &mut BytesMut,
    message: &'static str,
) -> Result<(), Error> {
    match value {
        None => buf.put_i32(-1),
        Some(value) => {
            let len = i32::try_from(value.len()).map_err(|_| Error::TooLong {
                message,
                len: value.len(),
                max: MAX_LEN,
            })?;
            buf.put_i32(len);
            buf.put_slice(value);
        }
    }
    Ok(())
}

/// Writes a 16-bit count placeholder, each item with `write`, then the count.
pub(crate) fn write_counted<I, F>(
    items: I,
    buf: &mut BytesMut,
    message: &'static str,
    field: &'static str,
    mut write: F,
) -> Result<(), Error>
where
    I: IntoIterator,
    F: FnMut(I::Item, &mut BytesMut) -> Result<(), Error>,
{
    let at = buf.len();
    buf.put_u16(0);
    let mut count = 0usize;
    for item in items {
        write(item, buf)?;
        count += 1;
    }
    let wire = u16::try_from(count).map_err(|_| Error::TooManyItems {
        message,
        field,
        count,
    })?;
    patch(buf, at, &wire.to_be_bytes());
    Ok(())
}

/// Writes format codes with their 16-bit count.
pub(crate) fn write_formats<I>(
    formats: I,
    buf: &mut BytesMut,
    message: &'static str,
    field: &'static str,
) -> Result<(), Error>
where
    I: IntoIterator<Item = super::Format>,
{
    write_counted(formats, buf, message, field, |format, buf| {
        buf.put_i16(format.code());
        Ok(())
    })
}

/// Writes `n` in decimal, as text fields such as an error's position want it.
pub(crate) fn write_decimal(mut n: u32, buf: &mut BytesMut) {
    let mut digits = [0u8; 10];
    let mut start = digits.len();
    loop {
        start -= 1;
        if let Some(d) = digits.get_mut(start) {
            *d = b'0' + (n % 10) as u8;
        }
        n /= 10;
        if n == 0 || start == 0 {
            break;
        }
    }
    buf.put_slice(digits.get(start..).unwrap_or_default());
}
