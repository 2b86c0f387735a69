//! Tells a stored md5 hash, SCRAM verifier and plain-text password apart, as PostgreSQL does.

use std::fmt;

use super::md5::Md5Hash;
use super::scram::ScramVerifier;

/// A stored password, classified by PostgreSQL's rule (`get_password_type`): `md5` and 32
/// lowercase hex digits is an md5 hash, a well-formed `SCRAM-SHA-256$…` is a verifier, and
/// anything else is the password itself.
///
/// Every form is secret; `Debug` shows only which one it is.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum StoredPassword {
    /// An md5 hash; allows md5 authentication only.
    Md5(Md5Hash),
    /// A SCRAM-SHA-256 verifier; allows SCRAM authentication only.
    Scram(ScramVerifier),
    /// The password in plain text; allows either (a verifier can be built from it).
    Plain(Vec<u8>),
}

impl StoredPassword {
    /// Classifies `stored` as PostgreSQL would.
    pub fn classify(stored: &[u8]) -> StoredPassword {
        if let Ok(hash) = Md5Hash::parse(stored) {
            return StoredPassword::Md5(hash);
        }
        let verifier = std::str::from_utf8(stored)
            .ok()
            .and_then(|text| ScramVerifier::parse(text).ok());
        match verifier {
            Some(verifier) => StoredPassword::Scram(verifier),
            None => StoredPassword::Plain(stored.to_vec()),
        }
    }
}

impl fmt::Debug for StoredPassword {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoredPassword::Md5(hash) => f.debug_tuple("Md5").field(hash).finish(),
            StoredPassword::Scram(verifier) => f.debug_tuple("Scram").field(verifier).finish(),
            StoredPassword::Plain(_) => f.write_str("Plain(<redacted>)"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_like_postgres() {
        let md5 = b"md5cd3578025fe2c3d7ed1b9a9b26238b70";
        assert!(matches!(
            StoredPassword::classify(md5),
            StoredPassword::Md5(_)
        ));
        let scram = ScramVerifier::with_salt(b"pw", b"salt", 2).expect("valid count");
        assert_eq!(
            StoredPassword::classify(scram.to_string().as_bytes()),
            StoredPassword::Scram(scram)
        );
        // PostgreSQL's regression suite: these look like secrets but are not, so they are
        // passwords.
        for plain in [
            &b"SCRAM-SHA-256$1234"[..],
            b"md5012345678901234567890123456789zz",
            b"md501234567890123456789012345678901zz",
            b"\xff\xfe",
            b"secret",
        ] {
            assert_eq!(
                StoredPassword::classify(plain),
                StoredPassword::Plain(plain.to_vec())
            );
        }
    }

    #[test]
    fn debug_hides_plain_text() {
        let shown = format!("{:?}", StoredPassword::classify(b"hunter2"));
        assert!(!shown.contains("hunter2"));
    }
}
