//! What a request means for the query cache, from its SQL text alone: the tables it writes,
//! whether it is a SELECT Pgpool-II would cache (and what it reads and calls), and how it
//! changes the session state a cache key must include (SET, RESET, temporary tables).

use corepool_protocol::sql::{classify, ident, split, DdlVerb, DiscardTarget, StatementKind};

/// A table reference: schema (when written) and table, normalized.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TableRef {
    /// The schema as written (`None` when unqualified).
    pub schema: Option<String>,
    /// The table name.
    pub table: String,
}

/// A SELECT shaped as Pgpool-II caches it; the session still checks its tables and functions.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Read {
    /// The relations it reads.
    pub relations: Vec<TableRef>,
    /// The functions it calls (unqualified, normalized).
    pub functions: Vec<String>,
}

/// How a statement changes what a cache key must include, or what a later statement writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Effect {
    /// `SET name = value` (session level).
    Set {
        /// Lower-case name as written.
        name: String,
        /// The value as written.
        value: String,
    },
    /// `SET LOCAL …`: the transaction's settings are not tracked; no caching until it ends.
    SetLocal,
    /// `RESET name`, or `RESET ALL` with `None`.
    Reset(Option<String>),
    /// `DISCARD ALL`.
    DiscardAll,
    /// `CREATE TEMP TABLE name` or `SELECT … INTO TEMP name`.
    TempTable(String),
    /// The session's settings changed in a way corepool cannot follow (`set_config()`).
    Untrackable,
    /// `PREPARE name AS …` that writes these tables (or everything).
    Prepare {
        /// The statement's name, lower-case.
        name: String,
        /// The tables it writes.
        writes: Vec<String>,
        /// It writes what cannot be named.
        all: bool,
    },
    /// `EXECUTE name`.
    Execute(String),
    /// `DEALLOCATE name`, or `DEALLOCATE ALL` with `None`.
    Deallocate(Option<String>),
}

/// What one query string means for the cache.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Analysis {
    /// Tables written (unqualified, normalized).
    pub writes: Vec<String>,
    /// It may write tables that cannot be named (DO, CALL, DDL without a table…).
    pub writes_all: bool,
    /// The string is one SELECT Pgpool-II would cache.
    pub read: Option<Read>,
    /// Session changes, in order.
    pub effects: Vec<Effect>,
    /// The string holds more than one statement (run as one implicit transaction).
    pub multi: bool,
}

/// Analyses a query string (every statement of it).
pub(crate) fn analyze(sql: &str) -> Analysis {
    let mut out = Analysis::default();
    let spans: Vec<_> = split(sql).filter_map(Result::ok).collect();
    let single = spans.len() <= 1;
    out.multi = !single;
    for span in spans {
        let text = span.text(sql);
        statement(text, single, &mut out);
    }
    out
}

fn name_of(text: &str) -> Option<TableRef> {
    let parts: Vec<String> = ident::name_parts(text)
        .map(|p| p.normalized().into_owned())
        .collect();
    let mut parts = parts.into_iter().rev();
    let table = parts.next()?;
    Some(TableRef {
        schema: parts.next(),
        table,
    })
}

fn statement(sql: &str, single: bool, out: &mut Analysis) {
    let Ok(c) = classify(sql) else {
        return;
    };
    let mut wrote = Vec::new();
    for r in c.relations.iter().filter(|r| r.written) {
        if let Some(t) = name_of(r.name.text(sql)) {
            wrote.push(t.table);
        }
    }
    let functions: Vec<String> = c
        .functions
        .iter()
        .filter_map(|f| ident::unqualified(f.text(sql)).map(|n| n.normalized().into_owned()))
        .collect();
    if functions.iter().any(|f| f == "set_config") {
        out.effects.push(Effect::Untrackable);
    }
    let all = match c.kind {
        StatementKind::Do | StatementKind::Call => true,
        // Schema and privilege changes invalidate everything (and with it what each core
        // learnt from the catalog); TRUNCATE only its tables; REINDEX, CLUSTER and COMMENT
        // change no result.
        StatementKind::Ddl(DdlVerb::Truncate) => wrote.is_empty(),
        StatementKind::Ddl(DdlVerb::Reindex | DdlVerb::Cluster | DdlVerb::Comment) => false,
        StatementKind::Ddl(_) => true,
        _ => c.data_modifying_cte && wrote.is_empty(),
    };
    match c.kind {
        StatementKind::Select if single && !c.multi_statement && !c.data_modifying_cte => {
            out.read = Some(Read {
                relations: c
                    .relations
                    .iter()
                    .filter_map(|r| name_of(r.name.text(sql)))
                    .collect(),
                functions,
            });
        }
        StatementKind::Set {
            local, name, value, ..
        } => out.effects.push(if local {
            Effect::SetLocal
        } else {
            Effect::Set {
                name: name.text(sql).to_ascii_lowercase(),
                value: value.map(|v| v.text(sql).to_owned()).unwrap_or_default(),
            }
        }),
        StatementKind::Reset { name } => out.effects.push(Effect::Reset(
            name.map(|n| n.text(sql).to_ascii_lowercase()),
        )),
        StatementKind::Discard(DiscardTarget::All) => out.effects.push(Effect::DiscardAll),
        StatementKind::Prepare { name, .. } => {
            out.effects.push(Effect::Prepare {
                name: name.text(sql).to_ascii_lowercase(),
                writes: std::mem::take(&mut wrote),
                all,
            });
            return;
        }
        StatementKind::Execute { name } => out
            .effects
            .push(Effect::Execute(name.text(sql).to_ascii_lowercase())),
        StatementKind::Deallocate { name } => out
            .effects
            .push(Effect::Deallocate(name.map(|n| n.text(sql).to_owned()))),
        _ => {}
    }
    if c.creates_temp_table {
        if let Some(t) = c.relations.first().and_then(|r| name_of(r.name.text(sql))) {
            out.effects.push(Effect::TempTable(t.table));
        }
    }
    out.writes_all |= all;
    for t in wrote {
        if !out.writes.contains(&t) {
            out.writes.push(t);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(table: &str) -> TableRef {
        TableRef {
            schema: None,
            table: table.into(),
        }
    }

    #[test]
    fn table_of_requests_and_what_they_mean_for_the_cache() {
        let a = analyze("SELECT a FROM t JOIN public.u ON true WHERE f(a) > 1");
        let read = a.read.expect("a cacheable shape");
        assert_eq!(read.relations[0], t("t"));
        assert_eq!(read.relations[1].schema.as_deref(), Some("public"));
        assert_eq!(read.functions, ["f"]);
        assert!(a.writes.is_empty() && !a.writes_all);

        let cases: &[(&str, &[&str], bool)] = &[
            ("UPDATE t SET a = 1", &["t"], false),
            ("insert into \"T2\" values (1)", &["T2"], false),
            ("DELETE FROM s.t USING u WHERE true", &["t"], false),
            ("TRUNCATE t, u", &["t", "u"], false),
            ("ALTER TABLE t ADD COLUMN b int", &["t"], true),
            ("DROP TABLE t", &["t"], true),
            ("CREATE VIEW v AS SELECT 1", &[], true),
            ("REINDEX TABLE t", &[], false),
            (
                "WITH x AS (UPDATE t SET a = 2 RETURNING a) SELECT * FROM x",
                &["t"],
                false,
            ),
            ("SELECT 1; UPDATE u SET a = 1", &["u"], false),
            ("DO $$ BEGIN END $$", &[], true),
            ("CALL p()", &[], true),
            ("GRANT SELECT ON t TO bob", &[], true),
        ];
        for (sql, writes, all) in cases {
            let a = analyze(sql);
            assert_eq!(a.writes, *writes, "{sql}");
            assert_eq!(a.writes_all, *all, "{sql}");
        }
        for sql in [
            "SELECT * FROM t FOR UPDATE",
            "SELECT * FROM t FOR SHARE",
            "SELECT 1; SELECT 2",
            "WITH x AS (DELETE FROM t RETURNING *) SELECT * FROM x",
            "SELECT * INTO t2 FROM t",
            "UPDATE t SET a = 1",
        ] {
            assert_eq!(analyze(sql).read, None, "{sql}");
        }
    }

    #[test]
    fn session_changes_are_followed() {
        assert_eq!(
            analyze("SET search_path = s1, public").effects,
            [Effect::Set {
                name: "search_path".into(),
                value: "s1, public".into()
            }]
        );
        assert_eq!(
            analyze("SET LOCAL search_path = s1").effects,
            [Effect::SetLocal]
        );
        assert_eq!(analyze("RESET ALL").effects, [Effect::Reset(None)]);
        assert_eq!(analyze("DISCARD ALL").effects, [Effect::DiscardAll]);
        assert_eq!(
            analyze("SELECT set_config('search_path', 's2', false)").effects,
            [Effect::Untrackable]
        );
        assert_eq!(
            analyze("CREATE TEMP TABLE tt (a int)").effects,
            [Effect::TempTable("tt".into())]
        );
        assert!(matches!(
            &analyze("PREPARE w AS UPDATE t SET a = 1").effects[..],
            [Effect::Prepare { name, writes, .. }] if name == "w" && writes == &["t"]
        ));
        assert_eq!(analyze("EXECUTE w").effects, [Effect::Execute("w".into())]);
    }
}
