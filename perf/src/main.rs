//! `corepool-perf`: a flamegraph of corepool (or PgBouncer, for comparison) under pgbench load.
//!
//! Starts a PostgreSQL primary with the testkit and the proxy in front of it, runs
//! `pgbench -S` against the proxy, records the proxy with
//! `perf record -F 999 -g --call-graph dwarf -p <pid>` while the load runs, folds the samples with
//! inferno, writes the SVG and prints the functions with the most self time.
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

use anyhow::{Context, Result};
use clap::Parser;
use corepool_bench::build::{runtime_wrapper, Runtime};
use corepool_bench::pgbench::{self, QueryMode, Workload};
use corepool_bench::stop::Stop;
use corepool_bench::targets::{self, ProxyConfig, TargetKind};
use corepool_bench::{build, sys};
use corepool_testkit::Cluster;

use record::{CallGraph, PerfUnavailable};

/// Exit status when perf is missing or not permitted.
const EXIT_PERF_UNAVAILABLE: u8 = 2;

/// Load before perf starts, so the pools are warm and the profile shows steady state.
const WARM_UP: Duration = Duration::from_secs(2);

/// Record a flamegraph of corepool (or PgBouncer) serving `pgbench -S`.
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
    /// The process to profile.
    #[arg(long, value_enum, default_value_t = Target::Corepool)]
    target: Target,
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
    /// corepool's shard executor, `corepool_runtime` (default: the binary's default).
    #[arg(long, value_enum)]
    runtime: Option<Runtime>,
    /// Do not run `cargo build --release -p corepool` first.
    #[arg(long)]
    no_build: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Mode {
    Simple,
    Extended,
    Prepared,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Target {
    Corepool,
    Pgbouncer,
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
    let kind = match args.target {
        Target::Corepool => TargetKind::Corepool,
        Target::Pgbouncer => TargetKind::PgbouncerSession,
    };
    let corepool_bin = match &args.corepool_bin {
        Some(bin) => bin.clone(),
        None => build::default_corepool_path()?,
    };
    if kind == TargetKind::Corepool && args.corepool_bin.is_none() && !args.no_build {
        build::build_corepool(&corepool_bin)?;
    }
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
    let config = ProxyConfig {
        max_clients: args.clients + 8,
        pool_size: args.clients,
        corepool_cores: args.corepool_cores,
        corepool_bin: runtime_wrapper(&corepool_bin, args.runtime)?,
        load_balance: false,
    };
    let proxy = targets::start(&cluster, kind, &config)?;
    eprintln!(
        "corepool-perf: {kind} pid {} on port {}",
        proxy.pid(),
        proxy.port()
    );

    let workload = Workload {
        clients: args.clients,
        threads: 2,
        mode: match args.mode {
            Mode::Simple => QueryMode::Simple,
            Mode::Extended => QueryMode::Extended,
            Mode::Prepared => QueryMode::Prepared,
        },
        connect_per_txn: args.connect,
    };
    let duration = Duration::from_secs(args.duration.max(1));
    let data = scratch.path().join("perf.data");
    let summary = thread::scope(|s| {
        let load = s.spawn(|| {
            pgbench::run(
                &cluster,
                proxy.port(),
                &workload,
                WARM_UP + duration + WARM_UP,
            )
        });
        thread::sleep(WARM_UP);
        eprintln!(
            "corepool-perf: perf record -p {} for {duration:?} under `{workload}`",
            proxy.pid()
        );
        let recorded = record::record(
            &perf,
            proxy.pid(),
            duration,
            args.frequency,
            args.call_graph,
            &data,
        );
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
    let folded = fold::collapse(&script)?;
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
        assert_eq!(args.target, Target::Pgbouncer);
        assert_eq!((args.duration, args.clients, args.frequency), (3, 16, 999));
        assert_eq!(args.out, PathBuf::from("perf/flamegraph.svg"));
    }
}
