//! One health check of a node (PGB-5.2): connect and authenticate as health_check_user, retry,
//! record statistics, and ask failover to detach the node when every try failed.

use std::time::Instant;

use corepool_client::ConnectOptions;

use super::query::{self, CheckError};
use super::Context;
use crate::cluster::events::EventKind;
use crate::runtime;

/// Runs one health check of `id` with its retries. A down or unused node is skipped.
pub async fn run(ctx: &Context, id: usize) {
    let (config, auth) = (ctx.settings)();
    let (Some(node), Some(stats)) = (ctx.state.node(id), ctx.state.health.node(id)) else {
        return;
    };
    if !node.status().is_valid() {
        stats.record_skip();
        return;
    }
    let hc = config.health_check_for(id);
    let mut opts = query::health_options(&hc, &node.address, &auth);
    let started = Instant::now();
    let mut retries: u32 = 0;
    let error = loop {
        match attempt(&mut opts, hc.database.is_empty(), hc.timeout).await {
            Ok(()) => {
                stats.record_check(true, u64::from(retries), started.elapsed());
                ctx.node_ok(id);
                return;
            }
            Err(e) if retries >= hc.max_retries || !node.status().is_valid() => break e,
            Err(e) => {
                retries += 1;
                tracing::warn!(node = id, retry = retries, error = %e, "health check failed; retrying");
                runtime::sleep(hc.retry_delay).await;
            }
        }
    };
    stats.record_check(false, u64::from(retries), started.elapsed());
    if !node.status().is_valid() {
        return;
    }
    tracing::error!(node = id, error = %error, "health check failed");
    ctx.state
        .events
        .record(EventKind::HealthCheckFailed, Some(id), error.to_string());
    ctx.detach(id, "health check failed");
}

/// Checks `id` once after a session lost its connection to it, and detaches it when it is
/// unreachable or shutting down and failover_on_backend_error or failover_on_backend_shutdown
/// is on. A node that answers (even refusing the check's user) stays attached.
pub async fn verify(ctx: &Context, id: usize) {
    let (config, auth) = (ctx.settings)();
    if !(config.failover_on_backend_error || config.failover_on_backend_shutdown) {
        return;
    }
    let Some(node) = ctx.state.node(id).filter(|n| n.status().is_valid()) else {
        return;
    };
    let hc = config.health_check_for(id);
    let mut opts = query::health_options(&hc, &node.address, &auth);
    match attempt(&mut opts, hc.database.is_empty(), hc.timeout).await {
        Err(e) if e.is_node_down() => {
            tracing::error!(node = id, error = %e, "backend connection lost and the node does not answer");
            ctx.state
                .events
                .record(EventKind::HealthCheckFailed, Some(id), e.to_string());
            ctx.detach(id, "backend connection lost");
        }
        Err(e) => tracing::debug!(node = id, error = %e, "node answers after a lost connection"),
        Ok(()) => tracing::debug!(node = id, "node answers after a lost connection"),
    }
}

/// One try. With no health_check_database configured, `postgres` is tried and then `template1`
/// when `postgres` does not exist (what the check remembers for the next tries).
async fn attempt(
    opts: &mut ConnectOptions,
    default_database: bool,
    limit: std::time::Duration,
) -> Result<(), CheckError> {
    match query::connect_and_close(opts, limit).await {
        Err(e) if default_database && e.is_missing_database() => {
            opts.database = Some("template1".into());
            query::connect_and_close(opts, limit).await
        }
        other => other,
    }
}
