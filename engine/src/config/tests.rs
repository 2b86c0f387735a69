//! End-to-end tests of loading pgpool.conf: the Debian sample, every value form, includes, errors.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::*;

/// Debian 12's pgpool2 4.3.5 `/usr/share/doc/pgpool2/examples/pgpool.conf.sample`, unmodified.
const DEBIAN_SAMPLE: &str = include_str!("../../tests/fixtures/pgpool.conf.sample");

const TWO_BACKENDS: &str = "
backend_hostname0 = 'host1'
backend_port0 = 5432
backend_weight0 = 1
backend_data_directory0 = '/data'
backend_flag0 = 'ALLOW_TO_FAILOVER'
backend_application_name0 = 'server0'
backend_hostname1 = 'host2'
backend_port1 = 5433
backend_weight1 = 1
backend_data_directory1 = '/data1'
backend_flag1 = 'ALLOW_TO_FAILOVER'
backend_application_name1 = 'server1'
";

fn file() -> &'static Path {
    Path::new("/etc/pgpool2/pgpool.conf")
}

#[test]
fn debian_sample_with_backends_loads_to_the_4_3_defaults() {
    let text = format!("{DEBIAN_SAMPLE}\n{TWO_BACKENDS}");
    let loaded = Config::load_str(&text, file()).unwrap();

    let backend = |hostname: &str, port, dir: &str, app: &str| BackendConfig {
        hostname: hostname.into(),
        port,
        data_directory: dir.into(),
        application_name: app.into(),
        ..BackendConfig::default()
    };
    let expected = Config {
        source_file: Some(file().to_owned()),
        backends: vec![
            backend("host1", 5432, "/data", "server0"),
            backend("host2", 5433, "/data1", "server1"),
        ],
        ..Config::default()
    };
    assert_eq!(loaded.config, expected);

    // The sample's only active lines besides backend_clustering_mode: watchdog's `hostname0`.
    let warnings: Vec<_> = loaded
        .warnings
        .iter()
        .map(|w| (w.name.as_str(), &w.why))
        .collect();
    assert_eq!(
        warnings,
        [(
            "hostname0",
            &WarningKind::Ignored(
                "the watchdog's members are the instances registered under etcd_prefix"
            )
        )]
    );
}

#[test]
fn debian_sample_with_its_query_cache_lines_uncommented_loads_as_written() {
    let uncommented: String = DEBIAN_SAMPLE
        .lines()
        .map(|l| {
            let cache = [
                "#memory_cache_enabled",
                "#memqcache_",
                "#cache_safe_",
                "#cache_unsafe_",
            ];
            match cache.iter().any(|p| l.starts_with(p)) {
                true => l.replacen('#', "", 1).replace("= off", "= on"),
                false => l.to_owned(),
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    let text = format!("{uncommented}\n{TWO_BACKENDS}");
    let loaded = Config::load_str(&text, file()).unwrap();
    let c = &loaded.config;
    assert!(c.memory_cache_enabled);
    assert_eq!(c.memqcache_total_size, 64 * 1024 * 1024);
    assert_eq!(c.memqcache_max_num_cache, 1_000_000);
    assert_eq!(c.memqcache_maxcache, 400 * 1024);
    assert_eq!(c.memqcache_cache_block_size, 1024 * 1024);
    assert_eq!(c.memqcache_oiddir, "/var/log/pgpool/oiddir");
    assert!(c.memqcache_auto_cache_invalidation);
    assert_eq!(
        c.query_cache().map(|s| s.expire),
        Some(std::time::Duration::ZERO)
    );
    assert_eq!(loaded.warnings.len(), 1, "{:?}", loaded.warnings);
}

#[test]
fn spot_check_the_4_3_defaults() {
    let c = Config::default();
    assert_eq!((c.port, c.pcp_port), (9999, 9898));
    assert_eq!(c.listen_addresses, ["localhost"]);
    assert_eq!(
        (c.num_init_children, c.max_pool, c.reserved_connections),
        (32, 4, 0)
    );
    assert_eq!(c.child_life_time, Duration::from_secs(300));
    assert_eq!(c.reset_query_list, ["ABORT", "DISCARD ALL"]);
    assert_eq!(
        c.backend_clustering_mode,
        ClusteringMode::StreamingReplication
    );
    assert!(c.load_balance_mode && c.connection_cache && c.failover_on_backend_error);
    assert_eq!(
        c.disable_load_balance_on_write,
        DisableLoadBalanceOnWrite::Transaction
    );
    assert_eq!(c.sr_check_period, Duration::from_secs(10));
    assert_eq!(c.health_check.timeout, Duration::from_secs(20));
    assert_eq!(
        c.health_check.connect_timeout,
        Duration::from_millis(10_000)
    );
    assert_eq!(c.search_primary_node_timeout, Duration::from_secs(300));
    assert_eq!(c.recovery_timeout, Duration::from_secs(90));
    assert!(c.recovery_user.is_empty() && c.recovery_1st_stage_command.is_empty());
    assert_eq!(c.corepool_recovery_jobs, 4);
    assert_eq!(c.log_min_messages, LogLevel::Warning);
    assert_eq!(c.client_min_messages, LogLevel::Notice);
    assert_eq!(c.pool_passwd, "pool_passwd");
}

#[test]
fn online_recovery_parameters_are_read() {
    let text = "
backend_hostname0 = 'db0'
recovery_user = 'postgres'
recovery_password = 'secret'
recovery_1st_stage_command = 'recovery_1st_stage'
recovery_2nd_stage_command = 'recovery_2nd_stage'
recovery_timeout = 2min
corepool_recovery_jobs = 8
";
    let loaded = Config::load_str(text, file()).unwrap();
    let c = &loaded.config;
    assert_eq!(c.recovery_user, "postgres");
    assert_eq!(c.recovery_password, "secret");
    assert_eq!(c.recovery_1st_stage_command, "recovery_1st_stage");
    assert_eq!(c.recovery_timeout, Duration::from_secs(120));
    assert_eq!(c.corepool_recovery_jobs, 8);
    // The second stage belongs to native replication mode: read, and said to have no effect.
    assert_eq!(c.recovery_2nd_stage_command, "recovery_2nd_stage");
    assert_eq!(loaded.warnings.len(), 1, "{:?}", loaded.warnings);
    assert_eq!(loaded.warnings[0].name, "recovery_2nd_stage_command");
    assert!(Config::load_str(
        "backend_hostname0 = x\ncorepool_recovery_jobs = 0\n",
        file()
    )
    .is_err());
}

#[test]
fn every_value_form_is_understood() {
    let text = "
backend_hostname0 = 'db0'          # quoted string
backend_port0     5432             # no '=' sign
backend_weight0 = 0.25             # real
backend_hostname1 = db1.example    # unquoted word
backend_port1 = 0x1538             # hex integer (5432)
backend_weight1 = 3
child_life_time = 5min             # integer with a time unit
connect_timeout = 2s               # ... converted to a millisecond base unit
delay_threshold = 16MB             # integer with a memory unit
client_idle_limit_in_recovery = -1 # signed integer
load_balance_mode = f              # boolean prefix
ssl = Yes
log_connections = 1
log_min_messages = DEBUG1          # enum, any case
failover_command = '/bin/fo %d %h \\'q\\''   # backslashes stay
listen_addresses = '*'
reset_query_list = 'ABORT; RESET ALL; SET SESSION AUTHORIZATION DEFAULT'
read_only_function_list = 'nextval, setval'
";
    let c = Config::load_str(text, file()).unwrap().config;
    assert_eq!(c.backends[0].hostname, "db0");
    assert_eq!(c.backends[0].weight, 0.25);
    assert_eq!(c.backends[1].hostname, "db1.example");
    assert_eq!(c.backends[1].port, 5432);
    assert_eq!(c.normalized_weights(), [0.25 / 3.25, 3.0 / 3.25]);
    assert_eq!(c.child_life_time, Duration::from_secs(300));
    assert_eq!(c.health_check.connect_timeout, Duration::from_secs(2));
    assert_eq!(c.delay_threshold, 16 << 20);
    assert_eq!(
        c.client_idle_limit_in_recovery,
        IdleLimitInRecovery::Immediately
    );
    assert!(!c.load_balance_mode && c.ssl && c.log_connections);
    assert_eq!(c.log_min_messages, LogLevel::Debug1);
    assert_eq!(c.failover_command, r"/bin/fo %d %h \'q\'");
    assert_eq!(c.listen_addresses, ["*"]);
    assert_eq!(
        c.reset_query_list,
        ["ABORT", "RESET ALL", "SET SESSION AUTHORIZATION DEFAULT"]
    );
    assert_eq!(c.read_only_function_list, ["nextval", "setval"]);
}

#[test]
fn socket_dir_is_an_alias_of_unix_socket_directories() {
    let text = "backend_hostname0 = db\nsocket_dir = '/var/run/postgresql'\npcp_socket_dir = '/run/a,/run/b'\n";
    let c = Config::load_str(text, file()).unwrap().config;
    assert_eq!(c.unix_socket_directories, ["/var/run/postgresql"]);
    assert_eq!(c.pcp_unix_socket_directories, ["/run/a", "/run/b"]);
    assert_eq!(c.show("unix_socket_directories"), c.show("socket_dir"));
}

#[test]
fn per_node_health_check_overrides_the_global_value() {
    let text = "backend_hostname0 = a\nbackend_hostname1 = b\n\
                health_check_period1 = 3\nhealth_check_period = 30\nhealth_check_user0 = hc\n";
    let c = Config::load_str(text, file()).unwrap().config;
    assert_eq!(c.health_check_for(0).period, Duration::from_secs(30));
    assert_eq!(
        c.health_check_for(1).period,
        Duration::from_secs(3),
        "order does not matter"
    );
    assert_eq!(c.health_check_for(0).user, "hc");
    assert_eq!(c.health_check_for(1).user, "nobody");
}

#[test]
fn includes_nest_relative_to_the_including_file() {
    let dir = tempfile::tempdir().unwrap();
    let main = dir.path().join("pgpool.conf");
    fs::create_dir(dir.path().join("conf.d")).unwrap();
    fs::write(
        &main,
        "port = 1111\ninclude = 'conf.d/backends.conf'\nnum_init_children = 8\n",
    )
    .unwrap();
    fs::write(
        dir.path().join("conf.d/backends.conf"),
        "backend_hostname0 = db\ninclude 'more.conf'\n",
    )
    .unwrap();
    fs::write(
        dir.path().join("conf.d/more.conf"),
        "port = 2222\nnum_init_children = 4\n",
    )
    .unwrap();
    let loaded = Config::load(&main).unwrap();
    assert_eq!(
        loaded.config.port, 2222,
        "the include comes after port = 1111"
    );
    assert_eq!(
        loaded.config.num_init_children, 8,
        "the later line in the main file wins"
    );
    assert_eq!(loaded.config.backends[0].hostname, "db");
    assert_eq!(loaded.config.source_file.as_deref(), Some(main.as_path()));
    assert_eq!(
        loaded.config.pool_passwd_path(),
        Some(dir.path().join("pool_passwd"))
    );
}

#[test]
fn errors_name_the_file_line_and_parameter() {
    let dir = tempfile::tempdir().unwrap();
    let main = dir.path().join("pgpool.conf");
    fs::write(&main, "backend_hostname0 = db\ninclude = 'bad.conf'\n").unwrap();
    fs::write(
        dir.path().join("bad.conf"),
        "# ok\nport = 5433\nnum_init_children = many\n",
    )
    .unwrap();
    let err = Config::load(&main).unwrap_err();
    let bad = dir.path().join("bad.conf");
    assert_eq!(
        err.to_string(),
        format!(
            "{}:3: invalid value for parameter \"num_init_children\": \"many\" is not an integer",
            bad.display()
        )
    );
    let cases: &[(&str, &str)] = &[
        (
            "backend_hostname0 = db\nport = 'unterminated\n",
            "p.conf:2: syntax error",
        ),
        (
            "backend_hostname0 = db\nssl = sure\n",
            "p.conf:2: invalid value for parameter \"ssl\"",
        ),
        (
            "backend_hostname0 = db\n\nport = 99999\n",
            "p.conf:3: invalid value for parameter \"port\"",
        ),
        (
            "backend_hostname0 = db\nchild_life_time = '5 parsecs'\n",
            "p.conf:2: invalid value",
        ),
        (
            "backend_flag0 = 'ALLOW_TO_FAILOVER|DISALLOW_TO_FAILOVER'\n",
            "p.conf:1: invalid value",
        ),
        (
            "backend_hostname0 = db\nbackend_flag0 = FAST\n",
            "unknown backend flag \"FAST\"",
        ),
        ("port = 5433\n", "no backend is configured"),
        (
            "backend_hostname0 = db\nreserved_connections = 32\n",
            "reserved_connections (32)",
        ),
    ];
    for (text, expected) in cases {
        let err = Config::load_str(text, Path::new("p.conf"))
            .unwrap_err()
            .to_string();
        assert!(err.contains(expected), "{text:?}: {err}");
    }
}

#[test]
fn a_missing_file_is_an_error() {
    let err = Config::load(&PathBuf::from("/nonexistent/pgpool.conf")).unwrap_err();
    assert!(err
        .to_string()
        .starts_with("cannot read configuration file \"/nonexistent/pgpool.conf\""));
}

#[test]
fn every_listed_parameter_parses_and_shows() {
    let cases: &[(&str, &str, &str)] = &[
        (
            "listen_addresses",
            "'10.0.0.1,127.0.0.1'",
            "10.0.0.1,127.0.0.1",
        ),
        ("pcp_listen_addresses", "'*'", "*"),
        ("pcp_port", "9899", "9899"),
        ("unix_socket_directories", "'/a, /b'", "/a,/b"),
        ("max_pool", "2", "2"),
        ("connection_cache", "off", "off"),
        ("client_idle_limit", "1h", "3600"),
        ("connection_life_time", "10", "10"),
        ("child_max_connections", "100", "100"),
        ("authentication_timeout", "0", "0"),
        ("enable_pool_hba", "on", "on"),
        ("allow_clear_text_frontend_auth", "true", "on"),
        ("ssl_cert", "'/etc/ssl/c.pem'", "/etc/ssl/c.pem"),
        ("ssl_key", "'/etc/ssl/k.pem'", "/etc/ssl/k.pem"),
        ("ssl_ca_cert", "'/etc/ssl/ca.pem'", "/etc/ssl/ca.pem"),
        ("pid_file_name", "'/run/pgpool.pid'", "/run/pgpool.pid"),
        ("logdir", "'/var/log/pgpool'", "/var/log/pgpool"),
        ("log_disconnections", "yes", "on"),
        ("statement_level_load_balance", "on", "on"),
        (
            "disable_load_balance_on_write",
            "dml_adaptive",
            "dml_adaptive",
        ),
        ("write_function_list", "'f1,f2'", "f1,f2"),
        (
            "primary_routing_query_pattern_list",
            "'.*foo.*;.*bar.*'",
            ".*foo.*;.*bar.*",
        ),
        (
            "database_redirect_preference_list",
            "'postgres:primary,mydb[0-4]:1(0.3)'",
            "postgres:primary,mydb[0-4]:1(0.3)",
        ),
        (
            "app_name_redirect_preference_list",
            "'psql:primary'",
            "psql:primary",
        ),
        ("allow_sql_comments", "on", "on"),
        ("ignore_leading_white_space", "off", "off"),
        ("sr_check_user", "repl", "repl"),
        ("sr_check_password", "'AESabc='", "AESabc="),
        ("sr_check_database", "postgres", "postgres"),
        ("delay_threshold", "10000000", "10000000"),
        ("delay_threshold_by_time", "5", "5"),
        ("prefer_lower_delay_standby", "on", "on"),
        ("health_check_max_retries", "3", "3"),
        ("health_check_retry_delay", "2", "2"),
        ("health_check_password", "''", ""),
        ("health_check_database", "template1", "template1"),
        ("follow_primary_command", "'/f.sh %d'", "/f.sh %d"),
        ("failback_command", "'/b.sh %d'", "/b.sh %d"),
        ("failover_on_backend_shutdown", "on", "on"),
        ("detach_false_primary", "on", "on"),
        ("auto_failback", "on", "on"),
        ("auto_failback_interval", "1min", "60"),
        ("check_temp_table", "trace", "trace"),
        ("check_unlogged_table", "off", "off"),
        ("log_standby_delay", "none", "none"),
        ("backend_clustering_mode", "raw", "raw"),
        ("corepool_cores", "4", "4"),
        ("corepool_read_your_writes", "on", "on"),
        (
            "corepool_metrics_address",
            "'127.0.0.1:9187'",
            "127.0.0.1:9187",
        ),
        ("corepool_max_message_size", "64MB", "67108864"),
    ];
    for (name, value, shown) in cases {
        let text = format!("backend_hostname0 = db\n{name} = {value}\n");
        let loaded = Config::load_str(&text, file()).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(loaded.warnings.is_empty(), "{name}: {:?}", loaded.warnings);
        assert_eq!(loaded.config.show(name).as_deref(), Some(*shown), "{name}");
    }
}

mod no_panics {
    use super::*;
    use proptest::prelude::*;

    /// Lines made of pgpool.conf-ish pieces, so the parser gets past the lexer often.
    fn line() -> impl Strategy<Value = String> {
        let name = prop::sample::select(vec![
            "port",
            "backend_hostname0",
            "backend_port1",
            "backend_flag0",
            "backend_weight3",
            "health_check_period0",
            "include",
            "child_life_time",
            "log_min_messages",
            "client_idle_limit_in_recovery",
            "delay_threshold",
            "listen_addresses",
            "bogus",
        ]);
        let value = prop_oneof![
            "[-+]?[0-9]{1,12}[a-zA-Z]{0,3}",
            "'[^'\n]{0,12}'",
            "[a-z_|]{1,12}",
            "[ -~]{0,16}",
        ];
        (name, prop::option::of(Just("=")), value)
            .prop_map(|(n, eq, v)| format!("{n} {} {v}", eq.unwrap_or("")))
    }

    proptest! {
        #[test]
        fn loading_any_text_returns_instead_of_panicking(text in "\\PC{0,200}") {
            let _ = Config::load_str(&text, Path::new("/nonexistent/p.conf"));
        }

        #[test]
        fn loading_plausible_lines_returns_instead_of_panicking(
            lines in prop::collection::vec(line(), 0..12)
        ) {
            let text = lines.join("\n");
            if let Ok(loaded) = Config::load_str(&text, Path::new("/nonexistent/p.conf")) {
                // Whatever loaded shows values that parse back.
                for (name, _) in Config::parameters() {
                    let shown = loaded.config.show(name).unwrap_or_default();
                    let reparsed = format!("backend_hostname0 = x\n{name} = '{shown}'\n");
                    prop_assert!(Config::load_str(&reparsed, Path::new("p")).is_ok(), "{name}");
                }
            }
        }
    }
}
