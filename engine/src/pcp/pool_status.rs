//! The rows of `pcp_pool_status` (and `SHOW pool_status`): parameter, value, description.
//!
//! The row order is Pgpool-II 4.3's. Booleans print as `1`/`0` and the clustering mode as its
//! number, as pgpool's `%d` does; other values as `PGPOOL SHOW` prints them. Parameters
//! corepool does not have (watchdog, query cache internals) print an empty value.

use crate::cluster::ClusterState;
use crate::config::Config;

/// One row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    /// Parameter name.
    pub name: String,
    /// Value text.
    pub value: String,
    /// What it is.
    pub description: String,
}

/// The scalar rows: name and description, in pgpool's order.
const SCALARS: &[(&str, &str)] = &[
    ("backend_clustering_mode", "clustering mode"),
    ("listen_addresses", "host name(s) or IP address(es) to listen on"),
    ("port", "pgpool accepting port number"),
    ("socket_dir", "pgpool socket directory"),
    ("pcp_listen_addresses", "host name(s) or IP address(es) for pcp process to listen on"),
    ("pcp_port", "PCP port # to bind"),
    ("pcp_socket_dir", "PCP socket directory"),
    ("enable_pool_hba", "if true, use pool_hba.conf for client authentication"),
    ("pool_passwd", "file name of pool_passwd for md5 authentication"),
    ("authentication_timeout", "maximum time in seconds to complete client authentication"),
    ("allow_clear_text_frontend_auth", "allow to use clear text password authentication with clients"),
    ("ssl", "SSL support"),
    ("ssl_key", "SSL private key file"),
    ("ssl_cert", "SSL public certificate file"),
    ("ssl_ca_cert", "single PEM format file containing CA root certificate(s)"),
    ("ssl_ca_cert_dir", "directory containing CA root certificate(s)"),
    ("ssl_crl_file", "SSL certificate revocation list file"),
    ("ssl_ciphers", "allowed SSL ciphers"),
    ("ssl_prefer_server_ciphers", "Use server's SSL cipher preferences"),
    ("ssl_ecdh_curve", "the curve to use in ECDH key exchange"),
    ("ssl_dh_params_file", "path to the Diffie-Hellman parameters contained file"),
    ("ssl_passphrase_command", "path to the SSL passphrase command"),
    ("num_init_children", "# of children initially pre-forked"),
    ("listen_backlog_multiplier", "determines the size of the queue for pending connections"),
    ("serialize_accept", "whether to serialize accept() call"),
    ("reserved_connections", "number of reserved connections"),
    ("max_pool", "max # of connection pool per child"),
    ("child_life_time", "if idle for this seconds, child exits"),
    ("child_max_connections", "if max_connections received, child exits"),
    ("connection_life_time", "if idle for this seconds, connection closes"),
    ("client_idle_limit", "if idle for this seconds, child connection closes"),
    ("log_destination", "logging destination"),
    ("log_line_prefix", "printf-style string to output at beginning of each log line"),
    ("log_error_verbosity", "controls how much detail about error should be emitted"),
    ("client_min_messages", "controls which message should be sent to client"),
    ("log_min_messages", "controls which message should be emitted to server log"),
    ("log_connections", "if true, print incoming connections to the log"),
    ("log_disconnections", "if true, print closing connections to the log"),
    ("log_hostname", "if true, resolve hostname for ps and log print"),
    ("log_statement", "if non 0, logs all SQL statements"),
    ("log_per_node_statement", "if non 0, logs all SQL statements on each node"),
    ("log_client_messages", "if non 0, logs any client messages"),
    ("log_standby_delay", "how to log standby delay"),
    ("syslog_facility", "syslog local facility"),
    ("syslog_ident", "syslog program ident string"),
    ("pid_file_name", "path to pid file"),
    ("logdir", "PgPool status file logging directory"),
    ("connection_cache", "if true, cache connection pool"),
    ("reset_query_list", "queries issued at the end of session"),
    ("replicate_select", "non 0 if SELECT statement is replicated"),
    ("insert_lock", "insert lock"),
    ("lobj_lock_table", "table name used for large object replication control"),
    ("replication_stop_on_mismatch", "stop replication mode on fatal error"),
    ("failover_if_affected_tuples_mismatch", "failover if affected tuples are mismatch"),
    ("load_balance_mode", "non 0 if operating in load balancing mode"),
    ("ignore_leading_white_space", "ignore leading white spaces"),
    ("read_only_function_list", "functions those do not write to database"),
    ("write_function_list", "functions those write to database"),
    ("primary_routing_query_pattern_list", "query patterns that should be sent to primary node"),
    ("disable_load_balance_on_write", "Load balance behavior when write query is received"),
    ("dml_adaptive_object_relationship_list", "list of relationships between objects"),
    ("statement_level_load_balance", "statement level load balancing"),
    ("sr_check_period", "sr check period"),
    ("sr_check_user", "sr check user"),
    ("sr_check_password", "sr check password"),
    ("sr_check_database", "sr check database"),
    ("delay_threshold", "standby delay threshold"),
    ("prefer_lower_delay_standby", "prefer lower delay standby"),
    ("follow_primary_command", "follow primary command"),
    ("database_redirect_preference_list", "redirect by database name"),
    ("app_name_redirect_preference_list", "redirect by application name"),
    ("allow_sql_comments", "allow SQL comments"),
    ("health_check_period", "health check period"),
    ("health_check_timeout", "health check timeout"),
    ("health_check_user", "health check user"),
    ("health_check_password", "health check password"),
    ("health_check_database", "health check database"),
    ("health_check_max_retries", "health check max retries"),
    ("health_check_retry_delay", "health check retry delay"),
    ("connect_timeout", "connect timeout"),
    ("failover_command", "failover command"),
    ("failback_command", "failback command"),
    ("failover_on_backend_error", "fail over on backend error"),
    ("failover_on_backend_shutdown", "fail over on backend shutdown"),
    ("detach_false_primary", "detach false primary"),
    ("auto_failback", "auto_failback"),
    ("auto_failback_interval", "auto_failback_interval"),
    ("recovery_user", "online recovery user"),
    ("recovery_1st_stage_command", "execute a command in first stage."),
    ("recovery_2nd_stage_command", "execute a command in second stage."),
    ("recovery_timeout", "max time in seconds to wait for the recovering node's postmaster"),
    ("search_primary_node_timeout", "max time in seconds to search for primary node after failover"),
    ("client_idle_limit_in_recovery", "if idle for this seconds, child connection closes in recovery 2nd stage"),
    ("relcache_expire", "relation cache expiration time in seconds"),
    ("relcache_size", "number of relation cache entry"),
    ("check_temp_table", "enable temporary table check"),
    ("check_unlogged_table", "enable unlogged table check"),
    ("enable_shared_relcache", "If true, relation cache stored in memory cache, the cache is shared among child process"),
    ("relcache_query_target", "Target node to send relache queries"),
    ("use_watchdog", "non 0 if operating in use_watchdog"),
    ("memory_cache_enabled", "If true, use the memory cache functionality, false by default"),
    ("memqcache_method", "Cache store method. either shmem(shared memory) or Memcached. shmem by default"),
    ("memqcache_total_size", "Total memory size in bytes for storing memory cache. Mandatory if memqcache_method=shmem"),
    ("memqcache_max_num_cache", "Total number of cache entries"),
    ("memqcache_expire", "Memory cache entry life time specified in seconds. 60 by default"),
    ("memqcache_auto_cache_invalidation", "If true, invalidation of query cache is triggered by corresponding DDL/DML/DCL"),
    ("memqcache_maxcache", "Maximum SELECT result size in bytes"),
    ("memqcache_cache_block_size", "Cache block size in bytes. 8192 by default"),
    ("memqcache_oiddir", "Temporary work directory to record table oids"),
    ("cache_safe_memqcache_table_list", "Comma separated list of table names to memcache that don't write to database"),
    ("cache_unsafe_memqcache_table_list", "Comma separated list of table names not to memcache that don't write to database"),
];

/// Every row for `config`, then the per-backend rows from the live node states.
pub fn rows(config: &Config, state: &ClusterState) -> Vec<Row> {
    let mut out: Vec<Row> = SCALARS
        .iter()
        .map(|(name, description)| Row {
            name: (*name).to_owned(),
            value: value(config, name),
            description: (*description).to_owned(),
        })
        .collect();
    let weights = config.normalized_weights();
    for (i, b) in config.backends.iter().enumerate() {
        let status = state.node(i).map_or("unused", |n| n.status().name());
        let delay = state.node(i).map_or(0, |n| n.replication_delay());
        let mut flag = if b.flags.allow_to_failover {
            "ALLOW_TO_FAILOVER".to_owned()
        } else {
            "DISALLOW_TO_FAILOVER".to_owned()
        };
        if b.flags.always_primary {
            flag.push_str("|ALWAYS_PRIMARY");
        }
        let per_node = [
            (format!("backend_hostname{i}"), b.hostname.clone(), "backend #%d hostname"),
            (format!("backend_port{i}"), b.port.to_string(), "backend #%d port number"),
            (
                format!("backend_weight{i}"),
                format!("{:.6}", weights.get(i).copied().unwrap_or(0.0)),
                "weight of backend #%d",
            ),
            (
                format!("backend_data_directory{i}"),
                b.data_directory.clone(),
                "data directory for backend #%d",
            ),
            (format!("backend_status{i}"), status.to_owned(), "status of backend #%d"),
            (format!("standby_delay{i}"), delay.to_string(), "standby delay of backend #%d"),
            (format!("backend_flag{i}"), flag, "backend #%d flag"),
            (
                format!("backend_application_name{i}"),
                b.application_name.clone(),
                "application_name for backend #%d",
            ),
        ];
        for (name, value, description) in per_node {
            out.push(Row {
                name,
                value,
                description: description.replace("%d", &i.to_string()),
            });
        }
    }
    out
}

fn value(config: &Config, name: &str) -> String {
    if name == "backend_clustering_mode" {
        return config.backend_clustering_mode.code().to_string();
    }
    match config.show(name) {
        Some(v) if v == "on" => "1".to_owned(),
        Some(v) if v == "off" => "0".to_owned(),
        Some(v) => v,
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::{Node, NodeAddress, NodeStatus};
    use crate::config::BackendConfig;

    #[test]
    fn scalar_rows_then_eight_rows_per_backend() {
        let mut config = Config::default();
        for h in ["a", "b"] {
            config.backends.push(BackendConfig {
                hostname: h.into(),
                port: 5432,
                weight: 1.0,
                ..BackendConfig::default()
            });
        }
        let nodes = (0..2)
            .map(|i| {
                let addr = NodeAddress::Tcp {
                    host: "a".into(),
                    port: 5432,
                };
                Node::new(i, addr, 1.0, NodeStatus::Waiting)
            })
            .collect();
        let state = ClusterState::new(nodes, 1, 1);
        let rows = rows(&config, &state);
        assert_eq!(rows.len(), SCALARS.len() + 16);
        assert_eq!(rows[0].value, "1");
        let find = |n: &str| rows.iter().find(|r| r.name == n).unwrap().value.clone();
        assert_eq!(find("backend_weight1"), "0.500000");
        assert_eq!(find("backend_status0"), "waiting");
        assert_eq!(find("backend_flag0"), "ALLOW_TO_FAILOVER");
        assert_eq!(find("connection_cache"), "1");
        assert_eq!(find("port"), "9999");
    }
}
