//! The named statements a pooled backend has prepared, by what they are (query text and
//! parameter types), under names of corepool's own (`__cp1`, `__cp2`, …) — so any client
//! whose statement is the same text finds it, whatever the client called it. At most
//! `max_prepared_statements` are kept; the least recently used goes first.

use std::collections::HashMap;
use std::rc::Rc;

/// What a statement is: its Parse body after the name (query text, NUL, parameter types),
/// compared whole (never by a hash alone: a collision would run another statement).
pub type Definition = Rc<[u8]>;

/// One backend's prepared statements.
#[derive(Debug, Default, Clone)]
pub struct BackendStatements {
    by_signature: HashMap<Definition, Entry>,
    next_name: u64,
    clock: u64,
    /// Statements prepared on this backend again for a client that had them elsewhere.
    pub re_prepared: u64,
}

#[derive(Debug, Clone)]
struct Entry {
    name: String,
    last_use: u64,
}

impl BackendStatements {
    /// The backend's name for the statement, touching it (most recently used).
    pub fn lookup(&mut self, signature: &Definition) -> Option<&str> {
        self.clock += 1;
        let now = self.clock;
        self.by_signature.get_mut(signature).map(|e| {
            e.last_use = now;
            e.name.as_str()
        })
    }

    /// Records a statement about to be prepared and returns its name, and the name of the one
    /// to close first when the backend already holds `max`.
    pub fn add(&mut self, signature: Definition, max: usize) -> (String, Option<String>) {
        let evicted = if self.by_signature.len() >= max.max(1) {
            let oldest = self
                .by_signature
                .iter()
                .min_by_key(|(_, e)| e.last_use)
                .map(|(s, _)| s.clone());
            oldest
                .and_then(|s| self.by_signature.remove(&s))
                .map(|e| e.name)
        } else {
            None
        };
        self.next_name += 1;
        self.clock += 1;
        let name = format!("__cp{}", self.next_name);
        self.by_signature.insert(
            signature,
            Entry {
                name: name.clone(),
                last_use: self.clock,
            },
        );
        (name, evicted)
    }

    /// Forgets a statement whose Parse failed.
    pub fn forget(&mut self, signature: &Definition) {
        self.by_signature.remove(signature);
    }

    /// Forgets everything (DISCARD ALL ran).
    pub fn clear(&mut self) {
        self.by_signature.clear();
    }

    /// Statements held.
    pub fn len(&self) -> usize {
        self.by_signature.len()
    }

    /// True when none is held.
    pub fn is_empty(&self) -> bool {
        self.by_signature.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_least_recently_used_statement_goes_first() {
        let def = |t: &str| -> Definition { Rc::from(t.as_bytes()) };
        let mut s = BackendStatements::default();
        let (a, none) = s.add(def("SELECT 1"), 2);
        let (b, _) = s.add(def("SELECT 2"), 2);
        assert_eq!((a.as_str(), b.as_str(), none), ("__cp1", "__cp2", None));
        assert_eq!(s.lookup(&def("SELECT 1")), Some("__cp1"));
        let (c, evicted) = s.add(def("SELECT 3"), 2);
        assert_eq!((c.as_str(), evicted.as_deref()), ("__cp3", Some("__cp2")));
        assert_eq!(s.lookup(&def("SELECT 2")), None);
        s.forget(&def("SELECT 3"));
        assert_eq!(s.len(), 1);
    }
}
