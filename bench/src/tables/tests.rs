//! The tables' ratios, notes, percentiles and added latency on hand-made results.

use std::time::Duration;

use super::*;
use crate::kind::Pooling;
use crate::latency::Percentiles;
use crate::pgbench::{QueryMode, Workload};
use crate::procs::Memory;
use crate::results::Run;

fn run(tps: f64, cpu_ms: u64, p50_ms: f64) -> Result<Run, String> {
    Ok(Run {
        tps,
        latency_ms: p50_ms * 1.1,
        transactions: 1000,
        proxy_cpu: (cpu_ms > 0).then(|| Duration::from_millis(cpu_ms)),
        percentiles: Some(Percentiles {
            p50_ms,
            p99_ms: p50_ms * 2.0,
            p999_ms: p50_ms * 4.0,
            transactions: 1000,
        }),
        node_commits: None,
    })
}

fn pgbouncer_baseline(t: TargetKind) -> TargetKind {
    match t.default_pooling() {
        Pooling::Transaction => TargetKind::Pgbouncer125Transaction,
        _ => TargetKind::Pgbouncer125Session,
    }
}

#[test]
fn renders_ratios_against_pgbouncer_floor_and_direct() {
    let w = vec![Workload::new(16, QueryMode::Simple, false)];
    let targets = vec![
        TargetKind::Direct,
        TargetKind::PumpEpoll,
        TargetKind::PumpUring,
        TargetKind::Pgbouncer125Session,
        TargetKind::Pgdog,
        TargetKind::Corepool,
    ];
    let mut t = Throughput::new(
        w,
        targets,
        "PgBouncer 1.25",
        pgbouncer_baseline,
        TargetKind::default_pooling,
    );
    for tps in [900.0, 1000.0, 1100.0] {
        t.push(0, TargetKind::Direct, run(tps * 2.0, 0, 0.2));
        t.push(0, TargetKind::Pgbouncer125Session, run(tps, 20, 0.4));
        t.push(0, TargetKind::PumpEpoll, run(tps * 1.5, 10, 0.3));
    }
    t.push(0, TargetKind::PumpUring, Err("connection refused".into()));
    t.set(
        0,
        TargetKind::Pgdog,
        Entry::Unavailable("absent: no /x/bin/pgdog".into()),
    );
    t.push(0, TargetKind::Corepool, run(1200.0, 16, 0.35));
    let text = render_throughput(&t);
    let cells = |name: &str| -> Vec<String> {
        let line = text
            .lines()
            .find(|l| l.starts_with(&format!("| {name} ")))
            .unwrap_or_else(|| panic!("no {name} row in\n{text}"));
        line.split('|').map(|c| c.trim().to_string()).collect()
    };
    // TPS 1200 vs 1000 (PgBouncer), CPU 16 vs 20 µs; direct 2000; floor 1500 TPS at 10 µs.
    assert_eq!(
        cells("corepool")[1..13],
        [
            "corepool",
            "session",
            "1200",
            "1200–1200",
            "0.385",
            "0.350 / 0.700 / 1.40",
            "16.0",
            "1.20×",
            "0.80×",
            "0.60×",
            "0.80×",
            "1.60×"
        ]
    );
    assert_eq!(cells("pump-epoll")[12], "1.00×");
    assert_eq!(cells("pgdog")[2..4], ["transaction", "skipped"]);
    assert_eq!(cells("pump-uring")[3], "failed");
    assert!(text.contains("- floor: pump-epoll"), "{text}");
    assert!(
        text.contains("pgdog: skipped — absent: no /x/bin/pgdog"),
        "{text}"
    );
    assert!(
        text.contains("pump-uring: 1 of 1 rounds failed — connection refused"),
        "{text}"
    );
    assert!(
        text.contains("| TPS vs PgBouncer 1.25 | CPU vs PgBouncer 1.25 |"),
        "{text}"
    );
}

#[test]
fn added_latency_at_one_client() {
    let w = vec![
        Workload::new(1, QueryMode::Simple, false),
        Workload::new(1, QueryMode::Extended, false),
        Workload::new(16, QueryMode::Simple, false),
    ];
    let targets = vec![TargetKind::Direct, TargetKind::Corepool];
    let mut t = Throughput::new(w, targets, "x", |t| t, TargetKind::default_pooling);
    t.push(0, TargetKind::Direct, run(5000.0, 0, 0.100));
    t.push(0, TargetKind::Corepool, run(4000.0, 5, 0.130));
    t.push(1, TargetKind::Direct, run(4000.0, 0, 0.120));
    let text = render_added_latency(&t);
    assert!(
        text.contains("| simple +p50 µs | simple +p99 µs | simple +avg µs | extended +p50 µs"),
        "{text}"
    );
    // +30 µs at p50, +60 at p99, +33 on the average; extended has no corepool run.
    assert!(text.contains("| corepool | +30 "), "{text}");
    assert!(text.contains("| +60 "), "{text}");
    assert!(text.contains("| +33 "), "{text}");
    assert!(!text.contains("direct"), "{text}");
    let none = Throughput::new(
        vec![Workload::new(16, QueryMode::Simple, false)],
        vec![TargetKind::Direct],
        "x",
        |t| t,
        TargetKind::default_pooling,
    );
    assert_eq!(render_added_latency(&none), "");
}

#[test]
fn renders_reads_per_node() {
    let w = Workload::load_balancing();
    let targets = vec![TargetKind::Direct, TargetKind::Pgpool, TargetKind::Corepool];
    let mut t = Throughput::new(
        w[..1].to_vec(),
        targets,
        "pgpool",
        |_| TargetKind::Pgpool,
        TargetKind::default_pooling,
    )
    .with_node_reads(vec!["primary".into(), "standby1".into(), "standby2".into()]);
    let with = |tps: f64, commits: [u64; 3]| {
        let mut r = run(tps, 10, 0.5).unwrap();
        r.node_commits = Some(commits.to_vec());
        Ok(r)
    };
    t.push(0, TargetKind::Direct, with(2000.0, [1000, 0, 0]));
    t.push(0, TargetKind::Pgpool, with(1000.0, [100, 450, 450]));
    t.push(0, TargetKind::Corepool, with(1500.0, [300, 300, 400]));
    t.push(0, TargetKind::Corepool, with(1500.0, [400, 300, 300]));
    let text = render_throughput(&t);
    assert!(text.contains("| TPS vs pgpool "), "{text}");
    assert!(text.contains("| reads per node "), "{text}");
    assert!(!text.contains("floor"), "{text}");
    assert!(text.contains("| 100% / 0% / 0% "), "{text}");
    assert!(text.contains("| 10% / 45% / 45% "), "{text}");
    assert!(text.contains("| 35% / 30% / 35% "), "{text}");
    assert!(text.contains("| 1.50× "), "{text}");
}

#[test]
fn idle_rows_per_client() {
    let rows = [IdleRow {
        target: TargetKind::Pgbouncer125Transaction,
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
    assert!(text.contains("| 2.00 "), "{text}");
    assert!(text.contains("| 1.00 "), "{text}");
}
