//! `/status.json`: the shared state as one typed document, for the status page and for scripts.
//!
//! The document's shape is the structs below (serde derives the encoding, so the shape is
//! declared once and checked by the compiler); [`build`] is the only code that knows where each
//! figure lives in [`ClusterState`]. Everything is read at request time, nothing is kept.
//!
//! Fields that only a future pooling mode can fill are `Option`s encoded as `null` — never a
//! zero that would look measured — and the page shows them as "n/a".

use std::sync::atomic::Ordering::Relaxed;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::Serialize;

use crate::cluster::health_stats::ReplicationState;
use crate::cluster::stats::{Latency as LatencySums, LATENCY_BUCKETS_US};
use crate::cluster::{ClusterState, Node};

/// The whole document.
#[derive(Debug, Serialize)]
pub struct Status {
    /// corepool's version.
    pub version: &'static str,
    /// When the document was made, milliseconds since the Unix epoch.
    pub generated_at_ms: u64,
    /// The node treated as primary, if any.
    pub primary: Option<usize>,
    /// Every configured node, by id.
    pub nodes: Vec<NodeView>,
    /// Client sessions and backend connections.
    pub pools: Pools,
    /// Totals over all shards.
    pub traffic: TrafficView,
    /// Recent failover and health events, oldest first.
    pub events: Vec<EventView>,
    /// Events recorded since start (more than `events` holds once old ones fell off).
    pub events_total: u64,
}

/// One backend node.
#[derive(Debug, Serialize)]
pub struct NodeView {
    /// Node id.
    pub id: usize,
    /// Host (or socket directory).
    pub host: String,
    /// Port.
    pub port: u16,
    /// `up`, `waiting`, `down` or `unused`, as `SHOW pool_nodes`.
    pub status: &'static str,
    /// `primary`, `standby` or `unknown`.
    pub role: &'static str,
    /// Configured backend_weight.
    pub weight: f64,
    /// The weight normalized over all nodes, as PCP and `SHOW pool_nodes` print it.
    pub lb_weight: f64,
    /// Replication delay as last measured (bytes; ms with delay_threshold_by_time).
    pub replication_delay: u64,
    /// `pg_stat_replication.state` as seen on the primary; null when not known.
    pub replication_state: Option<&'static str>,
    /// `pg_stat_replication.sync_state`; null when not known.
    pub sync_state: Option<&'static str>,
    /// Unix epoch seconds of the last status change.
    pub last_status_change: u64,
    /// Client sessions relaying to this node now.
    pub sessions: u32,
    /// Statements sent, by kind (counters since start).
    pub statements: Statements,
    /// ErrorResponses received, by severity (counters since start).
    pub errors: Errors,
    /// Request latency since start.
    pub latency: Latency,
    /// Health-check results since start.
    pub health: Health,
}

/// Statement counters of a node.
#[derive(Debug, Serialize)]
pub struct Statements {
    /// SELECTs.
    pub select: u64,
    /// INSERTs.
    pub insert: u64,
    /// UPDATEs.
    pub update: u64,
    /// DELETEs.
    pub delete: u64,
    /// DDL.
    pub ddl: u64,
    /// Everything else.
    pub other: u64,
}

/// Error counters of a node.
#[derive(Debug, Serialize)]
pub struct Errors {
    /// Severity ERROR.
    pub error: u64,
    /// Severity FATAL.
    pub fatal: u64,
    /// Severity PANIC.
    pub panic: u64,
}

/// A node's request-latency histogram and the percentiles read from it.
#[derive(Debug, Serialize)]
pub struct Latency {
    /// Requests measured.
    pub count: u64,
    /// Their summed duration, microseconds.
    pub sum_us: u64,
    /// Median, microseconds (interpolated within its bucket); null before any request.
    pub p50_us: Option<u64>,
    /// 95th percentile, microseconds; null before any request.
    pub p95_us: Option<u64>,
    /// 99th percentile, microseconds; null before any request.
    pub p99_us: Option<u64>,
    /// Cumulative bucket counts, Prometheus' form; the page takes differences between two
    /// polls to chart the percentiles of each interval.
    pub buckets: Vec<Bucket>,
}

/// One cumulative latency bucket.
#[derive(Debug, Serialize)]
pub struct Bucket {
    /// Upper bound in microseconds; null for +Inf.
    pub le_us: Option<u64>,
    /// Requests that took at most `le_us`.
    pub count: u64,
}

/// Health-check counters and times of a node.
#[derive(Debug, Serialize)]
pub struct Health {
    /// Checks that succeeded.
    pub success: u64,
    /// Checks that failed after their retries.
    pub fail: u64,
    /// Checks skipped because the node was down.
    pub skip: u64,
    /// Unix epoch seconds of the last check, if any.
    pub last_check: Option<u64>,
    /// Unix epoch seconds of the last failed check, if any.
    pub last_fail: Option<u64>,
}

/// Sessions and backend connections.
#[derive(Debug, Serialize)]
pub struct Pools {
    /// How backends are held: `session` (a client keeps its backend until it leaves).
    pub mode: &'static str,
    /// Client sessions connected now.
    pub client_sessions: usize,
    /// The session limit (num_init_children).
    pub max_client_sessions: usize,
    /// Clients accepted and waiting for a free session slot (or a held door).
    pub clients_waiting_for_slot: u64,
    /// Backend connections serving a session now.
    pub backends_active: u64,
    /// Idle backend connections in the shards' pools.
    pub backends_idle: u64,
    /// Clients waiting for a backend connection to be free. Null in session pooling, where a
    /// session keeps its backend; transaction pooling fills it.
    pub clients_waiting_for_backend: Option<u64>,
    /// Per shard.
    pub shards: Vec<ShardView>,
}

/// One shard's pool.
#[derive(Debug, Serialize)]
pub struct ShardView {
    /// Shard number.
    pub shard: usize,
    /// Idle backend connections in its pool (updated every 100 ms).
    pub idle_connections: u64,
    /// Clients it accepted that wait for a session slot.
    pub clients_waiting: u64,
}

/// Totals over all shards.
#[derive(Debug, Serialize)]
pub struct TrafficView {
    /// Bytes read from clients.
    pub bytes_client_to_backend: u64,
    /// Bytes read from backends.
    pub bytes_backend_to_client: u64,
    /// Nodes detached by failover since start.
    pub failovers: u64,
}

/// One recent event.
#[derive(Debug, Serialize)]
pub struct EventView {
    /// Sequence number (1, 2, …).
    pub seq: u64,
    /// Milliseconds since the Unix epoch.
    pub at_ms: u64,
    /// `node_detached`, `node_attached`, `node_promoted`, `primary_changed`, `no_primary` or
    /// `health_check_failed`.
    pub kind: &'static str,
    /// The node, if the event concerns one.
    pub node: Option<usize>,
    /// The reason or error text.
    pub detail: String,
}

/// Reads the document from `state`.
pub fn build(state: &ClusterState) -> Status {
    let total_weight: f64 = state.nodes().iter().map(Node::weight).sum();
    let nodes: Vec<NodeView> = state
        .nodes()
        .iter()
        .map(|n| node_view(state, n, total_weight))
        .collect();
    let shards: Vec<ShardView> = state
        .stats
        .shards()
        .iter()
        .enumerate()
        .map(|(shard, s)| ShardView {
            shard,
            idle_connections: s.idle_connections.get().max(0) as u64,
            clients_waiting: s.clients_waiting.get().max(0) as u64,
        })
        .collect();
    let pools = Pools {
        mode: "session",
        client_sessions: state.sessions(),
        max_client_sessions: state.max_sessions(),
        clients_waiting_for_slot: shards.iter().map(|s| s.clients_waiting).sum(),
        backends_active: nodes.iter().map(|n| u64::from(n.sessions)).sum(),
        backends_idle: shards.iter().map(|s| s.idle_connections).sum(),
        clients_waiting_for_backend: {
            let rows = state.pools.rows();
            (!rows.is_empty()).then(|| rows.iter().map(|r| r.waiting as u64).sum())
        },
        shards,
    };
    let (from_clients, from_backends) = state.stats.bytes();
    let traffic = TrafficView {
        bytes_client_to_backend: from_clients,
        bytes_backend_to_client: from_backends,
        failovers: state.stats.failovers.load(Relaxed),
    };
    let events = state
        .events
        .recent()
        .into_iter()
        .map(|e| EventView {
            seq: e.seq,
            at_ms: e.at_ms,
            kind: e.kind.name(),
            node: e.node,
            detail: e.detail,
        })
        .collect();
    Status {
        version: env!("CARGO_PKG_VERSION"),
        generated_at_ms: now_ms(),
        primary: state.primary(),
        nodes,
        pools,
        traffic,
        events,
        events_total: state.events.total(),
    }
}

/// The document as JSON text.
pub fn render_json(state: &ClusterState) -> String {
    // Serializing these plain structs cannot fail (no maps with non-string keys, no I/O).
    serde_json::to_string(&build(state)).unwrap_or_else(|_| "{}".to_owned())
}

fn node_view(state: &ClusterState, n: &Node, total_weight: f64) -> NodeView {
    let c = state.stats.node_totals(n.id);
    let health = state.health.node(n.id);
    let checks = health.map(|h| h.snapshot()).unwrap_or_default();
    let known = |s: &'static str| (!s.is_empty()).then_some(s);
    NodeView {
        id: n.id,
        host: n.address.host().to_owned(),
        port: n.address.port(),
        status: n.status().name(),
        role: n.role().name(),
        weight: n.weight(),
        lb_weight: if total_weight > 0.0 {
            n.weight() / total_weight
        } else {
            0.0
        },
        replication_delay: n.replication_delay(),
        replication_state: health
            .map(|h| h.replication_state())
            .filter(|s| *s != ReplicationState::Unknown)
            .map(|s| s.name()),
        sync_state: health.and_then(|h| known(h.sync_state().name())),
        last_status_change: n.last_status_change(),
        sessions: u32::try_from(c.sessions.max(0)).unwrap_or(u32::MAX),
        statements: Statements {
            select: c.select,
            insert: c.insert,
            update: c.update,
            delete: c.delete,
            ddl: c.ddl,
            other: c.other,
        },
        errors: Errors {
            error: c.errors,
            fatal: c.fatals,
            panic: c.panics,
        },
        latency: latency_view(&state.stats.latency(n.id)),
        health: Health {
            success: checks.success_count,
            fail: checks.fail_count,
            skip: checks.skip_count,
            last_check: checks.last_check,
            last_fail: checks.last_fail,
        },
    }
}

fn latency_view(h: &LatencySums) -> Latency {
    let (cumulative, sum_us, count) = (h.cumulative, h.sum_us, h.count);
    Latency {
        count,
        sum_us,
        p50_us: percentile(&cumulative, 0.50),
        p95_us: percentile(&cumulative, 0.95),
        p99_us: percentile(&cumulative, 0.99),
        buckets: LATENCY_BUCKETS_US
            .iter()
            .zip(cumulative)
            .map(|(le, count)| Bucket {
                le_us: (*le != u64::MAX).then_some(*le),
                count,
            })
            .collect(),
    }
}

/// The `q` quantile of cumulative bucket counts, interpolated linearly inside its bucket (as
/// Prometheus' `histogram_quantile` does); the +Inf bucket answers its lower bound.
pub fn percentile(cumulative: &[u64], q: f64) -> Option<u64> {
    let total = *cumulative.last()?;
    if total == 0 {
        return None;
    }
    let rank = q * total as f64;
    let i = cumulative.iter().position(|c| *c as f64 >= rank)?;
    let lower = if i == 0 { 0 } else { LATENCY_BUCKETS_US[i - 1] };
    let upper = LATENCY_BUCKETS_US[i];
    if upper == u64::MAX {
        return Some(lower);
    }
    let below = if i == 0 { 0 } else { cumulative[i - 1] };
    let in_bucket = cumulative[i] - below;
    let fraction = if in_bucket == 0 {
        1.0
    } else {
        (rank - below as f64) / in_bucket as f64
    };
    Some(lower + ((upper - lower) as f64 * fraction).round() as u64)
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::events::EventKind;
    use crate::cluster::{NodeAddress, NodeStatus};
    use std::time::Duration;

    fn state() -> ClusterState {
        let nodes = (0..2)
            .map(|i| {
                let address = NodeAddress::Tcp {
                    host: "10.0.0.1".into(),
                    port: 5432 + i as u16,
                };
                Node::new(i, address, 1.0, NodeStatus::Waiting)
            })
            .collect();
        ClusterState::new(nodes, 2, 10)
    }

    #[test]
    fn the_document_reads_the_shared_state() {
        let s = state();
        s.adopt_primary(Some(0));
        s.node(1).unwrap().set_status(NodeStatus::Down);
        let node0 = s.stats.shard(0).node(0).unwrap();
        for _ in 0..3 {
            node0.count(crate::cluster::stats::StatementClass::Select);
        }
        for us in [50, 200, 400, 3000] {
            node0.observe(Duration::from_micros(us));
        }
        s.stats.shard(1).idle_connections.set(4);
        s.stats.shard(0).clients_waiting.set(2);
        s.events
            .record(EventKind::NodeDetached, Some(1), "health check failed");
        let doc = build(&s);
        assert_eq!(doc.primary, Some(0));
        assert_eq!(doc.nodes[0].role, "primary");
        assert_eq!(doc.nodes[1].status, "down");
        assert_eq!(doc.nodes[1].lb_weight, 0.5);
        assert_eq!(doc.nodes[0].statements.select, 3);
        assert_eq!(doc.nodes[0].latency.count, 4);
        assert_eq!(doc.nodes[1].latency.p50_us, None);
        assert_eq!(doc.pools.backends_idle, 4);
        assert_eq!(doc.pools.clients_waiting_for_slot, 2);
        assert_eq!(doc.events[0].kind, "node_detached");
        let json: serde_json::Value = serde_json::from_str(&render_json(&s)).unwrap();
        assert!(json["pools"]["clients_waiting_for_backend"].is_null());
        assert_eq!(
            json["nodes"][0]["latency"]["buckets"][13]["le_us"],
            serde_json::Value::Null
        );
        assert_eq!(json["events"][0]["node"], 1);
    }

    #[test]
    fn percentiles_interpolate_inside_buckets() {
        let stats = crate::cluster::stats::Stats::new(1, 1);
        let h = stats.shard(0).node(0).unwrap();
        assert_eq!(percentile(&stats.latency(0).cumulative, 0.5), None);
        for _ in 0..100 {
            h.observe(Duration::from_micros(300)); // the 250..500 bucket
        }
        let c = stats.latency(0).cumulative;
        assert_eq!(percentile(&c, 0.5), Some(375));
        assert_eq!(percentile(&c, 1.0), Some(500));
        h.observe(Duration::from_secs(60));
        let c = stats.latency(0).cumulative;
        assert_eq!(
            percentile(&c, 1.0),
            Some(5_000_000),
            "+Inf answers its lower bound"
        );
    }
}
