//! The classifier's result types: what one statement does, for the router.

use smallvec::SmallVec;

use super::Span;

/// What the first statement of a query string is and what the router must know about it.
///
/// Every text reference is a [`Span`] into the string passed to [`classify`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Classification {
    /// The statement's command.
    pub kind: StatementKind,
    /// The statement's text, from its first to its last token (without the `;`).
    pub span: Span,
    /// Another non-empty statement follows the first one: pgpool sends the whole string to the
    /// primary (behaviour spec 3.1).
    pub multi_statement: bool,
    /// A comment comes before the statement's first token: pgpool then does not load-balance
    /// unless `allow_sql_comments` is on (spec 3.4.1).
    pub leading_comment: bool,
    /// A `WITH` list holds an INSERT/UPDATE/DELETE/MERGE: the statement writes even when its
    /// main command is a SELECT (spec 3.3).
    pub data_modifying_cte: bool,
    /// `CREATE TEMP TABLE` (also `… AS`) or `SELECT … INTO TEMP`: pgpool's `check_temp_table =
    /// trace` records the table named in [`Self::relations`].
    pub creates_temp_table: bool,
    /// `CREATE UNLOGGED TABLE` or `SELECT … INTO UNLOGGED`.
    pub creates_unlogged_table: bool,
    /// Every function call, `name(` or `schema.name(`, in query text (SELECT lists, WHERE,
    /// FROM, VALUES, RETURNING…), for the write/read-only function lists and `pg_proc`
    /// volatility (`nextval`, `setval`, `lo_*`…). SQL syntax that looks like a call
    /// (`COALESCE(`, `EXISTS(`, `CAST(`, `IN (`, `x::numeric(10,2)`) is left out. DDL statements
    /// are not searched; `CALL p()` lists `p`.
    pub functions: SmallVec<[Span; 4]>,
    /// Tables named after FROM, JOIN, INTO, UPDATE, TABLE, USING, and by COPY, LOCK, TRUNCATE,
    /// VACUUM, ANALYZE, CREATE/ALTER/DROP TABLE; names of the statement's own CTEs are left out.
    /// Used for system-catalog, temporary and unlogged table checks and for `dml_adaptive`.
    pub relations: SmallVec<[Relation; 4]>,
}

impl Classification {
    pub(crate) fn new(kind: StatementKind) -> Self {
        Classification {
            kind,
            span: Span::default(),
            multi_statement: false,
            leading_comment: false,
            data_modifying_cte: false,
            creates_temp_table: false,
            creates_unlogged_table: false,
            functions: SmallVec::new(),
            relations: SmallVec::new(),
        }
    }

    /// First approximation of "a standby may run this": a plain SELECT (no INTO, no locking
    /// clause, no data-modifying CTE), VALUES, TABLE, SHOW, an empty query, EXPLAIN of one of
    /// those (with or without ANALYZE), or COPY … TO of a table or of one of those.
    ///
    /// It is false for a multi-statement string. It does not look at [`Self::functions`],
    /// relations or the session: the engine still applies `write_function_list`, temp/unlogged
    /// table and catalog checks, transaction state and pgpool's own quirks (4.3.5 sends EXPLAIN
    /// to the primary).
    pub fn is_read_only(&self) -> bool {
        if self.multi_statement || self.data_modifying_cte {
            return false;
        }
        match self.kind {
            StatementKind::Empty
            | StatementKind::Select
            | StatementKind::Values
            | StatementKind::Table
            | StatementKind::Show { .. } => true,
            StatementKind::Explain { inner, .. } => inner.is_read_only(),
            StatementKind::Copy {
                is_from: false,
                query,
                ..
            } => query.map_or(true, QueryKind::is_read_only),
            _ => false,
        }
    }

    pub(crate) fn push_function(&mut self, name: Span) {
        self.functions.push(name);
    }

    pub(crate) fn push_relation(&mut self, name: Span, written: bool) {
        self.relations.push(Relation { name, written });
    }
}

/// A table reference found in the statement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Relation {
    /// The name as written, possibly schema-qualified and quoted: `pg_catalog.pg_class`,
    /// `"My Table"`. Compare with [`crate::sql::ident`].
    pub name: Span,
    /// The statement writes to it: INSERT/UPDATE/DELETE/MERGE target, COPY FROM, SELECT INTO,
    /// TRUNCATE, CREATE/ALTER/DROP TABLE.
    pub written: bool,
}

/// The statement's command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum StatementKind {
    /// No statement at all: `""`, `";"`, only comments. pgpool treats it as a read.
    Empty,
    /// SELECT (also `WITH … SELECT` and parenthesised) without INTO or a locking clause. It can
    /// still write through a data-modifying CTE or a volatile function: see
    /// [`Classification::data_modifying_cte`] and [`Classification::functions`].
    Select,
    /// SELECT with `FOR UPDATE`, `FOR NO KEY UPDATE`, `FOR SHARE` or `FOR KEY SHARE` anywhere.
    SelectLocking,
    /// `SELECT … INTO table`.
    SelectInto,
    /// `VALUES (…)`.
    Values,
    /// `TABLE name`.
    Table,
    /// INSERT.
    Insert,
    /// UPDATE.
    Update,
    /// DELETE.
    Delete,
    /// MERGE.
    Merge,
    /// Schema and privilege commands; see [`DdlVerb`].
    Ddl(DdlVerb),
    /// `BEGIN` / `START TRANSACTION`, with the modes it gives.
    TransactionBegin {
        /// The transaction modes written in the statement.
        modes: TransactionModes,
    },
    /// `COMMIT` / `END`.
    Commit,
    /// `ROLLBACK` / `ABORT`.
    Rollback,
    /// `SAVEPOINT`.
    Savepoint,
    /// `RELEASE [SAVEPOINT]`.
    Release,
    /// `ROLLBACK TO [SAVEPOINT]`.
    RollbackTo,
    /// `PREPARE TRANSACTION 'gid'`.
    PrepareTransaction,
    /// `COMMIT PREPARED 'gid'`.
    CommitPrepared,
    /// `ROLLBACK PREPARED 'gid'`.
    RollbackPrepared,
    /// `SET TRANSACTION …` or, with `session`, `SET SESSION CHARACTERISTICS AS TRANSACTION …`.
    SetTransaction {
        /// `SESSION CHARACTERISTICS`: the modes become the session's defaults.
        session: bool,
        /// The modes set (empty for `SET TRANSACTION SNAPSHOT`).
        modes: TransactionModes,
    },
    /// `SET [SESSION | LOCAL] name {TO | =} value`, and the special forms (`TIME ZONE`, `ROLE`,
    /// `SCHEMA`, `NAMES`, `SESSION AUTHORIZATION`, `CONSTRAINTS`).
    Set {
        /// `SET LOCAL`.
        local: bool,
        /// The parameter as written (`search_path`, `TIME ZONE`…).
        name: Span,
        /// The value list as written (`'serializable'`, `DEFAULT`, `a, b`); `None` for
        /// `FROM CURRENT`.
        value: Option<Span>,
        /// What the SET means for the transaction modes pgpool routes on:
        /// `transaction_read_only` gives `read_only`; `transaction_isolation` and
        /// `default_transaction_isolation` give `isolation` (spec 3.3).
        modes: TransactionModes,
    },
    /// `RESET name`; `None` for `RESET ALL`.
    Reset {
        /// The parameter as written.
        name: Option<Span>,
    },
    /// `SHOW name` (also pgpool's own `SHOW pool_nodes`…).
    Show {
        /// What is shown, as written (`pool_nodes`, `ALL`, `TRANSACTION ISOLATION LEVEL`).
        name: Span,
    },
    /// `DISCARD …`.
    Discard(DiscardTarget),
    /// `COPY`.
    Copy {
        /// `COPY … FROM` (data flows into the server).
        is_from: bool,
        /// `STDIN` / `STDOUT` rather than a server file or `PROGRAM`.
        stdio: bool,
        /// `COPY (query) TO`: what the query is.
        query: Option<QueryKind>,
    },
    /// `PREPARE name [(types)] AS statement`.
    Prepare {
        /// The prepared statement's name.
        name: Span,
        /// What the prepared statement is.
        inner: QueryKind,
    },
    /// `EXECUTE name [(args)]`.
    Execute {
        /// The prepared statement's name.
        name: Span,
    },
    /// `DEALLOCATE [PREPARE] name`; `None` for `DEALLOCATE ALL`.
    Deallocate {
        /// The prepared statement's name.
        name: Option<Span>,
    },
    /// `EXPLAIN [ANALYZE] statement`.
    Explain {
        /// The statement is executed (`ANALYZE`, `(ANALYZE)`, `(ANALYZE true)`…).
        analyze: bool,
        /// What is explained.
        inner: QueryKind,
    },
    /// `DECLARE name CURSOR FOR query`.
    Declare {
        /// What the cursor's query is.
        inner: QueryKind,
    },
    /// `FETCH` / `MOVE`.
    Fetch,
    /// `CLOSE`.
    Close,
    /// `LISTEN`.
    Listen,
    /// `NOTIFY`.
    Notify,
    /// `UNLISTEN`.
    Unlisten,
    /// `LOCK [TABLE] …`; pgpool sends `ROW EXCLUSIVE` and stronger to the primary only.
    Lock {
        /// The lock mode (`ACCESS EXCLUSIVE` when none is written).
        mode: LockMode,
    },
    /// `VACUUM`.
    Vacuum,
    /// `ANALYZE` / `ANALYSE`.
    Analyze,
    /// `CALL procedure(…)`.
    Call,
    /// `DO`.
    Do,
    /// Anything else: `CHECKPOINT`, `LOAD`, unknown or malformed text.
    Other,
}

/// The statement inside PREPARE, EXPLAIN, DECLARE or `COPY (…)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum QueryKind {
    /// As [`StatementKind::Select`].
    Select,
    /// As [`StatementKind::SelectLocking`].
    SelectLocking,
    /// As [`StatementKind::SelectInto`].
    SelectInto,
    /// `VALUES`.
    Values,
    /// `TABLE name`.
    Table,
    /// INSERT.
    Insert,
    /// UPDATE.
    Update,
    /// DELETE.
    Delete,
    /// MERGE.
    Merge,
    /// `EXPLAIN EXECUTE name`.
    Execute,
    /// Anything else (`CREATE TABLE … AS`, `DECLARE` under EXPLAIN…).
    Other,
}

impl QueryKind {
    /// Whether the query only reads: Select, Values or Table.
    pub fn is_read_only(self) -> bool {
        matches!(
            self,
            QueryKind::Select | QueryKind::Values | QueryKind::Table
        )
    }

    pub(crate) fn of(kind: StatementKind) -> Self {
        match kind {
            StatementKind::Select => QueryKind::Select,
            StatementKind::SelectLocking => QueryKind::SelectLocking,
            StatementKind::SelectInto => QueryKind::SelectInto,
            StatementKind::Values => QueryKind::Values,
            StatementKind::Table => QueryKind::Table,
            StatementKind::Insert => QueryKind::Insert,
            StatementKind::Update => QueryKind::Update,
            StatementKind::Delete => QueryKind::Delete,
            StatementKind::Merge => QueryKind::Merge,
            StatementKind::Execute { .. } => QueryKind::Execute,
            _ => QueryKind::Other,
        }
    }
}

/// The schema-changing commands (and the maintenance commands grouped with them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DdlVerb {
    /// CREATE.
    Create,
    /// ALTER.
    Alter,
    /// DROP.
    Drop,
    /// TRUNCATE.
    Truncate,
    /// GRANT.
    Grant,
    /// REVOKE.
    Revoke,
    /// COMMENT ON.
    Comment,
    /// SECURITY LABEL.
    SecurityLabel,
    /// REINDEX.
    Reindex,
    /// CLUSTER.
    Cluster,
    /// REFRESH MATERIALIZED VIEW.
    Refresh,
    /// IMPORT FOREIGN SCHEMA.
    Import,
    /// REASSIGN OWNED.
    Reassign,
}

/// Transaction modes written in BEGIN, START TRANSACTION or SET; `None` where not written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub struct TransactionModes {
    /// `READ ONLY` (`Some(true)`) or `READ WRITE` (`Some(false)`).
    pub read_only: Option<bool>,
    /// `ISOLATION LEVEL …`.
    pub isolation: Option<Isolation>,
    /// `DEFERRABLE` / `NOT DEFERRABLE`.
    pub deferrable: Option<bool>,
}

/// A transaction isolation level.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Isolation {
    /// READ UNCOMMITTED.
    ReadUncommitted,
    /// READ COMMITTED.
    ReadCommitted,
    /// REPEATABLE READ.
    RepeatableRead,
    /// SERIALIZABLE.
    Serializable,
}

/// What `DISCARD` drops.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DiscardTarget {
    /// `DISCARD ALL` (also deallocates prepared statements and drops temporary tables).
    All,
    /// `DISCARD PLANS`.
    Plans,
    /// `DISCARD SEQUENCES`.
    Sequences,
    /// `DISCARD TEMP` / `TEMPORARY`.
    Temp,
}

/// `LOCK` modes, weakest first, so `mode >= LockMode::RowExclusive` is pgpool's test.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum LockMode {
    /// ACCESS SHARE.
    AccessShare,
    /// ROW SHARE.
    RowShare,
    /// ROW EXCLUSIVE.
    RowExclusive,
    /// SHARE UPDATE EXCLUSIVE.
    ShareUpdateExclusive,
    /// SHARE.
    Share,
    /// SHARE ROW EXCLUSIVE.
    ShareRowExclusive,
    /// EXCLUSIVE.
    Exclusive,
    /// ACCESS EXCLUSIVE (the default).
    AccessExclusive,
}
