//! HighGo's sharding DDL translated into standard PostgreSQL 15 and `postgres_fdw` statements.
//!
//! The enhanced forms are inline partitions, `WITH PUSHDOWN` and `INCLUDE REMOTE`. Pure code:
//! [`parse`] reads one statement and [`DdlStatement::plan`] says what to run where; the
//! executor (in `engine`) does the I/O, as [`plan`] describes.
//!
//! # Layout
//! - `detect` (private): a streaming, allocation-free first look over the
//!   [`crate::sql::Lexer`] tokens; anything that is not one of the three forms stops here
//!   and `parse` returns `Ok(None)`.
//! - `tokens`, `elements`, `create`, `foreign`, `drop` (private): the parser proper, one
//!   file per form plus the pieces they share, producing the [`ast`].
//! - `validate` (private): the semantic errors that need no catalog.
//! - [`ast`]: the statements as spans into the original text.
//! - [`plan`]: the translation ([`Plan`], [`Step`], [`RemoteCreate`], [`RemoteDrop`]).
//! - [`catalog`]: the catalog queries the executor runs and the NOTICE text.
//! - [`error`]: [`DdlError`], with byte positions and PostgreSQL's / HighGo's messages.
//!
//! Data moves one way: text → `detect` → `tokens` → parser → `validate` → [`DdlStatement`]
//! → [`Plan`].
//!
//! # The forms and their translations
//! Inline partitions, nested to any depth, become one `CREATE TABLE` per table, parents first
//! (names, bounds, constraints and options are copied from the input as written):
//! ```text
//! CREATE TABLE t (a int, b int) PARTITION BY RANGE (a)
//! (
//!   PARTITION t1 (CONSTRAINT c1 CHECK (b > 0)) FOR VALUES FROM (0) TO (10),
//!   PARTITION t2 FOR VALUES FROM (10) TO (20) SERVER s1 WITH PUSHDOWN,
//!   PARTITION t3 DEFAULT PARTITION BY LIST (b) ( PARTITION t3_1 FOR VALUES IN (1) )
//! );
//! -- remote, on s1:  CREATE TABLE public.t2 (a int, b int)
//! -- local, in one transaction:
//! CREATE TABLE t (a int, b int) PARTITION BY RANGE (a)
//! CREATE TABLE t1 PARTITION OF t (CONSTRAINT c1 CHECK (b > 0)) FOR VALUES FROM (0) TO (10)
//! CREATE FOREIGN TABLE t2 PARTITION OF t FOR VALUES FROM (10) TO (20) SERVER s1
//! CREATE TABLE t3 PARTITION OF t DEFAULT PARTITION BY LIST (b)
//! CREATE TABLE t3_1 PARTITION OF t3 FOR VALUES IN (1)
//! -- the client sees: CREATE TABLE
//! ```
//! A foreign table with `WITH PUSHDOWN` is created on its server first:
//! ```text
//! CREATE FOREIGN TABLE f (i int, j varchar) SERVER s1
//!   OPTIONS (schema_name 'public', table_name 'f_data') WITH PUSHDOWN;
//! -- remote, on s1:  CREATE TABLE public.f_data (i int, j varchar)
//! -- local:          CREATE FOREIGN TABLE f (i int, j varchar) SERVER s1
//! --                   OPTIONS (schema_name 'public', table_name 'f_data')
//! -- the client sees: CREATE FOREIGN TABLE
//! ```
//! `INCLUDE REMOTE` drops, on their servers, the tables behind every foreign table at or under
//! the dropped tables (found with [`catalog::remote_tables_sql`]), then drops locally:
//! ```text
//! DROP TABLE t CASCADE INCLUDE REMOTE;
//! -- NOTICE:  Drop remote table 'public.t2' on foreign server 's1'
//! -- remote, on s1:  DROP TABLE public.t2 CASCADE
//! -- local:          DROP TABLE t CASCADE
//! -- the client sees: DROP TABLE
//! ```
//!
//! # Example
//! ```
//! use corepool_protocol::ddl::{parse, Step};
//!
//! let sql = "CREATE TABLE m (a int) PARTITION BY HASH (a) (
//!     PARTITION m0 FOR VALUES WITH (MODULUS 2, REMAINDER 0),
//!     PARTITION m1 FOR VALUES WITH (MODULUS 2, REMAINDER 1) SERVER s1 WITH PUSHDOWN)";
//! let plan = parse(sql).unwrap().unwrap().plan();
//! assert_eq!(plan.tag.as_str(), "CREATE TABLE");
//! let remote = plan.remote_creates().next().unwrap();
//! assert_eq!(remote.create_sql("public"), "CREATE TABLE public.m1 (a int)");
//! assert_eq!(plan.local_statements().last(),
//!            Some("CREATE FOREIGN TABLE m1 PARTITION OF m FOR VALUES WITH (MODULUS 2, REMAINDER 1) SERVER s1"));
//! assert!(parse("SELECT 1").unwrap().is_none());
//! ```
//!
//! # What it does not do
//! It checks the grammar of the enhanced clauses and the shape around them, not everything
//! PostgreSQL checks: column types, bound values, key columns and constraint bodies are copied
//! as written and PostgreSQL validates them when the local statements run.
#![forbid(unsafe_code)]

pub mod ast;
pub mod catalog;
mod create;
mod detect;
mod drop;
mod elements;
pub mod error;
mod foreign;
mod keywords;
pub mod plan;
mod quote;
mod tokens;
mod validate;

#[cfg(test)]
mod tests;

pub use ast::{DdlKind, DdlStatement};
pub use detect::{among_other_statements, is_enhanced};
pub use error::DdlError;
pub use plan::{CommandTag, ExistsCheck, Plan, RemoteCreate, RemoteDrop, Step};
pub use quote::{quote_ident, quote_literal};

use crate::sql::SqlOptions;
use detect::Form;
use tokens::Tokens;

/// How deep partitions may nest (`PARTITION BY` inside a partition inside …); deeper input is
/// refused with [`DdlError::TooDeep`] rather than risking the stack.
pub const MAX_DEPTH: usize = 64;

/// Parses one statement (an optional trailing `;` allowed) with the default
/// [`SqlOptions`]: `Ok(None)` when it is not one of the enhanced forms — forward it as it came.
///
/// # Errors
/// A [`DdlError`] when the statement is one of the enhanced forms but is malformed (a syntax
/// or lexical error, with its position), breaks one of HighGo's rules that need no catalog,
/// or needs what corepool cannot translate ([`DdlError::Unsupported`]).
pub fn parse(sql: &str) -> Result<Option<DdlStatement<'_>>, DdlError> {
    parse_with(sql, SqlOptions::default())
}

/// [`parse`], reading the text as `options` say (the session's `standard_conforming_strings`).
///
/// # Errors
/// As [`parse`].
pub fn parse_with(sql: &str, options: SqlOptions) -> Result<Option<DdlStatement<'_>>, DdlError> {
    let Some(form) = detect::detect(sql, options) else {
        return Ok(None);
    };
    let mut t = Tokens::new(sql, options)?;
    let esc = t.backslash_escapes();
    let kind = match form {
        Form::CreatePartitioned => {
            let c = create::parse(&mut t)?;
            t.finish()?;
            validate::partitioned(&c, sql, esc)?;
            DdlKind::CreatePartitioned(c)
        }
        Form::CreateForeign => {
            let c = foreign::parse(&mut t)?;
            t.finish()?;
            validate::foreign(&c, sql, esc)?;
            DdlKind::CreateForeign(c)
        }
        Form::DropRemote => {
            let d = drop::parse(&mut t)?;
            t.finish()?;
            validate::drop(&d)?;
            DdlKind::DropRemote(d)
        }
    };
    Ok(Some(DdlStatement {
        sql,
        kind,
        backslash_escapes: esc,
    }))
}
