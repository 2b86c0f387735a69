//! The client's start-up phase: SSL/GSS negotiation, CancelRequest, and the StartupMessage.

use std::io;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use corepool_protocol::framing::{split_startup, StartupFrame};
use corepool_protocol::message::frontend::StartupMessage;
use futures_lite::AsyncReadExt;

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
        /// The proxy-issued secret.
        secret_key: i32,
    },
}

/// A parsed StartupMessage, owned.
pub struct Startup {
    /// User name (required).
    pub user: String,
    /// Database (defaults to the user name).
    pub database: String,
    /// Every parameter as sent, `user` and `database` included, in order.
    pub params: Vec<(String, String)>,
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
    let mut chunk = [0u8; 512];
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
                        client
                            .accept_tls(config.clone())
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
        let n = client.read(&mut chunk).await?;
        if n == 0 {
            return Err(StartupError::Io(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "client closed the connection during start-up",
            )));
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

fn parse_startup(packet: &Bytes) -> Result<Startup, StartupError> {
    let msg = StartupMessage::parse(packet)?;
    let mut params = Vec::new();
    for (k, v) in msg.parameters() {
        params.push((k.to_owned(), v.to_owned()));
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
    Ok(Startup {
        user,
        database,
        params,
    })
}
