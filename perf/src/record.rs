//! Driving Linux `perf`: check it may be used here, record a process, dump the samples as text.

use std::fmt;
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use anyhow::{bail, Context, Result};

/// Where Debian's linux-perf puts the wrapper.
const PERF: &str = "/usr/bin/perf";

/// `perf` is missing or the kernel will not let us sample: the one failure with its own exit
/// status, since nothing in this program can fix it.
#[derive(Debug)]
pub struct PerfUnavailable(pub String);

impl fmt::Display for PerfUnavailable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "perf cannot be used on this machine: {}", self.0)
    }
}

impl std::error::Error for PerfUnavailable {}

/// How perf walks the stack.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum CallGraph {
    /// Copy the user stack and unwind with DWARF CFI: works without frame pointers (our release
    /// build has none), at the price of large perf.data files.
    Dwarf,
    /// Frame pointers: small and fast, but Rust release code omits them.
    Fp,
}

impl CallGraph {
    fn as_str(self) -> &'static str {
        match self {
            CallGraph::Dwarf => "dwarf",
            CallGraph::Fp => "fp",
        }
    }
}

/// Finds `perf` and checks that it may sample, by recording `true` for a moment.
pub fn check_perf(scratch: &Path) -> Result<PathBuf> {
    let perf = PathBuf::from(PERF);
    if !perf.is_file() {
        return Err(
            PerfUnavailable(format!("{PERF} not found (apt-get install linux-perf)")).into(),
        );
    }
    let probe = scratch.join("probe.data");
    let out = Command::new(&perf)
        .args(["record", "-q", "-F", "99", "-g", "-o"])
        .arg(&probe)
        .args(["--", "true"])
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("run {PERF}"))?;
    if !out.status.success() {
        let paranoid = std::fs::read_to_string("/proc/sys/kernel/perf_event_paranoid")
            .map_or("unknown".into(), |s| s.trim().to_owned());
        return Err(PerfUnavailable(format!(
            "`perf record -- true` failed ({}): {} (kernel.perf_event_paranoid = {paranoid}; \
             containers also need CAP_PERFMON / CAP_SYS_ADMIN and a seccomp profile that \
             allows perf_event_open)",
            out.status,
            text(&out.stderr).trim()
        ))
        .into());
    }
    Ok(perf)
}

/// `perf record -F <frequency> -g --call-graph <mode> -p <pids>` (comma-separated; every
/// thread of each) for `duration`, into `data`.
pub fn record(
    perf: &Path,
    pids: &str,
    duration: Duration,
    frequency: u32,
    call_graph: CallGraph,
    data: &Path,
) -> Result<()> {
    let out = Command::new(perf)
        .args(["record", "-q", "-F", &frequency.to_string(), "-g"])
        .args(["--call-graph", call_graph.as_str(), "-p", pids, "-o"])
        .arg(data)
        .args(["--", "sleep", &format!("{:.3}", duration.as_secs_f64())])
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("run {}", perf.display()))?;
    if !out.status.success() {
        let stderr = text(&out.stderr);
        if stderr.contains("perf_event_open") || stderr.contains("ermission") {
            return Err(PerfUnavailable(stderr.trim().to_owned()).into());
        }
        bail!("perf record failed ({}): {}", out.status, stderr.trim());
    }
    Ok(())
}

/// `perf script` of `data` into `text_out`. Inline frames from DWARF are left out unless
/// `inline` is set: perf 6.1 resolves them by running addr2line, which takes minutes.
pub fn script(perf: &Path, data: &Path, text_out: &Path, inline: bool) -> Result<()> {
    let file = File::create(text_out).with_context(|| format!("create {}", text_out.display()))?;
    let out = Command::new(perf)
        .args(["script", "-i"])
        .arg(data)
        .arg(if inline { "--inline" } else { "--no-inline" })
        .stdin(Stdio::null())
        .stdout(file)
        .stderr(Stdio::piped())
        .output()
        .with_context(|| format!("run {} script", perf.display()))?;
    if !out.status.success() {
        bail!(
            "perf script failed ({}): {}",
            out.status,
            text(&out.stderr).trim()
        );
    }
    Ok(())
}

/// Whether the samples in a `perf script` dump are `cpu-clock` events (weights in ns), judged
/// from the first sample header.
pub fn is_cpu_clock(script: &Path) -> bool {
    let Ok(file) = File::open(script) else {
        return false;
    };
    BufReader::new(file)
        .lines()
        .take(1000)
        .map_while(Result::ok)
        .find(|l| !l.is_empty() && !l.starts_with(char::is_whitespace))
        .is_some_and(|header| header.contains("cpu-clock"))
}

fn text(bytes: &[u8]) -> &str {
    std::str::from_utf8(bytes).unwrap_or("<non-UTF-8 output>")
}
