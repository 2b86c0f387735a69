//! The real node probe: asks nodes whether they are in recovery, to find the primary after a
//! failover and for the live columns of node info (`pg_status`, `pg_role`).
//!
//! [`ClientProbe`] implements failover's [`NodeProbe`]: it connects with corepool's own client (`corepool-client`) as `sr_check_user`
//! and runs `SELECT pg_is_in_recovery()`. It runs its own short-lived ring (`corepool_runtime::block_on`) on the
//! calling thread, so it is called only from failover and PCP threads, never from a shard.

use std::time::Duration;

use corepool_client::{ConnectOptions, Connection};

use crate::auth::files::AuthFiles;
use crate::cluster::NodeAddress;
use crate::config::Config;
use crate::failover::probe::{NodeProbe, ProbeResult};

/// Where the probe reads pool_passwd and the pool key (the set in force after reloads).
pub use crate::auth::files::AuthSource;

/// The real probe: a PostgreSQL connection per node through `corepool-client`, logging in as
/// the replication check does (`sr_check_password` in any pool_passwd form, else pool_passwd).
pub struct ClientProbe {
    auth: AuthSource,
}

impl ClientProbe {
    /// A probe taking secrets from `auth`.
    pub fn new(auth: AuthSource) -> Self {
        ClientProbe { auth }
    }
}

impl NodeProbe for ClientProbe {
    fn probe(&self, config: &Config, nodes: &[(usize, NodeAddress)]) -> Vec<ProbeResult> {
        let auth = (self.auth)();
        let jobs: Vec<ConnectOptions> = nodes
            .iter()
            .map(|(_, a)| options(config, a, &auth))
            .collect();
        let n = jobs.len();
        let run = corepool_runtime::block_on(async move {
            let mut out = Vec::with_capacity(jobs.len());
            for opts in &jobs {
                out.push(probe_one(opts).await);
            }
            out
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

fn options(config: &Config, address: &NodeAddress, auth: &AuthFiles) -> ConnectOptions {
    let mut opts = crate::health::query::sr_options(config, address, auth);
    opts.application_name = Some("corepool probe".into());
    opts.connect_timeout = opts.connect_timeout.min(Duration::from_secs(10));
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
