//! The in-memory query cache (Pgpool-II's `memory_cache_enabled` with `memqcache_method =
//! shmem`): SELECT results by key, shared by every shard, invalidated per table.
//!
//! # Layout
//! - [`QueryCache`]: the cache every shard shares: [`SEGMENTS`] segments by key hash, each a
//!   short [`std::sync::Mutex`] over a clock-evicted map (`store`), plus the hit counters.
//! - `tables`: one generation counter per table name ([`TableGen`]), in a table that only
//!   grows. A write bumps the generations of the tables it wrote; an entry remembers the
//!   generations of the tables it read when its statement was sent ([`Snapshot`]), and a
//!   lookup serves it only while they are unchanged. Every entry also reads the
//!   all-tables generation ([`QueryCache::everything`]), which DDL without a named table and
//!   `pcp_invalidate_query_cache` bump.
//!
//! The cache knows nothing of SQL or sessions: the session (engine/src/session/cache.rs)
//! decides what is cacheable, builds keys and tells it which tables a statement wrote; the
//! relay captures replies and bumps generations before a write's reply reaches its client.
//!
//! No lock is held across I/O: a lookup or an insert holds one segment's mutex for a hash-map
//! probe; a write's invalidation is an atomic increment per table.

mod store;
mod tables;

#[cfg(test)]
mod tests;

use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use bytes::Bytes;
use smallvec::SmallVec;

pub use tables::TableGen;

/// Segments the cache is split into by key hash (each behind its own mutex).
pub const SEGMENTS: usize = 16;

/// Bytes an entry costs beyond its key and reply (its slot, map entry and snapshot).
pub const ENTRY_OVERHEAD: usize = 96;

/// What pgpool.conf says about the cache.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// memqcache_total_size: bytes of keys and results the cache may hold.
    pub total_size: u64,
    /// memqcache_max_num_cache: entries the cache may hold.
    pub max_entries: u32,
    /// memqcache_expire: an entry's life; zero = until invalidated or evicted.
    pub expire: Duration,
    /// memqcache_maxcache: the largest result cached, in bytes.
    pub max_result: usize,
    /// memqcache_auto_cache_invalidation: writes invalidate what read their tables.
    pub auto_invalidation: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            total_size: 64 * 1024 * 1024,
            max_entries: 1_000_000,
            expire: Duration::ZERO,
            max_result: 400 * 1024,
            auto_invalidation: true,
        }
    }
}

/// The generations of the tables a statement reads, taken before it is sent: its result is
/// fresh only while none of them moved.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    seen: SmallVec<[(TableGen, u64); 3]>,
}

impl Snapshot {
    /// True while no table it read was written since.
    pub fn is_current(&self) -> bool {
        self.seen
            .iter()
            .all(|(g, v)| g.load(Ordering::Acquire) == *v)
    }
}

/// `SHOW pool_cache`'s figures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CacheStats {
    /// Lookups answered from the cache.
    pub hits: u64,
    /// SELECTs that did not hit.
    pub selects: u64,
    /// Hash entries (memqcache_max_num_cache rounded up to a power of two, as Pgpool-II).
    pub hash_entries: u64,
    /// Entries held.
    pub entries: u64,
    /// Bytes held by entries.
    pub used_bytes: u64,
    /// memqcache_total_size less `used_bytes`.
    pub free_bytes: u64,
}

impl CacheStats {
    /// hits / (hits + selects), 0 before the first SELECT.
    pub fn hit_ratio(&self) -> f64 {
        let all = self.hits + self.selects;
        if all == 0 {
            0.0
        } else {
            self.hits as f64 / all as f64
        }
    }
}

/// The query cache every shard shares.
#[derive(Debug)]
pub struct QueryCache {
    settings: Settings,
    segments: Box<[Mutex<store::Segment>]>,
    tables: tables::Tables,
    everything: TableGen,
    hits: AtomicU64,
    selects: AtomicU64,
}

impl QueryCache {
    /// An empty cache bounded as `settings` say.
    pub fn new(settings: Settings) -> Self {
        let bytes = (settings.total_size / SEGMENTS as u64).max(1);
        let entries = (settings.max_entries as usize).div_ceil(SEGMENTS).max(1);
        let segments = (0..SEGMENTS)
            .map(|_| Mutex::new(store::Segment::new(bytes, entries)))
            .collect();
        Self {
            settings,
            segments,
            tables: tables::Tables::default(),
            everything: Arc::new(AtomicU64::new(0)),
            hits: AtomicU64::new(0),
            selects: AtomicU64::new(0),
        }
    }

    /// The settings it was built with.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// The generation counter of table `name` (created on first use).
    pub fn table(&self, name: &str) -> TableGen {
        self.tables.get(name)
    }

    /// The all-tables generation: bumping it invalidates every entry.
    pub fn everything(&self) -> &TableGen {
        &self.everything
    }

    /// The current generations of `tables` and of everything, for a statement about to run.
    pub fn snapshot(&self, tables: &[TableGen]) -> Snapshot {
        let mut seen = SmallVec::with_capacity(tables.len() + 1);
        seen.push((
            self.everything.clone(),
            self.everything.load(Ordering::Acquire),
        ));
        for t in tables {
            seen.push((t.clone(), t.load(Ordering::Acquire)));
        }
        Snapshot { seen }
    }

    /// The reply cached under `key`, if it is fresh: counted as a hit.
    pub fn get(&self, key: &[u8], now: Instant) -> Option<Bytes> {
        let found = self.segment(key).get(key, now, self.settings.expire);
        if found.is_some() {
            self.hits.fetch_add(1, Ordering::Relaxed);
        }
        found
    }

    /// Counts a SELECT that did not hit.
    pub fn count_select(&self) {
        self.selects.fetch_add(1, Ordering::Relaxed);
    }

    /// Stores `reply` under `key` if it is small enough and no table it read was written since
    /// `snapshot`; evicts the least recently used entries to make room. True when stored.
    pub fn insert(&self, key: Box<[u8]>, reply: Bytes, snapshot: Snapshot, now: Instant) -> bool {
        if reply.len() > self.settings.max_result || !snapshot.is_current() {
            return false;
        }
        self.segment(&key).insert(key.into(), reply, snapshot, now)
    }

    /// Drops the entry under `key`; true if there was one.
    pub fn remove(&self, key: &[u8]) -> bool {
        self.segment(key).remove(key)
    }

    /// Invalidates every entry that read one of `tables`.
    pub fn invalidate(&self, tables: &[TableGen]) {
        for t in tables {
            t.fetch_add(1, Ordering::AcqRel);
        }
    }

    /// Invalidates every entry and frees their memory (pcp_invalidate_query_cache).
    pub fn clear(&self) {
        self.everything.fetch_add(1, Ordering::AcqRel);
        for s in self.segments.iter() {
            lock(s).clear();
        }
    }

    /// The figures `SHOW pool_cache` reports.
    pub fn stats(&self) -> CacheStats {
        let (mut entries, mut used) = (0u64, 0u64);
        for s in self.segments.iter() {
            let s = lock(s);
            entries += s.len() as u64;
            used += s.used_bytes() as u64;
        }
        CacheStats {
            hits: self.hits.load(Ordering::Relaxed),
            selects: self.selects.load(Ordering::Relaxed),
            hash_entries: u64::from(self.settings.max_entries.max(1)).next_power_of_two(),
            entries,
            used_bytes: used,
            free_bytes: self.settings.total_size.saturating_sub(used),
        }
    }

    fn segment(&self, key: &[u8]) -> MutexGuard<'_, store::Segment> {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        key.hash(&mut h);
        let i = (h.finish() as usize) % self.segments.len();
        lock(&self.segments[i])
    }
}

/// A segment's lock; a panic while it was held leaves a consistent map (every mutation is a
/// single map operation), so a poisoned lock is used as it is.
fn lock(m: &Mutex<store::Segment>) -> MutexGuard<'_, store::Segment> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}
