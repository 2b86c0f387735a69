//! The configuration files the proxies are started with: pgbouncer.ini, pgpool.conf (also
//! corepool's), pgdog.toml and users.toml, from one [`ProxyConfig`].
//!
//! Each proxy gets the smallest configuration that makes it a fair pooler for the benchmark:
//! trust authentication, one backend, no health checks, no per-connection logging. Session
//! poolers get pools big enough for the largest workload, so nobody queues for a server
//! connection; transaction poolers get the run's pool size (20 in the transaction-pooling
//! shape), which is the point of them.

use std::fmt::Write;
use std::path::Path;

use crate::pgbench::{DATABASE, USER};

/// Sizes and settings given to a proxy.
#[derive(Debug, Clone, Default)]
pub struct ProxyConfig {
    /// Clients the proxy must accept at once (`max_client_conn`, `num_init_children`).
    pub max_clients: u32,
    /// Server connections per user/database: PgBouncer's `default_pool_size`, PgDog's
    /// `default_pool_size`.
    pub pool_size: u32,
    /// corepool's `corepool_cores`; `None` = all cores.
    pub corepool_cores: Option<u32>,
    /// `--corepool-conf` settings, written into corepool's pgpool.conf as given (replacing a
    /// setting of the same name the harness wrote).
    pub corepool_conf: Vec<(String, String)>,
    /// Settings written into Pgpool-II's pgpool.conf the same way (compare-query-cache turns
    /// its shmem query cache on with them).
    pub pgpool_conf: Vec<(String, String)>,
    /// corepool's `default_pool_size` when it pools transactions (the transaction poolers'
    /// pool, so it gets the backends PgBouncer and PgDog get); `None` in session pooling.
    pub corepool_pool_size: Option<u32>,
    /// Pgpool-II and corepool in streaming-replication mode with load balancing over every node
    /// of the cluster (primary and standbys) instead of raw mode on the primary alone.
    pub load_balance: bool,
    /// PgDog's tokio worker threads (`workers`).
    pub pgdog_workers: u32,
    /// PgBouncer 1.25's `max_prepared_statements` in transaction mode.
    pub max_prepared_statements: u32,
    /// The epoll pump's `--trigger` (`edge` or `level`; empty: the pump's default).
    pub pump_trigger: String,
}

/// pgbouncer.ini for a PgBouncer on 127.0.0.1:`port` in `pool_mode` in front of
/// 127.0.0.1:`backend_port`; its socket, pid file and userlist live in `dir`. With
/// `prepared_statements` (PgBouncer 1.21 and later), `max_prepared_statements` is set to it.
pub fn pgbouncer(
    dir: &Path,
    port: u16,
    backend_port: u16,
    pool_mode: &str,
    prepared_statements: Option<u32>,
    config: &ProxyConfig,
) -> String {
    let dir = dir.display();
    let prepared = prepared_statements.map_or(String::new(), |n| {
        format!("max_prepared_statements = {n}\n")
    });
    format!(
        "[databases]\n\
         * = host=127.0.0.1 port={backend_port}\n\
         \n\
         [pgbouncer]\n\
         listen_addr = 127.0.0.1\n\
         listen_port = {port}\n\
         unix_socket_dir = {dir}\n\
         pidfile = {dir}/pgbouncer.pid\n\
         auth_type = trust\n\
         auth_file = {dir}/userlist.txt\n\
         admin_users = postgres\n\
         pool_mode = {pool_mode}\n\
         default_pool_size = {pool}\n\
         max_client_conn = {max_clients}\n\
         max_db_connections = 0\n\
         listen_backlog = 4096\n\
         ignore_startup_parameters = extra_float_digits\n\
         log_connections = 0\n\
         log_disconnections = 0\n\
         log_pooler_errors = 1\n\
         {prepared}",
        pool = config.pool_size,
        max_clients = config.max_clients,
    )
}

/// pgpool.conf (Pgpool-II 4.3 names) for a pooler on 127.0.0.1:`port` with PCP on `pcp_port`,
/// one backend at 127.0.0.1:`backend_port` in raw mode, and its sockets, pid file and status
/// file in `dir`. corepool reads the same file.
pub fn pgpool(
    dir: &Path,
    port: u16,
    pcp_port: u16,
    backend_port: u16,
    config: &ProxyConfig,
) -> String {
    pgpool_conf(dir, port, pcp_port, &[backend_port], false, config)
}

/// pgpool.conf like [`pgpool`] but for the load-balancing comparison: streaming replication
/// mode with every node of `backend_ports` (the primary first) as a backend of weight 1,
/// `load_balance_mode = on`, and the cluster superuser as `sr_check_user` so the primary can be
/// found at start-up (streaming-replication checks and health checks stay off).
pub fn pgpool_load_balancing(
    dir: &Path,
    port: u16,
    pcp_port: u16,
    backend_ports: &[u16],
    config: &ProxyConfig,
) -> String {
    pgpool_conf(dir, port, pcp_port, backend_ports, true, config)
}

fn pgpool_conf(
    dir: &Path,
    port: u16,
    pcp_port: u16,
    backend_ports: &[u16],
    load_balance: bool,
    config: &ProxyConfig,
) -> String {
    let raw_dir = dir.display().to_string();
    let pid_file = quote(&format!("{raw_dir}/pgpool.pid"));
    let dir = quote(&raw_dir);
    let mode = if load_balance {
        "streaming_replication"
    } else {
        "raw"
    };
    let mut settings: Vec<(String, String)> = [
        ("backend_clustering_mode", quote(mode)),
        ("listen_addresses", quote("127.0.0.1")),
        ("port", port.to_string()),
        ("socket_dir", dir.clone()),
        ("pcp_listen_addresses", quote("127.0.0.1")),
        ("pcp_port", pcp_port.to_string()),
        ("pcp_socket_dir", dir.clone()),
        ("wd_ipc_socket_dir", dir.clone()),
    ]
    .map(|(name, value)| (name.to_string(), value))
    .to_vec();
    for (i, backend_port) in backend_ports.iter().enumerate() {
        settings.extend([
            (format!("backend_hostname{i}"), quote("127.0.0.1")),
            (format!("backend_port{i}"), backend_port.to_string()),
            (format!("backend_weight{i}"), "1".into()),
            // A failed connection must not detach a node (in raw mode the only one) and leave
            // the run measuring something else.
            (format!("backend_flag{i}"), quote("DISALLOW_TO_FAILOVER")),
        ]);
    }
    let rest: &[(&str, String)] = &[
        ("num_init_children", config.max_clients.to_string()),
        ("max_pool", "1".into()),
        ("reserved_connections", "0".into()),
        ("listen_backlog_multiplier", "4".into()),
        // Children never retire by age or count during a run.
        ("child_life_time", "0".into()),
        ("child_max_connections", "0".into()),
        ("connection_life_time", "0".into()),
        ("connection_cache", "on".into()),
        (
            "load_balance_mode",
            if load_balance { "on" } else { "off" }.into(),
        ),
        ("enable_pool_hba", "off".into()),
        ("pool_passwd", quote("")),
        ("pid_file_name", pid_file),
        ("logdir", dir.clone()),
        ("log_destination", quote("stderr")),
        ("log_connections", "off".into()),
        ("sr_check_period", "0".into()),
        ("health_check_period", "0".into()),
        ("failover_on_backend_error", "off".into()),
        ("memory_cache_enabled", "off".into()),
        ("use_watchdog", "off".into()),
        ("ssl", "off".into()),
    ];
    settings.extend(
        rest.iter()
            .map(|(name, value)| (name.to_string(), value.clone())),
    );
    if load_balance {
        // Even with sr_check_period = 0, this user asks each node pg_is_in_recovery() at
        // start-up to find the primary; trust auth, so no password.
        settings.extend([
            ("sr_check_user".to_string(), quote(USER)),
            ("sr_check_password".to_string(), quote("")),
        ]);
    }
    let mut out = String::from("# Written by corepool-bench.\n");
    for (name, value) in &settings {
        let _ = writeln!(out, "{name} = {value}");
    }
    out
}

/// Settings only corepool reads, appended to its copy of [`pgpool`].
pub fn corepool_extras(config: &ProxyConfig) -> String {
    let mut out = String::new();
    if let Some(cores) = config.corepool_cores {
        let _ = writeln!(out, "corepool_cores = {cores}");
    }
    if let Some(pool) = config.corepool_pool_size {
        let _ = writeln!(out, "default_pool_size = {pool}");
    }
    out
}

/// `text` (a pgpool.conf) with each `(name, value)` of `settings` written as `name = value`:
/// in place of the line that set `name`, or appended when no line did.
pub fn with_settings(text: &str, settings: &[(String, String)]) -> String {
    let mut out = String::with_capacity(text.len());
    let mut used = vec![false; settings.len()];
    for line in text.lines() {
        let name = line.split('=').next().unwrap_or("").trim();
        match settings.iter().position(|(n, _)| n == name) {
            Some(i) if !line.trim_start().starts_with('#') => {
                let _ = writeln!(out, "{name} = {}", settings[i].1);
                used[i] = true;
            }
            _ => {
                out.push_str(line);
                out.push('\n');
            }
        }
    }
    for ((name, value), used) in settings.iter().zip(used) {
        if !used {
            let _ = writeln!(out, "{name} = {value}");
        }
    }
    out
}

/// pgdog.toml and users.toml for a PgDog on 127.0.0.1:`port` in transaction mode in front of
/// 127.0.0.1:`backend_port`, with the settings of the peers' `conf/pgdog.toml` (prepared
/// statements rewritten per server connection, its default). PgDog enables a pool only for a
/// user listed with a password, even under trust authentication (then it never asks the client
/// for it, and PostgreSQL trusts PgDog too).
pub fn pgdog(port: u16, backend_port: u16, config: &ProxyConfig) -> (String, String) {
    let pgdog = format!(
        "# Written by corepool-bench.\n\
         [general]\n\
         host = \"127.0.0.1\"\n\
         port = {port}\n\
         workers = {workers}\n\
         default_pool_size = {pool}\n\
         pooler_mode = \"transaction\"\n\
         auth_type = \"trust\"\n\
         prepared_statements = \"extended\"\n\
         \n\
         [[databases]]\n\
         name = \"{DATABASE}\"\n\
         host = \"127.0.0.1\"\n\
         port = {backend_port}\n",
        workers = config.pgdog_workers.max(1),
        pool = config.pool_size,
    );
    let users = format!(
        "# Written by corepool-bench.\n\
         [[users]]\n\
         name = \"{USER}\"\n\
         database = \"{DATABASE}\"\n\
         password = \"{USER}\"\n"
    );
    (pgdog, users)
}

/// A pgpool.conf string value.
fn quote(value: &str) -> String {
    format!("'{}'", value.replace('\'', "''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> ProxyConfig {
        ProxyConfig {
            max_clients: 80,
            pool_size: 70,
            corepool_cores: Some(2),
            pgdog_workers: 2,
            ..ProxyConfig::default()
        }
    }

    #[test]
    fn pgpool_conf_has_the_backend_and_sizes() {
        let text = pgpool(Path::new("/tmp/x"), 7000, 7001, 5432, &config());
        for line in [
            "port = 7000",
            "pcp_port = 7001",
            "backend_port0 = 5432",
            "num_init_children = 80",
            "max_pool = 1",
            "pid_file_name = '/tmp/x/pgpool.pid'",
            "health_check_period = 0",
        ] {
            assert!(
                text.lines().any(|l| l == line),
                "missing {line:?} in\n{text}"
            );
        }
        assert_eq!(corepool_extras(&config()), "corepool_cores = 2\n");
        let transaction = ProxyConfig {
            corepool_pool_size: Some(20),
            ..config()
        };
        assert_eq!(
            corepool_extras(&transaction),
            "corepool_cores = 2\ndefault_pool_size = 20\n"
        );
    }

    #[test]
    fn load_balancing_conf_lists_every_node() {
        let text = pgpool_load_balancing(
            Path::new("/tmp/x"),
            7000,
            7001,
            &[5432, 5433, 5434],
            &config(),
        );
        for line in [
            "backend_clustering_mode = 'streaming_replication'",
            "load_balance_mode = on",
            "backend_hostname0 = '127.0.0.1'",
            "backend_port0 = 5432",
            "backend_port1 = 5433",
            "backend_hostname2 = '127.0.0.1'",
            "backend_port2 = 5434",
            "backend_weight2 = 1",
            "sr_check_user = 'postgres'",
            "sr_check_period = 0",
            "health_check_period = 0",
        ] {
            assert!(
                text.lines().any(|l| l == line),
                "missing {line:?} in\n{text}"
            );
        }
        let raw = pgpool(Path::new("/tmp/x"), 7000, 7001, 5432, &config());
        assert!(raw.lines().any(|l| l == "backend_clustering_mode = 'raw'"));
        assert!(raw.lines().any(|l| l == "load_balance_mode = off"));
        assert!(!raw.contains("backend_port1") && !raw.contains("sr_check_user"));
    }

    #[test]
    fn pgbouncer_ini_sizes_pools() {
        let text = pgbouncer(
            Path::new("/tmp/x"),
            7000,
            5432,
            "transaction",
            None,
            &config(),
        );
        assert!(text.contains("* = host=127.0.0.1 port=5432\n"));
        assert!(text.contains("pool_mode = transaction\n"));
        assert!(text.contains("default_pool_size = 70\n"));
        assert!(text.contains("max_client_conn = 80\n"));
        assert!(!text.contains("max_prepared_statements"));
        let text = pgbouncer(
            Path::new("/tmp/x"),
            7000,
            5432,
            "session",
            Some(200),
            &config(),
        );
        assert!(text.ends_with("log_pooler_errors = 1\nmax_prepared_statements = 200\n"));
    }

    #[test]
    fn corepool_settings_replace_or_append() {
        let text = "# Written by corepool-bench.\nport = 7000\nnum_init_children = 72\n";
        let settings = [
            ("num_init_children".to_string(), "10016".to_string()),
            ("pool_mode".to_string(), "'transaction'".to_string()),
        ];
        assert_eq!(
            with_settings(text, &settings),
            "# Written by corepool-bench.\nport = 7000\nnum_init_children = 10016\n\
             pool_mode = 'transaction'\n"
        );
    }

    #[test]
    fn pgdog_conf_has_the_pool_and_the_user() {
        let (pgdog, users) = pgdog(7000, 5432, &config());
        for line in [
            "port = 7000",
            "port = 5432",
            "workers = 2",
            "default_pool_size = 70",
            "pooler_mode = \"transaction\"",
            "name = \"bench\"",
        ] {
            assert!(
                pgdog.lines().any(|l| l == line),
                "missing {line:?} in\n{pgdog}"
            );
        }
        assert!(users.contains("name = \"postgres\"\ndatabase = \"bench\"\npassword = "));
    }
}
