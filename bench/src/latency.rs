//! Latency percentiles from pgbench's per-transaction log (`pgbench -l`).
//!
//! With `-l --log-prefix=<dir>/txn`, pgbench writes one file per thread (`txn.<pid>` for the
//! first, `txn.<pid>.<n>` for the others), one line per transaction:
//! `client_id transaction_no time script_no time_epoch time_us [...]`, where `time` is the
//! transaction's latency in microseconds (with `-C`, connection set-up included), or `failed`
//! / `skipped`. Every file under the prefix is read, so the percentiles cover all threads.

use std::fs;
use std::io::{BufRead, BufReader};
use std::path::Path;

use anyhow::{bail, Context, Result};

/// p50, p99 and p99.9 of one run's transaction latencies, in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Percentiles {
    /// Median.
    pub p50_ms: f64,
    /// 99th percentile.
    pub p99_ms: f64,
    /// 99.9th percentile.
    pub p999_ms: f64,
    /// Transactions with a latency in the log.
    pub transactions: u64,
}

impl Percentiles {
    /// Nearest-rank percentiles of latencies in microseconds (sorts `us`); `None` when empty.
    pub fn of_micros(us: &mut [u32]) -> Option<Percentiles> {
        if us.is_empty() {
            return None;
        }
        us.sort_unstable();
        let rank = |q: f64| -> f64 {
            // Nearest rank: the smallest value with at least q of the values at or below it.
            let n = us.len();
            let i = ((q * n as f64).ceil() as usize).clamp(1, n) - 1;
            f64::from(us[i]) / 1000.0
        };
        Some(Percentiles {
            p50_ms: rank(0.50),
            p99_ms: rank(0.99),
            p999_ms: rank(0.999),
            transactions: us.len() as u64,
        })
    }
}

/// Reads every pgbench log file in `dir` whose name starts with `prefix` and returns the
/// percentiles of all their transactions.
pub fn read_logs(dir: &Path, prefix: &str) -> Result<Percentiles> {
    let mut latencies = Vec::new();
    let mut files = 0;
    for entry in fs::read_dir(dir).with_context(|| format!("read {}", dir.display()))? {
        let entry = entry.with_context(|| format!("read {}", dir.display()))?;
        let name = entry.file_name();
        if !name.to_str().is_some_and(|n| n.starts_with(prefix)) {
            continue;
        }
        files += 1;
        let path = entry.path();
        let file = fs::File::open(&path).with_context(|| format!("open {}", path.display()))?;
        for (n, line) in BufReader::new(file).lines().enumerate() {
            let line = line.with_context(|| format!("read {}", path.display()))?;
            match parse_line(&line) {
                Ok(Some(us)) => latencies.push(us),
                Ok(None) => {}
                Err(why) => bail!("{}:{}: {why}: {line:?}", path.display(), n + 1),
            }
        }
    }
    if files == 0 {
        bail!("pgbench wrote no {prefix}* log in {}", dir.display());
    }
    Percentiles::of_micros(&mut latencies)
        .with_context(|| format!("pgbench's logs in {} hold no transaction", dir.display()))
}

/// The latency (µs) of one log line; `None` for a failed or skipped transaction.
fn parse_line(line: &str) -> Result<Option<u32>, &'static str> {
    let mut fields = line.split_ascii_whitespace();
    let time = fields.nth(2).ok_or("fewer than 3 fields")?;
    if time == "failed" || time == "skipped" {
        return Ok(None);
    }
    time.parse::<u32>()
        .map(Some)
        .map_err(|_| "the third field is not a latency in microseconds")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let mut us: Vec<u32> = (1..=1000).rev().collect();
        let p = Percentiles::of_micros(&mut us).unwrap();
        assert_eq!((p.p50_ms, p.p99_ms, p.p999_ms), (0.5, 0.99, 0.999));
        assert_eq!(p.transactions, 1000);
        let p = Percentiles::of_micros(&mut [7000]).unwrap();
        assert_eq!((p.p50_ms, p.p999_ms), (7.0, 7.0));
        assert_eq!(Percentiles::of_micros(&mut []), None);
    }

    #[test]
    fn reads_every_thread_file_and_skips_failures() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(
            dir.path().join("txn.123"),
            "0 1 250 0 1733350000 100\n1 1 350 0 1733350000 200\n",
        )
        .unwrap();
        fs::write(
            dir.path().join("txn.123.1"),
            "2 1 150 0 1733350000 300\n3 1 failed 0 1733350000 400\n",
        )
        .unwrap();
        fs::write(dir.path().join("other"), "not a log\n").unwrap();
        let p = read_logs(dir.path(), "txn").unwrap();
        assert_eq!(p.transactions, 3);
        assert_eq!(p.p50_ms, 0.25);
        assert_eq!(p.p99_ms, 0.35);
        fs::write(dir.path().join("txn.9"), "0 1 abc 0 1 2\n").unwrap();
        let err = format!("{:#}", read_logs(dir.path(), "txn").unwrap_err());
        assert!(err.contains("txn.9:1"), "{err}");
        assert!(read_logs(dir.path(), "nothing").is_err());
    }
}
