//! Streaming-replication routing through corepool with a primary and two real standbys: which
//! node runs each statement, checked from the results (`inet_server_port()`).

mod common;

use std::collections::HashMap;

use common::{connect, first_value, rt, Proxy, RawClient};
use corepool_engine::config::Config;

/// A cluster of three; `weights` per node.
fn proxy(weights: [f64; 3], tweak: impl FnOnce(&mut Config)) -> Proxy {
    let p = Proxy::start(2, |c, _| {
        c.corepool_cores = 1;
        for (b, w) in c.backends.iter_mut().zip(weights) {
            b.weight = w;
        }
        tweak(c);
    });
    p.primary()
        .psql("postgres", "CREATE TABLE t (id serial primary key, v int); CREATE SEQUENCE s; INSERT INTO t (v) VALUES (1)")
        .unwrap();
    for s in p.cluster.standbys() {
        s.wait_caught_up(p.primary()).unwrap();
    }
    p
}

fn port_of(c: &mut RawClient, sql: &str) -> u16 {
    first_value(&c.query(sql))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

#[test]
fn reads_go_to_standbys_by_weight_and_writes_to_the_primary() {
    let p = proxy([0.0, 1.0, 1.0], |_| {});
    let primary = p.primary().port();
    let standbys: Vec<u16> = p.cluster.standbys().iter().map(|s| s.port()).collect();
    let mut seen = HashMap::new();
    for _ in 0..30 {
        let (mut c, _) = RawClient::connect(p.port, "postgres", "postgres", &[]);
        let port = port_of(&mut c, "SELECT inet_server_port()");
        *seen.entry(port).or_insert(0) += 1;
        // A write in the same session goes to the primary.
        let ins = c.query("INSERT INTO t (v) VALUES (2) RETURNING inet_server_port()");
        assert_eq!(
            first_value(&ins).and_then(|v| v.parse::<u16>().ok()),
            Some(primary)
        );
        c.terminate();
    }
    assert!(
        !seen.contains_key(&primary),
        "weight 0 keeps reads off the primary: {seen:?}"
    );
    for s in &standbys {
        assert!(
            seen.get(s).copied().unwrap_or(0) > 0,
            "standby {s} got reads: {seen:?}"
        );
    }
}

#[test]
fn pgpool_rules_send_these_reads_to_the_primary() {
    let p = proxy([0.0, 1.0, 0.0], |_| {});
    let primary = p.primary().port();
    let standby = p.cluster.standbys()[0].port();
    let (mut c, _) = RawClient::connect(p.port, "postgres", "postgres", &[]);
    assert_eq!(port_of(&mut c, "SELECT inet_server_port()"), standby);
    for sql in [
        "SELECT inet_server_port() FROM t LIMIT 1 FOR UPDATE",
        "SELECT inet_server_port(), nextval('s')",
        "/* no balance */ SELECT inet_server_port()",
        "SELECT inet_server_port() FROM pg_catalog.pg_class LIMIT 1",
        "WITH w AS (INSERT INTO t (v) VALUES (3) RETURNING id) SELECT inet_server_port() FROM w",
    ] {
        assert_eq!(port_of(&mut c, sql), primary, "{sql}");
    }
    // A multi-statement string goes to the primary as a whole.
    let msgs = c.query("SELECT 1; SELECT inet_server_port()");
    let last_row = msgs.iter().rfind(|(t, _)| *t == b'D').cloned().unwrap();
    let v = corepool_protocol::message::backend::DataRow::parse(&last_row.1).unwrap();
    let port: u16 = std::str::from_utf8(v.values().next().unwrap().unwrap())
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(port, primary);
    // Stable functions still balance.
    assert_eq!(
        port_of(&mut c, "SELECT inet_server_port(), lower('A'), now()"),
        standby
    );
}

#[test]
fn reads_after_a_write_in_a_transaction_see_it_on_the_primary() {
    let p = proxy([0.0, 1.0, 1.0], |_| {});
    let primary = p.primary().port();
    let (mut c, _) = RawClient::connect(p.port, "postgres", "postgres", &[]);
    c.query("BEGIN");
    let before = port_of(&mut c, "SELECT inet_server_port()");
    assert_ne!(before, primary, "reads before the first write are balanced");
    c.query("INSERT INTO t (v) VALUES (42)");
    assert_eq!(port_of(&mut c, "SELECT inet_server_port()"), primary);
    assert_eq!(
        first_value(&c.query("SELECT count(*) FROM t WHERE v = 42")).as_deref(),
        Some("1"),
        "the uncommitted row is visible"
    );
    c.query("COMMIT");
    assert_ne!(
        port_of(&mut c, "SELECT inet_server_port()"),
        primary,
        "balanced again after COMMIT"
    );
    // SERIALIZABLE transactions stay on the primary, and BEGIN reaches the standby rewritten.
    c.query("BEGIN ISOLATION LEVEL SERIALIZABLE");
    assert_eq!(port_of(&mut c, "SELECT inet_server_port()"), primary);
    let end = c.query("COMMIT");
    assert!(common::error_code(&end).is_none(), "{end:?}");
}

#[test]
fn extended_protocol_keeps_prepared_statements_working_across_nodes() {
    let p = proxy([0.0, 1.0, 0.0], |_| {});
    let primary = p.primary().port() as i32;
    let standby = p.cluster.standbys()[0].port() as i32;
    let info = p.conninfo("postgres", "postgres");
    rt().block_on(async {
        let mut client = connect(&info).await;
        let read = client.prepare("SELECT inet_server_port()").await.unwrap();
        let row = client.query_one(&read, &[]).await.unwrap();
        assert_eq!(row.get::<_, i32>(0), standby);
        let write = client
            .prepare("INSERT INTO t (v) VALUES ($1) RETURNING inet_server_port()")
            .await
            .unwrap();
        let row = client.query_one(&write, &[&7i32]).await.unwrap();
        assert_eq!(row.get::<_, i32>(0), primary);
        // In a transaction that wrote, the statement prepared on the standby runs on the primary.
        let tx = client.transaction().await.unwrap();
        tx.query_one(&write, &[&8i32]).await.unwrap();
        let row = tx.query_one(&read, &[]).await.unwrap();
        assert_eq!(row.get::<_, i32>(0), primary, "re-parsed on the primary");
        tx.commit().await.unwrap();
        let row = client.query_one(&read, &[]).await.unwrap();
        assert_eq!(row.get::<_, i32>(0), standby);
    });
}

#[test]
fn statement_level_balancing_spreads_by_weight() {
    let p = proxy([0.0, 1.0, 3.0], |c| c.statement_level_load_balance = true);
    let s1 = p.cluster.standbys()[0].port();
    let s2 = p.cluster.standbys()[1].port();
    let (mut c, _) = RawClient::connect(p.port, "postgres", "postgres", &[]);
    let mut counts: HashMap<u16, u32> = HashMap::new();
    let n = 10_000;
    for _ in 0..n {
        *counts
            .entry(port_of(&mut c, "SELECT inet_server_port()"))
            .or_insert(0) += 1;
    }
    let share = |port| counts.get(&port).copied().unwrap_or(0) as f64 / n as f64;
    assert!((share(s1) - 0.25).abs() < 0.05, "{counts:?}");
    assert!((share(s2) - 0.75).abs() < 0.05, "{counts:?}");
}

#[test]
fn in_band_commands_answer_from_corepool() {
    let p = proxy([1.0, 1.0, 1.0], |_| {});
    let out = p.psql("postgres", "postgres", "SHOW pool_nodes").unwrap();
    let rows: Vec<&str> = out.lines().collect();
    assert_eq!(rows.len(), 3, "{out}");
    assert!(
        rows[0].starts_with(&format!("0|127.0.0.1|{}|", p.primary().port())),
        "{out}"
    );
    assert!(rows[0].contains("|primary|"), "{out}");
    assert!(rows[1].contains("|standby|"), "{out}");
    assert_eq!(
        p.psql("postgres", "postgres", "SHOW pool_version").unwrap(),
        corepool_engine::session::inband::POOL_VERSION
    );
    let (mut other, _) = RawClient::connect(p.port, "postgres", "postgres", &[]);
    let procs = first_value(&other.query("SHOW pool_processes")).unwrap();
    assert!(
        procs.parse::<i32>().is_ok(),
        "a session row with corepool's process id: {procs}"
    );
    let pools = other.query("SHOW pool_pools");
    assert!(pools.iter().any(|(t, _)| *t == b'D'), "{pools:?}");
    let status = p.psql("postgres", "postgres", "SHOW pool_status").unwrap();
    assert!(
        status
            .lines()
            .next()
            .unwrap()
            .starts_with("backend_clustering_mode|"),
        "{status}"
    );
    assert!(
        status
            .lines()
            .any(|l| l.starts_with(&format!("port|{}|", p.port))),
        "{status}"
    );
    let health = p
        .psql("postgres", "postgres", "SHOW pool_health_check_stats")
        .unwrap();
    assert_eq!(health.lines().count(), 3, "{health}");
    assert_eq!(
        health.lines().next().unwrap().split('|').count(),
        20,
        "{health}"
    );
    let (mut c, _) = RawClient::connect(p.port, "postgres", "postgres", &[]);
    assert_eq!(
        first_value(&c.query("PGPOOL SHOW load_balance_mode")).as_deref(),
        Some("on")
    );
    let set = c.query("PGPOOL SET client_idle_limit = 42");
    assert!(
        set.iter().any(|(t, b)| *t == b'C' && b.starts_with(b"SET")),
        "{set:?}"
    );
    assert_eq!(
        first_value(&c.query("PGPOOL SHOW client_idle_limit")).as_deref(),
        Some("42")
    );
    c.query("PGPOOL RESET client_idle_limit");
    assert_eq!(
        first_value(&c.query("PGPOOL SHOW client_idle_limit")).as_deref(),
        Some("0")
    );
    let bad = c.query("PGPOOL SHOW no_such_thing");
    assert_eq!(common::error_code(&bad).as_deref(), Some("42704"));
    // The session goes on normally afterwards.
    assert_eq!(first_value(&c.query("SELECT 5")).as_deref(), Some("5"));
    c.query("INSERT INTO t (v) VALUES (9)");
    // Statement counters: one INSERT on the primary, SELECTs where they ran.
    let stats = p
        .psql("postgres", "postgres", "SHOW pool_backend_stats")
        .unwrap();
    let primary_row = stats.lines().next().unwrap().split('|').collect::<Vec<_>>();
    assert_eq!(primary_row[6], "1", "insert_cnt on the primary: {stats}");
    let selects: u64 = stats
        .lines()
        .map(|l| l.split('|').nth(5).unwrap().parse::<u64>().unwrap())
        .sum();
    assert!(selects >= 1, "{stats}");
}

#[test]
fn redirect_preference_lists_choose_the_session_node() {
    let p = proxy([1.0, 1.0, 1.0], |c| {
        c.database_redirect_preference_list = vec!["postgres:primary".into()];
        c.app_name_redirect_preference_list = vec!["reporting:2".into()];
    });
    let primary = p.primary().port();
    let node2 = p.cluster.standbys()[1].port();
    for _ in 0..10 {
        let (mut c, _) = RawClient::connect(p.port, "postgres", "postgres", &[]);
        assert_eq!(
            port_of(&mut c, "SELECT inet_server_port()"),
            primary,
            "database preference"
        );
        let (mut r, _) = RawClient::connect(
            p.port,
            "postgres",
            "postgres",
            &[("application_name", "reporting")],
        );
        assert_eq!(
            port_of(&mut r, "SELECT inet_server_port()"),
            node2,
            "application name wins"
        );
    }
}

#[test]
fn read_your_writes_never_reads_older_data_than_the_session_wrote() {
    let p = proxy([0.0, 1.0, 1.0], |c| c.statement_level_load_balance = true);
    // One standby stops replaying: without read-your-writes, reads there would miss new rows.
    p.cluster.standbys()[0]
        .psql("postgres", "SELECT pg_wal_replay_pause()")
        .unwrap();
    let paused = p.cluster.standbys()[0].port();
    let (mut c, _) = RawClient::connect(p.port, "postgres", "postgres", &[]);
    let mut on_paused = 0;
    for i in 0..40 {
        c.query(&format!("INSERT INTO t (v) VALUES ({})", 1000 + i));
        let msgs = c.query(&format!(
            "SELECT count(*), inet_server_port() FROM t WHERE v = {}",
            1000 + i
        ));
        let row = msgs
            .iter()
            .find(|(t, _)| *t == b'D')
            .cloned()
            .expect("a row");
        let row = corepool_protocol::message::backend::DataRow::parse(&row.1).unwrap();
        let vals: Vec<String> = row
            .values()
            .map(|v| String::from_utf8(v.unwrap().to_vec()).unwrap())
            .collect();
        assert_eq!(
            vals[0], "1",
            "read {i} saw its own write (node port {})",
            vals[1]
        );
        if vals[1] == paused.to_string() {
            on_paused += 1;
        }
    }
    assert_eq!(
        on_paused, 0,
        "the paused standby never served a read after a write"
    );
    // Reads without a preceding write still balance over both standbys, the paused one included.
    let (mut fresh, _) = RawClient::connect(p.port, "postgres", "postgres", &[]);
    let ports: std::collections::HashSet<u16> = (0..60)
        .map(|_| port_of(&mut fresh, "SELECT inet_server_port()"))
        .collect();
    assert!(ports.contains(&paused), "{ports:?}");
    p.cluster.standbys()[0]
        .psql("postgres", "SELECT pg_wal_replay_resume()")
        .unwrap();
}

/// Every routing rule, checked from the result, in the simple and the extended protocol, with
/// session-level and statement-level balancing. The primary has weight 0, so a balanced read
/// never lands there: `on_primary` is exactly "routed to the primary".
#[test]
fn every_rule_routes_by_its_result_in_both_protocols_and_modes() {
    for statement_level in [false, true] {
        let p = proxy([0.0, 1.0, 1.0], |c| {
            c.statement_level_load_balance = statement_level
        });
        let primary = p.primary().port() as i32;
        p.primary()
            .psql(
                "postgres",
                "CREATE UNLOGGED TABLE scratch (x int); CREATE FUNCTION writer() RETURNS int VOLATILE LANGUAGE sql AS 'SELECT 1'; \
                 CREATE FUNCTION reader() RETURNS int IMMUTABLE LANGUAGE sql AS 'SELECT 1'",
            )
            .unwrap();
        for s in p.cluster.standbys() {
            s.wait_caught_up(p.primary()).unwrap();
        }
        // (statement returning the server port, goes to the primary)
        let cases: &[(&str, bool)] = &[
            ("SELECT inet_server_port()", false),
            ("SELECT inet_server_port() FROM t LIMIT 1", false),
            ("SELECT inet_server_port(), reader()", false),
            ("SELECT inet_server_port(), lower('X'), now()", false),
            ("WITH x AS (SELECT 1) SELECT inet_server_port() FROM x", false),
            ("SELECT inet_server_port() FROM t LIMIT 1 FOR UPDATE", true),
            ("SELECT inet_server_port() FROM t LIMIT 1 FOR SHARE", true),
            ("SELECT inet_server_port(), writer()", true),
            ("SELECT inet_server_port(), nextval('s')", true),
            ("SELECT inet_server_port(), lo_creat(-1)", true),
            ("SELECT inet_server_port() FROM scratch UNION ALL SELECT inet_server_port()", true),
            ("SELECT inet_server_port() FROM pg_catalog.pg_class LIMIT 1", true),
            ("SELECT inet_server_port() FROM pg_stat_activity LIMIT 1", true),
            ("/*c*/ SELECT inet_server_port()", true),
            ("WITH w AS (INSERT INTO t (v) VALUES (5) RETURNING 1) SELECT inet_server_port() FROM w", true),
            ("INSERT INTO t (v) VALUES (6) RETURNING inet_server_port()", true),
            ("UPDATE t SET v = v WHERE id = 1 RETURNING inet_server_port()", true),
        ];
        let mode = if statement_level {
            "statement-level"
        } else {
            "session-level"
        };
        // Simple protocol, a fresh session per case so no write leaks into the next.
        for (sql, to_primary) in cases {
            let (mut c, _) = RawClient::connect(p.port, "postgres", "postgres", &[]);
            let port = port_of(&mut c, sql) as i32;
            assert_eq!(
                port == primary,
                *to_primary,
                "simple, {mode}: {sql} ran on {port}"
            );
        }
        // Extended protocol (tokio-postgres prepares every statement).
        let info = p.conninfo("postgres", "postgres");
        rt().block_on(async {
            for (sql, to_primary) in cases {
                let client = connect(&info).await;
                let row = client
                    .query_one(*sql, &[])
                    .await
                    .unwrap_or_else(|e| panic!("{sql}: {e}"));
                let port: i32 = row.get(0);
                assert_eq!(
                    port == primary,
                    *to_primary,
                    "extended, {mode}: {sql} ran on {port}"
                );
            }
        });
    }
}

#[test]
fn in_band_commands_work_in_the_extended_protocol() {
    let p = proxy([1.0, 1.0, 1.0], |_| {});
    let info = p.conninfo("postgres", "postgres");
    rt().block_on(async {
        let client = connect(&info).await;
        // tokio-postgres prepares a named statement, then binds it: both answered by corepool.
        let rows = client.query("SHOW pool_nodes", &[]).await.unwrap();
        assert_eq!(rows.len(), 3);
        assert_eq!(rows[0].get::<_, &str>("role"), "primary");
        let version = client.query_one("SHOW pool_version", &[]).await.unwrap();
        assert_eq!(
            version.get::<_, &str>(0),
            corepool_engine::session::inband::POOL_VERSION
        );
        let err = client
            .query_one("PGPOOL SHOW no_such_thing", &[])
            .await
            .expect_err("unknown parameter");
        assert_eq!(err.code().map(|c| c.code()), Some("42704"));
        // Ordinary statements still go to PostgreSQL.
        let row = client
            .query_one("SELECT $1::int + 1", &[&41i32])
            .await
            .unwrap();
        assert_eq!(row.get::<_, i32>(0), 42);
    });
}

/// One extended run binding two statements prepared on a standby, inside a transaction that
/// wrote: both must be re-parsed on the primary (not just the last one).
#[test]
fn a_run_binding_two_standby_statements_reparses_both_on_the_primary() {
    use corepool_protocol::message::write::frontend as fe;
    use corepool_protocol::message::Format;
    let p = proxy([0.0, 1.0, 0.0], |_| {});
    let primary = p.primary().port().to_string();
    let (mut c, _) = RawClient::connect(p.port, "postgres", "postgres", &[]);
    let mut out = bytes::BytesMut::new();
    for name in ["s_a", "s_b"] {
        fe::parse(
            name,
            "SELECT inet_server_port()",
            std::iter::empty(),
            &mut out,
        )
        .unwrap();
    }
    fe::sync(&mut out);
    c.send(&out);
    let prepared = c.read_until_ready();
    assert!(common::error_code(&prepared).is_none(), "{prepared:?}");
    c.query("BEGIN");
    let wrote = c.query("INSERT INTO t (v) VALUES (42)");
    assert!(common::error_code(&wrote).is_none(), "{wrote:?}");
    let mut out = bytes::BytesMut::new();
    let none: [Format; 0] = [];
    for name in ["s_a", "s_b"] {
        fe::bind(
            "",
            name,
            none,
            std::iter::empty::<Option<&[u8]>>(),
            none,
            &mut out,
        )
        .unwrap();
        fe::execute("", 0, &mut out).unwrap();
    }
    fe::sync(&mut out);
    c.send(&out);
    let ran = c.read_until_ready();
    assert!(common::error_code(&ran).is_none(), "{ran:?}");
    let ports: Vec<String> = ran
        .iter()
        .filter(|(tag, _)| *tag == b'D')
        .map(|m| first_value(std::slice::from_ref(m)).unwrap_or_default())
        .collect();
    assert_eq!(ports, [primary.clone(), primary], "{ran:?}");
    c.query("COMMIT");
}
