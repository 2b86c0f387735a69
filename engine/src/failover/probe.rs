//! What failover asks of a node probe: is each node reachable, and is it a primary or a
//! standby. The real probe (a PostgreSQL connection per node) lives in `health`; failover only
//! sees this trait, so its tests can replace it.

use crate::cluster::NodeAddress;
use crate::config::Config;

/// What a probe learnt about one node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProbeResult {
    /// Could not connect or authenticate.
    Unreachable,
    /// Connected; the query failed or gave no answer.
    Up,
    /// `pg_is_in_recovery()` is false.
    Primary,
    /// `pg_is_in_recovery()` is true.
    Standby,
}

/// Probes nodes. A trait so tests (and other deployments) can replace the real client.
pub trait NodeProbe: Send + Sync {
    /// Probes each of `nodes` (address, node id) with the settings of `config`.
    fn probe(&self, config: &Config, nodes: &[(usize, NodeAddress)]) -> Vec<ProbeResult>;
}
