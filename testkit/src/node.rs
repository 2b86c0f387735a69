//! One PostgreSQL server of a test cluster: addresses, `psql`, and start/stop/kill/promote.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU16, Ordering};
use std::thread;
use std::time::Duration;

use crate::conf::{self, quote_conninfo};
use crate::exec::{poll_until, run, text};
use crate::{free_port, sys, Error, Lsn, PgInstall};

/// The superuser every test cluster is created with.
pub const SUPERUSER: &str = "postgres";

/// The address every node listens on.
pub const HOST: &str = "127.0.0.1";

/// How many fresh ports a node's first start tries when its port was taken meanwhile.
const PORT_ATTEMPTS: u32 = 5;

/// One PostgreSQL server (primary or standby) in its own directory:
/// `<cluster>/<name>/{data,sock,postgres.log}`.
///
/// Every method takes `&self`, so a node can be shared across threads (say, a bench's client
/// threads reading [`Node::port`]). Servers are run as [`PgInstall::run_as`] when the tests run
/// as root.
#[derive(Debug)]
pub struct Node {
    name: String,
    dir: PathBuf,
    data_dir: PathBuf,
    socket_dir: PathBuf,
    log_path: PathBuf,
    /// Atomic because the first start may move to another port if this one was taken.
    port: AtomicU16,
    password: Option<String>,
    install: &'static PgInstall,
    timeout: Duration,
}

impl Node {
    /// Creates `<root>/<name>` and its socket directory, owned by the run-as user, and picks a
    /// free port. No server exists yet.
    pub(crate) fn create(
        install: &'static PgInstall,
        root: &Path,
        name: &str,
        password: Option<String>,
        timeout: Duration,
    ) -> Result<Node, Error> {
        let dir = root.join(name);
        let node = Node {
            name: name.to_owned(),
            data_dir: dir.join("data"),
            socket_dir: dir.join("sock"),
            log_path: dir.join("postgres.log"),
            dir,
            port: AtomicU16::new(free_port()),
            password,
            install,
            timeout,
        };
        install.create_dir(&node.dir)?;
        install.create_dir(&node.socket_dir)?;
        // Unix-socket connections are trusted: only the servers' user (and root) may use them.
        fs::set_permissions(&node.socket_dir, fs::Permissions::from_mode(0o700))
            .map_err(|e| Error::io("chmod", &node.socket_dir, e))?;
        Ok(node)
    }

    /// The node's name in the cluster: `node0` is the primary, `node1`... the standbys. It is
    /// also a standby's `application_name` in `pg_stat_replication`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The TCP port, on [`Node::host`].
    pub fn port(&self) -> u16 {
        self.port.load(Ordering::Relaxed)
    }

    /// Always `127.0.0.1`.
    pub fn host(&self) -> &'static str {
        HOST
    }

    /// The data directory (`PGDATA`).
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// The directory holding the Unix socket `.s.PGSQL.<port>`.
    pub fn socket_dir(&self) -> &Path {
        &self.socket_dir
    }

    /// The server log (`pg_ctl -l`), outside the data directory.
    pub fn log_path(&self) -> &Path {
        &self.log_path
    }

    /// The superuser password, if the cluster was given one.
    pub fn password(&self) -> Option<&str> {
        self.password.as_deref()
    }

    /// A libpq conninfo for `db` as the superuser over TCP, with the password when there is
    /// one: `host=127.0.0.1 port=5433 user=postgres dbname='db'`.
    pub fn conninfo(&self, db: &str) -> String {
        let mut s = format!(
            "host={HOST} port={} user={SUPERUSER} dbname={}",
            self.port(),
            quote_conninfo(db)
        );
        if let Some(password) = &self.password {
            s.push_str(" password=");
            s.push_str(&quote_conninfo(password));
        }
        s
    }

    /// A `postgresql://user@127.0.0.1:port/db` URL (no password).
    pub fn url(&self, db: &str, user: &str) -> String {
        format!(
            "postgresql://{}@{HOST}:{}/{}",
            percent_encode(user),
            self.port(),
            percent_encode(db)
        )
    }

    /// A [`Command`] for PostgreSQL program `tool`, as [`PgInstall::command`] builds it, run in
    /// this node's directory.
    pub fn command(&self, tool: &str) -> Command {
        let mut cmd = self.install.command(tool);
        cmd.current_dir(&self.dir);
        cmd
    }

    /// Runs `sql` with `psql -X -A -t -q -v ON_ERROR_STOP=1` as the superuser over the Unix
    /// socket (always `trust`) and returns its trimmed stdout: one row per line, columns split
    /// by `|`. A failing statement is [`Error::Command`] with psql's stderr.
    pub fn psql(&self, db: &str, sql: &str) -> Result<String, Error> {
        let mut cmd = self.psql_command();
        cmd.arg("-h").arg(&self.socket_dir);
        cmd.args(["-U", SUPERUSER, "-d", db, "-w", "-c", sql]);
        self.psql_output(&mut cmd)
    }

    /// Like [`Node::psql`] but over TCP to `127.0.0.1`, as `user` with `password` (passed in
    /// `PGPASSWORD`), so the cluster's host authentication method applies.
    pub fn psql_tcp(
        &self,
        db: &str,
        user: &str,
        password: Option<&str>,
        sql: &str,
    ) -> Result<String, Error> {
        let mut cmd = self.psql_command();
        cmd.args(["-h", HOST, "-U", user, "-d", db, "-w", "-c", sql]);
        if let Some(password) = password {
            cmd.env("PGPASSWORD", password);
        }
        self.psql_output(&mut cmd)
    }

    fn psql_command(&self) -> Command {
        let mut cmd = self.command("psql");
        cmd.args(["-X", "-A", "-t", "-q", "-v", "ON_ERROR_STOP=1"])
            .args(["-p", &self.port().to_string()])
            .env("PGCONNECT_TIMEOUT", "10");
        cmd
    }

    fn psql_output(&self, cmd: &mut Command) -> Result<String, Error> {
        let out = run(cmd, self.timeout)?;
        let stdout = String::from_utf8(out.stdout).map_err(|e| Error::UnexpectedOutput {
            what: format!("psql on {}", self.name),
            output: text(e.as_bytes()),
        })?;
        Ok(stdout.trim().to_owned())
    }

    /// Starts the server (`pg_ctl start -w`) on its current port and waits until it accepts
    /// queries.
    pub fn start(&self) -> Result<(), Error> {
        self.start_with(false)
    }

    /// Starts the server; with `new_ports`, moves to a fresh port when "address already in use"
    /// (a test elsewhere took the free port meanwhile). Only a node's first start does that:
    /// later, standbys and clients already know the port.
    pub(crate) fn start_with(&self, new_ports: bool) -> Result<(), Error> {
        self.write_node_conf()?;
        let mut attempt = 1;
        loop {
            let log_start = fs::metadata(&self.log_path).map_or(0, |m| m.len());
            let mut cmd = self.command("pg_ctl");
            cmd.arg("start")
                .arg("-w")
                .args(["-t", &self.timeout.as_secs().max(1).to_string()])
                .arg("-D")
                .arg(&self.data_dir)
                .arg("-l")
                .arg(&self.log_path);
            let err = match run(&mut cmd, self.timeout + Duration::from_secs(10)) {
                Ok(_) => return self.wait_ready(),
                Err(e) => e,
            };
            let log = fs::read(&self.log_path).unwrap_or_default();
            let new_log = text(log.get(log_start as usize..).unwrap_or_default());
            if !new_log.contains("Address already in use") {
                return Err(self.with_log_tail(err));
            }
            if attempt == PORT_ATTEMPTS {
                return Err(Error::NoFreePort {
                    node: self.name.clone(),
                    attempts: attempt,
                    log: self.log_path.clone(),
                });
            }
            attempt += 1;
            if new_ports {
                self.port.store(free_port(), Ordering::Relaxed);
                self.write_node_conf()?;
            } else {
                thread::sleep(Duration::from_millis(500));
            }
        }
    }

    /// Stops the server with `pg_ctl stop -m fast -w`. Stopping a stopped node is a no-op.
    pub fn stop(&self) -> Result<(), Error> {
        self.pg_ctl_stop("fast")
    }

    fn pg_ctl_stop(&self, mode: &str) -> Result<(), Error> {
        if !self.pid_file().exists() {
            return Ok(());
        }
        let mut cmd = self.command("pg_ctl");
        cmd.args(["stop", "-w", "-m", mode])
            .args(["-t", &self.timeout.as_secs().max(1).to_string()])
            .arg("-D")
            .arg(&self.data_dir);
        run(&mut cmd, self.timeout + Duration::from_secs(10)).map(drop)
    }

    /// Crashes the server: SIGKILL to the postmaster and its process group, no shutdown
    /// checkpoint. The next [`Node::start`] runs crash recovery. Waits until the postmaster is
    /// gone and removes its lock files (a zombie postmaster, left where init does not reap,
    /// would otherwise block the next start).
    pub fn kill(&self) -> Result<(), Error> {
        let Some(pid) = self.postmaster_pid() else {
            return Ok(());
        };
        sys::kill_postmaster(pid);
        poll_until(
            || format!("{} (pid {pid}) to die", self.name),
            self.timeout,
            || Ok(!sys::is_alive(pid)),
        )?;
        let socket_lock = self
            .socket_dir
            .join(format!(".s.PGSQL.{}.lock", self.port()));
        for lock in [self.pid_file(), socket_lock] {
            // Already missing is fine: only a stale lock matters.
            let _ = fs::remove_file(lock);
        }
        Ok(())
    }

    /// [`Node::stop`] then [`Node::start`].
    pub fn restart(&self) -> Result<(), Error> {
        self.stop()?;
        self.start()
    }

    /// Promotes a standby (`pg_ctl promote -w`) and waits until it accepts writes.
    pub fn promote(&self) -> Result<(), Error> {
        let mut cmd = self.command("pg_ctl");
        cmd.args(["promote", "-w"])
            .args(["-t", &self.timeout.as_secs().max(1).to_string()])
            .arg("-D")
            .arg(&self.data_dir);
        run(&mut cmd, self.timeout + Duration::from_secs(10))?;
        poll_until(
            || format!("{} to leave recovery", self.name),
            self.timeout,
            || Ok(!self.is_in_recovery()?),
        )
    }

    /// Waits until the server answers `SELECT 1`.
    pub fn wait_ready(&self) -> Result<(), Error> {
        poll_until(
            || format!("{} to accept connections", self.name),
            self.timeout,
            || self.psql("postgres", "SELECT 1").map(|out| out == "1"),
        )
    }

    /// `pg_is_in_recovery()`: true on a standby.
    pub fn is_in_recovery(&self) -> Result<bool, Error> {
        match self
            .psql("postgres", "SELECT pg_is_in_recovery()")?
            .as_str()
        {
            "t" => Ok(true),
            "f" => Ok(false),
            other => Err(Error::UnexpectedOutput {
                what: "pg_is_in_recovery()".into(),
                output: other.into(),
            }),
        }
    }

    /// `pg_current_wal_lsn()` of a primary: everything written so far.
    pub fn current_wal_lsn(&self) -> Result<Lsn, Error> {
        self.psql("postgres", "SELECT pg_current_wal_lsn()")?
            .parse()
    }

    /// `pg_last_wal_replay_lsn()` of a standby, `None` before it replayed anything.
    pub fn replay_lsn(&self) -> Result<Option<Lsn>, Error> {
        let out = self.psql("postgres", "SELECT pg_last_wal_replay_lsn()")?;
        if out.is_empty() {
            Ok(None)
        } else {
            out.parse().map(Some)
        }
    }

    /// Waits until this standby has replayed WAL up to `lsn`.
    pub fn wait_for_replay_of(&self, lsn: Lsn) -> Result<(), Error> {
        poll_until(
            || format!("{} to replay up to {lsn}", self.name),
            self.timeout,
            || Ok(self.replay_lsn()?.is_some_and(|replayed| replayed >= lsn)),
        )
    }

    /// Waits until this standby has replayed everything `primary` has written so far.
    pub fn wait_caught_up(&self, primary: &Node) -> Result<(), Error> {
        self.wait_for_replay_of(primary.current_wal_lsn()?)
    }

    /// Waits until `primary`'s `pg_stat_replication` shows this node streaming.
    pub fn wait_streaming_from(&self, primary: &Node) -> Result<(), Error> {
        let sql = format!(
            "SELECT count(*) FROM pg_stat_replication \
             WHERE application_name = {} AND state = 'streaming'",
            conf::quote_literal(&self.name)
        );
        poll_until(
            || format!("{} to stream from {}", self.name, primary.name),
            self.timeout,
            || Ok(primary.psql("postgres", &sql)? == "1"),
        )
    }

    /// Waits until a base backup is copying files from this node: `BASE_BACKUP` streaming data
    /// files (pg_stat_progress_basebackup), or a `corepool basebackup -j N` worker reading a
    /// chunk. From then on, an interruption or a change to the data happens mid-copy.
    pub fn wait_backup_copying(&self) -> Result<(), Error> {
        let sql = "SELECT (SELECT count(*) FROM pg_stat_progress_basebackup \
                           WHERE phase = 'streaming database files') \
                        + (SELECT count(*) FROM pg_stat_activity \
                           WHERE query LIKE '%pg_read_binary_file(%generate_series%' \
                             AND pid <> pg_backend_pid())";
        poll_until(
            || format!("a base backup to copy files from {}", self.name),
            self.timeout,
            || Ok(self.psql("postgres", sql)? != "0"),
        )
    }

    /// Whether a postmaster is running for this data directory.
    pub fn is_running(&self) -> bool {
        self.postmaster_pid().is_some_and(sys::is_alive)
    }

    /// The last `lines` lines of the server log.
    pub fn log_tail(&self, lines: usize) -> String {
        let log = text(&fs::read(&self.log_path).unwrap_or_default());
        let all: Vec<&str> = log.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }

    /// Stops the server at once (`-m immediate`), falling back to SIGKILL. For teardown.
    pub(crate) fn shut_down_now(&self) {
        if self.pg_ctl_stop("immediate").is_err() {
            let _ = self.kill();
        }
    }

    /// Writes [`conf::NODE_CONF`] (port, socket directory) into the data directory.
    pub(crate) fn write_node_conf(&self) -> Result<(), Error> {
        let path = self.data_dir.join(conf::NODE_CONF);
        let body = conf::node_settings(self.port(), &self.socket_dir);
        self.install.write_file(&path, body.as_bytes(), false)
    }

    fn pid_file(&self) -> PathBuf {
        self.data_dir.join("postmaster.pid")
    }

    fn postmaster_pid(&self) -> Option<i32> {
        let contents = fs::read_to_string(self.pid_file()).ok()?;
        contents.lines().next()?.trim().parse().ok()
    }

    /// Adds the end of the server log to a failed command's stderr.
    fn with_log_tail(&self, err: Error) -> Error {
        match err {
            Error::Command {
                command,
                status,
                stderr,
            } => Error::Command {
                command,
                status,
                stderr: format!(
                    "{stderr}\n--- last lines of {} ---\n{}",
                    self.log_path.display(),
                    self.log_tail(20)
                ),
            },
            other => other,
        }
    }
}

/// Percent-encodes everything but RFC 3986 unreserved characters.
fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_percent_encoded() {
        assert_eq!(percent_encode("my db/ü"), "my%20db%2F%C3%BC");
        assert_eq!(percent_encode("postgres"), "postgres");
    }
}
