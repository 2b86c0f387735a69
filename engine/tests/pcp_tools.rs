//! Debian's pcp_* tools (pgpool2 4.3.5) and the pgpool_adm extension against corepool's PCP
//! server, checking they print what they print against Pgpool-II (pcp-protocol.md §9).

use std::os::unix::fs::PermissionsExt;
use std::time::{Duration, Instant};

use corepool_engine::cluster::ShutdownMode;
use corepool_engine::server::{self, ServeOptions};

mod common;
use common::pcp::{PcpProxy, PASSWORD, USER};
use common::{base_config, RawClient};

/// Polls `f` every 50 ms for up to 30 s.
fn wait_until(what: &str, mut f: impl FnMut() -> bool) {
    let until = Instant::now() + Duration::from_secs(30);
    while !f() {
        assert!(Instant::now() < until, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Local time as the tools print it.
fn local(epoch: u64) -> String {
    corepool_engine::report::format_local(epoch)
}

/// The node info line pcp_node_info prints for node `i`.
fn node_line(p: &PcpProxy, i: usize, status: (u8, &str), role: &str) -> String {
    let n = &p.state().nodes()[i];
    let weight = 1.0 / p.state().nodes().len() as f64;
    format!(
        "127.0.0.1 {} {} {weight:.6} {} unknown {role} unknown 0 none none {}\n",
        n.address.port(),
        status.0,
        status.1,
        local(n.last_status_change())
    )
}

#[test]
fn read_only_tools_print_what_pgpool_prints() {
    let p = PcpProxy::start(1, |_, _| {});
    assert_eq!(p.ok("pcp_node_count", &[]), "2\n");
    assert_eq!(
        p.ok("pcp_node_count", &["-v"]),
        "Node Count\n____________\n 2\n"
    );
    let dir = p.dir.path().display().to_string();
    let out = p.tool_on(&dir, "pcp_node_count", &[]);
    assert_eq!(
        String::from_utf8(out.stdout.clone()).unwrap(),
        "2\n",
        "over the UNIX socket"
    );

    let line0 = node_line(&p, 0, (1, "waiting"), "primary");
    let line1 = node_line(&p, 1, (1, "waiting"), "standby");
    assert_eq!(p.ok("pcp_node_info", &["-n", "0"]), line0);
    assert_eq!(p.ok("pcp_node_info", &[]), format!("{line0}{line1}"));
    let verbose = p.ok("pcp_node_info", &["-v", "-n", "1"]);
    let port1 = p.state().nodes()[1].address.port();
    assert!(verbose.starts_with(&format!(
        "Hostname               : 127.0.0.1\nPort                   : {port1}\nStatus                 : 1\nWeight                 : 0.500000\nStatus Name            : waiting\n"
    )), "{verbose}");
    assert!(
        verbose.contains("\nRole                   : standby\n"),
        "{verbose}"
    );
    let bad = p.tool("pcp_node_info", &["-n", "7"]);
    let stderr = String::from_utf8(bad.stderr.clone()).unwrap();
    assert!(
        stderr.contains("ERROR:  informing node info failed\nDETAIL:  invalid node ID : 7"),
        "{stderr}"
    );

    let stats = p.ok("pcp_health_check_stats", &["-n", "1"]);
    let changed = local(p.state().nodes()[1].last_status_change());
    assert_eq!(
        stats,
        format!(
            "1 127.0.0.1 {port1} waiting standby {changed} 0 0 0 0 0 0.000000 0 0 0 0.000000    \n"
        )
    );
    let stats_v = p.ok("pcp_health_check_stats", &["-v", "-n", "0"]);
    assert!(
        stats_v.starts_with(
            "Node Id                       : 0\nHost Name                     : 127.0.0.1\n"
        ),
        "{stats_v}"
    );

    let wd = p.tool("pcp_watchdog_info", &[]);
    assert_eq!(
        String::from_utf8(wd.stderr.clone()).unwrap(),
        "ERROR:  PCP: informing watchdog info failed\nDETAIL:  watchdog is not enabled\n\n"
    );

    let status = p.ok("pcp_pool_status", &[]);
    assert!(
        status.starts_with("name : backend_clustering_mode\nvalue: 1\ndesc : clustering mode\n\n"),
        "{status}"
    );
    assert!(status
        .contains("name : backend_hostname0\nvalue: 127.0.0.1\ndesc : backend #0 hostname\n\n"));
    assert!(status.contains("name : backend_weight1\nvalue: 0.500000\n"));

    // One session: one process record, under the process id the client was given.
    // No session: an empty record array, which the tool reports as a bare success.
    assert_eq!(
        p.ok("pcp_proc_info", &[]),
        "pcp_proc_info -- Command Successful\n"
    );
    let (mut client, greeting) = RawClient::connect(p.port, "postgres", "postgres", &[]);
    let key = greeting
        .iter()
        .find(|(t, _)| *t == b'K')
        .expect("BackendKeyData");
    let pid = i32::from_be_bytes(key.1[..4].try_into().unwrap());
    // The record names the primary's backend; a leading comment keeps this read off the
    // load-balanced standby (Pgpool-II's rule with allow_sql_comments off).
    let backend_pid =
        common::first_value(&client.query("/* on the primary */ SELECT pg_backend_pid()")).unwrap();
    assert_eq!(p.ok("pcp_proc_count", &[]), format!("{pid} \n"));
    let info = p.ok("pcp_proc_info", &["-P", &pid.to_string()]);
    let fields: Vec<&str> = info.trim_end().split(' ').collect();
    assert_eq!(&fields[..2], ["postgres", "postgres"], "{info}");
    assert_eq!(
        fields.len(),
        19,
        "16 fields, three of them two words: {info}"
    );
    let pid_text = pid.to_string();
    let tail = [backend_pid.as_str(), "1", pid_text.as_str(), "0", "Idle"];
    assert_eq!(&fields[fields.len() - 5..], tail, "{info}");
    // The status follows the session: in a transaction block, running a request, idle again.
    let pid_arg = pid.to_string();
    let status_is = |want: &str| {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            let info = p.ok("pcp_proc_info", &["-P", &pid_arg]);
            if info.trim_end().ends_with(&format!(" 0 {want}")) {
                return;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "expected {want}: {info}"
            );
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    };
    client.query("BEGIN");
    status_is("Idle in transaction");
    let mut sleep = bytes::BytesMut::new();
    corepool_protocol::message::write::frontend::query("SELECT pg_sleep(3)", &mut sleep).unwrap();
    client.send(&sleep);
    status_is("Execute command");
    client.read_until_ready();
    status_is("Idle in transaction");
    client.query("COMMIT");
    status_is("Idle");
    client.terminate();

    let out = p.tool("pcp_recovery_node", &["-n", "0"]);
    let stderr = String::from_utf8(out.stderr.clone()).unwrap();
    assert!(stderr.contains("ERROR:  process recovery request failed\nDETAIL:  primary server cannot be recovered by online recovery."), "{stderr}");
    // An attached node is refused as Pgpool-II refuses it (engine/tests/recovery.rs recovers
    // detached ones).
    let out = p.tool("pcp_recovery_node", &["-n", "1"]);
    let stderr = String::from_utf8(out.stderr.clone()).unwrap();
    assert_eq!(
        stderr,
        "ERROR:  node recovery failed, node id: 1 is alive\n\n"
    );

    assert_eq!(
        p.ok("pcp_reload_config", &[]),
        "pcp_reload_config -- Command Successful\n"
    );

    // A wrong password: exit status 1 and pgpool's FATAL.
    let wrong = p.dir.path().join("wrongpass");
    std::fs::write(&wrong, format!("*:*:{USER}:nope\n")).unwrap();
    std::fs::set_permissions(&wrong, std::fs::Permissions::from_mode(0o600)).unwrap();
    let out = p
        .command_on("127.0.0.1", "pcp_node_count")
        .env("PCPPASSFILE", &wrong)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8(out.stderr.clone()).unwrap();
    assert!(
        stderr.contains("authentication failed for user \"pcpadmin\""),
        "{stderr}"
    );
}

#[test]
fn detach_and_attach_change_state_and_run_the_commands() {
    let p = PcpProxy::start(1, |c, dir| {
        c.failover_command = format!(
            "echo '%d %h %p %D %m %H %M %P %r %R %N %S' >> {}/failover.log",
            dir.display()
        );
        c.failback_command = format!("echo 'back %d %m %M' >> {}/failback.log", dir.display());
        c.backends[0].data_directory = "/data/zero".into();
        c.backends[1].data_directory = "/data/one".into();
    });
    let dir = p.dir.path().to_owned();
    let (p0, p1) = (p.cluster().nodes()[0].port(), p.cluster().nodes()[1].port());
    assert_eq!(
        p.ok("pcp_detach_node", &["-n", "1"]),
        "pcp_detach_node -- Command Successful\n"
    );
    wait_until("failover_command", || dir.join("failover.log").exists());
    assert_eq!(
        std::fs::read_to_string(dir.join("failover.log")).unwrap(),
        format!("1 127.0.0.1 {p1} /data/one 0 127.0.0.1 0 0 {p0} /data/zero 127.0.0.1 {p0}\n")
    );
    assert_eq!(
        p.ok("pcp_node_info", &["-n", "1"]),
        node_line(&p, 1, (3, "down"), "standby")
    );
    assert_eq!(
        std::fs::read_to_string(dir.join("pgpool_status")).unwrap(),
        "up\ndown\n"
    );
    // Clients still get the primary; the detached node is refused a second detach.
    let before = p.state().stats.node_totals(1).select;
    let port = p.cluster().primary().port().to_string();
    for _ in 0..3 {
        let (mut c, _) = RawClient::connect(p.port, "postgres", "postgres", &[]);
        let got = common::first_value(&c.query("SELECT inet_server_port()"));
        assert_eq!(got.as_deref(), Some(port.as_str()));
        c.terminate();
    }
    let after = p.state().stats.node_totals(1).select;
    assert_eq!(before, after, "no traffic to the detached node");
    let (mut c, _) = RawClient::connect(p.port, "postgres", "postgres", &[]);
    let nodes = c.query("SHOW pool_nodes");
    c.terminate();
    let rows: Vec<String> = nodes
        .iter()
        .filter(|(t, _)| *t == b'D')
        .map(|(_, body)| String::from_utf8(body.clone()).unwrap())
        .collect();
    assert!(
        rows.len() == 2 && rows[1].contains("down"),
        "SHOW pool_nodes: {rows:?}"
    );
    let again = p.tool("pcp_detach_node", &["-n", "1"]);
    let stderr = String::from_utf8(again.stderr.clone()).unwrap();
    assert!(stderr.contains("is not valid for failover"), "{stderr}");

    assert_eq!(
        p.ok("pcp_attach_node", &["-n", "1"]),
        "pcp_attach_node -- Command Successful\n"
    );
    wait_until("failback_command", || dir.join("failback.log").exists());
    assert_eq!(
        std::fs::read_to_string(dir.join("failback.log")).unwrap(),
        "back 1 0 0\n"
    );
    wait_until("node 1 waiting", || {
        p.state().nodes()[1].status() == corepool_engine::cluster::NodeStatus::Waiting
    });
    assert_eq!(
        std::fs::read_to_string(dir.join("pgpool_status")).unwrap(),
        "up\nup\n"
    );
    let out = p.tool("pcp_attach_node", &["-n", "1"]);
    let stderr = String::from_utf8(out.stderr.clone()).unwrap();
    assert!(stderr.contains("invalid failback request"), "{stderr}");

    // Graceful detach waits for clients (there are none) and finishes before replying.
    assert_eq!(
        p.ok("pcp_detach_node", &["-g", "-n", "1"]),
        "pcp_detach_node -- Command Successful\n"
    );
    assert_eq!(
        p.state().nodes()[1].status(),
        corepool_engine::cluster::NodeStatus::Down
    );
}

#[test]
fn a_graceful_detach_waits_for_clients_and_holds_new_ones() {
    let p = PcpProxy::start(1, |_, _| {});
    let (first, _) = RawClient::connect(p.port, "postgres", "postgres", &[]);
    let mut detach = p.command_on("127.0.0.1", "pcp_detach_node");
    detach.args(["-g", "-n", "1"]);
    let detach = std::thread::spawn(move || detach.output().unwrap());
    wait_until("new clients held", || p.state().admission_held());
    let port = p.port;
    let second = std::thread::spawn(move || {
        let (mut c, _) = RawClient::connect(port, "postgres", "postgres", &[]);
        common::first_value(&c.query("SELECT 'served'"))
    });
    std::thread::sleep(Duration::from_millis(500));
    assert!(!detach.is_finished(), "the detach waits for the client");
    assert!(!second.is_finished(), "a new client waits for the detach");
    assert!(p.state().nodes()[1].status().is_valid(), "not detached yet");
    first.terminate();
    let out = detach.join().unwrap();
    assert!(out.status.success(), "{out:?}");
    assert_eq!(
        p.state().nodes()[1].status(),
        corepool_engine::cluster::NodeStatus::Down
    );
    assert_eq!(second.join().unwrap().as_deref(), Some("served"));
    assert!(!p.state().admission_held());
}

#[test]
fn the_status_file_makes_a_restart_remember_down_nodes() {
    let mut p = PcpProxy::start(1, |_, _| {});
    assert_eq!(
        p.ok("pcp_detach_node", &["-g", "-n", "1"]),
        "pcp_detach_node -- Command Successful\n"
    );
    p.stop();
    let logdir = p.dir.path().display().to_string();
    let restart = |discard: bool| {
        let mut config = base_config(p.cluster(), corepool_testkit::free_port());
        config.logdir = logdir.clone();
        let options = ServeOptions {
            discard_status: discard,
            ..ServeOptions::default()
        };
        let running = server::start(config, options).expect("corepool starts");
        let status: Vec<_> = running.state.nodes().iter().map(|n| n.status()).collect();
        running.state.request_shutdown(ShutdownMode::Fast);
        running.wait().expect("stops");
        status
    };
    use corepool_engine::cluster::NodeStatus::{Down, Waiting};
    assert_eq!(restart(false), [Waiting, Down]);
    assert_eq!(restart(true), [Waiting, Waiting], "-D discards the file");
    assert!(!p.dir.path().join("pgpool_status").exists());
}

#[test]
fn promote_with_switchover_promotes_the_standby() {
    let psql = "psql";
    let p = PcpProxy::start(1, |c, dir| {
        let bin = corepool_testkit::PgInstall::get()
            .expect("install")
            .bin_dir()
            .join(psql);
        c.failover_command = format!(
            "{} -X -h %H -p %r -U postgres -d postgres -c 'SELECT pg_promote()' >> {}/promote.log 2>&1",
            bin.display(),
            dir.display()
        );
        c.sr_check_user = "postgres".into();
        c.search_primary_node_timeout = Duration::from_secs(30);
    });
    let standby_port = p.cluster().standbys()[0].port().to_string();
    let out = p.tool("pcp_promote_node", &["-n", "0"]);
    let stderr = String::from_utf8(out.stderr.clone()).unwrap();
    assert!(
        stderr.contains("FATAL:  invalid promote request"),
        "{stderr}"
    );
    assert_eq!(
        p.ok("pcp_promote_node", &["-s", "-n", "1"]),
        "pcp_promote_node -- Command Successful\n"
    );
    wait_until("node 1 to become the primary", || {
        p.state().primary() == Some(1)
    });
    assert!(
        !p.cluster().standbys()[0].is_in_recovery().unwrap(),
        "PostgreSQL was promoted"
    );
    assert_eq!(
        p.state().nodes()[0].status(),
        corepool_engine::cluster::NodeStatus::Down
    );
    let (mut c, _) = RawClient::connect(p.port, "postgres", "postgres", &[]);
    let got = common::first_value(&c.query("SELECT inet_server_port()"));
    assert_eq!(
        got.as_deref(),
        Some(standby_port.as_str()),
        "writes go to the new primary"
    );
    c.terminate();
    let line = p.ok("pcp_node_info", &["-n", "1"]);
    assert!(line.contains(" primary "), "{line}");
}

#[test]
fn stop_modes_stop_corepool() {
    let p = PcpProxy::start(0, |_, _| {});
    assert_eq!(
        p.ok("pcp_stop_pgpool", &["-m", "smart"]),
        "pcp_stop_pgpool -- Command Successful\n"
    );
    let cluster = p.wait_stopped();

    let p = PcpProxy::start_on(cluster, |_, _| {});
    let (mut client, _) = RawClient::connect(p.port, "postgres", "postgres", &[]);
    assert_eq!(
        p.ok("pcp_stop_pgpool", &["-m", "fast", "-s", "cluster"]),
        "pcp_stop_pgpool -- Command Successful\n"
    );
    let msgs = client.read_until_ready();
    assert_eq!(
        common::error_code(&msgs).as_deref(),
        Some("57P01"),
        "the session is ended"
    );
    let cluster = p.wait_stopped();

    let p = PcpProxy::start_on(cluster, |_, _| {});
    assert_eq!(
        p.ok("pcp_stop_pgpool", &["-m", "immediate"]),
        "pcp_stop_pgpool -- Command Successful\n"
    );
    // The reply may leave before the stop is applied: give it a moment.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while p.state().shutdown() != ShutdownMode::Immediate && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    assert_eq!(p.state().shutdown(), ShutdownMode::Immediate);
    p.wait_stopped();
}

#[test]
fn pgpool_adm_functions_work_against_corepool() {
    let p = PcpProxy::start(1, |_, _| {});
    let primary = p.cluster().primary();
    primary
        .psql("postgres", "CREATE EXTENSION pgpool_adm")
        .expect("pgpool_adm");
    let args = format!("'127.0.0.1', {}, '{USER}', '{PASSWORD}'", p.pcp_port);
    let count = primary
        .psql(
            "postgres",
            &format!("SELECT node_count FROM pcp_node_count({args})"),
        )
        .unwrap();
    assert_eq!(count, "2");
    let info = primary
        .psql(
            "postgres",
            &format!("SELECT host, port, status, weight, role FROM pcp_node_info(1, {args})"),
        )
        .unwrap();
    let port1 = p.cluster().nodes()[1].port();
    assert_eq!(
        info,
        format!("127.0.0.1|{port1}|Waiting for connection to start|0.5|Standby")
    );
    let stats = primary
        .psql(
            "postgres",
            &format!(
                "SELECT node_id, status, role, total_count FROM pcp_health_check_stats(1, {args})"
            ),
        )
        .unwrap();
    assert_eq!(stats, "1|waiting|standby|0");
    // pgpool_adm 1.4 declares pcp_pool_status as `RETURNS record` but implements it as a
    // set-returning function, so PostgreSQL rejects it whatever the PCP server answers.
    let err = primary
        .psql(
            "postgres",
            &format!("SELECT * FROM pcp_pool_status({args})"),
        )
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("table-function protocol for value-per-call mode was not followed"),
        "{err}"
    );
    let detached = primary
        .psql(
            "postgres",
            &format!("SELECT pcp_detach_node(1, false, {args})"),
        )
        .unwrap();
    assert_eq!(detached, "t");
    wait_until("node 1 down", || {
        p.state().nodes()[1].status() == corepool_engine::cluster::NodeStatus::Down
    });
    let attached = primary
        .psql("postgres", &format!("SELECT pcp_attach_node(1, {args})"))
        .unwrap();
    assert_eq!(attached, "t");
    wait_until("node 1 back", || p.state().nodes()[1].status().is_valid());
}

#[test]
fn live_columns_ask_the_backends() {
    let p = PcpProxy::start(1, |c, _| {
        c.health_check.period = Duration::from_secs(30);
        c.health_check.user = "postgres".into();
        c.sr_check_period = Duration::from_secs(30);
        c.sr_check_user = "postgres".into();
    });
    let info = p.ok("pcp_node_info", &[]);
    let lines: Vec<Vec<&str>> = info.lines().map(|l| l.split(' ').collect()).collect();
    assert_eq!(lines.len(), 2, "{info}");
    // Fields: host port status weight status_name pg_status role pg_role ...
    assert_eq!(&lines[0][5..8], ["up", "primary", "primary"], "{info}");
    assert_eq!(&lines[1][5..8], ["up", "standby", "standby"], "{info}");
    p.cluster().standbys()[0].stop().expect("standby stops");
    let info = p.ok("pcp_node_info", &["-n", "1"]);
    let fields: Vec<&str> = info.split(' ').collect();
    assert_eq!(&fields[5..8], ["down", "standby", "unknown"], "{info}");
}

/// Sends raw bytes to the PCP port and returns every packet until the server closes.
fn raw_exchange(port: u16, bytes: &[u8]) -> Vec<(u8, Vec<u8>)> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(bytes).unwrap();
    let mut buf = bytes::BytesMut::new();
    let mut chunk = [0u8; 1024];
    loop {
        match s.read(&mut chunk) {
            Ok(0) | Err(_) => break,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
    let mut out = Vec::new();
    while let Ok(Some(p)) = corepool_protocol::pcp::split_response(&mut buf, 1 << 20) {
        out.push((p.tag(), p.payload().to_vec()));
    }
    out
}

#[test]
fn requests_before_login_and_oversized_packets_are_fatal() {
    let p = PcpProxy::start(0, |_, _| {});
    let fatal = |packets: &[(u8, Vec<u8>)], detail: &str| {
        assert_eq!(packets.len(), 1, "one packet, then the server hangs up");
        let (tag, body) = &packets[0];
        assert_eq!(*tag, b'E');
        let text = String::from_utf8(body.clone()).unwrap();
        assert!(text.starts_with("SFATAL\0"), "{text:?}");
        assert!(text.contains(detail), "{text:?}");
    };
    // Node count before logging in.
    fatal(
        &raw_exchange(p.pcp_port, b"L\0\0\0\x04"),
        "connection not authorized",
    );
    // A request whose length field is 260.
    let mut big = vec![b'I', 0, 0, 1, 4];
    big.extend(std::iter::repeat(b'1').take(255));
    fatal(
        &raw_exchange(p.pcp_port, &big),
        "incorrect packet length (260)",
    );
    // A response to a salt that was never asked for.
    let mut auth = bytes::BytesMut::new();
    corepool_protocol::pcp::request::write_authenticate(&mut auth, USER, &"0".repeat(32)).unwrap();
    fatal(
        &raw_exchange(p.pcp_port, &auth),
        "username and/or password does not match",
    );
}
