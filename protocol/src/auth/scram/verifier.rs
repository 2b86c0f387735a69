//! PostgreSQL's stored SCRAM-SHA-256 verifier: parse, format, generate, check a password.

use std::fmt;
use std::str::FromStr;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use rand::RngCore;

use super::message::parse_count;
use super::{
    derive_keys, salted_password, DEFAULT_ITERATIONS, DEFAULT_SALT_LEN, KEY_LEN, SCRAM_SHA_256,
};
use crate::auth::{constant_time_eq, AuthError};

/// The largest iteration count a stored verifier may carry: PostgreSQL keeps it in an `int`.
const MAX_VERIFIER_ITERATIONS: u32 = i32::MAX as u32;

/// A SCRAM-SHA-256 verifier as PostgreSQL stores it in `pg_authid.rolpassword`:
/// `SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>`, salt and keys in base64.
///
/// It holds no password, but the keys allow an offline guessing attack and `ServerKey` lets its
/// holder pose as the server, so `Debug` shows only the iteration count. `Display` writes the
/// stored form, for writing it back to `pg_authid` or `pool_passwd`, not for logs.
#[derive(Clone, PartialEq, Eq)]
pub struct ScramVerifier {
    /// PBKDF2 rounds; sent to the client, which must compute them.
    iterations: u32,
    /// Sent to the client in server-first-message.
    salt: Vec<u8>,
    /// `H(ClientKey)`: checks a client's proof.
    stored_key: [u8; KEY_LEN],
    /// Signs the exchange so the client knows the server holds this verifier.
    server_key: [u8; KEY_LEN],
}

impl ScramVerifier {
    /// Builds a verifier for `password` with a random 16-byte salt and 4,096 iterations, as
    /// PostgreSQL's `CREATE ROLE … PASSWORD` does with `password_encryption = scram-sha-256`.
    pub fn generate(password: &[u8]) -> ScramVerifier {
        let mut salt = [0u8; DEFAULT_SALT_LEN];
        rand::thread_rng().fill_bytes(&mut salt);
        Self::derive(password, &salt, DEFAULT_ITERATIONS)
    }

    /// Builds a verifier for `password` with the given salt and iteration count.
    ///
    /// The password goes through SASLprep first. Fails if `iterations` is zero or above
    /// `i32::MAX`.
    pub fn with_salt(
        password: &[u8],
        salt: &[u8],
        iterations: u32,
    ) -> Result<ScramVerifier, AuthError> {
        check_iterations(u64::from(iterations))?;
        Ok(Self::derive(password, salt, iterations))
    }

    /// Builds a verifier from its parts.
    pub fn from_parts(
        iterations: u32,
        salt: Vec<u8>,
        stored_key: [u8; KEY_LEN],
        server_key: [u8; KEY_LEN],
    ) -> Result<ScramVerifier, AuthError> {
        check_iterations(u64::from(iterations))?;
        Ok(ScramVerifier {
            iterations,
            salt,
            stored_key,
            server_key,
        })
    }

    /// Parses the stored form. The iteration count must be a positive decimal that fits an
    /// `int`; salt and keys strict base64, each key 32 bytes, as PostgreSQL's
    /// `parse_scram_secret` requires.
    pub fn parse(stored: &str) -> Result<ScramVerifier, AuthError> {
        let invalid = |reason| AuthError::InvalidVerifier { reason };
        let rest = stored
            .strip_prefix(SCRAM_SHA_256)
            .and_then(|rest| rest.strip_prefix('$'))
            .ok_or(invalid("does not start with \"SCRAM-SHA-256$\""))?;
        let (params, keys) = rest
            .split_once('$')
            .ok_or(invalid("missing '$' before the keys"))?;
        let (iterations, salt) = params
            .split_once(':')
            .ok_or(invalid("missing ':' between iteration count and salt"))?;
        let (stored_key, server_key) = keys
            .split_once(':')
            .ok_or(invalid("missing ':' between StoredKey and ServerKey"))?;

        let iterations =
            parse_count(iterations.as_bytes()).ok_or(invalid("iteration count is not a number"))?;
        let salt = STANDARD
            .decode(salt)
            .map_err(|_| invalid("salt is not valid base64"))?;
        let stored_key =
            decode_key(stored_key).ok_or(invalid("StoredKey is not 32 bytes of base64"))?;
        let server_key =
            decode_key(server_key).ok_or(invalid("ServerKey is not 32 bytes of base64"))?;
        Ok(ScramVerifier {
            iterations: check_iterations(iterations)?,
            salt,
            stored_key,
            server_key,
        })
    }

    /// The PBKDF2 iteration count.
    pub fn iterations(&self) -> u32 {
        self.iterations
    }

    /// The salt.
    pub fn salt(&self) -> &[u8] {
        &self.salt
    }

    /// `StoredKey = H(ClientKey)`.
    pub fn stored_key(&self) -> &[u8; KEY_LEN] {
        &self.stored_key
    }

    /// `ServerKey = HMAC(SaltedPassword, "Server Key")`.
    pub fn server_key(&self) -> &[u8; KEY_LEN] {
        &self.server_key
    }

    /// Checks a plain-text password against this verifier in constant time, as PostgreSQL's
    /// `scram_verify_plain_password` does for `password` authentication.
    pub fn verify_password(&self, password: &[u8]) -> Result<(), AuthError> {
        let candidate = Self::derive(password, &self.salt, self.iterations);
        let stored_ok = constant_time_eq(&candidate.stored_key, &self.stored_key);
        let server_ok = constant_time_eq(&candidate.server_key, &self.server_key);
        if stored_ok & server_ok {
            Ok(())
        } else {
            Err(AuthError::PasswordMismatch)
        }
    }

    /// Derives the keys; `iterations` has been checked.
    fn derive(password: &[u8], salt: &[u8], iterations: u32) -> ScramVerifier {
        let salted = salted_password(password, salt, iterations);
        let (client_key, server_key) = derive_keys(&salted);
        ScramVerifier {
            iterations,
            salt: salt.to_vec(),
            stored_key: client_key.stored_key(),
            server_key,
        }
    }
}

/// Accepts a count in `1..=i32::MAX`.
fn check_iterations(count: u64) -> Result<u32, AuthError> {
    u32::try_from(count)
        .ok()
        .filter(|&n| (1..=MAX_VERIFIER_ITERATIONS).contains(&n))
        .ok_or(AuthError::IterationCountOutOfRange {
            count,
            max: MAX_VERIFIER_ITERATIONS,
        })
}

/// Decodes a base64 key that must be exactly 32 bytes.
fn decode_key(text: &str) -> Option<[u8; KEY_LEN]> {
    let bytes = STANDARD.decode(text).ok()?;
    <[u8; KEY_LEN]>::try_from(bytes.as_slice()).ok()
}

impl FromStr for ScramVerifier {
    type Err = AuthError;

    fn from_str(stored: &str) -> Result<ScramVerifier, AuthError> {
        ScramVerifier::parse(stored)
    }
}

impl fmt::Display for ScramVerifier {
    /// Writes the stored form, `SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{SCRAM_SHA_256}${}:{}${}:{}",
            self.iterations,
            STANDARD.encode(&self.salt),
            STANDARD.encode(self.stored_key),
            STANDARD.encode(self.server_key)
        )
    }
}

impl fmt::Debug for ScramVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ScramVerifier")
            .field("iterations", &self.iterations)
            .field("salt_len", &self.salt.len())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// From PostgreSQL's regression suite (`src/test/regress/sql/password.sql`): a verifier
    /// PostgreSQL produced for the empty password, which the server recognises and refuses.
    /// Its salt is 12 bytes, not 16.
    const POSTGRES_EMPTY: &str = "SCRAM-SHA-256$4096:hpFyHTUsSWcR7O9P$\
        LgZFIt6Oqdo27ZFKbZ2nV+vtnYM995pDh9ca6WSi120=:qVV5NeluNfUPkwm7Vqat25RjSPLkGeoZBQs6wVv+um4=";

    /// RFC 7677's "pencil" with the RFC's salt, as PostgreSQL would store it.
    const PENCIL: &str = "SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ==$\
        WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=:wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=";

    #[test]
    fn postgres_verifier_parses_formats_and_verifies() {
        let verifier = ScramVerifier::parse(POSTGRES_EMPTY).expect("PostgreSQL's own verifier");
        assert_eq!(verifier.iterations(), 4096);
        assert_eq!(verifier.salt().len(), 12);
        assert_eq!(verifier.to_string(), POSTGRES_EMPTY);
        assert_eq!(verifier.verify_password(b""), Ok(()));
        assert_eq!(
            verifier.verify_password(b"x"),
            Err(AuthError::PasswordMismatch)
        );
    }

    #[test]
    fn derivation_matches_rfc_7677_keys() {
        let salt = STANDARD.decode("W22ZaJ0SNY7soEsUEjb6gQ==").expect("base64");
        let verifier = ScramVerifier::with_salt(b"pencil", &salt, 4096).expect("valid count");
        assert_eq!(verifier.to_string(), PENCIL);
        assert_eq!(PENCIL.parse::<ScramVerifier>(), Ok(verifier));
    }

    #[test]
    fn generate_uses_postgres_defaults() {
        let verifier = ScramVerifier::generate("pässword".as_bytes());
        assert_eq!(verifier.iterations(), DEFAULT_ITERATIONS);
        assert_eq!(verifier.salt().len(), DEFAULT_SALT_LEN);
        assert_eq!(verifier.verify_password("pässword".as_bytes()), Ok(()));
        let again = ScramVerifier::generate("pässword".as_bytes());
        assert_ne!(verifier.salt(), again.salt(), "salt is random");
        let text = verifier.to_string();
        assert_eq!(ScramVerifier::parse(&text), Ok(verifier));
    }

    #[test]
    fn saslprep_applies_before_hashing() {
        // U+00AD SOFT HYPHEN maps to nothing, so both spellings share a verifier.
        let a = ScramVerifier::with_salt("pen\u{ad}cil".as_bytes(), b"salt", 2);
        let b = ScramVerifier::with_salt(b"pencil", b"salt", 2);
        assert_eq!(a, b);
    }

    #[test]
    fn parse_rejects_malformed_verifiers() {
        let key = "WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=";
        let cases: &[String] = &[
            String::new(),
            "md5cd3578025fe2c3d7ed1b9a9b26238b70".into(),
            "SCRAM-SHA-256$1234".into(),
            format!("SCRAM-SHA-1$4096:c2FsdA==${key}:{key}"),
            format!("SCRAM-SHA-256$4096c2FsdA==${key}:{key}"),
            format!("SCRAM-SHA-256$4096:c2FsdA==${key}{key}"),
            format!("SCRAM-SHA-256$x:c2FsdA==${key}:{key}"),
            format!("SCRAM-SHA-256$-1:c2FsdA==${key}:{key}"),
            format!("SCRAM-SHA-256$4096:c2F!dA==${key}:{key}"),
            format!("SCRAM-SHA-256$4096:c2FsdA==$c2FsdA==:{key}"),
            format!("SCRAM-SHA-256$4096:c2FsdA==${key}:{key}AAAA"),
            format!("SCRAM-SHA-256$4096:c2FsdA==${key}:{key}$"),
        ];
        for case in cases {
            assert!(
                matches!(
                    ScramVerifier::parse(case),
                    Err(AuthError::InvalidVerifier { .. })
                ),
                "{case:?}"
            );
        }
        for count in ["0", "2147483648", "99999999999"] {
            let case = format!("SCRAM-SHA-256${count}:c2FsdA==${key}:{key}");
            assert!(
                matches!(
                    ScramVerifier::parse(&case),
                    Err(AuthError::IterationCountOutOfRange { .. })
                ),
                "{case}"
            );
        }
        assert!(ScramVerifier::with_salt(b"p", b"s", 0).is_err());
    }

    #[test]
    fn debug_hides_keys() {
        let verifier = ScramVerifier::parse(PENCIL).expect("valid");
        let shown = format!("{verifier:?}");
        assert!(!shown.contains("WG5d8o") && !shown.contains("wfPLwc"));
        assert!(shown.contains("4096"));
    }
}
