//! Asking nodes whether they are in recovery, to find the primary after a failover and for
//! the live columns of node info (`pg_status`, `pg_role`).
//!
//! [`ClientProbe`] connects with corepool's own client (`corepool-client`) as `sr_check_user`
//! and runs `SELECT pg_is_in_recovery()`. It runs its own short-lived glommio executor on the
//! calling thread, so it is called only from failover and PCP threads, never from a shard.

use std::time::Duration;

use corepool_client::{ConnectOptions, Connection, Host};

use crate::cluster::NodeAddress;
use crate::config::Config;

/// What a probe learnt about one node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProbeResult {
    /// Could not connect or authenticate.
    Unreachable,
    /// Connected; the query failed or gave no answer.
    Up,
    /// `pg_is_in_recovery()` is false.
    Primary,
    /// `pg_is_in_recovery()` is true.
    Standby,
}

/// Probes nodes. A trait so tests (and other deployments) can replace the real client.
pub trait NodeProbe: Send + Sync {
    /// Probes each of `nodes` (address, node id) with the settings of `config`.
    fn probe(&self, config: &Config, nodes: &[(usize, NodeAddress)]) -> Vec<ProbeResult>;
}

/// The real probe: a PostgreSQL connection per node through `corepool-client`.
#[derive(Debug, Default, Clone, Copy)]
pub struct ClientProbe;

/// Registered buffer memory of the probe's executor: the probe reads a few hundred bytes.
const IO_MEMORY: usize = 64 << 10;

impl NodeProbe for ClientProbe {
    fn probe(&self, config: &Config, nodes: &[(usize, NodeAddress)]) -> Vec<ProbeResult> {
        let jobs: Vec<ConnectOptions> = nodes.iter().map(|(_, a)| options(config, a)).collect();
        let n = jobs.len();
        let run = glommio::LocalExecutorBuilder::new(glommio::Placement::Unbound)
            .name("corepool-probe")
            .io_memory(IO_MEMORY)
            .make()
            .map(|ex| {
                ex.run(async move {
                    let mut out = Vec::with_capacity(jobs.len());
                    for opts in &jobs {
                        out.push(probe_one(opts).await);
                    }
                    out
                })
            });
        match run {
            Ok(results) => results,
            Err(e) => {
                tracing::error!(error = %e, "could not start the probe executor");
                vec![ProbeResult::Unreachable; n]
            }
        }
    }
}

fn options(config: &Config, address: &NodeAddress) -> ConnectOptions {
    let host = match address {
        NodeAddress::Tcp { host, .. } => Host::parse(host),
        NodeAddress::Unix { dir, .. } => Host::parse(dir),
    };
    let mut opts = ConnectOptions::new(host, address.port(), config.sr_check_user.clone());
    opts.database = Some(config.sr_check_database.clone());
    if !config.sr_check_password.is_empty() {
        opts.password = Some(config.sr_check_password.clone());
    }
    opts.application_name = Some("corepool probe".into());
    let limit = config.health_check.connect_timeout;
    opts.connect_timeout = if limit.is_zero() {
        Duration::from_secs(10)
    } else {
        limit.min(Duration::from_secs(10))
    };
    opts
}

async fn probe_one(opts: &ConnectOptions) -> ProbeResult {
    let mut conn = match Connection::connect(opts).await {
        Ok(c) => c,
        Err(e) => {
            tracing::debug!(error = %e, "probe could not connect");
            return ProbeResult::Unreachable;
        }
    };
    let result = match conn.simple_query("SELECT pg_is_in_recovery()").await {
        Ok(rows) => match rows.first().map(|r| r.text(0)) {
            Some(Ok(Some("t"))) => ProbeResult::Standby,
            Some(Ok(Some("f"))) => ProbeResult::Primary,
            _ => ProbeResult::Up,
        },
        Err(e) => {
            tracing::debug!(error = %e, "probe query failed");
            ProbeResult::Up
        }
    };
    conn.close().await;
    result
}
