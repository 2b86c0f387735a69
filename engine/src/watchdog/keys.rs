//! Where the watchdog keeps things in etcd, and the JSON records stored there.
//!
//! Under `etcd_prefix` (`P`):
//! - `P/members/<name>`: every instance that ever joined (no lease): who counts for quorum.
//! - `P/alive/<name>`: the same record, bound to the instance's lease: it is alive.
//! - `P/health/<name>`: what its health checks see (votes for failover), bound to its lease.
//! - `P/requests/<name>/<id>`: a PCP detach/attach/promote waiting for the leader.
//! - `P/state`: the agreed backend state (node status, primary), written only by the leader.
//! - `P/election/<lease>`: candidates of etcd's election API; the oldest one leads.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::etcd::Kv;
use crate::failover::coordinator::AdminOp;

/// The key layout under one prefix.
#[derive(Debug, Clone)]
pub struct Layout {
    prefix: String,
}

impl Layout {
    /// The layout under `prefix` (a trailing `/` is dropped, a leading one added).
    pub fn new(prefix: &str) -> Self {
        let trimmed = prefix.trim().trim_end_matches('/');
        let prefix = if trimmed.starts_with('/') {
            trimmed.to_owned()
        } else {
            format!("/{trimmed}")
        };
        Self { prefix }
    }

    /// Everything of this cluster (for one range read).
    pub fn all(&self) -> String {
        format!("{}/", self.prefix)
    }
    /// An instance's registration.
    pub fn member(&self, name: &str) -> String {
        format!("{}/members/{name}", self.prefix)
    }
    /// An instance's liveness key.
    pub fn alive(&self, name: &str) -> String {
        format!("{}/alive/{name}", self.prefix)
    }
    /// An instance's health view.
    pub fn health(&self, name: &str) -> String {
        format!("{}/health/{name}", self.prefix)
    }
    /// One request of an instance.
    pub fn request(&self, name: &str, id: u64) -> String {
        format!("{}/requests/{name}/{id:020}", self.prefix)
    }
    /// The agreed backend state.
    pub fn state(&self) -> String {
        format!("{}/state", self.prefix)
    }
    /// The election's name (candidates live below it).
    pub fn election(&self) -> String {
        format!("{}/election", self.prefix)
    }
}

/// An instance as it registers itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Member {
    /// Its name (`etcd_instance_name`).
    pub name: String,
    /// Host clients reach it at.
    pub host: String,
    /// Its client port.
    pub port: u16,
    /// Its PCP port.
    pub pcp_port: u16,
    /// `wd_priority`.
    pub priority: u32,
    /// `delegate_ip`.
    pub delegate_ip: String,
    /// Set when it left by a clean stop.
    #[serde(default)]
    pub shutdown: bool,
}

/// One instance's view of the backends: for each node its health checks found down, how many
/// failed checks in a row.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HealthView {
    /// Node id → consecutive failures.
    pub down: BTreeMap<usize, u32>,
}

/// A PCP request for the leader.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Request {
    /// Detach `node`.
    Detach {
        /// Node id.
        node: usize,
    },
    /// Attach `node`.
    Attach {
        /// Node id.
        node: usize,
    },
    /// Promote `node`.
    Promote {
        /// Node id.
        node: usize,
        /// `-s`.
        switchover: bool,
    },
}

impl From<AdminOp> for Request {
    fn from(op: AdminOp) -> Self {
        match op {
            AdminOp::Detach { node } => Request::Detach { node },
            AdminOp::Attach { node } => Request::Attach { node },
            AdminOp::Promote { node, switchover } => Request::Promote { node, switchover },
        }
    }
}

/// The agreed backend state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SharedState {
    /// Per node id: whether it is attached.
    pub up: Vec<bool>,
    /// The primary's node id.
    pub primary: Option<usize>,
}

/// Everything read under the prefix at one moment.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    /// Registered instances by name.
    pub members: BTreeMap<String, Member>,
    /// Alive instances by name, with their lease.
    pub alive: BTreeMap<String, (Member, i64)>,
    /// Health views by instance name.
    pub health: BTreeMap<String, HealthView>,
    /// Pending requests, oldest first: key, requester, request.
    pub requests: Vec<(String, String, Request)>,
    /// The agreed state, once a leader wrote one.
    pub state: Option<SharedState>,
    /// Election candidates: key, creation revision, lease, instance name.
    pub candidates: Vec<Candidate>,
}

/// One candidate of the election.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    /// Its key.
    pub key: String,
    /// When it was created (the oldest leads).
    pub create_revision: i64,
    /// The lease it is bound to.
    pub lease: i64,
    /// The instance's name (the candidate's value).
    pub name: String,
}

impl Snapshot {
    /// Sorts the keys of one range read into a snapshot; unreadable records are skipped.
    pub fn parse(layout: &Layout, kvs: &[Kv]) -> Self {
        let mut s = Snapshot::default();
        let members = format!("{}/members/", layout.prefix);
        let alive = format!("{}/alive/", layout.prefix);
        let health = format!("{}/health/", layout.prefix);
        let requests = format!("{}/requests/", layout.prefix);
        let election = format!("{}/", layout.election());
        let state = layout.state();
        let mut pending = Vec::new();
        for kv in kvs {
            let k = kv.key.as_str();
            if let Some(name) = k.strip_prefix(&members) {
                if let Ok(m) = serde_json::from_slice(&kv.value) {
                    s.members.insert(name.to_owned(), m);
                }
            } else if let Some(name) = k.strip_prefix(&alive) {
                if let Ok(m) = serde_json::from_slice(&kv.value) {
                    s.alive.insert(name.to_owned(), (m, kv.lease));
                }
            } else if let Some(name) = k.strip_prefix(&health) {
                if let Ok(h) = serde_json::from_slice(&kv.value) {
                    s.health.insert(name.to_owned(), h);
                }
            } else if let Some(rest) = k.strip_prefix(&requests) {
                let who = rest.split('/').next().unwrap_or_default().to_owned();
                if let Ok(r) = serde_json::from_slice(&kv.value) {
                    pending.push((kv.create_revision, kv.key.clone(), who, r));
                }
            } else if k.starts_with(&election) {
                s.candidates.push(Candidate {
                    key: kv.key.clone(),
                    create_revision: kv.create_revision,
                    lease: kv.lease,
                    name: String::from_utf8(kv.value.clone()).unwrap_or_default(),
                });
            } else if k == state {
                s.state = serde_json::from_slice(&kv.value).ok();
            }
        }
        pending.sort_by_key(|p| p.0);
        s.requests = pending.into_iter().map(|(_, k, w, r)| (k, w, r)).collect();
        s.candidates.sort_by_key(|c| c.create_revision);
        // An alive instance is a member even if its registration was deleted meanwhile.
        for (name, (m, _)) in &s.alive {
            s.members.entry(name.clone()).or_insert_with(|| m.clone());
        }
        s
    }

    /// The leading candidate: the oldest, as etcd's election API decides.
    pub fn leader(&self) -> Option<&Candidate> {
        self.candidates.first()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kv(key: &str, value: &str, rev: i64, lease: i64) -> Kv {
        Kv {
            key: key.into(),
            value: value.as_bytes().to_vec(),
            create_revision: rev,
            lease,
        }
    }

    #[test]
    fn a_range_read_sorts_into_a_snapshot() {
        let l = Layout::new("corepool/c1/");
        assert_eq!(l.all(), "/corepool/c1/");
        let m = r#"{"name":"a","host":"h","port":1,"pcp_port":2,"priority":1,"delegate_ip":""}"#;
        let kvs = [
            kv("/corepool/c1/members/a", m, 1, 0),
            kv("/corepool/c1/alive/a", m, 2, 7),
            kv("/corepool/c1/health/a", r#"{"down":{"1":2}}"#, 3, 7),
            kv(
                "/corepool/c1/requests/a/00000000000000000002",
                r#"{"op":"attach","node":1}"#,
                9,
                7,
            ),
            kv(
                "/corepool/c1/requests/a/00000000000000000001",
                r#"{"op":"detach","node":2}"#,
                8,
                7,
            ),
            kv(
                "/corepool/c1/state",
                r#"{"up":[true,false],"primary":0}"#,
                4,
                0,
            ),
            kv("/corepool/c1/election/6b", "b", 6, 8),
            kv("/corepool/c1/election/6a", "a", 5, 7),
            kv("/corepool/c1/members/bad", "{", 1, 0),
        ];
        let s = Snapshot::parse(&l, &kvs);
        assert_eq!(s.members.len(), 1);
        assert_eq!(s.alive["a"].1, 7);
        assert_eq!(s.health["a"].down[&1], 2);
        assert_eq!(s.requests[0].2, Request::Detach { node: 2 });
        assert_eq!(s.requests[1].1, "a");
        assert_eq!(s.state.as_ref().unwrap().up, [true, false]);
        assert_eq!(s.leader().unwrap().name, "a");
    }
}
