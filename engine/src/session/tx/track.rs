//! What a statement does to the session state transaction pooling carries: parameters set or
//! reset, and state that cannot move between backends (which pins the client to its backend).
//!
//! Only statements whose first keyword may matter are classified (the relay stops at those);
//! a multi-statement Query is read statement by statement.

use corepool_protocol::sql::{self, classify, contains_ignore_case, Head, StatementKind};

use crate::backend::params::Value;

/// One effect of a statement on the session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// `SET name = value` (not `SET LOCAL`).
    Set(String, Value),
    /// `RESET name` or `SET name TO DEFAULT`.
    Reset(String),
    /// `RESET ALL`, `DISCARD ALL`: back to the start-up parameters.
    ResetAll,
    /// State that lives on this backend only: the client stays on it for its session.
    Pin(&'static str),
    /// `ROLLBACK`: the transaction's SETs are undone.
    Rollback,
    /// `ROLLBACK TO SAVEPOINT`: some of the transaction's SETs are undone.
    RollbackToSavepoint,
}

/// Whether a statement starting with `head` may have an effect worth classifying.
pub fn may_matter(head: Head, text: &[u8]) -> bool {
    match head {
        Head::Set
        | Head::Reset
        | Head::Discard
        | Head::Listen
        | Head::Prepared
        | Head::Declare
        | Head::Load
        | Head::Create
        | Head::Rollback => true,
        Head::Select | Head::With | Head::Values => contains_ignore_case(text, b"advisory"),
        _ => false,
    }
}

/// The effects of query string `text`, in order.
pub fn effects(text: &str) -> Vec<Effect> {
    let mut out = Vec::new();
    for span in sql::split(text) {
        // Text that does not even lex: the server will refuse it; nothing more to track.
        let Ok(span) = span else { break };
        let stmt = span.text(text);
        if !may_matter(sql::head(stmt.as_bytes()), stmt.as_bytes()) {
            continue;
        }
        if let Ok(c) = classify(stmt) {
            if let Some(e) = effect(stmt, &c) {
                out.push(e);
            }
        }
    }
    out
}

/// Session-level advisory lock functions (the `_xact_` ones end with their transaction).
const ADVISORY: [&str; 4] = [
    "pg_advisory_lock",
    "pg_advisory_lock_shared",
    "pg_try_advisory_lock",
    "pg_try_advisory_lock_shared",
];

fn effect(stmt: &str, c: &sql::Classification) -> Option<Effect> {
    if c.creates_temp_table {
        return Some(Effect::Pin("a temporary table"));
    }
    if c.functions.iter().any(|f| {
        let name = f.text(stmt);
        let name = name.rsplit('.').next().unwrap_or(name);
        ADVISORY.iter().any(|a| a.eq_ignore_ascii_case(name))
    }) {
        return Some(Effect::Pin("a session advisory lock"));
    }
    match c.kind {
        StatementKind::Set { local: true, .. } => None,
        StatementKind::Set {
            name,
            value: Some(value),
            ..
        } => {
            let name = parameter_name(name.text(stmt))?;
            if name == "role" || name == "session authorization" {
                return Some(Effect::Pin("SET ROLE / SET SESSION AUTHORIZATION"));
            }
            let value = value.text(stmt).trim();
            if value.eq_ignore_ascii_case("default") {
                Some(Effect::Reset(name))
            } else {
                Some(Effect::Set(name, Value::Sql(value.to_owned())))
            }
        }
        StatementKind::Set { value: None, .. } => Some(Effect::Pin("SET … FROM CURRENT")),
        StatementKind::SetTransaction { session: true, .. } => {
            Some(Effect::Pin("SET SESSION CHARACTERISTICS"))
        }
        StatementKind::Reset { name: None } => Some(Effect::ResetAll),
        StatementKind::Reset { name: Some(name) } => {
            let name = parameter_name(name.text(stmt))?;
            if name == "role" || name == "session authorization" {
                return Some(Effect::Pin("RESET ROLE / SESSION AUTHORIZATION"));
            }
            Some(Effect::Reset(name))
        }
        StatementKind::Discard(_) if contains_ignore_case(stmt.as_bytes(), b"all") => {
            Some(Effect::ResetAll)
        }
        StatementKind::Listen => Some(Effect::Pin("LISTEN")),
        StatementKind::Rollback => Some(Effect::Rollback),
        StatementKind::RollbackTo => Some(Effect::RollbackToSavepoint),
        StatementKind::Declare { .. } if with_hold(stmt) => Some(Effect::Pin("a WITH HOLD cursor")),
        StatementKind::Prepare { .. }
        | StatementKind::Execute { .. }
        | StatementKind::Deallocate { .. } => Some(Effect::Pin("an SQL prepared statement")),
        _ if sql::head(stmt.as_bytes()) == Head::Load => Some(Effect::Pin("LOAD")),
        _ => None,
    }
}

/// The parameter a SET names, as PostgreSQL knows it: unquoted names fold to lower case; the
/// special forms map to their parameters.
fn parameter_name(written: &str) -> Option<String> {
    let lower = written.trim().to_ascii_lowercase();
    let words: Vec<&str> = lower.split_whitespace().collect();
    Some(match words.as_slice() {
        ["time", "zone"] => "timezone".into(),
        ["names"] => "client_encoding".into(),
        ["schema"] => "search_path".into(),
        ["session", "authorization"] => "session authorization".into(),
        [one] => one.trim_matches('"').to_owned(),
        _ => return None,
    })
}

fn with_hold(stmt: &str) -> bool {
    let lower = stmt.to_ascii_lowercase();
    let words: Vec<&str> = lower.split_whitespace().collect();
    words.windows(2).any(|w| w == ["with", "hold"])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(sql: &str) -> Option<Effect> {
        let mut e = effects(sql);
        assert!(e.len() <= 1, "{sql}: {e:?}");
        e.pop()
    }

    #[test]
    fn sets_and_resets_are_tracked_and_local_ones_ignored() {
        let set = |n: &str, v: &str| Some(Effect::Set(n.into(), Value::Sql(v.into())));
        assert_eq!(one("SET search_path = a, b"), set("search_path", "a, b"));
        assert_eq!(
            one("set SESSION statement_timeout to '5s'"),
            set("statement_timeout", "'5s'")
        );
        assert_eq!(one("SET TIME ZONE 'UTC'"), set("timezone", "'UTC'"));
        assert_eq!(
            one("SET application_name = DEFAULT"),
            Some(Effect::Reset("application_name".into()))
        );
        assert_eq!(one("SET LOCAL work_mem = '1GB'"), None);
        assert_eq!(
            one("RESET work_mem"),
            Some(Effect::Reset("work_mem".into()))
        );
        assert_eq!(one("RESET ALL"), Some(Effect::ResetAll));
        assert_eq!(one("DISCARD ALL"), Some(Effect::ResetAll));
        assert_eq!(one("SET TRANSACTION ISOLATION LEVEL SERIALIZABLE"), None);
        assert_eq!(one("ROLLBACK"), Some(Effect::Rollback));
        assert_eq!(
            one("rollback to savepoint s"),
            Some(Effect::RollbackToSavepoint)
        );
    }

    #[test]
    fn state_that_cannot_move_pins() {
        for sql in [
            "LISTEN ch",
            "CREATE TEMP TABLE t (a int)",
            "create temporary table t as select 1",
            "SELECT pg_advisory_lock(1)",
            "select pg_catalog.pg_try_advisory_lock_shared(1, 2)",
            "DECLARE c CURSOR WITH HOLD FOR SELECT 1",
            "SET ROLE admin",
            "SET SESSION AUTHORIZATION bob",
            "RESET ROLE",
            "SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY",
            "PREPARE p AS SELECT 1",
            "LOAD 'auto_explain'",
            "SET search_path FROM CURRENT",
        ] {
            assert!(matches!(one(sql), Some(Effect::Pin(_))), "{sql}");
        }
        for sql in [
            "SELECT pg_advisory_xact_lock(1)",
            "DECLARE c CURSOR FOR SELECT 1",
            "UNLISTEN *",
            "CREATE TABLE t (a int)",
            "SELECT 'advisory'",
        ] {
            assert_eq!(one(sql), None, "{sql}");
        }
    }

    #[test]
    fn every_statement_of_a_query_string_counts_in_order() {
        assert_eq!(
            effects("SET a = 1; SELECT 1; LISTEN x; RESET b"),
            vec![
                Effect::Set("a".into(), Value::Sql("1".into())),
                Effect::Pin("LISTEN"),
                Effect::Reset("b".into()),
            ]
        );
        assert!(effects("SELECT 1").is_empty());
        assert!(effects("SELECT 'unterminated").is_empty());
    }

    #[test]
    fn only_statements_that_may_matter_are_classified() {
        assert!(!may_matter(sql::head(b"SELECT 1"), b"SELECT 1"));
        assert!(!may_matter(
            sql::head(b"UPDATE t SET a = 1"),
            b"UPDATE t SET a = 1"
        ));
        assert!(may_matter(sql::head(b"SET x = 1"), b"SET x = 1"));
        assert!(may_matter(
            sql::head(b"select pg_advisory_lock(1)"),
            b"select pg_advisory_lock(1)"
        ));
    }
}
