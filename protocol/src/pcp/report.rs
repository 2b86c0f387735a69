//! The error packets Pgpool-II 4.3.5 sends for protocol-level failures, word for word.
//!
//! Each constructor reproduces one `ereport` of `pcp_worker.c`: severity, message, detail,
//! and the source file and line Debian's 4.3.5 build reports (the tools ignore `F` and `L`,
//! but a byte-exact server sends them too). FATAL reports mean "send, then close".

use std::borrow::Cow;

use bytes::BytesMut;

use super::notice::{write_error_response, ErrorResponse, Severity, DEFAULT_CODE};
use super::Error;

/// The source file pgpool names in every report below.
const PCP_WORKER_C: &[u8] = b"pcp_worker.c";

/// An owned error report, ready to be written as an `E` packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// ERROR (the session goes on) or FATAL (the server hangs up after sending it).
    pub severity: Severity,
    /// The `M` field.
    pub message: Cow<'static, [u8]>,
    /// The `D` field.
    pub detail: Option<Cow<'static, [u8]>>,
    /// The `F` field.
    pub file: &'static [u8],
    /// The `L` field.
    pub line: i32,
}

impl Report {
    /// A report raised in `pcp_worker.c` at `line`.
    fn pcp_worker(
        severity: Severity,
        message: impl Into<Cow<'static, [u8]>>,
        detail: impl Into<Cow<'static, [u8]>>,
        line: i32,
    ) -> Report {
        Report {
            severity,
            message: message.into(),
            detail: Some(detail.into()),
            file: PCP_WORKER_C,
            line,
        }
    }

    /// The packet's fields, borrowing from the report.
    pub fn as_response(&self) -> ErrorResponse<'_> {
        ErrorResponse {
            severity: self.severity,
            code: DEFAULT_CODE,
            message: &self.message,
            detail: self.detail.as_deref(),
            hint: None,
            file: Some(self.file),
            line: Some(self.line),
        }
    }

    /// Appends the `E` packet to `buf`.
    pub fn write(&self, buf: &mut BytesMut) -> Result<(), Error> {
        write_error_response(buf, &self.as_response())
    }

    /// Whether the server closes the connection after sending it.
    pub fn closes_connection(&self) -> bool {
        self.severity >= Severity::Fatal
    }

    /// FATAL `invalid PCP packet` / `incorrect packet length (N)`: a request's length field
    /// is not in `1..260`.
    pub fn invalid_packet_length(len: i32) -> Report {
        let detail = format!("incorrect packet length ({len})").into_bytes();
        Report::pcp_worker(Severity::Fatal, &b"invalid PCP packet"[..], detail, 186)
    }

    /// FATAL `authentication failed for new PCP connection` / `connection not authorized`:
    /// a request other than `M` or `R` before a successful login.
    pub fn not_authorized() -> Report {
        let message = &b"authentication failed for new PCP connection"[..];
        Report::pcp_worker(
            Severity::Fatal,
            message,
            &b"connection not authorized"[..],
            216,
        )
    }

    /// FATAL `PCP processing request` / `unknown PCP packet type "<c>"`, with the type byte
    /// copied raw as pgpool's `%c` does.
    pub fn unknown_packet_type(tag: u8) -> Report {
        let mut detail = b"unknown PCP packet type \"".to_vec();
        detail.extend_from_slice(&[tag, b'"']);
        Report::pcp_worker(Severity::Fatal, &b"PCP processing request"[..], detail, 354)
    }

    /// FATAL `failed to authenticate PCP user` / `error while reading authentication packet`:
    /// the user name in `R` has no NUL within 128 bytes.
    pub fn bad_authentication_packet() -> Report {
        let detail = &b"error while reading authentication packet"[..];
        Report::pcp_worker(
            Severity::Fatal,
            &b"failed to authenticate PCP user"[..],
            detail,
            441,
        )
    }

    /// FATAL `authentication failed for user "<user>"` / `username and/or password does not
    /// match`: no pcp.conf line for the user verifies the response.
    pub fn authentication_failed_for_user(user: &[u8]) -> Report {
        let mut message = b"authentication failed for user \"".to_vec();
        message.extend_from_slice(user);
        message.push(b'"');
        Report::pcp_worker(Severity::Fatal, message, NO_MATCH, 517)
    }

    /// FATAL `authentication failed` / `username and/or password does not match`: `R` came
    /// without a salt issued since the last login.
    pub fn authentication_failed() -> Report {
        Report::pcp_worker(
            Severity::Fatal,
            &b"authentication failed"[..],
            NO_MATCH,
            1352,
        )
    }

    /// ERROR `PCP: error while processing shutdown request` / `invalid shutdown mode "<c>"`.
    pub fn invalid_shutdown_mode(mode: u8) -> Report {
        let mut detail = b"invalid shutdown mode \"".to_vec();
        detail.extend_from_slice(&[mode, b'"']);
        let message = &b"PCP: error while processing shutdown request"[..];
        Report::pcp_worker(Severity::Error, message, detail, 1407)
    }

    /// ERROR `PCP: informing watchdog info failed` / `watchdog is not enabled`: what pgpool
    /// answers `W` with when `use_watchdog` is off.
    pub fn watchdog_not_enabled() -> Report {
        let message = &b"PCP: informing watchdog info failed"[..];
        Report::pcp_worker(
            Severity::Error,
            message,
            &b"watchdog is not enabled"[..],
            794,
        )
    }

    /// ERROR `PCP: set configuration parameter failed` / `invalid parameter "<name>"`: `A`
    /// for a parameter other than `client_min_messages`.
    pub fn invalid_parameter(name: &[u8]) -> Report {
        let mut detail = b"invalid parameter \"".to_vec();
        detail.extend_from_slice(name);
        detail.push(b'"');
        Report::pcp_worker(Severity::Error, SET_PARAMETER_FAILED, detail, 1492)
    }

    /// ERROR `PCP: set configuration parameter failed` / `invalid value "<value>" for
    /// parameter "<name>"`: `A` with a level `client_min_messages` does not take.
    pub fn invalid_parameter_value(name: &[u8], value: &[u8]) -> Report {
        let mut detail = b"invalid value \"".to_vec();
        detail.extend_from_slice(value);
        detail.extend_from_slice(b"\" for parameter \"");
        detail.extend_from_slice(name);
        detail.push(b'"');
        Report::pcp_worker(Severity::Error, SET_PARAMETER_FAILED, detail, 1487)
    }
}

/// The detail of both authentication failures.
const NO_MATCH: &[u8] = b"username and/or password does not match";

/// The message of both set parameter failures.
const SET_PARAMETER_FAILED: &[u8] = b"PCP: set configuration parameter failed";
