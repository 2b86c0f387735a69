//! Runs `pgbench` (as the cluster's user) and parses its summary and, with `-l`, its
//! per-transaction log.

use std::fmt;
use std::io::Read;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use corepool_testkit::Cluster;

use crate::latency::{self, Percentiles};
use crate::sys::{self, Signal};

/// The database and user every run connects as. Not `postgres`: Pgpool-II (and corepool, which
/// follows it) never cache connections to the `postgres`, `template0/1` and `regression`
/// databases, and PgBouncer does; a dedicated database compares like with like.
pub const DATABASE: &str = "bench";
/// See [`DATABASE`].
pub const USER: &str = "postgres";

/// How much longer than `-T` a run may take before it is killed (start-up, slow connects),
/// plus [`GRACE_PER_CLIENT`] for each client: pgbench opens its connections one by one.
const GRACE: Duration = Duration::from_secs(60);
/// See [`GRACE`]: 10,000 clients get another 100 s.
const GRACE_PER_CLIENT: Duration = Duration::from_millis(10);

/// The name pgbench's per-transaction log files start with (`--log-prefix`).
const LOG_PREFIX: &str = "txn";

/// pgbench's `-M`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueryMode {
    /// One Query message per statement.
    Simple,
    /// Parse/Bind/Execute with the unnamed statement each time.
    Extended,
    /// Named statements prepared once per connection.
    Prepared,
}

impl QueryMode {
    /// Every mode, in table order.
    pub const ALL: [QueryMode; 3] = [QueryMode::Simple, QueryMode::Extended, QueryMode::Prepared];

    /// Parses a `-M` argument.
    pub fn parse(name: &str) -> Result<QueryMode> {
        QueryMode::ALL
            .into_iter()
            .find(|m| m.as_str() == name.trim())
            .ok_or_else(|| {
                anyhow!("unknown query mode {name:?}; expected simple, extended or prepared")
            })
    }

    /// The `-M` argument.
    pub fn as_str(self) -> &'static str {
        match self {
            QueryMode::Simple => "simple",
            QueryMode::Extended => "extended",
            QueryMode::Prepared => "prepared",
        }
    }
}

/// One pgbench configuration, always the built-in select-only script (`-S -n`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Workload {
    /// `-c`.
    pub clients: u32,
    /// `-j`.
    pub threads: u32,
    /// `-M`.
    pub mode: QueryMode,
    /// `-C`: a new connection per transaction.
    pub connect_per_txn: bool,
}

impl Workload {
    /// `clients` clients in `mode` (with `-C`: a connection per transaction), on as many
    /// pgbench threads as there are cores, but no more than clients: one thread per core
    /// drives thousands of clients with `poll`, and more threads than cores only compete with
    /// the proxy and PostgreSQL.
    pub fn new(clients: u32, mode: QueryMode, connect_per_txn: bool) -> Workload {
        let cores = thread::available_parallelism().map_or(2, |n| n.get());
        let cores = u32::try_from(cores).unwrap_or(2);
        Workload {
            clients,
            threads: clients.clamp(1, cores),
            mode,
            connect_per_txn,
        }
    }

    /// The load-balancing comparison's workloads: 16 and 64 clients, simple and prepared.
    pub fn load_balancing() -> Vec<Workload> {
        let mut out = Vec::new();
        for clients in [16, 64] {
            for mode in [QueryMode::Simple, QueryMode::Prepared] {
                out.push(Workload {
                    threads: 2,
                    ..Workload::new(clients, mode, false)
                });
            }
        }
        out
    }

    /// The pgbench arguments after the connection options.
    fn args(&self, duration: Duration) -> Vec<String> {
        let mut args: Vec<String> = ["-S", "-n", "-T"].map(String::from).to_vec();
        args.push(duration.as_secs().max(1).to_string());
        args.extend(["-c".into(), self.clients.to_string()]);
        args.extend(["-j".into(), self.threads.to_string()]);
        args.extend(["-M".into(), self.mode.as_str().into()]);
        if self.connect_per_txn {
            args.push("-C".into());
        }
        args
    }
}

impl fmt::Display for Workload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "pgbench -S -c {} -j {} -M {}",
            self.clients,
            self.threads,
            self.mode.as_str()
        )?;
        if self.connect_per_txn {
            f.write_str(" -C")?;
        }
        Ok(())
    }
}

/// What one run reported.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Summary {
    /// Transactions per second (with -C: including reconnection time).
    pub tps: f64,
    /// `latency average`, in milliseconds.
    pub latency_ms: f64,
    /// `number of transactions actually processed`.
    pub transactions: u64,
    /// p50/p99/p99.9 from the per-transaction log, when it was written.
    pub latency: Option<Percentiles>,
}

/// Creates [`DATABASE`] on the primary if needed, then runs `pgbench -i -s <scale>` against
/// 127.0.0.1:`port`.
pub fn initialize(cluster: &Cluster, port: u16, scale: u32) -> Result<()> {
    let exists = cluster
        .primary()
        .psql(
            "postgres",
            &format!("SELECT 1 FROM pg_database WHERE datname = '{DATABASE}'"),
        )
        .context("look up the benchmark database")?;
    if exists.is_empty() {
        cluster
            .primary()
            .psql("postgres", &format!("CREATE DATABASE {DATABASE}"))
            .context("create the benchmark database")?;
    }
    let mut cmd = command(cluster, port);
    cmd.args(["-i", "-q", "-s", &scale.to_string(), DATABASE]);
    let out = output_within(&mut cmd, Duration::from_secs(600))?;
    if !out.status.success() {
        bail!("pgbench -i failed ({}): {}", out.status, tail(&out.stderr));
    }
    Ok(())
}

/// Runs `workload` for `duration` against 127.0.0.1:`port` and parses the summary. With
/// `log_dir` (a directory the cluster's user may write), pgbench also logs every transaction
/// there (`-l`) and the summary carries the percentiles of those logs; the logs are deleted.
pub fn run(
    cluster: &Cluster,
    port: u16,
    workload: &Workload,
    duration: Duration,
    log_dir: Option<&Path>,
) -> Result<Summary> {
    let mut cmd = command(cluster, port);
    cmd.args(workload.args(duration));
    if let Some(dir) = log_dir {
        cmd.arg("-l")
            .arg(format!("--log-prefix={}/{LOG_PREFIX}", dir.display()));
    }
    cmd.arg(DATABASE);
    let grace = GRACE + GRACE_PER_CLIENT * workload.clients;
    let out = output_within(&mut cmd, duration + grace)?;
    let stdout = String::from_utf8(out.stdout).context("pgbench output is not UTF-8")?;
    if !out.status.success() {
        bail!("pgbench exited with {}: {}", out.status, tail(&out.stderr));
    }
    let mut summary = parse(&stdout).with_context(|| {
        format!(
            "pgbench printed: {} | and on stderr: {}",
            tail(stdout.as_bytes()),
            tail(&out.stderr)
        )
    })?;
    if let Some(dir) = log_dir {
        let percentiles = latency::read_logs(dir, LOG_PREFIX);
        clear_dir(dir)?;
        summary.latency = Some(percentiles?);
    }
    Ok(summary)
}

/// Removes the files in `dir` (pgbench's logs of the last run).
fn clear_dir(dir: &Path) -> Result<()> {
    for entry in std::fs::read_dir(dir).with_context(|| format!("read {}", dir.display()))? {
        let path = entry
            .with_context(|| format!("read {}", dir.display()))?
            .path();
        std::fs::remove_file(&path).with_context(|| format!("remove {}", path.display()))?;
    }
    Ok(())
}

fn command(cluster: &Cluster, port: u16) -> Command {
    let mut cmd = cluster.command("pgbench");
    cmd.args(["-h", "127.0.0.1", "-p", &port.to_string(), "-U", USER]);
    cmd
}

/// Parses the `tps = `, `latency average = ` and `number of transactions actually processed:`
/// lines of pgbench 15's summary.
pub fn parse(stdout: &str) -> Result<Summary> {
    let value = |prefix: &str| -> Option<&str> {
        let line = stdout.lines().find_map(|l| l.trim().strip_prefix(prefix))?;
        line.split_whitespace().next()
    };
    let tps = value("tps = ")
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| anyhow!("no tps line in pgbench output"))?;
    let latency_ms = value("latency average = ")
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| anyhow!("no latency line in pgbench output"))?;
    let transactions = value("number of transactions actually processed: ")
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| anyhow!("no transaction count in pgbench output"))?;
    Ok(Summary {
        tps,
        latency_ms,
        transactions,
        latency: None,
    })
}

/// Runs `cmd` with output captured, killing it after `timeout`.
pub(crate) fn output_within(cmd: &mut Command, timeout: Duration) -> Result<Output> {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let program = cmd.get_program().to_string_lossy().into_owned();
    let child = cmd.spawn().with_context(|| format!("spawn {program}"))?;
    let pid = child.id();
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(timeout) {
        Ok(out) => out.with_context(|| format!("wait for {program}")),
        Err(_) => {
            let _ = sys::signal_process(pid, Signal::Kill);
            bail!("{program} did not finish within {timeout:?}; killed")
        }
    }
}

/// The last lines of a program's stderr, for an error message.
pub(crate) fn tail(bytes: &[u8]) -> String {
    let text = std::str::from_utf8(bytes).unwrap_or("<non-UTF-8 output>");
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(5)..].join(" | ")
}

/// The last `lines` lines of a log file, for an error message.
pub(crate) fn file_tail(path: &std::path::Path, lines: usize) -> String {
    let mut bytes = Vec::new();
    if std::fs::File::open(path)
        .and_then(|mut f| f.read_to_end(&mut bytes))
        .is_err()
    {
        return format!("(no log at {})", path.display());
    }
    let text = std::str::from_utf8(&bytes).unwrap_or("<non-UTF-8 log>");
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    const PG15: &str = "pgbench (15.8 (Debian 15.8-0+deb12u1))\n\
        transaction type: <builtin: select only>\nscaling factor: 10\nquery mode: prepared\n\
        number of clients: 16\nnumber of threads: 2\nmaximum number of tries: 1\n\
        duration: 5 s\nnumber of transactions actually processed: 151234\n\
        number of failed transactions: 0 (0.000%)\nlatency average = 0.529 ms\n\
        initial connection time = 9.876 ms\ntps = 30246.812345 (without initial connection time)\n";

    #[test]
    fn parses_pgbench_15_summary() {
        let s = parse(PG15).unwrap();
        assert_eq!(s.transactions, 151_234);
        assert!((s.tps - 30_246.812_345).abs() < 1e-6);
        assert!((s.latency_ms - 0.529).abs() < 1e-9);
    }

    #[test]
    fn parses_reconnect_summary_and_rejects_garbage() {
        let text = "number of transactions actually processed: 9000\nlatency average = 8.9 ms\n\
                    average connection time = 4.1 ms\ntps = 900.5 (including reconnection times)\n";
        assert_eq!(parse(text).unwrap().tps, 900.5);
        assert!(parse("connection refused").is_err());
    }

    #[test]
    fn workload_arguments() {
        let w = Workload {
            threads: 2,
            ..Workload::new(8, QueryMode::Simple, true)
        };
        let args = w.args(Duration::from_secs(5)).join(" ");
        assert_eq!(args, "-S -n -T 5 -c 8 -j 2 -M simple -C");
        assert_eq!(Workload::new(1, QueryMode::Prepared, false).threads, 1);
        let w = Workload {
            threads: 2,
            ..Workload::new(16, QueryMode::Prepared, false)
        };
        assert_eq!(w.to_string(), "pgbench -S -c 16 -j 2 -M prepared");
        assert_eq!(QueryMode::parse("extended").unwrap(), QueryMode::Extended);
        assert!(QueryMode::parse("fast").is_err());
        let lb: Vec<String> = Workload::load_balancing()
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            lb,
            [
                "pgbench -S -c 16 -j 2 -M simple",
                "pgbench -S -c 16 -j 2 -M prepared",
                "pgbench -S -c 64 -j 2 -M simple",
                "pgbench -S -c 64 -j 2 -M prepared",
            ]
        );
    }
}
