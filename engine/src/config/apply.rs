//! Applies assignments in file order to a default [`Config`], collecting warnings (PGB-1.2, 1.8).

use super::backend::{split_index, Slots};
use super::error::{ConfigError, ConfigWarning, WarningKind};
use super::params::{self, RENAMED};
use super::settings::Config;
use super::source::Assignment;

/// Builds a [`Config`] from assignments; later assignments win. Unknown and unsupported
/// parameters become warnings; bad values of known parameters are errors.
pub fn apply(assignments: &[Assignment]) -> Result<(Config, Vec<ConfigWarning>), ConfigError> {
    let mut config = Config::default();
    let mut slots = Slots::default();
    let mut warnings = Vec::new();
    let mut warn = |a: &Assignment, why| {
        warnings.push(ConfigWarning {
            name: a.name.clone(),
            at: a.at.clone(),
            why,
        });
    };

    for a in assignments {
        let renamed = RENAMED
            .iter()
            .find(|(old, _)| *old == a.name)
            .map(|&(_, new)| new);
        if let Some(param) = params::find(renamed.unwrap_or(&a.name)) {
            (param.set)(&mut config, &a.value).map_err(|why| ConfigError::Value {
                at: a.at.clone(),
                name: a.name.clone(),
                why,
            })?;
            if let Some(new) = renamed {
                warn(a, WarningKind::Renamed(new));
            }
            if let Some(why) = unsupported_value(&config, param.name) {
                warn(a, WarningKind::UnsupportedValue(why));
            }
        } else if slots.apply(a)? {
            // A per-node parameter, stored in its slot.
        } else if let Some(why) = ignored(&a.name) {
            warn(a, WarningKind::Ignored(why));
        } else {
            warn(a, WarningKind::Unrecognized);
        }
    }
    config.backends = slots.finish(&mut warnings)?;
    Ok((config, warnings))
}

/// Values corepool accepts but cannot honour.
fn unsupported_value(config: &Config, name: &str) -> Option<&'static str> {
    match name {
        "memory_cache_enabled" if config.memory_cache_enabled => {
            Some("corepool has no query cache; running with memory_cache_enabled = off")
        }
        "use_watchdog" if config.use_watchdog => {
            Some("corepool has no watchdog; running with use_watchdog = off")
        }
        "recovery_2nd_stage_command" if !config.recovery_2nd_stage_command.trim().is_empty() => {
            Some("the second stage runs only in native replication mode, which corepool lacks")
        }
        _ => None,
    }
}

const WATCHDOG: &str = "corepool has no watchdog";
const QUERY_CACHE: &str = "corepool has no query cache";
const RELCACHE: &str = "corepool keeps no relation cache";
const NATIVE_REPLICATION: &str = "only used by native replication mode, which corepool lacks";
const LOGGING: &str = "corepool logs to stderr; route it with the service manager";
const PROCESSES: &str = "corepool runs one thread per core, not child processes";
const SOCKETS: &str = "corepool creates its UNIX sockets with default permissions";
const RUNTIME: &str = "shards always run on corepool's own io_uring loop (glommio shards are gone)";

/// Pgpool-II 4.3/4.4 parameters for features corepool does not have, with the reason.
const IGNORED: &[(&str, &str)] = &[
    ("wd_ipc_socket_dir", WATCHDOG),
    ("wd_lifecheck_method", WATCHDOG),
    ("wd_interval", WATCHDOG),
    ("wd_priority", WATCHDOG),
    ("wd_authkey", WATCHDOG),
    ("wd_escalation_command", WATCHDOG),
    ("wd_de_escalation_command", WATCHDOG),
    ("wd_heartbeat_keepalive", WATCHDOG),
    ("wd_heartbeat_deadtime", WATCHDOG),
    ("wd_life_point", WATCHDOG),
    ("wd_lifecheck_query", WATCHDOG),
    ("wd_lifecheck_dbname", WATCHDOG),
    ("wd_lifecheck_user", WATCHDOG),
    ("wd_lifecheck_password", WATCHDOG),
    ("wd_monitoring_interfaces_list", WATCHDOG),
    ("wd_remove_shutdown_nodes", WATCHDOG),
    ("wd_lost_node_removal_timeout", WATCHDOG),
    ("wd_no_show_node_removal_timeout", WATCHDOG),
    ("trusted_servers", WATCHDOG),
    ("trusted_server_command", WATCHDOG),
    ("delegate_IP", WATCHDOG),
    ("delegate_ip", WATCHDOG),
    ("if_cmd_path", WATCHDOG),
    ("if_up_cmd", WATCHDOG),
    ("if_down_cmd", WATCHDOG),
    ("arping_path", WATCHDOG),
    ("arping_cmd", WATCHDOG),
    ("ping_path", WATCHDOG),
    ("clear_memqcache_on_escalation", WATCHDOG),
    ("failover_when_quorum_exists", WATCHDOG),
    ("failover_require_consensus", WATCHDOG),
    ("allow_multiple_failover_requests_from_node", WATCHDOG),
    ("enable_consensus_with_half_votes", WATCHDOG),
    ("hostname", WATCHDOG),
    ("wd_port", WATCHDOG),
    ("pgpool_port", WATCHDOG),
    ("heartbeat_hostname", WATCHDOG),
    ("heartbeat_port", WATCHDOG),
    ("heartbeat_device", WATCHDOG),
    ("memqcache_method", QUERY_CACHE),
    ("memqcache_memcached_host", QUERY_CACHE),
    ("memqcache_memcached_port", QUERY_CACHE),
    ("memqcache_total_size", QUERY_CACHE),
    ("memqcache_max_num_cache", QUERY_CACHE),
    ("memqcache_expire", QUERY_CACHE),
    ("memqcache_auto_cache_invalidation", QUERY_CACHE),
    ("memqcache_maxcache", QUERY_CACHE),
    ("memqcache_cache_block_size", QUERY_CACHE),
    ("memqcache_oiddir", QUERY_CACHE),
    ("cache_safe_memqcache_table_list", QUERY_CACHE),
    ("cache_unsafe_memqcache_table_list", QUERY_CACHE),
    ("relcache_expire", RELCACHE),
    ("relcache_size", RELCACHE),
    ("enable_shared_relcache", RELCACHE),
    ("relcache_query_target", RELCACHE),
    ("replicate_select", NATIVE_REPLICATION),
    ("insert_lock", NATIVE_REPLICATION),
    ("lobj_lock_table", NATIVE_REPLICATION),
    ("replication_stop_on_mismatch", NATIVE_REPLICATION),
    ("failover_if_affected_tuples_mismatch", NATIVE_REPLICATION),
    ("logging_collector", LOGGING),
    ("log_directory", LOGGING),
    ("log_filename", LOGGING),
    ("log_file_mode", LOGGING),
    ("log_truncate_on_rotation", LOGGING),
    ("log_rotation_age", LOGGING),
    ("log_rotation_size", LOGGING),
    ("syslog_facility", LOGGING),
    ("syslog_ident", LOGGING),
    ("process_management_mode", PROCESSES),
    ("process_management_strategy", PROCESSES),
    ("min_spare_children", PROCESSES),
    ("max_spare_children", PROCESSES),
    ("unix_socket_group", SOCKETS),
    ("unix_socket_permissions", SOCKETS),
    ("corepool_runtime", RUNTIME),
];

/// Why `name` (or its unindexed base, for `hostname0` and the like) is ignored, if it is.
fn ignored(name: &str) -> Option<&'static str> {
    let lookup = |n: &str| {
        IGNORED
            .iter()
            .find(|(known, _)| *known == n)
            .map(|&(_, why)| why)
    };
    lookup(name).or_else(|| split_index(name).and_then(|(base, _)| lookup(base)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::error::Location;
    use crate::config::kinds::LogLevel;
    use std::path::PathBuf;

    fn assignments(lines: &[(&str, &str)]) -> Vec<Assignment> {
        lines
            .iter()
            .enumerate()
            .map(|(i, (name, value))| Assignment {
                name: (*name).into(),
                value: (*value).into(),
                at: Location {
                    file: PathBuf::from("p.conf"),
                    line: i + 1,
                },
            })
            .collect()
    }

    #[test]
    fn later_assignments_win() {
        let (config, warnings) =
            apply(&assignments(&[("port", "5433"), ("port", "5434")])).unwrap();
        assert_eq!(config.port, 5434);
        assert!(warnings.is_empty());
    }

    #[test]
    fn unknown_and_ignored_parameters_are_warnings_with_their_lines() {
        let (config, warnings) = apply(&assignments(&[
            ("bogus_param", "1"),
            ("Port", "1"),
            ("memqcache_method", "shmem"),
            ("hostname0", ""),
            ("wd_port1", "9000"),
        ]))
        .unwrap();
        assert_eq!(config.port, 9999, "names are case-sensitive");
        let whys: Vec<_> = warnings
            .iter()
            .map(|w| (w.at.line, w.why.clone()))
            .collect();
        assert_eq!(
            whys,
            [
                (1, WarningKind::Unrecognized),
                (2, WarningKind::Unrecognized),
                (3, WarningKind::Ignored(QUERY_CACHE)),
                (4, WarningKind::Ignored(WATCHDOG)),
                (5, WarningKind::Ignored(WATCHDOG)),
            ]
        );
        assert_eq!(
            warnings[0].to_string(),
            "p.conf:1: \"bogus_param\": unrecognized configuration parameter"
        );
    }

    #[test]
    fn renamed_parameters_apply_with_a_warning() {
        let (config, warnings) =
            apply(&assignments(&[("fail_over_on_backend_error", "off")])).unwrap();
        assert!(!config.failover_on_backend_error);
        assert_eq!(
            warnings[0].why,
            WarningKind::Renamed("failover_on_backend_error")
        );
    }

    #[test]
    fn watchdog_and_query_cache_are_accepted_with_a_warning_when_on() {
        let (config, warnings) = apply(&assignments(&[
            ("use_watchdog", "off"),
            ("memory_cache_enabled", "on"),
            ("use_watchdog", "on"),
        ]))
        .unwrap();
        assert!(config.use_watchdog && config.memory_cache_enabled);
        let lines: Vec<_> = warnings.iter().map(|w| w.at.line).collect();
        assert_eq!(lines, [2, 3]);
        assert!(matches!(warnings[0].why, WarningKind::UnsupportedValue(_)));
    }

    #[test]
    fn wrong_values_for_known_parameters_are_errors() {
        let err = apply(&assignments(&[("port", "1"), ("log_min_messages", "loud")])).unwrap_err();
        assert_eq!(
            err.to_string(),
            "p.conf:1: invalid value for parameter \"port\": 1 is outside the valid range 1024..=65535"
        );
        let err = apply(&assignments(&[("log_min_messages", "loud")])).unwrap_err();
        assert!(err
            .to_string()
            .starts_with("p.conf:1: invalid value for parameter \"log_min_messages\""));
        let err = apply(&assignments(&[("load_balance_mode", "maybe")])).unwrap_err();
        assert!(matches!(err, ConfigError::Value { .. }));
        let err = apply(&assignments(&[("backend_clustering_mode", "slony")])).unwrap_err();
        assert!(
            err.to_string().contains("not supported by corepool"),
            "{err}"
        );
        let (config, _) = apply(&assignments(&[("log_min_messages", "DEBUG1")])).unwrap();
        assert_eq!(config.log_min_messages, LogLevel::Debug1);
    }
}
