//! `compare-backup`: corepool basebackup (-j 1, 2, 4 by default, any list with `--jobs`; plain
//! and compressed tar) against pg_basebackup on the same cluster, in interleaved rounds, with
//! fio's direct-write bandwidth as the ceiling. `--perf-dir` records every run system-wide
//! with `perf record -a` (server and client side together) for `perf report`.
//!
//! ```text
//! cargo run --release -p corepool-bench --bin compare-backup -- --scale 200 --rounds 3
//! cargo run --release -p corepool-bench --bin compare-backup -- --scale 20 --rounds 2   # quick
//! cargo run --release -p corepool-bench --bin compare-backup -- --jobs 1,2,4,8 --no-tar \
//!     --perf-dir /tmp/bb-perf      # profiles: perf report -i /tmp/bb-perf/<target>.data
//! ```
//!
//! Each round runs every target once, in a rotated order, into a fresh directory on the same
//! file system (removed afterwards); the report gives median wall times and ratios to the
//! matching pg_basebackup run. Nothing here is a test: it judges nothing and never fails on a
//! slow result.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::Parser;
use corepool_bench::build::{build_corepool, default_corepool_path};
use corepool_testkit::Cluster;

#[derive(Debug, Parser)]
#[command(about = "Interleaved comparison of corepool basebackup with pg_basebackup")]
struct Args {
    /// pgbench scale of the cluster (200 ≈ 3 GB).
    #[arg(long, default_value_t = 200)]
    scale: u32,
    /// Rounds of every target.
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    /// The corepool binary (default: beside this program, built first unless --no-build).
    #[arg(long)]
    corepool: Option<PathBuf>,
    /// Do not build corepool first.
    #[arg(long)]
    no_build: bool,
    /// Skip the compressed tar targets.
    #[arg(long)]
    no_tar: bool,
    /// corepool `-j` values of the plain-format targets.
    #[arg(long, value_delimiter = ',', default_values_t = [1, 2, 4])]
    jobs: Vec<usize>,
    /// After the timed rounds, one more round (not counted) with each run recorded by
    /// `perf record -a -F 999` into `<dir>/<target>.data`.
    #[arg(long)]
    perf_dir: Option<PathBuf>,
}

#[derive(Debug, Clone)]
struct Target {
    name: String,
    /// The pg_basebackup target this one is compared with.
    baseline: &'static str,
    corepool: bool,
    args: Vec<String>,
}

const PG_PLAIN: &str = "pg_basebackup -Fp -Xstream -c fast";
const PG_TAR: &str = "pg_basebackup -Ft -z";

fn target(name: String, baseline: &'static str, corepool: bool, args: &[&str]) -> Target {
    Target {
        name,
        baseline,
        corepool,
        args: args.iter().map(|a| a.to_string()).collect(),
    }
}

/// pg_basebackup plain, corepool plain at each `-j`, then (unless `no_tar`) the compressed tar
/// targets.
fn targets(jobs: &[usize], tar: bool) -> Vec<Target> {
    let mut t = vec![target(PG_PLAIN.into(), "", false, &["-Fp", "-Xstream"])];
    for j in jobs {
        let n = j.to_string();
        t.push(target(
            format!("corepool -j {j} -Fp"),
            PG_PLAIN,
            true,
            &["-Fp", "-j", &n],
        ));
    }
    if tar {
        t.push(target(PG_TAR.into(), "", false, &["-Ft", "-z", "-Xstream"]));
        for z in ["gzip:1", "lz4", "zstd:1"] {
            t.push(target(
                format!("corepool -j 4 -Ft -Z {z}"),
                PG_TAR,
                true,
                &["-Ft", "-Z", z, "-j", "4"],
            ));
        }
    }
    t
}

fn main() -> Result<()> {
    let args = Args::parse();
    let corepool = match &args.corepool {
        Some(p) => p.clone(),
        None => default_corepool_path()?,
    };
    if !args.no_build && args.corepool.is_none() {
        build_corepool(&corepool)?;
    }
    eprintln!(
        "starting cluster (checksums on), pgbench -i -s {}",
        args.scale
    );
    let cluster = Cluster::builder()
        .data_checksums(true)
        .setting("max_wal_size", "8GB")
        .setting("checkpoint_timeout", "1h")
        .timeout(Duration::from_secs(3600))
        .start()?;
    let out = cluster
        .pgbench(&["-i", "-s", &args.scale.to_string(), "-q"])
        .output()?;
    if !out.status.success() {
        bail!(
            "pgbench -i failed: {}",
            String::from_utf8(out.stderr).unwrap_or_default()
        );
    }
    let p = cluster.primary();
    p.psql("postgres", "CHECKPOINT")?;
    let size: u64 = p
        .psql(
            "postgres",
            "SELECT sum(pg_database_size(oid)) FROM pg_database",
        )?
        .parse()?;
    eprintln!("cluster: {:.2} GB", size as f64 / 1e9);
    let all = targets(&args.jobs, !args.no_tar);
    let targets: Vec<&Target> = all.iter().collect();
    if let Some(d) = &args.perf_dir {
        std::fs::create_dir_all(d)?;
    }
    eprintln!("load average before the rounds: {}", load_average());
    let mut times: Vec<Vec<f64>> = vec![Vec::new(); targets.len()];
    let mut n = 0;
    let extra = usize::from(args.perf_dir.is_some());
    for round in 0..args.rounds + extra {
        let profiled = round == args.rounds;
        for k in 0..targets.len() {
            let i = (k + round) % targets.len();
            let t = targets[i];
            n += 1;
            let dir = cluster.create_dir(&format!("bb{n}"))?;
            std::fs::remove_dir(&dir)?;
            let perf = args.perf_dir.as_ref().filter(|_| profiled).map(|d| {
                let file: String = t
                    .name
                    .chars()
                    .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
                    .collect();
                d.join(format!("{file}.data"))
            });
            let secs = run_target(&cluster, &corepool, t, &dir, perf.as_deref())?;
            if profiled {
                eprintln!(
                    "profiled: {:<40} {secs:8.2} s (under perf, not counted)",
                    t.name
                );
            } else {
                eprintln!("round {round}: {:<40} {secs:8.2} s", t.name);
                times[i].push(secs);
            }
            std::fs::remove_dir_all(&dir).ok();
        }
    }
    eprintln!("load average after the rounds: {}", load_average());
    let fio = fio_ceiling(&cluster, size)?;
    println!("{}", render(&targets, &times, size, fio, args.scale));
    Ok(())
}

/// `/proc/loadavg`'s three averages: the machine may be shared, and figures are noisy then.
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".into())
}

fn run_target(
    cluster: &Cluster,
    corepool: &Path,
    t: &Target,
    dir: &Path,
    perf: Option<&Path>,
) -> Result<f64> {
    let p = cluster.primary();
    let mut cmd = if t.corepool {
        let mut c = Command::new(corepool);
        c.arg("basebackup");
        c
    } else {
        cluster.create_dir(dir.file_name().and_then(|n| n.to_str()).unwrap_or("bb"))?;
        cluster.command("pg_basebackup")
    };
    // perf record -a samples the whole machine (the server's backends and the client) for
    // as long as the backup runs.
    let _recorder = match perf {
        Some(out) => Some(PerfRecorder::start(out)?),
        None => None,
    };
    cmd.arg("-D").arg(dir);
    cmd.args([
        "-h",
        p.host(),
        "-p",
        &p.port().to_string(),
        "-U",
        "postgres",
        "-c",
        "fast",
    ]);
    cmd.args(&t.args);
    let start = Instant::now();
    let out = cmd.output().with_context(|| format!("run {}", t.name))?;
    let secs = start.elapsed().as_secs_f64();
    if !out.status.success() {
        bail!(
            "{} failed: {}",
            t.name,
            String::from_utf8(out.stderr).unwrap_or_default()
        );
    }
    Ok(secs)
}

/// `perf record -a -F 999` running until dropped (SIGINT, then wait: perf writes its file).
struct PerfRecorder(std::process::Child);

impl PerfRecorder {
    fn start(out: &Path) -> Result<PerfRecorder> {
        let child = Command::new("perf")
            .args(["record", "-a", "-F", "999", "-q", "-o"])
            .arg(out)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .context("run perf (apt-get install linux-perf)")?;
        // perf needs a moment to open its events on every CPU.
        std::thread::sleep(Duration::from_millis(300));
        Ok(PerfRecorder(child))
    }
}

impl Drop for PerfRecorder {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-INT", &self.0.id().to_string()])
            .status();
        let _ = self.0.wait();
    }
}

/// fio sequential O_DIRECT writes of the cluster's size in 1 MiB blocks: MB/s, if fio is there.
fn fio_ceiling(cluster: &Cluster, size: u64) -> Result<Option<f64>> {
    if Command::new("fio").arg("--version").output().is_err() {
        eprintln!("fio not installed (apt-get install -y fio): no ceiling");
        return Ok(None);
    }
    let file = cluster.root_dir().join("fio.dat");
    let out = Command::new("fio")
        .args([
            "--name=ceiling",
            "--rw=write",
            "--bs=1M",
            "--direct=1",
            "--ioengine=io_uring",
            "--iodepth=4",
        ])
        .arg(format!("--size={}", size.max(64 << 20)))
        .arg(format!("--filename={}", file.display()))
        .args([
            "--end_fsync=1",
            "--output-format=terse",
            "--terse-version=3",
        ])
        .output()?;
    std::fs::remove_file(&file).ok();
    let text = String::from_utf8(out.stdout).unwrap_or_default();
    // Terse v3: field 48 (0-based 47) is write bandwidth in KiB/s.
    let bw = text
        .lines()
        .last()
        .and_then(|l| l.split(';').nth(47))
        .and_then(|f| f.parse::<f64>().ok());
    Ok(bw.map(|kib| kib * 1024.0 / 1e6))
}

fn median(v: &[f64]) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(|a, b| a.total_cmp(b));
    match s.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => s[n / 2],
        n => (s[n / 2 - 1] + s[n / 2]) / 2.0,
    }
}

fn render(
    targets: &[&Target],
    times: &[Vec<f64>],
    size: u64,
    fio: Option<f64>,
    scale: u32,
) -> String {
    let mut out = format!(
        "pgbench scale {scale}, {:.2} GB, data checksums on, {} round(s), medians\n\n| target | wall time (s) | MB/s | vs pg_basebackup |\n|---|---:|---:|---:|\n",
        size as f64 / 1e9,
        times.first().map_or(0, Vec::len)
    );
    for (t, v) in targets.iter().zip(times) {
        let m = median(v);
        let ratio = if t.baseline.is_empty() {
            "1.00× (baseline)".to_owned()
        } else {
            targets
                .iter()
                .position(|b| b.name.as_str() == t.baseline)
                .map(|b| format!("{:.2}×", m / median(&times[b])))
                .unwrap_or_default()
        };
        out.push_str(&format!(
            "| {} | {m:.2} | {:.0} | {ratio} |\n",
            t.name,
            size as f64 / 1e6 / m
        ));
    }
    if let Some(mbs) = fio {
        out.push_str(&format!(
            "| fio O_DIRECT 1 MiB sequential write (ceiling) | {:.2} | {mbs:.0} | |\n",
            size as f64 / 1e6 / mbs
        ));
    }
    out
}
