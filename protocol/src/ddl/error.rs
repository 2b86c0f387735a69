//! [`DdlError`]: why an enhanced DDL statement was refused, with the byte position at fault.

use crate::sql::SqlErrorKind;
use crate::sqlstate::{self, SqlState};

/// The text of the error HighGo gives for `WITH PUSHDOWN` under a `TEMP` (or `UNLOGGED`) table.
pub const PUSHDOWN_NOT_PERMANENT: &str = "WITH PUSHDOWN is only allowed for permanent relations";
/// The text of the error HighGo gives for a partition that is both foreign and sub-partitioned.
pub const PARTITIONED_FOREIGN: &str = "Partition table can not be a foreign table";
/// The text of the error HighGo gives when a remote `CREATE TABLE` fails (the executor's, see
/// [`crate::ddl::plan`]); the remote server's own message belongs in the DETAIL.
pub const REMOTE_CREATE_FAILED: &str = "Failed to execute CREATE TABLE on remote server";

/// An enhanced DDL statement that cannot be translated.
///
/// Every variant carries `position`: a 0-based byte offset into the text given to
/// [`parse`](crate::ddl::parse). PostgreSQL reports a 1-based *character* position; convert it
/// with [`DdlError::pg_position`]. Messages are PostgreSQL's (syntax, lexical) or HighGo's
/// (the semantic errors of its guide), word for word.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DdlError {
    /// A token the grammar does not allow where it stands.
    #[error("syntax error at or near \"{near}\"")]
    Syntax {
        /// The offending token's text, as written.
        near: String,
        /// Byte offset of the token.
        position: usize,
    },
    /// The statement ended where the grammar needs more.
    #[error("syntax error at end of input")]
    SyntaxAtEnd {
        /// Byte offset of the end of the text.
        position: usize,
    },
    /// The text could not be tokenised (an unterminated literal, quoted identifier or comment).
    #[error("{kind} at or near \"{near}\"")]
    Lexical {
        /// What the lexer found.
        kind: SqlErrorKind,
        /// The text from the construct's start to the end of the input.
        near: String,
        /// Byte offset where the construct starts.
        position: usize,
    },
    /// `WITH PUSHDOWN` on a partition of a `TEMP` or `UNLOGGED` table.
    #[error("{PUSHDOWN_NOT_PERMANENT}")]
    PushdownNotPermanent {
        /// Byte offset of the `WITH` of the offending `WITH PUSHDOWN`.
        position: usize,
    },
    /// A partition with both `SERVER` and its own `PARTITION BY`.
    #[error("{PARTITIONED_FOREIGN}")]
    PartitionedForeign {
        /// Byte offset of the partition's `SERVER`.
        position: usize,
    },
    /// A form corepool cannot translate without the catalog (see the variant's `what`).
    #[error("{what} is not supported")]
    Unsupported {
        /// What is not supported, in a phrase.
        what: &'static str,
        /// Byte offset of the construct.
        position: usize,
    },
    /// Partitions nested deeper than [`MAX_DEPTH`](crate::ddl::MAX_DEPTH).
    #[error("partitions nested too deeply")]
    TooDeep {
        /// Byte offset of the `PARTITION BY` that goes too deep.
        position: usize,
    },
    /// Text follows the statement's `;`: [`parse`](crate::ddl::parse) takes one statement
    /// (cut the query string with [`crate::sql::split()`] first).
    #[error("enhanced DDL must be sent as a statement of its own")]
    TrailingStatement {
        /// Byte offset of the first token after the `;`.
        position: usize,
    },
}

impl DdlError {
    /// The 0-based byte offset into the statement text at fault.
    pub fn position(&self) -> usize {
        match *self {
            DdlError::Syntax { position, .. }
            | DdlError::SyntaxAtEnd { position }
            | DdlError::Lexical { position, .. }
            | DdlError::PushdownNotPermanent { position }
            | DdlError::PartitionedForeign { position }
            | DdlError::Unsupported { position, .. }
            | DdlError::TooDeep { position }
            | DdlError::TrailingStatement { position } => position,
        }
    }

    /// The position PostgreSQL would put in the ErrorResponse's `P` field: 1-based, counted in
    /// characters of `sql` (the text given to `parse`).
    pub fn pg_position(&self, sql: &str) -> usize {
        let mut at = self.position().min(sql.len());
        while !sql.is_char_boundary(at) {
            at -= 1;
        }
        sql[..at].chars().count() + 1
    }

    /// Whether PostgreSQL would send the position to the client: it does for errors found while
    /// parsing, not for the semantic errors HighGo raises while transforming the statement.
    pub fn has_client_position(&self) -> bool {
        matches!(
            self,
            DdlError::Syntax { .. } | DdlError::SyntaxAtEnd { .. } | DdlError::Lexical { .. }
        )
    }

    /// The SQLSTATE to send with the error.
    pub fn sqlstate(&self) -> SqlState {
        match self {
            DdlError::Syntax { .. }
            | DdlError::SyntaxAtEnd { .. }
            | DdlError::Lexical { .. }
            | DdlError::TrailingStatement { .. } => sqlstate::SYNTAX_ERROR,
            DdlError::PushdownNotPermanent { .. } | DdlError::PartitionedForeign { .. } => {
                sqlstate::INVALID_TABLE_DEFINITION
            }
            DdlError::Unsupported { .. } => sqlstate::FEATURE_NOT_SUPPORTED,
            DdlError::TooDeep { .. } => sqlstate::STATEMENT_TOO_COMPLEX,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pg_position_counts_characters_from_one() {
        let sql = "DROP TABLE é INCLUDE x";
        let e = DdlError::Syntax {
            near: "x".into(),
            position: sql.find(" x").unwrap() + 1,
        };
        assert_eq!(e.pg_position(sql), 22);
        assert_eq!(e.to_string(), "syntax error at or near \"x\"");
        let end = DdlError::SyntaxAtEnd { position: 99 };
        assert_eq!(end.pg_position("ab"), 3);
        assert_eq!(end.sqlstate(), sqlstate::SYNTAX_ERROR);
    }

    #[test]
    fn guide_texts() {
        assert_eq!(
            DdlError::PushdownNotPermanent { position: 0 }.to_string(),
            "WITH PUSHDOWN is only allowed for permanent relations"
        );
        assert_eq!(
            DdlError::PartitionedForeign { position: 0 }.to_string(),
            "Partition table can not be a foreign table"
        );
        assert!(!DdlError::PartitionedForeign { position: 0 }.has_client_position());
    }
}
