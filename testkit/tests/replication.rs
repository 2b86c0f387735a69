//! Starts real primaries and streaming standbys: replication, failover and SCRAM auth.

use corepool_testkit::{AuthMethod, Cluster};

#[test]
fn standby_replays_rows_and_is_read_only() {
    let cluster = Cluster::builder().standbys(1).start().unwrap();
    let (primary, standby) = (cluster.primary(), &cluster.standbys()[0]);
    assert!(!primary.is_in_recovery().unwrap());
    assert!(standby.is_in_recovery().unwrap());

    primary
        .psql(
            "postgres",
            "CREATE TABLE t (id int PRIMARY KEY, v text); INSERT INTO t VALUES (1, 'one')",
        )
        .unwrap();
    standby.wait_caught_up(primary).unwrap();
    assert_eq!(
        standby.psql("postgres", "SELECT id, v FROM t").unwrap(),
        "1|one"
    );

    let err = standby
        .psql("postgres", "INSERT INTO t VALUES (2, 'two')")
        .unwrap_err();
    let stderr = err.stderr().unwrap_or_default();
    assert!(stderr.contains("read-only transaction"), "{err}");
}

#[test]
fn standby_takes_over_after_primary_crash() {
    let cluster = Cluster::builder().standbys(1).start().unwrap();
    let (primary, standby) = (cluster.primary(), &cluster.standbys()[0]);
    primary
        .psql(
            "postgres",
            "CREATE TABLE t (id int); INSERT INTO t VALUES (1)",
        )
        .unwrap();
    standby.wait_caught_up(primary).unwrap();

    primary.kill().unwrap();
    assert!(!primary.is_running());
    assert!(primary.psql("postgres", "SELECT 1").is_err());

    standby.promote().unwrap();
    assert!(!standby.is_in_recovery().unwrap());
    standby
        .psql("postgres", "INSERT INTO t VALUES (2)")
        .unwrap();
    assert_eq!(
        standby
            .psql(
                "postgres",
                "SELECT string_agg(id::text, ',' ORDER BY id) FROM t"
            )
            .unwrap(),
        "1,2"
    );

    // The crashed node comes back through crash recovery with its committed row.
    primary.start().unwrap();
    assert_eq!(
        primary.psql("postgres", "SELECT count(*) FROM t").unwrap(),
        "1"
    );
}

#[test]
fn scram_auth_checks_the_password_and_standby_replicates() {
    let cluster = Cluster::builder()
        .host_auth(AuthMethod::ScramSha256)
        .superuser_password("s3cret'pw")
        .standbys(1)
        .start()
        .unwrap();
    let primary = cluster.primary();

    let method = primary
        .psql(
            "postgres",
            "SELECT auth_method FROM pg_hba_file_rules WHERE type = 'host' LIMIT 1",
        )
        .unwrap();
    assert_eq!(method, "scram-sha-256");

    let ok = primary
        .psql_tcp("postgres", "postgres", Some("s3cret'pw"), "SELECT 42")
        .unwrap();
    assert_eq!(ok, "42");

    let err = primary
        .psql_tcp("postgres", "postgres", Some("wrong"), "SELECT 42")
        .unwrap_err();
    let stderr = err.stderr().unwrap_or_default();
    assert!(stderr.contains("password authentication failed"), "{err}");

    // The same through a hand-made Command, as other crates' tests would run a PG tool.
    let out = cluster
        .command("psql")
        .args(["-X", "-A", "-t", "-w", "-c", "SELECT current_user"])
        .args(["-d", &primary.conninfo("postgres")])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    assert_eq!(String::from_utf8(out.stdout).unwrap().trim(), "postgres");

    // The standby authenticated with the password to stream.
    let standby = &cluster.standbys()[0];
    primary
        .psql("postgres", "CREATE TABLE t AS SELECT 7 AS x")
        .unwrap();
    standby.wait_caught_up(primary).unwrap();
    assert_eq!(standby.psql("postgres", "SELECT x FROM t").unwrap(), "7");
}

#[test]
fn md5_auth_stores_md5_verifiers() {
    let cluster = Cluster::builder()
        .host_auth(AuthMethod::Md5)
        .superuser_password("pw")
        .start()
        .unwrap();
    let primary = cluster.primary();
    let stored = primary
        .psql(
            "postgres",
            "SELECT left(rolpassword, 3) FROM pg_authid WHERE rolname = 'postgres'",
        )
        .unwrap();
    assert_eq!(stored, "md5");
    assert_eq!(
        primary
            .psql_tcp("postgres", "postgres", Some("pw"), "SELECT 1")
            .unwrap(),
        "1"
    );
    assert!(primary
        .psql_tcp("postgres", "postgres", None, "SELECT 1")
        .is_err());
}

#[test]
fn builder_options_reach_the_server_and_survive_restart() {
    let cluster = Cluster::builder()
        .data_checksums(true)
        .setting("max_connections", "42")
        .hba_line("host all nobody 127.0.0.1/32 reject")
        .initdb_arg("--wal-segsize=2")
        .start()
        .unwrap();
    let primary = cluster.primary();
    let show = |name: &str| primary.psql("postgres", &format!("SHOW {name}")).unwrap();
    assert_eq!(show("data_checksums"), "on");
    assert_eq!(show("max_connections"), "42");
    assert_eq!(show("wal_segment_size"), "2MB");
    assert_eq!(show("fsync"), "off");
    assert_eq!(show("listen_addresses"), "127.0.0.1");

    primary
        .psql("postgres", "CREATE ROLE nobody LOGIN")
        .unwrap();
    let err = primary
        .psql_tcp("postgres", "nobody", None, "SELECT 1")
        .unwrap_err();
    assert!(
        err.stderr().unwrap_or_default().contains("rejects"),
        "{err}"
    );

    let port = primary.port();
    primary.restart().unwrap();
    assert_eq!(primary.port(), port);
    assert_eq!(
        primary
            .psql_tcp("postgres", "postgres", None, "SELECT 1")
            .unwrap(),
        "1"
    );
    assert!(primary
        .url("postgres", "postgres")
        .ends_with(&format!(":{port}/postgres")));
}

#[test]
fn failed_start_reports_the_server_log() {
    let err = Cluster::builder()
        .setting("shared_buffers", "lots")
        .start()
        .unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("pg_ctl") && msg.contains("shared_buffers"),
        "{msg}"
    );
}
