//! Reliability under failure: 8 clients write and read through corepool for 30 s while a
//! standby is killed at 10 s and the primary at 20 s (failover_command promotes the synchronous
//! standby). Every transaction inserts a unique id; the clients record the ids whose COMMIT was
//! acknowledged, and afterwards every one of them must be on the new primary. Prints the figures
//! recorded in docs/reliability.md.

mod common;

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use common::Proxy;
use corepool_engine::cluster::health_stats::SyncState;
use corepool_engine::cluster::NodeStatus;
use corepool_testkit::Cluster;
use tokio_postgres::{Client, NoTls};

const CLIENTS: usize = 8;
const RUN: Duration = Duration::from_secs(30);
const KILL_STANDBY_AT: Duration = Duration::from_secs(10);
const KILL_PRIMARY_AT: Duration = Duration::from_secs(20);
/// Bound on each statement, so a client never hangs on a dead backend.
const STATEMENT_LIMIT: Duration = Duration::from_secs(5);

/// What one client saw.
#[derive(Default)]
struct Outcome {
    /// Ids whose COMMIT was acknowledged, with when (since the start).
    acked: Vec<(i64, Duration)>,
    /// Ids whose transaction failed somewhere (the COMMIT may or may not have happened).
    failed: Vec<(i64, Duration)>,
    /// Reads that failed.
    failed_reads: usize,
    /// Reads that succeeded.
    reads: usize,
}

fn start_proxy() -> Proxy {
    let cluster = Cluster::builder()
        .standbys(2)
        .start()
        .expect("cluster starts");
    let pg_ctl = cluster.bin_dir().join("pg_ctl").display().to_string();
    let run_as = cluster
        .run_as()
        .map(|u| format!("runuser -u {} -- ", u.name()))
        .unwrap_or_default();
    let nodes: Vec<(String, String)> = cluster
        .nodes()
        .iter()
        .map(|n| (n.data_dir().display().to_string(), n.name().to_owned()))
        .collect();
    Proxy::start_on(cluster, move |c, dir| {
        c.corepool_cores = 1;
        c.logdir = dir.display().to_string();
        c.health_check.period = Duration::from_secs(1);
        c.health_check.timeout = Duration::from_secs(5);
        c.health_check.connect_timeout = Duration::from_secs(2);
        c.health_check.user = "postgres".into();
        c.health_check.max_retries = 2;
        c.health_check.retry_delay = Duration::from_secs(1);
        c.sr_check_period = Duration::from_secs(1);
        c.sr_check_user = "postgres".into();
        for (i, b) in c.backends.iter_mut().enumerate() {
            b.data_directory = nodes[i].0.clone();
            b.application_name = nodes[i].1.clone();
        }
        // Arguments: failed node, old primary, new main node, its data directory.
        let script = format!(
            "#!/bin/sh\necho \"$@\" >> {log}\nif [ \"$1\" = \"$2\" ]; then\n  {run_as}{pg_ctl} promote -w -D \"$4\"\nfi\n",
            log = dir.join("failover.log").display()
        );
        common::write_file(dir, "failover.sh", &script);
        c.failover_command = format!("/bin/sh {}/failover.sh %d %P %m %R", dir.display());
    })
}

async fn open(conninfo: &str) -> Option<Client> {
    let connecting = tokio_postgres::connect(conninfo, NoTls);
    let (client, conn) = tokio::time::timeout(STATEMENT_LIMIT, connecting)
        .await
        .ok()?
        .ok()?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    Some(client)
}

async fn run_sql(client: &Client, sql: &str) -> Result<(), ()> {
    match tokio::time::timeout(STATEMENT_LIMIT, client.simple_query(sql)).await {
        Ok(Ok(_)) => Ok(()),
        _ => Err(()),
    }
}

/// One client: transactions (BEGIN; INSERT id; COMMIT) each followed by a balanced read, until
/// `stop`; reconnects after any error.
fn client_loop(n: usize, conninfo: &str, started: Instant, stop: &AtomicBool) -> Outcome {
    let mut out = Outcome::default();
    common::rt().block_on(async {
        let mut client: Option<Client> = None;
        let mut seq = 0i64;
        while !stop.load(Ordering::Acquire) {
            let Some(c) = client.as_ref() else {
                client = open(conninfo).await;
                if client.is_none() {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                continue;
            };
            seq += 1;
            let id = (n as i64) * 1_000_000 + seq;
            let tx = async {
                run_sql(c, "BEGIN").await?;
                run_sql(c, &format!("INSERT INTO acked VALUES ({id}, {n})")).await?;
                run_sql(c, "COMMIT").await
            };
            let committed = tx.await.is_ok();
            if committed {
                out.acked.push((id, started.elapsed()));
            } else {
                out.failed.push((id, started.elapsed()));
            }
            let read = committed && run_sql(c, "SELECT count(*) FROM probe").await.is_ok();
            if read {
                out.reads += 1;
            } else if committed {
                out.failed_reads += 1;
            }
            if !read {
                client = None;
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    });
    out
}

#[test]
fn no_acknowledged_commit_is_lost_when_a_standby_and_then_the_primary_die() {
    let p = start_proxy();
    let state = p.state();
    let primary = p.primary();
    // Commits wait for node1, the standby failover_command will promote.
    primary
        .psql(
            "postgres",
            "ALTER SYSTEM SET synchronous_standby_names = 'node1'",
        )
        .unwrap();
    primary.psql("postgres", "SELECT pg_reload_conf()").unwrap();
    primary
        .psql(
            "postgres",
            "CREATE TABLE acked (id bigint PRIMARY KEY, client int); \
             CREATE TABLE probe (x int); INSERT INTO probe VALUES (1)",
        )
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(15);
    while state.health.nodes()[1].sync_state() != SyncState::Sync {
        assert!(
            Instant::now() < deadline,
            "node1 never became the sync standby"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    for s in p.cluster.standbys() {
        s.wait_caught_up(primary).unwrap();
    }

    let conninfo = p.conninfo("postgres", "postgres");
    let stop = AtomicBool::new(false);
    let outcomes: Mutex<Vec<Outcome>> = Mutex::new(Vec::new());
    let started = Instant::now();
    std::thread::scope(|scope| {
        for n in 0..CLIENTS {
            let (conninfo, stop, outcomes) = (&conninfo, &stop, &outcomes);
            scope.spawn(move || {
                let o = client_loop(n, conninfo, started, stop);
                outcomes.lock().unwrap().push(o);
            });
        }
        std::thread::sleep(KILL_STANDBY_AT);
        p.cluster.standbys()[1].kill().expect("kill standby node2");
        std::thread::sleep(KILL_PRIMARY_AT - started.elapsed());
        primary.kill().expect("kill the primary");
        std::thread::sleep(RUN.saturating_sub(started.elapsed()));
        stop.store(true, Ordering::Release);
    });

    let outcomes = outcomes.into_inner().unwrap();
    let acked: Vec<(i64, Duration)> = outcomes.iter().flat_map(|o| o.acked.clone()).collect();
    let failed: Vec<(i64, Duration)> = outcomes.iter().flat_map(|o| o.failed.clone()).collect();
    let reads: usize = outcomes.iter().map(|o| o.reads).sum();
    let failed_reads: usize = outcomes.iter().map(|o| o.failed_reads).sum();
    let in_window = |v: &[(i64, Duration)], from: Duration, to: Duration| {
        v.iter().filter(|(_, t)| *t >= from && *t < to).count()
    };
    let first_write_after_kill = acked
        .iter()
        .map(|(_, t)| *t)
        .filter(|t| *t > KILL_PRIMARY_AT)
        .min();
    let last_write_before_kill = acked
        .iter()
        .map(|(_, t)| *t)
        .filter(|t| *t <= KILL_PRIMARY_AT)
        .max();

    // Everything acknowledged must be on the new primary.
    assert_eq!(state.primary(), Some(1), "node1 was promoted");
    assert_eq!(state.nodes()[0].status(), NodeStatus::Down);
    assert_eq!(state.nodes()[2].status(), NodeStatus::Down);
    let present: HashSet<i64> = p
        .psql("postgres", "postgres", "SELECT id FROM acked")
        .expect("read back through the proxy")
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect();
    let lost: Vec<i64> = acked
        .iter()
        .map(|(id, _)| *id)
        .filter(|id| !present.contains(id))
        .collect();
    let in_doubt = failed.iter().filter(|(id, _)| present.contains(id)).count();

    println!("reliability: {CLIENTS} clients, {RUN:?}; standby killed at {KILL_STANDBY_AT:?}, primary at {KILL_PRIMARY_AT:?}");
    println!("  committed (acknowledged): {}", acked.len());
    println!(
        "  failed transactions: {} total; {} in 0-10 s, {} in 10-20 s, {} in 20-30 s; {} of them committed anyway (in doubt)",
        failed.len(),
        in_window(&failed, Duration::ZERO, KILL_STANDBY_AT),
        in_window(&failed, KILL_STANDBY_AT, KILL_PRIMARY_AT),
        in_window(&failed, KILL_PRIMARY_AT, RUN + Duration::from_secs(10)),
        in_doubt
    );
    println!("  reads: {reads} ok, {failed_reads} failed");
    println!(
        "  writes: last ack before the primary kill at {:?}, first ack after it at {:?} -> {:?} without writes",
        last_write_before_kill,
        first_write_after_kill,
        first_write_after_kill.map(|t| t - KILL_PRIMARY_AT)
    );
    println!("  acknowledged commits lost: {}", lost.len());
    assert!(lost.is_empty(), "acknowledged commits lost: {lost:?}");
    let resumed = first_write_after_kill.expect("writes resumed after the primary died");
    assert!(
        resumed - KILL_PRIMARY_AT < Duration::from_secs(8),
        "writes resumed after {:?}",
        resumed - KILL_PRIMARY_AT
    );
    assert!(
        in_window(&acked, KILL_STANDBY_AT, KILL_PRIMARY_AT) > 0,
        "writes continued after the standby died"
    );
}
