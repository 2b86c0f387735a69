//! Cluster state shared by every shard: nodes, the primary, sessions, shutdown — atomics only.
//!
//! Shards read this on the query path without locks. Writers (health check, failover, PCP) are
//! rare and change one atomic at a time; a `generation` counter tells shards to drop pooled
//! connections made before a topology change.

pub mod cancel;
pub mod events;
pub mod health_stats;
mod node;
pub mod pool_report;
pub mod sessions;
pub mod stats;

pub use cancel::{BackendKey, CancelTable, Secret};
pub use node::{Node, NodeAddress, NodeRole, NodeStatus};
pub use sessions::{SessionInfo, SessionRegistry};

/// Seconds since the Unix epoch by the wall clock (0 if the clock is before 1970): the time
/// stamps `SHOW pool_*`, PCP and the status file print.
pub(crate) fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

use std::sync::atomic::{AtomicI32, AtomicU64, AtomicU8, AtomicUsize, Ordering};

/// How the server is asked to stop (Pgpool-II's modes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum ShutdownMode {
    /// Running.
    None = 0,
    /// SIGTERM: stop accepting, wait for clients to disconnect.
    Smart = 1,
    /// SIGINT: stop accepting, end sessions now.
    Fast = 2,
    /// SIGQUIT: exit at once.
    Immediate = 3,
}

/// The state all shards share.
#[derive(Debug)]
pub struct ClusterState {
    nodes: Box<[Node]>,
    primary: AtomicI32,
    generation: AtomicU64,
    shutdown: AtomicU8,
    reload: AtomicU64,
    sessions: AtomicUsize,
    max_sessions: usize,
    admission_holds: AtomicUsize,
    recovering: AtomicI32,
    /// Proxy-issued cancel keys.
    pub cancel: CancelTable,
    /// Who is connected, per cancel slot (PCP process info).
    pub registry: SessionRegistry,
    /// Health-check statistics, replication state and failover requests, per node.
    pub health: health_stats::HealthStats,
    /// Bytes, idle connections, latency and failover counts for the metrics endpoint.
    pub stats: stats::Stats,
    /// Recent failover and health events, for the status page.
    pub events: events::EventLog,
    /// The transaction pools, as the shards last published them.
    pub pools: pool_report::PoolReport,
    /// The in-memory query cache every shard shares, when memory_cache_enabled.
    pub query_cache: Option<std::sync::Arc<crate::query_cache::QueryCache>>,
}

/// New clients wait while one of these lives; from [`ClusterState::hold_admission`].
#[must_use = "clients are held only while the guard lives"]
#[derive(Debug)]
pub struct AdmissionHold<'a> {
    state: &'a ClusterState,
}

impl Drop for AdmissionHold<'_> {
    fn drop(&mut self) {
        self.state.admission_holds.fetch_sub(1, Ordering::AcqRel);
    }
}

/// The one online recovery running, from [`ClusterState::begin_recovery`]; the node is shown
/// as recovering until this is dropped.
#[must_use = "the recovery is marked only while the guard lives"]
#[derive(Debug)]
pub struct RecoveryMark<'a> {
    state: &'a ClusterState,
}

impl Drop for RecoveryMark<'_> {
    fn drop(&mut self) {
        self.state.recovering.store(-1, Ordering::Release);
    }
}

impl ClusterState {
    /// State for `nodes`, with at most `max_sessions` concurrent client sessions over `shards`.
    pub fn new(nodes: Vec<Node>, shards: usize, max_sessions: usize) -> Self {
        Self {
            health: health_stats::HealthStats::new(nodes.len()),
            stats: stats::Stats::new(shards, nodes.len()),
            nodes: nodes.into_boxed_slice(),
            primary: AtomicI32::new(-1),
            generation: AtomicU64::new(0),
            shutdown: AtomicU8::new(ShutdownMode::None as u8),
            reload: AtomicU64::new(0),
            sessions: AtomicUsize::new(0),
            max_sessions: max_sessions.max(1),
            admission_holds: AtomicUsize::new(0),
            recovering: AtomicI32::new(-1),
            cancel: CancelTable::new(shards, max_sessions.max(1)),
            registry: SessionRegistry::new(shards, max_sessions.max(1)),
            events: events::EventLog::new(),
            pools: pool_report::PoolReport::new(shards),
            query_cache: None,
        }
    }

    /// The same state with a query cache built from `settings` (`None`: no cache).
    pub fn with_query_cache(mut self, settings: Option<crate::query_cache::Settings>) -> Self {
        self.query_cache =
            settings.map(|s| std::sync::Arc::new(crate::query_cache::QueryCache::new(s)));
        self
    }

    /// Every configured node, by id.
    pub fn nodes(&self) -> &[Node] {
        &self.nodes
    }

    /// One node.
    pub fn node(&self, id: usize) -> Option<&Node> {
        self.nodes.get(id)
    }

    /// The primary's node id, if known.
    pub fn primary(&self) -> Option<usize> {
        usize::try_from(self.primary.load(Ordering::Acquire)).ok()
    }

    /// Records the primary (or none), bumping the generation when it changes.
    pub fn set_primary(&self, id: Option<usize>) {
        let new = id.map(|i| i as i32).unwrap_or(-1);
        if self.primary.swap(new, Ordering::AcqRel) != new {
            self.bump_generation();
        }
    }

    /// Records `primary` and gives every node its role: that one primary, the others standby.
    pub fn adopt_primary(&self, primary: Option<usize>) {
        for n in self.nodes() {
            n.set_role(if Some(n.id) == primary {
                NodeRole::Primary
            } else {
                NodeRole::Standby
            });
        }
        self.set_primary(primary);
    }

    /// Topology generation: pooled connections made under an older one are discarded.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Marks a topology change.
    pub fn bump_generation(&self) {
        self.generation.fetch_add(1, Ordering::AcqRel);
    }

    /// The requested shutdown mode.
    pub fn shutdown(&self) -> ShutdownMode {
        match self.shutdown.load(Ordering::Acquire) {
            1 => ShutdownMode::Smart,
            2 => ShutdownMode::Fast,
            3 => ShutdownMode::Immediate,
            _ => ShutdownMode::None,
        }
    }

    /// Requests a shutdown; a stronger mode overrides a weaker one, never the reverse.
    pub fn request_shutdown(&self, mode: ShutdownMode) {
        self.shutdown.fetch_max(mode as u8, Ordering::AcqRel);
    }

    /// Reload counter: shards re-read their configuration when it moves.
    pub fn reload_epoch(&self) -> u64 {
        self.reload.load(Ordering::Acquire)
    }

    /// Announces a reloaded configuration.
    pub fn announce_reload(&self) {
        self.reload.fetch_add(1, Ordering::AcqRel);
    }

    /// Holds new clients at the door (they wait, as for a free slot) until the returned guard
    /// is dropped: a graceful detach or promote waits for the connected clients to leave
    /// without new ones taking their place.
    pub fn hold_admission(&self) -> AdmissionHold<'_> {
        self.admission_holds.fetch_add(1, Ordering::AcqRel);
        AdmissionHold { state: self }
    }

    /// Whether new clients are being held (see [`hold_admission`](Self::hold_admission)).
    pub fn admission_held(&self) -> bool {
        self.admission_holds.load(Ordering::Acquire) > 0
    }

    /// Marks `node` as being recovered (`pcp_recovery_node`); `None` while another recovery
    /// runs, since one runs at a time, as in Pgpool-II.
    pub fn begin_recovery(&self, node: usize) -> Option<RecoveryMark<'_>> {
        let id = i32::try_from(node).ok()?;
        self.recovering
            .compare_exchange(-1, id, Ordering::AcqRel, Ordering::Acquire)
            .ok()
            .map(|_| RecoveryMark { state: self })
    }

    /// The node an online recovery is rebuilding now, if any (shown as `recovering`).
    pub fn recovering(&self) -> Option<usize> {
        usize::try_from(self.recovering.load(Ordering::Acquire)).ok()
    }

    /// Takes a session slot; `false` when `max_sessions` are already connected.
    pub fn try_begin_session(&self) -> bool {
        self.sessions
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < self.max_sessions).then_some(n + 1)
            })
            .is_ok()
    }

    /// Gives a session slot back.
    pub fn end_session(&self) {
        let _ = self
            .sessions
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1));
    }

    /// Client sessions connected now, across all shards.
    pub fn sessions(&self) -> usize {
        self.sessions.load(Ordering::Acquire)
    }

    /// The session limit (`num_init_children`).
    pub fn max_sessions(&self) -> usize {
        self.max_sessions
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(max: usize) -> ClusterState {
        let n = Node::new(
            0,
            NodeAddress::Tcp {
                host: "h".into(),
                port: 1,
            },
            1.0,
            NodeStatus::Waiting,
        );
        ClusterState::new(vec![n], 2, max)
    }

    #[test]
    fn session_limit_is_enforced_and_released() {
        let s = state(2);
        assert!(s.try_begin_session());
        assert!(s.try_begin_session());
        assert!(!s.try_begin_session());
        s.end_session();
        assert!(s.try_begin_session());
        assert_eq!(s.sessions(), 2);
    }

    #[test]
    fn shutdown_only_escalates() {
        let s = state(1);
        s.request_shutdown(ShutdownMode::Fast);
        s.request_shutdown(ShutdownMode::Smart);
        assert_eq!(s.shutdown(), ShutdownMode::Fast);
        s.request_shutdown(ShutdownMode::Immediate);
        assert_eq!(s.shutdown(), ShutdownMode::Immediate);
    }

    #[test]
    fn one_recovery_at_a_time() {
        let s = state(1);
        assert_eq!(s.recovering(), None);
        let mark = s.begin_recovery(0).expect("first recovery");
        assert_eq!(s.recovering(), Some(0));
        assert!(s.begin_recovery(0).is_none());
        drop(mark);
        assert_eq!(s.recovering(), None);
        assert!(s.begin_recovery(0).is_some());
    }

    #[test]
    fn primary_change_bumps_generation() {
        let s = state(1);
        let g = s.generation();
        s.set_primary(Some(0));
        assert_eq!(s.primary(), Some(0));
        assert!(s.generation() > g);
        let g = s.generation();
        s.set_primary(Some(0));
        assert_eq!(s.generation(), g);
    }
}
