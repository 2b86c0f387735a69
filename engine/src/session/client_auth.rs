//! Authenticating a client to corepool (pool_hba methods), and what that yields for the backend.

use std::io;

use bytes::BytesMut;
use corepool_protocol::auth::md5::Md5Hash;
use corepool_protocol::auth::scram::{ScramServer, ScramVerifier};
use corepool_protocol::auth::StoredPassword;
use corepool_protocol::framing::Header;
use corepool_protocol::message::frontend::{PasswordMessage, SaslInitialResponse, SaslResponse};
use corepool_protocol::message::tags::PASSWORD_MESSAGE_TAG;
use corepool_protocol::message::write;

pub use crate::auth::hba::Method;
pub use crate::auth::ClientIdent;
use crate::backend::Credentials;
use crate::runtime::{ReadBuf, Stream};

/// Why a client was not let in. Each maps to PostgreSQL's SQLSTATE and wording.
#[derive(Debug, thiserror::Error)]
pub enum AuthFailure {
    /// Wrong password (28P01).
    #[error("password authentication failed for user \"{user}\"")]
    WrongPassword {
        /// The user.
        user: String,
    },
    /// The method needs a secret pool_passwd does not have (28000).
    #[error("{method} authentication failed for user \"{user}\": no usable password for the user in pool_passwd")]
    NoSecret {
        /// The method's name.
        method: &'static str,
        /// The user.
        user: String,
    },
    /// pool_hba.conf rejected the connection (28000).
    #[error("pool_hba.conf rejects connection for host \"{host}\", user \"{user}\", database \"{database}\"")]
    Rejected {
        /// Client address.
        host: String,
        /// User.
        user: String,
        /// Database.
        database: String,
    },
    /// The `cert` method: no verified client certificate, or its CN is not the user (28000).
    #[error("certificate authentication failed for user \"{user}\": {why}")]
    Certificate {
        /// The user.
        user: String,
        /// What was wrong with the certificate.
        why: &'static str,
    },
    /// The client broke the exchange (08P01).
    #[error("invalid authentication message: {0}")]
    Protocol(String),
    /// The client went away.
    #[error("client closed the connection during authentication")]
    Io(#[from] io::Error),
}

impl AuthFailure {
    /// SQLSTATE for the FATAL the client gets.
    pub fn sqlstate(&self) -> &'static str {
        match self {
            AuthFailure::WrongPassword { .. } => "28P01",
            AuthFailure::NoSecret { .. }
            | AuthFailure::Rejected { .. }
            | AuthFailure::Certificate { .. } => "28000",
            AuthFailure::Protocol(_) | AuthFailure::Io(_) => "08P01",
        }
    }
}

/// Runs the exchange `method` calls for. `secret` is the user's pool_passwd entry, if any.
/// On success returns what corepool can present to backends for this user.
pub async fn authenticate(
    client: &mut Stream,
    cbuf: &mut ReadBuf,
    who: &ClientIdent<'_>,
    method: Method,
    secret: Option<&StoredPassword>,
) -> Result<Credentials, AuthFailure> {
    let user = who.user;
    let wrong = || AuthFailure::WrongPassword {
        user: user.to_owned(),
    };
    let mut out = BytesMut::with_capacity(128);
    match method {
        Method::Reject => Err(AuthFailure::Rejected {
            host: who.host.to_owned(),
            user: user.to_owned(),
            database: who.database.to_owned(),
        }),
        Method::Trust => Ok(credentials_from(secret)),
        Method::Cert => {
            // A certificate here was verified against ssl_ca_cert during the handshake.
            let why = match client.peer_certificate() {
                None => "the connection requires a valid client certificate",
                Some(der) => match crate::runtime::tls::common_name(der) {
                    Some(cn) if cn == user => return Ok(credentials_from(secret)),
                    Some(_) => "the certificate's common name does not match the user name",
                    None => "the certificate has no usable common name",
                },
            };
            Err(AuthFailure::Certificate {
                user: user.to_owned(),
                why,
            })
        }
        Method::Password => {
            write::backend::authentication_cleartext_password(&mut out);
            client.write_all(&out).await?;
            let body = read_password_message(client, cbuf).await?;
            let msg =
                PasswordMessage::parse(&body).map_err(|e| AuthFailure::Protocol(e.to_string()))?;
            let password = msg.password();
            let ok = match secret {
                None => true, // the backend verifies it
                Some(StoredPassword::Plain(p)) => constant_time_eq(p, password),
                Some(StoredPassword::Md5(h)) => {
                    *h == Md5Hash::from_password(user.as_bytes(), password)
                }
                Some(StoredPassword::Scram(v)) => v.verify_password(password).is_ok(),
                Some(_) => false,
            };
            if !ok {
                return Err(wrong());
            }
            let text = std::str::from_utf8(password)
                .map_err(|_| AuthFailure::Protocol("password is not valid UTF-8".into()))?;
            Ok(Credentials::Password(text.to_owned()))
        }
        Method::Md5 => {
            let hash = match secret {
                Some(StoredPassword::Plain(p)) => Md5Hash::from_password(user.as_bytes(), p),
                Some(StoredPassword::Md5(h)) => h.clone(),
                _ => {
                    return Err(AuthFailure::NoSecret {
                        method: "md5",
                        user: user.to_owned(),
                    })
                }
            };
            let salt: [u8; 4] = rand::random();
            write::backend::authentication_md5_password(salt, &mut out);
            client.write_all(&out).await?;
            let body = read_password_message(client, cbuf).await?;
            let msg =
                PasswordMessage::parse(&body).map_err(|e| AuthFailure::Protocol(e.to_string()))?;
            hash.verify_response(salt, msg.password())
                .map_err(|_| wrong())?;
            Ok(credentials_from(secret))
        }
        Method::ScramSha256 => {
            let verifier = match secret {
                Some(StoredPassword::Plain(p)) => ScramVerifier::generate(p),
                Some(StoredPassword::Scram(v)) => v.clone(),
                _ => {
                    return Err(AuthFailure::NoSecret {
                        method: "SCRAM-SHA-256",
                        user: user.to_owned(),
                    })
                }
            };
            let mut server = ScramServer::new(verifier, &mut rand::thread_rng());
            write::backend::authentication_sasl(["SCRAM-SHA-256"], &mut out)
                .map_err(|e| AuthFailure::Protocol(e.to_string()))?;
            client.write_all(&out).await?;
            let body = read_password_message(client, cbuf).await?;
            let first = SaslInitialResponse::parse(&body)
                .map_err(|e| AuthFailure::Protocol(e.to_string()))?;
            if first.mechanism() != "SCRAM-SHA-256" {
                return Err(AuthFailure::Protocol(format!(
                    "unsupported SASL mechanism \"{}\"",
                    first.mechanism()
                )));
            }
            server
                .update(first.data().unwrap_or(&[]))
                .map_err(|e| AuthFailure::Protocol(e.to_string()))?;
            out.clear();
            write::backend::authentication_sasl_continue(server.message(), &mut out)
                .map_err(|e| AuthFailure::Protocol(e.to_string()))?;
            client.write_all(&out).await?;
            let body = read_password_message(client, cbuf).await?;
            let last =
                SaslResponse::parse(&body).map_err(|e| AuthFailure::Protocol(e.to_string()))?;
            server.finish(last.data()).map_err(|e| {
                if e.is_password_mismatch() {
                    wrong()
                } else {
                    AuthFailure::Protocol(e.to_string())
                }
            })?;
            out.clear();
            write::backend::authentication_sasl_final(server.message(), &mut out)
                .map_err(|e| AuthFailure::Protocol(e.to_string()))?;
            client.write_all(&out).await?;
            // With only a verifier in pool_passwd, the keys from the client's proof are what
            // corepool can present to backends holding the same verifier.
            match (secret, server.client_key()) {
                (Some(StoredPassword::Scram(v)), Some(key)) => Ok(Credentials::ScramKeys {
                    client_key: key.clone(),
                    server_key: *v.server_key(),
                }),
                _ => Ok(credentials_from(secret)),
            }
        }
    }
}

/// What pool_passwd lets corepool present to a backend.
fn credentials_from(secret: Option<&StoredPassword>) -> Credentials {
    match secret {
        Some(StoredPassword::Plain(p)) => match String::from_utf8(p.clone()) {
            Ok(s) => Credentials::Password(s),
            Err(_) => Credentials::None,
        },
        Some(StoredPassword::Md5(h)) => Credentials::Md5(h.clone()),
        _ => Credentials::None,
    }
}

/// Reads one PasswordMessage-family ('p') message; anything else is a protocol violation.
async fn read_password_message(
    client: &mut Stream,
    cbuf: &mut ReadBuf,
) -> Result<bytes::Bytes, AuthFailure> {
    loop {
        if let Some(h) =
            Header::parse(cbuf.pending()).map_err(|e| AuthFailure::Protocol(e.to_string()))?
        {
            if h.tag != PASSWORD_MESSAGE_TAG {
                return Err(AuthFailure::Protocol(format!(
                    "expected password response, got message type {}",
                    h.tag
                )));
            }
            if h.len > 10_000 {
                return Err(AuthFailure::Protocol(format!(
                    "password packet length {} is too long",
                    h.len
                )));
            }
            if cbuf.len() >= h.frame_len() {
                let frame = cbuf.split_frame(h.frame_len());
                return Ok(frame.slice(5..));
            }
        }
        if client.read_buf(cbuf).await? == 0 {
            return Err(AuthFailure::Io(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "client closed the connection",
            )));
        }
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
