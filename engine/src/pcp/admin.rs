//! State-changing PCP answers: detach, attach, promote, stop, reload, recovery, set parameter,
//! invalidate the query cache.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use corepool_protocol::pcp::request::{Scope, ShutdownMode as PcpMode};
use corepool_protocol::pcp::tags::{
    ATTACH_NODE_REPLY_TAG, DETACH_NODE_REPLY_TAG, INVALIDATE_QUERY_CACHE_REPLY_TAG,
    RELOAD_CONFIG_REPLY_TAG, SET_PARAMETER_REPLY_TAG, STOP_PGPOOL_REPLY_TAG,
};
use corepool_protocol::pcp::{response, Report, Request, Severity};

use super::reply::{error_report, internal, report, After, ConnState};
use super::PcpContext;
use crate::cluster::{AdmissionHold, ShutdownMode};
use crate::config::ClusteringMode;
use crate::failover::coordinator::{AdminOp, CoordinatorError};
use crate::failover::{Busy, Failover, FailoverError};
use crate::recovery::RecoveryError;

/// How long a graceful detach or promote waits for clients to leave (pgpool's recovery_timeout
/// default).
const GRACE: Duration = Duration::from_secs(90);

/// Answers a state-changing request.
pub(super) fn answer(
    ctx: &PcpContext,
    conn: &mut ConnState,
    request: Request<'_>,
    out: &mut BytesMut,
) -> Result<After, Report> {
    match request {
        Request::DetachNode {
            node_id,
            gracefully,
        } => {
            let f = &ctx.failover;
            let node = f
                .check_detach(i64::from(node_id))
                .map_err(failover_report)?;
            if let Some(c) = f.coordinator() {
                let _held = gracefully.then(|| wait_for_clients(ctx));
                c.request(AdminOp::Detach { node }, gracefully)
                    .map_err(watchdog_report)?;
            } else if gracefully {
                let _held = wait_for_clients(ctx);
                f.detach(i64::from(node_id), "PCP detach (gracefully)")
                    .map_err(failover_report)?;
            } else {
                in_background(f, move |f| f.detach(i64::from(node_id), "PCP detach"));
            }
            ok(out, DETACH_NODE_REPLY_TAG)
        }
        Request::AttachNode { node_id } => {
            let node = ctx
                .failover
                .check_attach(i64::from(node_id))
                .map_err(failover_report)?;
            match ctx.failover.coordinator() {
                Some(c) => c
                    .request(AdminOp::Attach { node }, false)
                    .map_err(watchdog_report)?,
                None => in_background(&ctx.failover, move |f| f.attach(i64::from(node_id))),
            }
            ok(out, ATTACH_NODE_REPLY_TAG)
        }
        Request::PromoteNode {
            node_id,
            gracefully,
            switchover,
        } => promote(ctx, i64::from(node_id), gracefully, switchover, out),
        Request::RecoveryNode { node_id } => recovery(ctx, node_id, out),
        Request::StopPgpool { mode, scope: _ } => {
            refuse_when_busy(&ctx.failover)?;
            response::write_command_complete(out, STOP_PGPOOL_REPLY_TAG).map_err(internal)?;
            Ok(After::Stop(match mode {
                PcpMode::Smart => ShutdownMode::Smart,
                PcpMode::Fast => ShutdownMode::Fast,
                PcpMode::Immediate => ShutdownMode::Immediate,
            }))
        }
        Request::ReloadConfig { scope } => {
            if scope == Scope::Cluster {
                tracing::info!("PCP: cluster reload without a watchdog reloads this node");
            }
            ctx.reload();
            ok(out, RELOAD_CONFIG_REPLY_TAG)
        }
        Request::InvalidateQueryCache => match ctx.state().query_cache.as_ref() {
            Some(cache) => {
                tracing::info!("PCP: invalidating the query cache");
                cache.clear();
                ok(out, INVALIDATE_QUERY_CACHE_REPLY_TAG)
            }
            // Pgpool-II's wording (pcp_worker.c).
            None => Err(error_report("query cache is not enabled", None)),
        },
        Request::SetParameter { name, value } => {
            set_parameter(conn, name, value)?;
            ok(out, SET_PARAMETER_REPLY_TAG)
        }
        _ => Ok(After::Continue),
    }
}

fn ok(out: &mut BytesMut, tag: u8) -> Result<After, Report> {
    response::write_command_complete(out, tag).map_err(internal)?;
    Ok(After::Continue)
}

/// Runs a failover operation on its own thread (PCP answers D, C and J at once, as pgpool
/// queues them).
fn in_background(
    f: &Arc<Failover>,
    op: impl FnOnce(&Failover) -> Result<(), FailoverError> + Send + 'static,
) {
    let f = f.clone();
    let spawned = std::thread::Builder::new()
        .name("corepool-failover".into())
        .spawn(move || {
            if let Err(e) = op(&f) {
                tracing::warn!(error = %e, "PCP request refused");
            }
        });
    if let Err(e) = spawned {
        tracing::error!(error = %e, "could not start a failover thread");
    }
}

fn promote(
    ctx: &PcpContext,
    node: i64,
    gracefully: bool,
    switchover: bool,
    out: &mut BytesMut,
) -> Result<After, Report> {
    let state = ctx.state();
    let config = ctx.config();
    if node < 0 || node as usize >= state.nodes().len() {
        return Err(error_report(
            "could not process promote request",
            Some(format!("node id {node} is not valid")),
        ));
    }
    if config.backend_clustering_mode != ClusteringMode::StreamingReplication {
        return Err(report(
            Severity::Fatal,
            "invalid pgpool mode for process promote request",
            None,
        ));
    }
    if state.primary() == Some(node as usize) {
        return Err(report(
            Severity::Fatal,
            "invalid promote request",
            Some(format!(
                "specified node is already primary node, can't promote node id {node}"
            )),
        ));
    }
    if let Some(c) = ctx.failover.coordinator() {
        let _held = gracefully.then(|| wait_for_clients(ctx));
        let op = AdminOp::Promote {
            node: node as usize,
            switchover,
        };
        c.request(op, gracefully).map_err(watchdog_report)?;
    } else if gracefully {
        let _held = wait_for_clients(ctx);
        ctx.failover
            .promote(node, switchover)
            .map_err(failover_report)?;
    } else {
        in_background(&ctx.failover, move |f| f.promote(node, switchover));
    }
    ok(out, DETACH_NODE_REPLY_TAG)
}

/// `O`: online recovery. The checks of Pgpool-II's `process_recovery_request`, then the
/// recovery itself on this thread (the reply waits for it, as in Pgpool-II); `c` when the node
/// is recovered and attached.
fn recovery(ctx: &PcpContext, node_id: i32, out: &mut BytesMut) -> Result<After, Report> {
    refuse_when_busy(&ctx.failover)?;
    let state = ctx.state();
    let failed = |detail: String| error_report("process recovery request failed", Some(detail));
    if node_id < 0 || node_id as usize >= state.nodes().len() {
        return Err(failed(format!("node id {node_id} is not valid")));
    }
    let config = ctx.config();
    if config.backend_clustering_mode != ClusteringMode::StreamingReplication {
        return Err(failed(
            "recovery request is only allowed in replication and streaming replication modes."
                .into(),
        ));
    }
    if state.primary() == Some(node_id as usize) {
        return Err(failed(
            "primary server cannot be recovered by online recovery.".into(),
        ));
    }
    let auth = ctx.auth();
    match crate::recovery::recover(&ctx.failover, &auth, node_id) {
        Ok(_) => ok(out, ATTACH_NODE_REPLY_TAG),
        Err(e) => {
            tracing::error!(node = node_id, error = %e, detail = ?e.detail(), source = ?std::error::Error::source(&e).map(|s| s.to_string()), "online recovery failed");
            Err(recovery_report(&e))
        }
    }
}

/// A failed recovery as Pgpool-II reports it: ERROR (FATAL for a second recovery at once),
/// naming `recovery.c` or `pcp_worker.c`.
fn recovery_report(e: &RecoveryError) -> Report {
    let severity = if e.is_fatal() {
        Severity::Fatal
    } else {
        Severity::Error
    };
    Report {
        severity,
        message: e.to_string().into_bytes().into(),
        detail: e.detail().map(|d| d.into_bytes().into()),
        file: e.source_file(),
        line: 0,
    }
}

/// Refuses stop and recovery while a failover, failback or promotion runs.
fn refuse_when_busy(f: &Failover) -> Result<(), Report> {
    let detail = match f.busy() {
        Busy::Idle => return Ok(()),
        Busy::Failover => "failover is in progress",
        Busy::Failback => "failback is in progress",
        Busy::Promote => "promote node operation is in progress",
    };
    Err(error_report(
        "failed to process PCP request at the moment",
        Some(detail.into()),
    ))
}

/// Waits until no client session is connected, at most [`GRACE`].
/// Holds new clients and waits (up to [`GRACE`]) for the connected ones to leave; new clients
/// stay held until the returned guard is dropped, after the operation.
fn wait_for_clients(ctx: &PcpContext) -> AdmissionHold<'_> {
    let held = ctx.state().hold_admission();
    let until = Instant::now() + GRACE;
    while ctx.state().sessions() > 0 && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(100));
    }
    held
}

/// `A`: only client_min_messages, with the levels pgpool accepts.
fn set_parameter(conn: &mut ConnState, name: &str, value: &str) -> Result<(), Report> {
    const LEVELS: [&str; 11] = [
        "debug5",
        "debug4",
        "debug3",
        "debug2",
        "debug1",
        "log",
        "commerror",
        "info",
        "notice",
        "warning",
        "error",
    ];
    if !name.eq_ignore_ascii_case("client_min_messages") {
        return Err(Report::invalid_parameter(name.as_bytes()));
    }
    let level = value.to_ascii_lowercase();
    if !LEVELS.contains(&level.as_str()) {
        return Err(Report::invalid_parameter_value(
            name.as_bytes(),
            value.as_bytes(),
        ));
    }
    conn.client_min_messages = level;
    Ok(())
}

/// A request the watchdog could not take.
fn watchdog_report(e: CoordinatorError) -> Report {
    error_report(
        "failed to process PCP request at the moment",
        Some(e.to_string()),
    )
}

/// A refused failover request as pgpool reports it.
fn failover_report(e: FailoverError) -> Report {
    error_report(&e.to_string(), None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_client_min_messages_can_be_set() {
        let mut c = ConnState {
            client_min_messages: "notice".into(),
        };
        assert!(set_parameter(&mut c, "client_min_messages", "DEBUG1").is_ok());
        assert_eq!(c.client_min_messages, "debug1");
        let e = set_parameter(&mut c, "log_min_messages", "info").unwrap_err();
        assert_eq!(
            &e.detail.unwrap()[..],
            b"invalid parameter \"log_min_messages\""
        );
        assert!(set_parameter(&mut c, "client_min_messages", "loud").is_err());
    }
}
