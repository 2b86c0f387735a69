//! Choosing a load-balance node by weight from the shared, lock-free node state.

use crate::cluster::ClusterState;

/// Picks a node by weight among valid nodes with a weight above zero; `r` is a uniform random
/// number in `[0, 1)`. `exclude` removes a node from the draw (a redirect preference may do
/// that). `None` when no node qualifies.
pub fn choose_node(state: &ClusterState, r: f64, exclude: Option<usize>) -> Option<usize> {
    let eligible = || {
        state
            .nodes()
            .iter()
            .filter(move |n| Some(n.id) != exclude && n.status().is_valid() && n.weight() > 0.0)
    };
    let total: f64 = eligible().map(|n| n.weight()).sum();
    if total <= 0.0 {
        return None;
    }
    let mut target = r.clamp(0.0, 1.0) * total;
    let mut last = None;
    for n in eligible() {
        last = Some(n.id);
        if target < n.weight() {
            return Some(n.id);
        }
        target -= n.weight();
    }
    last
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::{Node, NodeAddress, NodeStatus};
    use proptest::prelude::*;

    fn state(weights: &[f64]) -> ClusterState {
        let nodes = weights
            .iter()
            .enumerate()
            .map(|(i, w)| {
                Node::new(
                    i,
                    NodeAddress::Tcp {
                        host: "h".into(),
                        port: 1,
                    },
                    *w,
                    NodeStatus::Waiting,
                )
            })
            .collect();
        ClusterState::new(nodes, 1, 1)
    }

    #[test]
    fn down_and_zero_weight_nodes_are_never_chosen() {
        let s = state(&[1.0, 0.0, 1.0]);
        s.node(2).unwrap().set_status(NodeStatus::Down);
        for i in 0..100 {
            assert_eq!(choose_node(&s, i as f64 / 100.0, None), Some(0));
        }
        assert_eq!(choose_node(&s, 0.5, Some(0)), None);
    }

    proptest! {
        #[test]
        fn the_draw_follows_the_weights(weights in proptest::collection::vec(0.0f64..10.0, 1..6)) {
            let s = state(&weights);
            let total: f64 = weights.iter().sum();
            prop_assume!(total > 0.01);
            let n = 20_000;
            let mut counts = vec![0usize; weights.len()];
            for i in 0..n {
                // A deterministic, evenly spread sequence of draws.
                let r = (i as f64 + 0.5) / n as f64;
                counts[choose_node(&s, r, None).unwrap()] += 1;
            }
            for (i, w) in weights.iter().enumerate() {
                let expected = w / total;
                let got = counts[i] as f64 / n as f64;
                prop_assert!((got - expected).abs() < 0.01, "node {} got {} expected {}", i, got, expected);
            }
        }
    }
}
