//! `SHOW pool_transaction_pools` (a corepool command beside Pgpool-II's `SHOW pool_pools`): one
//! row per shard and transaction pool, from the rows the shards publish.

use crate::cluster::ClusterState;

/// The columns, in order.
pub const COLUMNS: [&str; 14] = [
    "shard",
    "database",
    "username",
    "node_id",
    "backends",
    "backends_active",
    "backends_idle",
    "clients_waiting",
    "longest_wait",
    "waits",
    "wait_timeouts",
    "prepared_statements",
    "re_prepared",
    "pinned_clients",
];

/// The rows; `pinned_clients` is the shard's count (pins are per client, not per pool).
pub fn rows(state: &ClusterState) -> Vec<Vec<String>> {
    state
        .pools
        .rows()
        .into_iter()
        .map(|r| {
            let pinned = state.stats.shard(r.shard).pinned_clients.get();
            vec![
                r.shard.to_string(),
                r.database,
                r.user,
                r.node.to_string(),
                r.backends.to_string(),
                r.backends.saturating_sub(r.idle).to_string(),
                r.idle.to_string(),
                r.waiting.to_string(),
                format!("{:.3}", r.longest_wait.as_secs_f64()),
                r.waits.to_string(),
                r.timeouts.to_string(),
                r.prepared_statements.to_string(),
                r.re_prepared.to_string(),
                pinned.to_string(),
            ]
        })
        .collect()
}
