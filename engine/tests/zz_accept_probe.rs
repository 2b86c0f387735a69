//! Temporary experiment (health engineer): do connections get lost in accept?
mod common;
use std::io::{Read, Write};
use std::time::{Duration, Instant};
use common::Proxy;

#[test]
fn accept_probe() {
    let p = Proxy::start(0, |c, _| c.corepool_cores = 1);
    let mut out = bytes::BytesMut::new();
    corepool_protocol::message::write::frontend::startup_message(vec![("user", "postgres"), ("database", "postgres")], &mut out).unwrap();
    let mut hung = 0;
    let mut closed = 0;
    let start = Instant::now();
    let mut n = 0;
    while start.elapsed() < Duration::from_secs(15) {
        n += 1;
        let mut s = std::net::TcpStream::connect(("127.0.0.1", p.port)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
        s.write_all(&out).unwrap();
        let mut b = [0u8; 1];
        match s.read(&mut b) {
            Ok(0) => closed += 1,
            Ok(_) => {}
            Err(_) => hung += 1,
        }
    }
    eprintln!("connections {n}, hung {hung}, closed {closed}");
    assert_eq!(hung + closed, 0);
}
