//! Per-table generation counters, by name, in a table that only grows (up to [`MAX_TABLES`]
//! names; later names share one counter, which only invalidates more than needed).

use std::collections::HashMap;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, RwLock};

/// A table's generation: bumped by every write to it.
pub type TableGen = Arc<AtomicU64>;

/// Distinct table names with their own counter.
pub const MAX_TABLES: usize = 100_000;

#[derive(Debug, Default)]
pub(super) struct Tables {
    by_name: RwLock<HashMap<Box<str>, TableGen>>,
    overflow: TableGen,
}

impl Tables {
    pub(super) fn get(&self, name: &str) -> TableGen {
        {
            let map = self.by_name.read().unwrap_or_else(|p| p.into_inner());
            if let Some(g) = map.get(name) {
                return g.clone();
            }
        }
        let mut map = self.by_name.write().unwrap_or_else(|p| p.into_inner());
        if let Some(g) = map.get(name) {
            return g.clone();
        }
        if map.len() >= MAX_TABLES {
            return self.overflow.clone();
        }
        let g = TableGen::default();
        map.insert(name.into(), g.clone());
        g
    }
}
