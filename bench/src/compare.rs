//! The comparison itself: one cluster, every proxy in front of it, pgbench rounds interleaved
//! across targets, then the idle-client memory phase with freshly started proxies.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

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

/// How long to wait after a load-balanced run for the nodes' `pg_stat_database` to count all of
/// its transactions. PostgreSQL 15 backends flush their statistics at most once a second while
/// busy, and a pooled backend left idle flushes the rest after up to 10 s
/// (`PGSTAT_IDLE_INTERVAL`); pgbench's own backends flush when they exit.
const STATS_FLUSH_TIMEOUT: Duration = Duration::from_secs(12);

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
    /// Streaming standbys to add (0: the ordinary comparison). With standbys, Pgpool-II and
    /// corepool load-balance over every node, only direct, pgpool and corepool run
    /// ([`LOAD_BALANCING_TARGETS`]), the workloads are [`Workload::load_balancing`], each run
    /// reports how the transactions spread over the nodes, and there is no idle-client phase.
    pub standbys: usize,
}

/// The targets of the load-balancing comparison: the primary alone for reference and the two
/// proxies that load-balance.
pub const LOAD_BALANCING_TARGETS: [TargetKind; 3] =
    [TargetKind::Direct, TargetKind::Pgpool, TargetKind::Corepool];

/// Everything measured, ready to render.
#[derive(Debug, Clone)]
pub struct Report {
    /// What was run, on what.
    pub setup: Vec<String>,
    /// pgbench results.
    pub throughput: Throughput,
    /// Idle-client memory.
    pub idle: Vec<IdleRow>,
    /// Streaming standbys load-balanced over (0: the ordinary comparison).
    pub standbys: usize,
}

impl Report {
    /// The whole report as markdown.
    pub fn to_markdown(&self) -> String {
        if self.standbys > 0 {
            return self.load_balancing_markdown();
        }
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

    fn load_balancing_markdown(&self) -> String {
        let mut out = format!(
            "# corepool vs Pgpool-II: load balancing over 1 primary + {} standby(s)\n\n\
             ## Setup\n\n",
            self.standbys
        );
        for line in &self.setup {
            out.push_str(&format!("- {line}\n"));
        }
        if !self.throughput.workloads.is_empty() {
            out.push_str("\n## Throughput (pgbench -S, select-only, load-balanced)\n\n");
            out.push_str(&format!(
                "\"reads per node\" is each node's share ({}) of the transactions committed in \
                 the benchmark database during the runs: `pg_stat_database.xact_commit` read on \
                 each node directly before and after every run, summed over the rounds. It \
                 includes whatever a proxy itself runs there (e.g. Pgpool-II's catalog look-ups \
                 on the primary), not only pgbench's SELECTs.\n\n",
                self.throughput.nodes.join(" / ")
            ));
            out.push_str(&report::render_throughput(&self.throughput));
        }
        out
    }
}

/// Runs the whole comparison. Everything started is stopped before this returns, also on error.
pub fn run(opts: &Options, stop: &Stop) -> Result<Report> {
    let nofile = sys::raise_nofile_limit().context("raise RLIMIT_NOFILE")?;
    eprintln!(
        "compare: starting PostgreSQL (max_connections {}{})",
        opts.max_connections,
        if opts.standbys > 0 {
            format!(", {} streaming standby(s)", opts.standbys)
        } else {
            String::new()
        }
    );
    let cluster = Cluster::builder()
        .standbys(opts.standbys)
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
    for standby in cluster.standbys() {
        eprintln!("compare: waiting for {} to catch up", standby.name());
        standby
            .wait_caught_up(primary)
            .with_context(|| format!("wait for {} to replay pgbench -i", standby.name()))?;
    }
    let setup = describe_setup(&cluster, opts, nofile);
    let throughput = if opts.throughput {
        run_throughput(&cluster, opts, stop)?
    } else {
        Throughput::new(Vec::new(), opts.targets.clone())
    };
    let idle = if opts.standbys > 0 {
        // The idle phase restarts the primary with a larger max_connections, which standbys
        // would have to follow; it measures nothing about load balancing anyway.
        if !opts.idle_clients.is_empty() {
            eprintln!("compare: no idle-client phase with standbys");
        }
        Vec::new()
    } else {
        memory::run(&cluster, opts, stop)?
    };
    Ok(Report {
        setup,
        throughput,
        idle,
        standbys: opts.standbys,
    })
}

fn run_throughput(cluster: &Cluster, opts: &Options, stop: &Stop) -> Result<Throughput> {
    let workloads = if opts.standbys > 0 {
        Workload::load_balancing()
    } else {
        Workload::standard()
    };
    let max_clients = workloads.iter().map(|w| w.clients).max().unwrap_or(64);
    let mut results = Throughput::new(workloads.clone(), opts.targets.clone());
    if opts.standbys > 0 {
        results = results
            .with_baseline(TargetKind::Pgpool)
            .with_node_reads(node_labels(cluster));
    }
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
        load_balance: opts.standbys > 0,
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
    let commits_before = if opts.standbys > 0 {
        Some(node_commits(cluster).map_err(|e| format!("{e:#}"))?)
    } else {
        None
    };
    let before = cpu(&processes)?;
    let summary =
        pgbench::run(cluster, port, workload, opts.duration).map_err(|e| format!("{e:#}"))?;
    let after = cpu(&processes)?;
    let node_commits = match commits_before {
        Some(before) => Some(
            commits_during(cluster, &before, summary.transactions).map_err(|e| format!("{e:#}"))?,
        ),
        None => None,
    };
    Ok(Run {
        tps: summary.tps,
        latency_ms: summary.latency_ms,
        transactions: summary.transactions,
        proxy_cpu: before.zip(after).map(|(b, a)| a.saturating_sub(b)),
        node_commits,
    })
}

/// "primary", "standby1", ... for the cluster's nodes, primary first.
fn node_labels(cluster: &Cluster) -> Vec<String> {
    std::iter::once("primary".to_string())
        .chain((1..=cluster.standbys().len()).map(|i| format!("standby{i}")))
        .collect()
}

/// Each node's `pg_stat_database.xact_commit` for the benchmark database, primary first, read
/// on the node itself over its Unix socket (from the `postgres` database, so the reading
/// session's own transaction is not counted in the benchmark database).
fn node_commits(cluster: &Cluster) -> Result<Vec<u64>> {
    let sql = format!("SELECT xact_commit FROM pg_stat_database WHERE datname = '{DATABASE}'");
    cluster
        .nodes()
        .iter()
        .map(|node| {
            let out = node
                .psql("postgres", &sql)
                .with_context(|| format!("read xact_commit on {}", node.name()))?;
            out.parse::<u64>()
                .with_context(|| format!("xact_commit on {} is {out:?}", node.name()))
        })
        .collect()
}

/// Each node's commits in the benchmark database since `before`, once they add up to at least
/// the `transactions` pgbench counted (or after [`STATS_FLUSH_TIMEOUT`], whatever they are then):
/// pooled backends report their last second of statistics late.
fn commits_during(cluster: &Cluster, before: &[u64], transactions: u64) -> Result<Vec<u64>> {
    let deadline = Instant::now() + STATS_FLUSH_TIMEOUT;
    loop {
        let now = node_commits(cluster)?;
        let delta: Vec<u64> = now
            .iter()
            .zip(before)
            .map(|(a, b)| a.saturating_sub(*b))
            .collect();
        let counted: u64 = delta.iter().sum();
        if counted >= transactions {
            return Ok(delta);
        }
        if Instant::now() >= deadline {
            eprintln!(
                "compare: the nodes counted {counted} of pgbench's {transactions} transactions \
                 within {STATS_FLUSH_TIMEOUT:?}; reporting the shares of those"
            );
            return Ok(delta);
        }
        thread::sleep(Duration::from_millis(250));
    }
}

fn describe(outcome: &Result<Run, String>) -> String {
    match outcome {
        Ok(run) => {
            let cpu = run
                .cpu_us_per_txn()
                .map_or(String::new(), |c| format!(", {c:.1} µs CPU/txn"));
            let nodes = run.node_commits.as_ref().map_or(String::new(), |c| {
                let c: Vec<String> = c.iter().map(u64::to_string).collect();
                format!(", commits per node {}", c.join("/"))
            });
            format!("{:.0} tps, {:.3} ms{cpu}{nodes}", run.tps, run.latency_ms)
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
    if opts.standbys > 0 {
        return describe_load_balancing_setup(cluster, opts, nofile, &server, cores, version);
    }
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

fn describe_load_balancing_setup(
    cluster: &Cluster,
    opts: &Options,
    nofile: u64,
    server: &str,
    cores: usize,
    version: impl Fn(&str, &str) -> String,
) -> Vec<String> {
    let ports: Vec<String> = cluster
        .nodes()
        .iter()
        .zip(node_labels(cluster))
        .map(|(node, label)| format!("{label} {}", node.port()))
        .collect();
    vec![
        format!(
            "PostgreSQL {server}: 1 primary + {} streaming standby(s) (testkit, \
             `pg_basebackup -R -X stream`, hot standby) on 127.0.0.1 ({}); max_connections {}, \
             shared_buffers 256MB, **fsync off, synchronous_commit off, full_page_writes off** \
             on every node",
            opts.standbys,
            ports.join(", "),
            opts.max_connections
        ),
        format!(
            "pgbench -i -s {} on the primary, then waited until every standby had replayed it; \
             each run `-T {}`, {} round(s), targets rotated each round",
            opts.scale,
            opts.duration.as_secs(),
            opts.rounds
        ),
        "direct = pgbench against the primary alone, for reference".into(),
        format!(
            "{} and corepool from the same pgpool.conf: backend_clustering_mode \
             'streaming_replication', load_balance_mode on, every node as \
             backend_hostnameN/backend_portN with backend_weightN 1, sr_check_user 'postgres' \
             (trust auth; finds the primary at start-up), sr_check_period 0, \
             health_check_period 0, num_init_children 72, max_pool 1, trust auth",
            version("pgpool", "--version"),
        ),
        format!(
            "corepool: {} (corepool_cores {})",
            opts.corepool_bin.display(),
            opts.corepool_cores.map_or("all".into(), |c| c.to_string())
        ),
        format!(
            "{cores} CPU cores shared by all {} PostgreSQL servers, the proxy and pgbench; load \
             average at start {}; RLIMIT_NOFILE {nofile}",
            opts.standbys + 1,
            std::fs::read_to_string("/proc/loadavg")
                .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
                .unwrap_or_else(|_| "?".into())
        ),
        "proxy CPU = utime+stime from /proc (Pgpool-II: summed over its process tree), \
         sampled around each run, divided by transactions"
            .into(),
    ]
}
