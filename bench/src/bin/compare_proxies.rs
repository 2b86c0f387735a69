//! `compare-proxies`: pgbench throughput, proxy CPU per transaction and memory per idle client
//! for PostgreSQL direct, PgBouncer (session, transaction), Pgpool-II and corepool.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use clap::Parser;
use corepool_bench::build::{self, runtime_wrapper, Runtime};
use corepool_bench::compare::{self, Options, LOAD_BALANCING_TARGETS};
use corepool_bench::stop::Stop;
use corepool_bench::targets::TargetKind;

/// Compare corepool with PgBouncer and Pgpool-II on one PostgreSQL 15 primary.
#[derive(Debug, Parser)]
#[command(version, args_override_self = true)]
struct Args {
    /// Rounds over every workload and target; tables report the median.
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    /// Seconds per pgbench run (`-T`).
    #[arg(long, default_value_t = 10)]
    duration: u64,
    /// pgbench scale factor (`-i -s`).
    #[arg(long, default_value_t = 10)]
    scale: u32,
    /// Targets to run, comma-separated: direct, pgbouncer-session, pgbouncer-transaction,
    /// pgpool, corepool (default: all).
    #[arg(long, value_delimiter = ',')]
    only: Vec<String>,
    /// Also write the tables to this markdown file.
    #[arg(long)]
    markdown: Option<PathBuf>,
    /// Idle-client counts for the memory phase, comma-separated; `0` skips the phase.
    #[arg(long, value_delimiter = ',', default_value = "1000,10000")]
    idle_clients: Vec<usize>,
    /// The primary's max_connections during the throughput phase.
    #[arg(long, default_value_t = 400)]
    max_connections: u32,
    /// corepool's `corepool_cores` (default: all cores).
    #[arg(long)]
    corepool_cores: Option<u32>,
    /// The corepool binary (default: `corepool` next to this program, built first).
    #[arg(long)]
    corepool_bin: Option<PathBuf>,
    /// corepool's shard executor, `corepool_runtime` (default: the binary's default).
    #[arg(long, value_enum)]
    runtime: Option<Runtime>,
    /// Skip the pgbench phase (only measure idle-client memory).
    #[arg(long)]
    no_throughput: bool,
    /// Do not run `cargo build --release -p corepool` first.
    #[arg(long)]
    no_build: bool,
    /// Load-balancing mode: add this many streaming standbys and compare Pgpool-II and corepool
    /// load-balancing over every node (with direct on the primary for reference), pgbench -S at
    /// 16 and 64 clients in simple and prepared mode, with each node's share of the reads. Only
    /// direct, pgpool and corepool run; no idle-client phase.
    #[arg(long, default_value_t = 0)]
    standbys: usize,
}

fn main() -> ExitCode {
    match run(Args::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("compare-proxies: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: Args) -> Result<()> {
    let stop = Stop::install()?;
    let targets = parse_targets(&args.only, args.standbys)?;
    let (corepool_bin, corepool_unavailable) = locate_corepool(&args, &targets)?;
    let options = Options {
        rounds: args.rounds.max(1),
        duration: Duration::from_secs(args.duration.max(1)),
        scale: args.scale.max(1),
        targets,
        throughput: !args.no_throughput,
        idle_clients: args.idle_clients.into_iter().filter(|&n| n > 0).collect(),
        max_connections: args.max_connections,
        corepool_cores: args.corepool_cores,
        corepool_bin: runtime_wrapper(&corepool_bin, args.runtime)?,
        corepool_unavailable,
        standbys: args.standbys,
    };
    let report = compare::run(&options, &stop)?;
    let markdown = report.to_markdown();
    println!("{markdown}");
    if let Some(path) = &args.markdown {
        std::fs::write(path, &markdown).with_context(|| format!("write {}", path.display()))?;
        eprintln!("compare-proxies: wrote {}", path.display());
    }
    Ok(())
}

fn parse_targets(only: &[String], standbys: usize) -> Result<Vec<TargetKind>> {
    let mut targets = if only.is_empty() {
        TargetKind::ALL.to_vec()
    } else {
        let mut targets = only
            .iter()
            .map(|name| TargetKind::parse(name))
            .collect::<Result<Vec<_>>>()?;
        targets.sort();
        targets.dedup();
        targets
    };
    if standbys > 0 {
        targets.retain(|t| LOAD_BALANCING_TARGETS.contains(t));
        if targets.is_empty() {
            bail!(
                "with --standbys only direct, pgpool and corepool run; --only named none of them"
            );
        }
    }
    Ok(targets)
}

/// The corepool binary to run and, when it cannot be had, why (corepool is then reported as
/// failed while the others still run).
fn locate_corepool(args: &Args, targets: &[TargetKind]) -> Result<(PathBuf, Option<String>)> {
    if let Some(bin) = &args.corepool_bin {
        return Ok((bin.clone(), None));
    }
    let bin = build::default_corepool_path()?;
    if args.no_build || !targets.contains(&TargetKind::Corepool) {
        return Ok((bin, None));
    }
    let unavailable = build::build_corepool(&bin).err().map(|e| format!("{e:#}"));
    Ok((bin, unavailable))
}
