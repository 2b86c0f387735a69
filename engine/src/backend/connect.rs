//! Opening an authenticated backend connection and collecting its start-up reply.
//!
//! With `ssl = on` a TCP connection first sends an SSLRequest, as Pgpool-II does: `S` runs a
//! TLS handshake, `N` goes on in clear (libpq's `sslmode=prefer`). UNIX-domain sockets never
//! ask: PostgreSQL refuses SSL on them.
//!
//! Every backend is asked for protocol 3.2, whatever version the client speaks: PostgreSQL 18
//! accepts it and issues a 32-byte cancel key, older servers answer NegotiateProtocolVersion
//! with 3.0 and a 4-byte key. The version never shows to clients (corepool issues their
//! BackendKeyData itself and quotes the backend's key, at its length, only when forwarding a
//! cancel), so a pooled connection serves 3.0 and 3.2 clients alike.

use std::io;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use corepool_protocol::auth::md5::Md5Hash;
use corepool_protocol::auth::scram::{ClientKey, ScramSha256};
use corepool_protocol::auth::AuthError;
use corepool_protocol::framing::{Header, Limits};
use corepool_protocol::message::backend::{
    Authentication, BackendKeyData, ErrorResponse, NegotiateProtocolVersion, ParameterStatus,
    ReadyForQuery,
};
use corepool_protocol::message::frontend::ProtocolVersion;
use corepool_protocol::message::tags::{
    AUTHENTICATION_TAG, BACKEND_KEY_DATA_TAG, ERROR_RESPONSE_TAG, NEGOTIATE_PROTOCOL_VERSION_TAG,
    NOTICE_RESPONSE_TAG, PARAMETER_STATUS_TAG, READY_FOR_QUERY_TAG,
};
use corepool_protocol::message::write;
use corepool_protocol::message::TransactionStatus;

use crate::cluster::{BackendKey, NodeAddress, Secret};
use crate::pool::Pooled;
use crate::runtime::tls::{ClientConfig, ServerName};
use crate::runtime::{self, ReadBuf, Stream};

/// The secret corepool presents to a backend for a user.
#[derive(Clone, Default)]
pub enum Credentials {
    /// Nothing: only `trust` backends accept the connection.
    #[default]
    None,
    /// The clear-text password (from the client, or pool_passwd's TEXT/AES forms).
    Password(String),
    /// pool_passwd's md5 hash: enough for md5 backends, not for SCRAM ones.
    Md5(Md5Hash),
    /// SCRAM keys recovered from the client's own proof (pass-through): they log in to a
    /// backend whose verifier is the one pool_passwd holds (same salt and iteration count).
    ScramKeys {
        /// The client's ClientKey.
        client_key: ClientKey,
        /// The verifier's ServerKey, to check the backend's signature.
        server_key: [u8; 32],
    },
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Credentials::None => "Credentials::None",
            Credentials::Password(_) => "Credentials::Password(<redacted>)",
            Credentials::Md5(_) => "Credentials::Md5(<redacted>)",
            Credentials::ScramKeys { .. } => "Credentials::ScramKeys(<redacted>)",
        })
    }
}

/// Why a backend connection could not be made.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// TCP/UNIX connect or I/O failed.
    #[error("could not connect to backend node {node} ({address}): {source}")]
    Io {
        /// Node id.
        node: usize,
        /// host:port or socket path.
        address: String,
        /// The I/O error.
        #[source]
        source: io::Error,
    },
    /// The backend sent an ErrorResponse during start-up (wrong password, no such database …).
    /// The raw message is kept so it can be forwarded to the client unchanged.
    #[error("backend node {node} refused the connection: {message}")]
    Refused {
        /// Node id.
        node: usize,
        /// Its primary message text.
        message: String,
        /// SQLSTATE.
        code: String,
        /// The whole ErrorResponse as sent.
        raw: Bytes,
    },
    /// The backend asked for a password corepool does not have, or a method it cannot do.
    #[error("backend node {node}: {why}")]
    Auth {
        /// Node id.
        node: usize,
        /// What was missing or failed.
        why: String,
    },
    /// The backend broke the protocol.
    #[error("backend node {node} sent an invalid message: {source}")]
    Protocol {
        /// Node id.
        node: usize,
        /// The decoding error.
        #[source]
        source: corepool_protocol::Error,
    },
    /// The backend accepted SSL but the TLS handshake failed (or it answered the SSLRequest
    /// with something other than `S` or `N`).
    #[error("SSL connection to backend node {node} failed: {source}")]
    Tls {
        /// Node id.
        node: usize,
        /// The handshake error.
        #[source]
        source: io::Error,
    },
    /// Transaction pooling: every backend of the pool stayed busy for `query_wait_timeout`.
    #[error("sorry, too many clients already: no backend connection of node {node} became free within query_wait_timeout ({} s)", waited.as_secs())]
    PoolTimeout {
        /// Node id.
        node: usize,
        /// How long the client waited.
        waited: Duration,
    },
    /// Start-up did not finish in time.
    #[error("backend node {node} did not finish start-up within {limit:?}")]
    Timeout {
        /// Node id.
        node: usize,
        /// The limit.
        limit: Duration,
    },
}

impl ConnectError {
    /// True when the node itself looks unreachable (failover_on_backend_error counts these).
    pub fn is_node_failure(&self) -> bool {
        matches!(self, ConnectError::Io { .. } | ConnectError::Timeout { .. })
    }
}

/// What the backend said during start-up, replayed to every client the connection serves.
#[derive(Debug, Clone)]
pub struct StartupReply {
    /// ParameterStatus values, latest per name.
    pub parameters: Vec<(String, String)>,
    /// The backend's own cancel key: process id and secret. `None` before BackendKeyData, or
    /// when the secret is longer than corepool stores ([`Secret::MAX_LEN`]; protocol 3.2
    /// allows 256 bytes, PostgreSQL 18 sends 32): such a session cannot be cancelled through
    /// corepool.
    pub key: Option<(i32, Secret)>,
    /// The protocol version the backend agreed to: 3.2, or 3.0 from a server before 18.
    pub version: ProtocolVersion,
}

impl Default for StartupReply {
    fn default() -> Self {
        StartupReply {
            parameters: Vec::new(),
            key: None,
            version: ProtocolVersion::LATEST,
        }
    }
}

impl StartupReply {
    /// Records a ParameterStatus (start-up, or later when a SET changes a reported setting).
    pub fn set_parameter(&mut self, name: &str, value: &str) {
        match self.parameters.iter_mut().find(|(n, _)| n == name) {
            Some((_, v)) => {
                v.clear();
                v.push_str(value);
            }
            None => self.parameters.push((name.to_owned(), value.to_owned())),
        }
    }
}

/// An authenticated backend connection, idle at ReadyForQuery.
pub struct BackendConn {
    /// The socket.
    pub stream: Stream,
    /// Bytes read from the backend and not yet forwarded.
    pub rbuf: ReadBuf,
    /// Node id.
    pub node: usize,
    /// Where the node was reached (for errors).
    pub address: NodeAddress,
    /// Parameters and cancel key from start-up.
    pub reply: StartupReply,
    /// Transaction status from the last ReadyForQuery.
    pub status: TransactionStatus,
    /// When it was opened.
    pub opened: Instant,
    /// Cluster generation it was opened under.
    pub generation: u64,
    /// Where relaying to the client stands, and what the backend still owes.
    pub side: super::BackendSide,
}

impl BackendConn {
    /// The key a CancelRequest needs to reach this backend; `None` when it sent none corepool
    /// could store.
    pub fn cancel_key(&self) -> Option<BackendKey> {
        let (process_id, secret) = self.reply.key?;
        Some(BackendKey {
            node: self.node as u32,
            process_id,
            secret,
        })
    }
}

impl Pooled for BackendConn {
    fn created(&self) -> Instant {
        self.opened
    }
    fn generation(&self) -> u64 {
        self.generation
    }
    /// A backend killed or shut down while pooled has closed the socket or sent a FATAL: taking
    /// it would fail the client's next query.
    fn alive(&self) -> bool {
        self.rbuf.pending().is_empty() && !self.stream.peer_gone()
    }
}

/// Opens a connection to `node`, sends the client's start-up parameters and authenticates with
/// `creds`. Bounded by `limit` as a whole. `tls` (present when `ssl = on`) asks a TCP backend
/// for SSL first.
#[allow(clippy::too_many_arguments)]
pub async fn connect(
    node: usize,
    address: &NodeAddress,
    params: &[(&str, &str)],
    creds: &Credentials,
    limits: &Limits,
    limit: Duration,
    generation: u64,
    tls: Option<&Arc<ClientConfig>>,
) -> Result<BackendConn, ConnectError> {
    match runtime::timeout(
        limit,
        connect_inner(node, address, params, creds, limits, limit, generation, tls),
    )
    .await
    {
        Some(r) => r,
        None => Err(ConnectError::Timeout { node, limit }),
    }
}

#[allow(clippy::too_many_arguments)]
async fn connect_inner(
    node: usize,
    address: &NodeAddress,
    params: &[(&str, &str)],
    creds: &Credentials,
    limits: &Limits,
    limit: Duration,
    generation: u64,
    tls: Option<&Arc<ClientConfig>>,
) -> Result<BackendConn, ConnectError> {
    let io_err = |source: io::Error| io_error(node, address, source);
    let mut stream = match address {
        NodeAddress::Tcp { host, port } => {
            let addr = resolve(host, *port).map_err(io_err)?;
            let mut stream = Stream::connect_tcp(addr, limit).await.map_err(io_err)?;
            if let Some(config) = tls {
                // A name for SNI; the certificate's names are not checked (see runtime::tls).
                let name = ServerName::try_from(host.as_str())
                    .map(|n| n.to_owned())
                    .unwrap_or_else(|_| ServerName::IpAddress(addr.ip().into()));
                negotiate_tls(&mut stream, config, name, node)
                    .await
                    .map_err(|e| match e {
                        Negotiation::Io(source) => io_err(source),
                        Negotiation::Tls(source) => ConnectError::Tls { node, source },
                    })?;
            }
            stream
        }
        NodeAddress::Unix { dir, port } => {
            let path = PathBuf::from(dir).join(format!(".s.PGSQL.{port}"));
            Stream::connect_unix(&path, limit).await.map_err(io_err)?
        }
    };
    let mut out = BytesMut::with_capacity(256);
    write::frontend::startup_message_for(ProtocolVersion::LATEST, params.iter().copied(), &mut out)
        .map_err(|source| ConnectError::Protocol { node, source })?;
    stream.write_all(&out).await.map_err(io_err)?;

    let mut rbuf = ReadBuf::with_chunk(2 * 1024);
    let mut reply = StartupReply::default();
    let mut scram: Option<ScramSha256> = None;
    loop {
        let (tag, len) = next_message(&mut stream, &mut rbuf, limits, node, address).await?;
        let frame = rbuf.split_frame(len);
        let body = &frame[5..];
        let protocol = |source| ConnectError::Protocol { node, source };
        match tag {
            AUTHENTICATION_TAG => {
                out.clear();
                match Authentication::parse(body).map_err(protocol)? {
                    Authentication::Ok => continue,
                    Authentication::CleartextPassword => match creds {
                        Credentials::Password(p) => {
                            write::frontend::password_message(p.as_bytes(), &mut out)
                                .map_err(protocol)?
                        }
                        _ => return Err(auth_missing(node, "a clear-text password")),
                    },
                    Authentication::Md5Password { salt } => {
                        let user = params
                            .iter()
                            .find(|(k, _)| *k == "user")
                            .map(|(_, v)| *v)
                            .unwrap_or("");
                        let hash = match creds {
                            Credentials::Password(p) => {
                                Md5Hash::from_password(user.as_bytes(), p.as_bytes())
                            }
                            Credentials::Md5(h) => h.clone(),
                            Credentials::None | Credentials::ScramKeys { .. } => {
                                return Err(auth_missing(node, "an md5 password"))
                            }
                        };
                        let response = hash.client_response(salt);
                        write::frontend::password_message(response.as_bytes(), &mut out)
                            .map_err(protocol)?;
                    }
                    Authentication::Sasl(mechanisms) => {
                        let client = match creds {
                            Credentials::Password(p) => ScramSha256::new(p.as_bytes()),
                            Credentials::ScramKeys { client_key, server_key } => {
                                ScramSha256::from_client_key(client_key.clone(), *server_key)
                            }
                            _ => {
                                return Err(auth_missing(
                                    node,
                                    "a clear-text password or SCRAM verifier for SCRAM-SHA-256 (md5 hashes cannot do SCRAM)",
                                ))
                            }
                        };
                        let mechanism =
                            corepool_protocol::auth::scram::select_mechanism(mechanisms)
                                .map_err(|e| auth_failed(node, e))?;
                        write::frontend::sasl_initial_response(
                            mechanism,
                            client.message(),
                            &mut out,
                        )
                        .map_err(protocol)?;
                        scram = Some(client);
                    }
                    Authentication::SaslContinue { data } => {
                        let client = scram
                            .as_mut()
                            .ok_or_else(|| auth_failed_text(node, "unexpected SASLContinue"))?;
                        client.update(data).map_err(|e| auth_failed(node, e))?;
                        write::frontend::sasl_response(client.message(), &mut out)
                            .map_err(protocol)?;
                    }
                    Authentication::SaslFinal { data } => {
                        let mut client = scram
                            .take()
                            .ok_or_else(|| auth_failed_text(node, "unexpected SASLFinal"))?;
                        client.finish(data).map_err(|e| auth_failed(node, e))?;
                        continue;
                    }
                    other => {
                        return Err(auth_failed_text(
                            node,
                            &format!(
                                "unsupported authentication method (request code {})",
                                other.code()
                            ),
                        ))
                    }
                }
                stream.write_all(&out).await.map_err(io_err)?;
            }
            PARAMETER_STATUS_TAG => {
                let p = ParameterStatus::parse(body).map_err(protocol)?;
                reply.set_parameter(p.name(), p.value());
            }
            NEGOTIATE_PROTOCOL_VERSION_TAG => {
                let n = NegotiateProtocolVersion::parse(body).map_err(protocol)?;
                reply.version = n
                    .accepted_version(ProtocolVersion::LATEST)
                    .map_err(protocol)?;
                tracing::debug!(node, version = %reply.version, "backend negotiated the protocol down");
            }
            BACKEND_KEY_DATA_TAG => {
                let k = BackendKeyData::parse(body).map_err(protocol)?;
                let key = k.secret_key();
                // libpq's rule: before 3.2 the key is exactly 4 bytes.
                if !reply.version.variable_secret_key() && key.len() != 4 {
                    return Err(protocol(corepool_protocol::Error::InvalidValue {
                        message: "BackendKeyData",
                        field: "secret key length",
                        value: key.len() as i64,
                    }));
                }
                reply.key = Secret::new(key).map(|secret| (k.process_id(), secret));
                if reply.key.is_none() {
                    tracing::warn!(
                        node,
                        len = key.len(),
                        "backend cancel key longer than the {} bytes corepool keeps: queries on this connection cannot be cancelled through corepool",
                        Secret::MAX_LEN
                    );
                }
            }
            READY_FOR_QUERY_TAG => {
                let r = ReadyForQuery::parse(body).map_err(protocol)?;
                return Ok(BackendConn {
                    stream,
                    rbuf,
                    node,
                    address: address.clone(),
                    reply,
                    status: r.status(),
                    opened: Instant::now(),
                    generation,
                    side: Default::default(),
                });
            }
            ERROR_RESPONSE_TAG => {
                let e = ErrorResponse::parse(body).map_err(protocol)?;
                return Err(ConnectError::Refused {
                    node,
                    message: e.message().unwrap_or("").to_owned(),
                    code: e.code().unwrap_or("").to_owned(),
                    raw: frame,
                });
            }
            NOTICE_RESPONSE_TAG => {}
            other => {
                return Err(ConnectError::Protocol {
                    node,
                    source: corepool_protocol::Error::UnknownTag {
                        tag: other,
                        sender: "backend",
                    },
                })
            }
        }
    }
}

enum Negotiation {
    Io(io::Error),
    Tls(io::Error),
}

/// Sends an SSLRequest; on `S` runs the handshake, on `N` leaves the stream in clear.
async fn negotiate_tls(
    stream: &mut Stream,
    config: &Arc<ClientConfig>,
    name: ServerName<'static>,
    node: usize,
) -> Result<(), Negotiation> {
    let mut out = BytesMut::with_capacity(8);
    write::frontend::ssl_request(&mut out);
    stream.write_all(&out).await.map_err(Negotiation::Io)?;
    let mut answer = [0u8; 1];
    // One byte and no more: the server sends nothing else before the handshake.
    let n = futures_lite::AsyncReadExt::read(stream, &mut answer)
        .await
        .map_err(Negotiation::Io)?;
    match (n, answer[0]) {
        (0, _) => Err(Negotiation::Io(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "server closed the connection during SSL negotiation",
        ))),
        (_, b'S') => {
            let r = stream.connect_tls(config.clone(), name).await;
            tracing::debug!(node, ok = r.is_ok(), "backend SSL handshake");
            r.map_err(Negotiation::Tls)
        }
        (_, b'N') => {
            tracing::debug!(node, "backend does not support SSL; continuing in clear");
            Ok(())
        }
        (_, other) => Err(Negotiation::Tls(io::Error::new(
            io::ErrorKind::InvalidData,
            format!(
                "received invalid response to SSL negotiation: {:?}",
                char::from(other)
            ),
        ))),
    }
}

/// Reads until a whole message is buffered; returns its tag and length (tag included).
pub async fn next_message(
    stream: &mut Stream,
    rbuf: &mut ReadBuf,
    limits: &Limits,
    node: usize,
    address: &NodeAddress,
) -> Result<(u8, usize), ConnectError> {
    loop {
        if let Some(h) = Header::parse(rbuf.pending())
            .map_err(|source| ConnectError::Protocol { node, source })?
        {
            if h.len as usize > limits.max_message_len {
                return Err(ConnectError::Protocol {
                    node,
                    source: corepool_protocol::Error::MessageTooLarge {
                        tag: h.tag,
                        len: h.len as usize,
                        max: limits.max_message_len,
                    },
                });
            }
            if rbuf.len() >= h.frame_len() {
                return Ok((h.tag, h.frame_len()));
            }
        }
        let n = stream
            .read_buf(rbuf)
            .await
            .map_err(|source| io_error(node, address, source))?;
        if n == 0 {
            return Err(io_error(
                node,
                address,
                io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "server closed the connection unexpectedly",
                ),
            ));
        }
    }
}

fn auth_missing(node: usize, what: &str) -> ConnectError {
    ConnectError::Auth {
        node,
        why: format!("the server asks for {what}, and corepool has none for this user (add it to pool_passwd)"),
    }
}

fn auth_failed(node: usize, e: AuthError) -> ConnectError {
    ConnectError::Auth {
        node,
        why: format!("authentication failed: {e}"),
    }
}

fn auth_failed_text(node: usize, why: &str) -> ConnectError {
    ConnectError::Auth {
        node,
        why: why.to_owned(),
    }
}

/// An I/O failure on the connection to `node` at `address`.
pub fn io_error(node: usize, address: &NodeAddress, source: io::Error) -> ConnectError {
    ConnectError::Io {
        node,
        address: describe(address),
        source,
    }
}

fn describe(address: &NodeAddress) -> String {
    match address {
        NodeAddress::Tcp { host, port } => format!("{host}:{port}"),
        NodeAddress::Unix { dir, port } => format!("{dir}/.s.PGSQL.{port}"),
    }
}

fn resolve(host: &str, port: u16) -> io::Result<std::net::SocketAddr> {
    use std::net::ToSocketAddrs;
    (host, port).to_socket_addrs()?.next().ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::NotFound,
            format!("could not resolve host \"{host}\""),
        )
    })
}
