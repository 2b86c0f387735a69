//! PCP's md5 login: the pcp.conf hash, the client's salted response, the server's check, and
//! the server's small login state machine. No I/O and no randomness: the caller draws the salt.
//!
//! With `hex(x)` the 32 lower-case hex digits of MD5(x): pcp.conf stores `hex(password)`;
//! the client answers the 4-byte salt with `hex(hex(hex(password) ++ user) ++ salt)`, with no
//! `md5` prefix (unlike PostgreSQL's md5 auth). The server computes the same from the pcp.conf
//! text, taken byte for byte as pgpool does.
//!
//! ```
//! use corepool_protocol::pcp::auth::{client_response, hash_password, verify_response};
//!
//! let stored = hash_password(b"secret"); // the pcp.conf line is "admin:<stored>"
//! assert_eq!(stored.as_str(), "5ebe2294ecd0e0f08eab7690d2a6ee69");
//! let salt = [0x97, 0x90, 0x43, 0xb4];
//! let response = client_response(b"admin", b"secret", salt);
//! assert!(verify_response(b"admin", stored.as_bytes(), salt, response.as_bytes()));
//! ```

use std::fmt;

use ::md5::{Digest, Md5};

use super::report::Report;
use super::request::MAX_USER_LEN;

/// 32 lower-case hex digits of an MD5 digest: a pcp.conf hash or a salted response. Both let
/// their holder log in, so `Debug` hides the digits.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Md5Hex([u8; 32]);

impl Md5Hex {
    /// Hashes the concatenation of `parts`.
    fn of(parts: &[&[u8]]) -> Md5Hex {
        let mut md5 = Md5::new();
        for part in parts {
            md5.update(part);
        }
        let digest: [u8; 16] = md5.finalize().into();
        let mut hex = [0u8; 32];
        for (pair, byte) in hex.chunks_exact_mut(2).zip(digest) {
            pair.copy_from_slice(&[HEX[usize::from(byte >> 4)], HEX[usize::from(byte & 15)]]);
        }
        Md5Hex(hex)
    }

    /// The hex digits as bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The hex digits as text.
    pub fn as_str(&self) -> &str {
        // Always ASCII hex digits, so the fallback is never taken.
        std::str::from_utf8(&self.0).unwrap_or_default()
    }
}

impl fmt::Debug for Md5Hex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Md5Hex(<redacted>)")
    }
}

/// Lower-case hex digits.
const HEX: &[u8; 16] = b"0123456789abcdef";

/// The pcp.conf form of `password`: `hex(password)`, what `pg_md5 password` prints.
pub fn hash_password(password: &[u8]) -> Md5Hex {
    Md5Hex::of(&[password])
}

/// The client's answer to `salt` from the clear-text password, as libpcp computes it.
pub fn client_response(user: &[u8], password: &[u8], salt: [u8; 4]) -> Md5Hex {
    response_from_hash(user, hash_password(password).as_bytes(), salt)
}

/// The answer to `salt` from a pcp.conf hash: `hex(hex(stored ++ user) ++ salt)`. `stored`
/// is used as given, as pgpool does (upper-case digits would simply never match).
pub fn response_from_hash(user: &[u8], stored: &[u8], salt: [u8; 4]) -> Md5Hex {
    let inner = Md5Hex::of(&[stored, user]);
    Md5Hex::of(&[inner.as_bytes(), &salt])
}

/// Whether `response` is the right answer to `salt` for `user` with pcp.conf hash `stored`.
/// Compares in constant time; anything but the exact 32 digits is wrong.
pub fn verify_response(user: &[u8], stored: &[u8], salt: [u8; 4], response: &[u8]) -> bool {
    let expected = response_from_hash(user, stored, salt);
    response.len() == expected.0.len()
        && response
            .iter()
            .zip(expected.0)
            .fold(0u8, |diff, (a, b)| diff | (a ^ b))
            == 0
}

/// The server side of a PCP session's login, as `pcp_worker.c` runs it: `M` issues a salt,
/// `R` checks the response against that salt and uses it up, and nothing else is served until
/// a login succeeds. Every failure is FATAL: send the [`Report`], then close.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServerAuth {
    /// The salt of the last `M`, until an `R` uses it up.
    salt: Option<[u8; 4]>,
    /// Whether an `R` has succeeded on this connection.
    authenticated: bool,
}

impl ServerAuth {
    /// A fresh connection: no salt, not logged in.
    pub fn new() -> ServerAuth {
        ServerAuth::default()
    }

    /// Records the salt the caller drew for an `M` (and sends with
    /// [`write_salt`](super::response::write_salt)). A later `M` replaces it.
    pub fn issue_salt(&mut self, salt: [u8; 4]) {
        self.salt = Some(salt);
    }

    /// Checks an `R`. `stored` yields the pcp.conf hashes of the lines whose user name is
    /// `user`, in file order; the first that verifies wins. On success the salt is used up
    /// and the caller sends [`write_authentication_ok`](super::response::write_authentication_ok).
    ///
    /// Errors, each FATAL, in pgpool's order: no salt issued (`authentication failed`), a user
    /// name over 127 bytes (`failed to authenticate PCP user`), no matching line
    /// (`authentication failed for user "<user>"`).
    pub fn authenticate<'h>(
        &mut self,
        user: &[u8],
        response: &[u8],
        stored: impl IntoIterator<Item = &'h [u8]>,
    ) -> Result<(), Report> {
        let salt = self.salt.take().ok_or_else(Report::authentication_failed)?;
        if user.len() > MAX_USER_LEN {
            return Err(Report::bad_authentication_packet());
        }
        if stored
            .into_iter()
            .any(|hash| verify_response(user, hash, salt, response))
        {
            self.authenticated = true;
            Ok(())
        } else {
            Err(Report::authentication_failed_for_user(user))
        }
    }

    /// Checks that a request with type byte `tag` may be served: `M` and `R` always, anything
    /// else only after a successful login (else FATAL `connection not authorized`).
    pub fn authorize(&self, tag: u8) -> Result<(), Report> {
        use super::tags::{AUTHENTICATE_TAG, SALT_REQUEST_TAG};
        if self.authenticated || tag == SALT_REQUEST_TAG || tag == AUTHENTICATE_TAG {
            Ok(())
        } else {
            Err(Report::not_authorized())
        }
    }

    /// Whether a login has succeeded on this connection.
    pub fn is_authenticated(&self) -> bool {
        self.authenticated
    }
}
