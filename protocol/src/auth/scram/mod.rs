//! SCRAM-SHA-256 (RFC 5802, RFC 7677) as PostgreSQL speaks it: key derivation and shared types.
//!
//! PostgreSQL's flavour of SCRAM:
//! - the mechanism is `SCRAM-SHA-256`; channel binding (`SCRAM-SHA-256-PLUS`) is not offered
//!   here, so a client's gs2 header is `n,,` or `y,,`, and `p=…` is refused;
//! - the username in client-first-message is ignored (the startup packet's `user` counts), and
//!   libpq sends it empty (`n=`);
//! - nonces are printable ASCII without `,`;
//! - passwords go through SASLprep (RFC 4013); if that fails, the raw bytes are used;
//! - the server stores a verifier, not the password: [`ScramVerifier`].
//!
//! The keys, from RFC 5802 §3:
//!
//! ```text
//! SaltedPassword  := Hi(Normalize(password), salt, i)        (PBKDF2-HMAC-SHA-256)
//! ClientKey       := HMAC(SaltedPassword, "Client Key")
//! StoredKey       := H(ClientKey)
//! ServerKey       := HMAC(SaltedPassword, "Server Key")
//! AuthMessage     := client-first-message-bare + "," + server-first-message + "," +
//!                    client-final-message-without-proof
//! ClientSignature := HMAC(StoredKey, AuthMessage)
//! ClientProof     := ClientKey XOR ClientSignature
//! ServerSignature := HMAC(ServerKey, AuthMessage)
//! ```
//!
//! # Passing credentials through the proxy
//!
//! A proxy that holds only the verifier cannot compute a proof for the backend: that takes
//! `ClientKey`, and the verifier holds `H(ClientKey)`. But once a client's proof checks out, the
//! proxy knows `ClientKey = ClientProof XOR ClientSignature` for this login. When the proxy's
//! verifier is the backend's own (same salt and iteration count, as with PgBouncer's
//! `auth_query` or a `pool_passwd` copied from `pg_authid`), that `ClientKey` logs into the
//! backend too: [`ScramServer::client_key`] hands it out and [`ScramSha256::from_client_key`]
//! uses it, with the verifier's `ServerKey` to check the backend's signature. This is how
//! PgBouncer and Pgpool-II forward SCRAM logins without knowing the password.

mod client;
mod message;
mod server;
mod verifier;

#[cfg(test)]
mod exchange_tests;

use std::borrow::Cow;
use std::fmt;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use hmac::digest::Key;
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::{Digest, Sha256};

pub use self::client::ScramSha256;
pub use self::server::ScramServer;
pub use self::verifier::ScramVerifier;

use super::AuthError;

/// The SASL mechanism name PostgreSQL offers in `AuthenticationSASL`.
pub const SCRAM_SHA_256: &str = "SCRAM-SHA-256";

/// The mechanisms a server side built on this crate offers in `AuthenticationSASL`.
pub const MECHANISMS: &[&str] = &[SCRAM_SHA_256];

/// PostgreSQL's default iteration count (`scram_iterations`).
pub const DEFAULT_ITERATIONS: u32 = 4096;

/// PostgreSQL's salt length for new verifiers, in bytes.
pub const DEFAULT_SALT_LEN: usize = 16;

/// The largest iteration count a client here will compute.
///
/// A server choosing the count makes the client run that many HMACs; without a bound a hostile
/// or misconfigured backend could pin a core. PostgreSQL's default is 4,096; ten million takes
/// seconds.
pub const MAX_CLIENT_ITERATIONS: u32 = 10_000_000;

/// Length of SHA-256 output, and so of every key, signature and proof.
const KEY_LEN: usize = 32;

/// Raw bytes of a generated nonce; base64 makes 24 printable characters, as libpq does.
const RAW_NONCE_LEN: usize = 18;

/// Picks the mechanism to use from those a server offers in `AuthenticationSASL`.
///
/// Only `SCRAM-SHA-256` is spoken here; `SCRAM-SHA-256-PLUS` needs channel binding.
pub fn select_mechanism<'a, I>(offered: I) -> Result<&'static str, AuthError>
where
    I: IntoIterator<Item = &'a str>,
{
    offered
        .into_iter()
        .find(|&name| name == SCRAM_SHA_256)
        .map(|_| SCRAM_SHA_256)
        .ok_or(AuthError::UnsupportedMechanism)
}

/// A SCRAM `ClientKey`: `HMAC(SaltedPassword, "Client Key")`.
///
/// It is enough to log in as the user against any server holding the matching verifier, so
/// `Debug` never shows it. See the module docs for why the proxy handles one.
#[derive(Clone, PartialEq, Eq)]
pub struct ClientKey([u8; KEY_LEN]);

impl ClientKey {
    /// Wraps the 32 raw bytes of a `ClientKey`.
    pub fn from_bytes(bytes: [u8; KEY_LEN]) -> ClientKey {
        ClientKey(bytes)
    }

    /// The 32 raw bytes.
    pub fn as_bytes(&self) -> &[u8; KEY_LEN] {
        &self.0
    }

    /// `StoredKey = H(ClientKey)`, what a verifier holds.
    pub fn stored_key(&self) -> [u8; KEY_LEN] {
        sha256(&self.0)
    }
}

impl fmt::Debug for ClientKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ClientKey(<redacted>)")
    }
}

/// Which message of a SCRAM exchange an error is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ScramMessage {
    /// The client's first message (`n,,n=,r=…`), in `SASLInitialResponse`.
    ClientFirst,
    /// The server's first message (`r=…,s=…,i=…`), in `AuthenticationSASLContinue`.
    ServerFirst,
    /// The client's final message (`c=…,r=…,p=…`), in `SASLResponse`.
    ClientFinal,
    /// The server's final message (`v=…` or `e=…`), in `AuthenticationSASLFinal`.
    ServerFinal,
}

impl fmt::Display for ScramMessage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ScramMessage::ClientFirst => "client-first-message",
            ScramMessage::ServerFirst => "server-first-message",
            ScramMessage::ClientFinal => "client-final-message",
            ScramMessage::ServerFinal => "server-final-message",
        })
    }
}

/// What was wrong with a SCRAM message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ScramErrorKind {
    /// The message was empty.
    #[error("empty message")]
    Empty,
    /// The message contained a NUL byte (PostgreSQL reads it as a C string).
    #[error("message contains a NUL byte")]
    NulByte,
    /// The message ended where more was required.
    #[error("message ends too early")]
    UnexpectedEnd,
    /// A different attribute, or no attribute, where `expected=` was required.
    #[error("expected attribute '{expected}'")]
    ExpectedAttribute {
        /// The attribute name that was required.
        expected: char,
    },
    /// Something other than `,` followed an attribute value.
    #[error("expected ','")]
    ExpectedComma,
    /// An attribute name was not a single ASCII letter followed by `=`.
    #[error("malformed attribute")]
    MalformedAttribute,
    /// Bytes followed the last attribute.
    #[error("garbage after the last attribute")]
    TrailingData,
    /// The gs2 channel-binding flag was not `n`, `y` or `p`.
    #[error("invalid channel-binding flag")]
    InvalidChannelBindingFlag,
    /// The client asked for channel binding (`p=…`), which is not offered.
    #[error("channel binding is not supported")]
    ChannelBindingUnsupported,
    /// The client-final `c=` does not encode the gs2 header of the client-first-message.
    #[error("channel-binding data does not match the gs2 header")]
    ChannelBindingMismatch,
    /// The client named an authorization identity (`a=…`), which PostgreSQL does not support.
    #[error("authorization identity is not supported")]
    AuthzidUnsupported,
    /// A mandatory extension (`m=…`) was required.
    #[error("mandatory extension is not supported")]
    MandatoryExtension,
    /// A nonce was empty or not printable ASCII without ','.
    #[error("nonce is empty or not printable ASCII")]
    InvalidNonce,
    /// The server nonce does not extend the client's, or the client-final nonce is not the
    /// combined one.
    #[error("nonce does not match the one of the exchange")]
    NonceMismatch,
    /// An attribute was not valid base64.
    #[error("attribute '{attribute}' is not valid base64")]
    InvalidBase64 {
        /// The attribute name.
        attribute: char,
    },
    /// A proof or signature did not decode to 32 bytes.
    #[error("attribute '{attribute}' does not decode to 32 bytes")]
    InvalidKeyLength {
        /// The attribute name.
        attribute: char,
    },
    /// The iteration count was not a decimal number.
    #[error("iteration count is not a number")]
    InvalidIterationCount,
    /// The server's error value was not UTF-8.
    #[error("error value is not UTF-8")]
    InvalidUtf8,
}

/// Shorthand for a malformed-message error.
fn scram_error(message: ScramMessage, kind: ScramErrorKind) -> AuthError {
    AuthError::Scram { message, kind }
}

/// SASLprep (RFC 4013) of a password, falling back to the raw bytes as PostgreSQL's
/// `pg_saslprep` callers do when the password is not UTF-8 or not valid for SASLprep.
fn normalize(password: &[u8]) -> Cow<'_, [u8]> {
    match std::str::from_utf8(password).map(stringprep::saslprep) {
        Ok(Ok(Cow::Borrowed(prepared))) => Cow::Borrowed(prepared.as_bytes()),
        Ok(Ok(Cow::Owned(prepared))) => Cow::Owned(prepared.into_bytes()),
        Ok(Err(_)) | Err(_) => Cow::Borrowed(password),
    }
}

/// `SaltedPassword := Hi(Normalize(password), salt, i)`. Callers bound `iterations`.
fn salted_password(password: &[u8], salt: &[u8], iterations: u32) -> [u8; KEY_LEN] {
    let mut out = [0u8; KEY_LEN];
    pbkdf2::pbkdf2_hmac::<Sha256>(&normalize(password), salt, iterations, &mut out);
    out
}

/// HMAC-SHA-256 with a 32-byte key over the concatenation of `parts`.
fn hmac(key: &[u8; KEY_LEN], parts: &[&[u8]]) -> [u8; KEY_LEN] {
    // A key shorter than the 64-byte block is zero-padded by HMAC's definition; padding it
    // here makes the infallible constructor usable.
    let mut block = Key::<Hmac<Sha256>>::default();
    block[..KEY_LEN].copy_from_slice(key);
    let mut mac = <Hmac<Sha256> as hmac::digest::KeyInit>::new(&block);
    for part in parts {
        mac.update(part);
    }
    mac.finalize().into_bytes().into()
}

/// SHA-256.
fn sha256(data: &[u8]) -> [u8; KEY_LEN] {
    Sha256::digest(data).into()
}

/// `(ClientKey, ServerKey)` from a salted password.
fn derive_keys(salted: &[u8; KEY_LEN]) -> (ClientKey, [u8; KEY_LEN]) {
    (
        ClientKey(hmac(salted, &[b"Client Key"])),
        hmac(salted, &[b"Server Key"]),
    )
}

/// Byte-wise XOR of two keys.
fn xor(a: &[u8; KEY_LEN], b: &[u8; KEY_LEN]) -> [u8; KEY_LEN] {
    let mut out = [0u8; KEY_LEN];
    for (o, (x, y)) in out.iter_mut().zip(a.iter().zip(b)) {
        *o = x ^ y;
    }
    out
}

/// Whether `nonce` is a valid SCRAM nonce: non-empty printable ASCII without `,`.
fn is_valid_nonce(nonce: &[u8]) -> bool {
    !nonce.is_empty()
        && nonce
            .iter()
            .all(|&b| (0x21..=0x7e).contains(&b) && b != b',')
}

/// A fresh random nonce: 18 random bytes in base64, printable and without `,`.
fn generate_nonce<R: RngCore + ?Sized>(rng: &mut R) -> String {
    let mut raw = [0u8; RAW_NONCE_LEN];
    rng.fill_bytes(&mut raw);
    STANDARD.encode(raw)
}

/// Decodes a base64 attribute value that must hold exactly 32 bytes.
fn decode_key(
    value: &[u8],
    message: ScramMessage,
    attribute: char,
) -> Result<[u8; KEY_LEN], AuthError> {
    let bytes = STANDARD
        .decode(value)
        .map_err(|_| scram_error(message, ScramErrorKind::InvalidBase64 { attribute }))?;
    <[u8; KEY_LEN]>::try_from(bytes.as_slice())
        .map_err(|_| scram_error(message, ScramErrorKind::InvalidKeyLength { attribute }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn select_mechanism_prefers_plain_scram() {
        assert_eq!(
            select_mechanism(["SCRAM-SHA-256-PLUS", "SCRAM-SHA-256"]),
            Ok(SCRAM_SHA_256)
        );
        assert_eq!(
            select_mechanism(["SCRAM-SHA-256-PLUS"]),
            Err(AuthError::UnsupportedMechanism)
        );
        assert_eq!(select_mechanism([]), Err(AuthError::UnsupportedMechanism));
    }

    #[test]
    fn saslprep_maps_and_falls_back() {
        // ASCII stays as is.
        assert_eq!(&*normalize(b"pencil"), b"pencil");
        // U+00A0 NO-BREAK SPACE maps to a space; U+00AD SOFT HYPHEN maps to nothing.
        assert_eq!(&*normalize("a\u{a0}b\u{ad}c".as_bytes()), b"a bc");
        // NFKC: U+2168 ROMAN NUMERAL NINE becomes "IX".
        assert_eq!(&*normalize("\u{2168}".as_bytes()), b"IX");
        // Not UTF-8: raw bytes.
        assert_eq!(&*normalize(b"\xff\xfe"), b"\xff\xfe");
        // Prohibited (a control character): raw bytes, as PostgreSQL does.
        assert_eq!(&*normalize(b"a\x07b"), b"a\x07b");
    }

    #[test]
    fn nonce_validation() {
        assert!(is_valid_nonce(
            b"rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0"
        ));
        assert!(!is_valid_nonce(b""));
        assert!(!is_valid_nonce(b"a,b"));
        assert!(!is_valid_nonce(b"a b"));
        assert!(!is_valid_nonce(b"a\x7fb"));
        assert!(!is_valid_nonce("é".as_bytes()));
        let nonce = generate_nonce(&mut rand::thread_rng());
        assert_eq!(nonce.len(), 24);
        assert!(is_valid_nonce(nonce.as_bytes()));
    }

    #[test]
    fn hmac_matches_the_variable_key_api() {
        let key = [7u8; KEY_LEN];
        let mut reference =
            <Hmac<Sha256> as Mac>::new_from_slice(&key).expect("HMAC takes any key length");
        reference.update(b"Client Key");
        let expected: [u8; KEY_LEN] = reference.finalize().into_bytes().into();
        assert_eq!(hmac(&key, &[b"Client ", b"Key"]), expected);
    }
}
