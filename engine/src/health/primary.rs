//! Finding the primary at start-up (PGB-5.3's search, once): before the shards run, on the
//! starting thread, through failover's [`NodeProbe`].

use crate::cluster::ClusterState;
use crate::config::{ClusteringMode, Config};
use crate::failover::probe::{NodeProbe, ProbeResult};

/// Marks the primary (streaming replication) or main node (other modes) before serving.
///
/// Streaming replication: an `ALWAYS_PRIMARY` live node at once; else the live node whose
/// `pg_is_in_recovery()` is false. When no node says so (all down, or sr_check_user cannot log
/// in), the first live node is used provisionally and the replication check keeps looking every
/// second, correcting it once a primary answers. Other modes: the first live node.
pub fn mark_at_start(state: &ClusterState, config: &Config, probe: &dyn NodeProbe) {
    let live: Vec<usize> = state
        .nodes()
        .iter()
        .filter(|n| n.status().is_valid())
        .map(|n| n.id)
        .collect();
    let first = live.first().copied().unwrap_or(0);
    if config.backend_clustering_mode != ClusteringMode::StreamingReplication {
        state.adopt_primary(Some(first));
        return;
    }
    let always = live.iter().copied().find(|i| {
        config
            .backends
            .get(*i)
            .is_some_and(|b| b.flags.always_primary)
    });
    if let Some(p) = always {
        state.adopt_primary(Some(p));
        return;
    }
    let targets: Vec<_> = live
        .iter()
        .map(|i| (*i, state.nodes()[*i].address.clone()))
        .collect();
    let results = if targets.is_empty() {
        Vec::new()
    } else {
        probe_on_own_thread(probe, config, &targets)
    };
    match choose(&live, &results) {
        Some(p) => {
            tracing::info!(primary = p, "primary node found");
            state.adopt_primary(Some(p));
        }
        None => {
            tracing::warn!(
                provisional = first,
                "no node answered as primary; using the first live node until one does"
            );
            state.adopt_primary(Some(first));
        }
    }
}

/// Runs the probe on a thread of its own that ends before this returns. `ClientProbe` runs a
/// short-lived ring of its own (`corepool_runtime::block_on`) on the calling thread, which must
/// not be a shard's (a shard's ring is its own).
fn probe_on_own_thread(
    probe: &dyn NodeProbe,
    config: &Config,
    targets: &[(usize, crate::cluster::NodeAddress)],
) -> Vec<ProbeResult> {
    std::thread::scope(|s| {
        let worker = std::thread::Builder::new()
            .name("corepool-probe".into())
            .spawn_scoped(s, || probe.probe(config, targets));
        match worker.map(|w| w.join()) {
            Ok(Ok(results)) => results,
            _ => {
                tracing::error!("the start-up probe thread failed");
                vec![ProbeResult::Unreachable; targets.len()]
            }
        }
    })
}

/// The first node the probe found to be primary.
fn choose(live: &[usize], results: &[ProbeResult]) -> Option<usize> {
    live.iter()
        .zip(results)
        .find(|(_, r)| **r == ProbeResult::Primary)
        .map(|(i, _)| *i)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::{Node, NodeAddress, NodeRole, NodeStatus};
    use crate::config::BackendConfig;

    struct Fixed(Vec<ProbeResult>);

    impl NodeProbe for Fixed {
        fn probe(&self, _: &Config, nodes: &[(usize, NodeAddress)]) -> Vec<ProbeResult> {
            nodes.iter().map(|(i, _)| self.0[*i]).collect()
        }
    }

    fn setup(count: usize) -> (ClusterState, Config) {
        let nodes = (0..count)
            .map(|i| {
                let address = NodeAddress::Tcp {
                    host: "h".into(),
                    port: 1,
                };
                Node::new(i, address, 1.0, NodeStatus::Waiting)
            })
            .collect();
        let config = Config {
            backend_clustering_mode: ClusteringMode::StreamingReplication,
            backends: vec![BackendConfig::default(); count],
            ..Config::default()
        };
        (ClusterState::new(nodes, 1, 1), config)
    }

    #[test]
    fn the_node_out_of_recovery_is_primary() {
        let (state, config) = setup(3);
        let probe = Fixed(vec![
            ProbeResult::Standby,
            ProbeResult::Unreachable,
            ProbeResult::Primary,
        ]);
        mark_at_start(&state, &config, &probe);
        assert_eq!(state.primary(), Some(2));
        assert_eq!(state.nodes()[2].role(), NodeRole::Primary);
        assert_eq!(state.nodes()[0].role(), NodeRole::Standby);
    }

    #[test]
    fn always_primary_and_down_nodes_are_respected() {
        let (state, mut config) = setup(3);
        config.backends[1].flags.always_primary = true;
        mark_at_start(&state, &config, &Fixed(vec![ProbeResult::Primary; 3]));
        assert_eq!(state.primary(), Some(1));

        let (state, config) = setup(3);
        state.nodes()[0].set_status(NodeStatus::Down);
        mark_at_start(&state, &config, &Fixed(vec![ProbeResult::Unreachable; 3]));
        assert_eq!(state.primary(), Some(1), "provisional: the first live node");
    }
}
