//! Writers for backend messages: what a server, or the proxy towards a client, sends.

use bytes::{BufMut, BytesMut};

use super::{write_body, write_counted, write_cstr, write_decimal, write_empty, write_value};
use crate::message::backend::FieldDescription;
use crate::message::frontend::ProtocolVersion;
use crate::message::tags::*;
use crate::message::{Oid, TransactionStatus};
use crate::Error;

pub use super::copy::{
    copy_both_response, copy_data, copy_done, copy_in_response, copy_out_response,
};

/// The severity of an error or notice the proxy reports itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Severity {
    /// `ERROR`: the command failed.
    Error,
    /// `FATAL`: the session ends.
    Fatal,
    /// `PANIC`: every session ends.
    Panic,
    /// `WARNING`.
    Warning,
    /// `NOTICE`.
    Notice,
    /// `DEBUG`.
    Debug,
    /// `INFO`.
    Info,
    /// `LOG`.
    Log,
}

impl Severity {
    /// The severity as PostgreSQL spells it in the `S` and `V` fields.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Error => "ERROR",
            Severity::Fatal => "FATAL",
            Severity::Panic => "PANIC",
            Severity::Warning => "WARNING",
            Severity::Notice => "NOTICE",
            Severity::Debug => "DEBUG",
            Severity::Info => "INFO",
            Severity::Log => "LOG",
        }
    }
}

/// The fields of an ErrorResponse or NoticeResponse the proxy sends on its own behalf, named
/// after PostgreSQL's `ErrorData`.
///
/// ```
/// use corepool_protocol::message::write::backend::{error_response, ErrorData, Severity};
///
/// let mut buf = bytes::BytesMut::new();
/// let mut error = ErrorData::new(Severity::Fatal, "53300", "too many clients");
/// error.hint = Some("raise num_init_children");
/// error_response(&error, &mut buf)?;
/// # Ok::<(), corepool_protocol::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct ErrorData<'a> {
    /// Written as both `S` and `V` (the proxy does not translate).
    pub severity: Severity,
    /// `C`: the five-character SQLSTATE code, e.g. `"08006"`.
    pub code: &'a str,
    /// `M`: the primary message.
    pub message: &'a str,
    /// `D`: an optional detail message.
    pub detail: Option<&'a str>,
    /// `H`: an optional hint.
    pub hint: Option<&'a str>,
    /// `P`: an optional 1-based character position in the query string.
    pub position: Option<u32>,
}

impl<'a> ErrorData<'a> {
    /// An error or notice with no detail, hint or position.
    pub fn new(severity: Severity, code: &'a str, message: &'a str) -> ErrorData<'a> {
        ErrorData {
            severity,
            code,
            message,
            detail: None,
            hint: None,
            position: None,
        }
    }

    /// Writes the fields and the terminating NUL.
    fn write(&self, buf: &mut BytesMut, message: &'static str) -> Result<(), Error> {
        let valid_code = self.code.len() == 5
            && self
                .code
                .bytes()
                .all(|b| b.is_ascii_digit() || b.is_ascii_uppercase());
        if !valid_code {
            return Err(Error::InvalidInput {
                message,
                field: "code",
                reason: "is not a five-character SQLSTATE",
            });
        }
        let severity = self.severity.as_str().as_bytes();
        let fields = [
            (b'S', Some(severity)),
            (b'V', Some(severity)),
            (b'C', Some(self.code.as_bytes())),
            (b'M', Some(self.message.as_bytes())),
            (b'D', self.detail.map(str::as_bytes)),
            (b'H', self.hint.map(str::as_bytes)),
        ];
        for (field_type, value) in fields {
            if let Some(value) = value {
                buf.put_u8(field_type);
                write_cstr(value, buf, message, field_name(field_type))?;
            }
        }
        if let Some(position) = self.position {
            buf.put_u8(b'P');
            write_decimal(position, buf);
            buf.put_u8(0);
        }
        buf.put_u8(0);
        Ok(())
    }
}

/// The name of an error field type, for errors.
fn field_name(field_type: u8) -> &'static str {
    match field_type {
        b'C' => "code",
        b'M' => "message",
        b'D' => "detail",
        b'H' => "hint",
        _ => "severity",
    }
}

/// AuthenticationOk (`'R'`, code 0).
pub fn authentication_ok(buf: &mut BytesMut) {
    buf.put_slice(&[AUTHENTICATION_TAG, 0, 0, 0, 8, 0, 0, 0, 0]);
}

/// AuthenticationCleartextPassword (`'R'`, code 3).
pub fn authentication_cleartext_password(buf: &mut BytesMut) {
    buf.put_slice(&[AUTHENTICATION_TAG, 0, 0, 0, 8, 0, 0, 0, 3]);
}

/// AuthenticationMD5Password (`'R'`, code 5) with the salt to hash with.
pub fn authentication_md5_password(salt: [u8; 4], buf: &mut BytesMut) {
    buf.put_slice(&[AUTHENTICATION_TAG, 0, 0, 0, 12, 0, 0, 0, 5]);
    buf.put_slice(&salt);
}

/// AuthenticationSASL (`'R'`, code 10) offering `mechanisms`, most preferred first; each must be
/// non-empty.
pub fn authentication_sasl<'a, I>(mechanisms: I, buf: &mut BytesMut) -> Result<(), Error>
where
    I: IntoIterator<Item = &'a str>,
{
    const MESSAGE: &str = "AuthenticationSASL";
    write_body(AUTHENTICATION_TAG, MESSAGE, buf, |buf| {
        buf.put_i32(10);
        for mechanism in mechanisms {
            if mechanism.is_empty() {
                return Err(Error::InvalidInput {
                    message: MESSAGE,
                    field: "mechanism",
                    reason: "is empty",
                });
            }
            write_cstr(mechanism.as_bytes(), buf, MESSAGE, "mechanism")?;
        }
        buf.put_u8(0);
        Ok(())
    })
}

/// Writes an Authentication message whose body is a code and opaque data.
fn authentication_data(
    code: i32,
    message: &'static str,
    data: &[u8],
    buf: &mut BytesMut,
) -> Result<(), Error> {
    write_body(AUTHENTICATION_TAG, message, buf, |buf| {
        buf.put_i32(code);
        buf.put_slice(data);
        Ok(())
    })
}

/// AuthenticationSASLContinue (`'R'`, code 11), e.g. SCRAM's server-first-message.
pub fn authentication_sasl_continue(data: &[u8], buf: &mut BytesMut) -> Result<(), Error> {
    authentication_data(11, "AuthenticationSASLContinue", data, buf)
}

/// AuthenticationSASLFinal (`'R'`, code 12), e.g. SCRAM's server-final-message.
pub fn authentication_sasl_final(data: &[u8], buf: &mut BytesMut) -> Result<(), Error> {
    authentication_data(12, "AuthenticationSASLFinal", data, buf)
}

/// BackendKeyData (`'K'`): the key a client quotes in a CancelRequest. `secret_key` must be 4
/// bytes for a protocol 3.0 client; a 3.2 client takes 4 to [`MAX_SECRET_KEY_LEN`] bytes
/// (PostgreSQL 18 sends 32).
pub fn backend_key_data(
    process_id: i32,
    secret_key: &[u8],
    buf: &mut BytesMut,
) -> Result<(), Error> {
    if !(4..=MAX_SECRET_KEY_LEN).contains(&secret_key.len()) {
        return Err(Error::InvalidInput {
            message: "BackendKeyData",
            field: "secret key",
            reason: "is not 4 to 256 bytes long",
        });
    }
    write_body(BACKEND_KEY_DATA_TAG, "BackendKeyData", buf, |buf| {
        buf.put_i32(process_id);
        buf.put_slice(secret_key);
        Ok(())
    })
}

/// ParameterStatus (`'S'`): reports a run-time parameter's value.
pub fn parameter_status(name: &str, value: &str, buf: &mut BytesMut) -> Result<(), Error> {
    write_body(PARAMETER_STATUS_TAG, "ParameterStatus", buf, |buf| {
        write_cstr(name.as_bytes(), buf, "ParameterStatus", "name")?;
        write_cstr(value.as_bytes(), buf, "ParameterStatus", "value")
    })
}

/// ReadyForQuery (`'Z'`) with the session's transaction status.
pub fn ready_for_query(status: TransactionStatus, buf: &mut BytesMut) {
    buf.put_slice(&[READY_FOR_QUERY_TAG, 0, 0, 0, 5, status.to_byte()]);
}

/// ErrorResponse (`'E'`).
pub fn error_response(error: &ErrorData<'_>, buf: &mut BytesMut) -> Result<(), Error> {
    write_body(ERROR_RESPONSE_TAG, "ErrorResponse", buf, |buf| {
        error.write(buf, "ErrorResponse")
    })
}

/// NoticeResponse (`'N'`).
pub fn notice_response(notice: &ErrorData<'_>, buf: &mut BytesMut) -> Result<(), Error> {
    write_body(NOTICE_RESPONSE_TAG, "NoticeResponse", buf, |buf| {
        notice.write(buf, "NoticeResponse")
    })
}

/// RowDescription (`'T'`) with one description per column.
pub fn row_description<'a, I>(fields: I, buf: &mut BytesMut) -> Result<(), Error>
where
    I: IntoIterator<Item = FieldDescription<'a>>,
{
    write_body(ROW_DESCRIPTION_TAG, "RowDescription", buf, |buf| {
        write_counted(fields, buf, "RowDescription", "fields", |field, buf| {
            write_cstr(field.name.as_bytes(), buf, "RowDescription", "field name")?;
            buf.put_u32(field.table_oid);
            buf.put_i16(field.column_id);
            buf.put_u32(field.type_oid);
            buf.put_i16(field.type_size);
            buf.put_i32(field.type_modifier);
            buf.put_i16(field.format.code());
            Ok(())
        })
    })
}

/// DataRow (`'D'`) with one value per column; `None` is NULL.
pub fn data_row<'a, I>(values: I, buf: &mut BytesMut) -> Result<(), Error>
where
    I: IntoIterator<Item = Option<&'a [u8]>>,
{
    write_body(DATA_ROW_TAG, "DataRow", buf, |buf| {
        write_counted(values, buf, "DataRow", "columns", |value, buf| {
            write_value(value, buf, "DataRow")
        })
    })
}

/// CommandComplete (`'C'`) with a command tag such as `SELECT 1`.
pub fn command_complete(tag: &str, buf: &mut BytesMut) -> Result<(), Error> {
    write_body(COMMAND_COMPLETE_TAG, "CommandComplete", buf, |buf| {
        write_cstr(tag.as_bytes(), buf, "CommandComplete", "tag")
    })
}

/// EmptyQueryResponse (`'I'`).
pub fn empty_query_response(buf: &mut BytesMut) {
    write_empty(EMPTY_QUERY_RESPONSE_TAG, buf);
}

/// ParseComplete (`'1'`).
pub fn parse_complete(buf: &mut BytesMut) {
    write_empty(PARSE_COMPLETE_TAG, buf);
}

/// BindComplete (`'2'`).
pub fn bind_complete(buf: &mut BytesMut) {
    write_empty(BIND_COMPLETE_TAG, buf);
}

/// CloseComplete (`'3'`).
pub fn close_complete(buf: &mut BytesMut) {
    write_empty(CLOSE_COMPLETE_TAG, buf);
}

/// NoData (`'n'`).
pub fn no_data(buf: &mut BytesMut) {
    write_empty(NO_DATA_TAG, buf);
}

/// PortalSuspended (`'s'`).
pub fn portal_suspended(buf: &mut BytesMut) {
    write_empty(PORTAL_SUSPENDED_TAG, buf);
}

/// ParameterDescription (`'t'`) with the parameter type OIDs.
pub fn parameter_description<I>(types: I, buf: &mut BytesMut) -> Result<(), Error>
where
    I: IntoIterator<Item = Oid>,
{
    write_body(
        PARAMETER_DESCRIPTION_TAG,
        "ParameterDescription",
        buf,
        |buf| {
            write_counted(
                types,
                buf,
                "ParameterDescription",
                "parameter types",
                |oid, buf| {
                    buf.put_u32(oid);
                    Ok(())
                },
            )
        },
    )
}

/// NotificationResponse (`'A'`): a NOTIFY from `process_id` on `channel`.
pub fn notification_response(
    process_id: i32,
    channel: &str,
    payload: &str,
    buf: &mut BytesMut,
) -> Result<(), Error> {
    const MESSAGE: &str = "NotificationResponse";
    write_body(NOTIFICATION_RESPONSE_TAG, MESSAGE, buf, |buf| {
        buf.put_i32(process_id);
        write_cstr(channel.as_bytes(), buf, MESSAGE, "channel")?;
        write_cstr(payload.as_bytes(), buf, MESSAGE, "payload")
    })
}

/// NegotiateProtocolVersion (`'v'`): the version the server will speak and the `_pq_.` startup
/// options it does not recognise. The version goes out as a whole version word
/// (`3 << 16 | minor`), as PostgreSQL sends it and libpq reads it.
pub fn negotiate_protocol_version<'a, I>(
    newest: ProtocolVersion,
    unrecognized_options: I,
    buf: &mut BytesMut,
) -> Result<(), Error>
where
    I: IntoIterator<Item = &'a str>,
{
    const MESSAGE: &str = "NegotiateProtocolVersion";
    write_body(NEGOTIATE_PROTOCOL_VERSION_TAG, MESSAGE, buf, |buf| {
        buf.put_i32(newest.code());
        let at = buf.len();
        buf.put_i32(0);
        let mut count = 0i32;
        for option in unrecognized_options {
            write_cstr(option.as_bytes(), buf, MESSAGE, "option")?;
            count = count.saturating_add(1);
        }
        super::patch(buf, at, &count.to_be_bytes());
        Ok(())
    })
}

/// FunctionCallResponse (`'V'`) with the function's result; `None` is NULL.
pub fn function_call_response(result: Option<&[u8]>, buf: &mut BytesMut) -> Result<(), Error> {
    write_body(
        FUNCTION_CALL_RESPONSE_TAG,
        "FunctionCallResponse",
        buf,
        |buf| write_value(result, buf, "FunctionCallResponse"),
    )
}
