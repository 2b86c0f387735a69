//! Health and replication checks log in with the secrets Pgpool-II configurations carry: an
//! empty `health_check_password` takes the user's md5 hash from pool_passwd (answering the
//! server's md5 challenge with the hash itself), and an `AES…` `sr_check_password` is decrypted
//! with the key file named by `PGPOOLKEYFILE`.

use std::time::{Duration, Instant};

use corepool_engine::auth::pool_key::PoolKey;
use corepool_engine::auth::pool_passwd::PasswordEntry;
use corepool_testkit::{AuthMethod, Cluster};

mod common;
use common::*;

const PASSWORD: &str = "s3cret";

/// Columns of the two SHOW commands read here, in Pgpool-II 4.3's order.
const POOL_NODES: &[&str] = &[
    "node_id",
    "hostname",
    "port",
    "status",
    "pg_status",
    "lb_weight",
    "role",
    "pg_role",
    "select_cnt",
    "load_balance_node",
    "replication_delay",
    "replication_state",
    "replication_sync_state",
    "last_status_change",
];
const HEALTH_STATS: &[&str] = &[
    "node_id",
    "hostname",
    "port",
    "status",
    "role",
    "last_status_change",
    "total_count",
    "success_count",
    "fail_count",
];

/// Rows of an in-band SHOW as (column, value) pairs.
fn show(cluster: &Cluster, port: u16, what: &str, columns: &[&str]) -> Vec<Vec<(String, String)>> {
    psql_as(
        cluster,
        port,
        "postgres",
        Some(PASSWORD),
        &format!("SHOW {what}"),
    )
    .unwrap_or_else(|e| panic!("SHOW {what}: {e}"))
    .lines()
    .map(|l| {
        columns
            .iter()
            .map(|c| c.to_string())
            .zip(l.split('|').map(str::to_owned))
            .collect()
    })
    .collect()
}

fn column<'a>(row: &'a [(String, String)], name: &str) -> &'a str {
    row.iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
        .unwrap_or_else(|| panic!("no column {name} in {row:?}"))
}

#[test]
fn checks_log_in_with_md5_hashes_and_aes_passwords() {
    // md5 authentication with md5-stored passwords: the server really sends md5 challenges.
    let cluster = Cluster::builder()
        .host_auth(AuthMethod::Md5)
        .superuser_password(PASSWORD)
        .standbys(1)
        .start()
        .unwrap();
    cluster
        .primary()
        .psql(
            "postgres",
            "CREATE ROLE checker LOGIN PASSWORD 'hc-pass'; \
             CREATE ROLE replcheck LOGIN PASSWORD 'sr-pass'; GRANT pg_monitor TO replcheck",
        )
        .unwrap();
    // The checks log in to the standby too: the roles must have reached it first.
    cluster.standbys()[0]
        .wait_caught_up(cluster.primary())
        .unwrap();
    let standby_port = cluster.standbys()[0].port();
    let standby_name = cluster.standbys()[0].name().to_owned();

    let key = "corepool test key";
    let key_file = cluster.create_dir("keys").unwrap().join("pgpoolkey");
    std::fs::write(&key_file, format!("{key}\n")).unwrap();
    // Like pgpool, corepool refuses a key file others can read.
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&key_file, std::fs::Permissions::from_mode(0o600)).unwrap();
    let aes = PasswordEntry::Aes(PoolKey::new(key).encrypt("sr-pass")).to_file_form();
    let hc_hash = PasswordEntry::md5_for("checker", "hc-pass").to_file_form();
    let key_env = key_file.display().to_string();
    let mut server = start_with(
        &cluster,
        |dir| {
            let passwd = format!("checker:{hc_hash}\npostgres:TEXT{PASSWORD}\n");
            std::fs::write(dir.join("pool_passwd"), passwd).unwrap();
            format!(
                "backend_hostname1 = '127.0.0.1'\nbackend_port1 = {standby_port}\n\
                 backend_application_name1 = '{standby_name}'\n\
                 pool_passwd = 'pool_passwd'\n\
                 health_check_period = 1\nhealth_check_user = 'checker'\nhealth_check_password = ''\n\
                 sr_check_period = 1\nsr_check_user = 'replcheck'\nsr_check_password = '{aes}'\n"
            )
        },
        &[("PGPOOLKEYFILE", &key_env)],
    );

    // Within a few periods: health checks succeed on both nodes and never fail (md5 hash), and
    // the replication check has read the standby's state on the primary (AES password).
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let stats = show(
            &cluster,
            server.port,
            "pool_health_check_stats",
            HEALTH_STATS,
        );
        let nodes = show(&cluster, server.port, "pool_nodes", POOL_NODES);
        let checked = stats.len() == 2
            && stats.iter().all(|r| {
                column(r, "success_count").parse::<u64>().unwrap_or(0) >= 2
                    && column(r, "fail_count") == "0"
            });
        let streaming = nodes.iter().any(|r| {
            column(r, "role") == "standby" && column(r, "replication_state") == "streaming"
        });
        if checked && streaming {
            // "waiting" is up but not yet used by a session (which node the SHOW sessions
            // balanced to is chance); neither node was detached.
            assert!(
                nodes
                    .iter()
                    .all(|r| matches!(column(r, "status"), "up" | "waiting")),
                "{nodes:?}"
            );
            break;
        }
        if Instant::now() > deadline {
            panic!(
                "checks did not log in: stats {stats:?}, nodes {nodes:?}\ncorepool's log:\n{}",
                server.log()
            );
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}
