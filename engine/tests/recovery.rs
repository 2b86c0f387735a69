//! Online recovery Pgpool-II's way, driven by Debian's `pcp_recovery_node` (pgpool2 4.3.5)
//! against corepool: the pgpool_recovery extension (Debian's postgresql-15-pgpool2) runs local
//! equivalents of the sample recovery_1st_stage and pgpool_remote_start scripts on a real
//! primary. corepool's own recovery (no scripts) is tested with `corepool pcp recovery-node`
//! in cli/tests/pcp_client.rs.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Output, Stdio};
use std::time::{Duration, Instant};

use corepool_testkit::{Cluster, Node};

mod common;
use common::pcp::PcpProxy;

/// recovery_timeout of the test: short, so the case of a node that never starts is quick.
const RECOVERY_TIMEOUT: Duration = Duration::from_secs(3);

/// Writes an executable script into the primary's data directory, where the extension runs it.
fn script(primary: &Node, name: &str, body: &str) {
    let path = primary.data_dir().join(name);
    std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).expect("write script");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
}

fn text(b: &[u8]) -> String {
    String::from_utf8(b.to_vec()).expect("utf-8")
}

/// Polls `f` every 50 ms for up to 30 s.
fn wait_until(what: &str, mut f: impl FnMut() -> bool) {
    let until = Instant::now() + Duration::from_secs(30);
    while !f() {
        assert!(Instant::now() < until, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// `SQL` through corepool as postgres; trimmed stdout.
fn through_proxy(p: &PcpProxy, sql: &str) -> String {
    let conninfo = format!(
        "host=127.0.0.1 port={} user=postgres dbname=postgres connect_timeout=10",
        p.port
    );
    let out = p
        .cluster()
        .psql_command(&conninfo, sql)
        .output()
        .expect("psql");
    assert!(out.status.success(), "{sql}: {}", text(&out.stderr));
    text(&out.stdout).trim().to_owned()
}

/// Node 1's row of `SHOW pool_nodes`, split at `|`.
fn pool_nodes_row(p: &PcpProxy) -> Vec<String> {
    let rows = through_proxy(p, "SHOW pool_nodes");
    let row = rows.lines().nth(1).expect("node 1's row");
    row.split('|').map(str::to_owned).collect()
}

fn stderr_of(out: &Output) -> String {
    text(&out.stderr)
}

#[test]
fn pgpool_way_recovers_a_wiped_standby_through_the_extension() {
    let cluster = Cluster::builder()
        .standbys(1)
        .start()
        .expect("cluster starts");
    let (primary, standby) = (cluster.primary(), &cluster.standbys()[0]);
    primary
        .psql("template1", "CREATE EXTENSION pgpool_recovery")
        .expect("the pgpool_recovery extension (postgresql-15-pgpool2)");
    primary
        .psql(
            "postgres",
            "CREATE TABLE t (x int); INSERT INTO t SELECT generate_series(1, 100)",
        )
        .unwrap();
    standby.wait_caught_up(primary).unwrap();
    let standby_data = standby.data_dir().to_owned();
    let p = PcpProxy::start_on(cluster, |c, _| {
        c.recovery_user = "postgres".into();
        c.recovery_1st_stage_command = "recovery_1st_stage".into();
        c.recovery_timeout = RECOVERY_TIMEOUT;
        c.backends[1].data_directory = standby_data.display().to_string();
        c.backends[1].application_name = "node1".into();
        // Reads go to the standby whenever it is attached, else to the primary.
        c.backends[0].weight = 0.0;
    });
    let (primary, standby) = (p.cluster().primary(), &p.cluster().standbys()[0]);

    // Detach the standby, stop it, and wipe its data directory.
    assert_eq!(
        p.ok("pcp_detach_node", &["-n", "1"]),
        "pcp_detach_node -- Command Successful\n"
    );
    wait_until("node 1 down", || {
        p.state().nodes()[1].status().name() == "down"
    });
    standby.stop().unwrap();
    std::fs::remove_dir_all(&standby_data).unwrap();

    // A 1st stage script that fails: Pgpool-II's report, the node stays detached.
    script(primary, "recovery_1st_stage", "exit 1");
    script(primary, "pgpool_remote_start", "exit 0");
    let out = p.tool("pcp_recovery_node", &["-n", "1"]);
    assert_eq!(
        stderr_of(&out),
        "ERROR:  executing recovery, execution of command failed at \"1st stage\"\n\
         DETAIL:  command:\"recovery_1st_stage\"\n\n"
    );
    assert_eq!(p.state().nodes()[1].status().name(), "down");

    // A remote start that fails.
    script(primary, "recovery_1st_stage", "exit 0");
    script(primary, "pgpool_remote_start", "exit 1");
    let out = p.tool("pcp_recovery_node", &["-n", "1"]);
    assert_eq!(
        stderr_of(&out),
        "ERROR:  executing remote start failed with error: \"ERROR:  pgpool_remote_start failed\n\"\n\n"
    );

    // Scripts that succeed but start nothing: recovery_timeout runs out.
    script(primary, "pgpool_remote_start", "exit 0");
    let started = Instant::now();
    let out = p.tool("pcp_recovery_node", &["-n", "1"]);
    assert_eq!(
        stderr_of(&out),
        format!(
            "ERROR:  recovery is checking if postmaster is started\n\
             DETAIL:  postmaster on hostname:\"127.0.0.1\" database:\"template1\" user:\"postgres\" failed to start in {} second\n\n",
            RECOVERY_TIMEOUT.as_secs()
        )
    );
    assert!(started.elapsed() >= RECOVERY_TIMEOUT);
    assert_eq!(p.state().nodes()[1].status().name(), "down");

    // Local equivalents of Debian's sample scripts (no ssh). The 1st stage records its
    // arguments and waits at a gate, so what is shown meanwhile can be checked.
    let ctl = p.cluster().create_dir("recovery-ctl").unwrap();
    let bin = p.cluster().bin_dir().display().to_string();
    script(
        primary,
        "recovery_1st_stage",
        &format!(
            "set -e\n\
             echo \"$@\" > {ctl}/args\n\
             while [ ! -e {ctl}/go ]; do sleep 0.1; done\n\
             rm -rf \"$3\"\n\
             {bin}/pg_basebackup -D \"$3\" -X stream -R -c fast --no-sync \
               -d \"host=$7 port=$4 user=postgres application_name=node1\"\n\
             printf \"port = %s\\nunix_socket_directories = '%s'\\n\" \"$6\" '{sock}' \
               > \"$3/corepool_node.conf\"",
            ctl = ctl.display(),
            sock = standby.socket_dir().display(),
        ),
    );
    script(
        primary,
        "pgpool_remote_start",
        &format!(
            "echo \"$@\" > {ctl}/start-args\n\
             exec {bin}/pg_ctl -w -D \"$2\" -l '{log}' start > /dev/null 2>&1 < /dev/null",
            ctl = ctl.display(),
            log = standby.log_path().display(),
        ),
    );
    let recovery = p
        .command_on("127.0.0.1", "pcp_recovery_node")
        .args(["-n", "1"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("pcp_recovery_node runs");
    wait_until("the 1st stage to start", || ctl.join("args").exists());
    // The extension passes the primary's data directory first, then Pgpool-II 4.3's six
    // arguments in its order.
    let args = std::fs::read_to_string(ctl.join("args")).unwrap();
    assert_eq!(
        args.trim(),
        format!(
            "{} 127.0.0.1 {} {} 1 {} 127.0.0.1",
            primary.data_dir().display(),
            standby_data.display(),
            primary.port(),
            standby.port()
        )
    );

    // While it runs: shown as recovering, clients served by the primary, one recovery at a
    // time.
    let info = p.ok("pcp_node_info", &["-n", "1"]);
    assert!(
        info.contains(" 3 1.000000 down recovering standby "),
        "{info}"
    );
    let row = pool_nodes_row(&p);
    assert_eq!((row[3].as_str(), row[4].as_str()), ("down", "recovering"));
    assert_eq!(through_proxy(&p, "SELECT count(*) FROM t"), "100");
    let out = p.tool("pcp_recovery_node", &["-n", "1"]);
    assert_eq!(
        stderr_of(&out),
        "FATAL:  process recovery request failed\n\
         DETAIL:  pgpool-II is already processing another recovery request.\n\n"
    );

    std::fs::write(ctl.join("go"), "").unwrap();
    let out = recovery.wait_with_output().expect("pcp_recovery_node ends");
    assert_eq!(
        (text(&out.stdout).as_str(), stderr_of(&out).as_str()),
        ("pcp_recovery_node -- Command Successful\n", "")
    );
    let start_args = std::fs::read_to_string(ctl.join("start-args")).unwrap();
    assert_eq!(
        start_args.trim(),
        format!("127.0.0.1 {}", standby_data.display())
    );

    // Attached, streaming again, and serving the reads.
    let status = p.state().nodes()[1].status().name();
    assert!(matches!(status, "waiting" | "up"), "{status}");
    standby.wait_streaming_from(primary).unwrap();
    through_proxy(&p, "INSERT INTO t VALUES (101)");
    standby.wait_caught_up(primary).unwrap();
    assert_eq!(through_proxy(&p, "SELECT count(*) FROM t"), "101");
    let row = pool_nodes_row(&p);
    assert_eq!(row[4], "up");
    assert!(row[8].parse::<u64>().unwrap() >= 1, "select_cnt {row:?}");
    assert!(Path::new(&standby_data).join("standby.signal").exists());
}
