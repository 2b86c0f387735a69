//! Transaction pooling against a real server: clients share a few backends transaction by
//! transaction, each sees only its own session state, state that cannot move pins, a full
//! pool makes clients wait in order and a wait that is too long gets 53300, a client killed
//! mid-transaction leaves a backend that is rolled back before reuse.

mod common;

use std::time::Duration;

use common::{error_code, first_value, Proxy, RawClient};
use corepool_engine::config::{Config, PoolMode};

/// corepool on one shard in transaction pooling with `size` backends.
fn tx_proxy(size: u32, tweak: impl FnOnce(&mut Config)) -> Proxy {
    Proxy::start(0, |c, _| {
        c.corepool_cores = 1;
        c.pooling.pool_mode = PoolMode::Transaction;
        c.pooling.default_pool_size = size;
        tweak(c);
    })
}

fn value(c: &mut RawClient, sql: &str) -> String {
    let msgs = c.query(sql);
    assert_eq!(error_code(&msgs), None, "{sql}: {msgs:?}");
    first_value(&msgs).unwrap_or_default()
}

fn pid(c: &mut RawClient) -> String {
    value(c, "SELECT pg_backend_pid()")
}

#[test]
fn two_clients_share_one_backend_and_see_only_their_own_parameters() {
    let p = tx_proxy(1, |_| {});
    let (mut a, _) =
        RawClient::connect(p.port, "postgres", "postgres", &[("application_name", "a")]);
    let (mut b, _) =
        RawClient::connect(p.port, "postgres", "postgres", &[("application_name", "b")]);
    value(&mut a, "SET search_path = a_schema, public");
    value(&mut b, "SET statement_timeout = '7s'");
    for _ in 0..3 {
        assert_eq!(pid(&mut a), pid(&mut b), "one backend serves both");
        assert_eq!(value(&mut a, "SHOW search_path"), "a_schema, public");
        assert_eq!(value(&mut b, "SHOW search_path"), "\"$user\", public");
        assert_eq!(value(&mut a, "SHOW statement_timeout"), "0");
        assert_eq!(value(&mut b, "SHOW statement_timeout"), "7s");
        assert_eq!(value(&mut a, "SHOW application_name"), "a");
        assert_eq!(value(&mut b, "SHOW application_name"), "b");
    }
    // RESET goes back to the client's own start-up value, not the other client's.
    value(&mut b, "SET application_name = 'changed'");
    value(&mut b, "RESET application_name");
    assert_eq!(value(&mut a, "SHOW application_name"), "a");
    assert_eq!(value(&mut b, "SHOW application_name"), "b");
    // A SET rolled back with its transaction does not stick; one committed does.
    value(&mut a, "BEGIN");
    value(&mut a, "SET work_mem = '5MB'");
    value(&mut a, "ROLLBACK");
    value(&mut a, "BEGIN");
    value(&mut a, "SET work_mem = '6MB'");
    value(&mut a, "COMMIT");
    value(&mut b, "SELECT 1");
    assert_eq!(value(&mut a, "SHOW work_mem"), "6MB");
    assert_eq!(value(&mut b, "SHOW work_mem"), "4MB");
    // A failed SET does not stick either.
    let msgs = a.query("SET work_mem = 'lots'");
    assert_eq!(error_code(&msgs).as_deref(), Some("22023"));
    value(&mut b, "SELECT 1");
    assert_eq!(value(&mut a, "SHOW work_mem"), "6MB");
    a.terminate();
    b.terminate();
}

#[test]
fn more_clients_than_backends_are_all_served_and_wait_in_turn() {
    let p = tx_proxy(2, |_| {});
    let port = p.port;
    let threads: Vec<_> = (0..12)
        .map(|i| {
            std::thread::spawn(move || {
                let (mut c, _) = RawClient::connect(port, "postgres", "postgres", &[]);
                for _ in 0..5 {
                    let msgs = c.query(&format!("SELECT {i}, pg_sleep(0.01)"));
                    assert_eq!(error_code(&msgs), None);
                    assert_eq!(first_value(&msgs), Some(i.to_string()));
                }
                c.terminate();
            })
        })
        .collect();
    for t in threads {
        t.join().expect("client thread");
    }
    // The server saw at most two of corepool's backends at once: count them now.
    let (mut c, _) = RawClient::connect(port, "postgres", "postgres", &[]);
    let backends = value(
        &mut c,
        "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend' AND datname = 'postgres'",
    );
    assert!(backends.parse::<u32>().unwrap() <= 2, "{backends} backends");
    c.terminate();
}

/// Requests waiting for a backend must not hold the shard's receive buffers: with more waiting
/// clients than buffers, the backends' replies could otherwise not be received, no backend
/// would come back to the pool and every client would stall (found at 10,000 clients with the
/// default 1,024 buffers; here 96 clients against 16 buffers show it).
#[test]
fn clients_waiting_for_a_backend_do_not_starve_the_replies_of_receive_buffers() {
    let cluster = corepool_testkit::Cluster::builder()
        .start()
        .expect("cluster starts");
    let options = corepool_engine::server::ServeOptions {
        receive_buffers: Some(16),
        ..Default::default()
    };
    let p = Proxy::start_with(cluster, options, |c, _| {
        c.corepool_cores = 1;
        c.pooling.pool_mode = PoolMode::Transaction;
        c.pooling.default_pool_size = 2;
        // Session slots for every client (Pgpool-II's default of 32 would make the rest wait).
        c.num_init_children = 128;
    });
    let port = p.port;
    let clients: Vec<RawClient> = (0..96)
        .map(|_| RawClient::connect(port, "postgres", "postgres", &[]).0)
        .collect();
    let start = std::sync::Arc::new(std::sync::Barrier::new(clients.len()));
    let threads: Vec<_> = clients
        .into_iter()
        .enumerate()
        .map(|(i, mut c)| {
            let start = start.clone();
            std::thread::spawn(move || {
                start.wait();
                for _ in 0..3 {
                    // Sent before the reply to the last one is read: the request waits in
                    // the proxy, not in this thread.
                    let msgs = c.query(&format!("SELECT {i}, pg_sleep(0.005)"));
                    assert_eq!(error_code(&msgs), None, "{msgs:?}");
                    assert_eq!(first_value(&msgs), Some(i.to_string()));
                }
                c.terminate();
            })
        })
        .collect();
    for t in threads {
        t.join()
            .expect("every client is served (a read times out after 20 s)");
    }
}

#[test]
fn a_wait_past_query_wait_timeout_is_refused_and_the_pool_recovers() {
    let p = tx_proxy(1, |c| c.pooling.query_wait_timeout = Duration::from_secs(1));
    let (mut holder, _) = RawClient::connect(p.port, "postgres", "postgres", &[]);
    value(&mut holder, "BEGIN");
    value(&mut holder, "SELECT 1");
    // The one backend is in holder's transaction: a second client's request waits, then fails.
    let (mut waiter, _) = RawClient::connect(p.port, "postgres", "postgres", &[]);
    let msgs = waiter.query("SELECT 2");
    assert_eq!(error_code(&msgs).as_deref(), Some("53300"), "{msgs:?}");
    assert!(
        waiter.read_msg().is_none(),
        "the refused client is disconnected"
    );
    value(&mut holder, "COMMIT");
    let (mut next, _) = RawClient::connect(p.port, "postgres", "postgres", &[]);
    assert_eq!(value(&mut next, "SELECT 3"), "3");
    next.terminate();
    holder.terminate();
}

#[test]
fn state_that_cannot_move_pins_the_client_and_keeps_working() {
    for pin in [
        "LISTEN some_channel",
        "CREATE TEMP TABLE pinned_t (a int)",
        "SELECT pg_advisory_lock(42)",
        "BEGIN; DECLARE pinned_c CURSOR WITH HOLD FOR SELECT 1; COMMIT",
        "SET ROLE postgres",
    ] {
        let p = tx_proxy(2, |_| {});
        let (mut pinned, _) = RawClient::connect(p.port, "postgres", "postgres", &[]);
        let (mut other, _) = RawClient::connect(p.port, "postgres", "postgres", &[]);
        let msgs = pinned.query(pin);
        assert_eq!(error_code(&msgs), None, "{pin}: {msgs:?}");
        let mine = pid(&mut pinned);
        for _ in 0..4 {
            assert_ne!(
                pid(&mut other),
                mine,
                "{pin}: the pinned backend is not lent"
            );
            assert_eq!(
                pid(&mut pinned),
                mine,
                "{pin}: the pinned client keeps its backend"
            );
        }
        let pinned_now: i64 = p
            .state()
            .stats
            .shards()
            .iter()
            .map(|s| s.pinned_clients.get())
            .sum();
        assert_eq!(pinned_now, 1, "{pin}");
        if pin.starts_with("CREATE TEMP") {
            assert_eq!(value(&mut pinned, "SELECT count(*) FROM pinned_t"), "0");
        }
        pinned.terminate();
        other.terminate();
    }
}

#[test]
fn a_client_killed_mid_transaction_leaves_a_rolled_back_backend() {
    let p = tx_proxy(1, |_| {});
    let (mut a, _) = RawClient::connect(p.port, "postgres", "postgres", &[]);
    value(&mut a, "CREATE TABLE IF NOT EXISTS killed_t (a int)");
    value(&mut a, "BEGIN");
    value(&mut a, "INSERT INTO killed_t VALUES (1)");
    value(&mut a, "SET LOCAL statement_timeout = '3s'");
    let backend = pid(&mut a);
    drop(a); // the socket closes mid-transaction
    let (mut b, _) = RawClient::connect(p.port, "postgres", "postgres", &[]);
    assert_eq!(value(&mut b, "SELECT count(*) FROM killed_t"), "0");
    assert_eq!(value(&mut b, "SHOW statement_timeout"), "0");
    assert_eq!(
        pid(&mut b),
        backend,
        "the same backend, rolled back and reused"
    );
    let in_tx = value(
        &mut b,
        "SELECT count(*) FROM pg_stat_activity WHERE state LIKE 'idle in transaction%'",
    );
    assert_eq!(in_tx, "0");
    b.terminate();
}

#[test]
fn extended_protocol_with_unnamed_statements_pools_per_transaction() {
    let p = tx_proxy(1, |_| {});
    let (mut a, _) = RawClient::connect(p.port, "postgres", "postgres", &[]);
    let (mut b, _) = RawClient::connect(p.port, "postgres", "postgres", &[]);
    for n in 1..=4 {
        let c = if n % 2 == 1 { &mut a } else { &mut b };
        let mut out = bytes::BytesMut::new();
        use corepool_protocol::message::write::frontend as f;
        let text = n.to_string();
        f::parse("", "SELECT $1::int + 1", [], &mut out).unwrap();
        f::bind("", "", [], [Some(text.as_bytes())], [], &mut out).unwrap();
        f::execute("", 0, &mut out).unwrap();
        f::sync(&mut out);
        c.send(&out);
        let msgs = c.read_until_ready();
        assert_eq!(error_code(&msgs), None, "{msgs:?}");
        assert_eq!(first_value(&msgs), Some((n + 1).to_string()));
    }
    a.terminate();
    b.terminate();
}

/// Runs pgbench through `p` and checks every transaction succeeded.
fn pgbench(p: &Proxy, args: &[&str]) -> String {
    let port = p.port.to_string();
    let mut all = vec!["-h", "127.0.0.1", "-p", &port, "-U", "postgres"];
    all.extend_from_slice(args);
    all.push("postgres");
    let out = p.cluster.command("pgbench").args(&all).output().unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap_or_default();
    assert!(
        out.status.success(),
        "pgbench {args:?}: {stdout} {}",
        String::from_utf8(out.stderr).unwrap_or_default()
    );
    stdout
}

#[test]
fn pgbench_prepared_and_extended_share_few_backends_without_pinning() {
    let p = tx_proxy(2, |c| {
        c.pooling.max_prepared_statements = 3;
        c.pooling.query_wait_timeout = Duration::from_secs(20);
    });
    pgbench(&p, &["-i", "-s", "1", "-q"]);
    for mode in ["prepared", "simple", "extended"] {
        // TPC-B's transactions of several statements, a pgbench thread per client: pgbench
        // prepares with a blocking call, so a thread of several clients waiting for a backend
        // would stall its own clients' open transactions (with any transaction pooler).
        let out = pgbench(&p, &["-c", "4", "-j", "4", "-t", "25", "-M", mode]);
        assert!(out.contains("actually processed: 100/100"), "{mode}: {out}");
        assert!(
            out.contains("number of failed transactions: 0"),
            "{mode}: {out}"
        );
        // One-statement transactions: many clients per thread share the two backends.
        let out = pgbench(&p, &["-S", "-c", "8", "-j", "2", "-t", "40", "-M", mode]);
        assert!(out.contains("actually processed: 320/320"), "{mode}: {out}");
        assert!(
            out.contains("number of failed transactions: 0"),
            "{mode}: {out}"
        );
    }
    let pinned: i64 = p
        .state()
        .stats
        .shards()
        .iter()
        .map(|s| s.pinned_clients.get())
        .sum();
    assert_eq!(pinned, 0, "named statements move with the client");
}

async fn pid_of(client: &tokio_postgres::Client) -> i32 {
    let row = client
        .query_one("SELECT pg_backend_pid()", &[])
        .await
        .expect("pid");
    row.get(0)
}

/// Runs each of `statements` (`SELECT $1::int + i`) with `round` and checks the sums.
async fn run_all(
    client: &tokio_postgres::Client,
    statements: &[tokio_postgres::Statement],
    round: i32,
) {
    for (i, s) in statements.iter().enumerate() {
        let row = client.query_one(s, &[&round]).await.expect("execute");
        assert_eq!(row.get::<_, i32>(0), round + i as i32);
    }
}

#[test]
fn a_statement_prepared_on_one_backend_runs_after_the_client_lands_on_another() {
    // Two backends. Clients b and c hold both in transactions, then free one at a time, so
    // the preparing client a must run on the one just freed: on each backend in turn, its
    // statements (more than max_prepared_statements of them) still run.
    let p = tx_proxy(2, |c| c.pooling.max_prepared_statements = 2);
    let rt = common::rt();
    rt.block_on(async {
        let conninfo = p.conninfo("postgres", "postgres");
        let a = common::connect(&conninfo).await;
        let b = common::connect(&conninfo).await;
        let c = common::connect(&conninfo).await;
        let mut statements = Vec::new();
        for i in 0..5 {
            let text = format!("SELECT $1::int + {i}");
            statements.push(a.prepare(&text).await.expect("prepare"));
        }
        let mut pids = std::collections::BTreeSet::new();
        for round in 0..3i32 {
            b.batch_execute("BEGIN").await.unwrap();
            c.batch_execute("BEGIN").await.unwrap();
            let (pid_b, pid_c) = (pid_of(&b).await, pid_of(&c).await);
            assert_ne!(pid_b, pid_c, "b and c hold both backends");
            // Only b's backend is free: a waits for it and runs there.
            b.batch_execute("COMMIT").await.unwrap();
            run_all(&a, &statements, round).await;
            assert_eq!(pid_of(&a).await, pid_b, "a ran on the backend b freed");
            // b takes that backend again; only c's is freed next.
            b.batch_execute("BEGIN").await.unwrap();
            assert_eq!(pid_of(&b).await, pid_b);
            c.batch_execute("COMMIT").await.unwrap();
            run_all(&a, &statements, round + 10).await;
            assert_eq!(pid_of(&a).await, pid_c, "a ran on the backend c freed");
            b.batch_execute("COMMIT").await.unwrap();
            pids.extend([pid_b, pid_c]);
        }
        assert_eq!(pids.len(), 2, "two backends served everything: {pids:?}");
    });
    let pinned: i64 = p
        .state()
        .stats
        .shards()
        .iter()
        .map(|s| s.pinned_clients.get())
        .sum();
    assert_eq!(pinned, 0);
}
