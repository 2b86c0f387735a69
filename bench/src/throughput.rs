//! The pgbench phase: every target started once, then rounds over every workload in which the
//! targets take turns (the order rotated each round, so none always runs first or right after
//! a given other), each run's proxy CPU time sampled from `/proc` around it.

use std::collections::BTreeMap;
use std::path::Path;
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use corepool_testkit::Cluster;

use crate::kind::{Pooling, TargetKind};
use crate::pgbench::{self, Workload, DATABASE};
use crate::plan::{start_proxy, Options, Plan};
use crate::procs::ProcessSet;
use crate::results::{Entry, Run, Throughput};
use crate::stop::Stop;
use crate::targets::Proxy;

/// Pause between runs, so one run's stragglers do not bleed into the next.
const SETTLE: Duration = Duration::from_millis(500);

/// How long to wait after a load-balanced run for the nodes' `pg_stat_database` to count all of
/// its transactions. PostgreSQL 15 backends flush their statistics at most once a second while
/// busy, and a pooled backend left idle flushes the rest after up to 10 s
/// (`PGSTAT_IDLE_INTERVAL`); pgbench's own backends flush when they exit.
const STATS_FLUSH_TIMEOUT: Duration = Duration::from_secs(12);

/// The target a target's "vs PgBouncer 1.25" columns compare with: PgBouncer 1.25 in the same
/// kind of pooling (transaction poolers against its transaction mode, everything else against
/// its session mode).
pub fn pgbouncer_baseline(pooling: Pooling) -> TargetKind {
    match pooling {
        Pooling::Transaction => TargetKind::Pgbouncer125Transaction,
        _ => TargetKind::Pgbouncer125Session,
    }
}

/// An empty result set for `opts`' workloads and targets, with the baselines of the run's kind.
pub fn empty_results(opts: &Options) -> Throughput {
    let pooling = |t| opts.pooling(t);
    if opts.standbys > 0 {
        return Throughput::new(
            opts.workloads(),
            opts.targets.clone(),
            "pgpool",
            |_| TargetKind::Pgpool,
            pooling,
        );
    }
    Throughput::new(
        opts.workloads(),
        opts.targets.clone(),
        "PgBouncer 1.25",
        |t| pgbouncer_baseline(opts.pooling(t)),
        pooling,
    )
}

/// Runs the phase. Every proxy started is stopped before this returns.
pub fn run(cluster: &Cluster, opts: &Options, plan: &Plan, stop: &Stop) -> Result<Throughput> {
    let mut results = empty_results(opts);
    if opts.standbys > 0 {
        results = results.with_node_reads(node_labels(cluster));
    }
    let workloads = results.workloads.clone();
    let mut proxies: BTreeMap<TargetKind, Proxy> = BTreeMap::new();
    let mut runnable = Vec::new();
    for &target in &opts.targets {
        stop.check()?;
        match start_proxy(cluster, opts, target, &plan.proxy_config(opts, target)) {
            Ok(proxy) => {
                if let Some(proxy) = proxy {
                    eprintln!("compare: {target} listening on {}", proxy.port());
                    let ignored = proxy.unrecognized(&opts.corepool_conf);
                    if target.is_corepool() && !ignored.is_empty() {
                        let warning = format!(
                            "**corepool ignored --corepool-conf {}** (unrecognized \
                             configuration parameter, its log says): it ran without them",
                            ignored.join(", ")
                        );
                        eprintln!("compare: {warning}");
                        results.warnings.push(warning);
                    }
                    proxies.insert(target, proxy);
                }
                runnable.push(target);
            }
            Err(e) => {
                eprintln!("compare: {target} skipped: {e:#}");
                for w in 0..workloads.len() {
                    results.set(w, target, Entry::Unavailable(format!("{e:#}")));
                }
            }
        }
    }
    let mut pairs = 0;
    for (w, workload) in workloads.iter().enumerate() {
        for &target in &runnable {
            match plan.skip(opts, workload, target) {
                Some(why) => results.set(w, target, Entry::NotApplicable(why)),
                None => pairs += 1,
            }
        }
    }
    let log_dir = if opts.latency_log {
        Some(
            cluster
                .create_dir("pgbench-logs")
                .context("create pgbench's log directory")?,
        )
    } else {
        None
    };
    let total = opts.rounds * pairs;
    let mut done = 0;
    for round in 0..opts.rounds {
        for (w, workload) in workloads.iter().enumerate() {
            let mut order = runnable.clone();
            let shift = round % order.len().max(1);
            order.rotate_left(shift);
            for target in order {
                stop.check()?;
                if plan.skip(opts, workload, target).is_some() {
                    continue;
                }
                done += 1;
                let proxy = proxies.get_mut(&target);
                let outcome = measure(cluster, proxy, workload, opts, log_dir.as_deref());
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

/// One pgbench run with the proxy's CPU time sampled around it.
fn measure(
    cluster: &Cluster,
    proxy: Option<&mut Proxy>,
    workload: &Workload,
    opts: &Options,
    log_dir: Option<&Path>,
) -> Result<Run, String> {
    let (port, processes) = match proxy {
        Some(proxy) => {
            proxy.check_alive().map_err(|e| format!("{e:#}"))?;
            (proxy.port(), Some(proxy.processes()))
        }
        None => (cluster.primary().port(), None),
    };
    let cpu = |p: &Option<ProcessSet>| -> Result<Option<Duration>, String> {
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
    let summary = pgbench::run(cluster, port, workload, opts.duration, log_dir)
        .map_err(|e| format!("{e:#}"))?;
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
        percentiles: summary.latency,
        node_commits,
    })
}

/// "primary", "standby1", ... for the cluster's nodes, primary first.
pub fn node_labels(cluster: &Cluster) -> Vec<String> {
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
            let pct = run
                .percentiles
                .map_or(String::new(), |p| format!(", p99 {:.3} ms", p.p99_ms));
            let nodes = run.node_commits.as_ref().map_or(String::new(), |c| {
                let c: Vec<String> = c.iter().map(u64::to_string).collect();
                format!(", commits per node {}", c.join("/"))
            });
            format!(
                "{:.0} tps, {:.3} ms{pct}{cpu}{nodes}",
                run.tps, run.latency_ms
            )
        }
        Err(e) => format!("FAILED: {e}"),
    }
}
