//! The pool key: user, database and the startup parameters, order-insensitive.

use std::fmt;
use std::sync::Arc;

/// Identifies which cached backend connections a client may reuse.
///
/// Like Pgpool-II, two startup packets match only when user, database and every other startup
/// parameter are equal, ignoring their order (pgpool sorts them before comparing). The key is one
/// canonical byte string, so hashing and comparing it is a single memcmp.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct PoolKey(Arc<[u8]>);

impl PoolKey {
    /// Builds the key from the user, database and the other startup parameters.
    pub fn new(user: &str, database: &str, params: &[(&str, &str)]) -> Self {
        let mut sorted: Vec<&(&str, &str)> = params
            .iter()
            .filter(|(k, _)| *k != "user" && *k != "database")
            .collect();
        sorted.sort_unstable();
        let mut bytes = Vec::with_capacity(64);
        for part in [user, database] {
            bytes.extend_from_slice(part.as_bytes());
            bytes.push(0);
        }
        for (k, v) in sorted {
            bytes.extend_from_slice(k.as_bytes());
            bytes.push(0);
            bytes.extend_from_slice(v.as_bytes());
            bytes.push(0);
        }
        Self(bytes.into())
    }

    /// The user part.
    pub fn user(&self) -> &str {
        self.part(0)
    }

    /// The database part.
    pub fn database(&self) -> &str {
        self.part(1)
    }

    fn part(&self, n: usize) -> &str {
        self.0
            .split(|b| *b == 0)
            .nth(n)
            .and_then(|p| std::str::from_utf8(p).ok())
            .unwrap_or("")
    }
}

impl fmt::Debug for PoolKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PoolKey({}@{})", self.user(), self.database())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameter_order_does_not_matter_but_values_do() {
        let a = PoolKey::new(
            "u",
            "d",
            &[("application_name", "x"), ("client_encoding", "UTF8")],
        );
        let b = PoolKey::new(
            "u",
            "d",
            &[("client_encoding", "UTF8"), ("application_name", "x")],
        );
        let c = PoolKey::new(
            "u",
            "d",
            &[("client_encoding", "UTF8"), ("application_name", "y")],
        );
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_eq!(a.user(), "u");
        assert_eq!(a.database(), "d");
    }

    #[test]
    fn user_and_database_cannot_bleed_into_each_other() {
        assert_ne!(PoolKey::new("ab", "c", &[]), PoolKey::new("a", "bc", &[]));
    }
}
