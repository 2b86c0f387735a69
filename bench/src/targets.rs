//! The things pgbench is pointed at: PostgreSQL itself, PgBouncer in session and transaction
//! mode, Pgpool-II and corepool, each proxy started with its configuration in a directory of
//! the cluster's and stopped (with every process it forked) when its [`Proxy`] is dropped.

use std::fmt;
use std::fs::{self, File};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use corepool_testkit::{free_port, Cluster};

use crate::pgbench::{file_tail, QueryMode, Workload, DATABASE, USER};
use crate::procs::ProcessSet;
use crate::sys::{self, Signal};
use crate::{conf, idle};

/// How long a proxy may take to accept its first client.
const START_TIMEOUT: Duration = Duration::from_secs(90);

/// How long a proxy may take to exit after its shutdown signal before it is killed.
const STOP_TIMEOUT: Duration = Duration::from_secs(10);

/// One thing to benchmark.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TargetKind {
    /// The PostgreSQL primary, no proxy.
    Direct,
    /// PgBouncer, `pool_mode = session`.
    PgbouncerSession,
    /// PgBouncer, `pool_mode = transaction`.
    PgbouncerTransaction,
    /// Pgpool-II in raw mode with the one backend.
    Pgpool,
    /// `corepool serve` with the same pgpool.conf dialect.
    Corepool,
}

impl TargetKind {
    /// Every target, in table order.
    pub const ALL: [TargetKind; 5] = [
        TargetKind::Direct,
        TargetKind::PgbouncerSession,
        TargetKind::PgbouncerTransaction,
        TargetKind::Pgpool,
        TargetKind::Corepool,
    ];

    /// The name used on the command line and in tables.
    pub fn name(self) -> &'static str {
        match self {
            TargetKind::Direct => "direct",
            TargetKind::PgbouncerSession => "pgbouncer-session",
            TargetKind::PgbouncerTransaction => "pgbouncer-transaction",
            TargetKind::Pgpool => "pgpool",
            TargetKind::Corepool => "corepool",
        }
    }

    /// Parses a [`TargetKind::name`].
    pub fn parse(name: &str) -> Result<TargetKind> {
        TargetKind::ALL
            .into_iter()
            .find(|k| k.name() == name.trim())
            .ok_or_else(|| {
                let names: Vec<_> = TargetKind::ALL.iter().map(|k| k.name()).collect();
                anyhow!(
                    "unknown target {name:?}; expected one of {}",
                    names.join(", ")
                )
            })
    }

    /// Why `workload` cannot run against this target, if it cannot.
    pub fn unsupported(self, workload: &Workload) -> Option<&'static str> {
        (self == TargetKind::PgbouncerTransaction && workload.mode == QueryMode::Prepared)
            .then_some(
                "PgBouncer 1.18 transaction pooling cannot carry named prepared statements \
             (max_prepared_statements arrived in 1.21)",
            )
    }

    /// Whether every client session holds its own backend connection from start-up on (Pgpool-II
    /// and corepool do; PgBouncer connects a server only for a client's transactions).
    pub fn backend_per_client(self) -> bool {
        matches!(self, TargetKind::Pgpool | TargetKind::Corepool)
    }
}

impl fmt::Display for TargetKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Sizes given to a proxy.
#[derive(Debug, Clone)]
pub struct ProxyConfig {
    /// Clients the proxy must accept at once (`max_client_conn`, `num_init_children`).
    pub max_clients: u32,
    /// PgBouncer's `default_pool_size`: server connections per user/database.
    pub pool_size: u32,
    /// corepool's `corepool_cores`; `None` = all cores.
    pub corepool_cores: Option<u32>,
    /// The `corepool` binary.
    pub corepool_bin: PathBuf,
    /// Pgpool-II and corepool in streaming-replication mode with load balancing over every node
    /// of the cluster (primary and standbys) instead of raw mode on the primary alone.
    pub load_balance: bool,
}

/// A running proxy. Dropping it stops the proxy and every process in its process group.
#[derive(Debug)]
pub struct Proxy {
    kind: TargetKind,
    port: u16,
    child: Child,
    log: PathBuf,
    stop_signal: Signal,
}

impl Proxy {
    /// Which proxy this is.
    pub fn kind(&self) -> TargetKind {
        self.kind
    }

    /// Its client port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The pid of the process we started.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Its stdout/stderr log.
    pub fn log_path(&self) -> &Path {
        &self.log
    }

    /// The processes whose CPU time and memory are the proxy's.
    pub fn processes(&self) -> ProcessSet {
        ProcessSet {
            root: self.pid(),
            tree: self.kind == TargetKind::Pgpool,
        }
    }

    /// An error if the proxy has exited, with the end of its log.
    pub fn check_alive(&mut self) -> Result<()> {
        if let Some(status) = self.child.try_wait()? {
            bail!(
                "{} exited ({status}); end of {}:\n{}",
                self.kind,
                self.log.display(),
                file_tail(&self.log, 15)
            );
        }
        Ok(())
    }

    fn wait_ready(&mut self) -> Result<()> {
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            self.check_alive()?;
            match idle::ping(self.port, USER, DATABASE) {
                Ok(()) => return Ok(()),
                Err(e) if Instant::now() > deadline => {
                    return Err(e.context(format!(
                        "{} not serving after {START_TIMEOUT:?}; end of {}:\n{}",
                        self.kind,
                        self.log.display(),
                        file_tail(&self.log, 15)
                    )))
                }
                Err(_) => thread::sleep(Duration::from_millis(100)),
            }
        }
    }

    /// Sends the shutdown signal, waits, then SIGKILLs the process group.
    fn shut_down(&mut self) {
        let pgid = self.pid();
        let _ = sys::signal_process(pgid, self.stop_signal);
        let deadline = Instant::now() + STOP_TIMEOUT;
        while Instant::now() < deadline {
            if !matches!(self.child.try_wait(), Ok(None)) {
                break;
            }
            thread::sleep(Duration::from_millis(20));
        }
        // Leftover children (Pgpool-II's) and a proxy that ignored the signal.
        let _ = sys::signal_group(pgid, Signal::Kill);
        let _ = self.child.wait();
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.shut_down();
    }
}

/// Starts the proxy `kind` in front of `cluster`'s primary (Pgpool-II and corepool with
/// [`ProxyConfig::load_balance`]: in front of every node) and waits until it serves a client.
/// [`TargetKind::Direct`] has no proxy and is an error here.
pub fn start(cluster: &Cluster, kind: TargetKind, config: &ProxyConfig) -> Result<Proxy> {
    let port = free_port();
    let dir = cluster
        .create_dir(&format!("{}-{port}", kind.name()))
        .with_context(|| format!("create directory for {kind}"))?;
    let backend_port = cluster.primary().port();
    let pgpool_conf = |port: u16, pcp_port: u16| {
        if config.load_balance {
            let ports: Vec<u16> = cluster.nodes().iter().map(|n| n.port()).collect();
            conf::pgpool_load_balancing(&dir, port, pcp_port, &ports, config)
        } else {
            conf::pgpool(&dir, port, pcp_port, backend_port, config)
        }
    };
    let (program, args, stop_signal) = match kind {
        TargetKind::Direct => bail!("direct has no proxy to start"),
        TargetKind::PgbouncerSession | TargetKind::PgbouncerTransaction => {
            let mode = if kind == TargetKind::PgbouncerSession {
                "session"
            } else {
                "transaction"
            };
            let ini = conf::pgbouncer(&dir, port, backend_port, mode, config);
            write(&dir.join("userlist.txt"), "\"postgres\" \"\"\n")?;
            write(&dir.join("pgbouncer.ini"), &ini)?;
            let args = vec![dir.join("pgbouncer.ini").into_os_string()];
            (find_program("pgbouncer")?, args, Signal::Terminate)
        }
        TargetKind::Pgpool => {
            write(&dir.join("pgpool.conf"), &pgpool_conf(port, free_port()))?;
            write(
                &dir.join("pcp.conf"),
                "# no PCP users: the benchmark does not use PCP\n",
            )?;
            let args = ["-n", "-f"]
                .map(Into::into)
                .into_iter()
                .chain([dir.join("pgpool.conf").into_os_string(), "-F".into()])
                .chain([dir.join("pcp.conf").into_os_string()])
                .collect();
            (find_program("pgpool")?, args, Signal::Interrupt)
        }
        TargetKind::Corepool => {
            let mut text = pgpool_conf(port, free_port());
            text.push_str(&conf::corepool_extras(config));
            write(&dir.join("pgpool.conf"), &text)?;
            let args = vec![
                "serve".into(),
                "-n".into(),
                "-f".into(),
                dir.join("pgpool.conf").into(),
            ];
            if !config.corepool_bin.is_file() {
                bail!("no corepool binary at {}", config.corepool_bin.display());
            }
            (config.corepool_bin.clone(), args, Signal::Interrupt)
        }
    };
    let log = dir.join(format!("{}.log", kind.name()));
    let out = File::create(&log).with_context(|| format!("create {}", log.display()))?;
    let mut cmd = Command::new(&program);
    cmd.args(&args)
        .current_dir(&dir)
        .stdin(Stdio::null())
        .stdout(out.try_clone()?)
        .stderr(out)
        .process_group(0)
        .env("HOME", &dir);
    if let Some(user) = cluster.run_as() {
        cmd.uid(user.uid())
            .gid(user.gid())
            .env("USER", user.name())
            .env("LOGNAME", user.name());
    }
    let child = cmd
        .spawn()
        .with_context(|| format!("spawn {}", program.display()))?;
    let mut proxy = Proxy {
        kind,
        port,
        child,
        log,
        stop_signal,
    };
    proxy.wait_ready()?;
    Ok(proxy)
}

fn write(path: &Path, text: &str) -> Result<()> {
    fs::write(path, text).with_context(|| format!("write {}", path.display()))
}

/// `name` on PATH or in the sbin directories Debian installs daemons into.
fn find_program(name: &str) -> Result<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/usr/local/sbin", "/sbin"].map(PathBuf::from))
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
        .ok_or_else(|| anyhow!("{name} not found on PATH or in /usr/sbin (run scripts/setup.sh)"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for kind in TargetKind::ALL {
            assert_eq!(TargetKind::parse(kind.name()).unwrap(), kind);
        }
        assert!(TargetKind::parse("odyssey").is_err());
    }

    #[test]
    fn prepared_is_not_applicable_to_transaction_pooling() {
        let prepared = Workload::standard()
            .into_iter()
            .find(|w| w.mode == QueryMode::Prepared)
            .unwrap();
        assert!(TargetKind::PgbouncerTransaction
            .unsupported(&prepared)
            .is_some());
        assert!(TargetKind::PgbouncerSession
            .unsupported(&prepared)
            .is_none());
    }
}
