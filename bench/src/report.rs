//! What the comparison measured, reduced to medians and ratios, rendered as markdown tables.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::time::Duration;

use crate::pgbench::Workload;
use crate::procs::Memory;
use crate::targets::TargetKind;

/// One pgbench run's numbers.
#[derive(Debug, Clone, PartialEq)]
pub struct Run {
    /// Transactions per second.
    pub tps: f64,
    /// Average latency in milliseconds.
    pub latency_ms: f64,
    /// Transactions completed.
    pub transactions: u64,
    /// The proxy's CPU time during the run (`None` for direct).
    pub proxy_cpu: Option<Duration>,
    /// In the load-balancing mode: how many transactions each node (primary first) committed
    /// in the benchmark database during the run (`pg_stat_database.xact_commit` after − before).
    pub node_commits: Option<Vec<u64>>,
}

impl Run {
    /// Proxy CPU microseconds per transaction.
    pub fn cpu_us_per_txn(&self) -> Option<f64> {
        let cpu = self.proxy_cpu?;
        (self.transactions > 0).then(|| cpu.as_secs_f64() * 1e6 / self.transactions as f64)
    }
}

/// What happened to one (workload, target) pair over the rounds.
#[derive(Debug, Clone, PartialEq)]
pub enum Entry {
    /// Runs, one per round, each a result or the reason it failed.
    Runs(Vec<Result<Run, String>>),
    /// The workload does not apply to the target.
    NotApplicable(String),
    /// The target could not be started.
    Unavailable(String),
}

/// Every throughput measurement, keyed by workload index and target.
#[derive(Debug, Clone)]
pub struct Throughput {
    /// The workloads, in run order.
    pub workloads: Vec<Workload>,
    /// The targets, in table order.
    pub targets: Vec<TargetKind>,
    /// The target the "vs" columns compare with (default pgbouncer-session).
    pub baseline: TargetKind,
    /// Names of the nodes whose share of the reads gets a column (primary first; empty: no
    /// column).
    pub nodes: Vec<String>,
    entries: BTreeMap<(usize, TargetKind), Entry>,
}

impl Default for Throughput {
    fn default() -> Self {
        Throughput::new(Vec::new(), Vec::new())
    }
}

impl Throughput {
    /// An empty result set for these workloads and targets.
    pub fn new(workloads: Vec<Workload>, targets: Vec<TargetKind>) -> Throughput {
        Throughput {
            workloads,
            targets,
            baseline: TargetKind::PgbouncerSession,
            nodes: Vec::new(),
            entries: BTreeMap::new(),
        }
    }

    /// The same with the "vs" columns comparing with `baseline`.
    pub fn with_baseline(mut self, baseline: TargetKind) -> Throughput {
        self.baseline = baseline;
        self
    }

    /// The same with a "reads per node" column over `nodes` (primary first), from
    /// [`Run::node_commits`].
    pub fn with_node_reads(mut self, nodes: Vec<String>) -> Throughput {
        self.nodes = nodes;
        self
    }

    /// Records one round's outcome.
    pub fn push(&mut self, workload: usize, target: TargetKind, run: Result<Run, String>) {
        if let Entry::Runs(runs) = self
            .entries
            .entry((workload, target))
            .or_insert_with(|| Entry::Runs(Vec::new()))
        {
            runs.push(run);
        }
    }

    /// Marks a pair as not applicable or unavailable (replacing any runs).
    pub fn set(&mut self, workload: usize, target: TargetKind, entry: Entry) {
        self.entries.insert((workload, target), entry);
    }

    /// The median summary of a pair, if it has at least one successful run.
    pub fn median(&self, workload: usize, target: TargetKind) -> Option<Medians> {
        match self.entries.get(&(workload, target))? {
            Entry::Runs(runs) => Medians::of(runs),
            _ => None,
        }
    }
}

/// Medians over the successful rounds of one pair.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Medians {
    /// Median TPS.
    pub tps: f64,
    /// Lowest and highest TPS.
    pub tps_range: (f64, f64),
    /// Median average latency, ms.
    pub latency_ms: f64,
    /// Median proxy CPU µs per transaction.
    pub cpu_us_per_txn: Option<f64>,
    /// Successful rounds.
    pub rounds: usize,
}

impl Medians {
    fn of(runs: &[Result<Run, String>]) -> Option<Medians> {
        let ok: Vec<&Run> = runs.iter().filter_map(|r| r.as_ref().ok()).collect();
        let tps: Vec<f64> = ok.iter().map(|r| r.tps).collect();
        let cpu: Vec<f64> = ok.iter().filter_map(|r| r.cpu_us_per_txn()).collect();
        Some(Medians {
            tps: median(&tps)?,
            tps_range: (
                tps.iter().copied().fold(f64::INFINITY, f64::min),
                tps.iter().copied().fold(f64::NEG_INFINITY, f64::max),
            ),
            latency_ms: median(&ok.iter().map(|r| r.latency_ms).collect::<Vec<_>>())?,
            cpu_us_per_txn: median(&cpu),
            rounds: ok.len(),
        })
    }
}

/// The median of `values` (mean of the middle two for an even count).
pub fn median(values: &[f64]) -> Option<f64> {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => Some(v[n / 2]),
        _ => Some((v[n / 2 - 1] + v[n / 2]) / 2.0),
    }
}

/// Renders one markdown table per workload.
pub fn render_throughput(t: &Throughput) -> String {
    let headers = throughput_headers(t);
    let headers: Vec<&str> = headers.iter().map(String::as_str).collect();
    let mut out = String::new();
    for (w, workload) in t.workloads.iter().enumerate() {
        let _ = writeln!(out, "### `{workload}`\n");
        let base = t.median(w, t.baseline);
        let direct = t.median(w, TargetKind::Direct);
        let mut rows = Vec::new();
        let mut notes = Vec::new();
        for &target in &t.targets {
            let mut cells = row(t, w, target, base, direct, &mut notes);
            if !t.nodes.is_empty() {
                cells.push(reads_per_node(t, w, target));
            }
            rows.push(cells);
        }
        out.push_str(&table(&headers, &rows));
        for note in notes {
            let _ = writeln!(out, "- {note}");
        }
        out.push('\n');
    }
    out
}

/// Columns of [`row`], without the "reads per node" column.
const THROUGHPUT_COLUMNS: usize = 8;

fn throughput_headers(t: &Throughput) -> Vec<String> {
    let base = t.baseline.name();
    let mut headers: Vec<String> = [
        "target",
        "TPS (median)",
        "TPS min–max",
        "latency ms",
        "proxy CPU µs/txn",
    ]
    .map(String::from)
    .to_vec();
    headers.extend([
        format!("TPS vs {base}"),
        "TPS vs direct".into(),
        format!("CPU vs {base}"),
    ]);
    if !t.nodes.is_empty() {
        headers.push("reads per node".into());
    }
    debug_assert_eq!(
        headers.len(),
        THROUGHPUT_COLUMNS + usize::from(!t.nodes.is_empty())
    );
    headers
}

/// Each node's share of the transactions committed in the benchmark database, summed over the
/// successful rounds of one pair: `12% / 44% / 44%` (primary first).
fn reads_per_node(t: &Throughput, w: usize, target: TargetKind) -> String {
    let Some(Entry::Runs(runs)) = t.entries.get(&(w, target)) else {
        return "—".into();
    };
    let mut sums = vec![0u64; t.nodes.len()];
    for commits in runs
        .iter()
        .filter_map(|r| r.as_ref().ok()?.node_commits.as_ref())
    {
        for (sum, c) in sums.iter_mut().zip(commits) {
            *sum += c;
        }
    }
    let total: u64 = sums.iter().sum();
    if total == 0 {
        return "—".into();
    }
    sums.iter()
        .map(|&n| format!("{:.0}%", n as f64 * 100.0 / total as f64))
        .collect::<Vec<_>>()
        .join(" / ")
}

fn row(
    t: &Throughput,
    w: usize,
    target: TargetKind,
    base: Option<Medians>,
    direct: Option<Medians>,
    notes: &mut Vec<String>,
) -> Vec<String> {
    let name = target.name().to_string();
    let blank = |first: &str| {
        let mut r = vec![name.clone(), first.to_string()];
        r.resize(THROUGHPUT_COLUMNS, "—".into());
        r
    };
    match t.entries.get(&(w, target)) {
        None => blank("not run"),
        Some(Entry::NotApplicable(why)) => {
            notes.push(format!("{target}: n/a — {why}"));
            blank("n/a")
        }
        Some(Entry::Unavailable(why)) => {
            notes.push(format!("{target}: failed to start — {}", one_line(why)));
            blank("failed")
        }
        Some(Entry::Runs(runs)) => {
            let failures: Vec<&String> = runs.iter().filter_map(|r| r.as_ref().err()).collect();
            if let Some(first) = failures.first() {
                notes.push(format!(
                    "{target}: {} of {} rounds failed — {}",
                    failures.len(),
                    runs.len(),
                    one_line(first)
                ));
            }
            let Some(m) = Medians::of(runs) else {
                return blank("failed");
            };
            let ratio = |num: f64, den: Option<f64>| match den {
                Some(d) if d > 0.0 => format!("{:.2}×", num / d),
                _ => "—".into(),
            };
            let cpu_ratio = match (m.cpu_us_per_txn, base.and_then(|b| b.cpu_us_per_txn)) {
                (Some(c), b) => ratio(c, b),
                (None, _) => "—".into(),
            };
            vec![
                name,
                format!("{:.0}", m.tps),
                format!("{:.0}–{:.0}", m.tps_range.0, m.tps_range.1),
                format!("{:.3}", m.latency_ms),
                m.cpu_us_per_txn.map_or("—".into(), |c| format!("{c:.1}")),
                ratio(m.tps, base.map(|b| b.tps)),
                ratio(m.tps, direct.map(|d| d.tps)),
                cpu_ratio,
            ]
        }
    }
}

/// Memory held for idle clients by one proxy at one client count.
#[derive(Debug, Clone, PartialEq)]
pub enum IdleOutcome {
    /// Memory of the proxy's processes before and after opening the clients.
    Measured {
        /// Before any idle client.
        before: Memory,
        /// With every idle client open.
        after: Memory,
        /// How many more client backends PostgreSQL had with the clients open.
        backends: Option<i64>,
    },
    /// Not attempted, and why.
    NotApplicable(String),
    /// Attempted and failed.
    Failed(String),
}

/// One row of the idle-client table.
#[derive(Debug, Clone, PartialEq)]
pub struct IdleRow {
    /// The proxy.
    pub target: TargetKind,
    /// How many idle clients.
    pub clients: usize,
    /// What was measured.
    pub outcome: IdleOutcome,
}

/// Renders the idle-client memory table.
pub fn render_idle(rows: &[IdleRow]) -> String {
    let headers = [
        "target",
        "idle clients",
        "RSS before MiB",
        "RSS after MiB",
        "RSS KiB/client",
        "PSS KiB/client",
        "PG backends",
    ];
    let mut notes = Vec::new();
    let body: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            let mut cells = vec![r.target.name().to_string(), r.clients.to_string()];
            match &r.outcome {
                IdleOutcome::Measured {
                    before,
                    after,
                    backends,
                } => {
                    let per = |a: u64, b: u64| (a as f64 - b as f64) / r.clients as f64;
                    cells.extend([
                        format!("{:.1}", before.rss_kib as f64 / 1024.0),
                        format!("{:.1}", after.rss_kib as f64 / 1024.0),
                        format!("{:.1}", per(after.rss_kib, before.rss_kib)),
                        format!("{:.1}", per(after.pss_kib, before.pss_kib)),
                        backends.map_or("?".into(), |b| b.to_string()),
                    ]);
                }
                IdleOutcome::NotApplicable(why) => {
                    notes.push(format!("{} at {}: n/a — {why}", r.target, r.clients));
                    cells.push("n/a".into());
                }
                IdleOutcome::Failed(why) => {
                    notes.push(format!(
                        "{} at {}: failed — {}",
                        r.target,
                        r.clients,
                        one_line(why)
                    ));
                    cells.push("failed".into());
                }
            }
            cells.resize(headers.len(), "—".into());
            cells
        })
        .collect();
    let mut out = table(&headers, &body);
    for note in notes {
        let _ = writeln!(out, "- {note}");
    }
    out
}

/// A markdown table with padded columns, readable as plain text too.
pub fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let width = |i: usize| {
        rows.iter()
            .map(|r| r.get(i).map_or(0, |c| c.chars().count()))
            .chain([headers[i].chars().count(), 3])
            .max()
            .unwrap_or(3)
    };
    let widths: Vec<usize> = (0..headers.len()).map(width).collect();
    let line = |cells: Vec<&str>| {
        let mut s = String::from("|");
        for (cell, w) in cells.iter().zip(&widths) {
            let pad = w - cell.chars().count();
            let _ = write!(s, " {cell}{} |", " ".repeat(pad));
        }
        s.push('\n');
        s
    };
    let mut out = line(headers.to_vec());
    let dashes: Vec<String> = widths.iter().map(|&w| "-".repeat(w)).collect();
    out.push_str(&line(dashes.iter().map(String::as_str).collect()));
    for r in rows {
        out.push_str(&line(r.iter().map(String::as_str).collect()));
    }
    out
}

/// The first line of an error chain, shortened for a table note.
fn one_line(text: &str) -> String {
    let flat: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if flat.chars().count() > 300 {
        format!("{}…", flat.chars().take(300).collect::<String>())
    } else {
        flat
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pgbench::Workload;

    fn run(tps: f64, cpu_ms: u64) -> Result<Run, String> {
        Ok(Run {
            tps,
            latency_ms: 1.0,
            transactions: 1000,
            proxy_cpu: Some(Duration::from_millis(cpu_ms)),
            node_commits: None,
        })
    }

    #[test]
    fn medians() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), Some(2.5));
        assert_eq!(median(&[]), None);
    }

    #[test]
    fn renders_ratios_failures_and_na() {
        let w = Workload::standard();
        let mut t = Throughput::new(
            w[..1].to_vec(),
            vec![
                TargetKind::Direct,
                TargetKind::PgbouncerSession,
                TargetKind::Corepool,
            ],
        );
        for tps in [900.0, 1000.0, 1100.0] {
            t.push(0, TargetKind::Direct, run(tps * 2.0, 0));
            t.push(0, TargetKind::PgbouncerSession, run(tps, 20));
        }
        t.set(
            0,
            TargetKind::Corepool,
            Entry::Unavailable("no binary".into()),
        );
        let text = render_throughput(&t);
        assert!(text.contains("| pgbouncer-session | 1000"), "{text}");
        assert!(text.contains("| 20.0 "), "{text}");
        assert!(text.contains("0.50×"), "{text}");
        assert!(
            text.contains("corepool: failed to start — no binary"),
            "{text}"
        );
    }

    #[test]
    fn renders_reads_per_node_against_pgpool() {
        let w = Workload::load_balancing();
        let mut t = Throughput::new(
            w[..1].to_vec(),
            vec![TargetKind::Direct, TargetKind::Pgpool, TargetKind::Corepool],
        )
        .with_baseline(TargetKind::Pgpool)
        .with_node_reads(vec!["primary".into(), "standby1".into(), "standby2".into()]);
        let with = |tps: f64, commits: [u64; 3]| {
            let mut r = run(tps, 10).unwrap();
            r.node_commits = Some(commits.to_vec());
            Ok(r)
        };
        t.push(0, TargetKind::Direct, with(2000.0, [1000, 0, 0]));
        t.push(0, TargetKind::Pgpool, with(1000.0, [100, 450, 450]));
        t.push(0, TargetKind::Corepool, with(1500.0, [300, 300, 400]));
        t.push(0, TargetKind::Corepool, with(1500.0, [400, 300, 300]));
        let text = render_throughput(&t);
        assert!(text.contains("| TPS vs pgpool "), "{text}");
        assert!(text.contains("| CPU vs pgpool "), "{text}");
        assert!(text.contains("| reads per node "), "{text}");
        assert!(!text.contains("pgbouncer"), "{text}");
        assert!(text.contains("| 100% / 0% / 0% "), "{text}");
        assert!(text.contains("| 10% / 45% / 45% "), "{text}");
        assert!(text.contains("| 35% / 30% / 35% "), "{text}");
        assert!(text.contains("| 1.50× "), "{text}");
    }

    #[test]
    fn idle_rows_per_client() {
        let rows = [IdleRow {
            target: TargetKind::PgbouncerSession,
            clients: 1000,
            outcome: IdleOutcome::Measured {
                before: Memory {
                    rss_kib: 4000,
                    pss_kib: 3000,
                },
                after: Memory {
                    rss_kib: 6000,
                    pss_kib: 4000,
                },
                backends: Some(1),
            },
        }];
        let text = render_idle(&rows);
        assert!(text.contains("| 2.0 "), "{text}");
        assert!(text.contains("| 1.0 "), "{text}");
    }
}
