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
    /// Ids whose COMMIT was acknowledged, with when (since the start) and the port of the
    /// node that ran the INSERT.
    acked: Vec<(i64, Duration, u16)>,
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

/// Runs `sql`; the first column of its first row, if any.
async fn run_sql(client: &Client, sql: &str) -> Result<Option<String>, ()> {
    match tokio::time::timeout(STATEMENT_LIMIT, client.simple_query(sql)).await {
        Ok(Ok(messages)) => Ok(messages.iter().find_map(|m| match m {
            tokio_postgres::SimpleQueryMessage::Row(r) => r.get(0).map(str::to_owned),
            _ => None,
        })),
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
                let insert =
                    format!("INSERT INTO acked VALUES ({id}, {n}) RETURNING inet_server_port()");
                let port = run_sql(c, &insert).await?;
                run_sql(c, "COMMIT").await?;
                Ok::<_, ()>(port.and_then(|p| p.parse::<u16>().ok()).unwrap_or(0))
            };
            let committed = tx.await;
            let committed = if let Ok(port) = committed {
                out.acked.push((id, started.elapsed(), port));
                true
            } else {
                out.failed.push((id, started.elapsed()));
                false
            };
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
    let old_port = primary.port();
    let new_port = p.cluster.standbys()[0].port();
    let killed_at = std::thread::scope(|scope| {
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
        let killing = started.elapsed();
        primary.kill().expect("kill the primary");
        let dead = started.elapsed();
        std::thread::sleep(RUN.saturating_sub(started.elapsed()));
        stop.store(true, Ordering::Release);
        (killing, dead)
    });

    let outcomes = outcomes.into_inner().unwrap();
    let acked: Vec<(i64, Duration, u16)> = outcomes.iter().flat_map(|o| o.acked.clone()).collect();
    let failed: Vec<(i64, Duration)> = outcomes.iter().flat_map(|o| o.failed.clone()).collect();
    let reads: usize = outcomes.iter().map(|o| o.reads).sum();
    let failed_reads: usize = outcomes.iter().map(|o| o.failed_reads).sum();
    let in_window = |times: &mut dyn Iterator<Item = Duration>, from: Duration, to: Duration| {
        times.filter(|t| *t >= from && *t < to).count()
    };
    let ack_times = |port: u16| acked.iter().filter(move |a| a.2 == port).map(|a| a.1);
    let last_on_old = ack_times(old_port).max();
    let first_on_new = ack_times(new_port).min();
    let other_ports = acked
        .iter()
        .filter(|a| a.2 != old_port && a.2 != new_port)
        .count();

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
        .map(|a| a.0)
        .filter(|id| !present.contains(id))
        .collect();
    let in_doubt = failed.iter().filter(|(id, _)| present.contains(id)).count();
    let failed_in = |from, to| in_window(&mut failed.iter().map(|f| f.1), from, to);
    let outage = first_on_new
        .zip(last_on_old)
        .map(|(first, last)| first - last);

    println!("reliability: {CLIENTS} clients, {RUN:?}; standby killed at {KILL_STANDBY_AT:?}, primary at {KILL_PRIMARY_AT:?}");
    println!("  committed (acknowledged): {}", acked.len());
    println!(
        "  failed transactions: {} total; {} in 0-10 s, {} in 10-20 s, {} after 20 s; {} of them committed anyway (in doubt)",
        failed.len(),
        failed_in(Duration::ZERO, KILL_STANDBY_AT),
        failed_in(KILL_STANDBY_AT, KILL_PRIMARY_AT),
        failed_in(KILL_PRIMARY_AT, RUN + Duration::from_secs(10)),
        in_doubt
    );
    println!("  reads: {reads} ok, {failed_reads} failed");
    println!(
        "  primary kill sent at {:?}, postmaster gone at {:?}; last write acked by it at {last_on_old:?}, \
         first by the new primary at {first_on_new:?}: {outage:?} without acknowledged writes",
        killed_at.0, killed_at.1
    );
    println!("  acknowledged commits lost: {}", lost.len());
    assert!(lost.is_empty(), "acknowledged commits lost: {lost:?}");
    assert_eq!(
        other_ports, 0,
        "writes ran only on the old and the new primary"
    );
    let outage = outage.expect("writes resumed on the new primary");
    assert!(
        outage < Duration::from_secs(8),
        "writes resumed after {outage:?}"
    );
    assert!(
        in_window(&mut ack_times(old_port), KILL_STANDBY_AT, KILL_PRIMARY_AT) > 0,
        "writes continued after the standby died"
    );
}
