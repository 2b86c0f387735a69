//! What the comparison measured: each run's numbers ([`Run`]), each (workload, target) pair's
//! rounds ([`Entry`]) with their medians ([`Medians`]), which target each is compared with,
//! and the idle-client rows. [`crate::tables`] renders them.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::kind::{Pooling, TargetKind};
use crate::latency::Percentiles;
use crate::pgbench::Workload;
use crate::procs::Memory;

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
    /// p50/p99/p99.9 from pgbench's per-transaction log, when it was written.
    pub percentiles: Option<Percentiles>,
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
    /// The workload does not apply to the target (or does not fit the run), and why.
    NotApplicable(String),
    /// The target could not be started (or its program is absent), and why.
    Unavailable(String),
}

/// Every throughput measurement, keyed by workload index and target.
#[derive(Debug, Clone, Default)]
pub struct Throughput {
    /// The workloads, in run order.
    pub workloads: Vec<Workload>,
    /// The targets, in table order.
    pub targets: Vec<TargetKind>,
    /// What the "vs" columns are called ("PgBouncer 1.25", "pgpool").
    pub baseline_label: String,
    /// Names of the nodes whose share of the reads gets a column (primary first; empty: no
    /// column).
    pub nodes: Vec<String>,
    /// Things a reader must know before the tables (a setting a proxy ignored).
    pub warnings: Vec<String>,
    /// Each target's pooling in this run.
    pooling: BTreeMap<TargetKind, Pooling>,
    /// Each target's baseline for the "vs" columns.
    baselines: BTreeMap<TargetKind, TargetKind>,
    entries: BTreeMap<(usize, TargetKind), Entry>,
}

impl Throughput {
    /// An empty result set for these workloads and targets, each compared with `baseline(t)`
    /// in columns called `label`, each pooling as `pooling(t)`.
    pub fn new(
        workloads: Vec<Workload>,
        targets: Vec<TargetKind>,
        label: &str,
        baseline: impl Fn(TargetKind) -> TargetKind,
        pooling: impl Fn(TargetKind) -> Pooling,
    ) -> Throughput {
        Throughput {
            pooling: targets.iter().map(|&t| (t, pooling(t))).collect(),
            baselines: targets.iter().map(|&t| (t, baseline(t))).collect(),
            workloads,
            targets,
            baseline_label: label.into(),
            warnings: Vec::new(),
            nodes: Vec::new(),
            entries: BTreeMap::new(),
        }
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

    /// What was recorded for a pair.
    pub fn entry(&self, workload: usize, target: TargetKind) -> Option<&Entry> {
        self.entries.get(&(workload, target))
    }

    /// The median summary of a pair, if it has at least one successful run.
    pub fn median(&self, workload: usize, target: TargetKind) -> Option<Medians> {
        match self.entries.get(&(workload, target))? {
            Entry::Runs(runs) => Medians::of(runs),
            _ => None,
        }
    }

    /// How `target` pools in this run.
    pub fn pooling(&self, target: TargetKind) -> Pooling {
        self.pooling
            .get(&target)
            .copied()
            .unwrap_or_else(|| target.default_pooling())
    }

    /// The target `target`'s "vs" columns compare with.
    pub fn baseline(&self, target: TargetKind) -> Option<TargetKind> {
        self.baselines.get(&target).copied()
    }

    /// Whether any pump is among the targets (the floor columns are shown).
    pub fn has_floor(&self) -> bool {
        self.targets.iter().any(|t| t.is_pump())
    }

    /// The floor of a workload: the pump with the lowest median CPU per transaction.
    pub fn floor(&self, workload: usize) -> Option<(TargetKind, Medians)> {
        TargetKind::PUMPS
            .into_iter()
            .filter_map(|p| Some((p, self.median(workload, p)?)))
            .filter(|(_, m)| m.cpu_us_per_txn.is_some())
            .min_by(|a, b| {
                let cpu = |m: &Medians| m.cpu_us_per_txn.unwrap_or(f64::INFINITY);
                cpu(&a.1).total_cmp(&cpu(&b.1))
            })
    }

    /// The rounds of a pair that succeeded.
    pub fn runs(&self, workload: usize, target: TargetKind) -> Vec<&Run> {
        match self.entries.get(&(workload, target)) {
            Some(Entry::Runs(runs)) => runs.iter().filter_map(|r| r.as_ref().ok()).collect(),
            _ => Vec::new(),
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
    /// Median p50, p99 and p99.9 latency, ms (each the median over the rounds).
    pub percentiles: Option<(f64, f64, f64)>,
    /// Median proxy CPU µs per transaction.
    pub cpu_us_per_txn: Option<f64>,
    /// Successful rounds.
    pub rounds: usize,
}

impl Medians {
    /// The medians of the successful runs among `runs`; `None` when none succeeded.
    pub fn of(runs: &[Result<Run, String>]) -> Option<Medians> {
        let ok: Vec<&Run> = runs.iter().filter_map(|r| r.as_ref().ok()).collect();
        let tps: Vec<f64> = ok.iter().map(|r| r.tps).collect();
        let cpu: Vec<f64> = ok.iter().filter_map(|r| r.cpu_us_per_txn()).collect();
        let pct: Vec<Percentiles> = ok.iter().filter_map(|r| r.percentiles).collect();
        let of = |f: fn(&Percentiles) -> f64| median(&pct.iter().map(f).collect::<Vec<_>>());
        let percentiles = match (of(|p| p.p50_ms), of(|p| p.p99_ms), of(|p| p.p999_ms)) {
            (Some(a), Some(b), Some(c)) => Some((a, b, c)),
            _ => None,
        };
        Some(Medians {
            tps: median(&tps)?,
            tps_range: (
                tps.iter().copied().fold(f64::INFINITY, f64::min),
                tps.iter().copied().fold(f64::NEG_INFINITY, f64::max),
            ),
            latency_ms: median(&ok.iter().map(|r| r.latency_ms).collect::<Vec<_>>())?,
            percentiles,
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pgbench::QueryMode;

    fn run(tps: f64, cpu_ms: u64) -> Result<Run, String> {
        Ok(Run {
            tps,
            latency_ms: 1.0,
            transactions: 1000,
            proxy_cpu: Some(Duration::from_millis(cpu_ms)),
            percentiles: None,
            node_commits: None,
        })
    }

    #[test]
    fn medians() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), Some(2.5));
        assert_eq!(median(&[]), None);
        let m = Medians::of(&[run(10.0, 5), Err("x".into()), run(30.0, 7)]).unwrap();
        assert_eq!((m.tps, m.tps_range, m.rounds), (20.0, (10.0, 30.0), 2));
        assert_eq!(m.cpu_us_per_txn, Some(6.0));
        assert_eq!(m.percentiles, None);
    }

    #[test]
    fn the_floor_is_the_cheaper_pump() {
        let w = vec![Workload::new(16, QueryMode::Simple, false)];
        let targets = vec![TargetKind::PumpEpoll, TargetKind::PumpUring];
        let mut t = Throughput::new(w, targets, "x", |t| t, |t| t.default_pooling());
        t.push(0, TargetKind::PumpEpoll, run(1000.0, 9));
        t.push(0, TargetKind::PumpUring, run(900.0, 8));
        assert_eq!(t.floor(0).map(|f| f.0), Some(TargetKind::PumpUring));
        assert!(t.has_floor());
    }
}
