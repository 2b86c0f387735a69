//! The client side of SCRAM-SHA-256: the proxy logging into a backend.

use std::fmt;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;

use super::message::{parse_count, Parser};
use super::{
    decode_key, derive_keys, generate_nonce, hmac, is_valid_nonce, salted_password, scram_error,
    xor, ClientKey, ScramErrorKind, ScramMessage, KEY_LEN, MAX_CLIENT_ITERATIONS,
};
use crate::auth::{constant_time_eq, AuthError};

/// The gs2 header this client sends: no channel binding, no authorization identity.
const GS2_HEADER: &str = "n,,";

/// `c=` in client-final-message: base64 of [`GS2_HEADER`].
const CHANNEL_BINDING: &str = "biws";

/// A SCRAM-SHA-256 client exchange, driven by the caller:
///
/// 1. [`ScramSha256::new`]; send [`message`](ScramSha256::message) in `SASLInitialResponse`
///    with mechanism [`SCRAM_SHA_256`](super::SCRAM_SHA_256);
/// 2. [`update`](ScramSha256::update) with the body of `AuthenticationSASLContinue`; send
///    [`message`](ScramSha256::message) in `SASLResponse`;
/// 3. [`finish`](ScramSha256::finish) with the body of `AuthenticationSASLFinal`, which checks
///    the server's signature.
///
/// ```
/// use corepool_protocol::auth::{ScramServer, ScramSha256, ScramVerifier};
///
/// let verifier = ScramVerifier::with_salt(b"secret", b"salt", 16)?;
/// let mut server = ScramServer::new(verifier, &mut rand::thread_rng());
/// let mut client = ScramSha256::new(b"secret");
/// server.update(client.message())?;
/// client.update(server.message())?;
/// server.finish(client.message())?;
/// client.finish(server.message())?;
/// # Ok::<(), corepool_protocol::auth::AuthError>(())
/// ```
pub struct ScramSha256 {
    /// What to send next.
    message: Vec<u8>,
    /// Where the exchange is.
    state: State,
}

/// Where a client exchange is.
enum State {
    /// client-first sent; waiting for server-first.
    Update {
        /// Our nonce, which the server's must extend.
        nonce: String,
        /// client-first-message-bare, the start of AuthMessage.
        client_first_bare: Vec<u8>,
        /// How to compute the proof.
        credential: Credential,
    },
    /// client-final sent; waiting for server-final.
    Finish {
        /// The signature the server must send.
        server_signature: [u8; KEY_LEN],
    },
    /// Finished, successfully or not.
    Done,
}

/// What the client proves knowledge of.
enum Credential {
    /// The password; keys are derived with the server's salt and iteration count.
    Password(Vec<u8>),
    /// The keys themselves, learned from a client's proof (see the module docs).
    Keys {
        /// Proves the login.
        client_key: ClientKey,
        /// Checks the server's signature.
        server_key: [u8; KEY_LEN],
    },
}

impl ScramSha256 {
    /// Starts an exchange with a password and a random nonce. The password goes through
    /// SASLprep once the server's salt is known.
    pub fn new(password: &[u8]) -> ScramSha256 {
        let nonce = generate_nonce(&mut rand::thread_rng());
        Self::start("", nonce, Credential::Password(password.to_vec()))
    }

    /// Starts an exchange with a fixed nonce, for tests. The nonce must be printable ASCII
    /// without `,`.
    pub fn with_nonce(password: &[u8], nonce: &str) -> Result<ScramSha256, AuthError> {
        check_nonce(nonce)?;
        Ok(Self::start(
            "",
            nonce.to_owned(),
            Credential::Password(password.to_vec()),
        ))
    }

    /// Starts an exchange with the keys instead of the password: `client_key` recovered from a
    /// client's proof by [`ScramServer::client_key`](super::ScramServer::client_key), and the
    /// verifier's `server_key` to check the server's signature.
    ///
    /// This logs in only where the server's verifier has the same salt and iteration count as
    /// the one the key came from (the pass-through described in the module docs); otherwise the
    /// server rejects the proof.
    pub fn from_client_key(client_key: ClientKey, server_key: [u8; KEY_LEN]) -> ScramSha256 {
        let nonce = generate_nonce(&mut rand::thread_rng());
        Self::start(
            "",
            nonce,
            Credential::Keys {
                client_key,
                server_key,
            },
        )
    }

    /// Builds client-first-message. `user` is already a saslname (no `,` or `=`).
    fn start(user: &str, nonce: String, credential: Credential) -> ScramSha256 {
        let client_first_bare = format!("n={user},r={nonce}").into_bytes();
        let mut message = Vec::with_capacity(GS2_HEADER.len() + client_first_bare.len());
        message.extend_from_slice(GS2_HEADER.as_bytes());
        message.extend_from_slice(&client_first_bare);
        ScramSha256 {
            message,
            state: State::Update {
                nonce,
                client_first_bare,
                credential,
            },
        }
    }

    /// The message to send now: client-first-message after construction, client-final-message
    /// after [`update`](Self::update), nothing after [`finish`](Self::finish).
    pub fn message(&self) -> &[u8] {
        &self.message
    }

    /// Reads server-first-message (the body of `AuthenticationSASLContinue`) and prepares
    /// client-final-message.
    pub fn update(&mut self, server_first: &[u8]) -> Result<(), AuthError> {
        self.message.clear();
        let State::Update {
            nonce,
            client_first_bare,
            credential,
        } = std::mem::replace(&mut self.state, State::Done)
        else {
            return Err(AuthError::InvalidState { step: "update" });
        };
        let params = ServerFirst::parse(server_first, &nonce)?;
        let (client_key, server_key) = match credential {
            Credential::Password(password) => {
                derive_keys(&salted_password(&password, &params.salt, params.iterations))
            }
            Credential::Keys {
                client_key,
                server_key,
            } => (client_key, server_key),
        };

        let mut without_proof = format!("c={CHANNEL_BINDING},r=").into_bytes();
        without_proof.extend_from_slice(params.nonce);
        let auth_message: [&[u8]; 5] =
            [&client_first_bare, b",", server_first, b",", &without_proof];
        let client_signature = hmac(&client_key.stored_key(), &auth_message);
        let proof = xor(client_key.as_bytes(), &client_signature);
        let server_signature = hmac(&server_key, &auth_message);

        self.message = without_proof;
        self.message.extend_from_slice(b",p=");
        self.message
            .extend_from_slice(STANDARD.encode(proof).as_bytes());
        self.state = State::Finish { server_signature };
        Ok(())
    }

    /// Reads server-final-message (the body of `AuthenticationSASLFinal`) and checks the
    /// server's signature. `e=` from the server is [`AuthError::ServerRejected`]; a wrong
    /// signature is [`AuthError::ServerSignatureMismatch`].
    pub fn finish(&mut self, server_final: &[u8]) -> Result<(), AuthError> {
        self.message.clear();
        let State::Finish { server_signature } = std::mem::replace(&mut self.state, State::Done)
        else {
            return Err(AuthError::InvalidState { step: "finish" });
        };
        let message = ScramMessage::ServerFinal;
        let mut parser = Parser::new(server_final, message)?;
        if parser.peek() == Some(b'e') {
            let reason = parser.attribute(b'e')?;
            let reason = std::str::from_utf8(reason)
                .map_err(|_| scram_error(message, ScramErrorKind::InvalidUtf8))?;
            return Err(AuthError::ServerRejected {
                reason: reason.to_owned(),
            });
        }
        let verifier = decode_key(parser.attribute(b'v')?, message, 'v')?;
        parser.skip_extensions()?;
        if constant_time_eq(&verifier, &server_signature) {
            Ok(())
        } else {
            Err(AuthError::ServerSignatureMismatch)
        }
    }
}

impl fmt::Debug for ScramSha256 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match self.state {
            State::Update { .. } => "Update",
            State::Finish { .. } => "Finish",
            State::Done => "Done",
        };
        f.debug_struct("ScramSha256")
            .field("state", &state)
            .finish_non_exhaustive()
    }
}

/// The parts of server-first-message the client needs.
struct ServerFirst<'a> {
    /// Client nonce followed by the server's.
    nonce: &'a [u8],
    /// Salt for PBKDF2.
    salt: Vec<u8>,
    /// PBKDF2 rounds, within `1..=MAX_CLIENT_ITERATIONS`.
    iterations: u32,
}

impl<'a> ServerFirst<'a> {
    /// Parses `[m=…,]r=<nonce>,s=<salt>,i=<count>[,ext…]`, refusing `m=` and checking that the
    /// nonce extends `client_nonce`.
    fn parse(input: &'a [u8], client_nonce: &str) -> Result<ServerFirst<'a>, AuthError> {
        let message = ScramMessage::ServerFirst;
        let mut parser = Parser::new(input, message)?;
        if parser.peek() == Some(b'm') {
            return Err(parser.error(ScramErrorKind::MandatoryExtension));
        }
        let nonce = parser.attribute(b'r')?;
        if !is_valid_nonce(nonce) {
            return Err(parser.error(ScramErrorKind::InvalidNonce));
        }
        if nonce.len() <= client_nonce.len() || !nonce.starts_with(client_nonce.as_bytes()) {
            return Err(parser.error(ScramErrorKind::NonceMismatch));
        }
        parser.comma()?;
        let salt = STANDARD
            .decode(parser.attribute(b's')?)
            .map_err(|_| parser.error(ScramErrorKind::InvalidBase64 { attribute: 's' }))?;
        parser.comma()?;
        let count = parse_count(parser.attribute(b'i')?)
            .ok_or_else(|| parser.error(ScramErrorKind::InvalidIterationCount))?;
        let iterations = u32::try_from(count)
            .ok()
            .filter(|&n| (1..=MAX_CLIENT_ITERATIONS).contains(&n))
            .ok_or(AuthError::IterationCountOutOfRange {
                count,
                max: MAX_CLIENT_ITERATIONS,
            })?;
        parser.skip_extensions()?;
        Ok(ServerFirst {
            nonce,
            salt,
            iterations,
        })
    }
}

/// Fails unless `nonce` is printable ASCII without `,`.
fn check_nonce(nonce: &str) -> Result<(), AuthError> {
    if is_valid_nonce(nonce.as_bytes()) {
        Ok(())
    } else {
        Err(scram_error(
            ScramMessage::ClientFirst,
            ScramErrorKind::InvalidNonce,
        ))
    }
}

#[cfg(test)]
impl ScramSha256 {
    /// Starts an exchange that names `user` in client-first-message, as RFC 7677's example
    /// does (PostgreSQL clients leave it empty).
    pub(super) fn with_user_and_nonce(
        user: &str,
        password: &[u8],
        nonce: &str,
    ) -> Result<ScramSha256, AuthError> {
        check_nonce(nonce)?;
        Ok(Self::start(
            user,
            nonce.to_owned(),
            Credential::Password(password.to_vec()),
        ))
    }
}
