//! The lexer, statement splitter and classifier for PostgreSQL SQL text.
//!
//! The router must decide, for every statement, whether a standby may run it (Pgpool-II's
//! `pool_where_to_send`). Pgpool does that with a copy of PostgreSQL's grammar; corepool does it
//! with a lexer and a token-level scanner that knows just enough grammar to answer the routing
//! questions. Nothing here allocates in the common case: tokens and results are spans into the
//! caller's `&str`.
//!
//! # Layout
//! - [`lexer`]: [`Lexer`] turns text into [`Token`]s (every byte covered, comments and
//!   whitespace included) following PostgreSQL's `scan.l`.
//! - [`mod@split`]: [`split()`] cuts a multi-statement query string at top-level `;`, the way psql
//!   does (parentheses and `BEGIN ATOMIC … END` bodies are respected).
//! - [`classify()`]: reads the first statement of a query string and returns a
//!   [`Classification`]: the [`StatementKind`], the functions it calls and the relations it
//!   names, and the flags the router needs (data-modifying CTE, leading comment, temp tables,
//!   more statements following).
//! - [`ident`]: compares and normalises identifiers found through those spans.
//! - [`head()`]: the first keyword only, without lexing, for sessions that do not route.
//!
//! Data moves one way: text → [`Lexer`] → (statement boundaries) → scanner → [`Classification`].
//!
//! # Example
//! ```
//! use corepool_protocol::sql::{classify, StatementKind};
//!
//! let sql = "SELECT nextval('s') FROM pgbench_accounts WHERE aid = $1";
//! let c = classify(sql).unwrap();
//! assert_eq!(c.kind, StatementKind::Select);
//! assert_eq!(c.functions[0].text(sql), "nextval");
//! assert_eq!(c.relations[0].name.text(sql), "pgbench_accounts");
//! assert!(!c.multi_statement);
//! ```
//!
//! # What it does not do
//! It does not validate syntax: text PostgreSQL would reject may still classify (usually as
//! [`StatementKind::Other`], which the router sends to the primary). Only lexical errors
//! (unterminated literals and comments) are reported, as a [`SqlError`] with a byte position.
//!
//! # Speed
//! `cargo bench -p corepool-bench --bench classify` on the development box (2 shared Xeon
//! cores), fastest 30 µs chunk: `SELECT * FROM t WHERE id = 1` in 127 ns, pgbench's
//! `SELECT abalance FROM pgbench_accounts WHERE aid = $1` in 129 ns, and 320 ns per statement
//! over a 24-statement mix of pgbench, ORM, psql catalog, CTE and long-IN-list queries (about
//! 2,900 instructions for the simple SELECT under callgrind). No allocation unless a statement
//! names more than four functions, relations or CTEs, or nests parentheses more than eight deep.

mod boundary;
mod classify;
mod cursor;
mod error;
mod head;
pub mod ident;
mod keywords;
mod kinds;
pub mod lexer;
mod query;
pub mod split;
mod statements;

#[cfg(test)]
mod lexer_tests;
#[cfg(test)]
mod prop_tests;
#[cfg(test)]
mod tests;

pub use classify::{call_arguments, classify, classify_with};
pub use error::{SqlError, SqlErrorKind};
pub use head::{contains_ignore_case, head, may_hold_several, Head};
pub use kinds::{
    Classification, DdlVerb, DiscardTarget, Isolation, LockMode, QueryKind, Relation,
    StatementKind, TransactionModes,
};
pub use lexer::{Lexer, StringKind, Token, TokenKind};
pub use split::{split, split_with, Split};

/// A byte range `start..end` of the SQL text a result was computed from.
///
/// Results point into the caller's text instead of copying it; `u32` offsets keep tokens and
/// lists small (inputs over 4 GiB are rejected with [`SqlErrorKind::TooLong`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Span {
    /// Offset of the first byte.
    pub start: u32,
    /// Offset one past the last byte.
    pub end: u32,
}

impl Span {
    /// Builds a span from `start` (inclusive) to `end` (exclusive).
    pub const fn new(start: u32, end: u32) -> Self {
        Span { start, end }
    }

    /// The span as a `usize` range, for slicing.
    pub fn range(self) -> std::ops::Range<usize> {
        self.start as usize..self.end as usize
    }

    /// Length in bytes.
    pub fn len(self) -> usize {
        self.end.saturating_sub(self.start) as usize
    }

    /// Whether the span covers no bytes.
    pub fn is_empty(self) -> bool {
        self.end <= self.start
    }

    /// The text the span covers in `sql`, or `""` if it does not fit (wrong text passed).
    pub fn text(self, sql: &str) -> &str {
        sql.get(self.range()).unwrap_or_default()
    }
}

/// How the SQL text must be read; the defaults match a PostgreSQL 9.1+ session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct SqlOptions {
    /// The session's `standard_conforming_strings`. When off, backslash escapes a quote inside
    /// plain `'…'` strings too, as PostgreSQL does (the engine learns it from ParameterStatus).
    pub standard_conforming_strings: bool,
}

impl Default for SqlOptions {
    fn default() -> Self {
        SqlOptions {
            standard_conforming_strings: true,
        }
    }
}

impl SqlOptions {
    /// Returns these options with `standard_conforming_strings` set to `on`.
    pub fn standard_conforming_strings(mut self, on: bool) -> Self {
        self.standard_conforming_strings = on;
        self
    }
}
