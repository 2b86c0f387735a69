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
