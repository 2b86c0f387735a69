//! Online recovery (`pcp_recovery_node`): rebuild a detached standby from the primary, start
//! it, and attach it, while clients keep being served by the other nodes.
//!
//! Two ways, chosen per request:
//! - **Pgpool-II's** ([`pgpool`]): recovery_user calls the pgpool_recovery extension on the
//!   primary — `pgpool_recovery()` runs recovery_1st_stage_command, `pgpool_remote_start()`
//!   starts the node — and corepool waits for the node to accept connections, as Pgpool-II 4.3
//!   does in streaming replication mode.
//! - **corepool's own** ([`local`]): with no recovery_1st_stage_command and the node's
//!   backend_data_directory on this host, corepool takes the base backup itself into that
//!   directory, starts the server with `pg_ctl` as the directory's owner and waits until it
//!   streams. No scripts.
//!
//! Either way the node stays detached (and is shown `recovering`, [`ClusterState::recovering`])
//! until it is attached at the end; any failure leaves it detached and is reported with
//! Pgpool-II's wording ([`RecoveryError`]).
//!
//! # Layout
//! - this file: [`recover`]: the checks, the one-at-a-time mark, the choice of way, the attach.
//! - [`error`]: [`RecoveryError`] and its report text.
//! - [`sql`]: the SQL sent, as text (pure, tested).
//! - `conn`: recovery_user's connection options; async work run on the calling thread.
//! - `wait`: waiting for the node to accept connections, and to stream.
//! - `pgpool`, `local`: the two ways; `pgctl`: the directory's owner, chown, pg_ctl.
//!
//! Everything here blocks (scripts, a base backup, waits up to recovery_timeout): it runs on a
//! PCP worker thread. Connections run on that thread's own small ring
//! (`corepool_runtime::block_on`); the base backup runs on the backup crate's own executors.
//!
//! [`ClusterState::recovering`]: crate::cluster::ClusterState::recovering

pub mod error;
pub mod sql;

mod conn;
mod local;
mod pgctl;
mod pgpool;
mod wait;

use std::path::PathBuf;

pub use error::RecoveryError;
pub use pgctl::START_LOG;

use crate::auth::files::AuthFiles;
use crate::cluster::{ClusterState, NodeAddress, NodeStatus};
use crate::config::Config;
use crate::failover::{main_node, Failover};

/// How a node was recovered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Way {
    /// Through the pgpool_recovery extension's functions and scripts.
    Pgpool,
    /// corepool's own base backup into this data directory.
    BaseBackup(PathBuf),
}

/// One recovery: the node, the node copied from, and what they run with.
struct Target<'a> {
    node: usize,
    primary: usize,
    config: &'a Config,
    auth: &'a AuthFiles,
    state: &'a ClusterState,
}

impl Target<'_> {
    fn address(&self, node: usize) -> NodeAddress {
        self.state.nodes()[node].address.clone()
    }
}

/// Recovers `node_id` and attaches it. Blocks for as long as the recovery takes.
pub fn recover(failover: &Failover, auth: &AuthFiles, node_id: i32) -> Result<Way, RecoveryError> {
    let state = failover.state();
    let node = usize::try_from(node_id)
        .ok()
        .filter(|n| *n < state.nodes().len())
        .ok_or(RecoveryError::InvalidNode(i64::from(node_id)))?;
    let _mark = state
        .begin_recovery(node)
        .ok_or(RecoveryError::AlreadyRunning)?;
    tracing::info!(node, "starting recovering node");
    match state.nodes()[node].status() {
        NodeStatus::Unused => return Err(RecoveryError::Unused(node)),
        s if s.is_valid() => return Err(RecoveryError::Alive(node)),
        _ => {}
    }
    let primary = state
        .primary()
        .filter(|p| state.nodes()[*p].status().is_valid())
        .or_else(|| main_node(state))
        .ok_or(RecoveryError::NoPrimary)?;
    let config = failover.config();
    let target = Target {
        node,
        primary,
        config: &config,
        auth,
        state,
    };
    let way = match local::data_directory(&config, node) {
        Some(dir) => {
            local::run(&target, &dir)?;
            Way::BaseBackup(dir)
        }
        None => {
            if !config.recovery_2nd_stage_command.trim().is_empty() {
                tracing::info!(
                    "recovery_2nd_stage_command runs only in native replication mode; skipped"
                );
            }
            pgpool::run(&target)?;
            Way::Pgpool
        }
    };
    tracing::info!(node, "node recovery, node: {node} restarted");
    if state.nodes()[node].status().is_valid() {
        // pcp_attach_node got there first: the node is attached, as the recovery would leave it.
        tracing::info!(node, "node recovery: the node was attached meanwhile");
    } else {
        failover.attach(node as i64)?;
    }
    tracing::info!(node, way = ?way, "recovery done");
    Ok(way)
}
