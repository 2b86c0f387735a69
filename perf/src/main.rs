//! `corepool-perf`: a flamegraph of corepool, or of any other target of compare-proxies (the
//! byte pumps, PgBouncer 1.25/1.18, PgDog, Pgpool-II, or PostgreSQL itself for `direct`), under
//! pgbench load.
//!
//! Starts a PostgreSQL primary with the testkit and the target in front of it (configured as
//! compare-proxies configures it), runs `pgbench -S` against it, records the target's processes
//! with `perf record -F 999 -g --call-graph dwarf -p <pids>` while the load runs (every thread:
//! corepool's `corepool-shard-N` threads, PgDog's workers; Pgpool-II's children; for `direct`
//! the postmaster and its backends), folds the samples with inferno, writes the SVG and prints
//! the functions with the most self time. Threads of one pool (`corepool-shard-0`, `-1`, …) are
//! merged into one root frame unless `--per-thread` is given (then each is `name-pid/tid`).
//!
//! # Layout
//! - `record`: running `perf` (permission probe, record, script).
//! - `fold`: inferno's collapse and flamegraph, and the self-time ranking.
//! - this file: arguments, the cluster and proxy (from `corepool-bench`), the load, the steps.

mod fold;
mod record;

use std::path::PathBuf;
use std::process::ExitCode;
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use clap::Parser;
use corepool_bench::conf::ProxyConfig;
use corepool_bench::kind::{Pooling, TargetKind};
use corepool_bench::pgbench::{self, QueryMode, Workload};
use corepool_bench::procs::{descendants_and_self, ProcessSet};
use corepool_bench::programs::{default_peers_dir, Programs};
use corepool_bench::stop::Stop;
use corepool_bench::{build, sys, targets};
use corepool_testkit::Cluster;

use record::{CallGraph, PerfUnavailable};

/// Exit status when perf is missing or not permitted.
const EXIT_PERF_UNAVAILABLE: u8 = 2;

/// Load before perf starts, so the pools are warm and the profile shows steady state.
const WARM_UP: Duration = Duration::from_secs(2);

/// Record a flamegraph of corepool (or another target) serving `pgbench -S`.
#[derive(Debug, Parser)]
#[command(version)]
struct Args {
    /// Seconds to record (pgbench runs a little longer).
    #[arg(long, default_value_t = 20)]
    duration: u64,
    /// pgbench clients (`-c`).
    #[arg(long, default_value_t = 16)]
    clients: u32,
    /// pgbench query mode (`-M`).
    #[arg(long, value_enum, default_value_t = Mode::Simple)]
    mode: Mode,
    /// Where to write the SVG.
    #[arg(long, default_value = "perf/flamegraph.svg")]
    out: PathBuf,
    /// Also write the folded stacks here.
    #[arg(long)]
    folded: Option<PathBuf>,
    /// The target to profile, as compare-proxies names it: corepool, pump-epoll, pump-uring,
    /// pgbouncer-1.25-transaction, pgbouncer-1.25-session, pgbouncer-1.18-transaction,
    /// pgbouncer-1.18-session (or pgbouncer), pgdog, pgpool, direct (PostgreSQL's backends).
    #[arg(long, default_value = "corepool")]
    target: String,
    /// Backends of a transaction-pooling target (PgBouncer and PgDog `default_pool_size`).
    #[arg(long, default_value_t = 20)]
    pool_size: u32,
    /// Keep each thread as its own root frame (`name-pid/tid`), instead of merging the threads
    /// of a pool (`corepool-shard-N`) into one.
    #[arg(long)]
    per_thread: bool,
    /// Sampling frequency (`perf record -F`).
    #[arg(long, default_value_t = 999)]
    frequency: u32,
    /// Stack walking (`perf record --call-graph`).
    #[arg(long, value_enum, default_value_t = CallGraph::Dwarf)]
    call_graph: CallGraph,
    /// Let `perf script` add inlined frames (much slower).
    #[arg(long)]
    inline: bool,
    /// How many functions to list by self time.
    #[arg(long, default_value_t = 25)]
    top: usize,
    /// pgbench scale factor.
    #[arg(long, default_value_t = 10)]
    scale: u32,
    /// A new connection per transaction (`pgbench -C`): profiles connection set-up.
    #[arg(long)]
    connect: bool,
    /// corepool's `corepool_cores` (default: all).
    #[arg(long)]
    corepool_cores: Option<u32>,
    /// The corepool binary (default: `corepool` next to this program, built first).
    #[arg(long)]
    corepool_bin: Option<PathBuf>,
    /// A setting for corepool's pgpool.conf, `KEY=VALUE` (as compare-proxies takes it).
    #[arg(long, value_name = "KEY=VALUE")]
    corepool_conf: Vec<String>,
    /// The byte pump (default: `pump` next to this program, built first).
    #[arg(long)]
    pump_bin: Option<PathBuf>,
    /// The peers directory with bin/pgbouncer-1.25 and bin/pgdog (default: ../shared/peers
    /// beside the repository).
    #[arg(long, env = "COREPOOL_PEERS_DIR")]
    peers_dir: Option<PathBuf>,
    /// Do not run `cargo build --release` for corepool or the pump first.
    #[arg(long)]
    no_build: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Mode {
    Simple,
    Extended,
    Prepared,
}

fn main() -> ExitCode {
    match run(Args::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("corepool-perf: {e:#}");
            if e.downcast_ref::<PerfUnavailable>().is_some() {
                ExitCode::from(EXIT_PERF_UNAVAILABLE)
            } else {
                ExitCode::FAILURE
            }
        }
    }
}

fn run(args: Args) -> Result<()> {
    let stop = Stop::install()?;
    let scratch = tempfile::Builder::new()
        .prefix("corepool-perf-")
        .tempdir()
        .context("create scratch directory")?;
    let perf = record::check_perf(scratch.path())?;
    let kind = parse_target(&args.target)?;
    let programs = programs(&args, kind)?;
    sys::raise_nofile_limit().context("raise RLIMIT_NOFILE")?;

    eprintln!(
        "corepool-perf: starting PostgreSQL and pgbench -i -s {}",
        args.scale
    );
    let cluster = Cluster::builder()
        .setting("max_connections", "300")
        .setting("shared_buffers", "256MB")
        .start()
        .context("start the PostgreSQL primary")?;
    pgbench::initialize(&cluster, cluster.primary().port(), args.scale)?;
    stop.check()?;
    let corepool_conf = args
        .corepool_conf
        .iter()
        .map(|kv| {
            let (k, v) = kv
                .split_once('=')
                .ok_or_else(|| anyhow!("--corepool-conf {kv:?} is not KEY=VALUE"))?;
            Ok((k.trim().to_string(), v.trim().to_string()))
        })
        .collect::<Result<Vec<_>>>()?;
    let pooling = match kind {
        TargetKind::Corepool => Pooling::for_corepool(
            corepool_conf
                .iter()
                .rev()
                .find(|(k, _)| k == "pool_mode")
                .map(|(_, v)| v.as_str()),
        ),
        _ => kind.default_pooling(),
    };
    let pool_size = match pooling {
        Pooling::Transaction => args.pool_size,
        _ => args.clients + 8,
    };
    let config = ProxyConfig {
        max_clients: (args.clients + 16).max(11_000 * u32::from(is_pgbouncer(kind))),
        pool_size,
        corepool_cores: args.corepool_cores,
        corepool_conf,
        pgpool_conf: Vec::new(),
        corepool_pool_size: (pooling == Pooling::Transaction).then_some(args.pool_size),
        load_balance: false,
        pgdog_workers: u32::try_from(thread::available_parallelism().map_or(2, |n| n.get()))
            .unwrap_or(2),
        max_prepared_statements: 200,
        pump_trigger: String::new(),
    };
    let proxy = match kind {
        TargetKind::Direct => None,
        _ => Some(targets::start(&cluster, kind, &config, &programs)?),
    };
    let port = proxy
        .as_ref()
        .map_or(cluster.primary().port(), |p| p.port());
    match &proxy {
        Some(p) => eprintln!("corepool-perf: {kind} pid {} on port {port}", p.pid()),
        None => eprintln!("corepool-perf: direct: profiling PostgreSQL on port {port}"),
    }

    let mode = match args.mode {
        Mode::Simple => QueryMode::Simple,
        Mode::Extended => QueryMode::Extended,
        Mode::Prepared => QueryMode::Prepared,
    };
    let workload = Workload::new(args.clients, mode, args.connect);
    let duration = Duration::from_secs(args.duration.max(1));
    let data = scratch.path().join("perf.data");
    let summary = thread::scope(|s| {
        let load = s.spawn(|| {
            pgbench::run(
                &cluster,
                port,
                &workload,
                WARM_UP + duration + WARM_UP,
                None,
            )
        });
        thread::sleep(WARM_UP);
        let recorded =
            recorded_pids(&cluster, proxy.as_ref().map(|p| p.processes())).and_then(|pids| {
                eprintln!(
                    "corepool-perf: perf record -p {} for {duration:?} under `{workload}`",
                    join(&pids)
                );
                record::record(
                    &perf,
                    &join(&pids),
                    duration,
                    args.frequency,
                    args.call_graph,
                    &data,
                )
            });
        let summary = load
            .join()
            .map_err(|_| anyhow::anyhow!("pgbench thread panicked"));
        recorded.and(summary)
    })??;
    eprintln!(
        "corepool-perf: pgbench {:.0} tps, {:.3} ms average latency",
        summary.tps, summary.latency_ms
    );
    drop(proxy);
    drop(cluster);
    stop.check()?;

    let started = Instant::now();
    let script = scratch.path().join("perf.script");
    record::script(&perf, &data, &script, args.inline)?;
    let folded = fold::collapse(&script, args.per_thread)?;
    let folded = if args.per_thread {
        folded
    } else {
        fold::merge_numbered_threads(&folded)
    };
    eprintln!(
        "corepool-perf: perf script + fold took {:.1?}",
        started.elapsed()
    );
    if let Some(path) = &args.folded {
        std::fs::write(path, &folded).with_context(|| format!("write {}", path.display()))?;
    }
    if let Some(dir) = args.out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("create {}", dir.display()))?;
    }
    let cpu_clock = record::is_cpu_clock(&script);
    let title = format!("{kind} under {workload} ({} s)", duration.as_secs());
    fold::draw(
        &folded,
        &title,
        if cpu_clock { "ns" } else { "events" },
        &args.out,
    )?;
    print_top(&folded, args.top, cpu_clock);
    eprintln!("corepool-perf: wrote {}", args.out.display());
    Ok(())
}

/// The target named `name` (exactly one; `pgbouncer` alone means Debian's 1.18 in session
/// mode, as before).
fn parse_target(name: &str) -> Result<TargetKind> {
    if name.trim() == "pgbouncer" {
        return Ok(TargetKind::Pgbouncer118Session);
    }
    match TargetKind::parse(name)?.as_slice() {
        [one] => Ok(*one),
        many => bail!("--target {name:?} names {} targets; name one", many.len()),
    }
}

fn is_pgbouncer(kind: TargetKind) -> bool {
    matches!(
        kind,
        TargetKind::Pgbouncer125Transaction
            | TargetKind::Pgbouncer125Session
            | TargetKind::Pgbouncer118Transaction
            | TargetKind::Pgbouncer118Session
    )
}

/// Where the programs are, building corepool or the pump first when `kind` needs it.
fn programs(args: &Args, kind: TargetKind) -> Result<Programs> {
    let corepool = match &args.corepool_bin {
        Some(bin) => bin.clone(),
        None => {
            let bin = build::default_corepool_path()?;
            if kind == TargetKind::Corepool && !args.no_build {
                build::build_corepool(&bin)?;
            }
            bin
        }
    };
    let pump = match &args.pump_bin {
        Some(bin) => bin.clone(),
        None => {
            let bin = build::sibling_path("pump")?;
            if kind.is_pump() && !args.no_build {
                build::build_pump(&bin)?;
            }
            bin
        }
    };
    Ok(Programs {
        peers_dir: args.peers_dir.clone().unwrap_or_else(default_peers_dir),
        corepool,
        corepool_baseline: None,
        pump,
    })
}

/// The pids to record: the proxy's processes (Pgpool-II's whole tree), or for direct the
/// postmaster and every process it forked (the backends pgbench is connected to).
fn recorded_pids(cluster: &Cluster, proxy: Option<ProcessSet>) -> Result<Vec<u32>> {
    match proxy {
        Some(set) => set.pids(),
        None => {
            let pid_file = cluster.primary().data_dir().join("postmaster.pid");
            let text = std::fs::read_to_string(&pid_file)
                .with_context(|| format!("read {}", pid_file.display()))?;
            let pid = text
                .lines()
                .next()
                .and_then(|l| l.trim().parse::<u32>().ok())
                .with_context(|| format!("no pid in {}", pid_file.display()))?;
            descendants_and_self(pid)
        }
    }
}

fn join(pids: &[u32]) -> String {
    pids.iter()
        .map(u32::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

/// Prints the `n` functions with the most self time. inferno weighs each sample by its period,
/// which for `cpu-clock` (the event perf falls back to without a hardware PMU, as in most VMs)
/// is nanoseconds of CPU time.
fn print_top(folded: &str, n: usize, cpu_clock: bool) {
    let (top, total) = fold::top_self(folded, n);
    if total == 0 {
        return;
    }
    let (unit, scale) = if cpu_clock {
        ("CPU ms", 1e-6)
    } else {
        ("events", 1.0)
    };
    println!(
        "top {n} functions by self time ({:.0} {unit} in all):",
        total as f64 * scale
    );
    println!("{:>7}  {:>10}  function", "self %", unit);
    for entry in top {
        let share = entry.samples as f64 * 100.0 / total as f64;
        let weight = entry.samples as f64 * scale;
        println!("{share:>6.2}%  {weight:>10.1}  {}", entry.function);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn arguments_parse() {
        Args::command().debug_assert();
        let args = Args::parse_from(["corepool-perf", "--duration", "3", "--target", "pgbouncer"]);
        assert_eq!(
            parse_target(&args.target).unwrap(),
            TargetKind::Pgbouncer118Session
        );
        assert_eq!((args.duration, args.clients, args.frequency), (3, 16, 999));
        assert_eq!(args.out, PathBuf::from("perf/flamegraph.svg"));
        assert_eq!(parse_target("pump-uring").unwrap(), TargetKind::PumpUring);
        assert!(parse_target("pumps").is_err());
        assert!(parse_target("odyssey").is_err());
    }
}
