//! The startup phase's other packets: SSLRequest, GSSENCRequest, CancelRequest, and
//! NegotiateProtocolVersion for an unknown protocol option; protocol 3.2's long secret keys.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, TcpStream};
use std::thread;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use corepool_protocol::framing::{split_frame, Limits};
use corepool_protocol::message::backend::{Authentication, BackendMessage};
use corepool_protocol::message::frontend::ProtocolVersion;
use corepool_protocol::message::tags::{PROTOCOL_VERSION_3_0, PROTOCOL_VERSION_3_2};
use corepool_protocol::message::write::frontend;
use corepool_protocol::message::TransactionStatus;
use corepool_protocol::sqlstate;
use corepool_testkit::Cluster;

use crate::client::{final_status, first_error, Conn, Credential, Reads, TestResult};

/// Connects to 127.0.0.1:`port`, sends what `write` writes and reads the one-byte answer.
fn one_byte_answer(port: u16, write: fn(&mut BytesMut)) -> TestResult<(TcpStream, u8)> {
    let mut stream = TcpStream::connect((Ipv4Addr::LOCALHOST, port))?;
    stream.set_read_timeout(Some(Duration::from_secs(20)))?;
    let mut buf = BytesMut::new();
    write(&mut buf);
    stream.write_all(&buf)?;
    let mut answer = [0u8];
    stream.read_exact(&mut answer)?;
    Ok((stream, answer[0]))
}

/// Waits until the backend `pid` is running a query, as seen from `observer`.
fn wait_active(observer: &mut Conn, pid: i32) -> TestResult {
    let sql = format!("SELECT state FROM pg_stat_activity WHERE pid = {pid}");
    let deadline = Instant::now() + Duration::from_secs(20);
    while observer.value(&sql)? != "active" {
        if Instant::now() > deadline {
            return Err(format!("backend {pid} never became active").into());
        }
        thread::sleep(Duration::from_millis(10));
    }
    Ok(())
}

#[test]
fn ssl_gssenc_cancel_requests_and_protocol_negotiation() -> TestResult {
    let cluster = Cluster::builder().start()?;
    let port = cluster.primary().port();

    // The testkit's servers have no TLS: 'N', then the startup goes on in the clear.
    let (mut stream, answer) = one_byte_answer(port, frontend::ssl_request)?;
    assert_eq!(answer, b'N', "SSLRequest declined");
    let mut buf = BytesMut::new();
    frontend::startup_message([("user", "postgres")], &mut buf)?;
    stream.write_all(&buf)?;
    buf.clear();
    let frame = loop {
        if let Some(frame) = split_frame(&mut buf, &Limits::default())? {
            break frame;
        }
        let mut chunk = [0u8; 512];
        let n = stream.read(&mut chunk)?;
        if n == 0 {
            return Err("closed after SSLRequest".into());
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    expect!(frame, BackendMessage::Authentication(Authentication::Ok));

    // 'G' where PostgreSQL was built with GSSAPI, 'N' otherwise; either is a valid answer.
    let (_, answer) = one_byte_answer(port, frontend::gssenc_request)?;
    assert!(
        matches!(answer, b'G' | b'N'),
        "GSSENCRequest answer {answer}"
    );

    // A `_pq_.` option the server does not know comes back in NegotiateProtocolVersion.
    let extra = [("_pq_.corepool_option", "on")];
    let login = Conn::login_with(
        port,
        "postgres",
        &extra,
        Credential::Password(""),
        Reads::Large,
    )?;
    let conn = login.map_err(|e| crate::client::describe(&e))?;
    // PostgreSQL sends its newest version as a whole protocol code, (3 << 16) | 0, not as a
    // bare minor number as the view's `newest_minor` name and docs say.
    let expected = (
        PROTOCOL_VERSION_3_0,
        vec!["_pq_.corepool_option".to_owned()],
    );
    assert_eq!(
        conn.negotiated,
        Some(expected),
        "protocol 3.0, option unknown"
    );

    // CancelRequest with the BackendKeyData stops a running query.
    let sleeper = Conn::connect(port, Credential::Password(""), Reads::Tiny(57))?;
    cancel_sleep(port, sleeper)
}

/// Starts `pg_sleep(60)` on `sleeper`, cancels it with a CancelRequest quoting its whole
/// BackendKeyData secret, and checks the query ends with 57014 and the session stays usable.
fn cancel_sleep(port: u16, mut sleeper: Conn) -> TestResult {
    let mut observer = Conn::connect(port, Credential::Password(""), Reads::Large)?;
    frontend::query("SELECT pg_sleep(60)", sleeper.out())?;
    sleeper.flush()?;
    let key = sleeper.backend_key.clone().ok_or("no BackendKeyData")?;
    wait_active(&mut observer, key.process_id())?;
    let mut cancel = TcpStream::connect((Ipv4Addr::LOCALHOST, port))?;
    let mut buf = BytesMut::new();
    frontend::cancel_request(key.process_id(), key.secret_key(), &mut buf)?;
    assert_eq!(buf.len(), 12 + key.secret_key().len());
    cancel.write_all(&buf)?;
    let frames = sleeper.read_until_ready()?;
    let error = first_error(&frames)?;
    assert_eq!(error.code(), Some(sqlstate::QUERY_CANCELED.code()));
    assert_eq!(
        error.message(),
        Some("canceling statement due to user request")
    );
    assert_eq!(final_status(&frames)?, TransactionStatus::Idle);
    Ok(())
}

/// Protocol 3.2: PostgreSQL 18 keys a 3.2 session with 32 bytes and cancels on a 44-byte
/// CancelRequest; a 3.9 request gets NegotiateProtocolVersion with 3.2. Before 18 a server
/// answers a 3.2 request with NegotiateProtocolVersion 3.0 and a 4-byte key.
#[test]
fn protocol_3_2_keys_and_negotiation() -> TestResult {
    let cluster = Cluster::builder().start()?;
    let port = cluster.primary().port();
    let v3_2 = ProtocolVersion::V3_2;
    let login = |version, extra: &[(&str, &str)]| -> TestResult<Conn> {
        Conn::login_at(
            version,
            port,
            "postgres",
            extra,
            Credential::Password(""),
            Reads::Tiny(31),
        )?
        .map_err(|e| crate::client::describe(&e).into())
    };
    let sleeper = login(v3_2, &[])?;
    let key = sleeper.backend_key.clone().ok_or("no BackendKeyData")?;
    let newer = login(
        ProtocolVersion { major: 3, minor: 9 },
        &[("_pq_.corepool_option", "on")],
    )?;
    let option = vec!["_pq_.corepool_option".to_owned()];
    if cluster.major() >= 18 {
        assert_eq!(sleeper.negotiated, None, "3.2 accepted as asked");
        assert_eq!(key.secret_key().len(), 32);
        assert_eq!(newer.negotiated, Some((PROTOCOL_VERSION_3_2, option)));
    } else {
        assert_eq!(sleeper.negotiated, Some((PROTOCOL_VERSION_3_0, vec![])));
        assert_eq!(key.secret_key().len(), 4);
        assert_eq!(newer.negotiated, Some((PROTOCOL_VERSION_3_0, option)));
    }
    cancel_sleep(port, sleeper)
}
