//! Syntax errors, in PostgreSQL's words and at the right position.
//!
//! `‸` marks where each error must point; it is removed before parsing.

use super::error;
use crate::ddl::DdlError;
use crate::sql::SqlErrorKind;

const MARK: char = '‸';
const P: &str = "CREATE TABLE p (a int) PARTITION BY RANGE (a) ";
const F: &str = "CREATE FOREIGN TABLE f (a int) ";

/// (input with `‸`, the text after "at or near", or `None` for "at end of input").
const SYNTAX: &[(&str, Option<&str>)] = &[
    // 4.2.1: WITH PUSHDOWN "cannot be placed before OPTIONS or before SERVER".
    ("‸WITH PUSHDOWN SERVER s1", Some("WITH")),
    (
        "SERVER s1 WITH PUSHDOWN ‸OPTIONS (table_name 'x')",
        Some("OPTIONS"),
    ),
    ("SERVER ‸WITH PUSHDOWN", Some("WITH")),
    ("SERVER s1 WITH PUSHDOWN ‸PUSHDOWN", Some("PUSHDOWN")),
    ("SERVER s1 OPTIONS (table_name ‸x) WITH PUSHDOWN", Some("x")),
    ("SERVER s1 OPTIONS (‸) WITH PUSHDOWN", Some(")")),
    (
        "SERVER s1 OPTIONS (table_name ‸N'x') WITH PUSHDOWN",
        Some("N"),
    ),
    // 4.2.2 / 4.2.3: the clause ends a partition; it needs SERVER before it.
    (
        "(PARTITION p1 FOR VALUES FROM (1) TO (10) ‸WITH PUSHDOWN)",
        Some("WITH"),
    ),
    (
        "(PARTITION p1 FOR VALUES FROM (1) TO (10) ‸WITH PUSHDOWN SERVER s1)",
        Some("WITH"),
    ),
    (
        "(PARTITION p1 DEFAULT SERVER s1 WITH PUSHDOWN ‸OPTIONS (table_name 'x'))",
        Some("OPTIONS"),
    ),
    ("(PARTITION p1 DEFAULT SERVER s1 WITH ‸)", Some(")")),
    // The guide's 4.2.3 general rule forgets DEFAULT before SERVER.
    ("(PARTITION p1 ‸SERVER s1 WITH PUSHDOWN)", Some("SERVER")),
    // Constraints go right after the partition name.
    (
        "(PARTITION p1 FOR VALUES FROM (1) TO (10) ‸(CHECK (a > 0)))",
        Some("("),
    ),
    ("(PARTITION p1 (‸) DEFAULT)", Some(")")),
    ("(PARTITION p1 (CONSTRAINT c‸) DEFAULT)", Some(")")),
    (
        "(PARTITION p1 (CONSTRAINT c ‸a NOT NULL) DEFAULT)",
        Some("a"),
    ),
    ("(PARTITION p1 (CHECK ‸a > 0) DEFAULT)", Some("a")),
    ("(PARTITION p1 (PRIMARY ‸(a)) DEFAULT)", Some("(")),
    ("(PARTITION p1 (FOREIGN KEY (a) ‸f (b)) DEFAULT)", Some("f")),
    ("(PARTITION p1 (NOT NULL a ‸b) DEFAULT)", Some("b")),
    // Partition lists and bounds.
    ("(‸)", Some(")")),
    ("(PARTITION p1 DEFAULT,‸)", Some(")")),
    ("(PARTITION p1 DEFAULT PARTITION ‸p2 DEFAULT)", Some("p2")),
    ("(PARTITION ‸DEFAULT)", Some("DEFAULT")),
    ("(‸p1 DEFAULT)", Some("p1")),
    (
        "(PARTITION p1 FOR VALUES ‸BETWEEN 1 AND 2)",
        Some("BETWEEN"),
    ),
    ("(PARTITION p1 FOR VALUES FROM (1)‸)", Some(")")),
    ("(PARTITION p1 FOR VALUES FROM (‸) TO (1))", Some(")")),
    ("(PARTITION p1 FOR VALUES IN (1‸", None),
    (
        "(PARTITION p1 FOR VALUES WITH (MODULUS 3 ‸REMAINDER 0))",
        Some("REMAINDER"),
    ),
    (
        "(PARTITION p1 FOR VALUES WITH (MODULUS 3, REMAINDER‸))",
        Some(")"),
    ),
    ("(PARTITION p1 DEFAULT PARTITION BY LIST (a)‸)", Some(")")),
    (
        "(PARTITION p1 DEFAULT PARTITION BY ‸KEY (a) (PARTITION p2 DEFAULT))",
        Some("KEY"),
    ),
    ("(PARTITION p1 DEFAULT) ‸garbage", Some("garbage")),
    (
        "(PARTITION p1 DEFAULT) TABLESPACE ts ‸USING heap",
        Some("USING"),
    ),
    ("(PARTITION p1 DEFAULT) ON COMMIT ‸KEEP ROWS", Some("KEEP")),
    ("(PARTITION p1 DEFAULT‸", None),
    ("(PARTITION p1 DEFAULT -- the end\n‸", None),
    ("(PARTITION p1 DEFAULT ‸; )", Some(";")),
    ("(PARTITION p1 DEFAULT SERVER ‸select)", Some("select")),
    ("(PARTITION s.p1.x‸.y DEFAULT)", Some(".")),
];

/// Whole statements, for the parts before the enhanced clauses.
const STATEMENTS: &[(&str, Option<&str>)] = &[
    // 4.3.3: CASCADE "must be placed before INCLUDE REMOTE and after table_name".
    ("DROP TABLE t INCLUDE REMOTE ‸CASCADE", Some("CASCADE")),
    ("DROP TABLE CASCADE ‸t INCLUDE REMOTE", Some("t")),
    (
        "DROP TABLE t CASCADE ‸RESTRICT INCLUDE REMOTE",
        Some("RESTRICT"),
    ),
    ("DROP TABLE INCLUDE ‸REMOTE", Some("REMOTE")),
    ("DROP FOREIGN TABLE IF ‸t INCLUDE REMOTE", Some("t")),
    ("DROP TABLE t, ‸, u INCLUDE REMOTE", Some(",")),
    ("DROP TABLE ‸select INCLUDE REMOTE", Some("select")),
    ("DROP TABLE t ‸(a) INCLUDE REMOTE", Some("(")),
    (
        "CREATE GLOBAL ‸TABLE t (a int) PARTITION BY LIST (a) (PARTITION p DEFAULT)",
        Some("TABLE"),
    ),
    (
        "CREATE TABLE t (a int,‸) PARTITION BY LIST (a) (PARTITION p DEFAULT)",
        Some(")"),
    ),
    (
        "CREATE TABLE t (a‸) PARTITION BY LIST (a) (PARTITION p DEFAULT)",
        Some(")"),
    ),
    (
        "CREATE TABLE t (a ‸NOT NULL) PARTITION BY LIST (a) (PARTITION p DEFAULT)",
        Some("NOT"),
    ),
    (
        "CREATE TABLE t (a int) PARTITION BY LIST (‸) (PARTITION p DEFAULT)",
        Some(")"),
    ),
    (
        "CREATE TABLE ‸(a int) PARTITION BY LIST (a) (PARTITION p DEFAULT)",
        Some("("),
    ),
    (
        "CREATE TABLE t ‸PARTITION OF u PARTITION BY LIST (a) (PARTITION p DEFAULT)",
        Some("PARTITION"),
    ),
    (
        "CREATE FOREIGN TABLE f (a int) ‸OPTIONS (x 'y') SERVER s WITH PUSHDOWN",
        Some("OPTIONS"),
    ),
];

fn check(input: &str, near: Option<&str>) {
    let at = input.find(MARK).expect("a mark");
    let sql = input.replace(MARK, "");
    let e = error(&sql);
    let want = match near {
        Some(near) => DdlError::Syntax {
            near: near.to_owned(),
            position: at,
        },
        None => DdlError::SyntaxAtEnd {
            position: sql.len(),
        },
    };
    assert_eq!(e, want, "{input}");
    assert_eq!(
        e.pg_position(&sql),
        sql[..at].chars().count() + 1,
        "{input}"
    );
    assert!(e.has_client_position());
    match near {
        Some(near) => assert_eq!(e.to_string(), format!("syntax error at or near \"{near}\"")),
        None => assert_eq!(e.to_string(), "syntax error at end of input"),
    }
}

#[test]
fn misplaced_clauses_are_syntax_errors_at_their_position() {
    for &(tail, near) in SYNTAX {
        let prefix = if tail.starts_with('(') { P } else { F };
        check(&format!("{prefix}{tail}"), near);
    }
    for &(input, near) in STATEMENTS {
        check(input, near);
    }
}

#[test]
fn lexical_errors_read_like_postgres() {
    let sql = format!("{P}(PARTITION p1 FOR VALUES IN ('x))");
    let at = sql.find('\'').unwrap();
    assert_eq!(
        error(&sql),
        DdlError::Lexical {
            kind: SqlErrorKind::UnterminatedQuotedString,
            near: "'x))".into(),
            position: at,
        }
    );
    assert_eq!(
        error(&sql).to_string(),
        "unterminated quoted string at or near \"'x))\""
    );
}

#[test]
fn a_second_statement_is_refused() {
    let sql = format!("{P}(PARTITION p1 DEFAULT); SELECT 1");
    assert_eq!(
        error(&sql),
        DdlError::TrailingStatement {
            position: sql.find("SELECT").unwrap()
        }
    );
}

#[test]
fn nesting_is_bounded() {
    let mut sql = String::from(P);
    for i in 0..crate::ddl::MAX_DEPTH + 1 {
        sql.push_str(&format!("(PARTITION p{i} DEFAULT PARTITION BY LIST (a) "));
    }
    sql.push_str("(PARTITION leaf DEFAULT");
    sql.push_str(&")".repeat(crate::ddl::MAX_DEPTH + 2));
    let e = error(&sql);
    assert!(matches!(e, DdlError::TooDeep { .. }), "{e:?}");
    assert!(!e.has_client_position());
}

#[test]
fn what_needs_a_catalog_is_refused_with_its_position() {
    for (sql, at, what) in [
        (
            "CREATE FOREIGN TABLE f PARTITION OF t DEFAULT SERVER s WITH PUSHDOWN",
            "PARTITION",
            "PARTITION OF",
        ),
        (
            "CREATE FOREIGN TABLE f (a int) INHERITS (t) SERVER s WITH PUSHDOWN",
            "INHERITS",
            "INHERITS",
        ),
        (
            "CREATE FOREIGN TABLE f (LIKE t) SERVER s WITH PUSHDOWN",
            "LIKE",
            "LIKE",
        ),
        (
            "CREATE TABLE t (LIKE u) PARTITION BY LIST (a) (PARTITION p DEFAULT SERVER s WITH PUSHDOWN)",
            "LIKE",
            "LIKE",
        ),
        (
            "DROP TABLE U&\"t\" INCLUDE REMOTE",
            "U&",
            "U&",
        ),
        (
            "CREATE FOREIGN TABLE f (a int) SERVER s OPTIONS (table_name U&'x') WITH PUSHDOWN",
            "U&'",
            "OPTIONS",
        ),
    ] {
        let e = error(sql);
        assert!(matches!(e, DdlError::Unsupported { .. }), "{sql}: {e:?}");
        assert_eq!(e.position(), sql.find(at).unwrap(), "{sql}");
        assert!(e.to_string().contains(what), "{sql}: {e}");
        assert_eq!(e.sqlstate(), crate::sqlstate::FEATURE_NOT_SUPPORTED);
    }
}
