//! High availability of corepool itself: three `corepool serve` instances agree on failover
//! through a real 3-member etcd cluster, each instance in its own network namespace whose
//! veth links the tests cut. A primary and two standbys behind them (docs/ha.md, "Tests").
//!
//! Run alone: `cargo test -p corepool --test ha` (as root; scripts/setup.sh installs etcd).

use std::time::{Duration, Instant};

#[path = "harness_ha/mod.rs"]
mod harness;
use harness::Ha;

/// Every instance shows node `node` with status `status`.
fn all_show(h: &Ha, node: usize, status: &str) -> bool {
    (0..3).all(|i| h.node(i, node).is_some_and(|(s, _)| s == status))
}

#[test]
fn the_leader_killed_another_leads_and_escalates_once() {
    if !harness::available() {
        return;
    }
    let extra = "delegate_ip = '192.0.2.10'\nif_cmd_path = ''\narping_path = ''\n\
                 if_up_cmd = 'echo \"{name} if_up $_IP_$\" >> {events}'\n\
                 if_down_cmd = 'echo \"{name} if_down $_IP_$\" >> {events}'\n\
                 arping_cmd = 'echo \"{name} arping $_IP_$\" >> {events}'";
    let mut h = Ha::start(11, extra, |b| b);
    let first = h.leader().unwrap();
    let f = h.index_of(&first);
    h.wait_for("the first escalation", Duration::from_secs(10), |h| {
        h.count_events(&format!("{first} arping 192.0.2.10")) == 1
    });
    assert_eq!(h.count_events(&format!("{first} escalate")), 1);
    assert_eq!(h.count_events(&format!("{first} if_up 192.0.2.10")), 1);
    let escalations = |h: &Ha| {
        h.events()
            .iter()
            .filter(|l| l.ends_with(" escalate"))
            .count()
    };
    assert_eq!(escalations(&h), 1, "{:?}", h.events());

    // pcp_watchdog_info (Debian's, Pgpool-II 4.3) and corepool's own print the same thing.
    let other = (f + 1) % 3;
    h.wait_for(
        "every instance in pcp_watchdog_info",
        Duration::from_secs(10),
        |h| {
            let out = h.pcp(other, "pcp_watchdog_info", &[]);
            String::from_utf8(out.stdout.clone())
                .unwrap()
                .starts_with("3 3 NO ")
        },
    );
    let theirs = h.pcp(other, "pcp_watchdog_info", &[]);
    assert!(theirs.status.success(), "{theirs:?}");
    let text = String::from_utf8(theirs.stdout).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let leader_host = h.instances[f].svc_link.ns_addr.clone();
    assert_eq!(lines[0], format!("3 3 NO {first} {leader_host}"));
    assert_eq!(lines[1], "");
    let me = &h.instances[other];
    assert_eq!(
        lines[2],
        format!("{} {} 9999 0 7 STANDBY 0 MEMBER", me.name, me.addr())
    );
    assert!(
        lines
            .iter()
            .any(|l| *l == format!("{first} {leader_host} 9999 0 4 LEADER 0 MEMBER")),
        "{text}"
    );
    let ours = h.corepool_pcp(other, &["watchdog-info"]);
    assert_eq!(
        String::from_utf8(ours.stdout.clone()).unwrap(),
        text,
        "{ours:?}"
    );
    let verbose = h.pcp(f, "pcp_watchdog_info", &["-v"]);
    let verbose = String::from_utf8(verbose.stdout).unwrap();
    assert!(
        verbose.contains("Quorum state             : QUORUM EXIST"),
        "{verbose}"
    );
    assert!(
        verbose.contains("Local node escalation    : YES"),
        "{verbose}"
    );
    assert!(
        verbose.contains("Delegate IP       : 192.0.2.10"),
        "{verbose}"
    );
    let ours_v = h.corepool_pcp(f, &["watchdog-info", "-v"]);
    assert_eq!(String::from_utf8(ours_v.stdout.clone()).unwrap(), verbose);

    // Kill the leader: another instance leads within a few seconds and escalates once.
    let killed = Instant::now();
    h.kill(f);
    let took = h.wait_for("a new leader", Duration::from_secs(20), |h| {
        h.leader().is_some_and(|l| l != first)
    });
    let second = h.leader().unwrap();
    h.wait_for(
        "the new leader's escalation",
        Duration::from_secs(10),
        |h| h.count_events(&format!("{second} arping 192.0.2.10")) == 1,
    );
    eprintln!(
        "new leader {second} after {took:?} (lease TTL 3 s), escalated after {:?}",
        killed.elapsed()
    );
    assert!(took < Duration::from_secs(10), "{took:?}");
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(h.count_events(&format!("{second} escalate")), 1);
    assert_eq!(escalations(&h), 2, "{:?}", h.events());
    // The survivors report the dead one as LOST and the new leader.
    let s = h.index_of(&second);
    let third = (0..3).find(|i| *i != f && *i != s).unwrap();
    assert_eq!(h.leader_seen_by(third).as_deref(), Some(second.as_str()));
    let text = String::from_utf8(h.pcp(third, "pcp_watchdog_info", &[]).stdout).unwrap();
    assert!(
        text.contains(&format!("{first} {leader_host} 9999 0 8 LOST 0 MEMBER")),
        "{text}"
    );
}

#[test]
fn a_pcp_detach_on_one_instance_is_seen_by_all() {
    if !harness::available() {
        return;
    }
    let h = Ha::start(16, "", |b| b);
    let leader = h.index_of(&h.leader().unwrap());
    let follower = (leader + 1) % 3;
    h.wait_for("node 2 up everywhere", Duration::from_secs(10), |h| {
        all_show(h, 2, "up")
            || (0..3).all(|i| {
                h.node(i, 2)
                    .is_some_and(|(s, _)| s == "up" || s == "waiting")
            })
    });
    let sent = Instant::now();
    let out = h.pcp(follower, "pcp_detach_node", &["-n", "2"]);
    assert!(out.status.success(), "{out:?}");
    let took = h.wait_for(
        "node 2 down on every instance",
        Duration::from_secs(5),
        |h| all_show(h, 2, "down"),
    );
    eprintln!(
        "detach through {} seen by all after {took:?}",
        h.instances[follower].name
    );
    assert!(
        sent.elapsed() < Duration::from_secs(3),
        "{:?}",
        sent.elapsed()
    );
    // Attach through a third instance.
    let third = (leader + 2) % 3;
    let out = h.pcp(third, "pcp_attach_node", &["-n", "2"]);
    assert!(out.status.success(), "{out:?}");
    h.wait_for(
        "node 2 back on every instance",
        Duration::from_secs(5),
        |h| (0..3).all(|i| h.node(i, 2).is_some_and(|(s, _)| s != "down")),
    );
    // A node id out of range is refused with Pgpool-II's error.
    let out = h.pcp(follower, "pcp_detach_node", &["-n", "7"]);
    assert!(
        String::from_utf8(out.stderr.clone())
            .unwrap()
            .contains("out of range"),
        "{out:?}"
    );
}

#[test]
fn a_standby_unreachable_from_one_instance_only_is_not_detached() {
    if !harness::available() {
        return;
    }
    let h = Ha::start(13, "", |b| b);
    // Instance 0 loses node 2 (its link to that standby only); the others still reach it.
    h.instances[0].standby_link.down().unwrap();
    h.wait_for(
        "cp0's vote against node 2 in etcd",
        Duration::from_secs(15),
        |h| {
            h.keys("health/cp0")
                .iter()
                .any(|(_, v)| v.contains("\"2\":"))
        },
    );
    std::thread::sleep(Duration::from_secs(4));
    for i in 0..3 {
        let (status, _) = h.node(i, 2).unwrap();
        assert_ne!(
            status, "down",
            "one vote of three must not detach node 2 (instance {i})"
        );
    }
    // A second instance loses it too: two votes of three are a consensus.
    h.instances[1].standby_link.down().unwrap();
    let took = h.wait_for("node 2 detached everywhere", Duration::from_secs(20), |h| {
        all_show(h, 2, "down")
    });
    eprintln!("consensus reached {took:?} after the second instance lost node 2");
    // No failover_command is configured, and the primary stays where it was.
    assert!((0..3).all(|i| h.node(i, 0).is_some_and(|(_, r)| r == "primary")));
    h.instances[0].standby_link.up().unwrap();
    h.instances[1].standby_link.up().unwrap();
}

#[test]
fn the_primary_killed_under_load_through_two_instances_fails_over_once() {
    if !harness::available() {
        return;
    }
    let script_dir = tempfile::tempdir().unwrap();
    let script = script_dir.path().join("failover.sh");
    // The script needs the cluster's pg_ctl and user: written after the cluster starts, below.
    let extra = format!(
        "failover_command = '/bin/sh {} %d %P %m %R'\nfailover_on_backend_error = on",
        script.display()
    );
    let h = Ha::start(12, &extra, |b| {
        b.setting("synchronous_standby_names", "node1")
            .setting("synchronous_commit", "on")
    });
    let run_as = h
        .cluster
        .run_as()
        .map(|u| format!("runuser -u {} -- ", u.name()))
        .unwrap_or_default();
    let pg_ctl = h.cluster.bin_dir().join("pg_ctl");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\necho \"failover $1 $2 $3\" >> {ev}\nif [ \"$1\" = \"$2\" ]; then\n  \
             {run_as}{pg_ctl} promote -w -D \"$4\"\nfi\n",
            pg_ctl = pg_ctl.display(),
            ev = h.events.display()
        ),
    )
    .unwrap();
    h.psql(0, "CREATE TABLE acked (id bigint PRIMARY KEY, via int)")
        .unwrap();

    // Two writers, one through each of two instances; each remembers what was acknowledged.
    let stop = std::sync::atomic::AtomicBool::new(false);
    let all_acked = std::thread::scope(|scope| {
        /// Stops the writers however the scope ends (a failed wait panics).
        struct StopOnDrop<'a>(&'a std::sync::atomic::AtomicBool);
        impl Drop for StopOnDrop<'_> {
            fn drop(&mut self) {
                self.0.store(true, std::sync::atomic::Ordering::Relaxed);
            }
        }
        let guard = StopOnDrop(&stop);
        let writers: Vec<_> = (0..2)
            .map(|w| {
                let (h, stop) = (&h, &stop);
                scope.spawn(move || {
                    let mut acked = Vec::new();
                    let mut after_failover = 0;
                    let mut n = 0i64;
                    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                        n += 1;
                        let id = w as i64 * 1_000_000 + n;
                        let sql = format!("INSERT INTO acked VALUES ({id}, {w})");
                        // A statement in flight when the primary dies may get no answer.
                        if h.psql_within(w, &sql, Duration::from_secs(5)).is_ok() {
                            acked.push(id);
                            if h.node(w, 1).is_some_and(|(_, r)| r == "primary") {
                                after_failover += 1;
                            }
                        }
                    }
                    (acked, after_failover)
                })
            })
            .collect();
        std::thread::sleep(Duration::from_secs(3));
        h.cluster.primary().kill().unwrap();
        let took = h.wait_for(
            "node 1 primary on every instance",
            Duration::from_secs(40),
            |h| {
                (0..3).all(|i| h.node(i, 1).is_some_and(|(_, r)| r == "primary"))
                    && all_show(h, 0, "down")
            },
        );
        eprintln!("failover seen by every instance {took:?} after the primary was killed");
        // The promoted standby has no synchronous standby of its own: commits waiting for
        // one are released as an operator would (acknowledged only once done locally). The
        // setting is in postgresql.conf, which only ALTER SYSTEM SET overrides (RESET would
        // merely drop an entry of postgresql.auto.conf and leave every commit waiting).
        h.cluster.standbys()[0]
            .psql(
                "postgres",
                "ALTER SYSTEM SET synchronous_standby_names = ''",
            )
            .unwrap();
        h.cluster.standbys()[0]
            .psql("postgres", "SELECT pg_reload_conf()")
            .unwrap();
        std::thread::sleep(Duration::from_secs(8));
        drop(guard);
        let mut all_acked = Vec::new();
        for (w, t) in writers.into_iter().enumerate() {
            let (acked, after) = t.join().unwrap();
            eprintln!(
                "writer through cp{w}: {} commits acknowledged, {after} after the failover",
                acked.len()
            );
            assert!(after > 0, "writes through cp{w} reached the new primary");
            all_acked.extend(acked);
        }
        all_acked
    });
    let failovers: Vec<_> = h
        .events()
        .into_iter()
        .filter(|l| l.starts_with("failover "))
        .collect();
    assert_eq!(
        failovers,
        ["failover 0 0 1"],
        "exactly one failover_command for the cluster"
    );
    // Every acknowledged commit is on the new primary.
    let new_primary = &h.cluster.standbys()[0];
    let count = new_primary
        .psql("postgres", "SELECT count(*) FROM acked")
        .unwrap();
    let ids = new_primary
        .psql("postgres", "SELECT string_agg(id::text, ',') FROM acked")
        .unwrap();
    let present: std::collections::HashSet<i64> = ids
        .trim()
        .split(',')
        .filter_map(|s| s.parse().ok())
        .collect();
    let lost: Vec<_> = all_acked
        .iter()
        .filter(|id| !present.contains(id))
        .collect();
    assert!(
        lost.is_empty(),
        "acknowledged commits lost: {lost:?} (table has {count})"
    );
    assert!(all_acked.len() > 10, "{} commits", all_acked.len());
}

#[test]
fn an_instance_cut_off_from_etcd_takes_no_decision_and_de_escalates() {
    if !harness::available() {
        return;
    }
    let h = Ha::start(14, "", |b| b);
    let leader = h.leader().unwrap();
    let l = h.index_of(&leader);
    h.wait_for("the escalation", Duration::from_secs(10), |h| {
        h.count_events(&format!("{leader} escalate")) == 1
    });
    let cut = Instant::now();
    h.instances[l].etcd_link.down().unwrap();
    let took = h.wait_for(
        "the cut-off leader's de-escalation",
        Duration::from_secs(10),
        |h| h.count_events(&format!("{leader} de-escalate")) == 1,
    );
    eprintln!("{leader} de-escalated {took:?} after losing etcd (lease TTL 3 s)");
    h.wait_for("another leader", Duration::from_secs(15), |h| {
        h.leader().is_some_and(|n| n != leader)
    });
    let second = h.leader().unwrap();
    h.wait_for("its escalation", Duration::from_secs(10), |h| {
        h.count_events(&format!("{second} escalate")) == 1
    });
    // The de-escalation came before the other's escalation: one holder at a time.
    let ev = h.events();
    let down = ev
        .iter()
        .position(|e| *e == format!("{leader} de-escalate"))
        .unwrap();
    let up = ev
        .iter()
        .position(|e| *e == format!("{second} escalate"))
        .unwrap();
    assert!(down < up, "{ev:?}");
    assert!(cut.elapsed() < Duration::from_secs(15));

    // Node 2 dies: the two connected instances agree and detach it; the cut-off one decides
    // nothing and keeps serving on the last agreed state.
    h.cluster.standbys()[1].stop().unwrap();
    let others: Vec<usize> = (0..3).filter(|i| *i != l).collect();
    h.wait_for(
        "node 2 detached by the connected instances",
        Duration::from_secs(20),
        |h| {
            others
                .iter()
                .all(|i| h.node(*i, 2).is_some_and(|(s, _)| s == "down"))
        },
    );
    let (status, _) = h.node(l, 2).unwrap();
    assert_ne!(status, "down", "the cut-off instance applied nothing");
    assert_eq!(h.psql(l, "SELECT 1").unwrap(), "1");
    h.psql(l, "CREATE TABLE served_while_cut (i int)").unwrap();
    // Back on etcd: it rejoins as a follower and applies the agreed state.
    h.instances[l].etcd_link.up().unwrap();
    h.wait_for(
        "the rejoined instance to apply the detach",
        Duration::from_secs(20),
        |h| h.node(l, 2).is_some_and(|(s, _)| s == "down"),
    );
    assert_eq!(h.leader().as_deref(), Some(second.as_str()));
    assert_eq!(h.count_events(&format!("{leader} escalate")), 1);
}

#[test]
fn with_the_etcd_quorum_lost_nothing_fails_over_and_clients_are_served() {
    if !harness::available() {
        return;
    }
    let mut h = Ha::start(15, "", |b| b);
    let leader = h.leader().unwrap();
    h.wait_for("the escalation", Duration::from_secs(10), |h| {
        h.count_events(&format!("{leader} escalate")) == 1
    });
    // Two of three etcd members freeze: no quorum, no lease renewals anywhere.
    h.etcd.pause(0);
    h.etcd.pause(1);
    h.wait_for("the leader's de-escalation", Duration::from_secs(10), |h| {
        h.count_events(&format!("{leader} de-escalate")) == 1
    });
    h.cluster.standbys()[1].stop().unwrap();
    std::thread::sleep(Duration::from_secs(5));
    for i in 0..3 {
        let (status, _) = h.node(i, 2).unwrap();
        assert_ne!(status, "down", "no failover without etcd (instance {i})");
        assert_eq!(h.psql(i, "SELECT 1").unwrap(), "1");
    }
    h.psql(0, "CREATE TABLE served_without_quorum (i int)")
        .unwrap();
    h.psql(1, "INSERT INTO served_without_quorum VALUES (1)")
        .unwrap();
    let escalations = |h: &Ha| {
        h.events()
            .iter()
            .filter(|l| l.ends_with(" escalate"))
            .count()
    };
    assert_eq!(escalations(&h), 1, "{:?}", h.events());
    // The quorum comes back: a leader again, and node 2 (still stopped) is detached.
    h.etcd.resume(0);
    h.etcd.resume(1);
    h.wait_for(
        "node 2 detached once etcd is back",
        Duration::from_secs(30),
        |h| all_show(h, 2, "down"),
    );
    assert_eq!(escalations(&h), 2, "{:?}", h.events());
}
