//! The client's start-up phase: SSL/GSS negotiation, CancelRequest, and the StartupMessage
//! with its protocol version.
//!
//! corepool speaks to a client at the older of the version it asked for and 3.2
//! ([`ProtocolVersion::LATEST`]), whatever its backends speak: 3.0 and 3.2 differ only in the
//! secret key's length in BackendKeyData and CancelRequest, and corepool issues its own key to
//! every client. It knows no `_pq_.` protocol option; like PostgreSQL it answers a request for
//! a newer minor version or for any such option with NegotiateProtocolVersion before
//! authenticating, and does not pass the options on to backends.

use std::io;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use corepool_protocol::framing::{split_startup, StartupFrame};
use corepool_protocol::message::frontend::{ProtocolVersion, StartupMessage};
use corepool_protocol::message::write;
use corepool_protocol::message::TransactionStatus;
use futures_lite::AsyncReadExt;

use crate::backend::StartupReply;
use crate::cluster::Secret;
use crate::runtime::tls::ServerConfig;
use crate::runtime::Stream;

/// What a new client connection turned out to be.
pub enum Opening {
    /// A client wants a session. `packet` is the whole StartupMessage.
    Session(Startup),
    /// A CancelRequest: the connection closes after it is handled.
    Cancel {
        /// The proxy-issued process id.
        process_id: i32,
        /// The proxy-issued secret, as long as the request carried it (4 bytes from a 3.0
        /// client, 32 from a 3.2 one).
        secret_key: Bytes,
    },
}

/// A parsed StartupMessage, owned.
pub struct Startup {
    /// User name (required).
    pub user: String,
    /// Database (defaults to the user name).
    pub database: String,
    /// Every parameter as sent, `user` and `database` included, in order; not the `_pq_.`
    /// protocol options.
    pub params: Vec<(String, String)>,
    /// The protocol version corepool speaks with this client: the older of the one asked for
    /// and [`ProtocolVersion::LATEST`]. From 3.2 on the client gets a 32-byte cancel secret.
    pub version: ProtocolVersion,
    /// The NegotiateProtocolVersion owed to the client before authentication (it asked for a
    /// newer minor version, or sent `_pq_.` options, which corepool lists as unrecognised).
    pub negotiation: Option<Bytes>,
}

impl Startup {
    /// Parameters as borrowed pairs.
    pub fn param_pairs(&self) -> Vec<(&str, &str)> {
        self.params
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect()
    }

    /// A parameter's value.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Why start-up failed; each maps to the FATAL a client gets.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    /// The socket failed or closed.
    #[error("could not read start-up packet: {0}")]
    Io(#[from] io::Error),
    /// The bytes are not a valid start-up packet.
    #[error("invalid startup packet layout: {0}")]
    Protocol(#[from] corepool_protocol::Error),
    /// No user name.
    #[error("no PostgreSQL user name specified in startup packet")]
    NoUser,
    /// Bytes followed the SSLRequest before the handshake: they were not encrypted, and may
    /// have been injected by a man in the middle (PostgreSQL's CVE-2021-23214 check).
    #[error("received unencrypted data after SSL request")]
    UnencryptedAfterSsl,
    /// An SSLRequest or GSSENCRequest on a connection that is already encrypted.
    #[error("unsupported frontend protocol {0}: the connection is already encrypted")]
    AlreadyEncrypted(&'static str),
    /// The TLS handshake failed (a client that is not speaking TLS, a bad certificate …).
    #[error("SSL handshake failed: {0}")]
    Tls(#[source] io::Error),
}

impl StartupError {
    /// The SQLSTATE of the FATAL the client is sent, or `None` when nothing can be sent (the
    /// socket is gone or in the middle of a TLS handshake).
    pub fn fatal_code(&self) -> Option<&'static str> {
        match self {
            StartupError::Io(_) | StartupError::Tls(_) => None,
            StartupError::Protocol(_)
            | StartupError::NoUser
            | StartupError::UnencryptedAfterSsl
            | StartupError::AlreadyEncrypted(_) => Some("08P01"),
        }
    }
}

/// Reads the start-up phase until a StartupMessage or CancelRequest arrives. An SSLRequest is
/// answered `S` and the TLS handshake run when `tls` is set (`ssl = on` with a certificate),
/// `N` otherwise; GSSENCRequest is always answered `N`.
pub async fn read_opening(
    client: &mut Stream,
    tls: Option<&Arc<ServerConfig>>,
) -> Result<Opening, StartupError> {
    let mut buf = BytesMut::with_capacity(512);
    loop {
        while let Some(frame) = split_startup(&mut buf)? {
            match frame {
                StartupFrame::SslRequest if client.is_tls() => {
                    return Err(StartupError::AlreadyEncrypted("1234.5679"));
                }
                StartupFrame::GssEncRequest if client.is_tls() => {
                    return Err(StartupError::AlreadyEncrypted("1234.5680"));
                }
                StartupFrame::SslRequest => match tls {
                    Some(config) => {
                        if !buf.is_empty() {
                            return Err(StartupError::UnencryptedAfterSsl);
                        }
                        client.write_all(b"S").await?;
                        // Boxed: the handshake's state is large and needed once.
                        Box::pin(client.accept_tls(config.clone()))
                            .await
                            .map_err(StartupError::Tls)?;
                    }
                    None => client.write_all(b"N").await?,
                },
                StartupFrame::GssEncRequest => {
                    client.write_all(b"N").await?;
                }
                StartupFrame::Cancel {
                    process_id,
                    secret_key,
                } => {
                    return Ok(Opening::Cancel {
                        process_id,
                        secret_key,
                    });
                }
                StartupFrame::Startup(packet) => {
                    return Ok(Opening::Session(parse_startup(&packet)?))
                }
            }
        }
        // Read straight into the buffer's free space: a read array would stay in the
        // session's future for the session's whole life.
        let start = buf.len();
        buf.resize(start + 512, 0);
        let n = client.read(&mut buf[start..]).await?;
        buf.truncate(start + n);
        if n == 0 {
            return Err(StartupError::Io(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "client closed the connection during start-up",
            )));
        }
    }
}

fn parse_startup(packet: &Bytes) -> Result<Startup, StartupError> {
    let msg = StartupMessage::parse(packet)?;
    let latest = ProtocolVersion::LATEST;
    let version = msg.negotiated_version(latest);
    let negotiation = match msg.needs_negotiation(latest) {
        true => {
            let mut out = BytesMut::with_capacity(64);
            write::backend::negotiate_protocol_version(version, msg.protocol_options(), &mut out)?;
            Some(out.freeze())
        }
        false => None,
    };
    let mut params = Vec::new();
    let protocol_options: Vec<&str> = msg.protocol_options().collect();
    for (k, v) in msg.parameters() {
        if !protocol_options.contains(&k) {
            params.push((k.to_owned(), v.to_owned()));
        }
    }
    let user = msg
        .user()
        .filter(|u| !u.is_empty())
        .ok_or(StartupError::NoUser)?
        .to_owned();
    let database = msg
        .database()
        .filter(|d| !d.is_empty())
        .unwrap_or(&user)
        .to_owned();
    if !params.iter().any(|(k, _)| k == "database") {
        params.push(("database".to_owned(), database.clone()));
    }
    // Kept for the session's life: no spare capacity.
    params.shrink_to_fit();
    Ok(Startup {
        user,
        database,
        params,
        version,
        negotiation,
    })
}

/// AuthenticationOk, the backend's ParameterStatus values (application_name — in transaction
/// pooling every reported parameter — as the client set it), corepool's BackendKeyData and
/// ReadyForQuery.
pub(super) fn greeting(
    reply: &StartupReply,
    startup: &Startup,
    every_startup_value: bool,
    process_id: i32,
    secret: &Secret,
) -> BytesMut {
    let mut out = BytesMut::with_capacity(512);
    write::backend::authentication_ok(&mut out);
    for (name, value) in &reply.parameters {
        // The client's own start-up values of reported parameters (its application_name; in
        // transaction pooling every one, since the backend that reported may be another's).
        let value = startup
            .params
            .iter()
            .filter(|(k, _)| every_startup_value || k == "application_name")
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .unwrap_or(value);
        let _ = write::backend::parameter_status(name, value, &mut out);
    }
    // 4 or 32 bytes: within what the writer accepts.
    let _ = write::backend::backend_key_data(process_id, secret.as_bytes(), &mut out);
    write::backend::ready_for_query(TransactionStatus::Idle, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use corepool_protocol::message::backend::NegotiateProtocolVersion;

    fn startup(version: ProtocolVersion, params: &[(&str, &str)]) -> Startup {
        let mut out = BytesMut::new();
        write::frontend::startup_message_for(version, params.iter().copied(), &mut out).unwrap();
        parse_startup(&out.freeze()).unwrap()
    }

    /// Minor asked for, `_pq_.` options sent, minor served, options listed back (`None`: no
    /// NegotiateProtocolVersion).
    type Case<'a> = (u16, &'a [(&'a str, &'a str)], u16, Option<Vec<&'a str>>);

    /// The version a client is served at, and the NegotiateProtocolVersion it is owed first.
    #[test]
    fn clients_are_served_at_most_3_2() {
        let v = |minor| ProtocolVersion { major: 3, minor };
        let cases: [Case<'_>; 5] = [
            (0, &[], 0, None),
            (2, &[], 2, None),
            (3, &[], 2, Some(vec![])),
            (
                9999,
                &[("_pq_.test_protocol_negotiation", "")],
                2,
                Some(vec!["_pq_.test_protocol_negotiation"]),
            ),
            (
                0,
                &[("_pq_.a", "1"), ("_pq_.b", "2")],
                0,
                Some(vec!["_pq_.a", "_pq_.b"]),
            ),
        ];
        for (asked, options, served, negotiation) in cases {
            let mut params = vec![("user", "alice"), ("application_name", "t")];
            params.extend_from_slice(options);
            let s = startup(v(asked), &params);
            assert_eq!(s.version, v(served), "asked 3.{asked}");
            assert!(
                s.params.iter().all(|(k, _)| !k.starts_with("_pq_.")),
                "protocol options are not parameters"
            );
            assert_eq!(s.get("application_name"), Some("t"));
            let got = s.negotiation.as_ref().map(|m| {
                let n = NegotiateProtocolVersion::parse(&m[5..]).unwrap();
                assert_eq!(m[0], b'v');
                assert_eq!(n.version(), v(served));
                n.unrecognized_options()
                    .map(str::to_owned)
                    .collect::<Vec<_>>()
            });
            assert_eq!(
                got,
                negotiation.map(|o| o.iter().map(|s| s.to_string()).collect())
            );
        }
    }
}
