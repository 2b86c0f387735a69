//! Read-only PCP answers: node count and info, health check stats, processes, pool status,
//! watchdog.

use bytes::BytesMut;
use corepool_protocol::pcp::node::{
    BackendStatus, HealthCheckStats, NodeInfo, PgRole, PgStatus, Role, RAND_MAX,
};
use corepool_protocol::pcp::process::{ProcessInfo, ProcessStatus};
use corepool_protocol::pcp::response::{self, ConfigRow};
use corepool_protocol::pcp::tags::{
    NODE_INFO_REPLY_TAG, POOL_STATUS_REPLY_TAG, PROCESS_INFO_REPLY_TAG,
};
use corepool_protocol::pcp::{Report, Request};

use super::reply::{error_report, internal};
use super::PcpContext;
use crate::cluster::sessions::Activity;
use crate::cluster::{NodeStatus, SessionInfo};
use crate::config::{ClusteringMode, Config};
use crate::failover::probe::ProbeResult;
use crate::report::{format_local, pool_status};

/// Answers a read-only request.
pub(super) fn answer(
    ctx: &PcpContext,
    request: Request<'_>,
    out: &mut BytesMut,
) -> Result<(), Report> {
    match request {
        Request::NodeCount => {
            response::write_node_count(out, ctx.state().nodes().len() as u32).map_err(internal)
        }
        Request::NodeInfo { node_id } => node_info(ctx, node_id, out),
        Request::HealthCheckStats { node_id } => health_check_stats(ctx, node_id, out),
        Request::ProcessCount => {
            let pids: Vec<i32> = ctx
                .state()
                .registry
                .snapshot()
                .iter()
                .map(|s| s.process_id)
                .collect();
            response::write_process_count(out, &pids).map_err(internal)
        }
        Request::ProcessInfo { pid } => process_info(ctx, pid, out),
        Request::PoolStatus => pool_status_rows(ctx, out),
        // Without the watchdog, answer as Pgpool-II does with use_watchdog = off.
        Request::WatchdogInfo { watchdog_id } => match ctx.failover.coordinator() {
            None => Err(Report::watchdog_not_enabled()),
            Some(c) => match c.watchdog_info(watchdog_id) {
                Some(json) => response::write_watchdog_info(out, &json).map_err(internal),
                None => Err(error_report(
                    "PCP: informing watchdog info failed",
                    Some(format!("invalid watchdog index {watchdog_id}")),
                )),
            },
        },
        _ => Ok(()),
    }
}

fn node_info(ctx: &PcpContext, node_id: i32, out: &mut BytesMut) -> Result<(), Report> {
    let state = ctx.state();
    let count = state.nodes().len();
    let ids: Vec<usize> = match node_id {
        -1 => (0..count).collect(),
        n if n >= 0 && (n as usize) < count => vec![n as usize],
        n => {
            return Err(error_report(
                "informing node info failed",
                Some(format!("invalid node ID : {n}")),
            ))
        }
    };
    let config = ctx.config();
    let live = live_checks(ctx, &config, &ids);
    let total: f64 = state.nodes().iter().map(|n| n.weight()).sum();
    response::write_array_size(out, NODE_INFO_REPLY_TAG, ids.len() as u32).map_err(internal)?;
    for (i, (pg_status, pg_role)) in ids.iter().zip(live) {
        let n = &state.nodes()[*i];
        let host = config
            .backends
            .get(*i)
            .map(|b| b.hostname.clone())
            .unwrap_or_else(|| n.address.host().to_owned());
        let weight = if total > 0.0 { n.weight() / total } else { 0.0 };
        let health = state.health.node(*i);
        let rep_state = health.map_or("", |h| h.replication_state().name());
        let sync_state = health.map_or("", |h| h.sync_state().name());
        let info = NodeInfo {
            hostname: &host,
            port: i32::from(n.address.port()),
            status: backend_status(n.status()),
            quarantine: false,
            pg_status,
            weight: weight * RAND_MAX,
            role: role_of(ctx, &config, *i),
            pg_role,
            standby_delay: n.replication_delay(),
            replication_state: rep_state,
            replication_sync_state: sync_state,
            status_changed_time: n.last_status_change(),
        };
        response::write_node_info(out, &info).map_err(internal)?;
    }
    response::write_command_complete(out, NODE_INFO_REPLY_TAG).map_err(internal)
}

/// The live columns: `pg_status` from a connection when health checking is on for the node,
/// `pg_role` from `pg_is_in_recovery()` when sr_check_period is set (streaming mode).
fn live_checks(ctx: &PcpContext, config: &Config, ids: &[usize]) -> Vec<(PgStatus, PgRole)> {
    let state = ctx.state();
    let streaming = config.backend_clustering_mode == ClusteringMode::StreamingReplication;
    let want = |i: usize| {
        let hc = config.health_check_for(i).period.as_secs() > 0;
        let sr = streaming
            && config.sr_check_period.as_secs() > 0
            && state.nodes()[i].status().is_valid();
        (hc, sr)
    };
    let targets: Vec<_> = ids
        .iter()
        .filter(|i| {
            let (hc, sr) = want(**i);
            hc || sr
        })
        .map(|i| (*i, state.nodes()[*i].address.clone()))
        .collect();
    let results = if targets.is_empty() {
        Vec::new()
    } else {
        ctx.failover.probe().probe(config, &targets)
    };
    ids.iter()
        .map(|i| {
            let (hc, sr) = want(*i);
            let probed = targets
                .iter()
                .position(|(t, _)| t == i)
                .and_then(|p| results.get(p).copied());
            let pg_status = match (hc, probed) {
                _ if state.recovering() == Some(*i) => PgStatus::Recovering,
                (false, _) | (true, None) => PgStatus::Unknown,
                (true, Some(ProbeResult::Unreachable)) => PgStatus::Down,
                (true, Some(_)) => PgStatus::Up,
            };
            let pg_role = if !streaming {
                match role_of(ctx, config, *i) {
                    Role::Main => PgRole::Main,
                    _ => PgRole::Replica,
                }
            } else {
                match (sr, probed) {
                    (true, Some(ProbeResult::Primary)) => PgRole::Primary,
                    (true, Some(ProbeResult::Standby)) => PgRole::Standby,
                    _ => PgRole::Unknown,
                }
            };
            (pg_status, pg_role)
        })
        .collect()
}

fn backend_status(s: NodeStatus) -> BackendStatus {
    match s {
        NodeStatus::Unused => BackendStatus::Unused,
        NodeStatus::Waiting => BackendStatus::ConnectWait,
        NodeStatus::Up => BackendStatus::Up,
        NodeStatus::Down => BackendStatus::Down,
    }
}

/// Streaming: primary or standby; other modes: the main node (smallest live id) or replica.
fn role_of(ctx: &PcpContext, config: &Config, id: usize) -> Role {
    if config.backend_clustering_mode == ClusteringMode::StreamingReplication {
        if ctx.state().primary() == Some(id) {
            Role::Primary
        } else {
            Role::Standby
        }
    } else if crate::failover::main_node(ctx.state()) == Some(id) {
        Role::Main
    } else {
        Role::Replica
    }
}

fn health_check_stats(ctx: &PcpContext, node_id: i32, out: &mut BytesMut) -> Result<(), Report> {
    let state = ctx.state();
    let config = ctx.config();
    let failed =
        |detail: String| error_report("informing health check stats info failed", Some(detail));
    if node_id < 0 || node_id as usize > state.nodes().len() {
        return Err(failed(format!("invalid node ID {node_id}")));
    }
    let Some(n) = state.node(node_id as usize) else {
        return Err(failed(format!(
            "stats data for node ID {node_id} does not exist"
        )));
    };
    let host = config
        .backends
        .get(n.id)
        .map(|b| b.hostname.clone())
        .unwrap_or_else(|| n.address.host().to_owned());
    let changed = format_local(n.last_status_change());
    let h = state
        .health
        .node(n.id)
        .map(|h| h.snapshot())
        .unwrap_or_default();
    let when = |t: Option<u64>| t.map(format_local).unwrap_or_default();
    let (last, ok, skip, fail) = (
        when(h.last_check),
        when(h.last_success),
        when(h.last_skip),
        when(h.last_fail),
    );
    let int = |v: u64| i32::try_from(v).unwrap_or(i32::MAX);
    let stats = HealthCheckStats {
        node_id,
        hostname: &host,
        port: i32::from(n.address.port()),
        status: backend_status(n.status()).name(false),
        role: role_of(ctx, &config, n.id),
        last_status_change: &changed,
        total_count: h.total_count,
        success_count: h.success_count,
        fail_count: h.fail_count,
        skip_count: h.skip_count,
        retry_count: h.retry_count,
        average_retry_count: h.average_retry_count,
        max_retry_count: int(h.max_retry_count),
        max_health_check_duration: int(h.max_duration_ms),
        min_health_check_duration: int(h.min_duration_ms),
        average_health_check_duration: h.average_duration_ms,
        last_health_check: &last,
        last_successful_health_check: &ok,
        last_skip_health_check: &skip,
        last_failed_health_check: &fail,
    };
    response::write_health_check_stats(out, &stats).map_err(internal)
}

fn process_info(ctx: &PcpContext, pid: i32, out: &mut BytesMut) -> Result<(), Report> {
    let sessions: Vec<SessionInfo> = ctx
        .state()
        .registry
        .snapshot()
        .into_iter()
        .filter(|s| pid == 0 || s.process_id == pid)
        .collect();
    if pid != 0 && sessions.is_empty() {
        return Err(error_report(
            "informing process info failed",
            Some(format!("invalid process ID : {pid}")),
        ));
    }
    response::write_array_size(out, PROCESS_INFO_REPLY_TAG, sessions.len() as u32)
        .map_err(internal)?;
    for s in &sessions {
        let connected = format_local(s.connected_at);
        let backend = format_local(s.backend_connected_at);
        let info = ProcessInfo {
            pool_pid: s.process_id,
            start_time: &connected,
            client_connection_count: 1,
            pool_id: 0,
            backend_id: s.node as i32,
            database: &s.database,
            username: &s.user,
            backend_connection_time: &backend,
            client_connection_time: &connected,
            client_disconnection_time: "",
            client_idle_duration: "0",
            major_version: 3,
            minor_version: 0,
            pool_counter: 1,
            pool_backend_pid: s.backend_pid,
            pool_connected: true,
            status: match s.activity {
                Activity::Idle => ProcessStatus::Idle,
                Activity::IdleInTransaction => ProcessStatus::IdleInTransaction,
                Activity::Executing => ProcessStatus::ExecuteCommand,
            },
        };
        response::write_process_info(out, &info).map_err(internal)?;
    }
    response::write_command_complete(out, PROCESS_INFO_REPLY_TAG).map_err(internal)
}

fn pool_status_rows(ctx: &PcpContext, out: &mut BytesMut) -> Result<(), Report> {
    let rows = pool_status::rows(&ctx.config(), ctx.state());
    response::write_array_size(out, POOL_STATUS_REPLY_TAG, rows.len() as u32).map_err(internal)?;
    for r in &rows {
        let row = ConfigRow {
            name: &r.name,
            value: &r.value,
            description: &r.description,
        };
        response::write_config_row(out, &row).map_err(internal)?;
    }
    response::write_command_complete(out, POOL_STATUS_REPLY_TAG).map_err(internal)
}
