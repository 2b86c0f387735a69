//! The comparison itself: one cluster, every proxy in front of it, pgbench rounds interleaved
//! across targets, then the idle-client memory phase with freshly started proxies.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;
use std::thread;
use std::time::Duration;

use anyhow::{Context, Result};
use corepool_testkit::Cluster;

use crate::memory;
use crate::pgbench::{self, Workload, DATABASE};
use crate::report::{self, Entry, IdleRow, Run, Throughput};
use crate::stop::Stop;
use crate::sys;
use crate::targets::{self, Proxy, ProxyConfig, TargetKind};

/// PgBouncer's `max_client_conn` in every phase.
const PGBOUNCER_MAX_CLIENTS: u32 = 11_000;

/// Pause between runs, so one run's stragglers do not bleed into the next.
const SETTLE: Duration = Duration::from_millis(500);

/// What to run.
#[derive(Debug, Clone)]
pub struct Options {
    /// Rounds over every workload and target.
    pub rounds: usize,
    /// pgbench `-T`.
    pub duration: Duration,
    /// pgbench `-i -s`.
    pub scale: u32,
    /// Targets, in table order.
    pub targets: Vec<TargetKind>,
    /// Whether to run the pgbench phase.
    pub throughput: bool,
    /// Idle-client counts for the memory phase (empty: skip it).
    pub idle_clients: Vec<usize>,
    /// The primary's `max_connections` during the throughput phase.
    pub max_connections: u32,
    /// corepool's `corepool_cores`.
    pub corepool_cores: Option<u32>,
    /// The `corepool` binary.
    pub corepool_bin: PathBuf,
    /// Why corepool cannot run at all (its build failed), if so.
    pub corepool_unavailable: Option<String>,
}

/// Everything measured, ready to render.
#[derive(Debug, Clone)]
pub struct Report {
    /// What was run, on what.
    pub setup: Vec<String>,
    /// pgbench results.
    pub throughput: Throughput,
    /// Idle-client memory.
    pub idle: Vec<IdleRow>,
}

impl Report {
    /// The whole report as markdown.
    pub fn to_markdown(&self) -> String {
        let mut out = String::from("# corepool vs PgBouncer vs Pgpool-II\n\n## Setup\n\n");
        for line in &self.setup {
            out.push_str(&format!("- {line}\n"));
        }
        if !self.throughput.workloads.is_empty() {
            out.push_str("\n## Throughput (pgbench -S, select-only)\n\n");
            out.push_str(&report::render_throughput(&self.throughput));
        }
        if !self.idle.is_empty() {
            out.push_str("\n## Memory per idle client\n\n");
            out.push_str(
                "(RSS after − RSS before) / clients, over the proxy's processes; PSS splits \
                 pages shared between Pgpool-II's forked children. \"PG backends\" is how many \
                 more client backends PostgreSQL had with the idle clients open.\n\n",
            );
            out.push_str(&report::render_idle(&self.idle));
        }
        out
    }
}

/// Runs the whole comparison. Everything started is stopped before this returns, also on error.
pub fn run(opts: &Options, stop: &Stop) -> Result<Report> {
    let nofile = sys::raise_nofile_limit().context("raise RLIMIT_NOFILE")?;
    eprintln!(
        "compare: starting PostgreSQL (max_connections {})",
        opts.max_connections
    );
    let cluster = Cluster::builder()
        .setting("max_connections", opts.max_connections.to_string())
        .setting("shared_buffers", "256MB")
        .setting("fsync", "off")
        .setting("synchronous_commit", "off")
        .setting("full_page_writes", "off")
        .start()
        .context("start the PostgreSQL primary")?;
    let primary = cluster.primary();
    eprintln!("compare: pgbench -i -s {}", opts.scale);
    pgbench::initialize(&cluster, primary.port(), opts.scale)?;
    let setup = describe_setup(&cluster, opts, nofile);
    let throughput = if opts.throughput {
        run_throughput(&cluster, opts, stop)?
    } else {
        Throughput::new(Vec::new(), opts.targets.clone())
    };
    let idle = memory::run(&cluster, opts, stop)?;
    Ok(Report {
        setup,
        throughput,
        idle,
    })
}

fn run_throughput(cluster: &Cluster, opts: &Options, stop: &Stop) -> Result<Throughput> {
    let workloads = Workload::standard();
    let max_clients = workloads.iter().map(|w| w.clients).max().unwrap_or(64);
    let mut results = Throughput::new(workloads.clone(), opts.targets.clone());
    let mut proxies: BTreeMap<TargetKind, Proxy> = BTreeMap::new();
    let mut runnable = Vec::new();
    for &target in &opts.targets {
        stop.check()?;
        match start_proxy(cluster, target, opts, max_clients + 8) {
            Ok(proxy) => {
                if let Some(proxy) = proxy {
                    eprintln!("compare: {target} listening on {}", proxy.port());
                    proxies.insert(target, proxy);
                }
                runnable.push(target);
            }
            Err(e) => {
                eprintln!("compare: {target} failed to start: {e:#}");
                for w in 0..workloads.len() {
                    results.set(w, target, Entry::Unavailable(format!("{e:#}")));
                }
            }
        }
    }
    let total = opts.rounds * workloads.len() * runnable.len();
    let mut done = 0;
    for round in 0..opts.rounds {
        for (w, workload) in workloads.iter().enumerate() {
            let mut order = runnable.clone();
            let shift = round % order.len().max(1);
            order.rotate_left(shift);
            for target in order {
                stop.check()?;
                done += 1;
                if let Some(why) = target.unsupported(workload) {
                    results.set(w, target, Entry::NotApplicable(why.into()));
                    continue;
                }
                let outcome = measure(cluster, proxies.get_mut(&target), workload, opts);
                stop.check()?;
                eprintln!(
                    "[{done}/{total}] round {} {workload} → {target}: {}",
                    round + 1,
                    describe(&outcome)
                );
                results.push(w, target, outcome);
                thread::sleep(SETTLE);
            }
        }
    }
    Ok(results)
}

/// Starts `target`'s proxy (`None` for direct), sized for `clients` (Pgpool-II and corepool;
/// PgBouncer always takes 11,000).
pub(crate) fn start_proxy(
    cluster: &Cluster,
    target: TargetKind,
    opts: &Options,
    clients: u32,
) -> Result<Option<Proxy>> {
    if target == TargetKind::Direct {
        return Ok(None);
    }
    if let (TargetKind::Corepool, Some(why)) = (target, &opts.corepool_unavailable) {
        anyhow::bail!("{why}");
    }
    let config = ProxyConfig {
        max_clients: match target {
            TargetKind::PgbouncerSession | TargetKind::PgbouncerTransaction => {
                PGBOUNCER_MAX_CLIENTS
            }
            _ => clients,
        },
        pool_size: 64,
        corepool_cores: opts.corepool_cores,
        corepool_bin: opts.corepool_bin.clone(),
    };
    targets::start(cluster, target, &config).map(Some)
}

/// One pgbench run with the proxy's CPU time sampled around it.
fn measure(
    cluster: &Cluster,
    proxy: Option<&mut Proxy>,
    workload: &Workload,
    opts: &Options,
) -> Result<Run, String> {
    let (port, processes) = match proxy {
        Some(proxy) => {
            proxy.check_alive().map_err(|e| format!("{e:#}"))?;
            (proxy.port(), Some(proxy.processes()))
        }
        None => (cluster.primary().port(), None),
    };
    let cpu = |p: &Option<crate::procs::ProcessSet>| -> Result<Option<Duration>, String> {
        p.as_ref()
            .map(|p| p.cpu_time())
            .transpose()
            .map_err(|e| format!("{e:#}"))
    };
    let before = cpu(&processes)?;
    let summary =
        pgbench::run(cluster, port, workload, opts.duration).map_err(|e| format!("{e:#}"))?;
    let after = cpu(&processes)?;
    Ok(Run {
        tps: summary.tps,
        latency_ms: summary.latency_ms,
        transactions: summary.transactions,
        proxy_cpu: before.zip(after).map(|(b, a)| a.saturating_sub(b)),
    })
}

fn describe(outcome: &Result<Run, String>) -> String {
    match outcome {
        Ok(run) => {
            let cpu = run
                .cpu_us_per_txn()
                .map_or(String::new(), |c| format!(", {c:.1} µs CPU/txn"));
            format!("{:.0} tps, {:.3} ms{cpu}", run.tps, run.latency_ms)
        }
        Err(e) => format!("FAILED: {e}"),
    }
}

fn describe_setup(cluster: &Cluster, opts: &Options, nofile: u64) -> Vec<String> {
    let version = |program: &str, arg: &str| -> String {
        // Pgpool-II prints its version on stderr.
        Command::new(program)
            .arg(arg)
            .output()
            .ok()
            .and_then(|o| String::from_utf8([o.stdout, o.stderr].concat()).ok())
            .and_then(|s| s.lines().next().map(str::to_owned))
            .unwrap_or_else(|| format!("{program}: unknown version"))
    };
    let server = cluster
        .primary()
        .psql(DATABASE, "SHOW server_version")
        .unwrap_or_else(|_| "?".into());
    let cores = thread::available_parallelism().map_or(0, |n| n.get());
    vec![
        format!(
            "PostgreSQL {server} primary on 127.0.0.1: max_connections {} (each pooler keeps up \
             to 64–72 backends open, so 300 is too few for five targets), shared_buffers 256MB, \
             **fsync off, synchronous_commit off, full_page_writes off** (select-only \
             workloads do not write, but say so)",
            opts.max_connections
        ),
        format!(
            "pgbench -i -s {}; each run `-T {}`, {} round(s), targets rotated each round",
            opts.scale,
            opts.duration.as_secs(),
            opts.rounds
        ),
        format!(
            "{} and {}, trust auth, one backend, pools sized for 64 clients (PgBouncer \
             default_pool_size 64, max_client_conn {PGBOUNCER_MAX_CLIENTS}; Pgpool-II and \
             corepool num_init_children 72, max_pool 1)",
            version("pgbouncer", "--version"),
            version("pgpool", "--version"),
        ),
        format!(
            "corepool: {} (corepool_cores {})",
            opts.corepool_bin.display(),
            opts.corepool_cores.map_or("all".into(), |c| c.to_string())
        ),
        format!(
            "{cores} CPU cores shared by PostgreSQL, the proxy and pgbench; load average at \
             start {}; RLIMIT_NOFILE {nofile}",
            std::fs::read_to_string("/proc/loadavg")
                .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
                .unwrap_or_else(|_| "?".into())
        ),
        "proxy CPU = utime+stime from /proc (Pgpool-II: summed over its process tree), \
         sampled around each run, divided by transactions"
            .into(),
    ]
}
