//! Authentication exchanges (md5, SCRAM-SHA-256) as state machines without I/O.
//!
//! Nothing here reads a socket: the engine takes the bytes out of an `AuthenticationSASL*` or
//! `SASLResponse` message, hands them to a state machine, and writes what the machine returns
//! back into the next message. This is the shape of `postgres-protocol`'s
//! `authentication::sasl::ScramSha256`.
//!
//! # Layout
//! - [`md5`]: PostgreSQL's `md5` scheme: the stored form `md5` + hex(md5(password ++ user)), the
//!   salted wire response, and constant-time verification of a client's response.
//! - [`scram`]: SCRAM-SHA-256 (RFC 5802, RFC 7677) as PostgreSQL speaks it:
//!   - [`ScramSha256`]: the client side, used by the proxy to log into a backend;
//!   - [`ScramServer`]: the server side, used by the proxy to check a connecting client;
//!   - [`ScramVerifier`]: PostgreSQL's stored verifier
//!     `SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>`.
//! - [`stored`]: tells the kinds of stored password apart as PostgreSQL's `get_password_type`
//!   does ([`StoredPassword`]).
//! - [`AuthError`]: the one error type of this module. [`AuthError::sqlstate`] names the SQLSTATE
//!   the engine reports to a client.
//!
//! Data moves like this for a client that logs in with SCRAM through the proxy:
//!
//! ```text
//! client ──SASLInitialResponse──▶ ScramServer::update ──server-first──▶ client
//! client ──SASLResponse─────────▶ ScramServer::finish ──server-final──▶ client
//!                                   │ client_key()
//!                                   ▼
//! backend ◀──client-first── ScramSha256::from_client_key ◀──server-first── backend …
//! ```
//!
//! No function here logs, and no `Debug` impl prints a password, salted password, key, proof or
//! stored hash.

pub mod md5;
pub mod scram;
pub mod stored;

pub use self::md5::{Md5Hash, Md5Response};
pub use self::scram::{
    select_mechanism, ClientKey, ScramErrorKind, ScramMessage, ScramServer, ScramSha256,
    ScramVerifier, DEFAULT_ITERATIONS, MECHANISMS, SCRAM_SHA_256,
};
pub use self::stored::StoredPassword;

use crate::sqlstate::{self, SqlState};

/// An authentication exchange failed.
///
/// [`AuthError::PasswordMismatch`] is the one that means "wrong password"; every other variant is a
/// malformed or unexpected message, a bad stored secret, or a misuse of a state machine.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AuthError {
    /// The client's proof or md5 response does not match the stored secret: the wrong password.
    /// PostgreSQL reports this as SQLSTATE 28P01, "password authentication failed for user".
    #[error("password authentication failed")]
    PasswordMismatch,
    /// The server's SCRAM signature (`v=`) is not the one the password implies: the server does
    /// not know the password, or someone in between is answering for it.
    #[error("SCRAM server signature does not match; the server does not know the password")]
    ServerSignatureMismatch,
    /// A SCRAM message broke the protocol.
    #[error("invalid SCRAM {message}: {kind}")]
    Scram {
        /// Which message of the exchange was bad.
        message: ScramMessage,
        /// What was wrong with it.
        kind: ScramErrorKind,
    },
    /// The server ended the SCRAM exchange with `e=<reason>` in its server-final-message.
    #[error("server rejected the SCRAM exchange: {reason}")]
    ServerRejected {
        /// The server's `server-error-value`, such as `invalid-proof`.
        reason: String,
    },
    /// None of the SASL mechanisms the server offered is one this crate speaks.
    #[error("none of the SASL mechanisms offered is supported (only SCRAM-SHA-256 is)")]
    UnsupportedMechanism,
    /// A stored SCRAM-SHA-256 verifier could not be parsed.
    #[error("invalid SCRAM-SHA-256 verifier: {reason}")]
    InvalidVerifier {
        /// Which part of the verifier was wrong.
        reason: &'static str,
    },
    /// An iteration count was zero or above the limit this side accepts.
    #[error("SCRAM iteration count {count} out of range 1..={max}")]
    IterationCountOutOfRange {
        /// The count that was asked for.
        count: u64,
        /// The largest count accepted here.
        max: u32,
    },
    /// A stored md5 hash is not `md5` followed by 32 lowercase hex digits.
    #[error("invalid md5 password hash: expected \"md5\" and 32 lowercase hex digits")]
    InvalidMd5Hash,
    /// A state machine method was called out of order, or again after an error.
    #[error("SCRAM exchange used out of order: {step} called in the wrong state")]
    InvalidState {
        /// The method that was called.
        step: &'static str,
    },
}

impl AuthError {
    /// The SQLSTATE the engine reports to a client when this error ends the client's login.
    ///
    /// A wrong password is `28P01` (as PostgreSQL reports it, also for a bad stored secret, so a
    /// client learns nothing more); a broken message is `08P01`; a failure logging into the
    /// backend is `08006`; a misused state machine is an internal error `XX000`.
    pub fn sqlstate(&self) -> SqlState {
        match self {
            AuthError::PasswordMismatch
            | AuthError::InvalidVerifier { .. }
            | AuthError::InvalidMd5Hash => sqlstate::INVALID_PASSWORD,
            AuthError::Scram { .. }
            | AuthError::UnsupportedMechanism
            | AuthError::IterationCountOutOfRange { .. } => sqlstate::PROTOCOL_VIOLATION,
            AuthError::ServerSignatureMismatch | AuthError::ServerRejected { .. } => {
                sqlstate::CONNECTION_FAILURE
            }
            AuthError::InvalidState { .. } => sqlstate::INTERNAL_ERROR,
        }
    }

    /// Whether this error means the password was wrong (rather than a broken exchange).
    pub fn is_password_mismatch(&self) -> bool {
        matches!(self, AuthError::PasswordMismatch)
    }
}

/// Compares two byte strings in time that depends only on their lengths.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    use subtle::ConstantTimeEq;
    a.ct_eq(b).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrong_password_maps_to_28p01() {
        assert_eq!(AuthError::PasswordMismatch.sqlstate().code(), "28P01");
        assert!(AuthError::PasswordMismatch.is_password_mismatch());
        let malformed = AuthError::Scram {
            message: ScramMessage::ClientFinal,
            kind: ScramErrorKind::NonceMismatch,
        };
        assert_eq!(malformed.sqlstate().code(), "08P01");
        assert!(!malformed.is_password_mismatch());
        assert_eq!(
            malformed.to_string(),
            "invalid SCRAM client-final-message: nonce does not match the one of the exchange"
        );
    }

    #[test]
    fn constant_time_eq_compares_contents_and_lengths() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
        assert!(constant_time_eq(b"", b""));
    }
}
