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
        "memqcache_method" if config.memqcache_method == super::MemqcacheMethod::Memcached => Some(
            "memqcache_method = memcached is not supported; the query cache stays off (use shmem)",
        ),
        "recovery_2nd_stage_command" if !config.recovery_2nd_stage_command.trim().is_empty() => {
            Some("the second stage runs only in native replication mode, which corepool lacks")
        }
        _ => None,
    }
}

const LEASES: &str =
    "replaced by etcd leases (etcd_lease_ttl): an instance is alive while its lease is";
const MEMBERS: &str = "the watchdog's members are the instances registered under etcd_prefix";
const WATCHDOG_IPC: &str = "the watchdog runs inside corepool; there is no IPC socket";
const WATCHDOG_AUTH: &str = "instances talk only to etcd; use etcd_username and TLS";
const RELCACHE: &str = "corepool keeps no relation cache";
const NATIVE_REPLICATION: &str = "only used by native replication mode, which corepool lacks";
const LOGGING: &str = "corepool logs to stderr; route it with the service manager";
const PROCESSES: &str = "corepool runs one thread per core, not child processes";
const SOCKETS: &str = "corepool creates its UNIX sockets with default permissions";
const RUNTIME: &str = "shards always run on corepool's own io_uring loop (glommio shards are gone)";

/// Pgpool-II 4.3/4.4 parameters for features corepool does not have, with the reason.
const IGNORED: &[(&str, &str)] = &[
    ("wd_ipc_socket_dir", WATCHDOG_IPC),
    ("wd_authkey", WATCHDOG_AUTH),
    ("wd_lifecheck_method", LEASES),
    ("wd_interval", LEASES),
    ("wd_heartbeat_keepalive", LEASES),
    ("wd_heartbeat_deadtime", LEASES),
    ("wd_life_point", LEASES),
    ("wd_lifecheck_query", LEASES),
    ("wd_lifecheck_dbname", LEASES),
    ("wd_lifecheck_user", LEASES),
    ("wd_lifecheck_password", LEASES),
    ("wd_monitoring_interfaces_list", LEASES),
    ("trusted_servers", LEASES),
    ("trusted_server_command", LEASES),
    ("ping_path", LEASES),
    ("heartbeat_hostname", LEASES),
    ("heartbeat_port", LEASES),
    ("heartbeat_device", LEASES),
    ("wd_remove_shutdown_nodes", MEMBERS),
    ("wd_lost_node_removal_timeout", MEMBERS),
    ("wd_no_show_node_removal_timeout", MEMBERS),
    ("hostname", MEMBERS),
    ("wd_port", MEMBERS),
    ("pgpool_port", MEMBERS),
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
            ("relcache_size", "256"),
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
                (3, WarningKind::Ignored(RELCACHE)),
                (4, WarningKind::Ignored(MEMBERS)),
                (5, WarningKind::Ignored(MEMBERS)),
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
    fn memcached_is_refused_with_a_warning_and_the_watchdog_is_supported() {
        let (config, warnings) = apply(&assignments(&[
            ("use_watchdog", "off"),
            ("memqcache_method", "memcached"),
            ("use_watchdog", "on"),
            (
                "etcd_endpoints",
                "http://10.0.0.1:2379, http://10.0.0.2:2379",
            ),
            ("delegate_IP", "10.0.0.9"),
            ("wd_heartbeat_deadtime", "30"),
            ("failover_require_consensus", "off"),
        ]))
        .unwrap();
        assert!(config.use_watchdog);
        assert_eq!(
            config.memqcache_method,
            super::super::MemqcacheMethod::Memcached
        );
        assert_eq!(config.watchdog.etcd_endpoints.len(), 2);
        assert_eq!(config.watchdog.delegate_ip, "10.0.0.9");
        assert!(!config.watchdog.failover_require_consensus);
        let lines: Vec<_> = warnings
            .iter()
            .map(|w| (w.at.line, w.why.clone()))
            .collect();
        assert_eq!(lines.len(), 2);
        assert!(matches!(lines[0], (2, WarningKind::UnsupportedValue(_))));
        assert_eq!(lines[1], (6, WarningKind::Ignored(LEASES)));
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
