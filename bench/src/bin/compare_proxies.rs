//! `compare-proxies`: pgbench throughput, latency percentiles, proxy CPU per transaction and
//! memory per idle client for PostgreSQL direct, the byte-pump floor, PgBouncer 1.25 and 1.18
//! (transaction, session), PgDog, Pgpool-II and corepool.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use clap::Parser;
use corepool_bench::build;
use corepool_bench::compare;
use corepool_bench::kind::TargetKind;
use corepool_bench::pgbench::QueryMode;
use corepool_bench::plan::{Options, LOAD_BALANCING_TARGETS};
use corepool_bench::programs::{default_peers_dir, Programs};
use corepool_bench::stop::Stop;

/// Compare corepool with PgBouncer, PgDog, Pgpool-II and a byte pump on one PostgreSQL primary.
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
    /// The defaults of --clients, --connect-clients and --only: `proxy` (1, 16, 64, 256
    /// clients, `-C` at 8, every target) or `transaction-pooling` (16, 64, 1,000, 10,000
    /// clients, no `-C`, direct, the pumps, pgbouncer-1.25-transaction, pgdog and corepool).
    #[arg(long, value_enum, default_value_t = Shape::Proxy)]
    shape: Shape,
    /// Client counts of the steady workloads, comma-separated.
    #[arg(long, value_delimiter = ',')]
    clients: Vec<u32>,
    /// Query modes (`-M`), comma-separated: simple, extended, prepared.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "simple,extended,prepared"
    )]
    modes: Vec<String>,
    /// Client counts of the `-C` (connection per transaction, simple) workloads; `0`: none.
    #[arg(long, value_delimiter = ',')]
    connect_clients: Vec<u32>,
    /// Targets, comma-separated: direct, pump-epoll, pump-uring, pgbouncer-1.25-transaction,
    /// pgbouncer-1.25-session, pgbouncer-1.18-transaction, pgbouncer-1.18-session, pgdog,
    /// pgpool, corepool, or the groups pumps, pgbouncer-1.25, pgbouncer-1.18, peers, all.
    #[arg(long, value_delimiter = ',')]
    only: Vec<String>,
    /// Also write the report to this markdown file.
    #[arg(long)]
    markdown: Option<PathBuf>,
    /// Idle-client counts for the memory phase, comma-separated; `0` skips the phase.
    #[arg(long, value_delimiter = ',', default_value = "1000,10000")]
    idle_clients: Vec<usize>,
    /// The most max_connections PostgreSQL gets in the throughput phase; backend-per-client
    /// targets are skipped at client counts that would need more.
    #[arg(long, default_value_t = 1500)]
    max_connections: u32,
    /// Backends of each transaction-pooling target.
    #[arg(long, default_value_t = 20)]
    pool_size: u32,
    /// PgBouncer 1.25's max_prepared_statements in transaction mode.
    #[arg(long, default_value_t = 200)]
    max_prepared_statements: u32,
    /// The epoll pump's registration: edge (its default) or level.
    #[arg(long, value_parser = ["edge", "level"])]
    pump_trigger: Option<String>,
    /// PgDog's worker threads (default: one per core).
    #[arg(long)]
    pgdog_workers: Option<u32>,
    /// No pgbench per-transaction log (`-l`), so no latency percentiles.
    #[arg(long)]
    no_latency_log: bool,
    /// The peers directory with bin/pgbouncer-1.25 and bin/pgdog (default: ../shared/peers
    /// beside the repository).
    #[arg(long, env = "COREPOOL_PEERS_DIR")]
    peers_dir: Option<PathBuf>,
    /// corepool's `corepool_cores` (default: all cores).
    #[arg(long)]
    corepool_cores: Option<u32>,
    /// A setting for corepool's pgpool.conf, `KEY=VALUE`, written as `KEY = VALUE` (quote
    /// strings as pgpool.conf does: `pool_mode='transaction'`); repeatable. `pool_mode =
    /// transaction` makes corepool a transaction pooler in the tables and the plan.
    #[arg(long, value_name = "KEY=VALUE")]
    corepool_conf: Vec<String>,
    /// The corepool binary (default: `corepool` next to this program, built first).
    #[arg(long)]
    corepool_bin: Option<PathBuf>,

    /// corepool-baseline's binary, for an A/B of two builds in one run (name the target in
    /// --only: `--only corepool,corepool-baseline,...`; default: the same binary as corepool).
    #[arg(long)]
    corepool_baseline_bin: Option<PathBuf>,

    /// A setting for corepool-baseline only, over --corepool-conf (`KEY=VALUE`; repeatable):
    /// e.g. `--baseline-conf corepool_cores=1` compares one shard with all.
    #[arg(long = "baseline-conf", value_name = "KEY=VALUE")]
    baseline_conf: Vec<String>,
    /// The byte pump (default: `pump` next to this program, built first).
    #[arg(long)]
    pump_bin: Option<PathBuf>,
    /// Skip the pgbench phase (only measure idle-client memory).
    #[arg(long)]
    no_throughput: bool,
    /// Do not run `cargo build --release` for corepool and the pump first.
    #[arg(long)]
    no_build: bool,
    /// Load-balancing mode: add this many streaming standbys and compare Pgpool-II and corepool
    /// load-balancing over every node (with direct on the primary for reference), pgbench -S at
    /// 16 and 64 clients in simple and prepared mode, with each node's share of the reads. Only
    /// direct, pgpool and corepool run; no idle-client phase.
    #[arg(long, default_value_t = 0)]
    standbys: usize,
}

/// `--shape`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Shape {
    /// Issue 12's: 1, 16, 64, 256 clients, `-C` at 8, every target.
    Proxy,
    /// Issue 13's: 16, 64, 1,000, 10,000 clients over a pool of 20.
    TransactionPooling,
}

fn main() -> ExitCode {
    let command = command_line();
    match run(Args::parse(), command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("compare-proxies: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: Args, command: String) -> Result<()> {
    let stop = Stop::install()?;
    let opts = options(&args, command)?;
    let report = compare::run(&opts, &stop)?;
    let markdown = report.to_markdown();
    println!("{markdown}");
    if let Some(path) = &args.markdown {
        std::fs::write(path, &markdown).with_context(|| format!("write {}", path.display()))?;
        eprintln!("compare-proxies: wrote {}", path.display());
    }
    Ok(())
}

/// The run's options; builds corepool and the pump first unless told not to (a failed build
/// makes its targets unavailable, not the run).
fn options(args: &Args, command: String) -> Result<Options> {
    let targets = parse_targets(&args.only, args.shape, args.standbys)?;
    let (clients, connect) = match args.shape {
        Shape::Proxy => (vec![1, 16, 64, 256], vec![8]),
        Shape::TransactionPooling => (vec![16, 64, 1000, 10_000], vec![]),
    };
    let or = |given: &[u32], default: Vec<u32>| -> Vec<u32> {
        let list = if given.is_empty() {
            default
        } else {
            given.to_vec()
        };
        list.into_iter().filter(|&n| n > 0).collect()
    };
    let modes = args
        .modes
        .iter()
        .map(|m| QueryMode::parse(m))
        .collect::<Result<Vec<_>>>()?;
    let corepool_conf = args
        .corepool_conf
        .iter()
        .map(|kv| parse_setting(kv))
        .collect::<Result<Vec<_>>>()?;
    let baseline_conf = args
        .baseline_conf
        .iter()
        .map(|kv| parse_setting(kv))
        .collect::<Result<Vec<_>>>()?;
    let mut unavailable = Vec::new();
    let corepool = match args.corepool_bin.clone() {
        Some(bin) => bin,
        None => {
            let bin = build::default_corepool_path()?;
            if !args.no_build && targets.iter().any(|t| t.is_corepool()) {
                if let Err(e) = build::build_corepool(&bin) {
                    unavailable.push((TargetKind::Corepool, format!("{e:#}")));
                }
            }
            bin
        }
    };
    let pump = match args.pump_bin.clone() {
        Some(bin) => bin,
        None => {
            let bin = build::sibling_path("pump")?;
            if !args.no_build && targets.iter().any(|t| t.is_pump()) {
                if let Err(e) = build::build_pump(&bin) {
                    for p in TargetKind::PUMPS {
                        unavailable.push((p, format!("{e:#}")));
                    }
                }
            }
            bin
        }
    };
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    Ok(Options {
        rounds: args.rounds.max(1),
        duration: Duration::from_secs(args.duration.max(1)),
        scale: args.scale.max(1),
        targets,
        clients: or(&args.clients, clients),
        modes,
        connect_clients: or(&args.connect_clients, connect),
        throughput: !args.no_throughput,
        idle_clients: args
            .idle_clients
            .iter()
            .copied()
            .filter(|&n| n > 0)
            .collect(),
        max_connections: args.max_connections,
        pool_size: args.pool_size.max(1),
        latency_log: !args.no_latency_log,
        corepool_cores: args.corepool_cores,
        corepool_conf,
        baseline_conf,
        pgdog_workers: args
            .pgdog_workers
            .unwrap_or(u32::try_from(cores).unwrap_or(2)),
        max_prepared_statements: args.max_prepared_statements,
        pump_trigger: args.pump_trigger.clone().unwrap_or_default(),
        programs: Programs {
            peers_dir: args.peers_dir.clone().unwrap_or_else(default_peers_dir),
            corepool,
            corepool_baseline: args.corepool_baseline_bin.clone(),
            pump,
        },
        unavailable,
        standbys: args.standbys,
        command,
    })
}

/// `KEY=VALUE` → (`KEY`, `VALUE`), both trimmed.
fn parse_setting(kv: &str) -> Result<(String, String)> {
    let (key, value) = kv
        .split_once('=')
        .ok_or_else(|| anyhow!("--corepool-conf {kv:?} is not KEY=VALUE"))?;
    let key = key.trim();
    if key.is_empty() || !key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        bail!("--corepool-conf {kv:?}: {key:?} is not a pgpool.conf parameter name");
    }
    Ok((key.to_string(), value.trim().to_string()))
}

fn parse_targets(only: &[String], shape: Shape, standbys: usize) -> Result<Vec<TargetKind>> {
    let mut targets = if only.is_empty() {
        match shape {
            Shape::Proxy => TargetKind::ALL.to_vec(),
            Shape::TransactionPooling => vec![
                TargetKind::Direct,
                TargetKind::PumpEpoll,
                TargetKind::PumpUring,
                TargetKind::Pgbouncer125Transaction,
                TargetKind::Pgdog,
                TargetKind::Corepool,
            ],
        }
    } else {
        let mut targets = Vec::new();
        for name in only {
            targets.extend(TargetKind::parse(name)?);
        }
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

/// This program's command line, shell-quoted where needed, for the report.
fn command_line() -> String {
    let mut args = std::env::args();
    let _program = args.next();
    std::iter::once("compare-proxies".to_string())
        .chain(args.map(|a| shell_quote(&a)))
        .collect::<Vec<_>>()
        .join(" ")
}

/// `arg` as a shell word: bare when safe, in double quotes when nothing in it is special there
/// (`"pool_mode='transaction'"`), otherwise in single quotes.
fn shell_quote(arg: &str) -> String {
    let bare = |c: char| c.is_ascii_alphanumeric() || "-_=.,/:+@%".contains(c);
    if !arg.is_empty() && arg.chars().all(bare) {
        arg.to_string()
    } else if !arg.contains(['"', '$', '`', '\\', '!']) {
        format!("\"{arg}\"")
    } else {
        format!("'{}'", arg.replace('\'', "'\\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn arguments_parse_into_options() {
        Args::command().debug_assert();
        let args = Args::parse_from([
            "compare-proxies",
            "--shape",
            "transaction-pooling",
            "--corepool-conf",
            "pool_mode='transaction'",
            "--corepool-conf",
            "max_pool = 20",
            "--no-build",
            "--connect-clients",
            "0",
            "--peers-dir",
            "/p",
            "--corepool-bin",
            "/c",
            "--pump-bin",
            "/u",
        ]);
        let opts = options(&args, "x".into()).unwrap();
        assert_eq!(opts.programs.peers_dir, PathBuf::from("/p"));
        assert_eq!(opts.clients, [16, 64, 1000, 10_000]);
        assert!(opts.connect_clients.is_empty());
        assert_eq!(opts.targets.len(), 6);
        assert_eq!(
            opts.corepool_conf,
            [
                ("pool_mode".to_string(), "'transaction'".to_string()),
                ("max_pool".to_string(), "20".to_string())
            ]
        );
        assert!(parse_setting("novalue").is_err());
        assert!(parse_setting("a b=1").is_err());
        assert_eq!(shell_quote("--clients"), "--clients");
        assert_eq!(shell_quote("pool_mode='x'"), "\"pool_mode='x'\"");
        assert_eq!(shell_quote("a b"), "\"a b\"");
        assert_eq!(shell_quote("$x'"), r"'$x'\'''");
        let targets = parse_targets(&["pumps".into(), "pgdog".into()], Shape::Proxy, 0).unwrap();
        assert_eq!(
            targets,
            [
                TargetKind::PumpEpoll,
                TargetKind::PumpUring,
                TargetKind::Pgdog
            ]
        );
    }
}
