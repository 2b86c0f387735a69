//! The seam through which health checks and PCP reach the watchdog when several corepool
//! instances share one cluster (`use_watchdog = on`): they report and ask; the watchdog's
//! leader decides and runs [`super::Failover`] for everyone.
//!
//! Defined here, below the watchdog, so that `health` and `pcp` need not know it: they look
//! for a coordinator on [`super::Failover`] and act alone when there is none.

/// A node state change asked for by an administrator (PCP).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AdminOp {
    /// `pcp_detach_node`.
    Detach {
        /// The node.
        node: usize,
    },
    /// `pcp_attach_node`.
    Attach {
        /// The node.
        node: usize,
    },
    /// `pcp_promote_node` (`switchover`: `-s`).
    Promote {
        /// The node.
        node: usize,
        /// Detach the current primary and let failover_command promote `node`.
        switchover: bool,
    },
}

/// Why the watchdog could not take a request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CoordinatorError {
    /// This instance cannot reach a quorum of etcd members (or its lease expired).
    #[error("watchdog: this instance has lost etcd ({0}); no failover decision can be taken now")]
    NoEtcd(String),
    /// No instance leads right now.
    #[error("watchdog: there is no leader instance now")]
    NoLeader,
    /// The leader did not take the request in time.
    #[error("watchdog: the leader did not carry out the request within {0} s")]
    Timeout(u64),
}

/// What the watchdog offers to the checks and to PCP. Every method returns quickly except
/// [`Coordinator::request`] with `wait`.
pub trait Coordinator: Send + Sync {
    /// This instance's health check found `node` unreachable (a vote for its failover).
    fn node_failed(&self, node: usize, reason: &str);
    /// This instance's health check reached `node` (its vote, if any, is withdrawn).
    fn node_ok(&self, node: usize);
    /// Sends an administrator's request to the leader; with `wait`, returns once the leader
    /// has carried it out.
    fn request(&self, op: AdminOp, wait: bool) -> Result<(), CoordinatorError>;
    /// The watchdog cluster as Pgpool-II 4.3's `pcp_watchdog_info` JSON; `id` −1 for every
    /// instance, else only that one (0 is this instance). `None` when `id` is unknown.
    fn watchdog_info(&self, id: i32) -> Option<String>;
}
