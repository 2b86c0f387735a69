//! Per-node health-check statistics, replication state and failover requests, as atomics.
//!
//! The health and replication checks on shard 0 write them; `SHOW pool_health_check_stats`,
//! `pcp_health_check_stats` and `SHOW pool_nodes` read them. Any shard may post a
//! [`NodeRequest`] (a backend connect failed, a backend connection was lost); shard 0's health
//! supervisor takes it and acts. Nothing here is touched on the query path.

use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::time::Duration;

/// Every node's health record, by node id.
#[derive(Debug)]
pub struct HealthStats {
    nodes: Box<[NodeHealth]>,
}

impl HealthStats {
    /// Records for `count` nodes, all empty.
    pub fn new(count: usize) -> Self {
        Self {
            nodes: (0..count).map(|_| NodeHealth::new()).collect(),
        }
    }

    /// One node's record.
    pub fn node(&self, id: usize) -> Option<&NodeHealth> {
        self.nodes.get(id)
    }

    /// Every node's record, by id.
    pub fn nodes(&self) -> &[NodeHealth] {
        &self.nodes
    }
}

/// `pg_stat_replication.state` of a standby, as seen on the primary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum ReplicationState {
    /// Not known (not a standby, not listed, or no application name to match).
    Unknown = 0,
    /// `startup`.
    Startup = 1,
    /// `catchup`.
    Catchup = 2,
    /// `streaming`.
    Streaming = 3,
    /// `backup`.
    Backup = 4,
    /// `stopping`.
    Stopping = 5,
}

impl ReplicationState {
    /// Parses PostgreSQL's name; anything else is `Unknown`.
    pub fn parse(s: &str) -> Self {
        match s {
            "startup" => Self::Startup,
            "catchup" => Self::Catchup,
            "streaming" => Self::Streaming,
            "backup" => Self::Backup,
            "stopping" => Self::Stopping,
            _ => Self::Unknown,
        }
    }

    fn from_u8(v: u8) -> Self {
        match v {
            1 => Self::Startup,
            2 => Self::Catchup,
            3 => Self::Streaming,
            4 => Self::Backup,
            5 => Self::Stopping,
            _ => Self::Unknown,
        }
    }

    /// The name shown in `SHOW pool_nodes` (empty when unknown).
    pub fn name(self) -> &'static str {
        match self {
            Self::Unknown => "",
            Self::Startup => "startup",
            Self::Catchup => "catchup",
            Self::Streaming => "streaming",
            Self::Backup => "backup",
            Self::Stopping => "stopping",
        }
    }
}

/// `pg_stat_replication.sync_state` of a standby.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum SyncState {
    /// Not known.
    Unknown = 0,
    /// `async`.
    Async = 1,
    /// `potential`.
    Potential = 2,
    /// `sync`.
    Sync = 3,
    /// `quorum`.
    Quorum = 4,
}

impl SyncState {
    /// Parses PostgreSQL's name; anything else is `Unknown`.
    pub fn parse(s: &str) -> Self {
        match s {
            "async" => Self::Async,
            "potential" => Self::Potential,
            "sync" => Self::Sync,
            "quorum" => Self::Quorum,
            _ => Self::Unknown,
        }
    }

    fn from_u8(v: u8) -> Self {
        match v {
            1 => Self::Async,
            2 => Self::Potential,
            3 => Self::Sync,
            4 => Self::Quorum,
            _ => Self::Unknown,
        }
    }

    /// The name shown in `SHOW pool_nodes` (empty when unknown).
    pub fn name(self) -> &'static str {
        match self {
            Self::Unknown => "",
            Self::Async => "async",
            Self::Potential => "potential",
            Self::Sync => "sync",
            Self::Quorum => "quorum",
        }
    }
}

/// What a shard asks shard 0's health supervisor to do about a node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum NodeRequest {
    /// Detach it now (a connect to it failed and failover_on_backend_error is on).
    Detach = 1,
    /// Check it now and detach it if it is unreachable (a backend connection broke).
    Verify = 2,
}

/// Requests taken off a node by [`NodeHealth::take_requests`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Requests {
    /// A [`NodeRequest::Detach`] was posted.
    pub detach: bool,
    /// A [`NodeRequest::Verify`] was posted.
    pub verify: bool,
}

/// Sentinel for "no duration recorded yet" in the minimum.
const NO_MIN: u64 = u64::MAX;

/// One node's health-check counters, timestamps and replication state.
#[derive(Debug)]
pub struct NodeHealth {
    total: AtomicU64,
    success: AtomicU64,
    fail: AtomicU64,
    skip: AtomicU64,
    retry: AtomicU64,
    max_retry: AtomicU64,
    duration_sum_ms: AtomicU64,
    duration_max_ms: AtomicU64,
    duration_min_ms: AtomicU64,
    last_check: AtomicU64,
    last_success: AtomicU64,
    last_skip: AtomicU64,
    last_fail: AtomicU64,
    replication_state: AtomicU8,
    sync_state: AtomicU8,
    requests: AtomicU8,
}

/// A consistent-enough copy of a node's health-check statistics, in the units pgpool prints.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct HealthCheckSnapshot {
    /// Checks started, skipped ones included.
    pub total_count: u64,
    /// Checks that succeeded (after any retries).
    pub success_count: u64,
    /// Checks that failed after all retries.
    pub fail_count: u64,
    /// Checks skipped because the node was down.
    pub skip_count: u64,
    /// Retries over all checks.
    pub retry_count: u64,
    /// Retries per check that ran.
    pub average_retry_count: f64,
    /// Most retries in one check.
    pub max_retry_count: u64,
    /// Longest check, milliseconds.
    pub max_duration_ms: u64,
    /// Shortest check, milliseconds (0 before any check ran).
    pub min_duration_ms: u64,
    /// Mean check duration, milliseconds.
    pub average_duration_ms: f64,
    /// Epoch seconds of the last check, if any.
    pub last_check: Option<u64>,
    /// Epoch seconds of the last successful check, if any.
    pub last_success: Option<u64>,
    /// Epoch seconds of the last skipped check, if any.
    pub last_skip: Option<u64>,
    /// Epoch seconds of the last failed check, if any.
    pub last_fail: Option<u64>,
}

impl NodeHealth {
    fn new() -> Self {
        Self {
            total: AtomicU64::new(0),
            success: AtomicU64::new(0),
            fail: AtomicU64::new(0),
            skip: AtomicU64::new(0),
            retry: AtomicU64::new(0),
            max_retry: AtomicU64::new(0),
            duration_sum_ms: AtomicU64::new(0),
            duration_max_ms: AtomicU64::new(0),
            duration_min_ms: AtomicU64::new(NO_MIN),
            last_check: AtomicU64::new(0),
            last_success: AtomicU64::new(0),
            last_skip: AtomicU64::new(0),
            last_fail: AtomicU64::new(0),
            replication_state: AtomicU8::new(0),
            sync_state: AtomicU8::new(0),
            requests: AtomicU8::new(0),
        }
    }

    /// Records a check skipped because the node is down or unused.
    pub fn record_skip(&self) {
        let now = super::now_secs();
        self.total.fetch_add(1, Ordering::Relaxed);
        self.skip.fetch_add(1, Ordering::Relaxed);
        self.last_check.store(now, Ordering::Relaxed);
        self.last_skip.store(now, Ordering::Relaxed);
    }

    /// Records a finished check: its outcome, how many retries it took and how long.
    pub fn record_check(&self, ok: bool, retries: u64, took: Duration) {
        let now = super::now_secs();
        let ms = u64::try_from(took.as_millis()).unwrap_or(u64::MAX);
        self.total.fetch_add(1, Ordering::Relaxed);
        if ok {
            self.success.fetch_add(1, Ordering::Relaxed);
            self.last_success.store(now, Ordering::Relaxed);
        } else {
            self.fail.fetch_add(1, Ordering::Relaxed);
            self.last_fail.store(now, Ordering::Relaxed);
        }
        self.retry.fetch_add(retries, Ordering::Relaxed);
        self.max_retry.fetch_max(retries, Ordering::Relaxed);
        self.duration_sum_ms.fetch_add(ms, Ordering::Relaxed);
        self.duration_max_ms.fetch_max(ms, Ordering::Relaxed);
        self.duration_min_ms.fetch_min(ms, Ordering::Relaxed);
        self.last_check.store(now, Ordering::Relaxed);
    }

    /// The statistics now.
    pub fn snapshot(&self) -> HealthCheckSnapshot {
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let when = |a: &AtomicU64| Some(get(a)).filter(|t| *t != 0);
        let (total, skip) = (get(&self.total), get(&self.skip));
        let ran = total.saturating_sub(skip);
        let per_check = |v: u64| if ran == 0 { 0.0 } else { v as f64 / ran as f64 };
        let min = get(&self.duration_min_ms);
        HealthCheckSnapshot {
            total_count: total,
            success_count: get(&self.success),
            fail_count: get(&self.fail),
            skip_count: skip,
            retry_count: get(&self.retry),
            average_retry_count: per_check(get(&self.retry)),
            max_retry_count: get(&self.max_retry),
            max_duration_ms: get(&self.duration_max_ms),
            min_duration_ms: if min == NO_MIN { 0 } else { min },
            average_duration_ms: per_check(get(&self.duration_sum_ms)),
            last_check: when(&self.last_check),
            last_success: when(&self.last_success),
            last_skip: when(&self.last_skip),
            last_fail: when(&self.last_fail),
        }
    }

    /// `pg_stat_replication.state` as last seen on the primary.
    pub fn replication_state(&self) -> ReplicationState {
        ReplicationState::from_u8(self.replication_state.load(Ordering::Acquire))
    }

    /// `pg_stat_replication.sync_state` as last seen on the primary.
    pub fn sync_state(&self) -> SyncState {
        SyncState::from_u8(self.sync_state.load(Ordering::Acquire))
    }

    /// Records the replication columns of the last check.
    pub fn set_replication(&self, state: ReplicationState, sync: SyncState) {
        self.replication_state.store(state as u8, Ordering::Release);
        self.sync_state.store(sync as u8, Ordering::Release);
    }

    /// Posts a request for shard 0's health supervisor (idempotent until taken).
    pub fn request(&self, what: NodeRequest) {
        self.requests.fetch_or(what as u8, Ordering::AcqRel);
    }

    /// Takes every posted request.
    pub fn take_requests(&self) -> Requests {
        let bits = self.requests.swap(0, Ordering::AcqRel);
        Requests {
            detach: bits & NodeRequest::Detach as u8 != 0,
            verify: bits & NodeRequest::Verify as u8 != 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checks_and_skips_add_up() {
        let h = HealthStats::new(1);
        let n = h.node(0).unwrap();
        assert_eq!(n.snapshot(), HealthCheckSnapshot::default());
        n.record_check(true, 0, Duration::from_millis(4));
        n.record_check(false, 2, Duration::from_millis(10));
        n.record_skip();
        let s = n.snapshot();
        assert_eq!((s.total_count, s.success_count, s.fail_count), (3, 1, 1));
        assert_eq!((s.skip_count, s.retry_count, s.max_retry_count), (1, 2, 2));
        assert_eq!((s.min_duration_ms, s.max_duration_ms), (4, 10));
        assert_eq!(s.average_duration_ms, 7.0);
        assert_eq!(s.average_retry_count, 1.0);
        assert!(s.last_check.is_some() && s.last_fail.is_some() && s.last_skip.is_some());
    }

    #[test]
    fn requests_are_taken_once() {
        let h = HealthStats::new(2);
        let n = h.node(1).unwrap();
        n.request(NodeRequest::Verify);
        n.request(NodeRequest::Detach);
        n.request(NodeRequest::Detach);
        let r = n.take_requests();
        assert!(r.detach && r.verify);
        assert_eq!(n.take_requests(), Requests::default());
    }

    #[test]
    fn replication_names_round_trip() {
        for s in ["startup", "catchup", "streaming", "backup", "stopping"] {
            assert_eq!(ReplicationState::parse(s).name(), s);
        }
        for s in ["async", "potential", "sync", "quorum"] {
            assert_eq!(SyncState::parse(s).name(), s);
        }
        let h = HealthStats::new(1);
        let n = h.node(0).unwrap();
        n.set_replication(ReplicationState::Streaming, SyncState::Sync);
        assert_eq!(n.replication_state().name(), "streaming");
        assert_eq!(n.sync_state().name(), "sync");
    }
}
