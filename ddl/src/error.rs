//! [`DdlExecError`]: why an enhanced statement failed, as an ErrorResponse would say it.

use corepool_protocol::ddl::DdlError;
use corepool_protocol::sqlstate::SqlState;

use crate::server::Notice;

/// Which part of the run failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The statement was refused by the parser (syntax, or one of HighGo's rules).
    Parse,
    /// The statement cannot run in the connection's state (inside a transaction block).
    State,
    /// A catalog lookup failed or found something corepool cannot use (no such server, no
    /// user mapping, not `postgres_fdw`, no schema selected).
    Lookup,
    /// A remote `CREATE TABLE` (`WITH PUSHDOWN`) failed, or its server could not be reached.
    RemoteCreate,
    /// A remote `DROP TABLE` (`INCLUDE REMOTE`) failed, or its server could not be reached.
    RemoteDrop,
    /// A standard statement failed on the local server.
    Local,
    /// A `COMMIT` failed, on a foreign server or locally; see [`DdlExecError::left_behind`].
    Commit,
    /// The connection to the local server broke.
    Connection,
}

/// What an undo could not put back, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Leftover {
    /// The foreign server, by its catalog name.
    pub server: String,
    /// The remote table, `schema.name` (quoted where needed).
    pub table: String,
    /// What state it is in.
    pub state: LeftoverState,
}

/// How a remote table was left.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LeftoverState {
    /// Created and committed; dropping it again failed.
    Created,
    /// The server's `COMMIT` broke off: the table may or may not exist.
    Unknown,
    /// Dropped and committed (`INCLUDE REMOTE`) while the local drop failed.
    Dropped,
}

/// An enhanced statement that failed, with the fields of the ErrorResponse to send.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct DdlExecError {
    kind: ErrorKind,
    code: String,
    message: String,
    detail: Option<String>,
    hint: Option<String>,
    position: Option<u32>,
    left_behind: Vec<Leftover>,
}

impl DdlExecError {
    /// An error of `kind` with SQLSTATE `code`.
    pub fn new(kind: ErrorKind, code: SqlState, message: impl Into<String>) -> DdlExecError {
        DdlExecError {
            kind,
            code: code.code().to_owned(),
            message: message.into(),
            detail: None,
            hint: None,
            position: None,
            left_behind: Vec::new(),
        }
    }

    /// A server's error, passed on as it came.
    pub fn from_server(kind: ErrorKind, e: Notice) -> DdlExecError {
        DdlExecError {
            kind,
            code: e.code,
            message: e.message,
            detail: e.detail,
            hint: e.hint,
            position: None,
            left_behind: Vec::new(),
        }
    }

    /// The parser's refusal of `sql`, with PostgreSQL's position when it would send one.
    pub fn from_parse(e: &DdlError, sql: &str) -> DdlExecError {
        let position = e
            .has_client_position()
            .then(|| u32::try_from(e.pg_position(sql)).unwrap_or(u32::MAX));
        DdlExecError {
            position,
            ..DdlExecError::new(ErrorKind::Parse, e.sqlstate(), e.to_string())
        }
    }

    /// Sets DETAIL.
    pub fn with_detail(mut self, detail: impl Into<String>) -> DdlExecError {
        self.detail = Some(detail.into());
        self
    }

    /// Sets HINT.
    pub fn with_hint(mut self, hint: impl Into<String>) -> DdlExecError {
        self.hint = Some(hint.into());
        self
    }

    /// Adds a line to DETAIL.
    pub(crate) fn add_detail(&mut self, line: &str) {
        match &mut self.detail {
            Some(d) => {
                d.push('\n');
                d.push_str(line);
            }
            None => self.detail = Some(line.to_owned()),
        }
    }

    pub(crate) fn set_left_behind(&mut self, left: Vec<Leftover>) {
        self.left_behind = left;
    }

    /// Which part failed.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The SQLSTATE (five characters).
    pub fn code(&self) -> &str {
        &self.code
    }

    /// The primary message.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// DETAIL: the remote server's error, what was undone, what is left.
    pub fn detail(&self) -> Option<&str> {
        self.detail.as_deref()
    }

    /// HINT.
    pub fn hint(&self) -> Option<&str> {
        self.hint.as_deref()
    }

    /// The 1-based character position in the statement, for syntax errors.
    pub fn position(&self) -> Option<u32> {
        self.position
    }

    /// Remote tables the failed statement left in a changed state (empty when nothing is).
    pub fn left_behind(&self) -> &[Leftover] {
        &self.left_behind
    }
}
