//! `corepool serve` run as a child process on a config derived from Debian's pgpool.conf
//! sample, and psql through it.

#![allow(dead_code)]

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use corepool_testkit::{free_port, Cluster};

pub struct Server {
    pub child: Child,
    pub port: u16,
    pub dir: tempfile::TempDir,
    pub conf: PathBuf,
}

impl Server {
    /// Stops the server and returns what it wrote to stderr.
    pub fn log(&mut self) -> String {
        use std::io::Read;
        let _ = self.child.kill();
        let mut text = String::new();
        if let Some(mut err) = self.child.stderr.take() {
            let _ = err.read_to_string(&mut text);
        }
        text
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn write_conf(dir: &Path, cluster: &Cluster, port: u16, extra: &str) -> PathBuf {
    let sample = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../engine/tests/fixtures/pgpool.conf.sample"
    ))
    .expect("Debian's sample config");
    let conf = dir.join("pgpool.conf");
    let text = format!(
        "{sample}\n# test settings\nlisten_addresses = '127.0.0.1'\nport = {port}\nunix_socket_directories = '{d}'\n\
         pcp_listen_addresses = ''\npcp_port = {pcp}\npcp_socket_dir = '{d}'\npid_file_name = '{d}/corepool.pid'\nlogdir = '{d}'\n\
         backend_hostname0 = '127.0.0.1'\nbackend_port0 = {bp}\nbackend_clustering_mode = 'streaming_replication'\n\
         sr_check_period = 0\nhealth_check_period = 0\n{extra}\n",
        d = dir.display(),
        pcp = free_port(),
        bp = cluster.primary().port(),
    );
    std::fs::write(&conf, text).unwrap();
    conf
}

pub fn start(cluster: &Cluster, extra: &str) -> Server {
    start_with(cluster, |_| extra.to_owned(), &[])
}

/// Starts `corepool serve` on a config whose extra lines `extra` makes from the server's
/// directory, with `envs` set.
pub fn start_with(
    cluster: &Cluster,
    extra: impl FnOnce(&Path) -> String,
    envs: &[(&str, &str)],
) -> Server {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let extra = extra(dir.path());
    let conf = write_conf(dir.path(), cluster, port, &extra);
    let child = Command::new(env!("CARGO_BIN_EXE_corepool"))
        .args(["serve", "-n", "-f"])
        .arg(&conf)
        .envs(envs.iter().copied())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("corepool starts");
    let deadline = Instant::now() + Duration::from_secs(20);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "corepool did not start listening"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    Server {
        child,
        port,
        dir,
        conf,
    }
}

pub fn psql(cluster: &Cluster, port: u16, sql: &str) -> Result<String, String> {
    psql_as(cluster, port, "postgres", None, sql)
}

/// psql through the proxy as `user`, with `password` in PGPASSWORD.
pub fn psql_as(
    cluster: &Cluster,
    port: u16,
    user: &str,
    password: Option<&str>,
    sql: &str,
) -> Result<String, String> {
    let conninfo =
        format!("host=127.0.0.1 port={port} user={user} dbname=postgres connect_timeout=5");
    let out = cluster
        .psql_command(&conninfo, sql)
        .env("PGPASSWORD", password.unwrap_or(""))
        .output()
        .unwrap();
    corepool_testkit::psql_result(&out)
}

/// Runs `corepool pcp <args> -h 127.0.0.1 -p <port> -U <user> -w` with `passfile` as its
/// PCPPASSFILE.
pub fn corepool_pcp(user: &str, port: u16, passfile: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_corepool"))
        .arg("pcp")
        .args(args)
        .args(["-h", "127.0.0.1", "-p", &port.to_string(), "-U", user, "-w"])
        .env("PCPPASSFILE", passfile)
        .env("RUST_LOG", "warn")
        .output()
        .expect("corepool runs")
}
