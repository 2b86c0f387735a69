//! A connection: startup, authentication, and reading and writing whole messages.

use crate::socket::{ReadBuf, Socket};
use crate::transport::Endpoint;
use crate::ClientError;
use bytes::{Bytes, BytesMut};
use corepool_protocol::auth::{md5, select_mechanism, ScramSha256};
use corepool_protocol::framing::{Header, HEADER_LEN};
use corepool_protocol::message::backend::{Authentication, BackendKeyData, ErrorResponse};
use corepool_protocol::message::backend::{NoticeResponse, ParameterStatus};
use corepool_protocol::message::tags::*;
use corepool_protocol::message::write::frontend;
use std::path::PathBuf;
use std::time::Duration;

/// Where the server listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Host {
    /// A TCP host name or address.
    Tcp(String),
    /// A directory holding the UNIX-domain socket `.s.PGSQL.<port>`.
    Unix(PathBuf),
}

impl Host {
    /// libpq's rule: a value starting with `/` is a socket directory, anything else a host.
    pub fn parse(value: &str) -> Host {
        if value.starts_with('/') {
            Host::Unix(PathBuf::from(value))
        } else {
            Host::Tcp(value.to_owned())
        }
    }
}

/// Which kind of walsender to start (the `replication` startup parameter).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Replication {
    /// `replication=true`: a physical walsender, replication commands only.
    Physical,
    /// `replication=database`: replication commands and SQL.
    Database,
}

/// How to connect.
#[derive(Debug, Clone)]
pub struct ConnectOptions {
    /// The server's host or socket directory.
    pub host: Host,
    /// The port (also names the UNIX socket file).
    pub port: u16,
    /// The role to log in as.
    pub user: String,
    /// The database; `None` means the server's default (the user name).
    pub database: Option<String>,
    /// The password, for md5, SCRAM or cleartext authentication.
    pub password: Option<String>,
    /// Without a password: a stored md5 hash (`md5` and 32 hex digits of md5(password ‖ user),
    /// as in `pg_authid` and Pgpool-II's pool_passwd), which answers md5 challenges only.
    pub md5_hash: Option<String>,
    /// Start a walsender instead of a normal backend.
    pub replication: Option<Replication>,
    /// Reported in `pg_stat_activity`.
    pub application_name: Option<String>,
    /// Bound on the TCP/UNIX connect.
    pub connect_timeout: Duration,
    /// With a TLS configuration, a TCP connection asks for SSL first and uses TLS when the
    /// server accepts, in clear when it declines (libpq's `sslmode=prefer`; what the
    /// configuration verifies is the caller's choice). UNIX-domain sockets never ask.
    pub tls: Option<std::sync::Arc<futures_rustls::rustls::ClientConfig>>,
    /// With `tls`: refuse a server that declines SSL (`sslmode=require` and stricter).
    pub tls_required: bool,
    /// What to connect with; `None`: a socket of the calling thread's `corepool-runtime` shard.
    pub connector: Option<crate::transport::Connector>,
}

impl ConnectOptions {
    /// Options for `user` at `host:port` with the defaults for everything else.
    pub fn new(host: Host, port: u16, user: impl Into<String>) -> Self {
        ConnectOptions {
            host,
            port,
            user: user.into(),
            database: None,
            password: None,
            md5_hash: None,
            replication: None,
            application_name: None,
            connect_timeout: Duration::from_secs(30),
            tls: None,
            tls_required: false,
            connector: None,
        }
    }

    fn describe(&self) -> String {
        match &self.host {
            Host::Tcp(h) => format!("server at \"{h}\", port {}", self.port),
            Host::Unix(d) => format!("socket \"{}/.s.PGSQL.{}\"", d.display(), self.port),
        }
    }
}

/// A NoticeResponse or ErrorResponse, field by field: the notices a connection keeps as it
/// reads, and the errors and notices corepool-ddl passes on to its caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    /// `ERROR`, `WARNING`, `NOTICE`… (the non-localized severity when the server sends it).
    pub severity: String,
    /// The SQLSTATE.
    pub code: String,
    /// The primary message.
    pub message: String,
    /// DETAIL.
    pub detail: Option<String>,
    /// HINT.
    pub hint: Option<String>,
}

impl Notice {
    /// A NOTICE with SQLSTATE `code` (`00000` for plain information).
    pub fn info(code: &str, message: impl Into<String>) -> Notice {
        Notice {
            severity: "NOTICE".to_owned(),
            code: code.to_owned(),
            message: message.into(),
            detail: None,
            hint: None,
        }
    }

    /// The fields of a NoticeResponse body (`00000` when it has no SQLSTATE).
    ///
    /// # Errors
    /// When the body is malformed.
    pub fn from_notice_body(body: &[u8]) -> Result<Notice, corepool_protocol::Error> {
        let n = NoticeResponse::parse(body)?;
        Ok(Notice {
            severity: n
                .severity_nonlocalized()
                .or(n.severity())
                .unwrap_or("NOTICE")
                .to_owned(),
            code: n.code().unwrap_or("00000").to_owned(),
            message: n.message().unwrap_or_default().to_owned(),
            detail: n.detail().map(str::to_owned),
            hint: n.hint().map(str::to_owned),
        })
    }

    /// The fields of an ErrorResponse body (`XX000` when it has no SQLSTATE).
    ///
    /// # Errors
    /// When the body is malformed.
    pub fn from_error_body(body: &[u8]) -> Result<Notice, corepool_protocol::Error> {
        let e = ErrorResponse::parse(body)?;
        Ok(Notice {
            severity: e
                .severity_nonlocalized()
                .or(e.severity())
                .unwrap_or("ERROR")
                .to_owned(),
            code: e.code().unwrap_or("XX000").to_owned(),
            message: e.message().unwrap_or_default().to_owned(),
            detail: e.detail().map(str::to_owned),
            hint: e.hint().map(str::to_owned),
        })
    }
}

/// One connection to a PostgreSQL server.
pub struct Connection {
    socket: Socket,
    read: ReadBuf,
    pub(crate) out: BytesMut,
    parameters: Vec<(String, String)>,
    backend_pid: i32,
    notices: Vec<Notice>,
    /// Column names of the result set being read.
    pub(crate) columns: Option<std::sync::Arc<[String]>>,
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("backend_pid", &self.backend_pid)
            .finish_non_exhaustive()
    }
}

/// A complete backend message: its tag and body (a slice of the read buffer, not a copy).
#[derive(Debug, Clone)]
pub struct RawMessage {
    /// The tag byte.
    pub tag: u8,
    /// The body after the length.
    pub body: Bytes,
}

impl Connection {
    /// Connects, sends the startup packet and authenticates.
    pub async fn connect(opts: &ConnectOptions) -> Result<Connection, ClientError> {
        let socket = match &opts.host {
            Host::Tcp(h) => {
                let endpoint = Endpoint::Tcp(format!("{h}:{}", opts.port));
                let tcp =
                    Socket::connect(endpoint, opts.connect_timeout, opts.connector.as_ref()).await;
                match (tcp, &opts.tls) {
                    (Ok(tcp), Some(config)) => tcp.negotiate_tls(config.clone(), h).await,
                    (tcp, _) => tcp,
                }
            }
            Host::Unix(dir) => {
                let path = dir.join(format!(".s.PGSQL.{}", opts.port));
                Socket::connect(
                    Endpoint::Unix(path),
                    opts.connect_timeout,
                    opts.connector.as_ref(),
                )
                .await
            }
        }
        .map_err(|e| {
            if e.kind() == std::io::ErrorKind::TimedOut {
                ClientError::Timeout(opts.describe())
            } else {
                ClientError::io(format!("could not connect to {}", opts.describe()), e)
            }
        })?;
        // libpq ignores sslmode on UNIX-domain sockets; so does this.
        if opts.tls_required && matches!(opts.host, Host::Tcp(_)) && !socket.is_tls() {
            return Err(ClientError::Tls(format!(
                "connection to {} failed: server does not support SSL, but SSL was required",
                opts.describe()
            )));
        }
        let mut conn = Connection {
            socket,
            read: ReadBuf::new(256 << 10),
            out: BytesMut::with_capacity(4096),
            parameters: Vec::new(),
            backend_pid: 0,
            notices: Vec::new(),
            columns: None,
        };
        conn.startup(opts).await?;
        Ok(conn)
    }

    async fn startup(&mut self, opts: &ConnectOptions) -> Result<(), ClientError> {
        let mut params: Vec<(&str, &str)> = vec![("user", &opts.user)];
        if let Some(db) = &opts.database {
            params.push(("database", db));
        }
        if let Some(app) = &opts.application_name {
            params.push(("application_name", app));
        }
        match opts.replication {
            Some(Replication::Physical) => params.push(("replication", "true")),
            Some(Replication::Database) => params.push(("replication", "database")),
            None => {}
        }
        frontend::startup_message(params, &mut self.out)?;
        self.flush().await?;
        self.authenticate(opts).await?;
        loop {
            let msg = self.read_message().await?;
            match msg.tag {
                BACKEND_KEY_DATA_TAG => {
                    self.backend_pid = BackendKeyData::parse(&msg.body)?.process_id();
                }
                READY_FOR_QUERY_TAG => return Ok(()),
                ERROR_RESPONSE_TAG => return Err(server_error(&msg.body)),
                NEGOTIATE_PROTOCOL_VERSION_TAG => {}
                tag => {
                    return Err(ClientError::protocol(format!(
                        "unexpected message '{}' during startup",
                        tag as char
                    )))
                }
            }
        }
    }

    async fn authenticate(&mut self, opts: &ConnectOptions) -> Result<(), ClientError> {
        let mut scram: Option<ScramSha256> = None;
        loop {
            let msg = self.read_message().await?;
            match msg.tag {
                AUTHENTICATION_TAG => {}
                ERROR_RESPONSE_TAG => return Err(server_error(&msg.body)),
                tag => {
                    return Err(ClientError::protocol(format!(
                        "expected authentication request, got '{}'",
                        tag as char
                    )))
                }
            }
            let password = || {
                opts.password
                    .as_deref()
                    .ok_or(ClientError::PasswordRequired)
            };
            match Authentication::parse(&msg.body)? {
                Authentication::Ok => return Ok(()),
                Authentication::CleartextPassword => {
                    frontend::password_message(password()?.as_bytes(), &mut self.out)?;
                }
                Authentication::Md5Password { salt } => {
                    let resp = match (&opts.password, &opts.md5_hash) {
                        (None, Some(hash)) => md5::Md5Hash::parse(hash.as_bytes())
                            .map_err(|_| ClientError::PasswordRequired)?
                            .client_response(salt),
                        _ => {
                            md5::client_response(opts.user.as_bytes(), password()?.as_bytes(), salt)
                        }
                    };
                    frontend::password_message(resp.as_bytes(), &mut self.out)?;
                }
                Authentication::Sasl(mechanisms) => {
                    let mechanism = select_mechanism(mechanisms)?;
                    let s = ScramSha256::new(password()?.as_bytes());
                    frontend::sasl_initial_response(mechanism, s.message(), &mut self.out)?;
                    scram = Some(s);
                }
                Authentication::SaslContinue { data } => {
                    let s = scram
                        .as_mut()
                        .ok_or_else(|| ClientError::protocol("SASL continue without SASL"))?;
                    s.update(data)?;
                    frontend::sasl_response(s.message(), &mut self.out)?;
                }
                Authentication::SaslFinal { data } => {
                    let s = scram
                        .as_mut()
                        .ok_or_else(|| ClientError::protocol("SASL final without SASL"))?;
                    s.finish(data)?;
                    continue;
                }
                other => return Err(ClientError::UnsupportedAuth(other.code())),
            }
            self.flush().await?;
        }
    }

    /// The server process id of this session.
    pub fn backend_pid(&self) -> i32 {
        self.backend_pid
    }

    /// A parameter the server reported (`server_version`, `integer_datetimes`, …).
    pub fn parameter(&self, name: &str) -> Option<&str> {
        self.parameters
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// Notices received since the last call, oldest first.
    pub fn take_notices(&mut self) -> Vec<Notice> {
        std::mem::take(&mut self.notices)
    }

    /// Sends what has been buffered in `out`.
    pub(crate) async fn flush(&mut self) -> Result<(), ClientError> {
        if self.out.is_empty() {
            return Ok(());
        }
        let data = self.out.split();
        self.socket
            .write_all(&data)
            .await
            .map_err(|e| ClientError::io("could not send data to server", e))?;
        // Reuse the allocation for the next message.
        self.out = data;
        self.out.clear();
        Ok(())
    }

    /// Reads the next message, handling ParameterStatus and NoticeResponse on the way.
    pub async fn read_message(&mut self) -> Result<RawMessage, ClientError> {
        loop {
            let msg = self.read_raw().await?;
            match msg.tag {
                PARAMETER_STATUS_TAG => {
                    let p = ParameterStatus::parse(&msg.body)?;
                    let (name, value) = (p.name().to_owned(), p.value().to_owned());
                    match self.parameters.iter_mut().find(|(n, _)| *n == name) {
                        Some(slot) => slot.1 = value,
                        None => self.parameters.push((name, value)),
                    }
                }
                NOTICE_RESPONSE_TAG => {
                    let notice = Notice::from_notice_body(&msg.body)?;
                    tracing::debug!(severity = %notice.severity, message = %notice.message, "server notice");
                    self.notices.push(notice);
                }
                _ => return Ok(msg),
            }
        }
    }

    async fn read_raw(&mut self) -> Result<RawMessage, ClientError> {
        let pending = self.fill_to(HEADER_LEN).await?;
        let Some(h) = Header::parse(pending)? else {
            return Err(ClientError::protocol("incomplete message header"));
        };
        let frame_len = h.frame_len();
        self.fill_to(frame_len).await?;
        let mut frame = self.read.split(frame_len);
        let body = frame.split_off(HEADER_LEN);
        Ok(RawMessage { tag: h.tag, body })
    }

    /// Reads from the socket until at least `n` bytes are pending in the read buffer.
    pub(crate) async fn fill_to(&mut self, n: usize) -> Result<&[u8], ClientError> {
        while self.read.pending().len() < n {
            let have = self.read.pending().len();
            let spare = self.read.spare_mut(n - have);
            let got = self
                .socket
                .read(spare)
                .await
                .map_err(|e| ClientError::io("could not receive data from server", e))?;
            if got == 0 {
                return Err(ClientError::Closed);
            }
            self.read.commit(got);
        }
        Ok(self.read.pending())
    }

    /// Moves the next `dest.len()` bytes of the stream into `dest`: what the read buffer holds
    /// first, the rest read from the socket straight into `dest` (no intermediate copy).
    pub(crate) async fn read_exact_into(&mut self, dest: &mut [u8]) -> Result<(), ClientError> {
        let buffered = self.read.pending().len().min(dest.len());
        dest[..buffered].copy_from_slice(&self.read.pending()[..buffered]);
        self.read.consume(buffered);
        let mut filled = buffered;
        while filled < dest.len() {
            let got = self
                .socket
                .read(&mut dest[filled..])
                .await
                .map_err(|e| ClientError::io("could not receive data from server", e))?;
            if got == 0 {
                return Err(ClientError::Closed);
            }
            filled += got;
        }
        Ok(())
    }

    /// Drops the first `n` pending bytes of the read buffer.
    pub(crate) fn consume(&mut self, n: usize) {
        self.read.consume(n);
    }

    /// Sends Terminate and drops the connection.
    pub async fn close(mut self) {
        frontend::terminate(&mut self.out);
        let _ = self.flush().await;
    }
}

/// Turns an ErrorResponse body into [`ClientError::Server`].
pub(crate) fn server_error(body: &[u8]) -> ClientError {
    match Notice::from_error_body(body) {
        Ok(e) => ClientError::Server {
            severity: e.severity,
            code: e.code,
            message: e.message,
            detail: e.detail,
            hint: e.hint,
        },
        Err(e) => ClientError::Protocol(format!("malformed ErrorResponse: {e}")),
    }
}
