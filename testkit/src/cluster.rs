//! A primary and its streaming standbys: the builder, node creation and teardown on drop.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::thread;
use std::time::Duration;

use crate::conf::{self, AuthMethod};
use crate::exec::run;
use crate::node::{Node, HOST, SUPERUSER};
use crate::{Error, PgInstall, RunAs};

/// Environment variable that, when set to anything but `""` or `0`, keeps every cluster's
/// directory after the test (servers are stopped) and prints where it is.
pub const KEEP_ENV: &str = "COREPOOL_KEEP_CLUSTER";

/// How many lines of each server log a panicking test prints.
const LOG_TAIL_ON_PANIC: usize = 60;

/// Settings for a [`Cluster`]; get one from [`Cluster::builder`].
#[derive(Debug, Clone)]
pub struct ClusterBuilder {
    standbys: usize,
    settings: Vec<(String, String)>,
    data_checksums: bool,
    auth: AuthMethod,
    password: Option<String>,
    hba_lines: Vec<String>,
    initdb_args: Vec<String>,
    keep: bool,
    timeout: Duration,
}

impl Default for ClusterBuilder {
    fn default() -> Self {
        ClusterBuilder {
            standbys: 0,
            settings: Vec::new(),
            data_checksums: false,
            auth: AuthMethod::Trust,
            password: None,
            hba_lines: Vec::new(),
            initdb_args: Vec::new(),
            keep: std::env::var_os(KEEP_ENV).is_some_and(|v| !v.is_empty() && v != "0"),
            timeout: Duration::from_secs(60),
        }
    }
}

impl ClusterBuilder {
    /// How many streaming standbys to create (default 0).
    pub fn standbys(mut self, count: usize) -> Self {
        self.standbys = count;
        self
    }

    /// Adds a postgresql.conf setting; it overrides the testkit's defaults (but not `port` or
    /// `unix_socket_directories`, which belong to the testkit). Values are quoted for you.
    pub fn setting(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.settings.push((name.into(), value.into()));
        self
    }

    /// `ssl = on` with the server certificate and key in `cert` and `key` (readable by the
    /// servers' user; the key mode 0600).
    pub fn ssl(self, cert: &Path, key: &Path) -> Self {
        self.setting("ssl", "on")
            .setting("ssl_cert_file", cert.display().to_string())
            .setting("ssl_key_file", key.display().to_string())
    }

    /// Runs `initdb --data-checksums` (default off, as in PostgreSQL).
    pub fn data_checksums(mut self, on: bool) -> Self {
        self.data_checksums = on;
        self
    }

    /// The authentication method for TCP connections (default [`AuthMethod::Trust`]). Methods
    /// other than trust need a [`ClusterBuilder::superuser_password`].
    pub fn host_auth(mut self, method: AuthMethod) -> Self {
        self.auth = method;
        self
    }

    /// Sets the `postgres` superuser's password; standbys use it to replicate.
    pub fn superuser_password(mut self, password: impl Into<String>) -> Self {
        self.password = Some(password.into());
        self
    }

    /// Adds a pg_hba.conf line. Lines go after the testkit's `local ... trust` lines and before
    /// its host lines, so they take precedence over the host defaults.
    pub fn hba_line(mut self, line: impl Into<String>) -> Self {
        self.hba_lines.push(line.into());
        self
    }

    /// Adds an argument to `initdb`, e.g. `--wal-segsize=1`.
    pub fn initdb_arg(mut self, arg: impl Into<String>) -> Self {
        self.initdb_args.push(arg.into());
        self
    }

    /// Keeps the directories after drop for debugging (servers are still stopped). Defaults to
    /// whether `COREPOOL_KEEP_CLUSTER` is set.
    pub fn keep(mut self, keep: bool) -> Self {
        self.keep = keep;
        self
    }

    /// Bound on every wait: each server start, promotion, replay wait and `psql` run (default
    /// 60 s).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Creates and starts the primary, then each standby, and waits until every standby is
    /// streaming. On failure everything started is torn down and the server logs' last lines
    /// are printed to stderr.
    pub fn start(self) -> Result<Cluster, Error> {
        if self.auth != AuthMethod::Trust && self.password.is_none() {
            return Err(Error::Config(format!(
                "host auth {} needs a superuser password",
                self.auth.hba_name()
            )));
        }
        let install = PgInstall::get()?;
        let root = tempfile::Builder::new()
            .prefix("corepool-")
            .tempdir()
            .map_err(|e| Error::io("create temp dir", std::env::temp_dir(), e))?;
        install.create_dir(root.path())?;
        let standbys = self.standbys;
        let mut cluster = Cluster {
            install,
            root: Some(root),
            nodes: Vec::new(),
            builder: self,
        };
        let result = cluster
            .init_primary()
            .and_then(|()| (0..standbys).try_for_each(|_| cluster.add_standby().map(drop)));
        match result {
            Ok(()) => Ok(cluster),
            Err(e) => {
                cluster.print_log_tails();
                Err(e)
            }
        }
    }
}

/// A running primary (`node0`) and its streaming standbys (`node1`, ...) on 127.0.0.1, in a
/// temporary directory. Dropping it, even while a test panics, stops every server and removes
/// the directory; a panicking test first prints each server log's last lines.
#[derive(Debug)]
pub struct Cluster {
    install: &'static PgInstall,
    /// `None` only once dropped.
    root: Option<tempfile::TempDir>,
    nodes: Vec<Node>,
    builder: ClusterBuilder,
}

impl Cluster {
    /// A builder with the defaults: one primary, no standbys, trust auth, no checksums.
    pub fn builder() -> ClusterBuilder {
        ClusterBuilder::default()
    }

    /// The servers' major version (15, 16, 17, 18, …).
    pub fn major(&self) -> u32 {
        self.install.major()
    }

    /// The node `initdb` created. After [`Node::promote`] on a standby this is still the old
    /// primary.
    pub fn primary(&self) -> &Node {
        &self.nodes[0]
    }

    /// The standbys, in creation order.
    pub fn standbys(&self) -> &[Node] {
        &self.nodes[1..]
    }

    /// All nodes, primary first.
    pub fn nodes(&self) -> &[Node] {
        &self.nodes
    }

    /// The directory holding every node's directory.
    pub fn root_dir(&self) -> &Path {
        self.root.as_ref().map_or(Path::new(""), |r| r.path())
    }

    /// Where the PostgreSQL programs are.
    pub fn bin_dir(&self) -> &Path {
        self.install.bin_dir()
    }

    /// The user the servers run as, when the tests run as root.
    pub fn run_as(&self) -> Option<&RunAs> {
        self.install.run_as()
    }

    /// A [`Command`] for PostgreSQL program `tool` (`pgbench`, `pg_verifybackup`, ...), run as
    /// the servers' user (see [`PgInstall::command`]) in [`Cluster::root_dir`], which that user
    /// can write to.
    pub fn command(&self, tool: &str) -> Command {
        let mut cmd = self.install.command(tool);
        cmd.current_dir(self.root_dir());
        cmd
    }

    /// Creates a directory under [`Cluster::root_dir`] owned by the servers' user, e.g. as a
    /// target for `pg_basebackup` run through [`Cluster::command`].
    pub fn create_dir(&self, name: &str) -> Result<PathBuf, Error> {
        let dir = self.root_dir().join(name);
        self.install.create_dir(&dir)?;
        Ok(dir)
    }

    /// Gives `path` and everything under it to the servers' user (symbolic links themselves,
    /// not their targets), so a server or tool running as that user can use what a test made
    /// as root. Does nothing when the servers run as the current user.
    pub fn give(&self, path: &Path) -> Result<(), Error> {
        use std::os::unix::fs::{chown, lchown};
        let Some(u) = self.run_as() else {
            return Ok(());
        };
        let meta = std::fs::symlink_metadata(path).map_err(|e| Error::io("stat", path, e))?;
        if meta.file_type().is_symlink() {
            return lchown(path, Some(u.uid()), Some(u.gid()))
                .map_err(|e| Error::io("lchown", path, e));
        }
        chown(path, Some(u.uid()), Some(u.gid())).map_err(|e| Error::io("chown", path, e))?;
        if meta.is_dir() {
            for entry in std::fs::read_dir(path).map_err(|e| Error::io("read_dir", path, e))? {
                let entry = entry.map_err(|e| Error::io("read_dir", path, e))?;
                self.give(&entry.path())?;
            }
        }
        Ok(())
    }

    /// `psql -X -A -t -q -v ON_ERROR_STOP=1 -d <conninfo> -c <sql>`, run as the servers' user:
    /// the quiet, unaligned form tests read values from (see [`psql_result`]). `conninfo` is a
    /// libpq string, e.g. `host=127.0.0.1 port=6432 user=postgres dbname=postgres`.
    pub fn psql_command(&self, conninfo: &str, sql: &str) -> Command {
        let mut cmd = self.command("psql");
        cmd.args(quiet_psql_args(conninfo, sql));
        cmd
    }

    /// `pgbench` against the primary's `postgres` database as the superuser, with `args`
    /// (`-i -s 10 -q`, `-c 2 -T 5 -n`, …); the caller waits for or reads the command.
    pub fn pgbench(&self, args: &[&str]) -> Command {
        let p = self.primary();
        let mut cmd = self.command("pgbench");
        cmd.args(["-h", p.host(), "-p", &p.port().to_string(), "-U", SUPERUSER])
            .args(args)
            .arg("postgres");
        cmd
    }

    /// Adds a streaming standby of [`Cluster::primary`] (`pg_basebackup -R -X stream -c fast`),
    /// starts it and waits until it streams.
    pub fn add_standby(&mut self) -> Result<&Node, Error> {
        let name = format!("node{}", self.nodes.len());
        let node = self.create_node(&name)?;
        self.nodes.push(node);
        let (primary, node) = (&self.nodes[0], &self.nodes[self.nodes.len() - 1]);
        let conninfo = format!(
            "host={HOST} port={} user={SUPERUSER} application_name={name}",
            primary.port()
        );
        let mut cmd = self.install.command("pg_basebackup");
        cmd.current_dir(self.root_dir())
            .arg("-D")
            .arg(node.data_dir())
            .args(["-R", "-X", "stream", "-c", "fast", "--no-sync", "-w"])
            .args(["-d", &conninfo]);
        if let Some(password) = &self.builder.password {
            cmd.env("PGPASSWORD", password);
        }
        // -R writes primary_conninfo from this connection, PGPASSWORD and application_name
        // included, plus standby.signal.
        run(&mut cmd, self.builder.timeout)?;
        node.start_with(true)?;
        node.wait_streaming_from(primary)?;
        Ok(node)
    }

    fn create_node(&self, name: &str) -> Result<Node, Error> {
        Node::create(
            self.install,
            self.root_dir(),
            name,
            self.builder.password.clone(),
            self.builder.timeout,
        )
    }

    fn init_primary(&mut self) -> Result<(), Error> {
        let node = self.create_node("node0")?;
        self.nodes.push(node);
        let (node, b) = (&self.nodes[0], &self.builder);
        let mut cmd = self.install.command("initdb");
        cmd.current_dir(self.root_dir())
            .arg("-D")
            .arg(node.data_dir())
            .args(["-U", SUPERUSER, "-E", "UTF8", "--locale=C", "-A", "trust"])
            .arg("--no-sync")
            // 18's initdb enables checksums by default; off stays off on every major.
            .args(match (b.data_checksums, self.install.major() >= 18) {
                (true, _) => Some("--data-checksums"),
                (false, true) => Some("--no-data-checksums"),
                (false, false) => None,
            })
            .args(&b.initdb_args);
        run(&mut cmd, b.timeout)?;
        let data = node.data_dir();
        let settings = conf::base_settings(b.auth, &b.settings);
        self.install
            .write_file(&data.join("postgresql.conf"), settings.as_bytes(), true)?;
        let hba = conf::hba(b.auth, &b.hba_lines);
        self.install
            .write_file(&data.join("pg_hba.conf"), hba.as_bytes(), false)?;
        node.start_with(true)?;
        if let Some(password) = &b.password {
            let sql = format!(
                "ALTER ROLE {SUPERUSER} PASSWORD {}",
                conf::quote_literal(password)
            );
            node.psql("postgres", &sql)?;
        }
        Ok(())
    }

    fn print_log_tails(&self) {
        for node in &self.nodes {
            eprintln!(
                "----- last {LOG_TAIL_ON_PANIC} lines of {} ({}) -----\n{}",
                node.name(),
                node.log_path().display(),
                node.log_tail(LOG_TAIL_ON_PANIC)
            );
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if thread::panicking() {
            self.print_log_tails();
        }
        // Standbys first, so none of them logs a lost primary on the way down.
        for node in self.nodes.iter().rev() {
            if self.builder.keep {
                if node.stop().is_err() {
                    node.shut_down_now();
                }
            } else {
                node.shut_down_now();
            }
        }
        if let Some(root) = self.root.take() {
            if self.builder.keep {
                eprintln!(
                    "corepool-testkit: kept cluster in {}",
                    root.keep().display()
                );
            }
        }
    }
}

/// psql's arguments for the quiet, unaligned form tests read values from:
/// `-X -A -t -q -v ON_ERROR_STOP=1 -d <conninfo> -c <sql>`, for a psql of any installation.
pub fn quiet_psql_args<'a>(conninfo: &'a str, sql: &'a str) -> [&'a str; 10] {
    [
        "-X",
        "-A",
        "-t",
        "-q",
        "-v",
        "ON_ERROR_STOP=1",
        "-d",
        conninfo,
        "-c",
        sql,
    ]
}

/// A finished psql run as tests read it: trimmed stdout on success, trimmed stderr otherwise.
pub fn psql_result(out: &std::process::Output) -> Result<String, String> {
    let text = |b: &[u8]| {
        String::from_utf8(b.to_vec())
            .unwrap_or_default()
            .trim()
            .to_owned()
    };
    if out.status.success() {
        Ok(text(&out.stdout))
    } else {
        Err(text(&out.stderr))
    }
}
