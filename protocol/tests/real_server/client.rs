//! A tiny blocking PostgreSQL client over `TcpStream`, built only from the crate's framing,
//! views, writers and authentication state machines.

use std::fmt::Write as _;
use std::io::{ErrorKind, Read, Write};
use std::net::{Ipv4Addr, TcpStream};
use std::time::Duration;

use bytes::BytesMut;
use corepool_protocol::auth::{select_mechanism, ClientKey, Md5Hash, ScramSha256};
use corepool_protocol::framing::{split_frame, Frame, Limits};
use corepool_protocol::message::backend::{
    Authentication, BackendKeyData, BackendMessage, ErrorResponse,
};
use corepool_protocol::message::frontend::ProtocolVersion;
use corepool_protocol::message::tags::{
    ERROR_RESPONSE_TAG, NEGOTIATE_PROTOCOL_VERSION_TAG, READY_FOR_QUERY_TAG,
};
use corepool_protocol::message::write::frontend;
use corepool_protocol::message::TransactionStatus;

/// Any failure in a test: a crate error, an I/O error, an unexpected message.
pub type TestError = Box<dyn std::error::Error + Send + Sync>;

/// What every test and helper returns.
pub type TestResult<T = ()> = Result<T, TestError>;

/// How long a read may block before the test fails instead of hanging.
const READ_TIMEOUT: Duration = Duration::from_secs(20);

/// The largest read in [`Reads::Large`].
const LARGE_READ: usize = 64 * 1024;

/// The database every connection uses.
pub const DATABASE: &str = "postgres";

/// The `application_name` every connection sends in its StartupMessage.
pub const APPLICATION_NAME: &str = "corepool-protocol-it";

/// How the client reads from its socket.
#[derive(Debug, Clone, Copy)]
pub enum Reads {
    /// Up to 64 KiB per read: many messages arrive at once.
    Large,
    /// 1 to 7 bytes per read, the sizes drawn from a xorshift generator seeded with the value:
    /// every header and body is split at many different places.
    Tiny(u32),
}

/// What the client proves its identity with.
pub enum Credential<'a> {
    /// The password: md5 or SCRAM, whichever the server asks for.
    Password(&'a str),
    /// A stored md5 hash (`md5` + hex), as a proxy's `pool_passwd` holds it.
    Md5Hash(&'a Md5Hash),
    /// SCRAM keys learned from another exchange, as a proxy passing a login through holds them.
    ScramKeys(ClientKey, [u8; 32]),
}

/// A BackendKeyData, owned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Key {
    /// The backend's process id.
    process_id: i32,
    /// Its secret key: 4 bytes at protocol 3.0, 32 from PostgreSQL 18 at 3.2.
    secret_key: Vec<u8>,
}

impl Key {
    fn from_message(key: &BackendKeyData<'_>) -> Key {
        Key {
            process_id: key.process_id(),
            secret_key: key.secret_key().to_vec(),
        }
    }

    /// The backend's process id.
    pub fn process_id(&self) -> i32 {
        self.process_id
    }

    /// The secret key a CancelRequest quotes.
    pub fn secret_key(&self) -> &[u8] {
        &self.secret_key
    }
}

/// One connection after a successful login.
pub struct Conn {
    /// The socket.
    stream: TcpStream,
    /// Bytes read but not yet cut into frames.
    buf: BytesMut,
    /// Messages written but not yet sent; see [`Conn::out`] and [`Conn::flush`].
    out: BytesMut,
    /// How reads are sized.
    reads: Reads,
    /// The xorshift state for [`Reads::Tiny`].
    rng: u32,
    /// Every byte received from the server, in order, for the `scan_run` checks.
    transcript: Vec<u8>,
    /// The Authentication request codes the server sent, in order (0 is AuthenticationOk).
    pub auth_requests: Vec<i32>,
    /// The ParameterStatus messages of the startup phase, in order.
    pub parameters: Vec<(String, String)>,
    /// The BackendKeyData of the startup phase.
    pub backend_key: Option<Key>,
    /// A NegotiateProtocolVersion of the startup phase: the newest protocol version as sent
    /// (PostgreSQL sends the whole code, `3 << 16` for 3.0) and the options it did not know.
    pub negotiated: Option<(i32, Vec<String>)>,
}

impl Conn {
    /// Connects to 127.0.0.1:`port` as `user` and logs in. `Ok(Err(frame))` is the server's
    /// ErrorResponse refusing the login.
    pub fn login(
        port: u16,
        user: &str,
        credential: Credential<'_>,
        reads: Reads,
    ) -> TestResult<Result<Conn, Frame>> {
        Self::login_with(port, user, &[], credential, reads)
    }

    /// [`Conn::login`] with `extra` StartupMessage parameters after `user`, `database` and
    /// `application_name`.
    pub fn login_with(
        port: u16,
        user: &str,
        extra: &[(&str, &str)],
        credential: Credential<'_>,
        reads: Reads,
    ) -> TestResult<Result<Conn, Frame>> {
        Self::login_at(ProtocolVersion::V3_0, port, user, extra, credential, reads)
    }

    /// [`Conn::login_with`] asking for protocol `version` in the StartupMessage.
    pub fn login_at(
        version: ProtocolVersion,
        port: u16,
        user: &str,
        extra: &[(&str, &str)],
        credential: Credential<'_>,
        reads: Reads,
    ) -> TestResult<Result<Conn, Frame>> {
        let stream = TcpStream::connect((Ipv4Addr::LOCALHOST, port))?;
        stream.set_read_timeout(Some(READ_TIMEOUT))?;
        stream.set_nodelay(true)?;
        let rng = match reads {
            Reads::Large => 0,
            Reads::Tiny(seed) => seed | 1,
        };
        let mut conn = Conn {
            stream,
            buf: BytesMut::with_capacity(LARGE_READ),
            out: BytesMut::new(),
            reads,
            rng,
            transcript: Vec::new(),
            auth_requests: Vec::new(),
            parameters: Vec::new(),
            backend_key: None,
            negotiated: None,
        };
        let parameters = [
            ("user", user),
            ("database", DATABASE),
            ("application_name", APPLICATION_NAME),
        ];
        let parameters = parameters.into_iter().chain(extra.iter().copied());
        frontend::startup_message_for(version, parameters, &mut conn.out)?;
        conn.flush()?;
        if let Some(error) = conn.authenticate(user, credential)? {
            return Ok(Err(error));
        }
        if let Some(error) = conn.read_startup_info()? {
            return Ok(Err(error));
        }
        Ok(Ok(conn))
    }

    /// [`Conn::login`] as the superuser `postgres`, failing the test if the server refuses.
    pub fn connect(port: u16, credential: Credential<'_>, reads: Reads) -> TestResult<Conn> {
        Self::connect_as(port, "postgres", credential, reads)
    }

    /// [`Conn::login`] as `user`, failing the test if the server refuses.
    pub fn connect_as(
        port: u16,
        user: &str,
        credential: Credential<'_>,
        reads: Reads,
    ) -> TestResult<Conn> {
        match Self::login(port, user, credential, reads)? {
            Ok(conn) => Ok(conn),
            Err(error) => Err(format!("login as {user} refused: {}", describe(&error)).into()),
        }
    }

    /// Runs the authentication exchange up to AuthenticationOk; `Some` is an ErrorResponse.
    fn authenticate(
        &mut self,
        user: &str,
        credential: Credential<'_>,
    ) -> TestResult<Option<Frame>> {
        let mut credential = Some(credential);
        let mut scram: Option<ScramSha256> = None;
        loop {
            let frame = self.read_frame()?;
            if frame.tag() == ERROR_RESPONSE_TAG {
                return Ok(Some(frame));
            }
            if frame.tag() == NEGOTIATE_PROTOCOL_VERSION_TAG {
                let negotiate = expect!(frame, BackendMessage::NegotiateProtocolVersion(n) => n);
                let options = negotiate.unrecognized_options().map(str::to_owned);
                self.negotiated = Some((negotiate.newest_minor(), options.collect()));
                continue;
            }
            let auth = expect!(frame, BackendMessage::Authentication(auth) => auth);
            self.auth_requests.push(auth.code());
            match auth {
                Authentication::Ok => return Ok(None),
                Authentication::Md5Password { salt } => {
                    let response = match credential.take() {
                        Some(Credential::Password(password)) => {
                            Md5Hash::from_password(user.as_bytes(), password.as_bytes())
                                .client_response(salt)
                        }
                        Some(Credential::Md5Hash(hash)) => hash.client_response(salt),
                        _ => return Err("md5 requested without a password or md5 hash".into()),
                    };
                    frontend::password_message(response.as_bytes(), &mut self.out)?;
                }
                Authentication::Sasl(mechanisms) => {
                    let mechanism = select_mechanism(mechanisms)?;
                    let client = match credential.take() {
                        Some(Credential::Password(password)) => {
                            ScramSha256::new(password.as_bytes())
                        }
                        Some(Credential::ScramKeys(client_key, server_key)) => {
                            ScramSha256::from_client_key(client_key, server_key)
                        }
                        _ => return Err("SASL requested without a password or SCRAM keys".into()),
                    };
                    frontend::sasl_initial_response(mechanism, client.message(), &mut self.out)?;
                    scram = Some(client);
                }
                Authentication::SaslContinue { data } => {
                    let client = scram.as_mut().ok_or("SASLContinue before SASL")?;
                    client.update(data)?;
                    frontend::sasl_response(client.message(), &mut self.out)?;
                }
                Authentication::SaslFinal { data } => {
                    scram
                        .as_mut()
                        .ok_or("SASLFinal before SASL")?
                        .finish(data)?;
                }
                other => return Err(format!("unsupported authentication {other:?}").into()),
            }
            self.flush()?;
        }
    }

    /// Reads ParameterStatus and BackendKeyData up to the first ReadyForQuery; `Some` is an
    /// ErrorResponse.
    fn read_startup_info(&mut self) -> TestResult<Option<Frame>> {
        loop {
            let frame = self.read_frame()?;
            match parse(&frame)? {
                BackendMessage::ParameterStatus(status) => self
                    .parameters
                    .push((status.name().to_owned(), status.value().to_owned())),
                BackendMessage::BackendKeyData(key) => {
                    self.backend_key = Some(Key::from_message(&key))
                }
                BackendMessage::NoticeResponse(_) => {}
                BackendMessage::ReadyForQuery(ready) => {
                    assert_eq!(
                        ready.status(),
                        TransactionStatus::Idle,
                        "status after login"
                    );
                    return Ok(None);
                }
                BackendMessage::ErrorResponse(_) => return Ok(Some(frame)),
                other => return Err(unexpected("startup information", &other)),
            }
        }
    }

    /// The value of a ParameterStatus from the startup phase.
    pub fn parameter(&self, name: &str) -> Option<&str> {
        self.parameters
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The backend's process id, from BackendKeyData.
    pub fn process_id(&self) -> TestResult<i32> {
        let key = self.backend_key.as_ref().ok_or("no BackendKeyData")?;
        Ok(key.process_id())
    }

    /// The buffer to write messages into; [`Conn::flush`] sends them.
    pub fn out(&mut self) -> &mut BytesMut {
        &mut self.out
    }

    /// Sends everything written to [`Conn::out`].
    pub fn flush(&mut self) -> TestResult {
        self.stream.write_all(&self.out)?;
        self.out.clear();
        Ok(())
    }

    /// Every byte received so far.
    pub fn transcript(&self) -> &[u8] {
        &self.transcript
    }

    /// Reads the next message, checking that its view parses.
    pub fn read_frame(&mut self) -> TestResult<Frame> {
        let frame = self.read_raw_frame()?;
        if let Err(e) = BackendMessage::parse(frame.tag(), frame.body()) {
            return Err(format!("{:?} from the server: {e}", frame.as_bytes()).into());
        }
        Ok(frame)
    }

    /// Reads the next message without looking inside, as a proxy forwarding it would.
    pub fn read_raw_frame(&mut self) -> TestResult<Frame> {
        loop {
            if let Some(frame) = split_frame(&mut self.buf, &Limits::default())? {
                return Ok(frame);
            }
            self.fill()?;
        }
    }

    /// Reads once from the socket into the buffer, as many bytes as [`Reads`] allows.
    fn fill(&mut self) -> TestResult {
        let want = match self.reads {
            Reads::Large => LARGE_READ,
            Reads::Tiny(_) => {
                // xorshift32: any nonzero state cycles through all nonzero values.
                self.rng ^= self.rng << 13;
                self.rng ^= self.rng >> 17;
                self.rng ^= self.rng << 5;
                1 + (self.rng % 7) as usize
            }
        };
        let mut chunk = [0u8; LARGE_READ];
        let n = match self.stream.read(&mut chunk[..want]) {
            Ok(n) => n,
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                return Err(format!("no message from the server within {READ_TIMEOUT:?}").into())
            }
            Err(e) => return Err(e.into()),
        };
        if n == 0 {
            return Err("the server closed the connection".into());
        }
        self.buf.extend_from_slice(&chunk[..n]);
        self.transcript.extend_from_slice(&chunk[..n]);
        Ok(())
    }

    /// Reads messages up to and including the next ReadyForQuery.
    pub fn read_until_ready(&mut self) -> TestResult<Vec<Frame>> {
        let mut frames = Vec::new();
        loop {
            let frame = self.read_frame()?;
            let ready = frame.tag() == READY_FOR_QUERY_TAG;
            frames.push(frame);
            if ready {
                return Ok(frames);
            }
        }
    }

    /// Sends a simple Query and reads its messages up to and including ReadyForQuery.
    pub fn simple_query(&mut self, sql: &str) -> TestResult<Vec<Frame>> {
        frontend::query(sql, &mut self.out)?;
        self.flush()?;
        self.read_until_ready()
    }

    /// Runs a simple query that must succeed and returns its rows as text (`None` for NULL).
    pub fn rows(&mut self, sql: &str) -> TestResult<Vec<Vec<Option<String>>>> {
        let mut rows = Vec::new();
        for frame in self.simple_query(sql)? {
            match parse(&frame)? {
                BackendMessage::DataRow(row) => rows.push(
                    row.values()
                        .map(|v| v.map(|v| std::str::from_utf8(v).map(str::to_owned)))
                        .map(Option::transpose)
                        .collect::<Result<_, _>>()?,
                ),
                BackendMessage::ErrorResponse(_) => {
                    return Err(format!("{sql}: {}", describe(&frame)).into())
                }
                _ => {}
            }
        }
        Ok(rows)
    }

    /// Runs a simple query that must return exactly one non-NULL value.
    pub fn value(&mut self, sql: &str) -> TestResult<String> {
        let rows = self.rows(sql)?;
        match <[Vec<Option<String>>; 1]>::try_from(rows) {
            Ok([row]) => match <[Option<String>; 1]>::try_from(row) {
                Ok([Some(value)]) => Ok(value),
                Ok([None]) => Err(format!("{sql}: NULL").into()),
                Err(row) => Err(format!("{sql}: {} columns", row.len()).into()),
            },
            Err(rows) => Err(format!("{sql}: {} rows", rows.len()).into()),
        }
    }
}

impl Drop for Conn {
    fn drop(&mut self) {
        self.out.clear();
        frontend::terminate(&mut self.out);
        // The server may already be gone; nothing to do about it.
        let _ = self.stream.write_all(&self.out);
    }
}

/// Parses a frame's body as a backend message.
pub fn parse(frame: &Frame) -> TestResult<BackendMessage<'_>> {
    Ok(BackendMessage::parse(frame.tag(), frame.body())?)
}

/// The error for a message that is not the one a test expected.
pub fn unexpected(wanted: &str, got: &BackendMessage<'_>) -> TestError {
    match got {
        BackendMessage::ErrorResponse(error) => {
            format!("expected {wanted}, got {}", describe_error(error)).into()
        }
        other => format!("expected {wanted}, got {other:?}").into(),
    }
}

/// A frame for a failure message; ErrorResponses show their fields.
pub fn describe(frame: &Frame) -> String {
    match BackendMessage::parse(frame.tag(), frame.body()) {
        Ok(BackendMessage::ErrorResponse(error)) => describe_error(&error),
        Ok(other) => format!("{other:?}"),
        Err(e) => format!("unparsable {:?}: {e}", frame.as_bytes()),
    }
}

/// An ErrorResponse's fields as `S=ERROR C=22012 M=...`.
fn describe_error(error: &ErrorResponse<'_>) -> String {
    let mut out = String::from("ErrorResponse");
    for field in error.fields() {
        let _ = write!(out, " {}={}", char::from(field.field_type), field.value);
    }
    out
}

/// The transaction status of the ReadyForQuery that ends `frames`.
pub fn final_status(frames: &[Frame]) -> TestResult<TransactionStatus> {
    let last = frames.last().ok_or("no messages")?;
    Ok(expect!(last, BackendMessage::ReadyForQuery(ready) => ready.status()))
}

/// The parsed messages of `frames`.
pub fn messages(frames: &[Frame]) -> TestResult<Vec<BackendMessage<'_>>> {
    frames.iter().map(parse).collect()
}

/// An `ErrorResponse` among `frames`, the first one.
pub fn first_error(frames: &[Frame]) -> TestResult<ErrorResponse<'_>> {
    for message in messages(frames)? {
        if let BackendMessage::ErrorResponse(error) = message {
            return Ok(error);
        }
    }
    Err("no ErrorResponse".into())
}
