//! The other direction: the crate as the server, libpq (`psql`) as the client. The startup
//! packets go through `split_startup`, the `'p'` messages through the frontend views, the
//! exchanges through `ScramServer` and `Md5Hash::verify_response`, and libpq reads what the
//! backend writers wrote.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::process::Output;
use std::thread;
use std::time::Duration;

use bytes::BytesMut;
use corepool_protocol::auth::{
    AuthError, Md5Hash, ScramServer, ScramVerifier, MECHANISMS, SCRAM_SHA_256,
};
use corepool_protocol::framing::{split_frame, split_startup, Frame, Limits, StartupFrame};
use corepool_protocol::message::backend::FieldDescription;
use corepool_protocol::message::frontend::{
    PasswordMessage, Query, SaslInitialResponse, SaslResponse, StartupMessage,
};
use corepool_protocol::message::tags::{
    PASSWORD_MESSAGE_TAG, PROTOCOL_VERSION_3_0, QUERY_TAG, TERMINATE_TAG,
};
use corepool_protocol::message::write::backend::{self, ErrorData, Severity};
use corepool_protocol::message::{Format, TransactionStatus};
use corepool_protocol::sqlstate;
use corepool_testkit::PgInstall;

use crate::client::TestResult;

/// What the fake server checks passwords against.
enum Secret {
    /// A SCRAM-SHA-256 verifier: the server runs the SASL exchange.
    Scram(ScramVerifier),
    /// An md5 hash: the server sends AuthenticationMD5Password.
    Md5(Md5Hash),
}

/// What the fake server saw.
#[derive(Debug, Default)]
struct Seen {
    /// The StartupMessage's parameters.
    parameters: Vec<(String, String)>,
    /// How many SSLRequest and GSSENCRequest packets came before it.
    requests: usize,
    /// The query, if the login succeeded.
    query: Option<String>,
    /// Whether the client said Terminate.
    terminated: bool,
}

/// The one row the fake server answers every query with.
const ANSWER: &str = "hello from corepool";

/// A socket with its read buffer.
struct Peer {
    /// The client's connection.
    stream: TcpStream,
    /// Bytes read and not yet framed.
    buf: BytesMut,
    /// Messages to send.
    out: BytesMut,
}

impl Peer {
    /// Reads more bytes; the client hanging up is an error.
    fn fill(&mut self) -> TestResult {
        let mut chunk = [0u8; 4096];
        let n = self.stream.read(&mut chunk)?;
        if n == 0 {
            return Err("the client hung up".into());
        }
        self.buf.extend_from_slice(&chunk[..n]);
        Ok(())
    }

    /// Reads the next tagged message, which must have tag `tag`.
    fn read_frame(&mut self, tag: u8) -> TestResult<Frame> {
        loop {
            if let Some(frame) = split_frame(&mut self.buf, &Limits::default())? {
                if frame.tag() != tag {
                    let (want, got) = (char::from(tag), char::from(frame.tag()));
                    return Err(format!("expected '{want}', got '{got}'").into());
                }
                return Ok(frame);
            }
            self.fill()?;
        }
    }

    /// Sends everything in `out`.
    fn flush(&mut self) -> TestResult {
        self.stream.write_all(&self.out)?;
        self.out.clear();
        Ok(())
    }
}

/// Serves one libpq connection: startup, authentication against `secret`, one query.
fn serve(listener: &TcpListener, secret: &Secret) -> TestResult<Seen> {
    let (stream, _) = listener.accept()?;
    stream.set_read_timeout(Some(Duration::from_secs(20)))?;
    let mut peer = Peer {
        stream,
        buf: BytesMut::new(),
        out: BytesMut::new(),
    };
    let mut seen = Seen::default();
    let packet = loop {
        match split_startup(&mut peer.buf)? {
            Some(StartupFrame::SslRequest | StartupFrame::GssEncRequest) => {
                peer.stream.write_all(b"N")?;
                seen.requests += 1;
            }
            Some(StartupFrame::Startup(packet)) => break packet,
            Some(other) => return Err(format!("unexpected {other:?}").into()),
            None => peer.fill()?,
        }
    };
    let startup = StartupMessage::parse(&packet)?;
    assert_eq!(startup.version().code(), PROTOCOL_VERSION_3_0);
    let parameters = startup
        .parameters()
        .map(|(n, v)| (n.to_owned(), v.to_owned()));
    seen.parameters = parameters.collect();
    let user = startup.user().ok_or("no user")?;

    if !authenticate(&mut peer, secret)? {
        let message = format!("password authentication failed for user \"{user}\"");
        let code = sqlstate::INVALID_PASSWORD.code();
        backend::error_response(
            &ErrorData::new(Severity::Fatal, code, &message),
            &mut peer.out,
        )?;
        peer.flush()?;
        return Ok(seen);
    }
    backend::authentication_ok(&mut peer.out);
    let encoding = startup.get("client_encoding").unwrap_or("UTF8");
    let statuses = [
        ("server_version", "15.0"),
        ("server_encoding", "UTF8"),
        ("client_encoding", encoding),
        ("DateStyle", "ISO, MDY"),
        ("integer_datetimes", "on"),
        ("standard_conforming_strings", "on"),
    ];
    for (name, value) in statuses {
        backend::parameter_status(name, value, &mut peer.out)?;
    }
    backend::backend_key_data(4242, &0x5eed_i32.to_be_bytes(), &mut peer.out)?;
    backend::ready_for_query(TransactionStatus::Idle, &mut peer.out);
    peer.flush()?;

    let frame = peer.read_frame(QUERY_TAG)?;
    seen.query = Some(Query::parse(frame.body())?.query().to_owned());
    let field = FieldDescription {
        name: "answer",
        table_oid: 0,
        column_id: 0,
        type_oid: 25,
        type_size: -1,
        type_modifier: -1,
        format: Format::Text,
    };
    backend::row_description([field], &mut peer.out)?;
    backend::data_row([Some(ANSWER.as_bytes())], &mut peer.out)?;
    backend::command_complete("SELECT 1", &mut peer.out)?;
    backend::ready_for_query(TransactionStatus::Idle, &mut peer.out);
    peer.flush()?;
    peer.read_frame(TERMINATE_TAG)?;
    seen.terminated = true;
    Ok(seen)
}

/// Runs the server side of the exchange; `false` is a wrong password.
fn authenticate(peer: &mut Peer, secret: &Secret) -> TestResult<bool> {
    match secret {
        Secret::Md5(hash) => {
            let salt = rand::random::<[u8; 4]>();
            backend::authentication_md5_password(salt, &mut peer.out);
            peer.flush()?;
            let frame = peer.read_frame(PASSWORD_MESSAGE_TAG)?;
            let password = PasswordMessage::parse(frame.body())?;
            match hash.verify_response(salt, password.password()) {
                Ok(()) => Ok(true),
                Err(AuthError::PasswordMismatch) => Ok(false),
                Err(e) => Err(e.into()),
            }
        }
        Secret::Scram(verifier) => {
            backend::authentication_sasl(MECHANISMS.iter().copied(), &mut peer.out)?;
            peer.flush()?;
            let frame = peer.read_frame(PASSWORD_MESSAGE_TAG)?;
            let initial = SaslInitialResponse::parse(frame.body())?;
            assert_eq!(initial.mechanism(), SCRAM_SHA_256);
            let mut server = ScramServer::new(verifier.clone(), &mut rand::thread_rng());
            server.update(initial.data().ok_or("no client-first-message")?)?;
            backend::authentication_sasl_continue(server.message(), &mut peer.out)?;
            peer.flush()?;
            let frame = peer.read_frame(PASSWORD_MESSAGE_TAG)?;
            match server.finish(SaslResponse::parse(frame.body())?.data()) {
                Ok(()) => {}
                Err(AuthError::PasswordMismatch) => return Ok(false),
                Err(e) => return Err(e.into()),
            }
            backend::authentication_sasl_final(server.message(), &mut peer.out)?;
            Ok(true)
        }
    }
}

/// Runs `psql -c` as `alice` with `password` against a fake server holding `secret`.
fn psql_against(secret: Secret, password: &str) -> TestResult<(Output, Seen)> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
    let port = listener.local_addr()?.port().to_string();
    let server = thread::spawn(move || serve(&listener, &secret).map_err(|e| e.to_string()));
    let output = PgInstall::get()?
        .command("psql")
        .args(["-X", "-A", "-t", "-w", "-h", "127.0.0.1", "-p", &port])
        .args(["-U", "alice", "-d", "appdb", "-c", "SELECT 'anything'"])
        .env("PGPASSWORD", password)
        .env("PGCONNECT_TIMEOUT", "10")
        .output()?;
    let seen = server.join().map_err(|_| "the fake server panicked")??;
    Ok((output, seen))
}

/// psql's stdout or stderr as text.
fn text(bytes: &[u8]) -> TestResult<&str> {
    Ok(std::str::from_utf8(bytes)?.trim())
}

#[test]
fn libpq_logs_into_the_crate_as_server() -> TestResult {
    // A password SASLprep maps (U+00A0 to a space): libpq and the crate must agree.
    let password = "libpq\u{a0}pässword";
    let verifier = ScramVerifier::generate(password.as_bytes());
    let (output, seen) = psql_against(Secret::Scram(verifier.clone()), password)?;
    assert!(output.status.success(), "psql: {}", text(&output.stderr)?);
    assert_eq!(text(&output.stdout)?, ANSWER, "psql printed the DataRow");
    assert_eq!(seen.query.as_deref(), Some("SELECT 'anything'"));
    assert!(seen.terminated, "psql said Terminate");
    assert!(
        seen.requests >= 1,
        "libpq's default sslmode=prefer sends SSLRequest"
    );
    let get = |name: &str| {
        let found = seen.parameters.iter().find(|(n, _)| n == name);
        found.map(|(_, v)| v.as_str())
    };
    assert_eq!(
        (get("user"), get("database")),
        (Some("alice"), Some("appdb"))
    );
    assert_eq!(get("application_name"), Some("psql"));

    let (output, seen) = psql_against(Secret::Scram(verifier), "wrong")?;
    assert!(!output.status.success(), "a wrong password must fail");
    let stderr = text(&output.stderr)?;
    let message = "password authentication failed for user \"alice\"";
    assert!(stderr.contains(message), "psql: {stderr}");
    assert_eq!(seen.query, None);

    let hash = Md5Hash::from_password(b"alice", b"md5 secret");
    let (output, _) = psql_against(Secret::Md5(hash.clone()), "md5 secret")?;
    assert!(output.status.success(), "psql: {}", text(&output.stderr)?);
    assert_eq!(text(&output.stdout)?, ANSWER);
    let (output, _) = psql_against(Secret::Md5(hash), "wrong")?;
    assert!(text(&output.stderr)?.contains(message), "md5 refusal");
    Ok(())
}
