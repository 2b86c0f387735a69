//! Errors from decoding PostgreSQL wire messages.

/// A wire message could not be framed or decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Placeholder until the framing module defines its variants.
    #[error("malformed {0} message")]
    Malformed(&'static str),
}
