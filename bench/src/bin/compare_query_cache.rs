//! `compare-query-cache`: a read-mostly pgbench script over a hot set (bench/src/qcache.rs)
//! against PostgreSQL direct, corepool without and with its query cache, and Pgpool-II 4.3
//! with its shmem query cache; prints the median TPS and latency of each as a markdown table.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::{Parser, ValueEnum};
use corepool_bench::conf::ProxyConfig;
use corepool_bench::kind::TargetKind;
use corepool_bench::pgbench::{self, QueryMode, Summary};
use corepool_bench::programs::{default_peers_dir, Programs};
use corepool_bench::qcache::{self, WriteTarget};
use corepool_bench::{build, targets};
use corepool_testkit::Cluster;

/// Query cache comparison on one PostgreSQL primary.
#[derive(Debug, Parser)]
#[command(version)]
struct Args {
    /// Rounds over every target; the table reports the median.
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    /// Seconds per pgbench run.
    #[arg(long, default_value_t = 10)]
    duration: u64,
    /// pgbench clients.
    #[arg(long, default_value_t = 16)]
    clients: u32,
    /// Query mode (`-M`): simple or extended.
    #[arg(long, default_value = "simple")]
    mode: String,
    /// Distinct keys read (each one distinct cached query).
    #[arg(long, default_value_t = 1000)]
    hot_rows: u32,
    /// Percentage of transactions that update.
    #[arg(long, default_value_t = 5)]
    writes_percent: u32,
    /// What the updates write: the table the reads read, or another one.
    #[arg(long, value_enum, default_value_t = Writes::SameTable)]
    writes: Writes,
    /// corepool_cores (default: all).
    #[arg(long)]
    corepool_cores: Option<u32>,
    /// Targets, comma-separated: direct, corepool, corepool-cache, pgpool-cache.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "direct,corepool,corepool-cache,pgpool-cache"
    )]
    only: Vec<String>,
    /// The corepool binary (default: target/release/corepool, built first).
    #[arg(long)]
    corepool_bin: Option<PathBuf>,
    /// Do not run `cargo build --release` first.
    #[arg(long)]
    no_build: bool,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Writes {
    /// pgbench_accounts (every update invalidates the hot set's entries).
    SameTable,
    /// pgbench_tellers (the hot set stays cached).
    OtherTable,
}

fn main() -> ExitCode {
    match run(Args::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("compare-query-cache: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: Args) -> Result<()> {
    let mode = QueryMode::parse(&args.mode)?;
    let corepool = match args.corepool_bin.clone() {
        Some(b) => b,
        None => {
            let b = build::default_corepool_path()?;
            if !args.no_build {
                build::build_corepool(&b)?;
            }
            b
        }
    };
    let programs = Programs {
        peers_dir: default_peers_dir(),
        corepool,
        corepool_baseline: None,
        pump: PathBuf::new(),
    };
    let cluster = Cluster::builder()
        .setting("max_connections", "300")
        .setting("shared_buffers", "256MB")
        .setting("fsync", "off")
        .setting("synchronous_commit", "off")
        .start()
        .context("start the PostgreSQL primary")?;
    pgbench::initialize(&cluster, cluster.primary().port(), 1)?;
    let dir = cluster.create_dir("query-cache")?;
    let oiddir = dir.join("oiddir");
    std::fs::create_dir_all(&oiddir)?;
    let script = dir.join("hot-set.sql");
    let target = match args.writes {
        Writes::SameTable => WriteTarget::SameTable,
        Writes::OtherTable => WriteTarget::OtherTable,
    };
    std::fs::write(
        &script,
        qcache::script(args.hot_rows, args.writes_percent, target),
    )?;
    let base = ProxyConfig {
        max_clients: args.clients + 8,
        pool_size: args.clients,
        corepool_cores: args.corepool_cores,
        ..ProxyConfig::default()
    };
    let duration = Duration::from_secs(args.duration.max(1));
    let mut results: Vec<(String, Vec<Summary>)> =
        args.only.iter().map(|t| (t.clone(), Vec::new())).collect();
    for round in 0..args.rounds.max(1) {
        for (name, runs) in &mut results {
            let (kind, config) = match name.as_str() {
                "direct" => (None, base.clone()),
                "corepool" => (Some(TargetKind::Corepool), base.clone()),
                "corepool-cache" => (
                    Some(TargetKind::Corepool),
                    ProxyConfig {
                        corepool_conf: qcache::cache_settings(&oiddir),
                        ..base.clone()
                    },
                ),
                "pgpool-cache" => (
                    Some(TargetKind::Pgpool),
                    ProxyConfig {
                        pgpool_conf: qcache::cache_settings(&oiddir),
                        ..base.clone()
                    },
                ),
                other => anyhow::bail!("unknown target {other}"),
            };
            let proxy = match kind {
                Some(k) => Some(targets::start(&cluster, k, &config, &programs)?),
                None => None,
            };
            let port = proxy
                .as_ref()
                .map_or(cluster.primary().port(), |p| p.port());
            let s = qcache::run(&cluster, port, &script, args.clients, mode, duration)
                .with_context(|| format!("{name}, round {}", round + 1))?;
            eprintln!(
                "round {}: {name}: {:.0} tps, {:.3} ms",
                round + 1,
                s.tps,
                s.latency_ms
            );
            runs.push(s);
        }
    }
    let direct = results
        .iter()
        .find(|(n, _)| n == "direct")
        .map(|(_, r)| median(r, |s| s.tps));
    println!(
        "hot set: {} rows, {}% updates ({:?}), {} clients, -M {}, {} s × {} rounds\n",
        args.hot_rows,
        args.writes_percent,
        args.writes,
        args.clients,
        mode.as_str(),
        duration.as_secs(),
        args.rounds
    );
    println!("| target | TPS (median) | latency ms | × direct |");
    println!("|---|---:|---:|---:|");
    for (name, runs) in &results {
        let tps = median(runs, |s| s.tps);
        let ratio = direct.map_or("—".to_owned(), |d| format!("{:.2}", tps / d));
        println!(
            "| {name} | {tps:.0} | {:.3} | {ratio} |",
            median(runs, |s| s.latency_ms)
        );
    }
    Ok(())
}

fn median(runs: &[Summary], f: impl Fn(&Summary) -> f64) -> f64 {
    let mut v: Vec<f64> = runs.iter().map(f).collect();
    v.sort_by(|a, b| a.total_cmp(b));
    v.get(v.len() / 2).copied().unwrap_or(0.0)
}
