//! Pgpool-II's way, in streaming replication mode: recovery_user logs in to the primary's
//! `template1` and calls the pgpool_recovery extension — `pgpool_recovery(...)` runs
//! recovery_1st_stage_command (when set), `pgpool_remote_start(...)` starts the node — then
//! waits for the node to accept connections (`recovery.c`: `exec_recovery`,
//! `exec_remote_start`, `check_postmaster_started`). The 2nd stage and its CHECKPOINTs belong
//! to native replication mode and are never run here.

use corepool_client::Connection;

use super::error::result_error_message;
use super::{conn, sql, wait, RecoveryError, Target};

/// Runs the 1st stage (when configured) and the remote start, then waits for the node.
pub(super) fn run(t: &Target<'_>) -> Result<(), RecoveryError> {
    let config = t.config;
    let script = config.recovery_1st_stage_command.trim().to_owned();
    let backend = |i: usize| config.backends.get(i).cloned().unwrap_or_default();
    let (primary, recovered) = (backend(t.primary), backend(t.node));
    let remote_host = sql::script_host(&recovered.hostname).to_owned();
    let first_stage = (!script.is_empty()).then(|| {
        sql::FirstStage {
            script: &script,
            remote_host: &remote_host,
            remote_data_directory: &recovered.data_directory,
            primary_port: t.address(t.primary).port(),
            remote_node: t.node,
            remote_port: t.address(t.node).port(),
            primary_host: sql::script_host(&primary.hostname),
        }
        .call()
    });
    let remote_start = sql::remote_start(&remote_host, &recovered.data_directory);
    let opts = conn::options(config, t.auth, &t.address(t.primary), "template1");
    let (node, primary_id) = (t.node, t.primary);
    let script_name = script.clone();
    conn::run(async move {
        let mut c =
            Connection::connect(&opts)
                .await
                .map_err(|e| RecoveryError::ConnectPrimary {
                    node: primary_id,
                    source: Box::new(e),
                })?;
        let result = stages(&mut c, first_stage, &remote_start, script_name, node).await;
        c.close().await;
        result
    })?;
    tracing::info!(
        node = t.node,
        "node recovery: remote start done, waiting for the node"
    );
    let opts = conn::options(config, t.auth, &t.address(t.node), "postgres");
    wait::until_accepting(opts, &recovered.hostname, config.recovery_timeout)
}

async fn stages(
    c: &mut Connection,
    first_stage: Option<String>,
    remote_start: &str,
    script: String,
    node: usize,
) -> Result<(), RecoveryError> {
    if let Some(call) = first_stage {
        tracing::info!(node, command = %call, "executing recovery: starting recovery command");
        c.simple_query(sql::DISABLE_STATEMENT_TIMEOUT)
            .await
            .map_err(|e| RecoveryError::StatementTimeout(Box::new(e)))?;
        c.simple_query(&call)
            .await
            .map_err(|e| RecoveryError::FirstStage {
                script,
                source: Box::new(e),
            })?;
        tracing::info!(node, "node recovery, 1st stage is done");
    }
    c.simple_query(remote_start)
        .await
        .map_err(|e| RecoveryError::RemoteStart(result_error_message(&e)))?;
    Ok(())
}
