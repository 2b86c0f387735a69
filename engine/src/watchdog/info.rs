//! `pcp_watchdog_info`'s JSON, with the keys and state numbers of Pgpool-II 4.3's watchdog,
//! built from the last snapshot of etcd.

use serde_json::{json, Value};

use super::keys::{Member, Snapshot};
use super::rules;

/// Pgpool-II's watchdog state numbers and names used here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WdState {
    /// 3: not joined yet.
    Initializing = 3,
    /// 4: the leader.
    Leader = 4,
    /// 6: campaigning while nobody leads.
    StandingForLeader = 6,
    /// 7: alive, following the leader.
    Standby = 7,
    /// 8: registered, lease gone.
    Lost = 8,
    /// 9: this instance cannot reach etcd.
    InNetworkTrouble = 9,
    /// 10: left by a clean stop.
    Shutdown = 10,
}

impl WdState {
    /// Pgpool-II's name.
    pub fn name(self) -> &'static str {
        match self {
            WdState::Initializing => "INITIALIZING",
            WdState::Leader => "LEADER",
            WdState::StandingForLeader => "STANDING FOR LEADER",
            WdState::Standby => "STANDBY",
            WdState::Lost => "LOST",
            WdState::InNetworkTrouble => "IN NETWORK TROUBLE",
            WdState::Shutdown => "SHUTDOWN",
        }
    }
}

/// What the local instance knows about itself.
#[derive(Debug, Clone)]
pub struct LocalView<'a> {
    /// Its record.
    pub me: &'a Member,
    /// Its state.
    pub state: WdState,
    /// Whether it holds the escalation (and the virtual IP).
    pub escalated: bool,
    /// `enable_consensus_with_half_votes`.
    pub half_votes: bool,
}

/// The JSON for watchdog id `id` (−1: all; 0: this instance; n: the n-th other one).
pub fn to_json(local: &LocalView<'_>, s: &Snapshot, id: i32) -> Option<String> {
    let leader = s.leader().map(|c| c.name.clone());
    let mut nodes: Vec<(&Member, WdState)> = vec![(local.me, local.state)];
    for (name, m) in &s.members {
        if *name == local.me.name {
            continue;
        }
        let state = if s.alive.contains_key(name) {
            if leader.as_deref() == Some(name.as_str()) {
                WdState::Leader
            } else {
                WdState::Standby
            }
        } else if m.shutdown {
            WdState::Shutdown
        } else {
            WdState::Lost
        };
        nodes.push((m, state));
    }
    let size = nodes.len();
    let alive_remote = nodes
        .iter()
        .skip(1)
        .filter(|(_, st)| matches!(st, WdState::Leader | WdState::Standby))
        .count();
    let local_alive = matches!(
        local.state,
        WdState::Leader | WdState::Standby | WdState::StandingForLeader
    );
    let alive = alive_remote + usize::from(local_alive);
    let list: Vec<Value> = nodes
        .iter()
        .enumerate()
        .filter(|(i, _)| id < 0 || *i as i32 == id)
        .map(|(i, (m, st))| {
            json!({
                "ID": i,
                "NodeName": m.name,
                "HostName": m.host,
                "DelegateIP": if m.delegate_ip.is_empty() { "Not_Set" } else { m.delegate_ip.as_str() },
                "WdPort": 0,
                "PgpoolPort": m.port,
                "State": *st as i32,
                "StateName": st.name(),
                "Priority": m.priority,
                "Membership": 0,
                "MembershipString": "MEMBER",
            })
        })
        .collect();
    if list.is_empty() {
        return None;
    }
    let leader_host = leader
        .as_ref()
        .and_then(|l| nodes.iter().find(|(m, _)| m.name == *l))
        .map(|(m, _)| m.host.clone());
    let doc = json!({
        "RemoteNodeCount": size - 1,
        "MemberRemoteNodeCount": size - 1,
        "NodesRequireForQuorum": rules::needed(size, local.half_votes),
        "QuorumStatus": rules::quorum_status(size, alive, local.half_votes, leader.is_some()),
        "AliveNodeCount": alive_remote,
        "Escalated": i32::from(local.escalated),
        "LeaderNodeName": leader.unwrap_or_else(|| "Not Set".into()),
        "LeaderHostName": leader_host.unwrap_or_else(|| "Not Set".into()),
        "NodeCount": list.len(),
        "WatchdogNodes": list,
    });
    Some(doc.to_string())
}

#[cfg(test)]
mod tests {
    use super::super::keys::Candidate;
    use super::*;

    fn member(name: &str) -> Member {
        Member {
            name: name.into(),
            host: format!("{name}.host"),
            port: 9999,
            pcp_port: 9898,
            priority: 1,
            delegate_ip: String::new(),
            shutdown: false,
        }
    }

    #[test]
    fn the_local_instance_comes_first_and_others_by_state() {
        let me = member("a");
        let mut s = Snapshot::default();
        for n in ["a", "b", "c"] {
            s.members.insert(n.into(), member(n));
        }
        s.alive.insert("a".into(), (member("a"), 1));
        s.alive.insert("b".into(), (member("b"), 2));
        s.candidates.push(Candidate {
            key: "k".into(),
            create_revision: 1,
            lease: 2,
            name: "b".into(),
        });
        let local = LocalView {
            me: &me,
            state: WdState::Standby,
            escalated: false,
            half_votes: false,
        };
        let v: Value = serde_json::from_str(&to_json(&local, &s, -1).unwrap()).unwrap();
        assert_eq!(v["NodeCount"], 3);
        assert_eq!(v["LeaderNodeName"], "b");
        assert_eq!(v["LeaderHostName"], "b.host");
        assert_eq!(v["QuorumStatus"], 1);
        assert_eq!(v["AliveNodeCount"], 1);
        assert_eq!(v["WatchdogNodes"][0]["NodeName"], "a");
        assert_eq!(v["WatchdogNodes"][1]["StateName"], "LEADER");
        assert_eq!(v["WatchdogNodes"][2]["StateName"], "LOST");
        let one: Value = serde_json::from_str(&to_json(&local, &s, 2).unwrap()).unwrap();
        assert_eq!(one["NodeCount"], 1);
        assert!(to_json(&local, &s, 3).is_none());
    }
}
