//! How clients are pooled onto backends: session pooling (Pgpool-II's way, the default) or
//! transaction pooling (PgBouncer's), chosen for the whole proxy and overridden per database and
//! per user, and the sizes and timeouts of transaction pools.
//!
//! ```text
//! pool_mode = 'transaction'                        # session (default) | transaction
//! pool_mode_per_database = 'reports:session'       # name:mode, …
//! pool_mode_per_user = 'batch:session, app:transaction'
//! default_pool_size = 20                           # backends per user and database
//! query_wait_timeout = 120                         # seconds a client may wait for one
//! server_idle_timeout = 600                        # close backends idle this long
//! max_prepared_statements = 200                    # per backend, least recently used evicted
//! ```
//!
//! The parameter names are PgBouncer's where PgBouncer has one; Pgpool-II has none of them.
//! A user's mode wins over its database's, which wins over `pool_mode`.

use std::time::Duration;

use super::forms::Form;
use super::value::{parse_list, Named, ValueError};

/// How long a client holds a backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PoolMode {
    /// For its whole session (Pgpool-II's way).
    #[default]
    Session,
    /// From the start of each transaction to its end; between transactions the backend serves
    /// other clients of the same user and database.
    Transaction,
}

impl Named for PoolMode {
    const NAMES: &'static [(&'static str, Self)] = &[
        ("session", Self::Session),
        ("transaction", Self::Transaction),
    ];
}

/// The pooling settings.
#[derive(Debug, Clone, PartialEq)]
pub struct PoolingConfig {
    /// The mode for databases and users not named in the lists below.
    pub pool_mode: PoolMode,
    /// Modes by database name.
    pub per_database: Vec<(String, PoolMode)>,
    /// Modes by user name (these win over the database's).
    pub per_user: Vec<(String, PoolMode)>,
    /// Backends per user and database in transaction mode, for the whole proxy (each shard
    /// holds its share, rounded up).
    pub default_pool_size: u32,
    /// How long a client may wait for a backend of a full pool before its request is refused.
    pub query_wait_timeout: Duration,
    /// Idle backends of a transaction pool are closed after this long (0 = never).
    pub server_idle_timeout: Duration,
    /// Named statements each backend of a transaction pool keeps prepared; past it the least
    /// recently used is closed.
    pub max_prepared_statements: u32,
}

impl Default for PoolingConfig {
    fn default() -> Self {
        Self {
            pool_mode: PoolMode::Session,
            per_database: Vec::new(),
            per_user: Vec::new(),
            default_pool_size: 20,
            query_wait_timeout: Duration::from_secs(120),
            server_idle_timeout: Duration::from_secs(600),
            max_prepared_statements: 200,
        }
    }
}

impl PoolingConfig {
    /// The mode of a session of `user` on `database`.
    pub fn mode_for(&self, user: &str, database: &str) -> PoolMode {
        let find = |list: &[(String, PoolMode)], name: &str| {
            list.iter().find(|(n, _)| n == name).map(|(_, m)| *m)
        };
        find(&self.per_user, user)
            .or_else(|| find(&self.per_database, database))
            .unwrap_or(self.pool_mode)
    }

    /// This shard's share of `default_pool_size` (at least one).
    pub fn per_shard(&self, shards: usize) -> usize {
        (self.default_pool_size as usize)
            .div_ceil(shards.max(1))
            .max(1)
    }
}

/// `name:mode, …` lists.
pub(super) struct ModeList;

impl Form for ModeList {
    type Value = Vec<(String, PoolMode)>;

    fn parse(text: &str) -> Result<Self::Value, ValueError> {
        parse_list(text, ',')
            .into_iter()
            .map(|item| {
                let (name, mode) = item.rsplit_once(':').ok_or_else(|| ValueError::Enum {
                    value: item.clone(),
                    options: "name:session, name:transaction".into(),
                })?;
                Ok((name.trim().to_owned(), PoolMode::parse_named(mode)?))
            })
            .collect()
    }

    fn show(value: &Self::Value) -> String {
        value
            .iter()
            .map(|(n, m)| format!("{n}:{}", m.name()))
            .collect::<Vec<_>>()
            .join(",")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn users_win_over_databases_over_the_default() {
        let c = PoolingConfig {
            pool_mode: PoolMode::Transaction,
            per_database: ModeList::parse("reports:session").unwrap(),
            per_user: ModeList::parse(" batch : session , app:TRANSACTION").unwrap(),
            ..PoolingConfig::default()
        };
        assert_eq!(c.mode_for("app", "reports"), PoolMode::Transaction);
        assert_eq!(c.mode_for("batch", "db"), PoolMode::Session);
        assert_eq!(c.mode_for("x", "reports"), PoolMode::Session);
        assert_eq!(c.mode_for("x", "db"), PoolMode::Transaction);
        assert_eq!(ModeList::show(&c.per_user), "batch:session,app:transaction");
        assert!(ModeList::parse("nocolon").is_err());
        assert!(ModeList::parse("a:statement").is_err());
    }

    #[test]
    fn each_shard_gets_its_share_rounded_up() {
        let c = PoolingConfig::default();
        assert_eq!(c.per_shard(2), 10);
        assert_eq!(c.per_shard(3), 7);
        assert_eq!(
            PoolingConfig {
                default_pool_size: 1,
                ..c
            }
            .per_shard(4),
            1
        );
    }
}
