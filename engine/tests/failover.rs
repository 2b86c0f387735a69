//! Health check, replication checks and failover through corepool with a real primary and two
//! streaming standbys: a killed standby is detached while reads keep flowing and comes back with
//! auto_failback; a killed primary is replaced by a standby that failover_command promotes; a
//! lagging standby gets no reads; a false primary is detached; a lost backend is detached at once.

mod common;

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use common::{first_value, Proxy, RawClient};
use corepool_engine::cluster::health_stats::ReplicationState;
use corepool_engine::cluster::NodeStatus;
use corepool_engine::config::Config;
use corepool_testkit::Cluster;

/// What a test's tweak may need from the cluster, which moves into the proxy.
struct Env {
    /// `pg_ctl` of the test cluster's installation.
    pg_ctl: String,
    /// `runuser -u <user> -- ` when the servers run as another user, else empty.
    run_as: String,
}

/// A primary and two standbys behind corepool with fast checks: health check every second
/// (2 retries, 1 s apart), replication check every second, as `postgres`. `weights` per node.
fn proxy(weights: [f64; 3], tweak: impl FnOnce(&mut Config, &Path, &Env)) -> Proxy {
    let cluster = Cluster::builder()
        .standbys(2)
        .start()
        .expect("cluster starts");
    let env = Env {
        pg_ctl: cluster.bin_dir().join("pg_ctl").display().to_string(),
        run_as: cluster
            .run_as()
            .map(|u| format!("runuser -u {} -- ", u.name()))
            .unwrap_or_default(),
    };
    let nodes: Vec<(String, String)> = cluster
        .nodes()
        .iter()
        .map(|n| (n.data_dir().display().to_string(), n.name().to_owned()))
        .collect();
    Proxy::start_on(cluster, move |c, dir| {
        c.corepool_cores = 1;
        // The status file stays in the test's directory, away from other tests.
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
            b.weight = weights[i];
            b.data_directory = nodes[i].0.clone();
            b.application_name = nodes[i].1.clone();
        }
        tweak(c, dir, &env);
    })
}

/// `SELECT inet_server_port()` in a fresh session through the proxy.
fn read_port(cluster: &Cluster, port: u16) -> Result<u16, String> {
    let conninfo =
        format!("host=127.0.0.1 port={port} user=postgres dbname=postgres connect_timeout=10");
    let out = cluster
        .psql_command(&conninfo, "SELECT inet_server_port()")
        .output()
        .map_err(|e| e.to_string())?;
    let text = corepool_testkit::psql_result(&out)?;
    text.parse().map_err(|_| text)
}

/// Polls `done` every 100 ms for up to `limit`; returns how long it took.
fn wait_for(what: &str, limit: Duration, mut done: impl FnMut() -> bool) -> Duration {
    let start = Instant::now();
    while !done() {
        assert!(
            start.elapsed() < limit,
            "timed out after {limit:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    start.elapsed()
}

/// `SHOW pool_nodes` through the proxy: one row of columns per node.
fn pool_nodes(p: &Proxy) -> Vec<Vec<String>> {
    p.psql("postgres", "postgres", "SHOW pool_nodes")
        .expect("SHOW pool_nodes")
        .lines()
        .map(|l| l.split('|').map(str::to_owned).collect())
        .collect()
}

#[test]
fn a_killed_standby_is_detached_reads_continue_and_auto_failback_returns_it() {
    let p = proxy([0.0, 1.0, 1.0], |c, _, _| {
        // Only the health check may detach the standby here.
        c.failover_on_backend_error = false;
        c.auto_failback = true;
        c.auto_failback_interval = Duration::from_secs(1);
    });
    let state = p.state();
    let (s1, s2) = (&p.cluster.standbys()[0], &p.cluster.standbys()[1]);
    wait_for(
        "node 1 streaming in pg_stat_replication",
        Duration::from_secs(15),
        || state.health.nodes()[1].replication_state() == ReplicationState::Streaming,
    );
    assert_eq!(state.primary(), Some(0));

    let stop = AtomicBool::new(false);
    let reads: Mutex<Vec<(Instant, Result<u16, String>)>> = Mutex::new(Vec::new());
    let (killed_at, kill_done, detached_at) = std::thread::scope(|scope| {
        scope.spawn(|| {
            while !stop.load(Ordering::Acquire) {
                // Stamped with the session's start: one begun before the detach may have
                // picked the dying node and fallen back to the primary, even if it ends after.
                let started = Instant::now();
                let r = read_port(&p.cluster, p.port);
                reads.lock().unwrap().push((started, r));
            }
        });
        std::thread::sleep(Duration::from_secs(1));
        let killed_at = Instant::now();
        s1.kill().expect("kill standby 1");
        let kill_done = Instant::now();
        let took = wait_for("node 1 to be detached", Duration::from_secs(15), || {
            state.nodes()[1].status() == NodeStatus::Down
        });
        let detached_at = Instant::now();
        // period (1 s) + 2 retries 1 s apart, plus slack for the connect attempts.
        assert!(took < Duration::from_secs(8), "detached after {took:?}");
        std::thread::sleep(Duration::from_secs(2));
        stop.store(true, Ordering::Release);
        (killed_at, kill_done, detached_at)
    });
    let reads = reads.into_inner().unwrap();
    let failed: Vec<_> = reads.iter().filter(|(_, r)| r.is_err()).collect();
    let after: Vec<_> = reads.iter().filter(|(t, _)| *t > detached_at).collect();
    eprintln!(
        "reads: {} total, {} failed, {} after detach; detached {:?} after the kill",
        reads.len(),
        failed.len(),
        after.len(),
        detached_at - killed_at
    );
    // A session in flight when the standby's postmaster is killed can lose its backend (its
    // backends exit when they notice, within moments); every session that starts once they
    // have gone succeeds: a dead load-balance node falls back to the primary.
    let settled = kill_done + Duration::from_millis(500);
    let late: Vec<_> = failed.iter().filter(|(t, _)| *t > settled).collect();
    assert!(
        late.is_empty() && failed.len() <= 2,
        "reads after the kill fail: {failed:?}"
    );
    assert!(!after.is_empty());
    for (_, r) in &after {
        assert_eq!(
            r.as_ref().ok(),
            Some(&s2.port()),
            "reads go to the other standby (primary {}, s1 {})",
            p.cluster.primary().port(),
            s1.port()
        );
    }
    let rows = pool_nodes(&p);
    assert_eq!(rows[1][3], "down", "{rows:?}");
    let stats = state.health.nodes()[1].snapshot();
    assert!(stats.fail_count >= 1 && stats.retry_count >= 2, "{stats:?}");
    assert!(state.health.nodes()[0].snapshot().success_count >= 1);

    // Restarted, it streams again and auto_failback attaches it.
    s1.start().expect("restart standby 1");
    let took = wait_for(
        "node 1 to be attached again",
        Duration::from_secs(30),
        || state.nodes()[1].status().is_valid(),
    );
    eprintln!("auto_failback attached node 1 {took:?} after its restart");
    let rows = pool_nodes(&p);
    assert_ne!(rows[1][3], "down", "{rows:?}");
    let back = (0..60).any(|_| read_port(&p.cluster, p.port) == Ok(s1.port()));
    assert!(back, "reads reach node 1 again");
}

#[test]
fn a_killed_primary_is_replaced_by_the_standby_failover_command_promotes() {
    let p = proxy([1.0, 1.0, 1.0], |c, dir, env| {
        let (run_as, pg_ctl) = (&env.run_as, &env.pg_ctl);
        // Arguments: failed node, old primary, new main node, its data directory.
        let script = format!(
            "#!/bin/sh\necho \"$@\" >> {log}\nif [ \"$1\" = \"$2\" ]; then\n  {run_as}{pg_ctl} promote -w -D \"$4\"\nfi\n",
            log = dir.join("failover.log").display()
        );
        common::write_file(dir, "failover.sh", &script);
        c.failover_command = format!("/bin/sh {}/failover.sh %d %P %m %R", dir.display());
    });
    let state = p.state();
    p.psql("postgres", "postgres", "CREATE TABLE w (id int)")
        .unwrap();
    // The table must be on the standby that takes over before the primary dies.
    p.cluster.standbys()[0].wait_caught_up(p.primary()).unwrap();
    assert_eq!(state.primary(), Some(0));
    let new_primary = p.cluster.standbys()[0].port();

    let killed = Instant::now();
    p.primary().kill().expect("kill the primary");
    let mut attempts = 0;
    let resumed = loop {
        attempts += 1;
        let r = p.psql(
            "postgres",
            "postgres",
            &format!("INSERT INTO w VALUES ({attempts}) RETURNING inet_server_port()"),
        );
        if let Ok(port) = r {
            break (killed.elapsed(), port);
        }
        assert!(
            killed.elapsed() < Duration::from_secs(40),
            "writes did not resume: {r:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    eprintln!(
        "writes resumed {:?} after the kill ({attempts} attempts)",
        resumed.0
    );
    assert_eq!(resumed.1, new_primary.to_string());
    assert_eq!(state.primary(), Some(1));
    assert_eq!(state.nodes()[0].status(), NodeStatus::Down);
    let log = std::fs::read_to_string(p.dir.path().join("failover.log")).unwrap();
    assert!(log.lines().any(|l| l.starts_with("0 0 1 ")), "{log}");
    let rows = pool_nodes(&p);
    assert_eq!(
        (rows[0][3].as_str(), rows[1][6].as_str()),
        ("down", "primary"),
        "{rows:?}"
    );
    let status = std::fs::read_to_string(p.dir.path().join("pgpool_status")).unwrap();
    assert!(status.starts_with("down\n"), "{status}");
}

#[test]
fn a_lagging_standby_gets_no_reads_until_it_catches_up() {
    const THRESHOLD: u64 = 1 << 20;
    let p = proxy([0.0, 1.0, 1.0], |c, _, _| c.delay_threshold = THRESHOLD);
    let state = p.state();
    let (s1, s2) = (&p.cluster.standbys()[0], &p.cluster.standbys()[1]);
    p.primary()
        .psql("postgres", "CREATE TABLE big (id int, pad text)")
        .unwrap();
    s1.psql("postgres", "SELECT pg_wal_replay_pause()").unwrap();
    p.primary()
        .psql(
            "postgres",
            "INSERT INTO big SELECT g, repeat('x', 200) FROM generate_series(1, 20000) g",
        )
        .unwrap();
    wait_for(
        "node 1's delay to pass the threshold",
        Duration::from_secs(15),
        || state.nodes()[1].replication_delay() > THRESHOLD,
    );
    let delay: u64 = pool_nodes(&p)[1][10].parse().expect("delay column");
    assert!(
        delay > THRESHOLD,
        "SHOW pool_nodes shows the delay: {delay}"
    );
    for _ in 0..20 {
        let port = read_port(&p.cluster, p.port).expect("read");
        assert_ne!(port, s1.port(), "no reads on the lagging standby");
    }
    // Node 2 streams on: once a check has seen it replay the insert, it is within bounds.
    s2.wait_caught_up(p.primary()).unwrap();
    wait_for(
        "node 2's delay to be measured",
        Duration::from_secs(15),
        || state.nodes()[2].replication_delay() <= THRESHOLD,
    );

    s1.psql("postgres", "SELECT pg_wal_replay_resume()")
        .unwrap();
    wait_for("node 1 to catch up", Duration::from_secs(15), || {
        state.nodes()[1].replication_delay() <= THRESHOLD
    });
    let back = (0..60).any(|_| read_port(&p.cluster, p.port) == Ok(s1.port()));
    assert!(back, "reads reach node 1 again");
}

#[test]
fn a_false_primary_is_detached() {
    let p = proxy([1.0, 1.0, 1.0], |c, _, _| c.detach_false_primary = true);
    let state = p.state();
    p.cluster.standbys()[1].promote().expect("promote node 2");
    wait_for("node 2 to be detached", Duration::from_secs(15), || {
        state.nodes()[2].status() == NodeStatus::Down
    });
    assert_eq!(state.primary(), Some(0));
    assert!(state.nodes()[1].status().is_valid());
}

#[test]
fn a_session_on_a_dead_standby_gets_an_error_and_the_node_is_detached_at_once() {
    let p = proxy([0.0, 1.0, 0.0], |c, _, _| {
        c.health_check.period = Duration::ZERO;
        c.sr_check_period = Duration::ZERO;
    });
    let state = p.state();
    let s1 = &p.cluster.standbys()[0];
    let (mut c, hello) = RawClient::connect(p.port, "postgres", "postgres", &[]);
    assert_eq!(hello.last().map(|m| m.0), Some(b'Z'), "{hello:?}");
    let msgs = c.query("SELECT inet_server_port()");
    assert_eq!(first_value(&msgs), Some(s1.port().to_string()), "{msgs:?}");
    s1.kill().expect("kill standby 1");
    // A backend of the killed server may answer once more before it dies.
    let mut msgs = Vec::new();
    for _ in 0..20 {
        msgs = c.query("SELECT inet_server_port()");
        if first_value(&msgs).is_none() {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let err = msgs.iter().find(|(t, _)| *t == b'E');
    assert!(err.is_some(), "the session is told: {msgs:?}");
    // No health check runs: the lost connection makes shard 0 check the node and detach it.
    let took = wait_for("node 1 to be detached", Duration::from_secs(5), || {
        state.nodes()[1].status() == NodeStatus::Down
    });
    eprintln!("detached {took:?} after the session noticed");
    assert_eq!(read_port(&p.cluster, p.port), Ok(p.primary().port()));
}
