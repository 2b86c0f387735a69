//! The typed configuration and its defaults: Pgpool-II 4.3's compiled defaults (PGB-2), in one place.

use std::path::PathBuf;
use std::time::Duration;

use super::node::{BackendConfig, HealthCheck};

use super::kinds::{
    CheckTempTable, ClusteringMode, DisableLoadBalanceOnWrite, IdleLimitInRecovery,
    LogErrorVerbosity, LogLevel, LogStandbyDelay, MemqcacheMethod,
};

/// Everything corepool reads from pgpool.conf. Field names are the parameter names.
///
/// Durations are stored exactly as Pgpool-II would use them (rounded to the parameter's base
/// unit); a zero duration means "disabled" wherever Pgpool-II treats 0 that way.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// The file this configuration was loaded from; relative file parameters (`pool_passwd`)
    /// are resolved against its directory. `None` for a configuration built in code.
    pub source_file: Option<PathBuf>,

    // ---- Connections (PGB-2.1) ----
    /// Addresses the client listener binds: `*` for all, empty for no TCP (the UNIX socket is
    /// always on).
    pub listen_addresses: Vec<String>,
    /// Client TCP port; also names the UNIX socket `.s.PGSQL.<port>`. 0 asks the kernel for a
    /// free port (a corepool extension for tests; Pgpool-II requires 1024..=65535).
    pub port: u16,
    /// Directories holding the client UNIX socket (4.3 calls this `socket_dir`; both names work).
    pub unix_socket_directories: Vec<String>,
    /// Addresses the PCP admin listener binds, as for `listen_addresses`.
    pub pcp_listen_addresses: Vec<String>,
    /// PCP TCP port (0 = kernel-chosen, as for `port`).
    pub pcp_port: u16,
    /// Directories holding the PCP UNIX socket (4.3's `pcp_socket_dir`; both names work).
    pub pcp_unix_socket_directories: Vec<String>,
    /// Listen backlog = this × `num_init_children`: how many clients may wait in the kernel.
    pub listen_backlog_multiplier: u32,
    /// Pgpool-II serializes accept() across children; accepted for compatibility.
    pub serialize_accept: bool,
    /// Maximum concurrent client sessions (Pgpool-II's number of children).
    pub num_init_children: u32,
    /// When > 0, clients beyond `num_init_children - reserved_connections` are refused with
    /// 53300 "Sorry, too many clients already" instead of waiting.
    pub reserved_connections: u32,
    /// Cached backend connection sets per session slot (distinct user/database pairs kept).
    pub max_pool: u32,
    /// A session slot with no client for this long drops its cached connections (0 = never).
    pub child_life_time: Duration,
    /// A session slot is recycled after serving this many clients (0 = never).
    pub child_max_connections: u32,
    /// Cached backend connections older than this are closed (0 = never).
    pub connection_life_time: Duration,
    /// Disconnect a client idle between queries this long (0 = never). SESSION parameter.
    pub client_idle_limit: Duration,
    /// Idle-client limit during online recovery's second stage. SESSION parameter.
    pub client_idle_limit_in_recovery: IdleLimitInRecovery,
    /// Keep backend connections for reuse after the client leaves.
    pub connection_cache: bool,
    /// Statements run on a cached connection when its client leaves (`;`-separated).
    pub reset_query_list: Vec<String>,
    /// A client that has not finished authenticating after this long is dropped (0 = never).
    pub authentication_timeout: Duration,

    // ---- Backends (PGB-1.10 to 1.15, 2.2) ----
    /// How the backends replicate; decides where writes go.
    pub backend_clustering_mode: ClusteringMode,
    /// The PostgreSQL servers, indexed by node id (contiguous from 0).
    pub backends: Vec<BackendConfig>,

    // ---- Authentication and SSL (PGB-2.7) ----
    /// Authenticate clients by pool_hba.conf rather than by mirroring the backend's method.
    pub enable_pool_hba: bool,
    /// The pool_passwd file, relative to the pgpool.conf directory; empty disables it.
    pub pool_passwd: String,
    /// With pool_hba off and no pool_passwd entry, ask the client for a clear-text password.
    pub allow_clear_text_frontend_auth: bool,
    /// Accept SSL from clients (SSLRequest answered `S`).
    pub ssl: bool,
    /// Server private key file for client SSL.
    pub ssl_key: String,
    /// Server certificate file for client SSL.
    pub ssl_cert: String,
    /// CA certificates used to verify client certificates (`cert` auth).
    pub ssl_ca_cert: String,
    /// Directory of CA certificates, as `ssl_ca_cert`.
    pub ssl_ca_cert_dir: String,
    /// Certificate revocation list for client certificates.
    pub ssl_crl_file: String,
    /// Allowed TLS cipher suites (OpenSSL syntax).
    pub ssl_ciphers: String,
    /// Prefer the server's cipher order over the client's.
    pub ssl_prefer_server_ciphers: bool,
    /// Curve for ECDH key exchange.
    pub ssl_ecdh_curve: String,
    /// Diffie-Hellman parameters file.
    pub ssl_dh_params_file: String,
    /// Command that prints the passphrase of an encrypted `ssl_key`.
    pub ssl_passphrase_command: String,

    // ---- Logging and files (PGB-2.9) ----
    /// Where logs go: `stderr` and/or `syslog` (corepool logs to stderr).
    pub log_destination: Vec<String>,
    /// Prefix of each log line (printf-style escapes as in Pgpool-II).
    pub log_line_prefix: String,
    /// How much of each error is logged. SESSION parameter.
    pub log_error_verbosity: LogErrorVerbosity,
    /// Lowest severity sent to clients as NoticeResponse. SESSION parameter.
    pub client_min_messages: LogLevel,
    /// Lowest severity written to the log. SESSION parameter.
    pub log_min_messages: LogLevel,
    /// Log each client connection.
    pub log_connections: bool,
    /// Log each client disconnection with the session's duration.
    pub log_disconnections: bool,
    /// Log client host names instead of addresses.
    pub log_hostname: bool,
    /// Log every statement a client sends. SESSION parameter.
    pub log_statement: bool,
    /// Log every statement with the node it was sent to. SESSION parameter.
    pub log_per_node_statement: bool,
    /// Log every protocol message from clients. SESSION parameter.
    pub log_client_messages: bool,
    /// When the replication check logs standby delay.
    pub log_standby_delay: LogStandbyDelay,
    /// File holding the main process id.
    pub pid_file_name: String,
    /// Directory of the `pgpool_status` file that remembers node states across restarts.
    pub logdir: String,

    // ---- Load balancing and routing (PGB-2.3) ----
    /// Send reads to standbys by weight; off sends everything to the primary.
    pub load_balance_mode: bool,
    /// Skip leading whitespace before classifying a statement.
    pub ignore_leading_white_space: bool,
    /// Let leading SQL comments not prevent load balancing. SESSION parameter.
    pub allow_sql_comments: bool,
    /// What a write does to later reads' load balancing.
    pub disable_load_balance_on_write: DisableLoadBalanceOnWrite,
    /// `table:dependent,...` relations for `dml_adaptive` (raw items).
    pub dml_adaptive_object_relationship_list: Vec<String>,
    /// Choose the load-balance node per statement rather than per session.
    pub statement_level_load_balance: bool,
    /// Regexes of functions that do not write; others make a SELECT a write.
    pub read_only_function_list: Vec<String>,
    /// Regexes of functions that write; others leave a SELECT a read.
    pub write_function_list: Vec<String>,
    /// Regexes of whole queries always sent to the primary (`;`-separated).
    pub primary_routing_query_pattern_list: Vec<String>,
    /// `db_regex:node(weight)` items choosing the load-balance node by database (raw items).
    pub database_redirect_preference_list: Vec<String>,
    /// `app_regex:node(weight)` items choosing the load-balance node by application_name.
    pub app_name_redirect_preference_list: Vec<String>,
    /// How temporary tables are recognised (their reads must go to the primary).
    pub check_temp_table: CheckTempTable,
    /// Look up unlogged tables (their reads must go to the primary). SESSION parameter.
    pub check_unlogged_table: bool,

    // ---- Streaming-replication check (PGB-2.4) ----
    /// Interval of the replication-delay check (0 disables the delay check only).
    pub sr_check_period: Duration,
    /// User for the replication check and primary discovery.
    pub sr_check_user: String,
    /// Its password (md5/AES/TEXT forms; empty = look up pool_passwd).
    pub sr_check_password: String,
    /// Database the replication check connects to.
    pub sr_check_database: String,
    /// A standby more than this many WAL bytes behind gets no reads (0 = no limit).
    pub delay_threshold: u64,
    /// Pgpool-II 4.4: like `delay_threshold` but by replay lag time; overrides it when > 0.
    pub delay_threshold_by_time: Duration,
    /// When the chosen standby is too far behind, use the least-delayed standby, not the primary.
    pub prefer_lower_delay_standby: bool,

    // ---- Health check (PGB-2.5); per-node overrides live in `backends` ----
    /// Health-check settings for nodes that do not override them.
    pub health_check: HealthCheck,

    // ---- Failover and failback (PGB-2.6) ----
    /// Command run when a node is detached (`%d`, `%h`, ... placeholders).
    pub failover_command: String,
    /// Command run for each standby after a new primary is promoted.
    pub follow_primary_command: String,
    /// Command run when a node is re-attached.
    pub failback_command: String,
    /// A read/write error on a backend socket detaches that node (off: only the session ends).
    pub failover_on_backend_error: bool,
    /// A backend's 57P01/57P02 shutdown error detaches that node. Documented and later-4.3.x
    /// default off (the 4.3.5 binary alone defaulted to on, PGB-9.1).
    pub failover_on_backend_shutdown: bool,
    /// Detach a primary that is not connected to all standbys.
    pub detach_false_primary: bool,
    /// Re-attach a down standby once it streams from the primary again.
    pub auto_failback: bool,
    /// Minimum time between automatic failbacks of a node.
    pub auto_failback_interval: Duration,
    /// How long to look for a new primary after failover (0 = forever).
    pub search_primary_node_timeout: Duration,

    // ---- Online recovery (pcp_recovery_node) ----
    /// The PostgreSQL user online recovery connects as (to the primary, to call the
    /// pgpool_recovery functions or take the base backup, and to the recovered node).
    pub recovery_user: String,
    /// Its password (md5/AES/TEXT forms; empty = look up pool_passwd).
    pub recovery_password: String,
    /// Script in the primary's data directory that pgpool_recovery() runs to rebuild the node;
    /// empty = corepool's own base backup when the node's data directory is local.
    pub recovery_1st_stage_command: String,
    /// Native replication mode's second stage; never run in streaming replication mode.
    pub recovery_2nd_stage_command: String,
    /// How long the recovered node may take to accept connections (and, for corepool's own
    /// recovery, to stream).
    pub recovery_timeout: Duration,

    // ---- In-memory query cache (docs/query-cache.md) ----
    /// Cache SELECT results in corepool's memory (Pgpool-II's in-memory query cache).
    pub memory_cache_enabled: bool,
    /// Where the cache lives: `shmem` (corepool's own); `memcached` is refused (cache off).
    pub memqcache_method: MemqcacheMethod,
    /// memcached host (accepted, unused: memcached is not supported).
    pub memqcache_memcached_host: String,
    /// memcached port (accepted, unused).
    pub memqcache_memcached_port: u32,
    /// Bytes of keys and results the cache may hold; older entries are evicted past it.
    pub memqcache_total_size: u64,
    /// Entries the cache may hold.
    pub memqcache_max_num_cache: u32,
    /// An entry's life; zero = until a write invalidates it or it is evicted.
    pub memqcache_expire: Duration,
    /// Writes through corepool invalidate the entries that read their tables.
    pub memqcache_auto_cache_invalidation: bool,
    /// The largest SELECT result cached, in bytes.
    pub memqcache_maxcache: u64,
    /// Pgpool-II's shared-memory block size (accepted; corepool allocates per entry, but
    /// memqcache_maxcache must still fit in it, as Pgpool-II checks).
    pub memqcache_cache_block_size: u64,
    /// Pgpool-II's table-OID directory (accepted, not needed: corepool tracks tables in memory).
    pub memqcache_oiddir: String,
    /// Tables (regular expressions) whose SELECTs are cached even when they are views,
    /// unlogged or system catalogs.
    pub cache_safe_memqcache_table_list: Vec<String>,
    /// Tables (regular expressions) whose SELECTs are never cached.
    pub cache_unsafe_memqcache_table_list: Vec<String>,
    /// Clear the cache when the watchdog escalates (accepted; the etcd watchdog has no
    /// escalation to clear it at).
    pub clear_memqcache_on_escalation: bool,

    // ---- Accepted for compatibility ----
    /// Several corepool instances agree on failover through etcd (docs/ha.md).
    pub use_watchdog: bool,
    /// The watchdog's etcd and consensus settings.
    pub watchdog: super::watchdog::WatchdogSettings,

    // ---- corepool extensions ----
    /// Executor threads, one pinned per core; 0 = one per available core.
    pub corepool_cores: u32,
    /// After a session writes, send its reads to the primary until standbys have replayed the
    /// write's LSN (read-your-writes across transactions).
    pub corepool_read_your_writes: bool,
    /// `host:port` serving Prometheus metrics over HTTP; empty = off.
    pub corepool_metrics_address: String,
    /// Largest protocol message accepted from a client or backend, in bytes; bigger ones end
    /// the session instead of being buffered.
    pub corepool_max_message_size: usize,
    /// Parallel connections (`-j`) of the base backup corepool's own online recovery takes.
    pub corepool_recovery_jobs: u32,
    /// Session or transaction pooling, and the transaction pools' sizes (PgBouncer's names).
    pub pooling: super::pooling::PoolingConfig,
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

impl Default for Config {
    /// Pgpool-II 4.3's compiled defaults (upstream, not Debian's patched socket/pid/log paths)
    /// plus corepool's own, with no backends.
    fn default() -> Self {
        Self {
            source_file: None,
            listen_addresses: strings(&["localhost"]),
            port: 9999,
            unix_socket_directories: strings(&["/tmp"]),
            pcp_listen_addresses: strings(&["localhost"]),
            pcp_port: 9898,
            pcp_unix_socket_directories: strings(&["/tmp"]),
            listen_backlog_multiplier: 2,
            serialize_accept: false,
            num_init_children: 32,
            reserved_connections: 0,
            max_pool: 4,
            child_life_time: Duration::from_secs(300),
            child_max_connections: 0,
            connection_life_time: Duration::ZERO,
            client_idle_limit: Duration::ZERO,
            client_idle_limit_in_recovery: IdleLimitInRecovery::Off,
            connection_cache: true,
            reset_query_list: strings(&["ABORT", "DISCARD ALL"]),
            authentication_timeout: Duration::from_secs(60),

            backend_clustering_mode: ClusteringMode::StreamingReplication,
            backends: Vec::new(),

            enable_pool_hba: false,
            pool_passwd: "pool_passwd".to_owned(),
            allow_clear_text_frontend_auth: false,
            ssl: false,
            ssl_key: String::new(),
            ssl_cert: String::new(),
            ssl_ca_cert: String::new(),
            ssl_ca_cert_dir: String::new(),
            ssl_crl_file: String::new(),
            ssl_ciphers: "HIGH:MEDIUM:+3DES:!aNULL".to_owned(),
            ssl_prefer_server_ciphers: false,
            ssl_ecdh_curve: "prime256v1".to_owned(),
            ssl_dh_params_file: String::new(),
            ssl_passphrase_command: String::new(),

            log_destination: strings(&["stderr"]),
            log_line_prefix: "%m: %a pid %p: ".to_owned(),
            log_error_verbosity: LogErrorVerbosity::Default,
            client_min_messages: LogLevel::Notice,
            log_min_messages: LogLevel::Warning,
            log_connections: false,
            log_disconnections: false,
            log_hostname: false,
            log_statement: false,
            log_per_node_statement: false,
            log_client_messages: false,
            log_standby_delay: LogStandbyDelay::IfOverThreshold,
            pid_file_name: "/var/run/pgpool/pgpool.pid".to_owned(),
            logdir: "/tmp".to_owned(),

            load_balance_mode: true,
            ignore_leading_white_space: true,
            allow_sql_comments: false,
            disable_load_balance_on_write: DisableLoadBalanceOnWrite::Transaction,
            dml_adaptive_object_relationship_list: Vec::new(),
            statement_level_load_balance: false,
            read_only_function_list: Vec::new(),
            write_function_list: Vec::new(),
            primary_routing_query_pattern_list: Vec::new(),
            database_redirect_preference_list: Vec::new(),
            app_name_redirect_preference_list: Vec::new(),
            check_temp_table: CheckTempTable::Catalog,
            check_unlogged_table: true,

            sr_check_period: Duration::from_secs(10),
            sr_check_user: "nobody".to_owned(),
            sr_check_password: String::new(),
            sr_check_database: "postgres".to_owned(),
            delay_threshold: 0,
            delay_threshold_by_time: Duration::ZERO,
            prefer_lower_delay_standby: false,

            health_check: HealthCheck::default(),

            failover_command: String::new(),
            follow_primary_command: String::new(),
            failback_command: String::new(),
            failover_on_backend_error: true,
            failover_on_backend_shutdown: false,
            detach_false_primary: false,
            auto_failback: false,
            auto_failback_interval: Duration::from_secs(60),
            search_primary_node_timeout: Duration::from_secs(300),

            recovery_user: String::new(),
            recovery_password: String::new(),
            recovery_1st_stage_command: String::new(),
            recovery_2nd_stage_command: String::new(),
            recovery_timeout: Duration::from_secs(90),

            memory_cache_enabled: false,
            memqcache_method: MemqcacheMethod::Shmem,
            memqcache_memcached_host: "localhost".to_owned(),
            memqcache_memcached_port: 11211,
            memqcache_total_size: 64 * 1024 * 1024,
            memqcache_max_num_cache: 1_000_000,
            memqcache_expire: Duration::ZERO,
            memqcache_auto_cache_invalidation: true,
            memqcache_maxcache: 400 * 1024,
            memqcache_cache_block_size: 1024 * 1024,
            memqcache_oiddir: "/var/log/pgpool/oiddir".to_owned(),
            cache_safe_memqcache_table_list: Vec::new(),
            cache_unsafe_memqcache_table_list: Vec::new(),
            clear_memqcache_on_escalation: true,
            use_watchdog: false,
            watchdog: super::watchdog::WatchdogSettings::default(),

            corepool_cores: 0,
            corepool_read_your_writes: false,
            corepool_metrics_address: String::new(),
            corepool_max_message_size: 1 << 30,
            corepool_recovery_jobs: 4,
            pooling: super::pooling::PoolingConfig::default(),
        }
    }
}

impl Config {
    /// The health-check settings in force for `node` (its overrides over the global ones).
    pub fn health_check_for(&self, node: usize) -> HealthCheck {
        match self.backends.get(node) {
            Some(backend) => self.health_check.with_overrides(&backend.health_check),
            None => self.health_check.clone(),
        }
    }

    /// Each backend's weight as a fraction of the total (all 0 when every weight is 0), as
    /// `SHOW pool_nodes` prints it.
    pub fn normalized_weights(&self) -> Vec<f64> {
        let total: f64 = self.backends.iter().map(|b| b.weight).sum();
        self.backends
            .iter()
            .map(|b| if total > 0.0 { b.weight / total } else { 0.0 })
            .collect()
    }

    /// The pool_passwd file: `None` when disabled, else resolved against the directory of
    /// [`source_file`](Self::source_file).
    pub fn pool_passwd_path(&self) -> Option<PathBuf> {
        if self.pool_passwd.is_empty() {
            return None;
        }
        let path = PathBuf::from(&self.pool_passwd);
        match self.source_file.as_deref().and_then(|f| f.parent()) {
            Some(dir) if path.is_relative() => Some(dir.join(path)),
            _ => Some(path),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::HealthCheckOverrides;

    #[test]
    fn node_overrides_win_over_global_health_check_settings() {
        let mut config = Config::default();
        config.health_check.period = Duration::from_secs(30);
        config.backends.push(BackendConfig::default());
        config.backends.push(BackendConfig {
            health_check: HealthCheckOverrides {
                period: Some(Duration::from_secs(5)),
                user: Some("hc".into()),
                ..Default::default()
            },
            ..Default::default()
        });
        assert_eq!(config.health_check_for(0).period, Duration::from_secs(30));
        assert_eq!(config.health_check_for(1).period, Duration::from_secs(5));
        assert_eq!(config.health_check_for(1).user, "hc");
        assert_eq!(config.health_check_for(1).timeout, Duration::from_secs(20));
        assert_eq!(config.health_check_for(7), config.health_check);
        assert_eq!(config.health_check.database_or_default(), "postgres");
    }

    #[test]
    fn weights_are_normalized_over_all_nodes() {
        let mut config = Config::default();
        for weight in [1.0, 3.0] {
            config.backends.push(BackendConfig {
                weight,
                ..Default::default()
            });
        }
        assert_eq!(config.normalized_weights(), [0.25, 0.75]);
        config.backends.iter_mut().for_each(|b| b.weight = 0.0);
        assert_eq!(config.normalized_weights(), [0.0, 0.0]);
    }

    #[test]
    fn pool_passwd_resolves_against_the_config_directory() {
        let mut config = Config::default();
        assert_eq!(
            config.pool_passwd_path(),
            Some(PathBuf::from("pool_passwd"))
        );
        config.source_file = Some(PathBuf::from("/etc/pgpool2/pgpool.conf"));
        assert_eq!(
            config.pool_passwd_path(),
            Some(PathBuf::from("/etc/pgpool2/pool_passwd"))
        );
        config.pool_passwd = "/srv/pw".into();
        assert_eq!(config.pool_passwd_path(), Some(PathBuf::from("/srv/pw")));
        config.pool_passwd.clear();
        assert_eq!(config.pool_passwd_path(), None);
    }
}
