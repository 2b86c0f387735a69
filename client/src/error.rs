//! The crate's error type.

use corepool_protocol::auth::AuthError;
use std::io;

/// Why a client operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// Connecting, reading or writing the socket failed.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// The server closed the connection.
    #[error("server closed the connection unexpectedly")]
    Closed,
    /// The connection attempt did not finish within the connect timeout.
    #[error("timeout expired connecting to {0}")]
    Timeout(String),
    /// The server answered with an ErrorResponse.
    #[error("{severity}:  {message}{}{}", detail.as_deref().map(|d| format!("\nDETAIL:  {d}")).unwrap_or_default(), hint.as_deref().map(|h| format!("\nHINT:  {h}")).unwrap_or_default())]
    Server {
        /// Severity (non-localized when the server sends it): `ERROR`, `FATAL`, `PANIC`.
        severity: String,
        /// SQLSTATE, like `42501`.
        code: String,
        /// The primary message.
        message: String,
        /// The DETAIL field.
        detail: Option<String>,
        /// The HINT field.
        hint: Option<String>,
    },
    /// Authentication could not be completed on this side.
    #[error("authentication failed: {0}")]
    Auth(#[from] AuthError),
    /// The server asks for a password and none was given.
    #[error("password required by the server but none supplied (use PGPASSWORD or .pgpass)")]
    PasswordRequired,
    /// The server asks for an authentication method this client does not speak.
    #[error("unsupported authentication method (code {0})")]
    UnsupportedAuth(i32),
    /// TLS was required and could not be had.
    #[error("{0}")]
    Tls(String),
    /// A message could not be decoded or was not expected at this point.
    #[error("protocol error: {0}")]
    Protocol(String),
}

impl ClientError {
    /// The SQLSTATE of a server error.
    pub fn code(&self) -> Option<&str> {
        match self {
            ClientError::Server { code, .. } => Some(code),
            _ => None,
        }
    }

    /// Whether the server refused the connection for lack of slots: `53300` (too many
    /// connections, including `max_wal_senders` exhausted).
    pub fn is_too_many_connections(&self) -> bool {
        self.code() == Some("53300")
    }

    /// Whether the server said the role lacks a privilege (`42501`).
    pub fn is_insufficient_privilege(&self) -> bool {
        self.code() == Some("42501")
    }

    pub(crate) fn io(context: impl Into<String>, source: io::Error) -> Self {
        ClientError::Io {
            context: context.into(),
            source,
        }
    }

    pub(crate) fn protocol(msg: impl Into<String>) -> Self {
        ClientError::Protocol(msg.into())
    }
}

impl From<corepool_protocol::Error> for ClientError {
    fn from(e: corepool_protocol::Error) -> Self {
        ClientError::Protocol(e.to_string())
    }
}
