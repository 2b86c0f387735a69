//! PostgreSQL's `md5` password scheme: the stored hash, the salted response and its check.
//!
//! PostgreSQL stores `"md5" + hex(md5(password ++ username))` and, for `AuthenticationMD5Password`
//! with a 4-byte salt, expects the client to answer `"md5" + hex(md5(hex_part ++ salt))`, where
//! `hex_part` is the stored hash without its `md5` prefix. So the stored hash is enough to answer
//! the challenge: it is as secret as the password itself, and [`Md5Hash`]'s `Debug` hides it.
//!
//! ```
//! use corepool_protocol::auth::md5::Md5Hash;
//!
//! let stored = Md5Hash::from_password(b"alice", b"secret");
//! let salt = [1, 2, 3, 4];
//! let response = stored.client_response(salt);
//! assert!(stored.verify_response(salt, response.as_bytes()).is_ok());
//! ```

use std::fmt;

use ::md5::{Digest, Md5};

use super::{constant_time_eq, AuthError};

/// The prefix of a stored md5 hash and of a client's md5 response.
pub const MD5_PREFIX: &str = "md5";

/// Length of a stored hash or a response: `md5` and 32 hex digits.
const MD5_TEXT_LEN: usize = 3 + 32;

/// A stored md5 password hash, `md5` followed by 32 lowercase hex digits.
///
/// Knowing it is enough to log in with md5, so `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct Md5Hash {
    /// The stored form, always `MD5_TEXT_LEN` ASCII bytes.
    text: String,
}

/// A client's answer to `AuthenticationMD5Password`: `md5` followed by 32 lowercase hex digits,
/// sent as the body of a `PasswordMessage` (without its terminating NUL).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Md5Response([u8; MD5_TEXT_LEN]);

impl Md5Hash {
    /// Computes the stored hash of `password` for `user`, as `CREATE ROLE … PASSWORD` does with
    /// `password_encryption = md5`.
    pub fn from_password(user: &[u8], password: &[u8]) -> Md5Hash {
        let mut md5 = Md5::new();
        md5.update(password);
        md5.update(user);
        let text = prefixed_hex(&md5.finalize().into());
        Md5Hash {
            text: text.iter().map(|&b| char::from(b)).collect(),
        }
    }

    /// Parses a stored hash: exactly `md5` and 32 lowercase hex digits, the test PostgreSQL's
    /// `get_password_type` applies (anything else is a plain-text password there).
    pub fn parse(stored: &[u8]) -> Result<Md5Hash, AuthError> {
        let digits = stored
            .strip_prefix(MD5_PREFIX.as_bytes())
            .filter(|digits| digits.len() == 32)
            .ok_or(AuthError::InvalidMd5Hash)?;
        if !digits
            .iter()
            .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
        {
            return Err(AuthError::InvalidMd5Hash);
        }
        Ok(Md5Hash {
            text: stored.iter().map(|&b| char::from(b)).collect(),
        })
    }

    /// The stored form, `md5` and 32 hex digits, as PostgreSQL keeps it in `pg_authid` and
    /// Pgpool-II in `pool_passwd`. It is a secret: do not log it.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The response to an `AuthenticationMD5Password` challenge with `salt`.
    pub fn client_response(&self, salt: [u8; 4]) -> Md5Response {
        let mut md5 = Md5::new();
        md5.update(&self.text.as_bytes()[MD5_PREFIX.len()..]);
        md5.update(salt);
        Md5Response(prefixed_hex(&md5.finalize().into()))
    }

    /// Checks a client's response to a challenge with `salt`, in constant time.
    ///
    /// Anything but the exact expected response, including a malformed one, is
    /// [`AuthError::PasswordMismatch`], as in PostgreSQL's `md5_crypt_verify`.
    pub fn verify_response(&self, salt: [u8; 4], response: &[u8]) -> Result<(), AuthError> {
        let expected = self.client_response(salt);
        if constant_time_eq(&expected.0, response) {
            Ok(())
        } else {
            Err(AuthError::PasswordMismatch)
        }
    }
}

impl fmt::Debug for Md5Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Md5Hash(<redacted>)")
    }
}

impl Md5Response {
    /// The response bytes: `md5` and 32 lowercase hex digits.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for Md5Response {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Md5Response(<redacted>)")
    }
}

/// The response to a challenge with `salt` from the plain password, as libpq computes it.
pub fn client_response(user: &[u8], password: &[u8], salt: [u8; 4]) -> Md5Response {
    Md5Hash::from_password(user, password).client_response(salt)
}

/// Checks a client's response against a plain-text stored password, in constant time.
pub fn verify_response_with_password(
    user: &[u8],
    password: &[u8],
    salt: [u8; 4],
    response: &[u8],
) -> Result<(), AuthError> {
    Md5Hash::from_password(user, password).verify_response(salt, response)
}

/// `md5` followed by the lowercase hex digits of `digest`.
fn prefixed_hex(digest: &[u8; 16]) -> [u8; MD5_TEXT_LEN] {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut out = [0u8; MD5_TEXT_LEN];
    out[..3].copy_from_slice(MD5_PREFIX.as_bytes());
    for (pair, byte) in out[3..].chunks_exact_mut(2).zip(digest) {
        pair[0] = HEX[usize::from(byte >> 4)];
        pair[1] = HEX[usize::from(byte & 0x0f)];
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Hashes PostgreSQL's own regression suite stores (`src/test/regress/sql/password.sql`):
    /// `ALTER ROLE regress_passwd1 PASSWORD 'md5cd35…'` is 'foo' for that role, and so on.
    const POSTGRES_HASHES: &[(&str, &str, &str)] = &[
        (
            "regress_passwd1",
            "foo",
            "md5cd3578025fe2c3d7ed1b9a9b26238b70",
        ),
        (
            "regress_passwd5",
            "foo",
            "md5e73a4b11df52a6068f8b39f90be36023",
        ),
        (
            "regress_passwd_empty",
            "",
            "md585939a5ce845f1a1b620742e3c659e0a",
        ),
    ];

    #[test]
    fn stored_hash_matches_postgres() {
        for &(user, password, stored) in POSTGRES_HASHES {
            let hash = Md5Hash::from_password(user.as_bytes(), password.as_bytes());
            assert_eq!(hash.as_str(), stored, "{user}");
            assert_eq!(Md5Hash::parse(stored.as_bytes()), Ok(hash));
        }
    }

    #[test]
    fn response_follows_the_two_step_formula() {
        // Computed step by step: md5 over the stored hex digits (without "md5") ++ salt.
        let salt = [0x01, 0x02, 0x03, 0x04];
        let inner = "cd3578025fe2c3d7ed1b9a9b26238b70";
        let mut md5 = Md5::new();
        md5.update(inner.as_bytes());
        md5.update(salt);
        let digest: [u8; 16] = md5.finalize().into();
        let expected: String = std::iter::once("md5".to_owned())
            .chain(digest.iter().map(|b| format!("{b:02x}")))
            .collect();

        let response = client_response(b"regress_passwd1", b"foo", salt);
        assert_eq!(response.as_bytes(), expected.as_bytes());
        let from_hash = Md5Hash::parse(b"md5cd3578025fe2c3d7ed1b9a9b26238b70")
            .map(|hash| hash.client_response(salt));
        assert_eq!(from_hash, Ok(response));
    }

    #[test]
    fn verify_accepts_right_and_rejects_wrong() {
        let salt = [9, 8, 7, 6];
        let hash = Md5Hash::from_password(b"bob", b"hunter2");
        let good = hash.client_response(salt);
        assert_eq!(hash.verify_response(salt, good.as_bytes()), Ok(()));
        assert_eq!(
            verify_response_with_password(b"bob", b"hunter2", salt, good.as_bytes()),
            Ok(())
        );
        let wrong = client_response(b"bob", b"hunter3", salt);
        assert_eq!(
            hash.verify_response(salt, wrong.as_bytes()),
            Err(AuthError::PasswordMismatch)
        );
        // Same password, other salt: a replayed response fails.
        assert_eq!(
            hash.verify_response([0, 0, 0, 0], good.as_bytes()),
            Err(AuthError::PasswordMismatch)
        );
        for bad in [&b""[..], b"md5", &good.as_bytes()[..34], b"md5\xff\x00"] {
            assert_eq!(
                hash.verify_response(salt, bad),
                Err(AuthError::PasswordMismatch)
            );
        }
    }

    #[test]
    fn parse_rejects_what_postgres_treats_as_plain_text() {
        for bad in [
            &b""[..],
            b"md5",
            b"md5CD3578025FE2C3D7ED1B9A9B26238B70",
            b"md5cd3578025fe2c3d7ed1b9a9b26238b7",
            b"md5cd3578025fe2c3d7ed1b9a9b26238b700",
            b"md6cd3578025fe2c3d7ed1b9a9b26238b70",
            b"md5cd3578025fe2c3d7ed1b9a9b26238bzz",
        ] {
            assert_eq!(Md5Hash::parse(bad), Err(AuthError::InvalidMd5Hash));
        }
    }

    #[test]
    fn debug_hides_the_hash() {
        let hash = Md5Hash::from_password(b"u", b"p");
        let response = hash.client_response([1, 2, 3, 4]);
        let shown = format!("{hash:?} {response:?}");
        assert!(!shown.contains(&hash.as_str()[3..]));
        assert!(shown.contains("redacted"));
    }
}
