//! Shared set-up for the proxy's integration tests: a real cluster, corepool in front, clients.

#![allow(dead_code)]

pub mod pcp;

use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

use corepool_engine::cluster::ShutdownMode;
use corepool_engine::config::Config;
use corepool_engine::server::{self, Running, ServeOptions};
use corepool_testkit::{Cluster, Node};

/// A cluster with corepool in front; everything stops on drop.
pub struct Proxy {
    pub cluster: Cluster,
    pub port: u16,
    running: Option<Running>,
    pub dir: tempfile::TempDir,
}

impl Proxy {
    /// Starts `standbys` standbys and corepool with `tweak` applied to its configuration.
    pub fn start(standbys: usize, tweak: impl FnOnce(&mut Config, &Path)) -> Proxy {
        let cluster = Cluster::builder()
            .standbys(standbys)
            .start()
            .expect("cluster starts");
        Self::start_on(cluster, tweak)
    }

    /// corepool in front of an existing cluster.
    pub fn start_on(cluster: Cluster, tweak: impl FnOnce(&mut Config, &Path)) -> Proxy {
        Self::start_with(cluster, ServeOptions::default(), tweak)
    }

    /// corepool in front of an existing cluster, started with `options`.
    pub fn start_with(
        cluster: Cluster,
        options: ServeOptions,
        tweak: impl FnOnce(&mut Config, &Path),
    ) -> Proxy {
        let dir = tempfile::tempdir().expect("temp dir");
        let port = corepool_testkit::free_port();
        let mut config = base_config(&cluster, port);
        // The pgpool_status file goes beside the test, not into a shared /tmp.
        config.logdir = dir.path().display().to_string();
        tweak(&mut config, dir.path());
        let port = config.port;
        let running = server::start(config, options).expect("corepool starts");
        Proxy {
            cluster,
            port,
            running: Some(running),
            dir,
        }
    }

    /// The shared cluster state of the running proxy.
    pub fn state(&self) -> &corepool_engine::cluster::ClusterState {
        &self.running.as_ref().expect("running").state
    }

    /// Waits (10 s at most) until the shards' pools hold `n` idle backend connections: the
    /// connections of clients that left have been reset and put back for the next client.
    pub fn wait_pooled(&self, n: u64) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            let idle: u64 = self
                .state()
                .stats
                .shards()
                .iter()
                .map(|s| s.idle_connections.get().max(0) as u64)
                .sum();
            if idle >= n {
                return;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "{idle} idle pooled connections, expected {n}"
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }

    /// `psql` through the proxy as `user` on `db`; returns trimmed stdout or the stderr as Err.
    pub fn psql(&self, db: &str, user: &str, sql: &str) -> Result<String, String> {
        corepool_testkit::psql_result(&self.psql_output(db, user, None, sql))
    }

    /// `psql` with a password.
    pub fn psql_output(&self, db: &str, user: &str, password: Option<&str>, sql: &str) -> Output {
        let mut cmd = self.cluster.psql_command(&self.conninfo(db, user), sql);
        if let Some(p) = password {
            cmd.env("PGPASSWORD", p);
        }
        cmd.output().expect("psql runs")
    }

    /// A libpq-style connection string for tokio-postgres.
    pub fn conninfo(&self, db: &str, user: &str) -> String {
        format!(
            "host=127.0.0.1 port={} user={user} dbname={db} connect_timeout=10",
            self.port
        )
    }

    pub fn primary(&self) -> &Node {
        self.cluster.primary()
    }

    /// Stops corepool (fast) and waits for its shards.
    pub fn stop(&mut self) {
        if let Some(r) = self.running.take() {
            r.state.request_shutdown(ShutdownMode::Fast);
            let _ = r.wait();
        }
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.stop();
    }
}

/// corepool's configuration for a test: listen on 127.0.0.1:`port`, one shard per core, no pid
/// file, no UNIX socket, streaming-replication mode over every node.
pub fn base_config(cluster: &Cluster, port: u16) -> Config {
    let backends: Vec<(String, u16)> = cluster
        .nodes()
        .iter()
        .map(|n| (n.host().to_owned(), n.port()))
        .collect();
    Config::local(port, &backends, "postgres")
}

/// Writes a file into the test's directory and returns its path.
pub fn write_file(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).expect("write test file");
    p
}

/// A current-thread tokio runtime for the Rust-client tests.
pub fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
}

/// Connects tokio-postgres through the proxy and drives its connection in the background.
pub async fn connect(conninfo: &str) -> tokio_postgres::Client {
    let (client, conn) = tokio_postgres::connect(conninfo, tokio_postgres::NoTls)
        .await
        .expect("connect through corepool");
    tokio::spawn(async move {
        let _ = conn.await;
    });
    client
}

/// A blocking client that speaks the wire protocol with corepool's own protocol crate, for tests
/// that need to see or send exact bytes.
pub struct RawClient {
    pub stream: std::net::TcpStream,
    buf: bytes::BytesMut,
}

/// One backend message as (tag, body).
pub type Msg = (u8, Vec<u8>);

impl RawClient {
    /// Opens a TCP connection without starting up.
    pub fn open(port: u16) -> RawClient {
        let stream = std::net::TcpStream::connect(("127.0.0.1", port)).expect("tcp connect");
        stream
            .set_read_timeout(Some(Duration::from_secs(20)))
            .expect("timeout");
        RawClient {
            stream,
            buf: bytes::BytesMut::new(),
        }
    }

    /// Connects and completes start-up (trust auth); returns the messages up to ReadyForQuery.
    pub fn connect(
        port: u16,
        user: &str,
        db: &str,
        extra: &[(&str, &str)],
    ) -> (RawClient, Vec<Msg>) {
        let mut c = Self::open(port);
        let mut out = bytes::BytesMut::new();
        let mut params = vec![("user", user), ("database", db)];
        params.extend_from_slice(extra);
        corepool_protocol::message::write::frontend::startup_message(params, &mut out)
            .expect("startup");
        c.send(&out);
        let msgs = c.read_until_ready();
        (c, msgs)
    }

    pub fn send(&mut self, bytes: &[u8]) {
        use std::io::Write;
        self.stream.write_all(bytes).expect("send");
    }

    /// Sends a simple Query.
    pub fn query(&mut self, sql: &str) -> Vec<Msg> {
        let mut out = bytes::BytesMut::new();
        corepool_protocol::message::write::frontend::query(sql, &mut out).expect("query");
        self.send(&out);
        self.read_until_ready()
    }

    /// Sends Terminate.
    pub fn terminate(mut self) {
        let mut out = bytes::BytesMut::new();
        corepool_protocol::message::write::frontend::terminate(&mut out);
        self.send(&out);
    }

    /// Reads one message; None at end of stream.
    pub fn read_msg(&mut self) -> Option<Msg> {
        use std::io::Read;
        loop {
            if let Ok(Some(f)) =
                corepool_protocol::framing::split_frame(&mut self.buf, &Default::default())
            {
                return Some((f.tag(), f.body().to_vec()));
            }
            let mut chunk = [0u8; 8192];
            match self.stream.read(&mut chunk) {
                Ok(0) | Err(_) => return None,
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
            }
        }
    }

    /// Reads messages up to and including ReadyForQuery (or the end of the stream).
    pub fn read_until_ready(&mut self) -> Vec<Msg> {
        let mut msgs = Vec::new();
        while let Some(m) = self.read_msg() {
            let done = m.0 == b'Z';
            msgs.push(m);
            if done {
                break;
            }
        }
        msgs
    }
}

/// The first text column of the first DataRow in `msgs`.
pub fn first_value(msgs: &[Msg]) -> Option<String> {
    let (_, body) = msgs.iter().find(|(t, _)| *t == b'D')?;
    let row = corepool_protocol::message::backend::DataRow::parse(body).ok()?;
    let v = row.values().next()??;
    String::from_utf8(v.to_vec()).ok()
}

/// The SQLSTATE of the first ErrorResponse in `msgs`.
pub fn error_code(msgs: &[Msg]) -> Option<String> {
    let (_, body) = msgs.iter().find(|(t, _)| *t == b'E')?;
    let e = corepool_protocol::message::backend::ErrorResponse::parse(body).ok()?;
    e.code().map(str::to_owned)
}
