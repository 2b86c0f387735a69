//! One node's settings: a PostgreSQL server's `backend_*N` parameters and the health-check
//! settings, global and per node.

use std::time::Duration;

use super::kinds::BackendFlags;

/// One PostgreSQL server (`backend_*N`).
#[derive(Debug, Clone, PartialEq)]
pub struct BackendConfig {
    /// Host name or IP; a path starting with `/` is a UNIX socket directory; empty = `/tmp`.
    pub hostname: String,
    /// TCP port, also the UNIX socket's `.s.PGSQL.<port>`.
    pub port: u16,
    /// Relative load-balance weight (normalized over all nodes, see
    /// `Config::normalized_weights`).
    pub weight: f64,
    /// The node's data directory, for the failover/failback commands' `%D`.
    pub data_directory: String,
    /// How failover treats this node.
    pub flags: BackendFlags,
    /// The standby's walreceiver `application_name`, matched against pg_stat_replication.
    pub application_name: String,
    /// Per-node health-check settings (`health_check_periodN`, ...); unset fields use
    /// `Config::health_check`.
    pub health_check: HealthCheckOverrides,
}

impl Default for BackendConfig {
    fn default() -> Self {
        Self {
            hostname: String::new(),
            port: 5432,
            weight: 1.0,
            data_directory: String::new(),
            flags: BackendFlags::default(),
            application_name: String::new(),
            health_check: HealthCheckOverrides::default(),
        }
    }
}

/// Health-check settings for one node (PGB-2.5.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthCheck {
    /// Interval between checks; 0 disables health checking.
    pub period: Duration,
    /// A check not finished in this long fails (0 = no timeout).
    pub timeout: Duration,
    /// User the check connects as.
    pub user: String,
    /// Its password (md5/AES/TEXT forms; empty = look up pool_passwd).
    pub password: String,
    /// Database the check connects to; empty means `postgres`.
    pub database: String,
    /// Retries before a failed check triggers failover.
    pub max_retries: u32,
    /// Wait between retries.
    pub retry_delay: Duration,
    /// Timeout of every backend TCP connect, for checks and for pooled connections alike.
    pub connect_timeout: Duration,
}

impl Default for HealthCheck {
    fn default() -> Self {
        Self {
            period: Duration::ZERO,
            timeout: Duration::from_secs(20),
            user: "nobody".to_owned(),
            password: String::new(),
            database: String::new(),
            max_retries: 0,
            retry_delay: Duration::from_secs(1),
            connect_timeout: Duration::from_millis(10_000),
        }
    }
}

impl HealthCheck {
    /// The database to connect to: `health_check_database`, or `postgres` when empty.
    pub fn database_or_default(&self) -> &str {
        if self.database.is_empty() {
            "postgres"
        } else {
            &self.database
        }
    }

    /// These settings with a node's overrides applied.
    pub fn with_overrides(&self, node: &HealthCheckOverrides) -> Self {
        Self {
            period: node.period.unwrap_or(self.period),
            timeout: node.timeout.unwrap_or(self.timeout),
            user: node.user.clone().unwrap_or_else(|| self.user.clone()),
            password: node
                .password
                .clone()
                .unwrap_or_else(|| self.password.clone()),
            database: node
                .database
                .clone()
                .unwrap_or_else(|| self.database.clone()),
            max_retries: node.max_retries.unwrap_or(self.max_retries),
            retry_delay: node.retry_delay.unwrap_or(self.retry_delay),
            connect_timeout: node.connect_timeout.unwrap_or(self.connect_timeout),
        }
    }
}

/// A node's `health_check_*N` settings; `None` = use the global value.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HealthCheckOverrides {
    /// `health_check_periodN`.
    pub period: Option<Duration>,
    /// `health_check_timeoutN`.
    pub timeout: Option<Duration>,
    /// `health_check_userN`.
    pub user: Option<String>,
    /// `health_check_passwordN`.
    pub password: Option<String>,
    /// `health_check_databaseN`.
    pub database: Option<String>,
    /// `health_check_max_retriesN`.
    pub max_retries: Option<u32>,
    /// `health_check_retry_delayN`.
    pub retry_delay: Option<Duration>,
    /// `connect_timeoutN`.
    pub connect_timeout: Option<Duration>,
}
