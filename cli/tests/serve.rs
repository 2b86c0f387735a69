//! `corepool serve` as users run it: Debian's pgpool.conf sample, the pid file, reload on SIGHUP
//! and Pgpool-II's three stop modes (SIGTERM smart, SIGINT fast, SIGQUIT immediate).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use corepool_testkit::{free_port, Cluster};

mod common;
use common::*;

fn signal(child: &Child, sig: i32) {
    // SAFETY: kill(2) with a child's pid and a valid signal number has no memory effects.
    let rc = unsafe { libc::kill(child.id() as i32, sig) };
    assert_eq!(rc, 0);
}

fn wait_exit(child: &mut Child, within: Duration) -> Option<std::process::ExitStatus> {
    let deadline = Instant::now() + within;
    loop {
        if let Some(s) = child.try_wait().unwrap() {
            return Some(s);
        }
        if Instant::now() > deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A client session held open with a raw socket after start-up.
fn open_session(port: u16) -> TcpStream {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut out = bytes::BytesMut::new();
    corepool_protocol::message::write::frontend::startup_message(
        [("user", "postgres"), ("database", "postgres")],
        &mut out,
    )
    .unwrap();
    s.write_all(&out).unwrap();
    let mut got = Vec::new();
    let mut chunk = [0u8; 4096];
    while !got.windows(6).any(|w| w == [b'Z', 0, 0, 0, 5, b'I']) {
        let n = s.read(&mut chunk).unwrap();
        assert!(n > 0, "session closed during start-up");
        got.extend_from_slice(&chunk[..n]);
    }
    s
}

#[test]
fn debian_sample_config_serves_and_writes_its_pid_file() {
    let cluster = Cluster::builder().start().unwrap();
    let mut server = start(&cluster, "");
    assert_eq!(psql(&cluster, server.port, "SELECT 40 + 2").unwrap(), "42");
    let pid = std::fs::read_to_string(server.dir.path().join("corepool.pid")).unwrap();
    assert_eq!(pid.trim(), server.child.id().to_string());
    // A second corepool on the same port refuses to start instead of sharing it.
    let other = Command::new(env!("CARGO_BIN_EXE_corepool"))
        .args(["serve", "-f"])
        .arg(&server.conf)
        .output()
        .unwrap();
    assert!(!other.status.success());
    assert!(String::from_utf8(other.stderr)
        .unwrap_or_default()
        .contains("address already in use"));
    signal(&server.child, libc::SIGINT);
    assert!(wait_exit(&mut server.child, Duration::from_secs(10)).is_some_and(|s| s.success()));
    assert!(
        !server.dir.path().join("corepool.pid").exists(),
        "pid file removed at exit"
    );
}

#[test]
fn sighup_reloads_the_configuration() {
    let cluster = Cluster::builder().start().unwrap();
    let server = start(&cluster, "client_idle_limit = 0\n");
    assert_eq!(
        psql(&cluster, server.port, "PGPOOL SHOW client_idle_limit").unwrap(),
        "0"
    );
    let text = std::fs::read_to_string(&server.conf).unwrap();
    std::fs::write(&server.conf, format!("{text}\nclient_idle_limit = 300\n")).unwrap();
    signal(&server.child, libc::SIGHUP);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if psql(&cluster, server.port, "PGPOOL SHOW client_idle_limit").unwrap() == "300" {
            break;
        }
        assert!(Instant::now() < deadline, "reload did not take effect");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn sighup_as_soon_as_the_pid_file_appears_reloads() {
    // Init scripts send SIGHUP to the pid in the pid file; the handler must be in place by then
    // or the signal's default action kills the proxy.
    let cluster = Cluster::builder().start().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let conf = write_conf(dir.path(), &cluster, port, "");
    let pid_file = dir.path().join("corepool.pid");
    let mut child = Command::new(env!("CARGO_BIN_EXE_corepool"))
        .args(["serve", "-n", "-f"])
        .arg(&conf)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while !pid_file.exists() {
        assert!(Instant::now() < deadline, "no pid file");
        assert!(child.try_wait().unwrap().is_none(), "corepool exited");
        std::thread::sleep(Duration::from_micros(200));
    }
    signal(&child, libc::SIGHUP);
    std::thread::sleep(Duration::from_millis(300));
    let alive = child.try_wait().unwrap().is_none();
    let answer = psql(&cluster, port, "SELECT 1");
    let _ = child.kill();
    let _ = child.wait();
    assert!(alive, "SIGHUP killed corepool");
    assert_eq!(answer.unwrap(), "1");
}

#[test]
fn sigterm_waits_for_clients_then_exits() {
    let cluster = Cluster::builder().start().unwrap();
    let mut server = start(&cluster, "");
    let session = open_session(server.port);
    signal(&server.child, libc::SIGTERM);
    assert!(
        wait_exit(&mut server.child, Duration::from_secs(1)).is_none(),
        "smart shutdown waits for the client"
    );
    assert!(
        psql(&cluster, server.port, "SELECT 1").is_err(),
        "no new clients during smart shutdown"
    );
    drop(session);
    let status =
        wait_exit(&mut server.child, Duration::from_secs(10)).expect("exits once the client left");
    assert!(status.success());
}

#[test]
fn sigint_ends_sessions_with_57p01() {
    let cluster = Cluster::builder().start().unwrap();
    let mut server = start(&cluster, "");
    let mut session = open_session(server.port);
    signal(&server.child, libc::SIGINT);
    let mut reply = Vec::new();
    let _ = session.read_to_end(&mut reply);
    let mut buf = bytes::BytesMut::from(&reply[..]);
    let frame = corepool_protocol::framing::split_frame(&mut buf, &Default::default())
        .unwrap()
        .expect("an ErrorResponse");
    let e = corepool_protocol::message::backend::ErrorResponse::parse(frame.body()).unwrap();
    assert_eq!(e.code(), Some("57P01"));
    assert!(wait_exit(&mut server.child, Duration::from_secs(10)).is_some_and(|s| s.success()));
}

#[test]
fn sigquit_exits_at_once() {
    let cluster = Cluster::builder().start().unwrap();
    let mut server = start(&cluster, "");
    let _session = open_session(server.port);
    signal(&server.child, libc::SIGQUIT);
    assert!(wait_exit(&mut server.child, Duration::from_secs(3)).is_some());
}

#[test]
fn notify_socket_hears_ready_reloading_and_stopping() {
    use std::os::unix::net::UnixDatagram;
    let cluster = Cluster::builder().start().unwrap();
    let sockets = tempfile::tempdir().unwrap();
    let path = sockets.path().join("notify");
    let systemd = UnixDatagram::bind(&path).unwrap();
    systemd
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let next = || {
        let mut buf = [0u8; 512];
        let n = systemd.recv(&mut buf).expect("a notification");
        String::from_utf8(buf[..n].to_vec()).unwrap()
    };
    let socket = path.display().to_string();
    let mut server = start_with(&cluster, |_| String::new(), &[("NOTIFY_SOCKET", &socket)]);
    let ready = next();
    let lines: Vec<&str> = ready.lines().collect();
    assert_eq!(lines[0], "READY=1", "{ready}");
    assert!(
        lines.contains(&format!("MAINPID={}", server.child.id()).as_str()),
        "{ready}"
    );
    assert!(
        ready.contains(&format!("127.0.0.1:{}", server.port)),
        "{ready}"
    );
    // READY=1 means clients are served.
    assert_eq!(psql(&cluster, server.port, "SELECT 1").unwrap(), "1");

    signal(&server.child, libc::SIGHUP);
    assert!(next().starts_with("RELOADING=1\n"));
    assert!(next().starts_with("READY=1\n"));

    signal(&server.child, libc::SIGTERM);
    assert!(next().starts_with("STOPPING=1"));
    let status = wait_exit(&mut server.child, Duration::from_secs(20)).expect("exits");
    assert!(status.success(), "{status:?}");
}
