//! Between the agreed state in etcd and this instance's [`ClusterState`]: the leader reads its
//! local state to publish it; the others apply the agreed one, as a failover here would (node
//! status, the primary, a new topology generation, the status file).

use crate::cluster::events::EventKind;
use crate::cluster::{ClusterState, NodeRole, NodeStatus};
use crate::failover::status_file;

use super::keys::SharedState;

/// This instance's node status and primary, in the shared form.
pub fn local_state(state: &ClusterState) -> SharedState {
    SharedState {
        up: state
            .nodes()
            .iter()
            .map(|n| n.status().is_valid())
            .collect(),
        primary: state.primary(),
    }
}

/// Makes the local state what `agreed` says. Returns whether anything changed.
pub fn apply(state: &ClusterState, agreed: &SharedState, logdir: &str) -> bool {
    let mut changed = false;
    for (node, &up) in state.nodes().iter().zip(&agreed.up) {
        let status = node.status();
        if status == NodeStatus::Unused {
            continue;
        }
        if up && !status.is_valid() {
            node.set_status(NodeStatus::Waiting);
            if agreed.primary != Some(node.id) {
                node.set_role(NodeRole::Standby);
            }
            state.events.record(
                EventKind::NodeAttached,
                Some(node.id),
                "watchdog: agreed state",
            );
            tracing::info!(node = node.id, "watchdog: node attached by the cluster");
            changed = true;
        } else if !up && status.is_valid() {
            node.set_status(NodeStatus::Down);
            state.events.record(
                EventKind::NodeDetached,
                Some(node.id),
                "watchdog: agreed state",
            );
            tracing::warn!(node = node.id, "watchdog: node detached by the cluster");
            changed = true;
        }
    }
    if state.primary() != agreed.primary {
        tracing::info!(primary = ?agreed.primary, "watchdog: primary set by the cluster");
        state.adopt_primary(agreed.primary);
        match agreed.primary {
            Some(p) => state
                .events
                .record(EventKind::PrimaryChanged, Some(p), "watchdog"),
            None => state.events.record(EventKind::NoPrimary, None, "watchdog"),
        }
        changed = true;
    }
    if changed {
        state.bump_generation();
        let path = status_file::path_in(logdir);
        if let Err(e) = status_file::write(&path, state) {
            tracing::warn!(path = %path.display(), error = %e, "could not write pgpool_status");
        }
    }
    changed
}

/// Whether the local state already is `agreed`.
pub fn matches(state: &ClusterState, agreed: &SharedState) -> bool {
    let local = local_state(state);
    local.primary == agreed.primary
        && local
            .up
            .iter()
            .zip(&agreed.up)
            .zip(state.nodes())
            .all(|((l, a), n)| n.status() == NodeStatus::Unused || l == a)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::{Node, NodeAddress};

    #[test]
    fn the_agreed_state_replaces_the_local_one_and_bumps_the_generation() {
        let nodes = (0..3)
            .map(|i| {
                let a = NodeAddress::Tcp {
                    host: "h".into(),
                    port: 1,
                };
                Node::new(i, a, 1.0, NodeStatus::Up)
            })
            .collect();
        let state = ClusterState::new(nodes, 1, 4);
        state.adopt_primary(Some(0));
        let dir = tempfile::tempdir().unwrap();
        let logdir = dir.path().to_str().unwrap();
        let agreed = SharedState {
            up: vec![false, true, true],
            primary: Some(1),
        };
        assert!(!matches(&state, &agreed));
        let g = state.generation();
        assert!(apply(&state, &agreed, logdir));
        assert!(state.generation() > g);
        assert_eq!(state.primary(), Some(1));
        assert_eq!(state.nodes()[0].status(), NodeStatus::Down);
        assert!(matches(&state, &agreed));
        assert!(!apply(&state, &agreed, logdir));
        let saved = std::fs::read_to_string(dir.path().join("pgpool_status")).unwrap();
        assert_eq!(saved, "down\nup\nup\n");
        assert_eq!(local_state(&state), agreed);
    }
}
