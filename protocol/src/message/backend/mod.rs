//! Borrowed views of backend (server to client) messages.
//!
//! Each view's `parse` takes a frame body (everything after the tag and length) and checks it
//! completely. [`BackendMessage::parse`] dispatches on the tag. The engine forwards most backend
//! traffic without parsing it (see [`scan_run`](crate::framing::scan_run)); these views are for
//! the messages it must look into.

mod auth;
mod fields;
mod rows;
#[cfg(test)]
mod tests;

pub use self::auth::{Authentication, SaslMechanisms};
pub use self::fields::{ErrorField, ErrorFields, ErrorResponse, NoticeResponse};
pub use self::rows::{
    DataRow, DataRowRanges, DataRowValues, FieldDescription, Fields, ParameterDescription,
    RowDescription,
};
pub use super::copy::{CopyData, CopyResponse};
pub use super::TransactionStatus;

use super::frontend::ProtocolVersion;
use super::reader::{expect_empty, Reader};
use super::tags::*;
use super::Strings;
use crate::Error;

/// A backend message, by tag.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum BackendMessage<'a> {
    /// Authentication* (`'R'`).
    Authentication(Authentication<'a>),
    /// BackendKeyData (`'K'`).
    BackendKeyData(BackendKeyData<'a>),
    /// BindComplete (`'2'`).
    BindComplete,
    /// CloseComplete (`'3'`).
    CloseComplete,
    /// CommandComplete (`'C'`).
    CommandComplete(CommandComplete<'a>),
    /// CopyBothResponse (`'W'`).
    CopyBothResponse(CopyResponse<'a>),
    /// CopyData (`'d'`).
    CopyData(CopyData<'a>),
    /// CopyDone (`'c'`).
    CopyDone,
    /// CopyInResponse (`'G'`).
    CopyInResponse(CopyResponse<'a>),
    /// CopyOutResponse (`'H'`).
    CopyOutResponse(CopyResponse<'a>),
    /// DataRow (`'D'`).
    DataRow(DataRow<'a>),
    /// EmptyQueryResponse (`'I'`).
    EmptyQueryResponse,
    /// ErrorResponse (`'E'`).
    ErrorResponse(ErrorResponse<'a>),
    /// FunctionCallResponse (`'V'`).
    FunctionCallResponse(FunctionCallResponse<'a>),
    /// NegotiateProtocolVersion (`'v'`).
    NegotiateProtocolVersion(NegotiateProtocolVersion<'a>),
    /// NoData (`'n'`).
    NoData,
    /// NoticeResponse (`'N'`).
    NoticeResponse(NoticeResponse<'a>),
    /// NotificationResponse (`'A'`).
    NotificationResponse(NotificationResponse<'a>),
    /// ParameterDescription (`'t'`).
    ParameterDescription(ParameterDescription<'a>),
    /// ParameterStatus (`'S'`).
    ParameterStatus(ParameterStatus<'a>),
    /// ParseComplete (`'1'`).
    ParseComplete,
    /// PortalSuspended (`'s'`).
    PortalSuspended,
    /// ReadyForQuery (`'Z'`).
    ReadyForQuery(ReadyForQuery),
    /// RowDescription (`'T'`).
    RowDescription(RowDescription<'a>),
}

impl<'a> BackendMessage<'a> {
    /// Parses the body of the message tagged `tag`.
    pub fn parse(tag: u8, body: &'a [u8]) -> Result<BackendMessage<'a>, Error> {
        use BackendMessage as M;
        let empty =
            |message, variant: BackendMessage<'a>| expect_empty(body, message).map(|()| variant);
        let message = match tag {
            AUTHENTICATION_TAG => M::Authentication(Authentication::parse(body)?),
            BACKEND_KEY_DATA_TAG => M::BackendKeyData(BackendKeyData::parse(body)?),
            BIND_COMPLETE_TAG => empty("BindComplete", M::BindComplete)?,
            CLOSE_COMPLETE_TAG => empty("CloseComplete", M::CloseComplete)?,
            COMMAND_COMPLETE_TAG => M::CommandComplete(CommandComplete::parse(body)?),
            COPY_BOTH_RESPONSE_TAG => M::CopyBothResponse(CopyResponse::parse(body)?),
            COPY_DATA_TAG => M::CopyData(CopyData::parse(body)?),
            COPY_DONE_TAG => empty("CopyDone", M::CopyDone)?,
            COPY_IN_RESPONSE_TAG => M::CopyInResponse(CopyResponse::parse(body)?),
            COPY_OUT_RESPONSE_TAG => M::CopyOutResponse(CopyResponse::parse(body)?),
            DATA_ROW_TAG => M::DataRow(DataRow::parse(body)?),
            EMPTY_QUERY_RESPONSE_TAG => empty("EmptyQueryResponse", M::EmptyQueryResponse)?,
            ERROR_RESPONSE_TAG => M::ErrorResponse(ErrorResponse::parse(body)?),
            FUNCTION_CALL_RESPONSE_TAG => {
                M::FunctionCallResponse(FunctionCallResponse::parse(body)?)
            }
            NEGOTIATE_PROTOCOL_VERSION_TAG => {
                M::NegotiateProtocolVersion(NegotiateProtocolVersion::parse(body)?)
            }
            NO_DATA_TAG => empty("NoData", M::NoData)?,
            NOTICE_RESPONSE_TAG => M::NoticeResponse(NoticeResponse::parse(body)?),
            NOTIFICATION_RESPONSE_TAG => {
                M::NotificationResponse(NotificationResponse::parse(body)?)
            }
            PARAMETER_DESCRIPTION_TAG => {
                M::ParameterDescription(ParameterDescription::parse(body)?)
            }
            PARAMETER_STATUS_TAG => M::ParameterStatus(ParameterStatus::parse(body)?),
            PARSE_COMPLETE_TAG => empty("ParseComplete", M::ParseComplete)?,
            PORTAL_SUSPENDED_TAG => empty("PortalSuspended", M::PortalSuspended)?,
            READY_FOR_QUERY_TAG => M::ReadyForQuery(ReadyForQuery::parse(body)?),
            ROW_DESCRIPTION_TAG => M::RowDescription(RowDescription::parse(body)?),
            tag => {
                return Err(Error::UnknownTag {
                    tag,
                    sender: "backend",
                })
            }
        };
        Ok(message)
    }
}

/// BackendKeyData (`'K'`): what a client needs to cancel this session's queries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct BackendKeyData<'a> {
    /// The backend's process id.
    process_id: i32,
    /// The secret key a CancelRequest must quote: 4 bytes in protocol 3.0, up to
    /// [`MAX_SECRET_KEY_LEN`] in 3.2 (PostgreSQL 18 sends 32).
    secret_key: &'a [u8],
}

impl<'a> BackendKeyData<'a> {
    /// Parses a BackendKeyData body: an `int32` process id, then the secret key, which is the
    /// rest of the body. Its length is not tied to a protocol version here (the caller knows
    /// which one it negotiated); it must be 4 to [`MAX_SECRET_KEY_LEN`] bytes, libpq 18's
    /// bounds.
    pub fn parse(body: &'a [u8]) -> Result<BackendKeyData<'a>, Error> {
        let mut r = Reader::new(body, "BackendKeyData");
        let process_id = r.i32("process id")?;
        let secret_key = r.rest();
        if !(4..=MAX_SECRET_KEY_LEN).contains(&secret_key.len()) {
            return Err(r.invalid("secret key length", secret_key.len() as i64));
        }
        Ok(BackendKeyData {
            process_id,
            secret_key,
        })
    }

    /// The backend's process id.
    pub fn process_id(&self) -> i32 {
        self.process_id
    }

    /// The secret key a CancelRequest must quote.
    pub fn secret_key(&self) -> &'a [u8] {
        self.secret_key
    }
}

/// ParameterStatus (`'S'`): the current value of a reported run-time parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParameterStatus<'a> {
    /// The parameter's name, e.g. `client_encoding`.
    name: &'a str,
    /// Its new value.
    value: &'a str,
}

impl<'a> ParameterStatus<'a> {
    /// Parses a ParameterStatus body.
    pub fn parse(body: &'a [u8]) -> Result<ParameterStatus<'a>, Error> {
        let mut r = Reader::new(body, "ParameterStatus");
        let name = r.cstr("name")?;
        let value = r.cstr("value")?;
        r.finish()?;
        Ok(ParameterStatus { name, value })
    }

    /// The parameter's name.
    pub fn name(&self) -> &'a str {
        self.name
    }

    /// Its current value.
    pub fn value(&self) -> &'a str {
        self.value
    }
}

/// ReadyForQuery (`'Z'`): the backend finished a query cycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ReadyForQuery {
    /// Whether the session is in a transaction block, and whether it failed.
    status: TransactionStatus,
}

impl ReadyForQuery {
    /// Parses a ReadyForQuery body: one status byte.
    pub fn parse(body: &[u8]) -> Result<ReadyForQuery, Error> {
        let mut r = Reader::new(body, "ReadyForQuery");
        let byte = r.u8("status")?;
        let status =
            TransactionStatus::from_byte(byte).ok_or_else(|| r.invalid("status", byte.into()))?;
        r.finish()?;
        Ok(ReadyForQuery { status })
    }

    /// Whether the session is idle, in a transaction block, or in a failed one.
    pub fn status(&self) -> TransactionStatus {
        self.status
    }
}

/// CommandComplete (`'C'`): a command finished.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CommandComplete<'a> {
    /// The command tag, e.g. `INSERT 0 5` or `SELECT 10`.
    tag: &'a str,
}

impl<'a> CommandComplete<'a> {
    /// Parses a CommandComplete body.
    pub fn parse(body: &'a [u8]) -> Result<CommandComplete<'a>, Error> {
        let mut r = Reader::new(body, "CommandComplete");
        let tag = r.cstr("tag")?;
        r.finish()?;
        Ok(CommandComplete { tag })
    }

    /// The command tag.
    pub fn tag(&self) -> &'a str {
        self.tag
    }

    /// The row count at the end of the tag (`SELECT 10`, `INSERT 0 5`, `UPDATE 3`, ...), if any.
    pub fn rows(&self) -> Option<u64> {
        let (_, last) = self.tag.rsplit_once(' ')?;
        last.parse().ok()
    }
}

/// NotificationResponse (`'A'`): a NOTIFY on a channel this session LISTENs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NotificationResponse<'a> {
    /// The notifying backend's process id.
    process_id: i32,
    /// The channel name.
    channel: &'a str,
    /// The payload string; empty if none was given.
    payload: &'a str,
}

impl<'a> NotificationResponse<'a> {
    /// Parses a NotificationResponse body.
    pub fn parse(body: &'a [u8]) -> Result<NotificationResponse<'a>, Error> {
        let mut r = Reader::new(body, "NotificationResponse");
        let process_id = r.i32("process id")?;
        let channel = r.cstr("channel")?;
        let payload = r.cstr("payload")?;
        r.finish()?;
        Ok(NotificationResponse {
            process_id,
            channel,
            payload,
        })
    }

    /// The notifying backend's process id.
    pub fn process_id(&self) -> i32 {
        self.process_id
    }

    /// The channel name.
    pub fn channel(&self) -> &'a str {
        self.channel
    }

    /// The payload string.
    pub fn payload(&self) -> &'a str {
        self.payload
    }
}

/// NegotiateProtocolVersion (`'v'`): the server supports an older minor version, or does not
/// recognise some `_pq_.` startup options.
#[derive(Debug, Clone)]
pub struct NegotiateProtocolVersion<'a> {
    /// The newest minor version of the requested major the server supports.
    newest_minor: i32,
    /// The checked option names, each NUL-terminated.
    options: &'a [u8],
}

impl<'a> NegotiateProtocolVersion<'a> {
    /// Parses a NegotiateProtocolVersion body.
    pub fn parse(body: &'a [u8]) -> Result<NegotiateProtocolVersion<'a>, Error> {
        let mut r = Reader::new(body, "NegotiateProtocolVersion");
        let newest_minor = r.i32("newest minor version")?;
        let count = r.i32("option count")?;
        if count < 0 {
            return Err(r.invalid("option count", count.into()));
        }
        let start = r.clone();
        // Each name takes at least one byte, so the loop ends within the body's length.
        for _ in 0..count {
            r.cstr("option")?;
        }
        let options = r.consumed_since(&start);
        r.finish()?;
        Ok(NegotiateProtocolVersion {
            newest_minor,
            options,
        })
    }

    /// The newest minor protocol version the server supports, as sent. PostgreSQL sends a
    /// whole version word (`3 << 16 | minor`), not the bare minor the protocol's docs name, and
    /// libpq reads it so: see [`NegotiateProtocolVersion::version`].
    pub fn newest_minor(&self) -> i32 {
        self.newest_minor
    }

    /// The version the server will speak, read as PostgreSQL and libpq do: the field is a
    /// version word. A client must check it is not newer than what it asked for, and not 3.1.
    pub fn version(&self) -> ProtocolVersion {
        ProtocolVersion::from_code(self.newest_minor)
    }

    /// The startup options the server did not recognise.
    pub fn unrecognized_options(&self) -> Strings<'a> {
        Strings::new(self.options)
    }

    /// The version to go on at, for a client that asked for `asked` and sent no `_pq_.`
    /// options, checked as libpq 18 checks it: not newer than asked, at least 3.0, never 3.1
    /// (which never existed), and no options listed.
    pub fn accepted_version(&self, asked: ProtocolVersion) -> Result<ProtocolVersion, Error> {
        let version = self.version();
        if version > asked
            || version < ProtocolVersion::V3_0
            || version == (ProtocolVersion { major: 3, minor: 1 })
        {
            return Err(Error::InvalidValue {
                message: "NegotiateProtocolVersion",
                field: "newest minor version",
                value: i64::from(self.newest_minor),
            });
        }
        let listed = self.unrecognized_options().count();
        if listed > 0 {
            return Err(Error::InvalidValue {
                message: "NegotiateProtocolVersion",
                field: "option count",
                value: listed as i64,
            });
        }
        Ok(version)
    }
}

/// FunctionCallResponse (`'V'`): the result of a FunctionCall.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FunctionCallResponse<'a> {
    /// The result value; `None` is SQL NULL.
    result: Option<&'a [u8]>,
}

impl<'a> FunctionCallResponse<'a> {
    /// Parses a FunctionCallResponse body.
    pub fn parse(body: &'a [u8]) -> Result<FunctionCallResponse<'a>, Error> {
        let mut r = Reader::new(body, "FunctionCallResponse");
        let result = r.value("result")?;
        r.finish()?;
        Ok(FunctionCallResponse { result })
    }

    /// The function's result; `None` is SQL NULL.
    pub fn result(&self) -> Option<&'a [u8]> {
        self.result
    }
}
