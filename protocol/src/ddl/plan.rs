//! [`Plan`]: what the executor runs for an enhanced statement, in order.
//!
//! # How the executor runs a plan
//! 1. [`Plan::skip_if_exists`]: run its query; if it returns true, send its NOTICE and the
//!    command tag, and stop. Nothing else runs.
//! 2. `BEGIN` on the local server.
//! 3. Each [`Step::RemoteCreate`], in order: look the server up ([`server_sql`]), open (or
//!    reuse) a connection to it, `BEGIN` there and run [`RemoteCreate::create_sql`]. Keep the
//!    remote transaction open. On failure: `ROLLBACK` every remote transaction and the local
//!    one, and answer [`REMOTE_CREATE_FAILED`] with the remote error in DETAIL.
//! 4. Each [`Step::RemoteDrop`]: run [`RemoteDrop::discovery_sql`] locally; for each row, in
//!    order, send [`remote_drop_notice`], then `BEGIN` on that server (once) and run
//!    [`RemoteDrop::drop_sql`], relaying the server's notices. Keep the transactions open.
//! 5. Each [`Step::Local`], in order, in the local transaction.
//! 6. `COMMIT` each remote transaction, then the local one. If a remote `COMMIT` fails, roll
//!    back the rest; for a plan that created tables, drop again (with
//!    [`RemoteCreate::drop_sql`]) those whose servers had already committed. If the local
//!    `COMMIT` fails, do the same for all. The error says what was undone.
//!
//! Any failure before step 6 leaves nothing behind: PostgreSQL's DDL is transactional on both
//! sides. Step 6 is the only window (see the report on two-phase commit).
//!
//! [`server_sql`]: super::catalog::server_sql
//! [`remote_drop_notice`]: super::catalog::remote_drop_notice
//! [`REMOTE_CREATE_FAILED`]: super::error::REMOTE_CREATE_FAILED

use std::borrow::Cow;

use super::ast::{
    ConstraintKind, CreateForeign, CreatePartitioned, DdlKind, DdlStatement, DropBehavior,
    DropRemote, GenericOptions, Partition, PartitionConstraint, PartitionSpec, Persistence,
    QualifiedName, TableElement, TableElements,
};
use super::catalog::remote_tables_sql;
use super::quote::{ident_value, quote_ident, quote_literal, string_value};
use crate::sql::{Span, Token};

/// The command tag the client sees when the statement completes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum CommandTag {
    /// `CREATE TABLE`.
    CreateTable,
    /// `CREATE FOREIGN TABLE`.
    CreateForeignTable,
    /// `DROP TABLE`.
    DropTable,
    /// `DROP FOREIGN TABLE`.
    DropForeignTable,
}

impl CommandTag {
    /// The tag's text, as CommandComplete carries it.
    pub fn as_str(self) -> &'static str {
        match self {
            CommandTag::CreateTable => "CREATE TABLE",
            CommandTag::CreateForeignTable => "CREATE FOREIGN TABLE",
            CommandTag::DropTable => "DROP TABLE",
            CommandTag::DropForeignTable => "DROP FOREIGN TABLE",
        }
    }
}

/// The translation of one enhanced statement (see the module doc for how to run it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// The tag to answer with.
    pub tag: CommandTag,
    /// For `IF NOT EXISTS`: the check that makes the whole statement a no-op.
    pub skip_if_exists: Option<ExistsCheck>,
    /// The steps, in order: remote creations or drops first, then the local statements.
    pub steps: Vec<Step>,
}

impl Plan {
    /// The local statements, in order.
    pub fn local_statements(&self) -> impl Iterator<Item = &str> {
        self.steps.iter().filter_map(|s| match s {
            Step::Local(sql) => Some(sql.as_str()),
            _ => None,
        })
    }

    /// The remote tables to create, in order.
    pub fn remote_creates(&self) -> impl Iterator<Item = &RemoteCreate> {
        self.steps.iter().filter_map(|s| match s {
            Step::RemoteCreate(r) => Some(r),
            _ => None,
        })
    }
}

/// One step of a [`Plan`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Step {
    /// A standard statement for the local server, run in the plan's one local transaction.
    Local(String),
    /// A table to create on a foreign server before the local statements run.
    RemoteCreate(RemoteCreate),
    /// Foreign tables to find under the dropped tables and drop on their servers.
    RemoteDrop(RemoteDrop),
}

/// `IF NOT EXISTS` decided up front, so that an existing table means no remote work either.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExistsCheck {
    /// Returns one boolean: whether the relation exists in the schema the `CREATE` would use.
    pub sql: String,
    /// The NOTICE PostgreSQL sends when it skips (SQLSTATE 42P07).
    pub notice: String,
}

/// A `CREATE TABLE` to run on a foreign server (`WITH PUSHDOWN`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteCreate {
    /// The foreign server, by its catalog name.
    pub server: String,
    /// The local foreign table it backs, as the local statement names it.
    pub local_table: String,
    /// The remote schema: the `schema_name` option, else the local name's schema. `None`: the
    /// schema the local foreign table lands in, `current_schema()` ([`CURRENT_SCHEMA_SQL`]).
    ///
    /// [`CURRENT_SCHEMA_SQL`]: super::catalog::CURRENT_SCHEMA_SQL
    pub remote_schema: Option<String>,
    /// The remote table: the `table_name` option, else the local name.
    pub remote_table: String,
    /// The column list, `(name type [COLLATE c], …)`: names and types only; constraints and
    /// defaults stay local, serial types become their integer types.
    pub columns: String,
}

impl RemoteCreate {
    /// The schema the remote table goes in, given the local `current_schema()`.
    pub fn schema<'s>(&'s self, current_schema: &'s str) -> &'s str {
        self.remote_schema.as_deref().unwrap_or(current_schema)
    }

    /// The statement to run on the foreign server.
    pub fn create_sql(&self, current_schema: &str) -> String {
        format!(
            "CREATE TABLE {}.{} {}",
            quote_ident(self.schema(current_schema)),
            quote_ident(&self.remote_table),
            self.columns
        )
    }

    /// The statement that undoes [`RemoteCreate::create_sql`] after its server committed.
    pub fn drop_sql(&self, current_schema: &str) -> String {
        format!(
            "DROP TABLE {}.{}",
            quote_ident(self.schema(current_schema)),
            quote_ident(&self.remote_table)
        )
    }
}

/// `INCLUDE REMOTE`: the foreign tables under the dropped tables, dropped on their servers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteDrop {
    /// The dropped tables, as written.
    pub relations: Vec<String>,
    /// `CASCADE` was written: remote drops cascade too.
    pub cascade: bool,
    /// The local query that lists the foreign tables ([`remote_tables_sql`]).
    pub discovery_sql: String,
}

impl RemoteDrop {
    /// The statement to run on the server of one row of [`RemoteDrop::discovery_sql`].
    pub fn drop_sql(&self, remote_schema: &str, remote_table: &str) -> String {
        let cascade = if self.cascade { " CASCADE" } else { "" };
        format!(
            "DROP TABLE {}.{}{cascade}",
            quote_ident(remote_schema),
            quote_ident(remote_table)
        )
    }
}

impl DdlStatement<'_> {
    /// Translates the statement into standard PostgreSQL 15 statements and remote steps.
    pub fn plan(&self) -> Plan {
        let w = Writer {
            sql: self.sql,
            esc: self.backslash_escapes,
        };
        match &self.kind {
            DdlKind::CreatePartitioned(c) => w.partitioned(c),
            DdlKind::CreateForeign(c) => w.foreign(c),
            DdlKind::DropRemote(d) => w.drop(d),
        }
    }
}

/// Builds plans from spans of one statement's text.
struct Writer<'a> {
    sql: &'a str,
    esc: bool,
}

impl<'a> Writer<'a> {
    fn text(&self, span: Span) -> &'a str {
        span.text(self.sql)
    }

    /// `text` from `start` to `end`, with `IF NOT EXISTS` (ending where `resume` starts) cut.
    fn without(&self, start: u32, cut: Option<Span>, resume: u32, end: u32) -> String {
        match cut {
            Some(cut) => {
                let before = self.text(Span::new(start, cut.start));
                format!("{before}{}", self.text(Span::new(resume, end)))
            }
            None => self.text(Span::new(start, end)).to_owned(),
        }
    }

    fn value(&self, token: Token) -> Cow<'a, str> {
        ident_value(token, self.sql).unwrap_or_default()
    }

    fn option(&self, options: Option<&GenericOptions>, key: &str) -> Option<String> {
        let items = options.map(|o| o.items.as_slice()).unwrap_or_default();
        let option = items.iter().rev().find(|o| self.value(o.name) == key)?;
        string_value(option.value, self.sql, self.esc)
    }

    fn partitioned(&self, c: &CreatePartitioned) -> Plan {
        let parent = self.without(
            c.span.start,
            c.if_not_exists,
            c.name.span.start,
            c.spec.head.end,
        );
        let parent = match c.tail {
            Some(tail) => format!("{parent} {}", self.text(tail)),
            None => parent,
        };
        let mut out = Tree {
            persistence: c.persistence_span.map(|s| format!("{} ", self.text(s))),
            columns: self.remote_columns(&c.elements),
            remotes: Vec::new(),
            locals: vec![parent],
        };
        self.spec(&c.spec, self.text(c.name.span), &c.name, &mut out);
        let mut steps: Vec<Step> = out.remotes.into_iter().map(Step::RemoteCreate).collect();
        steps.extend(out.locals.into_iter().map(Step::Local));
        Plan {
            tag: CommandTag::CreateTable,
            skip_if_exists: c
                .if_not_exists
                .map(|_| self.exists_check(&c.name, c.persistence)),
            steps,
        }
    }

    /// Writes the partitions of `spec`, whose table is `parent`; unqualified partition names
    /// take the schema of `qualified` (the nearest qualified ancestor).
    fn spec(&self, spec: &PartitionSpec, parent: &str, qualified: &QualifiedName, out: &mut Tree) {
        for p in &spec.partitions {
            let (name, qualified) = match (p.name.qualifier(), qualified.qualifier()) {
                (None, Some(q)) => {
                    let name = format!("{}.{}", self.text(q), self.text(p.name.span));
                    (name, qualified)
                }
                _ => (self.text(p.name.span).to_owned(), &p.name),
            };
            self.partition(p, parent, &name, qualified, out);
        }
    }

    fn partition(
        &self,
        p: &Partition,
        parent: &str,
        name: &str,
        qualified: &QualifiedName,
        out: &mut Tree,
    ) {
        let constraints = self.constraints(&p.constraints);
        let bound = self.text(p.bound.span);
        if let Some(f) = &p.foreign {
            let server_clause = self.text(f.span);
            out.locals.push(format!(
                "CREATE FOREIGN TABLE {name} PARTITION OF {parent} {constraints}{bound} \
                 {server_clause}"
            ));
            if f.pushdown.is_some() {
                let options = f.options.as_ref();
                out.remotes.push(RemoteCreate {
                    server: self.value(f.server).into_owned(),
                    local_table: name.to_owned(),
                    remote_schema: self
                        .option(options, "schema_name")
                        .or_else(|| qualified.schema().map(|s| self.value(s).into_owned())),
                    remote_table: self
                        .option(options, "table_name")
                        .unwrap_or_else(|| self.value(p.name.relation()).into_owned()),
                    columns: out.columns.clone(),
                });
            }
            return;
        }
        let persistence = out.persistence.as_deref().unwrap_or_default();
        let mut local =
            format!("CREATE {persistence}TABLE {name} PARTITION OF {parent} {constraints}{bound}");
        if let Some(sub) = &p.sub {
            local.push(' ');
            local.push_str(self.text(sub.head));
        }
        out.locals.push(local);
        if let Some(sub) = &p.sub {
            self.spec(sub, name, qualified, out);
        }
    }

    /// `(c1, c2) ` for a partition's constraints, or nothing. `[CONSTRAINT n] NOT NULL col`
    /// becomes the column option `col [CONSTRAINT n] NOT NULL`.
    fn constraints(&self, constraints: &[PartitionConstraint]) -> String {
        if constraints.is_empty() {
            return String::new();
        }
        let mut out = String::from("(");
        for (i, c) in constraints.iter().enumerate() {
            if i > 0 {
                out.push_str(", ");
            }
            match (c.kind, c.column) {
                (ConstraintKind::NotNull, Some(column)) => {
                    out.push_str(self.text(column.span));
                    if let Some(name) = c.name {
                        out.push_str(" CONSTRAINT ");
                        out.push_str(self.text(name.span));
                    }
                    out.push_str(" NOT NULL");
                }
                _ => out.push_str(self.text(c.span)),
            }
        }
        out.push_str(") ");
        out
    }

    /// `(name type [COLLATE c], …)` from a column list: what the remote table gets.
    fn remote_columns(&self, elements: &TableElements) -> String {
        let mut out = String::from("(");
        for c in elements.items.iter().filter_map(|e| match e {
            TableElement::Column(c) => Some(c),
            _ => None,
        }) {
            if out.len() > 1 {
                out.push_str(", ");
            }
            match self.option(c.options.as_ref(), "column_name") {
                Some(remote) => out.push_str(&quote_ident(&remote)),
                None => out.push_str(self.text(c.name.span)),
            }
            out.push(' ');
            let type_name = self.text(c.type_name);
            out.push_str(serial_base(type_name).unwrap_or(type_name));
            if let Some(collate) = c.collate {
                out.push(' ');
                out.push_str(self.text(collate));
            }
        }
        out.push(')');
        out
    }

    fn foreign(&self, c: &CreateForeign) -> Plan {
        let end = c.options.as_ref().map_or(c.server.span.end, |o| o.span.end);
        let local = self.without(c.span.start, c.if_not_exists, c.name.span.start, end);
        let options = c.options.as_ref();
        let remote = RemoteCreate {
            server: self.value(c.server).into_owned(),
            local_table: self.text(c.name.span).to_owned(),
            remote_schema: self
                .option(options, "schema_name")
                .or_else(|| c.name.schema().map(|s| self.value(s).into_owned())),
            remote_table: self
                .option(options, "table_name")
                .unwrap_or_else(|| self.value(c.name.relation()).into_owned()),
            columns: self.remote_columns(&c.elements),
        };
        Plan {
            tag: CommandTag::CreateForeignTable,
            skip_if_exists: c
                .if_not_exists
                .map(|_| self.exists_check(&c.name, Persistence::Permanent)),
            steps: vec![Step::RemoteCreate(remote), Step::Local(local)],
        }
    }

    fn drop(&self, d: &DropRemote) -> Plan {
        let last_name = d.names.last().map_or(d.span.start, |n| n.span.end);
        let end = d.behavior.map_or(last_name, |(_, span)| span.end);
        let relations: Vec<String> = d
            .names
            .iter()
            .map(|n| self.text(n.span).to_owned())
            .collect();
        let remote = RemoteDrop {
            cascade: matches!(d.behavior, Some((DropBehavior::Cascade, _))),
            discovery_sql: remote_tables_sql(&relations),
            relations,
        };
        Plan {
            tag: if d.foreign {
                CommandTag::DropForeignTable
            } else {
                CommandTag::DropTable
            },
            skip_if_exists: None,
            steps: vec![
                Step::RemoteDrop(remote),
                Step::Local(self.text(Span::new(d.span.start, end)).to_owned()),
            ],
        }
    }

    /// Whether `name` exists where the `CREATE` would put it, as PostgreSQL's own `IF NOT
    /// EXISTS` checks: the named schema, the session's temporary schema, or `current_schema()`.
    fn exists_check(&self, name: &QualifiedName, persistence: Persistence) -> ExistsCheck {
        let relation = self.value(name.relation());
        let namespace = match (name.schema(), persistence) {
            (Some(schema), _) => format!(
                "(SELECT n.oid FROM pg_catalog.pg_namespace AS n WHERE n.nspname = {})",
                quote_literal(&self.value(schema))
            ),
            (None, Persistence::Temporary) => "pg_catalog.pg_my_temp_schema()".to_owned(),
            (None, _) => "(SELECT n.oid FROM pg_catalog.pg_namespace AS n \
                          WHERE n.nspname = pg_catalog.current_schema())"
                .to_owned(),
        };
        ExistsCheck {
            sql: format!(
                "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_class AS c WHERE c.relname = {} \
                 AND c.relnamespace = {namespace})",
                quote_literal(&relation)
            ),
            notice: format!("relation \"{relation}\" already exists, skipping"),
        }
    }
}

/// What a partitioned `CREATE` accumulates while walking its partitions.
struct Tree {
    persistence: Option<String>,
    columns: String,
    remotes: Vec<RemoteCreate>,
    locals: Vec<String>,
}

/// The integer type behind a serial type name, which the remote table must not get (it would
/// make a remote sequence the local default never uses).
fn serial_base(type_name: &str) -> Option<&'static str> {
    const SERIALS: [(&str, &str); 6] = [
        ("serial", "integer"),
        ("serial4", "integer"),
        ("bigserial", "bigint"),
        ("serial8", "bigint"),
        ("smallserial", "smallint"),
        ("serial2", "smallint"),
    ];
    SERIALS
        .iter()
        .find(|(serial, _)| type_name.eq_ignore_ascii_case(serial))
        .map(|&(_, base)| base)
}
