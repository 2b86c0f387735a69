//! One backend node's shared, lock-free state: status, role, weight and counters.

use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};

/// Pgpool-II's backend status (`BACKEND_STATUS`), as shown by `SHOW pool_nodes` and PCP.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum NodeStatus {
    /// Slot not configured.
    Unused = 0,
    /// Attached and considered alive; no session has connected since start or attach.
    Waiting = 1,
    /// A session connected successfully.
    Up = 2,
    /// Detached: no traffic is routed to it.
    Down = 3,
}

impl NodeStatus {
    fn from_u8(v: u8) -> Self {
        match v {
            1 => NodeStatus::Waiting,
            2 => NodeStatus::Up,
            3 => NodeStatus::Down,
            _ => NodeStatus::Unused,
        }
    }

    /// The name Pgpool-II prints (`up`, `waiting`, `down`, `unused`).
    pub fn name(self) -> &'static str {
        match self {
            NodeStatus::Unused => "unused",
            NodeStatus::Waiting => "waiting",
            NodeStatus::Up => "up",
            NodeStatus::Down => "down",
        }
    }

    /// True when traffic may be routed to the node.
    pub fn is_valid(self) -> bool {
        matches!(self, NodeStatus::Waiting | NodeStatus::Up)
    }
}

/// The role a node plays in streaming replication.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum NodeRole {
    /// Not known yet (not probed, or unreachable).
    Unknown = 0,
    /// Accepts writes (`pg_is_in_recovery()` is false).
    Primary = 1,
    /// A hot standby.
    Standby = 2,
}

impl NodeRole {
    fn from_u8(v: u8) -> Self {
        match v {
            1 => NodeRole::Primary,
            2 => NodeRole::Standby,
            _ => NodeRole::Unknown,
        }
    }

    /// The name Pgpool-II prints in streaming mode.
    pub fn name(self) -> &'static str {
        match self {
            NodeRole::Unknown => "unknown",
            NodeRole::Primary => "primary",
            NodeRole::Standby => "standby",
        }
    }
}

/// Where a node listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NodeAddress {
    /// Host name or IP address and port.
    Tcp {
        /// Host name or IP address.
        host: String,
        /// TCP port.
        port: u16,
    },
    /// A UNIX socket directory and port (the socket is `<dir>/.s.PGSQL.<port>`).
    Unix {
        /// Socket directory.
        dir: String,
        /// Port number in the socket file's name.
        port: u16,
    },
}

impl NodeAddress {
    /// The host as Pgpool-II shows it (the directory for a UNIX socket).
    pub fn host(&self) -> &str {
        match self {
            NodeAddress::Tcp { host, .. } => host,
            NodeAddress::Unix { dir, .. } => dir,
        }
    }

    /// The port.
    pub fn port(&self) -> u16 {
        match self {
            NodeAddress::Tcp { port, .. } | NodeAddress::Unix { port, .. } => *port,
        }
    }
}

/// A backend node as every shard sees it. Only atomics: readable from any core without a lock.
#[derive(Debug)]
pub struct Node {
    /// Node id (the N of backend_hostnameN).
    pub id: usize,
    /// Where it listens (fixed at start: Pgpool-II refuses to change it on reload).
    pub address: NodeAddress,
    status: AtomicU8,
    role: AtomicU8,
    weight_bits: AtomicU64,
    last_status_change: AtomicU64,
    replication_delay: AtomicU64,
}

impl Node {
    /// A node in `status` with `weight`.
    pub fn new(id: usize, address: NodeAddress, weight: f64, status: NodeStatus) -> Self {
        Self {
            id,
            address,
            status: AtomicU8::new(status as u8),
            role: AtomicU8::new(NodeRole::Unknown as u8),
            weight_bits: AtomicU64::new(weight.to_bits()),
            last_status_change: AtomicU64::new(super::now_secs()),
            replication_delay: AtomicU64::new(0),
        }
    }

    /// Current status.
    pub fn status(&self) -> NodeStatus {
        NodeStatus::from_u8(self.status.load(Ordering::Acquire))
    }

    /// Sets the status; returns the previous one. Records the change time when it changed.
    pub fn set_status(&self, status: NodeStatus) -> NodeStatus {
        let old = NodeStatus::from_u8(self.status.swap(status as u8, Ordering::AcqRel));
        if old != status {
            self.last_status_change
                .store(super::now_secs(), Ordering::Release);
        }
        old
    }

    /// Moves `waiting` to `up` after a successful connection (Pgpool-II's first-connect rule).
    pub fn mark_connected(&self) {
        let _ = self.status.compare_exchange(
            NodeStatus::Waiting as u8,
            NodeStatus::Up as u8,
            Ordering::AcqRel,
            Ordering::Acquire,
        );
    }

    /// Current role.
    pub fn role(&self) -> NodeRole {
        NodeRole::from_u8(self.role.load(Ordering::Acquire))
    }

    /// Sets the role.
    pub fn set_role(&self, role: NodeRole) {
        self.role.store(role as u8, Ordering::Release);
    }

    /// Configured (not normalised) weight.
    pub fn weight(&self) -> f64 {
        f64::from_bits(self.weight_bits.load(Ordering::Acquire))
    }

    /// Changes the weight (a reload; takes effect for new sessions).
    pub fn set_weight(&self, w: f64) {
        self.weight_bits.store(w.to_bits(), Ordering::Release);
    }

    /// Seconds since the epoch of the last status change.
    pub fn last_status_change(&self) -> u64 {
        self.last_status_change.load(Ordering::Acquire)
    }

    /// Replication delay in bytes (0 for the primary), as last measured.
    pub fn replication_delay(&self) -> u64 {
        self.replication_delay.load(Ordering::Acquire)
    }

    /// Records a replication delay measurement.
    pub fn set_replication_delay(&self, bytes: u64) {
        self.replication_delay.store(bytes, Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node() -> Node {
        Node::new(
            0,
            NodeAddress::Tcp {
                host: "127.0.0.1".into(),
                port: 5432,
            },
            1.0,
            NodeStatus::Waiting,
        )
    }

    #[test]
    fn first_connection_moves_waiting_to_up_only() {
        let n = node();
        n.mark_connected();
        assert_eq!(n.status(), NodeStatus::Up);
        n.set_status(NodeStatus::Down);
        n.mark_connected();
        assert_eq!(
            n.status(),
            NodeStatus::Down,
            "a down node is not revived by a connection"
        );
    }

    #[test]
    fn weight_and_role_round_trip() {
        let n = node();
        n.set_weight(0.25);
        assert_eq!(n.weight(), 0.25);
        n.set_role(NodeRole::Standby);
        assert_eq!(n.role(), NodeRole::Standby);
        assert_eq!(n.role().name(), "standby");
        assert!(n.status().is_valid());
    }
}
