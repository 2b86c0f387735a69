//! The query cache from the outside: `corepool serve` on Debian's pgpool.conf sample with the
//! memqcache parameters set, psql sessions sharing the cache, SHOW pool_cache, and
//! `corepool pcp invalidate-query-cache` (Pgpool-II 4.6's pcp_invalidate_query_cache).

// Test output (psql, the pcp tool, result rows) is read as lossy text.
#![allow(clippy::disallowed_methods)]

mod common;

use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

use corepool_engine::config::{BackendConfig, ClusteringMode, Config};
use corepool_engine::server::{self, ServeOptions};
use corepool_testkit::Cluster;

const USER: &str = "pcpadmin";
const PASSWORD: &str = "secret";

/// SHOW pool_cache's values, `|`-separated, through psql.
fn pool_cache(cluster: &Cluster, port: u16) -> Vec<String> {
    let out = common::psql(cluster, port, "SHOW pool_cache").expect("SHOW pool_cache");
    out.split('|').map(str::to_owned).collect()
}

#[test]
fn debians_sample_with_the_cache_on_serves_psql_sessions_from_one_cache() {
    let cluster = Cluster::builder().start().expect("cluster");
    let mut server = common::start(
        &cluster,
        "memory_cache_enabled = on\nmemqcache_method = 'shmem'\nmemqcache_total_size = 16MB\n\
         memqcache_max_num_cache = 100000\nmemqcache_expire = 60\nmemqcache_maxcache = 100kB\n\
         memqcache_cache_block_size = 1MB\nmemqcache_auto_cache_invalidation = on\n\
         memqcache_oiddir = '/nonexistent/oiddir'\ncache_unsafe_memqcache_table_list = 'hot_unsafe'\n\
         corepool_cores = 2\n",
    );
    let port = server.port;
    common::psql(
        &cluster,
        port,
        "CREATE TABLE hot (k int PRIMARY KEY, v int); INSERT INTO hot SELECT g, g FROM generate_series(1, 10) g",
    )
    .expect("set-up");
    let q = "SELECT v FROM hot WHERE k = 3";
    // Each psql run is its own session, on either core.
    assert_eq!(common::psql(&cluster, port, q).as_deref(), Ok("3"));
    assert_eq!(common::psql(&cluster, port, q).as_deref(), Ok("3"));
    assert_eq!(common::psql(&cluster, port, q).as_deref(), Ok("3"));
    let row = pool_cache(&cluster, port);
    assert_eq!(row.len(), 9, "{row:?}");
    assert_eq!(row[0], "2", "num_cache_hits: {row:?}");
    assert_eq!(row[1], "1", "num_selects: {row:?}");
    assert_eq!(row[2], "0.67", "cache_hit_ratio: {row:?}");
    assert_eq!(row[3], "131072", "num_hash_entries: {row:?}");
    // A write in one session; the next session reads the new value.
    common::psql(&cluster, port, "UPDATE hot SET v = 30 WHERE k = 3").expect("update");
    assert_eq!(common::psql(&cluster, port, q).as_deref(), Ok("30"));
    let log = server.log();
    assert!(!log.contains("no query cache"), "{log}");
}

#[test]
fn memcached_is_refused_with_a_log_line_and_the_cache_stays_off() {
    let cluster = Cluster::builder().start().expect("cluster");
    let mut server = common::start(
        &cluster,
        "memory_cache_enabled = on\nmemqcache_method = 'memcached'\n",
    );
    let port = server.port;
    for _ in 0..2 {
        common::psql(&cluster, port, "SELECT 1").expect("select");
    }
    assert_eq!(pool_cache(&cluster, port)[0], "0");
    let log = server.log();
    assert!(log.contains("memcached is not supported"), "{log}");
}

#[test]
fn pcp_invalidate_query_cache_clears_it() {
    let cluster = Cluster::builder().start().expect("cluster");
    let dir = tempfile::tempdir().unwrap();
    let pcp_conf = dir.path().join("pcp.conf");
    let hash = corepool_protocol::pcp::auth::hash_password(PASSWORD.as_bytes());
    std::fs::write(&pcp_conf, format!("{USER}:{}\n", hash.as_str())).unwrap();
    let pass = dir.path().join("pcppass");
    std::fs::write(&pass, format!("*:*:{USER}:{PASSWORD}\n")).unwrap();
    std::fs::set_permissions(&pass, std::fs::Permissions::from_mode(0o600)).unwrap();
    let start = |cache: bool| {
        let config = Config {
            listen_addresses: vec!["127.0.0.1".into()],
            port: corepool_testkit::free_port(),
            unix_socket_directories: Vec::new(),
            pid_file_name: String::new(),
            logdir: dir.path().display().to_string(),
            pcp_listen_addresses: vec!["127.0.0.1".into()],
            pcp_port: 0,
            pcp_unix_socket_directories: Vec::new(),
            sr_check_period: Duration::ZERO,
            backend_clustering_mode: ClusteringMode::StreamingReplication,
            backends: vec![BackendConfig {
                hostname: cluster.primary().host().to_owned(),
                port: cluster.primary().port(),
                weight: 1.0,
                ..BackendConfig::default()
            }],
            memory_cache_enabled: cache,
            ..Config::default()
        };
        let port = config.port;
        let options = ServeOptions {
            pcp_file: Some(pcp_conf.clone()),
            ..ServeOptions::default()
        };
        let running = server::start(config, options).expect("corepool starts");
        let pcp = running.bound.pcp[0].port();
        (running, port, pcp)
    };

    let (running, port, pcp) = start(true);
    common::psql(&cluster, port, "SELECT 1").expect("select");
    assert_eq!(pool_cache(&cluster, port)[5], "1", "one entry");
    let out = common::corepool_pcp(USER, pcp, &pass, &["invalidate-query-cache"]);
    assert!(out.status.success(), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("invalidate-query-cache"),
        "{out:?}"
    );
    assert_eq!(pool_cache(&cluster, port)[5], "0", "no entry left");
    running
        .state
        .request_shutdown(corepool_engine::cluster::ShutdownMode::Fast);
    let _ = running.wait();

    // Pgpool-II's answer when the cache is off.
    let (running, _, pcp) = start(false);
    let out = common::corepool_pcp(USER, pcp, &pass, &["invalidate-query-cache"]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("query cache is not enabled"),
        "{out:?}"
    );
    running
        .state
        .request_shutdown(corepool_engine::cluster::ShutdownMode::Fast);
    let _ = running.wait();
}
