//! The error type of the SQL lexer, splitter and classifier.

/// SQL text that cannot be tokenised, with the byte offset where the problem starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{kind} at byte {position}")]
pub struct SqlError {
    kind: SqlErrorKind,
    position: u32,
}

impl SqlError {
    pub(crate) fn new(kind: SqlErrorKind, position: usize) -> Self {
        SqlError {
            kind,
            position: u32::try_from(position).unwrap_or(u32::MAX),
        }
    }

    /// What went wrong.
    pub fn kind(&self) -> SqlErrorKind {
        self.kind
    }

    /// Byte offset (0-based) of the token or construct at fault. PostgreSQL reports a 1-based
    /// character position instead; convert with the text if it must be shown to a client.
    pub fn position(&self) -> u32 {
        self.position
    }
}

/// The kinds of [`SqlError`]; the messages are PostgreSQL's where it has one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
#[non_exhaustive]
pub enum SqlErrorKind {
    /// `'…` or `E'…` or `U&'…` without its closing quote.
    #[error("unterminated quoted string")]
    UnterminatedQuotedString,
    /// `/*` without its matching `*/` (comments nest).
    #[error("unterminated /* comment")]
    UnterminatedBlockComment,
    /// `$tag$…` without the closing `$tag$`.
    #[error("unterminated dollar-quoted string")]
    UnterminatedDollarQuote,
    /// `"…` or `U&"…` without its closing quote.
    #[error("unterminated quoted identifier")]
    UnterminatedQuotedIdentifier,
    /// `B'…` without its closing quote.
    #[error("unterminated bit string literal")]
    UnterminatedBitString,
    /// `X'…` without its closing quote.
    #[error("unterminated hexadecimal string literal")]
    UnterminatedHexString,
    /// `""`: PostgreSQL rejects empty quoted identifiers.
    #[error("zero-length delimited identifier")]
    ZeroLengthIdentifier,
    /// The text is longer than the 4 GiB a [`crate::sql::Span`] can address.
    #[error("query text too long")]
    TooLong,
    /// More nested parentheses than the classifier tracks (PostgreSQL would also refuse such
    /// a statement with "stack depth limit exceeded").
    #[error("statement nested too deeply")]
    TooDeep,
}
