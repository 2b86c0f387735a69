//! Talking to a node for the checks: connection options, bounded connects and the queries of
//! the replication check, over `corepool-client` on shard 0's executor.

use std::time::Duration;

use corepool_client::{ClientError, ConnectOptions, Connection, Host, Row};

use crate::auth::files::{AuthFiles, CheckSecret};
use crate::cluster::NodeAddress;
use crate::config::{Config, HealthCheck};
use crate::runtime;

/// Why a check of a node failed.
#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    /// Connecting, authenticating or querying failed.
    #[error(transparent)]
    Client(#[from] ClientError),
    /// The whole attempt did not finish within its limit.
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    /// The node answered something other than what the query should return.
    #[error("unexpected answer: {0}")]
    Unexpected(String),
}

impl CheckError {
    /// True when the node itself looks unreachable or going away — not merely refusing this
    /// user or database. Used to confirm a lost backend connection.
    pub fn is_node_down(&self) -> bool {
        match self {
            CheckError::Timeout(_) => true,
            CheckError::Unexpected(_) => false,
            CheckError::Client(e) => match e.code() {
                // admin/crash shutdown, "the database system is starting up / shutting down".
                Some(code) => matches!(code, "57P01" | "57P02" | "57P03") || code.starts_with("08"),
                None => !matches!(
                    e,
                    ClientError::Auth(_)
                        | ClientError::PasswordRequired
                        | ClientError::UnsupportedAuth(_)
                ),
            },
        }
    }

    /// True when the server said the database does not exist (`3D000`).
    pub fn is_missing_database(&self) -> bool {
        matches!(self, CheckError::Client(e) if e.code() == Some("3D000"))
    }
}

/// Connection options for `address` as `user` (with the secret `password` configures, see
/// [`AuthFiles::check_secret`]) on `database`; SSL first when `ssl = on`, as Pgpool-II does.
fn options(
    address: &NodeAddress,
    (user, password): (&str, &str),
    database: &str,
    auth: &AuthFiles,
    connect_timeout: Duration,
) -> ConnectOptions {
    let secret = auth.check_secret(user, password);
    let host = match address {
        NodeAddress::Tcp { host, .. } => Host::parse(host),
        NodeAddress::Unix { dir, .. } => Host::parse(dir),
    };
    let mut opts = ConnectOptions::new(host, address.port(), user.to_owned());
    opts.database = Some(database.to_owned());
    match secret {
        CheckSecret::Password(p) => opts.password = Some(p),
        CheckSecret::Md5(h) => opts.md5_hash = Some(h),
        CheckSecret::None => {}
    }
    opts.application_name = Some("corepool health check".into());
    opts.tls = auth.tls().client.clone();
    opts.connect_timeout = if connect_timeout.is_zero() {
        Duration::from_secs(10)
    } else {
        connect_timeout
    };
    opts
}

/// The health check's connection options for a node (database not yet chosen).
pub fn health_options(hc: &HealthCheck, address: &NodeAddress, auth: &AuthFiles) -> ConnectOptions {
    options(
        address,
        (&hc.user, &hc.password),
        hc.database_or_default(),
        auth,
        hc.connect_timeout,
    )
}

/// The replication check's connection options (sr_check_user on sr_check_database).
pub fn sr_options(config: &Config, address: &NodeAddress, auth: &AuthFiles) -> ConnectOptions {
    let database = if config.sr_check_database.is_empty() {
        "postgres"
    } else {
        &config.sr_check_database
    };
    let mut opts = options(
        address,
        (&config.sr_check_user, &config.sr_check_password),
        database,
        auth,
        config.health_check.connect_timeout,
    );
    opts.application_name = Some("corepool sr check".into());
    opts
}

/// Connects, authenticates and disconnects, all within `limit` (zero: no limit).
pub async fn connect_and_close(opts: &ConnectOptions, limit: Duration) -> Result<(), CheckError> {
    bounded(limit, async {
        let conn = Connection::connect(opts).await?;
        conn.close().await;
        Ok(())
    })
    .await
}

/// Connects, runs `sql` and disconnects within `limit`; returns the rows.
pub async fn query(
    opts: &ConnectOptions,
    sql: &str,
    limit: Duration,
) -> Result<Vec<Row>, CheckError> {
    bounded(limit, async {
        let mut conn = Connection::connect(opts).await?;
        let rows = conn.simple_query(sql).await;
        conn.close().await;
        Ok(rows?)
    })
    .await
}

async fn bounded<T>(
    limit: Duration,
    fut: impl std::future::Future<Output = Result<T, CheckError>>,
) -> Result<T, CheckError> {
    if limit.is_zero() {
        return fut.await;
    }
    runtime::timeout(limit, fut)
        .await
        .unwrap_or(Err(CheckError::Timeout(limit)))
}

/// Whether a node is in recovery and its WAL position: `pg_current_wal_lsn()` on a primary,
/// `pg_last_wal_replay_lsn()` on a standby.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WalPosition {
    /// `pg_is_in_recovery()`.
    pub in_recovery: bool,
    /// The LSN as a byte position; `None` when the standby has replayed nothing yet.
    pub lsn: Option<u64>,
}

/// The query behind [`WalPosition`].
pub const WAL_POSITION_SQL: &str = "SELECT pg_is_in_recovery(), CASE WHEN pg_is_in_recovery() \
     THEN pg_last_wal_replay_lsn() ELSE pg_current_wal_lsn() END";

/// Reads a [`WalPosition`] from the answer to [`WAL_POSITION_SQL`].
pub fn wal_position(rows: &[Row]) -> Result<WalPosition, CheckError> {
    let row = rows
        .first()
        .ok_or_else(|| CheckError::Unexpected("no row".into()))?;
    let in_recovery = match row.text(0).map_err(CheckError::Client)? {
        Some("t") => true,
        Some("f") => false,
        other => return Err(CheckError::Unexpected(format!("{other:?}"))),
    };
    let lsn = match row.text(1).map_err(CheckError::Client)? {
        Some(text) => Some(parse_lsn(text).ok_or_else(|| CheckError::Unexpected(text.into()))?),
        None => None,
    };
    Ok(WalPosition { in_recovery, lsn })
}

/// Parses PostgreSQL's `pg_lsn` text form `X/Y` (hex) to a byte position.
pub fn parse_lsn(text: &str) -> Option<u64> {
    let (hi, lo) = text.split_once('/')?;
    let hi = u32::from_str_radix(hi, 16).ok()?;
    let lo = u32::from_str_radix(lo, 16).ok()?;
    Some((u64::from(hi) << 32) | u64::from(lo))
}

/// One `pg_stat_replication` row, as the replication check reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplicationRow {
    /// The standby's `application_name`.
    pub application_name: String,
    /// `state` (empty when hidden: the user lacks pg_monitor).
    pub state: String,
    /// `sync_state`.
    pub sync_state: String,
    /// `replay_lag` in milliseconds (0 when NULL: the standby is caught up and idle).
    pub replay_lag_ms: u64,
}

/// The query behind [`ReplicationRow`].
pub const REPLICATION_SQL: &str = "SELECT application_name, state, sync_state, \
     COALESCE((EXTRACT(EPOCH FROM replay_lag) * 1000)::bigint, 0) FROM pg_stat_replication";

/// Reads the answer to [`REPLICATION_SQL`].
pub fn replication_rows(rows: &[Row]) -> Result<Vec<ReplicationRow>, CheckError> {
    rows.iter()
        .map(|r| {
            let text = |i| -> Result<String, CheckError> {
                Ok(r.text(i)
                    .map_err(CheckError::Client)?
                    .unwrap_or("")
                    .to_owned())
            };
            let lag = text(3)?;
            Ok(ReplicationRow {
                application_name: text(0)?,
                state: text(1)?,
                sync_state: text(2)?,
                replay_lag_ms: lag.parse::<i64>().map_or(0, |v| v.max(0) as u64),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lsn_text_becomes_a_byte_position() {
        assert_eq!(parse_lsn("0/3000060"), Some(0x300_0060));
        assert_eq!(parse_lsn("1/0"), Some(1 << 32));
        assert_eq!(parse_lsn("16/B374D848"), Some((0x16 << 32) | 0xB374_D848));
        assert_eq!(parse_lsn("nope"), None);
        assert_eq!(parse_lsn("1/zz"), None);
    }

    #[test]
    fn only_connection_failures_mean_the_node_is_down() {
        let server = |code: &str| {
            CheckError::Client(ClientError::Server {
                severity: "FATAL".into(),
                code: code.into(),
                message: String::new(),
                detail: None,
                hint: None,
            })
        };
        assert!(server("57P03").is_node_down());
        assert!(server("08006").is_node_down());
        assert!(!server("28P01").is_node_down());
        assert!(!server("3D000").is_node_down());
        assert!(server("3D000").is_missing_database());
        assert!(CheckError::Client(ClientError::Closed).is_node_down());
        assert!(CheckError::Timeout(Duration::from_secs(1)).is_node_down());
        assert!(!CheckError::Client(ClientError::PasswordRequired).is_node_down());
    }
}
