//! The parsed statements: spans into the original text, so translation re-emits it verbatim.

use smallvec::SmallVec;

use crate::sql::{Span, Token, TokenKind};

/// One enhanced DDL statement, borrowing the text it was parsed from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DdlStatement<'a> {
    pub(crate) sql: &'a str,
    pub(crate) kind: DdlKind,
    pub(crate) backslash_escapes: bool,
}

impl<'a> DdlStatement<'a> {
    /// The text the statement was parsed from; every span in [`DdlStatement::kind`] points
    /// into it.
    pub fn sql(&self) -> &'a str {
        self.sql
    }

    /// Which form it is, with its parts.
    pub fn kind(&self) -> &DdlKind {
        &self.kind
    }

    /// The text `span` covers.
    pub fn text(&self, span: Span) -> &'a str {
        span.text(self.sql)
    }
}

/// The three enhanced forms.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DdlKind {
    /// `CREATE TABLE … PARTITION BY … ( PARTITION … )`.
    CreatePartitioned(CreatePartitioned),
    /// `CREATE FOREIGN TABLE … SERVER s [OPTIONS (…)] WITH PUSHDOWN`.
    CreateForeign(CreateForeign),
    /// `DROP [FOREIGN] TABLE … INCLUDE REMOTE`.
    DropRemote(DropRemote),
}

/// How long a table's rows live: PostgreSQL's `relpersistence`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Persistence {
    /// A regular table.
    Permanent,
    /// `TEMP` / `TEMPORARY` (with or without `LOCAL` / `GLOBAL`).
    Temporary,
    /// `UNLOGGED`.
    Unlogged,
}

/// A possibly qualified name: `t`, `s.t` or `db.s.t`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QualifiedName {
    /// The whole name as written.
    pub span: Span,
    /// Its parts, each an identifier token; never empty.
    pub parts: SmallVec<[Token; 3]>,
}

impl QualifiedName {
    /// The relation's own name (the last part).
    pub fn relation(&self) -> Token {
        self.parts.last().copied().unwrap_or(Token {
            kind: TokenKind::Ident,
            span: self.span,
        })
    }

    /// The schema part, if the name is qualified.
    pub fn schema(&self) -> Option<Token> {
        self.parts
            .len()
            .checked_sub(2)
            .and_then(|i| self.parts.get(i).copied())
    }

    /// The text before the relation's own name (`s` of `s.t`, `db.s` of `db.s.t`).
    pub fn qualifier(&self) -> Option<Span> {
        let first = self.parts.first()?;
        let last = self.parts.get(self.parts.len().checked_sub(2)?)?;
        Some(Span::new(first.span.start, last.span.end))
    }
}

/// `CREATE [TEMP|UNLOGGED] TABLE [IF NOT EXISTS] name (…) PARTITION BY … ( partitions ) …`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreatePartitioned {
    /// From `CREATE` to the last token (the `;` excluded).
    pub span: Span,
    /// The persistence the table and its local partitions get.
    pub persistence: Persistence,
    /// The persistence words as written (`TEMP`, `LOCAL TEMPORARY`, `UNLOGGED`…).
    pub persistence_span: Option<Span>,
    /// `IF NOT EXISTS`, when written.
    pub if_not_exists: Option<Span>,
    /// The partitioned table.
    pub name: QualifiedName,
    /// Its column list.
    pub elements: TableElements,
    /// The partitioning and the inline partitions.
    pub spec: PartitionSpec,
    /// Storage clauses after the partition list (`USING`, `WITH (…)`, `ON COMMIT`,
    /// `TABLESPACE`): they belong to the partitioned table.
    pub tail: Option<Span>,
}

/// A parenthesised table element list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableElements {
    /// The list, parentheses included.
    pub span: Span,
    /// The elements in order.
    pub items: Vec<TableElement>,
}

/// One entry of a table's column list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TableElement {
    /// A column definition.
    Column(ColumnDef),
    /// A table constraint (`CONSTRAINT …`, `CHECK …`, `UNIQUE …`, `PRIMARY KEY …`, …).
    Constraint(Span),
    /// `LIKE source [options]`.
    Like(Span),
}

/// `name type [OPTIONS (…)] [COLLATE c] [constraints…]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ColumnDef {
    /// The whole definition.
    pub span: Span,
    /// The column name.
    pub name: Token,
    /// The type as written (`INT`, `character varying(10)`, `numeric(10,2)[]`…).
    pub type_name: Span,
    /// `COLLATE name`, when written.
    pub collate: Option<Span>,
    /// A foreign table column's `OPTIONS (column_name '…')`.
    pub options: Option<GenericOptions>,
}

/// `PARTITION BY strategy ( key ) [( partitions )]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionSpec {
    /// `PARTITION BY strategy ( key )`: what standard PostgreSQL accepts.
    pub head: Span,
    /// The strategy.
    pub strategy: Strategy,
    /// The key list, parentheses included.
    pub key: Span,
    /// The inline partitions, in order; never empty.
    pub partitions: Vec<Partition>,
}

/// A partitioning strategy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Strategy {
    /// `RANGE`.
    Range,
    /// `LIST`.
    List,
    /// `HASH`.
    Hash,
}

/// `PARTITION name [( constraints )] bound [SERVER …] [PARTITION BY …]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Partition {
    /// The whole partition definition.
    pub span: Span,
    /// The partition's name.
    pub name: QualifiedName,
    /// The constraints in parentheses after the name, in order (empty when none).
    pub constraints: Vec<PartitionConstraint>,
    /// The bound.
    pub bound: Bound,
    /// `SERVER s [OPTIONS (…)] [WITH PUSHDOWN]`: the partition is a foreign table.
    pub foreign: Option<ForeignClause>,
    /// The partition's own partitioning and sub-partitions.
    pub sub: Option<PartitionSpec>,
}

/// One constraint in a partition's parenthesised list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionConstraint {
    /// The element as written.
    pub span: Span,
    /// `CONSTRAINT name`, when named.
    pub name: Option<Token>,
    /// What it is.
    pub kind: ConstraintKind,
    /// The column, for [`ConstraintKind::NotNull`] and [`ConstraintKind::Column`].
    pub column: Option<Token>,
}

/// The kinds of partition constraint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConstraintKind {
    /// `[CONSTRAINT n] CHECK ( expr ) …`.
    Check,
    /// `[CONSTRAINT n] UNIQUE …`.
    Unique,
    /// `[CONSTRAINT n] PRIMARY KEY …`.
    PrimaryKey,
    /// `[CONSTRAINT n] FOREIGN KEY ( … ) REFERENCES …`.
    ForeignKey,
    /// `[CONSTRAINT n] EXCLUDE …`.
    Exclude,
    /// `[CONSTRAINT n] NOT NULL column`: written as the column option `column [CONSTRAINT n]
    /// NOT NULL`, the form PostgreSQL 15 accepts.
    NotNull,
    /// Column options as PostgreSQL's `PARTITION OF` takes them: `column [WITH OPTIONS] …`
    /// (`c NOT NULL`, `c DEFAULT 1`, `c CONSTRAINT n CHECK (…)`).
    Column,
}

/// A partition bound.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bound {
    /// `FOR VALUES …` or `DEFAULT`, as written.
    pub span: Span,
    /// Which form.
    pub kind: BoundKind,
}

/// The forms of partition bound.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BoundKind {
    /// `FOR VALUES FROM (…) TO (…)`.
    Range,
    /// `FOR VALUES IN (…)`.
    List,
    /// `FOR VALUES WITH (MODULUS m, REMAINDER r)`.
    Hash,
    /// `DEFAULT`.
    Default,
}

/// `SERVER s [OPTIONS (…)] [WITH PUSHDOWN]` on a partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForeignClause {
    /// `SERVER s [OPTIONS (…)]`: what standard PostgreSQL accepts.
    pub span: Span,
    /// The server name.
    pub server: Token,
    /// The foreign table options.
    pub options: Option<GenericOptions>,
    /// `WITH PUSHDOWN`, when written.
    pub pushdown: Option<Span>,
}

/// `OPTIONS ( name 'value' [, …] )`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GenericOptions {
    /// `OPTIONS (…)` as written.
    pub span: Span,
    /// The options in order.
    pub items: Vec<GenericOption>,
}

/// One `name 'value'` pair.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GenericOption {
    /// The option name (a word or quoted identifier).
    pub name: Token,
    /// The value (a string constant).
    pub value: Token,
}

/// `CREATE FOREIGN TABLE [IF NOT EXISTS] name (…) SERVER s [OPTIONS (…)] WITH PUSHDOWN`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateForeign {
    /// From `CREATE` to the last token (the `;` excluded).
    pub span: Span,
    /// `IF NOT EXISTS`, when written.
    pub if_not_exists: Option<Span>,
    /// The foreign table.
    pub name: QualifiedName,
    /// Its column list.
    pub elements: TableElements,
    /// The server name.
    pub server: Token,
    /// The foreign table options.
    pub options: Option<GenericOptions>,
    /// `WITH PUSHDOWN`.
    pub pushdown: Span,
}

/// `DROP [FOREIGN] TABLE [IF EXISTS] name [, …] [CASCADE | RESTRICT] INCLUDE REMOTE`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DropRemote {
    /// From `DROP` to the last token (the `;` excluded).
    pub span: Span,
    /// `DROP FOREIGN TABLE` rather than `DROP TABLE`.
    pub foreign: bool,
    /// `IF EXISTS`, when written.
    pub if_exists: Option<Span>,
    /// The tables, in order.
    pub names: Vec<QualifiedName>,
    /// `CASCADE` or `RESTRICT`, when written.
    pub behavior: Option<(DropBehavior, Span)>,
    /// `INCLUDE REMOTE`.
    pub include_remote: Span,
}

/// `CASCADE` or `RESTRICT`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DropBehavior {
    /// `CASCADE`: dependent objects go too, locally and on the foreign servers.
    Cascade,
    /// `RESTRICT`: the default.
    Restrict,
}
