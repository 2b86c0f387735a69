//! recovery_user's connections: the options for a node, and async work run to completion on
//! the calling thread's own small ring (`corepool_runtime::block_on`) — a PCP worker thread,
//! never a shard.

use std::future::Future;
use std::time::Duration;

use corepool_client::{ConnectOptions, Host};

use super::RecoveryError;
use crate::auth::files::{AuthFiles, CheckSecret};
use crate::cluster::NodeAddress;
use crate::config::Config;

/// Bound on each connect (Pgpool-II uses libpq's default, no bound; a PCP request should not
/// hang on a dead host).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Options to log in to `address` as recovery_user on `database`, with the secret
/// recovery_password gives (any pool_passwd form; empty: the user's pool_passwd entry), over
/// TLS first when `ssl = on`, as the health check does.
pub(super) fn options(
    config: &Config,
    auth: &AuthFiles,
    address: &NodeAddress,
    database: &str,
) -> ConnectOptions {
    let host = match address {
        NodeAddress::Tcp { host, .. } => Host::parse(host),
        NodeAddress::Unix { dir, .. } => Host::parse(dir),
    };
    let mut opts = ConnectOptions::new(host, address.port(), config.recovery_user.clone());
    opts.database = Some(database.to_owned());
    match auth.check_secret(&config.recovery_user, &config.recovery_password) {
        CheckSecret::Password(p) => opts.password = Some(p),
        CheckSecret::Md5(h) => opts.md5_hash = Some(h),
        CheckSecret::None => {}
    }
    opts.application_name = Some("corepool recovery".into());
    opts.tls = auth.tls().client.clone();
    opts.connect_timeout = CONNECT_TIMEOUT;
    opts
}

/// The plain-text password of recovery_user, when there is one (for the recovered standby's
/// primary_conninfo).
pub(super) fn plain_password(config: &Config, auth: &AuthFiles) -> Option<String> {
    match auth.check_secret(&config.recovery_user, &config.recovery_password) {
        CheckSecret::Password(p) => Some(p),
        _ => None,
    }
}

/// Runs `work` on a fresh ring of the calling thread and waits for it.
pub(super) fn run<T: 'static>(
    work: impl Future<Output = Result<T, RecoveryError>> + 'static,
) -> Result<T, RecoveryError> {
    corepool_runtime::block_on(work).map_err(RecoveryError::Runtime)?
}
