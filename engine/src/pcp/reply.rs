//! What every PCP answer is built from: the connection's state, what happens after a reply, and
//! the reports (ERROR/FATAL packets) corepool itself sends.

use std::borrow::Cow;

use corepool_protocol::pcp::{Report, Severity};

use crate::cluster::ShutdownMode;

/// What the connection does after a reply has been sent.
pub(super) enum After {
    /// Read the next request.
    Continue,
    /// Close the connection.
    Close,
    /// Close, then ask the server to stop.
    Stop(ShutdownMode),
}

/// Per-connection state besides the login.
pub(super) struct ConnState {
    /// `client_min_messages` of this PCP session (set with `A`).
    pub client_min_messages: String,
}

/// The source file named in corepool's own reports.
const FILE: &[u8] = b"pcp_worker.c";

/// An ERROR report (the session goes on).
pub(super) fn error_report(message: &str, detail: Option<String>) -> Report {
    report(Severity::Error, message, detail)
}

/// A report of any severity.
pub(super) fn report(severity: Severity, message: &str, detail: Option<String>) -> Report {
    Report {
        severity,
        message: Cow::Owned(message.as_bytes().to_vec()),
        detail: detail.map(|d| Cow::Owned(d.into_bytes())),
        file: FILE,
        line: 0,
    }
}

/// A reply that could not be encoded (a NUL inside a configured string).
pub(super) fn internal(e: corepool_protocol::pcp::Error) -> Report {
    error_report("PCP: could not encode the reply", Some(e.to_string()))
}

/// A request that parsed badly but that pgpool would have read with `atoi`: an ERROR.
pub(super) fn bad_request(e: &corepool_protocol::pcp::Error) -> Report {
    error_report("PCP: invalid request", Some(e.to_string()))
}
