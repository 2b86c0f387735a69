//! One streaming-replication check (PGB-2.4, 2.6.4, 2.6.5): ask every live node whether it is in
//! recovery and where its WAL is, settle who the primary is, measure each standby's delay, copy
//! `pg_stat_replication`'s state and sync_state, detach false primaries and fail back standbys
//! that stream again.

use std::time::{Duration, Instant};

use super::query::{self, ReplicationRow, WalPosition};
use super::Context;
use crate::auth::files::AuthFiles;
use crate::cluster::health_stats::{ReplicationState, SyncState};
use crate::cluster::{ClusterState, NodeStatus};
use crate::config::{Config, LogStandbyDelay};
use crate::failover::Busy;

/// Bound on each node's answer in a replication check.
const QUERY_LIMIT: Duration = Duration::from_secs(10);

/// What the replication check remembers between rounds.
#[derive(Debug)]
pub struct Memory {
    /// When each node was last failed back automatically.
    last_failback: Vec<Option<Instant>>,
    /// Since when no primary has been found (for the search_primary_node_timeout warning).
    no_primary_since: Option<Instant>,
    warned_no_primary: bool,
}

impl Memory {
    /// Nothing remembered, for `count` nodes.
    pub fn new(count: usize) -> Self {
        Self {
            last_failback: vec![None; count],
            no_primary_since: None,
            warned_no_primary: false,
        }
    }
}

/// Runs one replication check.
pub async fn run(ctx: &Context, memory: &std::cell::RefCell<Memory>) {
    if ctx.failover.busy() != Busy::Idle {
        return; // failover is settling the primary itself
    }
    let (config, auth) = (ctx.settings)();
    let state = &*ctx.state;
    let seen = ask_live_nodes(&config, &auth, state).await;
    let claims: Vec<usize> = (0..seen.len())
        .filter(|i| seen[*i].is_some_and(|p| !p.in_recovery))
        .collect();
    let primary = match settle_primary(ctx, &config, &auth, &claims).await {
        Some(p) => p,
        None => {
            note_no_primary(&config, &mut memory.borrow_mut());
            return;
        }
    };
    memory.borrow_mut().no_primary_since = None;
    memory.borrow_mut().warned_no_primary = false;

    let rows = replication_of(&config, &auth, state, primary)
        .await
        .unwrap_or_default();
    record_replication(&config, state, primary, &rows);
    if !config.sr_check_period.is_zero() {
        record_delays(&config, state, primary, &seen, &rows);
    }
    if config.auto_failback {
        fail_back(ctx, &config, primary, &rows, &mut memory.borrow_mut());
    }
}

/// Asks every live node whether it is in recovery and where its WAL is; `None` for nodes not
/// asked or not answering.
async fn ask_live_nodes(
    config: &Config,
    auth: &AuthFiles,
    state: &ClusterState,
) -> Vec<Option<WalPosition>> {
    let mut seen = vec![None; state.nodes().len()];
    for node in state.nodes().iter().filter(|n| n.status().is_valid()) {
        let opts = query::sr_options(config, &node.address, auth);
        let answer = query::query(&opts, query::WAL_POSITION_SQL, QUERY_LIMIT).await;
        match answer.and_then(|rows| query::wal_position(&rows)) {
            Ok(p) => seen[node.id] = Some(p),
            Err(e) => {
                tracing::warn!(node = node.id, error = %e, "replication check could not ask node")
            }
        }
    }
    seen
}

/// Settles the primary from the nodes claiming to be one (not in recovery): the known primary
/// if it claims, else the only claimant, else the claimant most standbys stream from. Other
/// claimants are false primaries, detached with detach_false_primary.
async fn settle_primary(
    ctx: &Context,
    config: &Config,
    auth: &AuthFiles,
    claims: &[usize],
) -> Option<usize> {
    let state = &*ctx.state;
    let known = state
        .primary()
        .filter(|p| state.node(*p).is_some_and(|n| n.status().is_valid()));
    let chosen = match (known, claims) {
        (_, []) => return known,
        (Some(k), _) if claims.contains(&k) => k,
        (_, [only]) => *only,
        _ => {
            let mut best = (claims[0], 0usize);
            for &c in claims {
                let followers = replication_of(config, auth, state, c)
                    .await
                    .map_or(0, |r| r.len());
                if followers > best.1 {
                    best = (c, followers);
                }
            }
            best.0
        }
    };
    if known != Some(chosen) {
        tracing::info!(primary = chosen, previous = ?known, "replication check: primary node found");
        state.adopt_primary(Some(chosen));
    }
    for &false_primary in claims.iter().filter(|c| **c != chosen) {
        if config.detach_false_primary {
            tracing::warn!(
                node = false_primary,
                primary = chosen,
                "detaching false primary"
            );
            ctx.detach(false_primary, "false primary");
        } else {
            tracing::warn!(
                node = false_primary,
                primary = chosen,
                "a second node claims to be primary"
            );
        }
    }
    Some(chosen)
}

fn note_no_primary(config: &Config, memory: &mut Memory) {
    let since = *memory.no_primary_since.get_or_insert_with(Instant::now);
    let limit = config.search_primary_node_timeout;
    if !memory.warned_no_primary && !limit.is_zero() && since.elapsed() >= limit {
        memory.warned_no_primary = true;
        tracing::warn!(waited = ?since.elapsed(), "no primary node found; still looking");
    }
}

/// `pg_stat_replication` on `primary`, or `None` when it cannot be read.
async fn replication_of(
    config: &Config,
    auth: &AuthFiles,
    state: &ClusterState,
    primary: usize,
) -> Option<Vec<ReplicationRow>> {
    let node = state.node(primary)?;
    let opts = query::sr_options(config, &node.address, auth);
    let answer = query::query(&opts, query::REPLICATION_SQL, QUERY_LIMIT).await;
    match answer.and_then(|rows| query::replication_rows(&rows)) {
        Ok(rows) => Some(rows),
        Err(e) => {
            tracing::warn!(node = primary, error = %e, "could not read pg_stat_replication");
            None
        }
    }
}

/// The `pg_stat_replication` row of node `id`, matched by backend_application_nameN.
fn row_of<'a>(
    config: &Config,
    rows: &'a [ReplicationRow],
    id: usize,
) -> Option<&'a ReplicationRow> {
    let name = config
        .backends
        .get(id)
        .map(|b| b.application_name.as_str())?;
    if name.is_empty() {
        return None;
    }
    rows.iter().find(|r| r.application_name == name)
}

fn record_replication(
    config: &Config,
    state: &ClusterState,
    primary: usize,
    rows: &[ReplicationRow],
) {
    for (id, stats) in state.health.nodes().iter().enumerate() {
        match row_of(config, rows, id).filter(|_| id != primary) {
            Some(r) => stats.set_replication(
                ReplicationState::parse(&r.state),
                SyncState::parse(&r.sync_state),
            ),
            None => stats.set_replication(ReplicationState::Unknown, SyncState::Unknown),
        }
    }
}

/// Each standby's delay: bytes behind the primary's WAL, or with delay_threshold_by_time the
/// primary's `replay_lag` in milliseconds.
fn record_delays(
    config: &Config,
    state: &ClusterState,
    primary: usize,
    seen: &[Option<WalPosition>],
    rows: &[ReplicationRow],
) {
    let by_time = !config.delay_threshold_by_time.is_zero();
    let primary_lsn = seen.get(primary).copied().flatten().and_then(|p| p.lsn);
    for node in state.nodes() {
        if node.id == primary {
            node.set_replication_delay(0);
            continue;
        }
        let delay = if by_time {
            row_of(config, rows, node.id).map(|r| r.replay_lag_ms)
        } else {
            let standby = seen
                .get(node.id)
                .copied()
                .flatten()
                .filter(|p| p.in_recovery);
            match (primary_lsn, standby) {
                (Some(p), Some(s)) => Some(p.saturating_sub(s.lsn.unwrap_or(0))),
                _ => None,
            }
        };
        let Some(delay) = delay else { continue };
        node.set_replication_delay(delay);
        log_delay(config, node.id, delay, by_time);
    }
}

fn log_delay(config: &Config, node: usize, delay: u64, by_time: bool) {
    let threshold = if by_time {
        u64::try_from(config.delay_threshold_by_time.as_millis()).unwrap_or(u64::MAX)
    } else {
        config.delay_threshold
    };
    let over = threshold > 0 && delay > threshold;
    let unit = if by_time { "ms" } else { "bytes" };
    match config.log_standby_delay {
        LogStandbyDelay::Always => tracing::info!(node, delay, unit, "replication delay"),
        LogStandbyDelay::IfOverThreshold if over => {
            tracing::warn!(
                node,
                delay,
                threshold,
                unit,
                "replication delay over threshold"
            )
        }
        _ => {}
    }
}

/// auto_failback: re-attaches a down standby that streams from the primary again, at most once
/// per auto_failback_interval.
fn fail_back(
    ctx: &Context,
    config: &Config,
    primary: usize,
    rows: &[ReplicationRow],
    memory: &mut Memory,
) {
    for node in ctx.state.nodes() {
        // A node online recovery is rebuilding is attached by the recovery when it is done.
        let recovering = ctx.state.recovering() == Some(node.id);
        if node.id == primary || node.status() != NodeStatus::Down || recovering {
            continue;
        }
        let streaming = row_of(config, rows, node.id).is_some_and(|r| r.state == "streaming");
        let recent = memory.last_failback[node.id]
            .is_some_and(|t| t.elapsed() < config.auto_failback_interval);
        if streaming && !recent {
            tracing::info!(
                node = node.id,
                "auto_failback: standby streams again; attaching"
            );
            memory.last_failback[node.id] = Some(Instant::now());
            ctx.attach(node.id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::{Node, NodeAddress};
    use crate::config::BackendConfig;

    fn setup() -> (ClusterState, Config) {
        let nodes = (0..3)
            .map(|i| {
                let address = NodeAddress::Tcp {
                    host: "h".into(),
                    port: 1,
                };
                Node::new(i, address, 1.0, NodeStatus::Waiting)
            })
            .collect();
        let backends = (0..3)
            .map(|i| BackendConfig {
                application_name: format!("node{i}"),
                ..BackendConfig::default()
            })
            .collect();
        let config = Config {
            backends,
            ..Config::default()
        };
        (ClusterState::new(nodes, 1, 1), config)
    }

    fn row(name: &str, state: &str, lag: u64) -> ReplicationRow {
        ReplicationRow {
            application_name: name.into(),
            state: state.into(),
            sync_state: "async".into(),
            replay_lag_ms: lag,
        }
    }

    fn at(in_recovery: bool, lsn: u64) -> Option<WalPosition> {
        Some(WalPosition {
            in_recovery,
            lsn: Some(lsn),
        })
    }

    #[test]
    fn delay_is_bytes_behind_the_primary() {
        let (state, config) = setup();
        let seen = [at(false, 10_000), at(true, 4_000), at(true, 12_000)];
        record_delays(&config, &state, 0, &seen, &[]);
        let delays: Vec<u64> = state
            .nodes()
            .iter()
            .map(|n| n.replication_delay())
            .collect();
        assert_eq!(
            delays,
            [0, 6_000, 0],
            "a standby sampled later may be ahead: 0"
        );
    }

    #[test]
    fn delay_by_time_is_replay_lag_matched_by_application_name() {
        let (state, mut config) = setup();
        config.delay_threshold_by_time = Duration::from_secs(1);
        let rows = [
            row("node2", "streaming", 1500),
            row("other", "streaming", 9),
        ];
        record_delays(&config, &state, 0, &[None, None, None], &rows);
        assert_eq!(state.nodes()[2].replication_delay(), 1500);
        assert_eq!(state.nodes()[1].replication_delay(), 0, "no row: unchanged");
    }

    #[test]
    fn replication_state_is_copied_to_the_matching_standby() {
        let (state, config) = setup();
        let rows = [row("node1", "streaming", 0), row("node0", "catchup", 0)];
        record_replication(&config, &state, 0, &rows);
        let h = &state.health;
        assert_eq!(
            h.nodes()[1].replication_state(),
            ReplicationState::Streaming
        );
        assert_eq!(h.nodes()[1].sync_state(), SyncState::Async);
        assert_eq!(h.nodes()[0].replication_state(), ReplicationState::Unknown);
        assert_eq!(h.nodes()[2].replication_state(), ReplicationState::Unknown);
    }
}
