//! The Prometheus endpoint and the status page: corepool's shared state rendered in the text
//! exposition format, as JSON, and as a page that polls the JSON.
//!
//! Off unless `corepool_metrics_address` is set. A plain thread answers `GET /metrics`, `/` and
//! `/status.json`; every figure is read from the lock-free cluster state at request time
//! (nothing is kept twice), and the encoding is the `prometheus-client` crate's.
//!
//! # Layout
//! - [`render`]: the metrics, as text.
//! - [`status`]: the `/status.json` document.
//! - `page`: the status page (a static file) and the JSON route.
//! - [`serve_metrics`]: the HTTP listener.

mod http;
mod page;
pub mod status;

pub use http::serve_metrics;

use std::fmt;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;

use crate::cluster::stats::LATENCY_BUCKETS_US;
use crate::cluster::ClusterState;

/// Reads the cluster state at each scrape.
#[derive(Debug)]
struct ClusterCollector {
    state: Arc<ClusterState>,
}

fn counter_family(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    rows: &[(Vec<(&str, String)>, u64)],
) -> fmt::Result {
    let mut family = encoder.encode_descriptor(name, help, None, MetricType::Counter)?;
    for (labels, value) in rows {
        ConstCounter::new(*value).encode(family.encode_family(labels)?)?;
    }
    Ok(())
}

fn gauge_family(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    rows: &[(Vec<(&str, String)>, i64)],
) -> fmt::Result {
    let mut family = encoder.encode_descriptor(name, help, None, MetricType::Gauge)?;
    for (labels, value) in rows {
        ConstGauge::new(*value).encode(family.encode_family(labels)?)?;
    }
    Ok(())
}

impl Collector for ClusterCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> fmt::Result {
        let state = &self.state;
        let node = |id: usize| ("node", id.to_string());

        let mut statements = Vec::new();
        let mut errors = Vec::new();
        for n in state.nodes() {
            let c = state.stats.node_totals(n.id);
            for (kind, v) in [
                ("select", c.select),
                ("insert", c.insert),
                ("update", c.update),
                ("delete", c.delete),
                ("ddl", c.ddl),
                ("other", c.other),
            ] {
                statements.push((vec![node(n.id), ("kind", kind.to_owned())], v));
            }
            for (severity, v) in [
                ("error", c.errors),
                ("fatal", c.fatals),
                ("panic", c.panics),
            ] {
                errors.push((vec![node(n.id), ("severity", severity.to_owned())], v));
            }
        }
        counter_family(
            &mut encoder,
            "corepool_statements",
            "Statements sent to each node, by kind",
            &statements,
        )?;
        counter_family(
            &mut encoder,
            "corepool_backend_errors",
            "ErrorResponses from each node, by severity",
            &errors,
        )?;

        let per_node =
            |f: &dyn Fn(&crate::cluster::Node) -> i64| -> Vec<(Vec<(&str, String)>, i64)> {
                state
                    .nodes()
                    .iter()
                    .map(|n| (vec![node(n.id)], f(n)))
                    .collect()
            };
        gauge_family(
            &mut encoder,
            "corepool_node_up",
            "1 when the node takes traffic (status up or waiting)",
            &per_node(&|n| i64::from(n.status().is_valid())),
        )?;
        gauge_family(
            &mut encoder,
            "corepool_node_primary",
            "1 for the node corepool treats as primary",
            &per_node(&|n| i64::from(state.primary() == Some(n.id))),
        )?;
        gauge_family(
            &mut encoder,
            "corepool_backend_sessions_in_flight",
            "Client sessions currently relaying to each node",
            &per_node(&|n| state.stats.node_totals(n.id).sessions),
        )?;
        gauge_family(
            &mut encoder,
            "corepool_replication_delay",
            "Replication delay of each standby as last measured (bytes; milliseconds with delay_threshold_by_time)",
            &per_node(&|n| n.replication_delay() as i64),
        )?;

        let idle: Vec<_> = state
            .stats
            .shards()
            .iter()
            .enumerate()
            .map(|(i, s)| (vec![("shard", i.to_string())], s.idle_connections.get()))
            .collect();
        gauge_family(
            &mut encoder,
            "corepool_pool_idle_connections",
            "Idle backend connections in each shard's pool",
            &idle,
        )?;
        let waiting: Vec<_> = state
            .stats
            .shards()
            .iter()
            .enumerate()
            .map(|(i, s)| (vec![("shard", i.to_string())], s.clients_waiting.get()))
            .collect();
        gauge_family(
            &mut encoder,
            "corepool_clients_waiting",
            "Clients accepted by each shard and waiting for a session slot",
            &waiting,
        )?;
        encode_tx_pools(state, &mut encoder)?;
        gauge_family(
            &mut encoder,
            "corepool_client_sessions",
            "Client sessions connected now",
            &[(Vec::new(), state.sessions() as i64)],
        )?;

        let (from_clients, from_backends) = state.stats.bytes();
        counter_family(
            &mut encoder,
            "corepool_bytes",
            "Bytes relayed, by direction",
            &[
                (
                    vec![("direction", "client_to_backend".to_owned())],
                    from_clients,
                ),
                (
                    vec![("direction", "backend_to_client".to_owned())],
                    from_backends,
                ),
            ],
        )?;

        let mut checks = Vec::new();
        for n in state.nodes() {
            let s = state
                .health
                .node(n.id)
                .map(|h| h.snapshot())
                .unwrap_or_default();
            for (result, v) in [
                ("success", s.success_count),
                ("fail", s.fail_count),
                ("skip", s.skip_count),
            ] {
                checks.push((vec![node(n.id), ("result", result.to_owned())], v));
            }
        }
        counter_family(
            &mut encoder,
            "corepool_health_checks",
            "Health checks of each node, by result",
            &checks,
        )?;
        counter_family(
            &mut encoder,
            "corepool_failovers",
            "Nodes detached by failover",
            &[(Vec::new(), state.stats.failovers.load(Relaxed))],
        )?;

        let mut family = encoder.encode_descriptor(
            "corepool_request_duration_seconds",
            "Time from forwarding a request to its ReadyForQuery, per node",
            None,
            MetricType::Histogram,
        )?;
        for n in state.nodes() {
            let latency = state.stats.latency(n.id);
            let (cumulative, sum_us, count) = (latency.cumulative, latency.sum_us, latency.count);
            let buckets: Vec<(f64, u64)> = LATENCY_BUCKETS_US
                .iter()
                .zip(cumulative)
                .map(|(le, c)| {
                    (
                        if *le == u64::MAX {
                            f64::INFINITY
                        } else {
                            *le as f64 / 1e6
                        },
                        c,
                    )
                })
                .collect();
            let labels = vec![node(n.id)];
            family.encode_family(&labels)?.encode_histogram::<()>(
                sum_us as f64 / 1e6,
                count,
                &buckets,
                None,
            )?;
        }
        Ok(())
    }
}

/// Transaction pools: backends by state, waiting clients, the longest wait, prepared
/// statements and re-prepares per pool; pinned clients per shard.
fn encode_tx_pools(state: &ClusterState, encoder: &mut DescriptorEncoder) -> fmt::Result {
    let rows = state.pools.rows();
    let labels = |r: &crate::cluster::pool_report::TxPoolRow| {
        vec![
            ("shard", r.shard.to_string()),
            ("database", r.database.clone()),
            ("user", r.user.clone()),
            ("node", r.node.to_string()),
        ]
    };
    let mut backends = Vec::new();
    for r in &rows {
        for (s, v) in [
            ("active", r.backends.saturating_sub(r.idle)),
            ("idle", r.idle),
        ] {
            let mut l = labels(r);
            l.push(("state", s.to_owned()));
            backends.push((l, v as i64));
        }
    }
    gauge_family(
        encoder,
        "corepool_tx_pool_backends",
        "Backends of each transaction pool, lent to a client (active) or idle",
        &backends,
    )?;
    let per_pool = |f: &dyn Fn(&crate::cluster::pool_report::TxPoolRow) -> i64| {
        rows.iter().map(|r| (labels(r), f(r))).collect::<Vec<_>>()
    };
    gauge_family(
        encoder,
        "corepool_tx_pool_clients_waiting",
        "Clients waiting for a backend of each transaction pool",
        &per_pool(&|r| r.waiting as i64),
    )?;
    gauge_family(
        encoder,
        "corepool_tx_pool_longest_wait_milliseconds",
        "How long the longest current wait of each transaction pool has lasted",
        &per_pool(&|r| r.longest_wait.as_millis() as i64),
    )?;
    gauge_family(
        encoder,
        "corepool_tx_pool_prepared_statements",
        "Named statements prepared on the idle backends of each transaction pool",
        &per_pool(&|r| r.prepared_statements as i64),
    )?;
    let counters = |f: &dyn Fn(&crate::cluster::pool_report::TxPoolRow) -> u64| {
        rows.iter().map(|r| (labels(r), f(r))).collect::<Vec<_>>()
    };
    counter_family(
        encoder,
        "corepool_tx_pool_waits",
        "Clients that waited for a backend of each transaction pool",
        &counters(&|r| r.waits),
    )?;
    counter_family(
        encoder,
        "corepool_tx_pool_wait_timeouts",
        "Waits for a backend that ran past query_wait_timeout",
        &counters(&|r| r.timeouts),
    )?;
    counter_family(
        encoder,
        "corepool_tx_pool_re_prepared",
        "Statements prepared again on a backend for a client that had them elsewhere",
        &counters(&|r| r.re_prepared),
    )?;
    let pinned: Vec<_> = state
        .stats
        .shards()
        .iter()
        .enumerate()
        .map(|(i, s)| (vec![("shard", i.to_string())], s.pinned_clients.get()))
        .collect();
    gauge_family(
        encoder,
        "corepool_pinned_clients",
        "Transaction-pooled clients pinned to their backend (state that cannot move)",
        &pinned,
    )
}

/// The metrics in Prometheus' text format.
pub fn render(state: &Arc<ClusterState>) -> String {
    let mut registry = Registry::default();
    registry.register_collector(Box::new(ClusterCollector {
        state: state.clone(),
    }));
    let mut out = String::with_capacity(4096);
    if prometheus_client::encoding::text::encode(&mut out, &registry).is_err() {
        out.clear();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::stats::StatementClass;
    use crate::cluster::{Node, NodeAddress, NodeStatus};

    #[test]
    fn renders_every_family_with_labels() {
        let nodes = (0..2)
            .map(|i| {
                Node::new(
                    i,
                    NodeAddress::Tcp {
                        host: "h".into(),
                        port: 1,
                    },
                    1.0,
                    NodeStatus::Waiting,
                )
            })
            .collect();
        let state = Arc::new(ClusterState::new(nodes, 2, 10));
        state.set_primary(Some(0));
        let shard = state.stats.shard(1);
        for _ in 0..7 {
            shard.node(1).unwrap().count(StatementClass::Select);
        }
        shard
            .node(1)
            .unwrap()
            .observe(std::time::Duration::from_micros(300));
        shard.bytes_from_backends.add(1234);
        let text = render(&state);
        assert!(
            text.contains("corepool_statements_total{node=\"1\",kind=\"select\"} 7"),
            "{text}"
        );
        assert!(
            text.contains("corepool_node_primary{node=\"0\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("corepool_bytes_total{direction=\"backend_to_client\"} 1234"),
            "{text}"
        );
        assert!(
            text.contains("corepool_request_duration_seconds_bucket{le=\"0.0005\",node=\"1\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("corepool_request_duration_seconds_count{node=\"1\"} 1"),
            "{text}"
        );
        assert!(text.ends_with("# EOF\n"), "{text}");
    }
}
