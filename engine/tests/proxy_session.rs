//! Session pooling through corepool against a real PostgreSQL: pass-through, connection cache,
//! reset, cancel, extended protocol, COPY, notifications, large results, errors mid-stream.

mod common;

use std::time::{Duration, Instant};

use common::{connect, error_code, first_value, rt, Proxy, RawClient};

#[test]
fn psql_queries_pass_through() {
    let proxy = Proxy::start(0, |_, _| {});
    let out = proxy
        .psql("postgres", "postgres", "CREATE TABLE t (id int primary key, v text); INSERT INTO t SELECT g, 'v' || g FROM generate_series(1, 100) g; SELECT count(*), max(id) FROM t")
        .expect("queries succeed");
    assert_eq!(out, "100|100");
    assert_eq!(
        proxy
            .primary()
            .psql("postgres", "SELECT count(*) FROM t")
            .unwrap(),
        "100"
    );
}

#[test]
fn cached_connection_is_reused_and_reset() {
    let proxy = Proxy::start(0, |c, _| c.corepool_cores = 1);
    proxy
        .primary()
        .psql("postgres", "CREATE DATABASE app")
        .unwrap();
    let (mut a, _) = RawClient::connect(proxy.port, "postgres", "app", &[]);
    let pid1 = first_value(&a.query("SELECT pg_backend_pid()")).unwrap();
    a.query("SET work_mem = '7MB'");
    a.query("PREPARE p AS SELECT 1");
    a.terminate();
    // The reset runs after the client left: the next client comes once it is back in the pool.
    proxy.wait_pooled(1);

    let (mut b, _) = RawClient::connect(proxy.port, "postgres", "app", &[]);
    let pid2 = first_value(&b.query("SELECT pg_backend_pid()")).unwrap();
    assert_eq!(pid1, pid2, "the cached backend connection is reused");
    assert_eq!(
        first_value(&b.query("SHOW work_mem")).unwrap(),
        "4MB",
        "DISCARD ALL reset the session"
    );
    let msgs = b.query("EXECUTE p");
    assert_eq!(
        error_code(&msgs).as_deref(),
        Some("26000"),
        "prepared statements were discarded"
    );
    b.terminate();
    proxy.wait_pooled(1);

    // Different startup parameters must not share a connection.
    let (mut c, _) = RawClient::connect(
        proxy.port,
        "postgres",
        "app",
        &[("application_name", "other")],
    );
    let pid3 = first_value(&c.query("SELECT pg_backend_pid()")).unwrap();
    assert_ne!(pid1, pid3);
}

#[test]
fn a_vanished_client_in_a_transaction_leaves_nothing_dirty() {
    let proxy = Proxy::start(0, |c, _| c.corepool_cores = 1);
    proxy
        .primary()
        .psql("postgres", "CREATE DATABASE app; ")
        .unwrap();
    proxy
        .primary()
        .psql("app", "CREATE TABLE t (id int)")
        .unwrap();
    let (mut a, _) = RawClient::connect(proxy.port, "postgres", "app", &[]);
    let pid1 = first_value(&a.query("SELECT pg_backend_pid()")).unwrap();
    a.query("BEGIN");
    a.query("INSERT INTO t VALUES (1)");
    drop(a); // no Terminate: the socket just closes

    let (mut b, _) = RawClient::connect(proxy.port, "postgres", "app", &[]);
    let pid2 = first_value(&b.query("SELECT pg_backend_pid()")).unwrap();
    assert_ne!(pid1, pid2, "a vanished client's backend is not reused");
    assert_eq!(
        first_value(&b.query("SELECT count(*) FROM t")).unwrap(),
        "0",
        "its transaction never committed"
    );
    let status = b.query("SELECT 1").last().cloned().unwrap();
    assert_eq!(status, (b'Z', b"I".to_vec()));
}

#[test]
fn cancel_request_reaches_the_backend_from_any_core() {
    let proxy = Proxy::start(0, |_, _| {});
    let info = proxy.conninfo("postgres", "postgres");
    rt().block_on(async {
        let client = connect(&info).await;
        let token = client.cancel_token();
        let started = Instant::now();
        let sleeper = tokio::spawn(async move { client.simple_query("SELECT pg_sleep(30)").await });
        tokio::time::sleep(Duration::from_millis(500)).await;
        token
            .cancel_query(tokio_postgres::NoTls)
            .await
            .expect("cancel sent");
        let err = sleeper.await.unwrap().expect_err("the query is cancelled");
        assert_eq!(
            err.code(),
            Some(&tokio_postgres::error::SqlState::QUERY_CANCELED)
        );
        assert!(started.elapsed() < Duration::from_secs(10));
    });
}

#[test]
fn extended_protocol_and_prepared_statements() {
    let proxy = Proxy::start(0, |_, _| {});
    let info = proxy.conninfo("postgres", "postgres");
    rt().block_on(async {
        let client = connect(&info).await;
        client
            .batch_execute("CREATE TABLE kv (k int primary key, v text)")
            .await
            .unwrap();
        let insert = client
            .prepare("INSERT INTO kv VALUES ($1, $2)")
            .await
            .unwrap();
        for i in 0..50i32 {
            client
                .execute(&insert, &[&i, &format!("value {i}")])
                .await
                .unwrap();
        }
        let row = client
            .query_one("SELECT count(*), max(v) FROM kv WHERE k >= $1", &[&10i32])
            .await
            .unwrap();
        assert_eq!(row.get::<_, i64>(0), 40);
        assert_eq!(row.get::<_, String>(1), "value 49");
        let err = client
            .query_one("SELECT $1::int / 0", &[&1i32])
            .await
            .expect_err("division by zero");
        assert_eq!(
            err.code(),
            Some(&tokio_postgres::error::SqlState::DIVISION_BY_ZERO)
        );
        // The connection is still usable after an error in the extended protocol.
        let row = client.query_one("SELECT $1::text", &[&"ok"]).await.unwrap();
        assert_eq!(row.get::<_, &str>(0), "ok");
    });
}

#[test]
fn pgbench_in_every_query_mode() {
    let proxy = Proxy::start(0, |_, _| {});
    let port = proxy.port.to_string();
    let init = proxy
        .cluster
        .command("pgbench")
        .args([
            "-h",
            "127.0.0.1",
            "-p",
            &port,
            "-U",
            "postgres",
            "-i",
            "-s",
            "1",
            "-q",
            "postgres",
        ])
        .output()
        .unwrap();
    assert!(
        init.status.success(),
        "pgbench -i: {}",
        String::from_utf8(init.stderr).unwrap_or_default()
    );
    for mode in ["simple", "extended", "prepared"] {
        let run = proxy
            .cluster
            .command("pgbench")
            .args([
                "-h",
                "127.0.0.1",
                "-p",
                &port,
                "-U",
                "postgres",
                "-c",
                "4",
                "-j",
                "2",
                "-t",
                "50",
                "-M",
                mode,
                "postgres",
            ])
            .output()
            .unwrap();
        let stdout = String::from_utf8(run.stdout).unwrap_or_default();
        assert!(
            run.status.success(),
            "pgbench -M {mode}: {stdout} {}",
            String::from_utf8(run.stderr).unwrap_or_default()
        );
        assert!(
            stdout.contains("number of transactions actually processed: 200/200"),
            "{stdout}"
        );
        assert!(
            stdout.contains("number of failed transactions: 0"),
            "{stdout}"
        );
    }
}

#[test]
fn copy_in_and_out_pass_through() {
    let proxy = Proxy::start(0, |_, _| {});
    proxy
        .psql("postgres", "postgres", "CREATE TABLE c (id int, t text)")
        .unwrap();
    let mut cmd = proxy.cluster.command("psql");
    cmd.args([
        "-X",
        "-q",
        "-h",
        "127.0.0.1",
        "-p",
        &proxy.port.to_string(),
        "-U",
        "postgres",
        "-d",
        "postgres",
        "-c",
        "COPY c FROM STDIN",
    ]);
    cmd.stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().unwrap();
        for i in 0..20_000 {
            writeln!(stdin, "{i}\trow number {i}").unwrap();
        }
    }
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8(out.stderr).unwrap_or_default()
    );
    assert_eq!(
        proxy
            .psql("postgres", "postgres", "SELECT count(*), sum(id) FROM c")
            .unwrap(),
        "20000|199990000"
    );
    let dumped = proxy
        .psql(
            "postgres",
            "postgres",
            "COPY (SELECT * FROM c ORDER BY id) TO STDOUT",
        )
        .unwrap();
    assert_eq!(dumped.lines().count(), 20_000);
    assert_eq!(dumped.lines().last(), Some("19999\trow number 19999"));
}

#[test]
fn notifications_pass_through() {
    let proxy = Proxy::start(0, |_, _| {});
    let (mut a, _) = RawClient::connect(proxy.port, "postgres", "postgres", &[]);
    a.query("LISTEN chan");
    proxy
        .psql("postgres", "postgres", "NOTIFY chan, 'hello'")
        .unwrap();
    // The notification arrives asynchronously; the next query's reply carries it at the latest.
    let msgs = a.query("SELECT 1");
    let note = msgs.iter().find(|(t, _)| *t == b'A').or(None).cloned();
    let note = note
        .or_else(|| a.read_msg())
        .expect("a NotificationResponse");
    assert_eq!(note.0, b'A');
    assert!(note.1.windows(5).any(|w| w == b"hello"));
}

#[test]
fn large_results_and_large_values_stream_through() {
    let proxy = Proxy::start(0, |_, _| {});
    let (mut a, _) = RawClient::connect(proxy.port, "postgres", "postgres", &[]);
    let msgs = a.query("SELECT repeat('x', 5000000)");
    assert_eq!(first_value(&msgs).map(|v| v.len()), Some(5_000_000));
    let msgs = a.query("SELECT g, md5(g::text) FROM generate_series(1, 200000) g");
    assert_eq!(msgs.iter().filter(|(t, _)| *t == b'D').count(), 200_000);
}

#[test]
fn an_error_mid_stream_reaches_the_client_and_the_session_goes_on() {
    let proxy = Proxy::start(0, |_, _| {});
    let (mut a, _) = RawClient::connect(proxy.port, "postgres", "postgres", &[]);
    let msgs = a.query("SELECT 1 / (g - 50000) FROM generate_series(1, 100000) g");
    assert!(
        msgs.iter().filter(|(t, _)| *t == b'D').count() > 0,
        "rows before the error arrive"
    );
    assert_eq!(error_code(&msgs).as_deref(), Some("22012"));
    assert_eq!(first_value(&a.query("SELECT 42")).as_deref(), Some("42"));
}

#[test]
fn parameter_status_changes_reach_the_client() {
    let proxy = Proxy::start(0, |_, _| {});
    let (mut a, startup) = RawClient::connect(
        proxy.port,
        "postgres",
        "postgres",
        &[("application_name", "first")],
    );
    let app = startup
        .iter()
        .filter(|(t, _)| *t == b'S')
        .any(|(_, b)| b.starts_with(b"application_name\0first\0"));
    assert!(
        app,
        "the client's own application_name is reported at start-up"
    );
    let msgs = a.query("SET application_name = 'second'");
    assert!(msgs
        .iter()
        .any(|(t, b)| *t == b'S' && b.starts_with(b"application_name\0second\0")));
}

#[test]
fn client_idle_limit_ends_idle_sessions_but_not_busy_ones() {
    let proxy = Proxy::start(0, |c, _| c.client_idle_limit = Duration::from_secs(1));
    let (mut a, _) = RawClient::connect(proxy.port, "postgres", "postgres", &[]);
    // A query running longer than the limit is not idleness.
    assert_eq!(
        first_value(&a.query("SELECT pg_sleep(1.5), 'busy'")).as_deref(),
        Some("")
    );
    assert_eq!(
        first_value(&a.query("SELECT 'still here'")).as_deref(),
        Some("still here")
    );
    let started = Instant::now();
    let mut msgs = Vec::new();
    while let Some(m) = a.read_msg() {
        msgs.push(m);
    }
    assert!(started.elapsed() >= Duration::from_millis(900));
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(error_code(&msgs).as_deref(), Some("57P05"));
}

#[test]
fn connection_per_transaction_clients_reuse_cached_backends() {
    let proxy = Proxy::start(0, |c, _| c.corepool_cores = 1);
    proxy
        .primary()
        .psql("postgres", "CREATE DATABASE app")
        .unwrap();
    let port = proxy.port.to_string();
    let pgbench = |args: &[&str]| {
        let out = proxy
            .cluster
            .command("pgbench")
            .args(["-h", "127.0.0.1", "-p", &port, "-U", "postgres"])
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8(out.stderr).unwrap_or_default()
        );
    };
    pgbench(&["-i", "-s", "1", "-q", "app"]);
    let sessions = || -> u64 {
        proxy
            .primary()
            .psql(
                "postgres",
                "SELECT sessions FROM pg_stat_database WHERE datname = 'app'",
            )
            .unwrap()
            .parse()
            .unwrap()
    };
    let before = sessions();
    pgbench(&["-S", "-C", "-c", "2", "-j", "1", "-t", "100", "app"]);
    let opened = sessions() - before;
    // Without the cache every client connection would open one; a few more than the 2 concurrent
    // clients appear when a client arrives while the previous one's reset is still running.
    assert!(
        opened <= 20,
        "200 client connections opened {opened} backend sessions"
    );
}
