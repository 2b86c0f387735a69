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

/// The scalar rows in pgpool's order: name, the value Pgpool-II 4.3.5 prints by default (used
/// for parameters corepool does not have), and the description as `pcp_pool_status` shows it
/// (the tool cuts descriptions to 79 bytes). Generated from Debian's pgpool 4.3.5 output.
#[rustfmt::skip]
const SCALARS: &[(&str, &str, &str)] = &[
    ("backend_clustering_mode", "1", "clustering mode"),
    ("listen_addresses", "localhost", "host name(s) or IP address(es) to listen on"),
    ("port", "9999", "pgpool accepting port number"),
    ("socket_dir", "/tmp", "pgpool socket directory"),
    ("pcp_listen_addresses", "localhost", "host name(s) or IP address(es) for pcp process to listen on"),
    ("pcp_port", "9898", "PCP port # to bind"),
    ("pcp_socket_dir", "/tmp", "PCP socket directory"),
    ("enable_pool_hba", "0", "if true, use pool_hba.conf for client authentication"),
    ("pool_passwd", "", "file name of pool_passwd for md5 authentication"),
    ("authentication_timeout", "60", "maximum time in seconds to complete client authentication"),
    ("allow_clear_text_frontend_auth", "0", "allow to use clear text password auth when pool_passwd does not contain passwor"),
    ("ssl", "0", "SSL support"),
    ("ssl_key", "", "SSL private key file"),
    ("ssl_cert", "", "SSL public certificate file"),
    ("ssl_ca_cert", "", "single PEM format file containing CA root certificate(s)"),
    ("ssl_ca_cert_dir", "", "directory containing CA root certificate(s)"),
    ("ssl_crl_file", "", "SSL certificate revocation list file"),
    ("ssl_ciphers", "HIGH:MEDIUM:+3DES:!aNULL", "allowed SSL ciphers"),
    ("ssl_prefer_server_ciphers", "0", "Use server's SSL cipher preferences"),
    ("ssl_ecdh_curve", "prime256v1", "the curve to use in ECDH key exchange"),
    ("ssl_dh_params_file", "", "path to the Diffie-Hellman parameters contained file"),
    ("ssl_passphrase_command", "", "external command to be invoked when a passphrase for decrypting an SSL file suc"),
    ("num_init_children", "32", "# of children initially pre-forked"),
    ("listen_backlog_multiplier", "2", "determines the size of the queue for pending connections"),
    ("serialize_accept", "0", "whether to serialize accept() call"),
    ("reserved_connections", "0", "number of reserved connections"),
    ("max_pool", "4", "max # of connection pool per child"),
    ("child_life_time", "300", "if idle for this seconds, child exits"),
    ("child_max_connections", "0", "if max_connections received, child exits"),
    ("connection_life_time", "0", "if idle for this seconds, connection closes"),
    ("client_idle_limit", "0", "if idle for this seconds, child connection closes"),
    ("log_destination", "stderr", "logging destination"),
    ("log_line_prefix", "%m: %a pid %p: ", "printf-style string to output at beginning of each log line"),
    ("log_error_verbosity", "1", "controls how much detail about error should be emitted"),
    ("client_min_messages", "18", "controls which message should be sent to client"),
    ("log_min_messages", "19", "controls which message should be emitted to server log"),
    ("log_connections", "0", "if true, print incoming connections to the log"),
    ("log_disconnections", "0", "if true, print closing connections to the log"),
    ("log_hostname", "0", "if true, resolve hostname for ps and log print"),
    ("log_statement", "0", "if non 0, logs all SQL statements"),
    ("log_per_node_statement", "0", "if non 0, logs all SQL statements on each node"),
    ("log_client_messages", "0", "if non 0, logs any client messages"),
    ("log_standby_delay", "2", "how to log standby delay"),
    ("syslog_facility", "LOCAL0", "syslog local facility"),
    ("syslog_ident", "pgpool", "syslog program ident string"),
    ("pid_file_name", "/var/run/pgpool/pgpool.pid", "path to pid file"),
    ("logdir", "/tmp", "PgPool status file logging directory"),
    ("connection_cache", "1", "if true, cache connection pool"),
    ("reset_query_list", "ABORT;DISCARD ALL", "queries issued at the end of session"),
    ("replicate_select", "0", "non 0 if SELECT statement is replicated"),
    ("insert_lock", "1", "insert lock"),
    ("lobj_lock_table", "", "table name used for large object replication control"),
    ("replication_stop_on_mismatch", "0", "stop replication mode on fatal error"),
    ("failover_if_affected_tuples_mismatch", "0", "failover if affected tuples are mismatch"),
    ("load_balance_mode", "1", "non 0 if operating in load balancing mode"),
    ("ignore_leading_white_space", "1", "ignore leading white spaces"),
    ("read_only_function_list", "", "functions those do not write to database"),
    ("write_function_list", "", "functions those write to database"),
    ("primary_routing_query_pattern_list", "", "query patterns that should be sent to primary node"),
    ("disable_load_balance_on_write", "2", "Load balance behavior when write query is received"),
    ("dml_adaptive_object_relationship_list", "(null)", "list of relationships between objects"),
    ("statement_level_load_balance", "0", "statement level load balancing"),
    ("sr_check_period", "0", "sr check period"),
    ("sr_check_user", "nobody", "sr check user"),
    ("sr_check_database", "postgres", "sr check database"),
    ("delay_threshold", "0", "standby delay threshold"),
    ("prefer_lower_delay_standby", "0", "load balancing considering streaming delay"),
    ("follow_primary_command", "", "follow primary command"),
    ("database_redirect_preference_list", "(null)", "redirect by database name"),
    ("app_name_redirect_preference_list", "(null)", "redirect by application name"),
    ("allow_sql_comments", "0", "allow SQL comments"),
    ("health_check_period", "0", "health check period"),
    ("health_check_timeout", "20", "health check timeout"),
    ("health_check_user", "nobody", "health check user"),
    ("health_check_database", "postgres", "health check database"),
    ("health_check_max_retries", "0", "health check max retries"),
    ("health_check_retry_delay", "1", "health check retry delay"),
    ("connect_timeout", "10000", "connect timeout"),
    ("failover_command", "", "failover command"),
    ("failback_command", "", "failback command"),
    ("failover_on_backend_error", "1", "failover on backend error"),
    ("failover_on_backend_shutdown", "1", "failover on backend shutdown"),
    ("detach_false_primary", "0", "detach false primary"),
    ("auto_failback", "0", "auto_failback"),
    ("auto_failback_interval", "60", "auto_failback_interval"),
    ("recovery_user", "", "online recovery user"),
    ("recovery_1st_stage_command", "", "execute a command in first stage."),
    ("recovery_2nd_stage_command", "", "execute a command in second stage."),
    ("recovery_timeout", "90", "max time in seconds to wait for the recovering node's postmaster"),
    ("search_primary_node_timeout", "300", "max time in seconds to search for primary node after failover"),
    ("client_idle_limit_in_recovery", "0", "if idle for this seconds, child connection closes in recovery 2nd stage"),
    ("relcache_expire", "0", "relation cache expiration time in seconds"),
    ("relcache_size", "256", "number of relation cache entry"),
    ("check_temp_table", "1", "enable temporary table check"),
    ("check_unlogged_table", "1", "enable unlogged table check"),
    ("enable_shared_relcache", "1", "If true, relation cache stored in memory cache"),
    ("relcache_query_target", "1", "Target node to send relcache queries"),
    ("use_watchdog", "0", "non 0 if operating in use_watchdog"),
    ("wd_ipc_socket_dir", "/tmp", "watchdog ipc socket directory"),
    ("wd_lifecheck_method", "2", "method of watchdog lifecheck"),
    ("clear_memqcache_on_escalation", "1", "If true, clear all the query caches in shared memory when escalation occurs"),
    ("wd_escalation_command", "", "command executed when escalation occurs"),
    ("wd_de_escalation_command", "", "command executed when leader pgpool resigns occurs"),
    ("trusted_servers", "", "upper server list to observe connection"),
    ("delegate_IP", "", "delegate IP address of leader pgpool"),
    ("wd_priority", "1", "watchdog priority"),
    ("wd_interval", "10", "life check interval (second)"),
    ("ping_path", "/bin", "path to ping command"),
    ("if_cmd_path", "/sbin", "path to interface up/down command"),
    ("if_up_cmd", "/usr/bin/sudo /sbin/ip addr add $_IP_$/24 dev eth0 label eth0:0", "virtual interface up command with full parameters"),
    ("if_down_cmd", "/usr/bin/sudo /sbin/ip addr del $_IP_$/24 dev eth0", "virtual interface down command with full parameters"),
    ("arping_path", "/usr/sbin", "path to arping command"),
    ("arping_cmd", "/usr/bin/sudo /usr/sbin/arping -U $_IP_$ -w 1 -I eth0", "send ARP REQUEST to neighbour host"),
    ("wd_heartbeat_keepalive", "2", "interval time of sending heartbeat signal (sec)"),
    ("wd_heartbeat_deadtime", "30", "deadtime interval for heartbeat signal (sec)"),
    ("wd_life_point", "3", "retry times of life check"),
    ("wd_lifecheck_query", "SELECT 1", "lifecheck query to pgpool from watchdog"),
    ("wd_lifecheck_dbname", "template1", "database name connected for lifecheck"),
    ("wd_lifecheck_user", "nobody", "watchdog user monitoring pgpools in lifecheck"),
    ("wd_monitoring_interfaces_list", "", "interfaces to monitor by watchdog"),
    ("memory_cache_enabled", "0", "If true, use the memory cache functionality, false by default"),
    ("memqcache_method", "1", "Cache store method. either shmem(shared memory) or Memcached. shmem by default"),
    ("memqcache_memcached_host", "localhost", "Memcached host name. Mandatory if memqcache_method=memcached"),
    ("memqcache_memcached_port", "11211", "Memcached port number. Mandatory if memqcache_method=memcached"),
    ("memqcache_total_size", "67108864", "Total memory size in bytes for storing memory cache. Mandatory if memqcache_met"),
    ("memqcache_max_num_cache", "1000000", "Total number of cache entries"),
    ("memqcache_expire", "0", "Memory cache entry life time specified in seconds. 60 by default"),
    ("memqcache_auto_cache_invalidation", "1", "If true, invalidation of query cache is triggered by corresponding DDL/DML/DCL("),
    ("memqcache_maxcache", "409600", "Maximum SELECT result size in bytes"),
    ("memqcache_cache_block_size", "1048576", "Cache block size in bytes. 8192 by default"),
    ("memqcache_cache_oiddir", "/var/log/pgpool/oiddir", "Temporary work directory to record table oids"),
    ("memqcache_stats_start_time", "", "Start time of query cache stats"),
    ("memqcache_no_cache_hits", "0", "Number of SELECTs not hitting query cache"),
    ("memqcache_cache_hits", "0", "Number of SELECTs hitting query cache"),
    ("cache_safe_memqcache_table_list", "", "tables to memqcache"),
    ("cache_unsafe_memqcache_table_list", "", "tables not to memqcache"),
];

/// Every row for `config`, then the per-backend rows from the live node states.
pub fn rows(config: &Config, state: &ClusterState) -> Vec<Row> {
    let mut out: Vec<Row> = SCALARS
        .iter()
        .map(|(name, default, description)| Row {
            name: (*name).to_owned(),
            value: cache_counter(state, name)
                .or_else(|| value(config, name))
                .unwrap_or_else(|| (*default).to_owned()),
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
            (
                format!("backend_hostname{i}"),
                b.hostname.clone(),
                "backend #%d hostname",
            ),
            (
                format!("backend_port{i}"),
                b.port.to_string(),
                "backend #%d port number",
            ),
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
            (
                format!("backend_status{i}"),
                status.to_owned(),
                "status of backend #%d",
            ),
            (
                format!("standby_delay{i}"),
                delay.to_string(),
                "standby delay of backend #%d",
            ),
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

/// The query cache's hit counters, which pgpool reports among its parameters.
fn cache_counter(state: &ClusterState, name: &str) -> Option<String> {
    let stats = || {
        state
            .query_cache
            .as_ref()
            .map(|c| c.stats())
            .unwrap_or_default()
    };
    match name {
        "memqcache_cache_hits" => Some(stats().hits.to_string()),
        "memqcache_no_cache_hits" => Some(stats().selects.to_string()),
        _ => None,
    }
}

/// The value as pgpool prints it, `None` for parameters corepool does not have.
fn value(config: &Config, name: &str) -> Option<String> {
    match name {
        "backend_clustering_mode" => {
            return Some(config.backend_clustering_mode.code().to_string())
        }
        "health_check_database" => {
            return Some(config.health_check.database_or_default().to_owned())
        }
        "memqcache_stats_start_time" => return Some(super::time::format_asctime(now())),
        _ => {}
    }
    let shown = config.show(name)?;
    Some(match (name, shown.as_str()) {
        (_, "on") => "1".to_owned(),
        (_, "off") => "0".to_owned(),
        (
            "dml_adaptive_object_relationship_list"
            | "database_redirect_preference_list"
            | "app_name_redirect_preference_list",
            "",
        ) => "(null)".to_owned(),
        _ => enum_code(name, &shown).map_or(shown, |c| c.to_string()),
    })
}

/// pgpool prints enum parameters as their C enum values.
fn enum_code(name: &str, value: &str) -> Option<u8> {
    let table: &[(&str, u8)] = match name {
        "log_error_verbosity" => &[("terse", 0), ("default", 1), ("verbose", 2)],
        "client_min_messages" | "log_min_messages" => &[
            ("debug5", 10),
            ("debug4", 11),
            ("debug3", 12),
            ("debug2", 13),
            ("debug1", 14),
            ("log", 15),
            ("commerror", 16),
            ("info", 17),
            ("notice", 18),
            ("warning", 19),
            ("error", 20),
            ("fatal", 21),
            ("panic", 22),
        ],
        "log_standby_delay" => &[("always", 1), ("if_over_threshold", 2), ("none", 3)],
        "disable_load_balance_on_write" => &[
            ("off", 1),
            ("transaction", 2),
            ("trans_transaction", 3),
            ("always", 4),
            ("dml_adaptive", 5),
        ],
        "check_temp_table" => &[
            ("catalog", 1),
            ("trace", 2),
            ("none", 3),
            ("on", 4),
            ("off", 5),
        ],
        "relcache_query_target" => &[("primary", 1), ("load_balance_node", 2)],
        "memqcache_method" => &[("shmem", 1), ("memcached", 2)],
        _ => return None,
    };
    let value = value.to_ascii_lowercase();
    table.iter().find(|(n, _)| *n == value).map(|(_, c)| *c)
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::{Node, NodeAddress, NodeStatus};
    use crate::config::BackendConfig;

    fn find_in(rows: &[Row], name: &str) -> String {
        rows.iter().find(|r| r.name == name).unwrap().value.clone()
    }

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
        assert_eq!(find_in(&rows, "client_min_messages"), "18");
        assert_eq!(find_in(&rows, "wd_lifecheck_method"), "2");
        assert_eq!(
            find_in(&rows, "database_redirect_preference_list"),
            "(null)"
        );
        assert_eq!(rows[0].value, "1");
        let find = |n: &str| rows.iter().find(|r| r.name == n).unwrap().value.clone();
        assert_eq!(find("backend_weight1"), "0.500000");
        assert_eq!(find("backend_status0"), "waiting");
        assert_eq!(find("backend_flag0"), "ALLOW_TO_FAILOVER");
        assert_eq!(find("connection_cache"), "1");
        assert_eq!(find("port"), "9999");
    }
}
