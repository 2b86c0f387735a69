//! A shard's cache of catalog facts the router and the query cache need: function volatility,
//! unlogged tables; immutable functions and relations whose reads are never cached.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;

/// What the catalog said, per name. Like Pgpool-II's relation cache with relcache_expire = 0,
/// entries live until the next reload.
#[derive(Debug, Default)]
pub struct CatalogCache {
    volatile: RefCell<HashMap<String, bool>>,
    unlogged: RefCell<HashMap<String, bool>>,
    immutable: RefCell<HashMap<String, bool>>,
    uncacheable: RefCell<HashMap<String, bool>>,
    /// The query cache's all-tables generation the two maps above were filled under.
    cache_facts_gen: Cell<u64>,
}

impl CatalogCache {
    /// Whether a function (by unqualified name) is volatile; `None` if not looked up yet.
    pub fn volatile(&self, function: &str) -> Option<bool> {
        self.volatile.borrow().get(function).copied()
    }

    /// Whether a table (by unqualified name) is unlogged; `None` if not looked up yet.
    pub fn unlogged(&self, table: &str) -> Option<bool> {
        self.unlogged.borrow().get(table).copied()
    }

    /// Records a function's volatility.
    pub fn set_volatile(&self, function: &str, volatile: bool) {
        self.volatile
            .borrow_mut()
            .insert(function.to_owned(), volatile);
    }

    /// Records whether a table is unlogged.
    pub fn set_unlogged(&self, table: &str, unlogged: bool) {
        self.unlogged
            .borrow_mut()
            .insert(table.to_owned(), unlogged);
    }

    /// Whether a function (by unqualified name) is immutable — every function of that name
    /// is; `None` if not looked up yet.
    pub fn immutable(&self, function: &str) -> Option<bool> {
        self.immutable.borrow().get(function).copied()
    }

    /// Records whether a function is immutable.
    pub fn set_immutable(&self, function: &str, immutable: bool) {
        self.immutable
            .borrow_mut()
            .insert(function.to_owned(), immutable);
    }

    /// Whether some relation of that (unqualified) name is a view, temporary, unlogged or a
    /// system catalog, which the query cache does not cache; `None` if not looked up yet.
    pub fn uncacheable(&self, relation: &str) -> Option<bool> {
        self.uncacheable.borrow().get(relation).copied()
    }

    /// Records whether a relation name is uncacheable.
    pub fn set_uncacheable(&self, relation: &str, uncacheable: bool) {
        self.uncacheable
            .borrow_mut()
            .insert(relation.to_owned(), uncacheable);
    }

    /// The generation the query cache's facts (immutable functions, uncacheable relations)
    /// were learnt under.
    pub fn cache_facts_gen(&self) -> u64 {
        self.cache_facts_gen.get()
    }

    /// Forgets the query cache's facts (DDL may have changed them) and starts generation `gen`.
    pub fn forget_cache_facts(&self, gen: u64) {
        self.immutable.borrow_mut().clear();
        self.uncacheable.borrow_mut().clear();
        self.cache_facts_gen.set(gen);
    }

    /// Forgets everything (reload).
    pub fn clear(&self) {
        self.volatile.borrow_mut().clear();
        self.unlogged.borrow_mut().clear();
        self.immutable.borrow_mut().clear();
        self.uncacheable.borrow_mut().clear();
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn remembers_what_it_was_told() {
        let c = super::CatalogCache::default();
        assert_eq!(c.volatile("nextval"), None);
        c.set_volatile("nextval", true);
        c.set_unlogged("t", false);
        assert_eq!(c.volatile("nextval"), Some(true));
        assert_eq!(c.unlogged("t"), Some(false));
        c.clear();
        assert_eq!(c.unlogged("t"), None);
    }
}
