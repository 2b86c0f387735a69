//! `corepool pcp` against corepool (in-process) and against a real Pgpool-II 4.3 (Debian's
//! pgpool2, run with `-n` as the unprivileged PostgreSQL user), plus its errors and exit
//! statuses.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output};
use std::time::{Duration, Instant};

use corepool_engine::cluster::ShutdownMode;
use corepool_engine::config::{BackendConfig, ClusteringMode, Config};
use corepool_engine::server::{self, Running, ServeOptions};
use corepool_testkit::Cluster;
use serde_json::Value;

const USER: &str = "pcpadmin";
const PASSWORD: &str = "secret";

/// pcp.conf and a 0600 PCPPASSFILE in `dir`.
fn write_auth_files(dir: &Path, password_in_passfile: &str) -> (PathBuf, PathBuf) {
    let pcp_conf = dir.join("pcp.conf");
    let hash = corepool_protocol::pcp::auth::hash_password(PASSWORD.as_bytes());
    std::fs::write(&pcp_conf, format!("{USER}:{}\n", hash.as_str())).unwrap();
    let passfile = dir.join(format!("pcppass-{password_in_passfile}"));
    std::fs::write(&passfile, format!("*:*:{USER}:{password_in_passfile}\n")).unwrap();
    std::fs::set_permissions(&passfile, std::fs::Permissions::from_mode(0o600)).unwrap();
    (pcp_conf, passfile)
}

/// corepool with PCP on a kernel-chosen port in front of `cluster`.
fn start_corepool(cluster: &Cluster, dir: &Path) -> (Running, u16) {
    start_corepool_with(cluster, dir, |_| {})
}

/// The same with `tweak` applied to the configuration.
fn start_corepool_with(
    cluster: &Cluster,
    dir: &Path,
    tweak: impl FnOnce(&mut Config),
) -> (Running, u16) {
    let (pcp_conf, _) = write_auth_files(dir, PASSWORD);
    let mut config = Config {
        listen_addresses: vec!["127.0.0.1".into()],
        port: corepool_testkit::free_port(),
        unix_socket_directories: Vec::new(),
        pid_file_name: String::new(),
        logdir: dir.display().to_string(),
        pcp_listen_addresses: vec!["127.0.0.1".into()],
        pcp_port: 0,
        pcp_unix_socket_directories: vec![dir.display().to_string()],
        sr_check_period: Duration::ZERO,
        backend_clustering_mode: ClusteringMode::StreamingReplication,
        backends: backends(cluster),
        ..Config::default()
    };
    tweak(&mut config);
    let options = ServeOptions {
        pcp_file: Some(pcp_conf),
        ..ServeOptions::default()
    };
    let running = server::start(config, options).expect("corepool starts");
    let port = running.bound.pcp[0].port();
    (running, port)
}

fn backends(cluster: &Cluster) -> Vec<BackendConfig> {
    cluster
        .nodes()
        .iter()
        .map(|n| BackendConfig {
            hostname: n.host().to_owned(),
            port: n.port(),
            weight: 1.0,
            ..BackendConfig::default()
        })
        .collect()
}

fn stdout(out: &Output) -> String {
    assert!(
        out.status.success(),
        "exit {:?}: {}",
        out.status,
        String::from_utf8(out.stderr.clone()).unwrap()
    );
    String::from_utf8(out.stdout.clone()).unwrap()
}

fn json(out: &Output) -> Value {
    serde_json::from_str(&stdout(out)).expect("JSON output")
}

#[test]
fn corepool_pcp_against_corepool() {
    let cluster = Cluster::builder().standbys(1).start().expect("cluster");
    let dir = tempfile::tempdir().unwrap();
    let (running, port) = start_corepool(&cluster, dir.path());
    let (_, pass) = write_auth_files(dir.path(), PASSWORD);

    assert_eq!(
        stdout(&common::corepool_pcp(USER, port, &pass, &["node-count"])),
        "2\n"
    );
    assert_eq!(
        json(&common::corepool_pcp(
            USER,
            port,
            &pass,
            &["node-count", "--json"]
        ))["node_count"],
        2
    );
    let nodes = json(&common::corepool_pcp(
        USER,
        port,
        &pass,
        &["node-info", "--json"],
    ));
    assert_eq!(nodes.as_array().unwrap().len(), 2);
    assert_eq!(nodes[0]["role"], "primary");
    assert_eq!(nodes[1]["role"], "standby");
    assert_eq!(nodes[1]["port"], cluster.nodes()[1].port());
    assert_eq!(nodes[1]["weight"], 0.5);
    let table = stdout(&common::corepool_pcp(USER, port, &pass, &["node-info"]));
    assert!(table.starts_with("node  host       port"), "{table}");
    let verbose = stdout(&common::corepool_pcp(
        USER,
        port,
        &pass,
        &["node-info", "-v", "-n", "1"],
    ));
    assert!(
        verbose.starts_with("Hostname               : 127.0.0.1\n"),
        "{verbose}"
    );
    let stats = json(&common::corepool_pcp(
        USER,
        port,
        &pass,
        &["health-check-stats", "-n", "0", "--json"],
    ));
    assert_eq!(stats["status"], "waiting");
    let rows = json(&common::corepool_pcp(
        USER,
        port,
        &pass,
        &["pool-status", "--json"],
    ));
    assert!(rows
        .as_array()
        .unwrap()
        .iter()
        .any(|r| r["name"] == "backend_port1"));
    assert_eq!(
        stdout(&common::corepool_pcp(USER, port, &pass, &["proc-count"])),
        ""
    );
    assert_eq!(
        stdout(&common::corepool_pcp(USER, port, &pass, &["proc-info"])),
        "no client sessions\n"
    );

    // The UNIX socket, and ~/.pcppass through HOME.
    let home = dir.path().join("home");
    std::fs::create_dir(&home).unwrap();
    std::fs::copy(&pass, home.join(".pcppass")).unwrap();
    std::fs::set_permissions(
        home.join(".pcppass"),
        std::fs::Permissions::from_mode(0o600),
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_corepool"))
        .args(["pcp", "node-count", "-h"])
        .arg(dir.path())
        .args(["-p", &port.to_string(), "-U", USER, "-w"])
        .env_remove("PCPPASSFILE")
        .env("HOME", &home)
        .output()
        .unwrap();
    assert_eq!(stdout(&out), "2\n");

    // Errors: unknown node, bad password, refused connection.
    let out = common::corepool_pcp(USER, port, &pass, &["node-info", "-n", "9"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8(out.stderr.clone()).unwrap();
    assert!(
        err.contains("ERROR: informing node info failed (invalid node ID : 9)"),
        "{err}"
    );
    let (_, wrong) = write_auth_files(dir.path(), "wrong");
    let out = common::corepool_pcp(USER, port, &wrong, &["node-count"]);
    assert_eq!(out.status.code(), Some(77));
    let err = String::from_utf8(out.stderr.clone()).unwrap();
    assert!(
        err.contains("authentication failed for user \"pcpadmin\""),
        "{err}"
    );
    let closed = corepool_testkit::free_port();
    let out = common::corepool_pcp(USER, closed, &pass, &["node-count"]);
    assert_eq!(out.status.code(), Some(69));
    let err = String::from_utf8(out.stderr.clone()).unwrap();
    assert!(
        err.contains("could not connect to the PCP server at 127.0.0.1:"),
        "{err}"
    );
    assert!(err.contains("Connection refused"), "{err}");

    // State changes.
    assert_eq!(
        stdout(&common::corepool_pcp(
            USER,
            port,
            &pass,
            &["detach-node", "-g", "-n", "1"]
        )),
        "detach-node: command successful\n"
    );
    let nodes = json(&common::corepool_pcp(
        USER,
        port,
        &pass,
        &["node-info", "-n", "1", "--json"],
    ));
    assert_eq!(nodes[0]["status"], "down");
    assert_eq!(
        json(&common::corepool_pcp(
            USER,
            port,
            &pass,
            &["attach-node", "1", "--json"]
        ))["ok"],
        true
    );
    let out = common::corepool_pcp(USER, port, &pass, &["recovery-node", "-n", "1"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8(out.stderr.clone()).unwrap();
    assert!(
        err.contains("ERROR: node recovery failed, node id: 1 is alive"),
        "{err}"
    );
    let out = common::corepool_pcp(
        USER,
        port,
        &pass,
        &["set-parameter", "client_min_messages", "debug1"],
    );
    assert_eq!(stdout(&out), "set-parameter: command successful\n");
    let out = common::corepool_pcp(USER, port, &pass, &["reload-config"]);
    assert_eq!(stdout(&out), "reload-config: command successful\n");
    let out = common::corepool_pcp(USER, port, &pass, &["stop-pgpool", "-m", "fast"]);
    assert_eq!(stdout(&out), "stop-pgpool: command successful\n");
    // The reply is written before the shutdown is requested (as Pgpool-II answers, then stops).
    wait_until("the fast shutdown request", || {
        running.state.shutdown() == ShutdownMode::Fast
    });
    running.wait().expect("corepool stops");
}

/// Polls `f` every 50 ms for up to 30 s.
fn wait_until(what: &str, mut f: impl FnMut() -> bool) {
    let until = Instant::now() + Duration::from_secs(30);
    while !f() {
        assert!(Instant::now() < until, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// corepool's own online recovery (no scripts): a detached standby whose data directory was
/// wiped is rebuilt with corepool's base backup, started as the directory's owner, streams
/// again, is attached and serves reads. A standby whose server still runs is refused and its
/// directory left alone.
#[test]
fn corepool_pcp_recovers_a_wiped_standby_with_its_own_base_backup() {
    let cluster = Cluster::builder().standbys(1).start().expect("cluster");
    let (primary, standby) = (cluster.primary(), &cluster.standbys()[0]);
    primary
        .psql(
            "postgres",
            "CREATE TABLE t (x int); INSERT INTO t SELECT generate_series(1, 1000)",
        )
        .unwrap();
    let data = standby.data_dir().to_owned();
    let dir = tempfile::tempdir().unwrap();
    let (running, port) = start_corepool_with(&cluster, dir.path(), |c| {
        c.recovery_user = "postgres".into();
        c.recovery_timeout = Duration::from_secs(30);
        c.corepool_recovery_jobs = 2;
        c.backends[1].data_directory = data.display().to_string();
        c.backends[1].application_name = "node1".into();
        c.backends[0].weight = 0.0;
    });
    let (_, pass) = write_auth_files(dir.path(), PASSWORD);
    let status = |node: usize| running.state.nodes()[node].status().name();

    assert_eq!(
        stdout(&common::corepool_pcp(
            USER,
            port,
            &pass,
            &["detach-node", "-n", "1"]
        )),
        "detach-node: command successful\n"
    );
    wait_until("node 1 down", || status(1) == "down");
    // Detached but its server still runs: refused, nothing removed.
    let out = common::corepool_pcp(USER, port, &pass, &["recovery-node", "-n", "1"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8(out.stderr.clone()).unwrap();
    assert!(
        err.contains(&format!(
            "ERROR: node recovery failed, node id: 1 is still running (postmaster.pid in \"{}\" names process",
            data.display()
        )),
        "{err}"
    );
    assert!(data.join("PG_VERSION").exists());

    standby.stop().unwrap();
    std::fs::remove_dir_all(&data).unwrap();
    let out = common::corepool_pcp(USER, port, &pass, &["recovery-node", "-n", "1"]);
    assert_eq!(stdout(&out), "recovery-node: command successful\n");
    assert!(matches!(status(1), "waiting" | "up"), "{}", status(1));

    // A standby of the primary again, owned by the servers' user, through a permanent slot.
    use std::os::unix::fs::MetadataExt;
    let owner = std::fs::metadata(data.parent().unwrap()).unwrap().uid();
    assert_eq!(std::fs::metadata(&data).unwrap().uid(), owner);
    assert!(data.join("standby.signal").exists());
    let auto = std::fs::read_to_string(data.join("postgresql.auto.conf")).unwrap();
    assert!(
        auto.contains("primary_slot_name = 'corepool_node1'"),
        "{auto}"
    );
    assert!(auto.contains("application_name=node1"), "{auto}");
    standby.wait_streaming_from(primary).unwrap();
    assert_eq!(
        primary
            .psql(
                "postgres",
                "SELECT active FROM pg_replication_slots WHERE slot_name = 'corepool_node1'"
            )
            .unwrap(),
        "t"
    );
    let nodes = json(&common::corepool_pcp(
        USER,
        port,
        &pass,
        &["node-info", "-n", "1", "--json"],
    ));
    assert_eq!(nodes[0]["role"], "standby");

    // Serving reads through corepool (node 0 has weight 0).
    primary
        .psql("postgres", "INSERT INTO t VALUES (1001)")
        .unwrap();
    let conninfo = format!(
        "host=127.0.0.1 port={} user=postgres dbname=postgres",
        running.bound.tcp[0].port()
    );
    let lsn = primary.current_wal_lsn().unwrap();
    wait_until("node 1 to replay", || {
        standby
            .psql_tcp(
                "postgres",
                "postgres",
                None,
                "SELECT pg_last_wal_replay_lsn()",
            )
            .ok()
            .and_then(|l| l.parse::<corepool_testkit::Lsn>().ok())
            .is_some_and(|l| l >= lsn)
    });
    let out = cluster
        .psql_command(&conninfo, "SELECT count(*) FROM t")
        .output()
        .unwrap();
    assert_eq!(stdout(&out).trim(), "1001");
    assert!(running.state.stats.node_totals(1).select >= 1);
    running.state.request_shutdown(ShutdownMode::Fast);
    running.wait().expect("corepool stops");
}

/// Debian's pgpool, started with `-n` as the cluster's unprivileged user; killed on drop.
struct Pgpool {
    child: Child,
    pcp_port: u16,
}

impl Drop for Pgpool {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_pgpool(cluster: &Cluster, dir: &Path) -> Pgpool {
    let (pcp_conf, _) = write_auth_files(dir, PASSWORD);
    let port = corepool_testkit::free_port();
    let pcp_port = corepool_testkit::free_port();
    let d = dir.display();
    let mut conf = format!(
        "backend_clustering_mode = 'streaming_replication'\n\
         listen_addresses = '127.0.0.1'\nport = {port}\nsocket_dir = '{d}'\n\
         pcp_listen_addresses = '127.0.0.1'\npcp_port = {pcp_port}\npcp_socket_dir = '{d}'\n\
         wd_ipc_socket_dir = '{d}'\npid_file_name = '{d}/pgpool.pid'\nlogdir = '{d}'\n\
         num_init_children = 2\nmax_pool = 1\nenable_pool_hba = off\npool_passwd = ''\n\
         sr_check_period = 0\nsr_check_user = 'postgres'\nhealth_check_period = 0\n\
         log_destination = 'stderr'\n"
    );
    for (i, n) in cluster.nodes().iter().enumerate() {
        conf.push_str(&format!(
            "backend_hostname{i} = '127.0.0.1'\nbackend_port{i} = {}\nbackend_weight{i} = 1\nbackend_flag{i} = 'ALLOW_TO_FAILOVER'\n",
            n.port()
        ));
    }
    let conf_path = dir.join("pgpool.conf");
    std::fs::write(&conf_path, conf).unwrap();
    let mut cmd = Command::new("/usr/sbin/pgpool");
    cmd.args(["-n", "-D", "-f"])
        .arg(&conf_path)
        .arg("-F")
        .arg(&pcp_conf)
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(dir.join("pgpool.log")).unwrap());
    if let Some(user) = cluster.run_as() {
        for entry in std::fs::read_dir(dir).unwrap() {
            let _ =
                std::os::unix::fs::chown(entry.unwrap().path(), Some(user.uid()), Some(user.gid()));
        }
        std::os::unix::fs::chown(dir, Some(user.uid()), Some(user.gid())).unwrap();
        cmd.uid(user.uid()).gid(user.gid());
    }
    let child = cmd.spawn().expect("pgpool starts");
    let pgpool = Pgpool { child, pcp_port };
    let until = Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(("127.0.0.1", pcp_port)).is_err() {
        assert!(
            Instant::now() < until,
            "pgpool did not open its PCP port: {}",
            std::fs::read_to_string(dir.join("pgpool.log")).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    pgpool
}

#[test]
fn corepool_pcp_against_pgpool_and_corepool_agree() {
    let cluster = Cluster::builder().standbys(1).start().expect("cluster");
    let pgpool_dir = tempfile::tempdir().unwrap();
    let pgpool = start_pgpool(&cluster, pgpool_dir.path());
    let dir = tempfile::tempdir().unwrap();
    let (running, port) = start_corepool(&cluster, dir.path());
    let (_, pass) = write_auth_files(dir.path(), PASSWORD);

    for p in [pgpool.pcp_port, port] {
        assert_eq!(
            stdout(&common::corepool_pcp(USER, p, &pass, &["node-count"])),
            "2\n"
        );
    }
    let theirs = json(&common::corepool_pcp(
        USER,
        pgpool.pcp_port,
        &pass,
        &["node-info", "--json"],
    ));
    let ours = json(&common::corepool_pcp(
        USER,
        port,
        &pass,
        &["node-info", "--json"],
    ));
    for key in [
        "node_id",
        "hostname",
        "port",
        "weight",
        "role",
        "replication_delay",
    ] {
        for i in 0..2 {
            assert_eq!(
                theirs[i][key], ours[i][key],
                "node {i} {key}: {theirs} vs {ours}"
            );
        }
    }
    let stats = json(&common::corepool_pcp(
        USER,
        pgpool.pcp_port,
        &pass,
        &["health-check-stats", "-n", "1", "--json"],
    ));
    assert_eq!(stats["node_id"], "1");
    assert_eq!(stats["role"], "standby");
    let rows = json(&common::corepool_pcp(
        USER,
        pgpool.pcp_port,
        &pass,
        &["pool-status", "--json"],
    ));
    let port1 = cluster.nodes()[1].port().to_string();
    assert!(rows
        .as_array()
        .unwrap()
        .iter()
        .any(|r| r["name"] == "backend_port1" && r["value"] == port1.as_str()));
    assert!(!stdout(&common::corepool_pcp(
        USER,
        pgpool.pcp_port,
        &pass,
        &["proc-count"]
    ))
    .is_empty());

    // Errors are reported alike.
    for p in [pgpool.pcp_port, port] {
        let out = common::corepool_pcp(USER, p, &pass, &["watchdog-info"]);
        assert_eq!(out.status.code(), Some(1));
        let err = String::from_utf8(out.stderr.clone()).unwrap();
        assert!(
            err.contains("ERROR: PCP: informing watchdog info failed (watchdog is not enabled)"),
            "{err}"
        );
    }
    let (_, wrong) = write_auth_files(dir.path(), "wrong");
    let out = common::corepool_pcp(USER, pgpool.pcp_port, &wrong, &["node-count"]);
    assert_eq!(out.status.code(), Some(77));

    // Debian's own tools print the same against both (timestamps aside: each server
    // started its nodes' clocks on its own).
    let tool = |name: &str, p: u16, args: &[&str]| {
        let out = Command::new(format!("/usr/sbin/{name}"))
            .args(["-h", "127.0.0.1", "-p", &p.to_string(), "-U", USER, "-w"])
            .args(args)
            .env("PCPPASSFILE", &pass)
            .output()
            .unwrap();
        String::from_utf8(out.stdout).unwrap() + &String::from_utf8(out.stderr).unwrap()
    };
    let without_times = |text: String| -> Vec<String> {
        text.lines()
            .map(|l| {
                l.split(' ')
                    .filter(|w| !(w.len() == 10 && w.as_bytes().get(4) == Some(&b'-')))
                    .filter(|w| !(w.len() == 8 && w.as_bytes().get(2) == Some(&b':')))
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .collect()
    };
    for (name, args) in [
        ("pcp_node_info", &[][..]),
        ("pcp_node_info", &["-v", "-n", "1"][..]),
        ("pcp_health_check_stats", &["-n", "1"][..]),
        ("pcp_node_count", &[][..]),
        ("pcp_watchdog_info", &[][..]),
    ] {
        assert_eq!(
            without_times(tool(name, pgpool.pcp_port, args)),
            without_times(tool(name, port, args)),
            "{name} {args:?}"
        );
    }
    let names = |p: u16| -> Vec<String> {
        tool("pcp_pool_status", p, &[])
            .lines()
            .filter_map(|l| l.strip_prefix("name : ").map(str::to_owned))
            .collect()
    };
    let (theirs, ours) = (names(pgpool.pcp_port), names(port));
    assert_eq!(
        theirs, ours,
        "pcp_pool_status lists the same rows in the same order"
    );
    let out = common::corepool_pcp(USER, pgpool.pcp_port, &pass, &["stop-pgpool", "-m", "fast"]);
    assert_eq!(stdout(&out), "stop-pgpool: command successful\n");
    running.state.request_shutdown(ShutdownMode::Fast);
    running.wait().expect("corepool stops");
}
