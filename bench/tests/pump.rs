//! The byte pumps (the epoll loop in both registrations, and the io_uring loop) against a real
//! PostgreSQL: pgbench in simple and prepared mode and with a connection per transaction, a
//! 16 MiB result to a client that starts reading late (the stash and backpressure paths), and
//! every PostgreSQL backend gone once its client is.

use std::io::{Read, Write};
use std::path::PathBuf;
use std::thread;
use std::time::{Duration, Instant};

use corepool_bench::conf::ProxyConfig;
use corepool_bench::idle;
use corepool_bench::kind::TargetKind;
use corepool_bench::pgbench::{self, QueryMode, Workload, DATABASE, USER};
use corepool_bench::programs::Programs;
use corepool_bench::targets::{self, Proxy};
use corepool_testkit::Cluster;

/// Bytes of the one value the large query returns.
const LARGE: usize = 16 * 1024 * 1024;

fn start(cluster: &Cluster, kind: TargetKind, trigger: &str) -> Proxy {
    let programs = Programs {
        pump: PathBuf::from(env!("CARGO_BIN_EXE_pump")),
        ..Programs::default()
    };
    let config = ProxyConfig {
        pump_trigger: trigger.into(),
        ..ProxyConfig::default()
    };
    targets::start(cluster, kind, &config, &programs)
        .expect("the pump starts and relays a start-up")
}

/// Sends one simple Query and returns the length of the first column of its one DataRow,
/// reading nothing until `delay` has passed.
fn large_value_length(port: u16, delay: Duration) -> usize {
    let mut stream = idle::connect(port, USER, DATABASE).expect("start-up through the pump");
    let sql = format!("SELECT repeat('x', {LARGE})\0");
    let mut query = vec![b'Q'];
    query.extend_from_slice(&(sql.len() as i32 + 4).to_be_bytes());
    query.extend_from_slice(sql.as_bytes());
    stream.write_all(&query).expect("send the Query");
    thread::sleep(delay);
    let mut value = None;
    loop {
        let mut header = [0; 5];
        stream.read_exact(&mut header).expect("a message header");
        let len = i32::from_be_bytes([header[1], header[2], header[3], header[4]]) as usize - 4;
        let mut body = vec![0; len];
        stream.read_exact(&mut body).expect("a message body");
        match header[0] {
            b'D' => {
                let n = i32::from_be_bytes([body[2], body[3], body[4], body[5]]);
                assert!(
                    body[6..].iter().all(|&b| b == b'x'),
                    "the value arrived intact"
                );
                value = Some(n as usize);
            }
            b'E' => panic!("the server answered an error"),
            b'Z' => return value.expect("a DataRow before ReadyForQuery"),
            _ => {}
        }
    }
}

fn client_backends(cluster: &Cluster) -> i64 {
    let sql = "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend'";
    cluster
        .primary()
        .psql(DATABASE, sql)
        .expect("count backends")
        .parse()
        .expect("a count")
}

#[test]
fn pumps_relay_pgbench_large_results_and_close_their_backends() {
    let cluster = Cluster::builder()
        .setting("max_connections", "100")
        .start()
        .expect("PostgreSQL starts");
    pgbench::initialize(&cluster, cluster.primary().port(), 1).expect("pgbench -i");
    let logs = cluster.create_dir("logs").expect("a log directory");
    for (kind, trigger) in [
        (TargetKind::PumpEpoll, ""),
        (TargetKind::PumpEpoll, "level"),
        (TargetKind::PumpUring, ""),
    ] {
        let proxy = start(&cluster, kind, trigger);
        for (mode, connect) in [
            (QueryMode::Simple, false),
            (QueryMode::Prepared, false),
            (QueryMode::Simple, true),
        ] {
            let workload = Workload::new(4, mode, connect);
            let summary = pgbench::run(
                &cluster,
                proxy.port(),
                &workload,
                Duration::from_secs(1),
                Some(&logs),
            )
            .unwrap_or_else(|e| panic!("{kind} {trigger} `{workload}`: {e:#}"));
            let latency = summary.latency.expect("percentiles from the log");
            assert!(summary.transactions > 0 && latency.transactions > 0);
            assert!(latency.p50_ms <= latency.p99_ms && latency.p99_ms <= latency.p999_ms);
        }
        assert_eq!(
            large_value_length(proxy.port(), Duration::from_millis(300)),
            LARGE,
            "{kind} {trigger}"
        );
        // Every pgbench client and the large query's client have gone: so have their backends
        // (the count includes the counting session itself).
        let deadline = Instant::now() + Duration::from_secs(10);
        while client_backends(&cluster) > 1 {
            assert!(
                Instant::now() < deadline,
                "{kind} {trigger} left {} backends",
                client_backends(&cluster) - 1
            );
            thread::sleep(Duration::from_millis(50));
        }
        drop(proxy);
    }
}
