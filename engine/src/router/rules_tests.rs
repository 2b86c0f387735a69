//! Table tests of the routing rules against Pgpool-II's documented behaviour.

use corepool_protocol::message::TransactionStatus::{self, Idle, InTransaction};
use corepool_protocol::sql::classify;

use super::*;

fn rules() -> Rules {
    Rules::from_config(&Config::default())
}

fn route(r: &Rules, f: &SessionFlags, sql: &str, status: TransactionStatus) -> Decision {
    decide(r, f, sql, &classify(sql), status)
}

fn is_balanced(d: &Decision) -> bool {
    matches!(d, Decision::Balance(_))
}

#[test]
fn statements_route_like_pgpool() {
    let r = rules();
    let f = SessionFlags::default();
    let balanced = [
        "SELECT * FROM t WHERE id = 1",
        "select 1",
        "(SELECT 1)",
        "WITH x AS (SELECT 1) SELECT * FROM x",
        "TABLE t",
        "SHOW work_mem",
        "  SELECT 1",
        "",
        "SELECT lower(name) FROM t",
    ];
    for sql in balanced {
        assert!(is_balanced(&route(&r, &f, sql, Idle)), "{sql} is balanced");
    }
    let primary = [
        "INSERT INTO t VALUES (1)",
        "UPDATE t SET a = 1",
        "DELETE FROM t",
        "SELECT * FROM t FOR UPDATE",
        "SELECT * FROM t FOR SHARE",
        "SELECT * INTO t2 FROM t",
        "WITH d AS (DELETE FROM t RETURNING *) SELECT * FROM d",
        "CREATE TABLE x (a int)",
        "SELECT 1; SELECT 2",
        "/* comment */ SELECT 1",
        "-- c\nSELECT 1",
        "SELECT * FROM pg_catalog.pg_class",
        "SELECT * FROM pg_stat_activity",
        "COPY t FROM STDIN",
        "VALUES (1)",
        "EXPLAIN SELECT 1",
        "LOCK TABLE t IN ROW EXCLUSIVE MODE",
        "SET transaction_read_only = off",
        "SET TRANSACTION ISOLATION LEVEL SERIALIZABLE",
        "PREPARE TRANSACTION 'x'",
        "NOTIFY c",
        "SELECT 'unterminated",
    ];
    for sql in primary {
        assert_eq!(
            route(&r, &f, sql, Idle),
            Decision::Primary,
            "{sql} goes to the primary"
        );
    }
    for sql in [
        "BEGIN",
        "COMMIT",
        "ROLLBACK",
        "SAVEPOINT a",
        "SET search_path = x",
        "DISCARD ALL",
        "DEALLOCATE ALL",
        "LOCK t IN ACCESS SHARE MODE",
    ] {
        assert_eq!(
            route(&r, &f, sql, Idle),
            Decision::All { standby_text: None },
            "{sql} goes to all"
        );
    }
    for sql in [
        "BEGIN READ WRITE",
        "BEGIN ISOLATION LEVEL SERIALIZABLE",
        "START TRANSACTION READ WRITE",
    ] {
        assert_eq!(
            route(&r, &f, sql, Idle),
            Decision::All {
                standby_text: Some("BEGIN")
            },
            "{sql}"
        );
    }
}

#[test]
fn comments_balance_with_allow_sql_comments() {
    let mut r = rules();
    r.allow_sql_comments = true;
    assert!(is_balanced(&route(
        &r,
        &SessionFlags::default(),
        "/* hint */ SELECT 1",
        Idle
    )));
}

#[test]
fn functions_need_volatility_unless_listed() {
    let r = rules();
    let f = SessionFlags::default();
    match route(&r, &f, "SELECT nextval('s'), lower('A')", Idle) {
        Decision::Balance(c) => assert_eq!(c.functions.as_slice(), ["nextval", "lower"]),
        other => panic!("{other:?}"),
    }
    let mut listed = rules();
    listed.write_functions = PatternList::compile(&["nextval".into(), "setval".into()]);
    assert_eq!(
        route(&listed, &f, "SELECT nextval('s')", Idle),
        Decision::Primary
    );
    assert!(is_balanced(&route(&listed, &f, "SELECT lower('A')", Idle)));
}

#[test]
fn primary_routing_patterns_send_matches_to_the_primary() {
    let mut r = rules();
    r.primary_patterns = PatternList::compile(&["select .* from orders.*".into()]);
    assert_eq!(
        route(&r, &SessionFlags::default(), "SELECT * FROM orders", Idle),
        Decision::Primary
    );
    assert!(is_balanced(&route(
        &r,
        &SessionFlags::default(),
        "SELECT * FROM items",
        Idle
    )));
}

#[test]
fn a_write_in_a_transaction_keeps_later_reads_on_the_primary_until_it_ends() {
    let r = rules();
    let mut f = SessionFlags::default();
    let begin = classify("BEGIN").ok();
    f.after(&r, begin.as_ref(), "BEGIN", false, true, InTransaction);
    assert!(
        is_balanced(&route(&r, &f, "SELECT 1", InTransaction)),
        "reads before a write balance"
    );
    let ins = classify("INSERT INTO t VALUES (1)").ok();
    f.after(
        &r,
        ins.as_ref(),
        "INSERT INTO t VALUES (1)",
        true,
        true,
        InTransaction,
    );
    assert_eq!(route(&r, &f, "SELECT 1", InTransaction), Decision::Primary);
    let commit = classify("COMMIT").ok();
    f.after(&r, commit.as_ref(), "COMMIT", false, true, Idle);
    assert!(is_balanced(&route(&r, &f, "SELECT 1", Idle)));
}

#[test]
fn disable_load_balance_on_write_modes() {
    let ins = classify("INSERT INTO t VALUES (1)").ok();
    // always: one write anywhere sends everything after it to the primary.
    let mut r = rules();
    r.disable_on_write = DisableLoadBalanceOnWrite::Always;
    let mut f = SessionFlags::default();
    f.after(
        &r,
        ins.as_ref(),
        "INSERT INTO t VALUES (1)",
        true,
        true,
        Idle,
    );
    assert_eq!(route(&r, &f, "SELECT 1", Idle), Decision::Primary);
    // off: never.
    r.disable_on_write = DisableLoadBalanceOnWrite::Off;
    let mut f = SessionFlags::default();
    f.after(
        &r,
        ins.as_ref(),
        "INSERT INTO t VALUES (1)",
        true,
        true,
        InTransaction,
    );
    assert!(is_balanced(&route(&r, &f, "SELECT 1", InTransaction)));
    // trans_transaction: later explicit transactions stay on the primary, autocommit reads not.
    r.disable_on_write = DisableLoadBalanceOnWrite::TransTransaction;
    let mut f = SessionFlags::default();
    f.after(
        &r,
        ins.as_ref(),
        "INSERT INTO t VALUES (1)",
        true,
        true,
        InTransaction,
    );
    let commit = classify("COMMIT").ok();
    f.after(&r, commit.as_ref(), "COMMIT", false, true, Idle);
    assert!(is_balanced(&route(&r, &f, "SELECT 1", Idle)));
    assert_eq!(route(&r, &f, "SELECT 1", InTransaction), Decision::Primary);
    // dml_adaptive: only reads of the tables written in this transaction.
    r.disable_on_write = DisableLoadBalanceOnWrite::DmlAdaptive;
    let mut f = SessionFlags::default();
    f.after(
        &r,
        ins.as_ref(),
        "INSERT INTO t VALUES (1)",
        true,
        true,
        InTransaction,
    );
    assert_eq!(
        route(&r, &f, "SELECT * FROM t", InTransaction),
        Decision::Primary
    );
    assert!(is_balanced(&route(
        &r,
        &f,
        "SELECT * FROM u",
        InTransaction
    )));
}

#[test]
fn serializable_and_failed_transactions_stay_on_the_primary() {
    let r = rules();
    let mut f = SessionFlags::default();
    let begin = classify("BEGIN ISOLATION LEVEL SERIALIZABLE").ok();
    f.after(
        &r,
        begin.as_ref(),
        "BEGIN ISOLATION LEVEL SERIALIZABLE",
        false,
        true,
        InTransaction,
    );
    assert_eq!(route(&r, &f, "SELECT 1", InTransaction), Decision::Primary);
    let f = SessionFlags::default();
    assert_eq!(
        route(&r, &f, "SELECT 1", TransactionStatus::Failed),
        Decision::Primary
    );
}

#[test]
fn temp_tables_are_traced() {
    let r = rules();
    let mut f = SessionFlags::default();
    let sql = "CREATE TEMP TABLE scratch (a int)";
    f.after(&r, classify(sql).ok().as_ref(), sql, true, true, Idle);
    assert_eq!(
        route(&r, &f, "SELECT * FROM scratch", Idle),
        Decision::Primary
    );
    assert!(is_balanced(&route(&r, &f, "SELECT * FROM other", Idle)));
}
