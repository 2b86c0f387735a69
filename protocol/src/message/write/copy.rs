//! Writers for the COPY sub-protocol's messages, re-exported by both `frontend` and `backend`.

use bytes::{BufMut, BytesMut};

use super::{write_body, write_cstr, write_empty, write_formats};
use crate::message::tags::*;
use crate::message::Format;
use crate::Error;

/// CopyData (`'d'`): a chunk of COPY data. Fails only if `data` is too long for the length field.
pub fn copy_data(data: &[u8], buf: &mut BytesMut) -> Result<(), Error> {
    write_body(COPY_DATA_TAG, "CopyData", buf, |buf| {
        buf.put_slice(data);
        Ok(())
    })
}

/// CopyDone (`'c'`): the end of the COPY data.
pub fn copy_done(buf: &mut BytesMut) {
    write_empty(COPY_DONE_TAG, buf);
}

/// CopyFail (`'f'`, frontend only): aborts COPY FROM STDIN with `message` as the reason.
pub fn copy_fail(message: &str, buf: &mut BytesMut) -> Result<(), Error> {
    write_body(COPY_FAIL_TAG, "CopyFail", buf, |buf| {
        write_cstr(message.as_bytes(), buf, "CopyFail", "message")
    })
}

/// Writes the body shared by the three Copy*Response messages.
fn copy_response<I>(
    tag: u8,
    message: &'static str,
    format: Format,
    column_formats: I,
    buf: &mut BytesMut,
) -> Result<(), Error>
where
    I: IntoIterator<Item = Format>,
{
    write_body(tag, message, buf, |buf| {
        // The overall format is an Int8 that only ever holds 0 or 1.
        buf.put_u8(u8::from(format == Format::Binary));
        write_formats(column_formats, buf, message, "column formats")
    })
}

/// CopyInResponse (`'G'`, backend): COPY FROM STDIN starts; one format per column.
pub fn copy_in_response<I>(
    format: Format,
    column_formats: I,
    buf: &mut BytesMut,
) -> Result<(), Error>
where
    I: IntoIterator<Item = Format>,
{
    copy_response(
        COPY_IN_RESPONSE_TAG,
        "CopyInResponse",
        format,
        column_formats,
        buf,
    )
}

/// CopyOutResponse (`'H'`, backend): COPY TO STDOUT starts; one format per column.
pub fn copy_out_response<I>(
    format: Format,
    column_formats: I,
    buf: &mut BytesMut,
) -> Result<(), Error>
where
    I: IntoIterator<Item = Format>,
{
    copy_response(
        COPY_OUT_RESPONSE_TAG,
        "CopyOutResponse",
        format,
        column_formats,
        buf,
    )
}

/// CopyBothResponse (`'W'`, backend): a replication COPY starts; one format per column.
pub fn copy_both_response<I>(
    format: Format,
    column_formats: I,
    buf: &mut BytesMut,
) -> Result<(), Error>
where
    I: IntoIterator<Item = Format>,
{
    copy_response(
        COPY_BOTH_RESPONSE_TAG,
        "CopyBothResponse",
        format,
        column_formats,
        buf,
    )
}
