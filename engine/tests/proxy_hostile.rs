//! Hostile and broken input: garbage, oversized and malformed messages, stalled clients, dead
//! backends, too many clients, a port already taken. Each gets a clear error; nothing crashes;
//! other clients keep working.

mod common;

use std::io::{Read, Write};
use std::time::{Duration, Instant};

use common::{error_code, first_value, Proxy, RawClient};

fn assert_still_serving(proxy: &Proxy) {
    assert_eq!(
        proxy
            .psql("postgres", "postgres", "SELECT 'alive'")
            .unwrap(),
        "alive"
    );
}

/// Reads everything the server sends until it closes the connection.
fn read_to_close(c: &mut RawClient) -> Vec<common::Msg> {
    let mut msgs = Vec::new();
    while let Some(m) = c.read_msg() {
        msgs.push(m);
    }
    msgs
}

#[test]
fn garbage_instead_of_a_startup_packet_is_refused() {
    let proxy = Proxy::start(0, |_, _| {});
    let mut c = RawClient::open(proxy.port);
    c.send(b"GET / HTTP/1.1\r\nHost: example\r\n\r\n");
    let msgs = read_to_close(&mut c);
    assert_eq!(error_code(&msgs).as_deref(), Some("08P01"), "{msgs:?}");
    assert_still_serving(&proxy);
}

#[test]
fn an_oversized_startup_packet_is_refused() {
    let proxy = Proxy::start(0, |_, _| {});
    let mut c = RawClient::open(proxy.port);
    let mut packet = (100_000u32).to_be_bytes().to_vec();
    packet.extend_from_slice(&196_608u32.to_be_bytes());
    c.send(&packet);
    let msgs = read_to_close(&mut c);
    assert_eq!(error_code(&msgs).as_deref(), Some("08P01"));
    assert_still_serving(&proxy);
}

#[test]
fn a_malformed_message_after_startup_ends_only_that_session() {
    let proxy = Proxy::start(0, |_, _| {});
    let (mut c, _) = RawClient::connect(proxy.port, "postgres", "postgres", &[]);
    // A Query whose length field says 2: below the minimum of 4.
    c.send(&[b'Q', 0, 0, 0, 2]);
    let msgs = read_to_close(&mut c);
    assert_eq!(error_code(&msgs).as_deref(), Some("08P01"));
    assert_still_serving(&proxy);
}

#[test]
fn an_oversized_message_is_refused() {
    let proxy = Proxy::start(0, |c, _| c.corepool_max_message_size = 1 << 20);
    let (mut c, _) = RawClient::connect(proxy.port, "postgres", "postgres", &[]);
    let mut msg = vec![b'Q'];
    msg.extend_from_slice(&(64u32 << 20).to_be_bytes());
    msg.extend_from_slice(&[b'x'; 1024]);
    c.send(&msg);
    let msgs = read_to_close(&mut c);
    assert_eq!(error_code(&msgs).as_deref(), Some("08P01"));
    assert_still_serving(&proxy);
}

#[test]
fn a_client_that_stalls_during_authentication_is_cut_off() {
    let proxy = Proxy::start(0, |c, _| c.authentication_timeout = Duration::from_secs(1));
    let mut c = RawClient::open(proxy.port);
    c.send(&[0, 0, 0]); // a third of a length word, then nothing
    let started = Instant::now();
    let msgs = read_to_close(&mut c);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "closed by authentication_timeout"
    );
    assert_eq!(error_code(&msgs).as_deref(), Some("08006"));
    assert_still_serving(&proxy);
}

#[test]
fn ssl_and_gssenc_requests_are_answered_no() {
    let proxy = Proxy::start(0, |_, _| {});
    let mut c = RawClient::open(proxy.port);
    for code in [80_877_104u32, 80_877_103] {
        let mut req = 8u32.to_be_bytes().to_vec();
        req.extend_from_slice(&code.to_be_bytes());
        c.send(&req);
        let mut answer = [0u8; 1];
        c.stream.read_exact(&mut answer).unwrap();
        assert_eq!(&answer, b"N");
    }
    // The connection goes on unencrypted.
    let mut out = bytes::BytesMut::new();
    corepool_protocol::message::write::frontend::startup_message([("user", "postgres")], &mut out)
        .unwrap();
    c.send(&out);
    let msgs = c.read_until_ready();
    assert_eq!(msgs.last().map(|m| m.0), Some(b'Z'));
}

#[test]
fn a_backend_killed_mid_query_gives_a_clear_error_and_is_not_reused() {
    let proxy = Proxy::start(0, |c, _| c.corepool_cores = 1);
    proxy
        .primary()
        .psql("postgres", "CREATE DATABASE app")
        .unwrap();
    let (mut a, _) = RawClient::connect(proxy.port, "postgres", "app", &[]);
    let pid = first_value(&a.query("SELECT pg_backend_pid()")).unwrap();
    let mut q = bytes::BytesMut::new();
    corepool_protocol::message::write::frontend::query("SELECT pg_sleep(30)", &mut q).unwrap();
    a.send(&q);
    std::thread::sleep(Duration::from_millis(300));
    proxy
        .primary()
        .psql("postgres", &format!("SELECT pg_terminate_backend({pid})"))
        .unwrap();
    let msgs = read_to_close(&mut a);
    assert_eq!(
        error_code(&msgs).as_deref(),
        Some("57P01"),
        "PostgreSQL's own FATAL is forwarded"
    );

    let (mut b, _) = RawClient::connect(proxy.port, "postgres", "app", &[]);
    let pid2 = first_value(&b.query("SELECT pg_backend_pid()")).unwrap();
    assert_ne!(pid, pid2);
}

#[test]
fn a_dead_backend_node_gives_a_clear_error() {
    let proxy = Proxy::start(0, |_, _| {});
    proxy.primary().stop().unwrap();
    let out = proxy
        .psql("postgres", "postgres", "SELECT 1")
        .expect_err("no backend");
    assert!(out.contains("could not connect to backend node 0"), "{out}");
}

#[test]
fn too_many_clients_with_reserved_connections_are_refused() {
    let proxy = Proxy::start(0, |c, _| {
        c.num_init_children = 1;
        c.reserved_connections = 1;
    });
    let (mut a, _) = RawClient::connect(proxy.port, "postgres", "postgres", &[]);
    let mut b = RawClient::open(proxy.port);
    let msgs = read_to_close(&mut b);
    assert_eq!(error_code(&msgs).as_deref(), Some("53300"));
    assert_eq!(first_value(&a.query("SELECT 1")).as_deref(), Some("1"));
}

#[test]
fn without_reserved_connections_extra_clients_wait_for_a_slot() {
    let proxy = Proxy::start(0, |c, _| c.num_init_children = 1);
    let (a, _) = RawClient::connect(proxy.port, "postgres", "postgres", &[]);
    let port = proxy.port;
    let waiter = std::thread::spawn(move || {
        let (mut b, _) = RawClient::connect(port, "postgres", "postgres", &[]);
        first_value(&b.query("SELECT 'served'"))
    });
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        !waiter.is_finished(),
        "the second client waits while the only slot is taken"
    );
    a.terminate();
    assert_eq!(waiter.join().unwrap().as_deref(), Some("served"));
}

#[test]
fn a_port_in_use_is_refused_at_start() {
    let cluster = corepool_testkit::Cluster::builder().start().unwrap();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let config = common::base_config(&cluster, port);
    let err = corepool_engine::server::start(config, Default::default())
        .err()
        .expect("start fails");
    assert!(err.to_string().contains("address already in use"), "{err}");
    // The listener we hold still works: corepool did not silently share it.
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    let (mut accepted, _) = taken.accept().unwrap();
    s.write_all(b"x").unwrap();
    let mut b = [0u8; 1];
    accepted.read_exact(&mut b).unwrap();
}

/// Raises this process's open-file limit (the proxy runs in-process and needs one descriptor
/// per client, the test one more).
fn raise_nofile() -> u64 {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit read and write a valid, owned rlimit struct.
    unsafe {
        libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim);
        // Root (as in CI) may raise the hard limit too; others get what the hard limit allows.
        let raised = libc::rlimit {
            rlim_cur: 65_536,
            rlim_max: lim.rlim_max.max(65_536),
        };
        if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
            lim = raised;
        } else {
            lim.rlim_cur = lim.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
        }
    }
    #[allow(clippy::unnecessary_cast)] // rlim_t is not u64 on every target
    let current = lim.rlim_cur as u64;
    current
}

#[test]
fn ten_thousand_clients_are_each_served_or_refused_clearly() {
    let limit = raise_nofile();
    // The refused clients' server sides close at once: 10,000 client sockets plus a few dozen.
    assert!(
        limit > 12_000,
        "RLIMIT_NOFILE hard limit {limit} is too low for this test"
    );
    let proxy = Proxy::start(0, |c, _| {
        c.num_init_children = 20;
        c.reserved_connections = 1;
    });
    let mut out = bytes::BytesMut::new();
    corepool_protocol::message::write::frontend::startup_message(
        [("user", "postgres"), ("database", "postgres")],
        &mut out,
    )
    .unwrap();
    let mut clients = Vec::with_capacity(10_000);
    for _ in 0..10_000 {
        let mut c = RawClient::open(proxy.port);
        c.send(&out);
        clients.push(c);
    }
    let (mut served, mut refused) = (Vec::new(), 0);
    for mut c in clients {
        let first = c.read_msg().expect("every client gets an answer");
        match first.0 {
            b'R' => {
                c.read_until_ready();
                served.push(c);
            }
            b'E' => {
                assert_eq!(error_code(&[first]).as_deref(), Some("53300"));
                refused += 1;
            }
            other => panic!("unexpected message {other}"),
        }
    }
    assert_eq!(served.len(), 20, "num_init_children sessions are served");
    assert_eq!(refused, 10_000 - 20);
    for c in &mut served {
        assert_eq!(
            first_value(&c.query("SELECT 1")).as_deref(),
            Some("1"),
            "served sessions keep working"
        );
    }
    drop(served);
    std::thread::sleep(Duration::from_millis(300));
    assert_still_serving(&proxy);
}

#[test]
fn unix_socket_clients_are_served() {
    let proxy = Proxy::start(0, |c, dir| {
        use std::os::unix::fs::PermissionsExt;
        // psql runs as the PostgreSQL user: it must reach the socket's directory.
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        c.unix_socket_directories = vec![dir.display().to_string()];
    });
    let out = proxy
        .cluster
        .command("psql")
        .args(["-X", "-A", "-t", "-h"])
        .arg(proxy.dir.path())
        .args([
            "-p",
            &proxy.port.to_string(),
            "-U",
            "postgres",
            "-d",
            "postgres",
            "-c",
            "SELECT 'over a socket'",
        ])
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8(out.stdout).unwrap_or_default().trim(),
        "over a socket",
        "{}",
        String::from_utf8(out.stderr).unwrap_or_default()
    );
}
