//! The server side of SCRAM-SHA-256: the proxy checking a connecting client.

use std::fmt;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use rand::{CryptoRng, RngCore};

use super::message::Parser;
use super::{
    decode_key, generate_nonce, hmac, is_valid_nonce, scram_error, sha256, xor, ClientKey,
    ScramErrorKind, ScramMessage, ScramVerifier,
};
use crate::auth::{constant_time_eq, AuthError};

/// A SCRAM-SHA-256 server exchange against a stored verifier, driven by the caller:
///
/// 1. [`ScramServer::new`]; send `AuthenticationSASL` listing
///    [`MECHANISMS`](super::MECHANISMS);
/// 2. [`update`](ScramServer::update) with the data of the client's `SASLInitialResponse`
///    (after checking its mechanism is [`SCRAM_SHA_256`](super::SCRAM_SHA_256)); send
///    [`message`](ScramServer::message) in `AuthenticationSASLContinue`;
/// 3. [`finish`](ScramServer::finish) with the body of the client's `SASLResponse`; on success
///    send [`message`](ScramServer::message) in `AuthenticationSASLFinal`, then
///    `AuthenticationOk`. [`AuthError::PasswordMismatch`] is the wrong password, SQLSTATE
///    28P01; any other error is a broken exchange.
///
/// As in PostgreSQL, the client's username in client-first-message is ignored, channel binding
/// is not offered (`p=` is refused, `y` accepted) and an authorization identity is refused.
/// (`y` means "I could bind, but you did not offer it": once `SCRAM-SHA-256-PLUS` is offered
/// over TLS, `y` must be refused as a downgrade, as PostgreSQL does.)
pub struct ScramServer {
    /// The stored secret the client's proof is checked against.
    verifier: ScramVerifier,
    /// What to send next.
    message: Vec<u8>,
    /// Where the exchange is.
    state: State,
    /// The client's `ClientKey`, known once its proof checked out.
    client_key: Option<ClientKey>,
}

/// Where a server exchange is.
enum State {
    /// Waiting for client-first.
    Update {
        /// The server's half of the nonce.
        server_nonce: String,
    },
    /// server-first sent; waiting for client-final.
    Finish {
        /// `client-first-message-bare "," server-first-message ","`: AuthMessage so far.
        auth_prefix: Vec<u8>,
        /// The combined nonce client-final must repeat.
        nonce: String,
        /// The `c=` value client-final must carry: base64 of the client's gs2 header.
        channel_binding: &'static [u8],
    },
    /// Finished, successfully or not.
    Done,
}

impl ScramServer {
    /// Starts an exchange against `verifier`, drawing the server nonce from `rng` (use a
    /// cryptographic generator such as `rand::thread_rng()`).
    pub fn new<R>(verifier: ScramVerifier, rng: &mut R) -> ScramServer
    where
        R: RngCore + CryptoRng + ?Sized,
    {
        Self::start(verifier, generate_nonce(rng))
    }

    /// Starts an exchange with a fixed server nonce, for tests. The nonce must be printable
    /// ASCII without `,`.
    pub fn with_nonce(verifier: ScramVerifier, nonce: &str) -> Result<ScramServer, AuthError> {
        if !is_valid_nonce(nonce.as_bytes()) {
            return Err(scram_error(
                ScramMessage::ServerFirst,
                ScramErrorKind::InvalidNonce,
            ));
        }
        Ok(Self::start(verifier, nonce.to_owned()))
    }

    /// The common constructor.
    fn start(verifier: ScramVerifier, server_nonce: String) -> ScramServer {
        ScramServer {
            verifier,
            message: Vec::new(),
            state: State::Update { server_nonce },
            client_key: None,
        }
    }

    /// The message to send now: nothing after construction, server-first-message after
    /// [`update`](Self::update), server-final-message after a successful
    /// [`finish`](Self::finish).
    pub fn message(&self) -> &[u8] {
        &self.message
    }

    /// The client's `ClientKey`, once [`finish`](Self::finish) has accepted its proof.
    ///
    /// With the verifier's `ServerKey` it lets the proxy log into a backend that holds the
    /// same verifier, through [`ScramSha256::from_client_key`](super::ScramSha256::from_client_key).
    /// It is as good as the password for that: keep it only as long as the pool needs it.
    pub fn client_key(&self) -> Option<&ClientKey> {
        self.client_key.as_ref()
    }

    /// The verifier this exchange checks against.
    pub fn verifier(&self) -> &ScramVerifier {
        &self.verifier
    }

    /// Reads client-first-message (the data of `SASLInitialResponse`) and prepares
    /// server-first-message.
    pub fn update(&mut self, client_first: &[u8]) -> Result<(), AuthError> {
        self.message.clear();
        let State::Update { server_nonce } = std::mem::replace(&mut self.state, State::Done) else {
            return Err(AuthError::InvalidState { step: "update" });
        };
        let mut parser = Parser::new(client_first, ScramMessage::ClientFirst)?;

        // gs2-header: cbind-flag "," [authzid] ","
        let channel_binding: &'static [u8] = match parser.next_byte()? {
            b'n' => b"biws",
            b'y' => b"eSws",
            b'p' => return Err(parser.error(ScramErrorKind::ChannelBindingUnsupported)),
            _ => return Err(parser.error(ScramErrorKind::InvalidChannelBindingFlag)),
        };
        parser.comma()?;
        if parser.peek() == Some(b'a') {
            return Err(parser.error(ScramErrorKind::AuthzidUnsupported));
        }
        parser.comma()?;

        // client-first-message-bare: [reserved-mext ","] username "," nonce ["," extensions]
        let bare_start = parser.position();
        if parser.peek() == Some(b'm') {
            return Err(parser.error(ScramErrorKind::MandatoryExtension));
        }
        parser.attribute(b'n')?;
        parser.comma()?;
        let client_nonce = parser.attribute(b'r')?;
        if !is_valid_nonce(client_nonce) {
            return Err(parser.error(ScramErrorKind::InvalidNonce));
        }
        parser.skip_extensions()?;
        let client_first_bare = parser.since(bare_start);

        // is_valid_nonce checked the client nonce is ASCII.
        let mut nonce = String::with_capacity(client_nonce.len() + server_nonce.len());
        nonce.extend(client_nonce.iter().map(|&b| char::from(b)));
        nonce.push_str(&server_nonce);
        let server_first = format!(
            "r={nonce},s={},i={}",
            STANDARD.encode(self.verifier.salt()),
            self.verifier.iterations()
        );

        let mut auth_prefix = Vec::with_capacity(client_first_bare.len() + server_first.len() + 2);
        auth_prefix.extend_from_slice(client_first_bare);
        auth_prefix.push(b',');
        auth_prefix.extend_from_slice(server_first.as_bytes());
        auth_prefix.push(b',');
        self.message = server_first.into_bytes();
        self.state = State::Finish {
            auth_prefix,
            nonce,
            channel_binding,
        };
        Ok(())
    }

    /// Reads client-final-message (the body of `SASLResponse`), checks the proof and prepares
    /// server-final-message (`v=<ServerSignature>`).
    ///
    /// A proof that does not match is [`AuthError::PasswordMismatch`].
    pub fn finish(&mut self, client_final: &[u8]) -> Result<(), AuthError> {
        self.message.clear();
        let State::Finish {
            auth_prefix,
            nonce,
            channel_binding,
        } = std::mem::replace(&mut self.state, State::Done)
        else {
            return Err(AuthError::InvalidState { step: "finish" });
        };
        let message = ScramMessage::ClientFinal;
        let mut parser = Parser::new(client_final, message)?;

        // channel-binding "," nonce ["," extensions] "," proof
        if parser.attribute(b'c')? != channel_binding {
            return Err(parser.error(ScramErrorKind::ChannelBindingMismatch));
        }
        parser.comma()?;
        if parser.attribute(b'r')? != nonce.as_bytes() {
            return Err(parser.error(ScramErrorKind::NonceMismatch));
        }
        let (proof, without_proof_end) = loop {
            let without_proof_end = parser.position();
            parser.comma()?;
            let (name, value) = parser.any_attribute()?;
            if name == b'p' {
                parser.end()?;
                break (decode_key(value, message, 'p')?, without_proof_end);
            }
        };
        let without_proof = client_final.get(..without_proof_end).unwrap_or_default();

        let auth_message: [&[u8]; 2] = [&auth_prefix, without_proof];
        let client_signature = hmac(self.verifier.stored_key(), &auth_message);
        let client_key = xor(&proof, &client_signature);
        if !constant_time_eq(&sha256(&client_key), self.verifier.stored_key()) {
            return Err(AuthError::PasswordMismatch);
        }
        let server_signature = hmac(self.verifier.server_key(), &auth_message);
        self.message = format!("v={}", STANDARD.encode(server_signature)).into_bytes();
        self.client_key = Some(ClientKey::from_bytes(client_key));
        Ok(())
    }
}

impl fmt::Debug for ScramServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match self.state {
            State::Update { .. } => "Update",
            State::Finish { .. } => "Finish",
            State::Done if self.client_key.is_some() => "Authenticated",
            State::Done => "Done",
        };
        f.debug_struct("ScramServer")
            .field("state", &state)
            .field("verifier", &self.verifier)
            .finish_non_exhaustive()
    }
}
