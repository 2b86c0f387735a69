//! The table of scalar parameters: name, change context and value form of each.

use super::forms::{
    Bool, Bytes, Comma, Count, Enum, Form, ListenPort, MessageSize, Millis, Mode, Positive,
    RecoveryIdle, Secs, Semicolon, Text,
};
use super::kinds::{
    CheckTempTable, Context, DisableLoadBalanceOnWrite, LogErrorVerbosity, LogLevel,
    LogStandbyDelay, MemqcacheMethod,
};
use super::pooling::{ModeList, PoolMode};
use super::settings::Config;
use super::value::ValueError;

/// One scalar pgpool.conf parameter.
pub(super) struct Param {
    /// The name, exactly as in pgpool.conf.
    pub name: &'static str,
    /// When it may change.
    pub context: Context,
    /// Parses a value and stores it in the config.
    pub set: fn(&mut Config, &str) -> Result<(), ValueError>,
    /// Formats the current value as `PGPOOL SHOW` prints it.
    pub show: fn(&Config) -> String,
}

/// `param!(Context, field: Form)` for a parameter named like its field, or
/// `param!("name", Context, field.path: Form)`.
macro_rules! param {
    ($ctx:ident, $field:ident : $form:ty) => {
        param!(stringify!($field), $ctx, $field: $form)
    };
    ($name:expr, $ctx:ident, $($field:ident).+ : $form:ty) => {
        Param {
            name: $name,
            context: Context::$ctx,
            set: |config, text| {
                config.$($field).+ = <$form as Form>::parse(text)?;
                Ok(())
            },
            show: |config| <$form as Form>::show(&config.$($field).+),
        }
    };
}

/// Every scalar parameter corepool understands (per-node `backend_*N` and `health_check_*N`
/// live in `backend.rs`).
pub(super) static PARAMS: &[Param] = &[
    // Connections
    param!(Init, listen_addresses: Comma),
    param!(Init, port: ListenPort),
    param!(Init, unix_socket_directories: Comma),
    param!("socket_dir", Init, unix_socket_directories: Comma),
    param!(Init, pcp_listen_addresses: Comma),
    param!(Init, pcp_port: ListenPort),
    param!(Init, pcp_unix_socket_directories: Comma),
    param!("pcp_socket_dir", Init, pcp_unix_socket_directories: Comma),
    param!(Init, listen_backlog_multiplier: Positive),
    param!(Init, serialize_accept: Bool),
    param!(Init, num_init_children: Positive),
    param!(Init, reserved_connections: Count),
    param!(Init, max_pool: Positive),
    param!(Init, child_life_time: Secs),
    param!(Init, child_max_connections: Count),
    param!(Init, connection_life_time: Secs),
    param!(Session, client_idle_limit: Secs),
    param!(Session, client_idle_limit_in_recovery: RecoveryIdle),
    param!(Init, connection_cache: Bool),
    param!(Reload, reset_query_list: Semicolon),
    param!(Init, authentication_timeout: Secs),
    // Clustering
    param!(Init, backend_clustering_mode: Mode),
    // Authentication and SSL
    param!(Reload, enable_pool_hba: Bool),
    param!(Init, pool_passwd: Text),
    param!(Reload, allow_clear_text_frontend_auth: Bool),
    param!(Init, ssl: Bool),
    param!(Init, ssl_key: Text),
    param!(Init, ssl_cert: Text),
    param!(Init, ssl_ca_cert: Text),
    param!(Init, ssl_ca_cert_dir: Text),
    param!(Init, ssl_crl_file: Text),
    param!(Init, ssl_ciphers: Text),
    param!(Init, ssl_prefer_server_ciphers: Bool),
    param!(Init, ssl_ecdh_curve: Text),
    param!(Init, ssl_dh_params_file: Text),
    param!(Init, ssl_passphrase_command: Text),
    // Logging and files
    param!(Reload, log_destination: Comma),
    param!(Reload, log_line_prefix: Text),
    param!(Session, log_error_verbosity: Enum<LogErrorVerbosity>),
    param!(Session, client_min_messages: Enum<LogLevel>),
    param!(Session, log_min_messages: Enum<LogLevel>),
    param!(Reload, log_connections: Bool),
    param!(Reload, log_disconnections: Bool),
    param!(Reload, log_hostname: Bool),
    param!(Session, log_statement: Bool),
    param!(Session, log_per_node_statement: Bool),
    param!(Session, log_client_messages: Bool),
    param!(Reload, log_standby_delay: Enum<LogStandbyDelay>),
    param!(Init, pid_file_name: Text),
    param!(Init, logdir: Text),
    // Load balancing and routing
    param!(Init, load_balance_mode: Bool),
    param!(Reload, ignore_leading_white_space: Bool),
    param!(Session, allow_sql_comments: Bool),
    param!(Reload, disable_load_balance_on_write: Enum<DisableLoadBalanceOnWrite>),
    param!(Reload, dml_adaptive_object_relationship_list: Comma),
    param!(Reload, statement_level_load_balance: Bool),
    param!(Reload, read_only_function_list: Comma),
    param!(Reload, write_function_list: Comma),
    param!(Reload, primary_routing_query_pattern_list: Semicolon),
    param!(Reload, database_redirect_preference_list: Comma),
    param!(Reload, app_name_redirect_preference_list: Comma),
    param!(Reload, check_temp_table: Enum<CheckTempTable>),
    param!(Session, check_unlogged_table: Bool),
    // Streaming-replication check
    param!(Reload, sr_check_period: Secs),
    param!(Reload, sr_check_user: Text),
    param!(Reload, sr_check_password: Text),
    param!(Reload, sr_check_database: Text),
    param!(Reload, delay_threshold: Bytes),
    param!(Reload, delay_threshold_by_time: Secs),
    param!(Reload, prefer_lower_delay_standby: Bool),
    // Health check (global values; per-node overrides are in backend.rs)
    param!("health_check_period", Reload, health_check.period: Secs),
    param!("health_check_timeout", Reload, health_check.timeout: Secs),
    param!("health_check_user", Reload, health_check.user: Text),
    param!("health_check_password", Reload, health_check.password: Text),
    param!("health_check_database", Reload, health_check.database: Text),
    param!("health_check_max_retries", Reload, health_check.max_retries: Count),
    param!("health_check_retry_delay", Reload, health_check.retry_delay: Secs),
    param!("connect_timeout", Reload, health_check.connect_timeout: Millis),
    // Failover and failback
    param!(Reload, failover_command: Text),
    param!(Reload, follow_primary_command: Text),
    param!(Reload, failback_command: Text),
    param!(Reload, failover_on_backend_error: Bool),
    param!(Reload, failover_on_backend_shutdown: Bool),
    param!(Reload, detach_false_primary: Bool),
    param!(Reload, auto_failback: Bool),
    param!(Reload, auto_failback_interval: Secs),
    param!(Reload, search_primary_node_timeout: Secs),
    // Online recovery
    param!(Reload, recovery_user: Text),
    param!(Reload, recovery_password: Text),
    param!(Reload, recovery_1st_stage_command: Text),
    param!(Reload, recovery_2nd_stage_command: Text),
    param!(Reload, recovery_timeout: Secs),
    // In-memory query cache
    param!(Init, memory_cache_enabled: Bool),
    param!(Init, memqcache_method: Enum<MemqcacheMethod>),
    param!(Init, memqcache_memcached_host: Text),
    param!(Init, memqcache_memcached_port: Count),
    param!(Init, memqcache_total_size: Bytes),
    param!(Init, memqcache_max_num_cache: Positive),
    param!(Init, memqcache_expire: Secs),
    param!(Init, memqcache_auto_cache_invalidation: Bool),
    param!(Init, memqcache_maxcache: Bytes),
    param!(Init, memqcache_cache_block_size: Bytes),
    param!(Init, memqcache_oiddir: Text),
    param!(Reload, cache_safe_memqcache_table_list: Comma),
    param!(Reload, cache_unsafe_memqcache_table_list: Comma),
    param!(Reload, clear_memqcache_on_escalation: Bool),
    // The watchdog (watchdog.rs): corepool's etcd parameters and Pgpool-II's that still apply
    param!(Init, use_watchdog: Bool),
    param!("etcd_endpoints", Init, watchdog.etcd_endpoints: Comma),
    param!("etcd_prefix", Init, watchdog.etcd_prefix: Text),
    param!("etcd_username", Init, watchdog.etcd_username: Text),
    param!("etcd_password_file", Init, watchdog.etcd_password_file: Text),
    param!("etcd_cacert", Init, watchdog.etcd_cacert: Text),
    param!("etcd_cert", Init, watchdog.etcd_cert: Text),
    param!("etcd_key", Init, watchdog.etcd_key: Text),
    param!("etcd_instance_name", Init, watchdog.instance_name: Text),
    param!("etcd_lease_ttl", Init, watchdog.lease_ttl: Secs),
    param!("failover_when_quorum_exists", Reload, watchdog.failover_when_quorum_exists: Bool),
    param!("failover_require_consensus", Reload, watchdog.failover_require_consensus: Bool),
    param!(
        "allow_multiple_failover_requests_from_node",
        Reload,
        watchdog.allow_multiple_failover_requests_from_node: Bool
    ),
    param!(
        "enable_consensus_with_half_votes",
        Reload,
        watchdog.enable_consensus_with_half_votes: Bool
    ),
    param!("wd_escalation_command", Reload, watchdog.escalation_command: Text),
    param!("wd_de_escalation_command", Reload, watchdog.de_escalation_command: Text),
    param!("delegate_ip", Reload, watchdog.delegate_ip: Text),
    param!("delegate_IP", Reload, watchdog.delegate_ip: Text),
    param!("if_cmd_path", Reload, watchdog.if_cmd_path: Text),
    param!("if_up_cmd", Reload, watchdog.if_up_cmd: Text),
    param!("if_down_cmd", Reload, watchdog.if_down_cmd: Text),
    param!("arping_path", Reload, watchdog.arping_path: Text),
    param!("arping_cmd", Reload, watchdog.arping_cmd: Text),
    param!("wd_priority", Init, watchdog.priority: Count),
    // corepool extensions
    param!(Init, corepool_cores: Count),
    param!(Reload, corepool_read_your_writes: Bool),
    param!(Init, corepool_metrics_address: Text),
    param!(Init, corepool_max_message_size: MessageSize),
    param!(Reload, corepool_recovery_jobs: Positive),
    // Pooling (PgBouncer's names; pooling.rs)
    param!("pool_mode", Reload, pooling.pool_mode: Enum<PoolMode>),
    param!("pool_mode_per_database", Reload, pooling.per_database: ModeList),
    param!("pool_mode_per_user", Reload, pooling.per_user: ModeList),
    param!("default_pool_size", Reload, pooling.default_pool_size: Positive),
    param!("query_wait_timeout", Reload, pooling.query_wait_timeout: Secs),
    param!("server_idle_timeout", Reload, pooling.server_idle_timeout: Secs),
    param!("max_prepared_statements", Reload, pooling.max_prepared_statements: Count),
];

/// Old spellings Pgpool-II still accepts, and the parameter each now sets.
pub(super) static RENAMED: &[(&str, &str)] = &[
    ("fail_over_on_backend_error", "failover_on_backend_error"),
    ("follow_master_command", "follow_primary_command"),
];

/// The scalar parameter called `name` (exact, case-sensitive as in pgpool.conf).
pub(super) fn find(name: &str) -> Option<&'static Param> {
    PARAMS.iter().find(|p| p.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique() {
        let mut names: Vec<_> = PARAMS.iter().map(|p| p.name).collect();
        names.sort_unstable();
        let len = names.len();
        names.dedup();
        assert_eq!(names.len(), len);
    }

    #[test]
    fn every_default_shows_and_parses_back_to_itself() {
        let defaults = Config::default();
        for param in PARAMS {
            let mut config = Config::default();
            let shown = (param.show)(&defaults);
            (param.set)(&mut config, &shown).unwrap_or_else(|e| panic!("{}: {e}", param.name));
            assert_eq!(config, defaults, "{} = {shown:?}", param.name);
        }
    }

    #[test]
    fn exactly_the_pgpool_session_parameters_are_session_context() {
        let mut session: Vec<_> = PARAMS
            .iter()
            .filter(|p| p.context == Context::Session)
            .map(|p| p.name)
            .collect();
        session.sort_unstable();
        assert_eq!(
            session,
            [
                "allow_sql_comments",
                "check_unlogged_table",
                "client_idle_limit",
                "client_idle_limit_in_recovery",
                "client_min_messages",
                "log_client_messages",
                "log_error_verbosity",
                "log_min_messages",
                "log_per_node_statement",
                "log_statement",
            ]
        );
    }

    #[test]
    fn renamed_parameters_point_at_real_ones() {
        for (_, new) in RENAMED {
            assert!(find(new).is_some(), "{new}");
        }
    }
}
