//! The per-shard connection cache: idle backend connections keyed by who connected and how
//! (session pooling), and [`tx`]'s transaction pools.
//!
//! A shard owns its pool outright (it is never touched from another core), so the map sits in a
//! `RefCell` and no lock exists anywhere. A connection is cached only when it is clean: idle
//! (ReadyForQuery 'I'), not in COPY, every result consumed, and `reset_query_list` run.

mod key;
pub mod tx;

pub use key::PoolKey;
pub use tx::{Got, TxPool, TxPoolStats, WaitTimeout};

use std::cell::RefCell;
use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

/// Something a pool can hold: it knows its age and the topology generation it was made under.
pub trait Pooled {
    /// When the connection was opened.
    fn created(&self) -> Instant;
    /// The cluster generation at connect time.
    fn generation(&self) -> u64;
    /// Whether the connection still looks alive (checked when it is taken from the pool).
    fn alive(&self) -> bool {
        true
    }
}

/// Pool limits.
///
/// Pgpool-II gives each of its `num_init_children` processes `max_pool` cache slots, so it can
/// hold up to `num_init_children` connections for one user/database and `num_init_children ×
/// max_pool` in all. A shard here holds at most as many: `max_per_key` = num_init_children and
/// `max_total` = num_init_children × max_pool.
#[derive(Debug, Clone, Copy)]
pub struct PoolLimits {
    /// Idle connections kept per key and node.
    pub max_per_key: usize,
    /// Idle connections kept in all; past it the oldest of the key being returned (or of any
    /// key) is closed.
    pub max_total: usize,
    /// Close cached connections older than this (connection_life_time; `None` = never).
    pub life_time: Option<Duration>,
}

/// The idle connections of one shard.
pub struct Pool<C> {
    idle: RefCell<HashMap<(PoolKey, usize), VecDeque<C>>>,
    limits: RefCell<PoolLimits>,
}

impl<C: Pooled> Pool<C> {
    /// An empty pool.
    pub fn new(limits: PoolLimits) -> Self {
        Self {
            idle: RefCell::new(HashMap::new()),
            limits: RefCell::new(limits),
        }
    }

    /// Changes the limits (reload).
    pub fn set_limits(&self, limits: PoolLimits) {
        *self.limits.borrow_mut() = limits;
    }

    /// Takes the most recently returned usable connection to `node` for `key`. Connections from
    /// an older generation or past their life time are dropped on the way.
    pub fn take(&self, key: &PoolKey, node: usize, generation: u64, now: Instant) -> Option<C> {
        let life = self.limits.borrow().life_time;
        let mut idle = self.idle.borrow_mut();
        let list = idle.get_mut(&(key.clone(), node))?;
        while let Some(c) = list.pop_back() {
            if usable(&c, generation, life, now) {
                return Some(c);
            }
        }
        None
    }

    /// Returns a clean connection to `node`; the oldest is closed when the key is at its limit.
    pub fn put(&self, key: PoolKey, node: usize, conn: C) {
        let PoolLimits {
            max_per_key,
            max_total,
            ..
        } = *self.limits.borrow();
        if max_per_key == 0 || max_total == 0 {
            return;
        }
        let mut idle = self.idle.borrow_mut();
        let mut total: usize = idle.values().map(VecDeque::len).sum();
        let key = (key, node);
        if let Some(list) = idle.get_mut(&key) {
            while list.len() >= max_per_key || (total >= max_total && !list.is_empty()) {
                list.pop_front();
                total -= 1;
            }
        }
        if total >= max_total {
            // Make room from some other key.
            if let Some(list) = idle.values_mut().find(|l| !l.is_empty()) {
                list.pop_front();
            }
        }
        idle.entry(key).or_default().push_back(conn);
    }

    /// Drops expired and stale connections; returns how many were closed.
    pub fn prune(&self, generation: u64, now: Instant) -> usize {
        let life = self.limits.borrow().life_time;
        let mut closed = 0;
        let mut idle = self.idle.borrow_mut();
        idle.retain(|_, list| {
            let before = list.len();
            list.retain(|c| usable(c, generation, life, now));
            closed += before - list.len();
            !list.is_empty()
        });
        closed
    }

    /// Idle connections held, per key and node (for SHOW pool_pools and metrics).
    pub fn idle_counts(&self) -> Vec<(PoolKey, usize, usize)> {
        self.idle
            .borrow()
            .iter()
            .map(|((k, n), v)| (k.clone(), *n, v.len()))
            .collect()
    }

    /// Total idle connections held.
    pub fn idle_total(&self) -> usize {
        self.idle.borrow().values().map(VecDeque::len).sum()
    }

    /// Closes everything (shutdown, failover).
    pub fn clear(&self) {
        self.idle.borrow_mut().clear();
    }
}

fn usable<C: Pooled>(c: &C, generation: u64, life: Option<Duration>, now: Instant) -> bool {
    if c.generation() != generation {
        return false;
    }
    let young = match life {
        Some(l) => now.saturating_duration_since(c.created()) < l,
        None => true,
    };
    young && c.alive()
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Fake {
        id: u32,
        created: Instant,
        generation: u64,
    }

    impl Pooled for Fake {
        fn created(&self) -> Instant {
            self.created
        }
        fn generation(&self) -> u64 {
            self.generation
        }
        /// Odd ids play connections whose backend has gone.
        fn alive(&self) -> bool {
            self.id % 2 == 0
        }
    }

    fn key(user: &str) -> PoolKey {
        PoolKey::new(user, "db", &[])
    }

    #[test]
    fn returns_most_recent_and_caps_per_key() {
        let now = Instant::now();
        let p = Pool::new(PoolLimits {
            max_per_key: 2,
            max_total: 10,
            life_time: None,
        });
        for id in [0, 2, 4] {
            p.put(
                key("a"),
                0,
                Fake {
                    id,
                    created: now,
                    generation: 0,
                },
            );
        }
        assert_eq!(p.idle_total(), 2, "oldest closed at the limit");
        assert_eq!(p.take(&key("a"), 0, 0, now).map(|c| c.id), Some(4));
        assert_eq!(p.take(&key("a"), 0, 0, now).map(|c| c.id), Some(2));
        assert!(p.take(&key("a"), 0, 0, now).is_none());
        assert!(p.take(&key("b"), 0, 0, now).is_none());
        assert!(
            p.take(&key("a"), 1, 0, now).is_none(),
            "another node's connections are separate"
        );
    }

    #[test]
    fn dead_connections_are_dropped_not_handed_out() {
        let now = Instant::now();
        let p = Pool::new(PoolLimits {
            max_per_key: 4,
            max_total: 10,
            life_time: None,
        });
        for id in [2, 1, 3] {
            let generation = 0;
            p.put(
                key("a"),
                0,
                Fake {
                    id,
                    created: now,
                    generation,
                },
            );
        }
        assert_eq!(
            p.take(&key("a"), 0, 0, now).map(|c| c.id),
            Some(2),
            "3 and 1 skipped"
        );
        assert_eq!(p.idle_total(), 0);
    }

    #[test]
    fn stale_generation_and_expired_connections_are_not_handed_out() {
        let now = Instant::now();
        let p = Pool::new(PoolLimits {
            max_per_key: 4,
            max_total: 10,
            life_time: Some(Duration::from_secs(10)),
        });
        p.put(
            key("a"),
            0,
            Fake {
                id: 1,
                created: now,
                generation: 0,
            },
        );
        assert!(
            p.take(&key("a"), 0, 1, now).is_none(),
            "generation moved on"
        );
        p.put(
            key("a"),
            0,
            Fake {
                id: 2,
                created: now,
                generation: 1,
            },
        );
        assert!(
            p.take(&key("a"), 0, 1, now + Duration::from_secs(11))
                .is_none(),
            "expired"
        );
        p.put(
            key("a"),
            0,
            Fake {
                id: 3,
                created: now,
                generation: 1,
            },
        );
        assert_eq!(p.prune(1, now + Duration::from_secs(11)), 1);
        assert_eq!(p.idle_total(), 0);
    }

    #[test]
    fn the_total_limit_closes_other_keys_oldest_first() {
        let now = Instant::now();
        let p = Pool::new(PoolLimits {
            max_per_key: 5,
            max_total: 3,
            life_time: None,
        });
        for (id, user) in [(1, "a"), (2, "a"), (3, "b"), (4, "c")] {
            p.put(
                key(user),
                0,
                Fake {
                    id,
                    created: now,
                    generation: 0,
                },
            );
        }
        assert_eq!(p.idle_total(), 3);
        assert_eq!(p.take(&key("c"), 0, 0, now).map(|c| c.id), Some(4));
        assert_eq!(
            p.take(&key("a"), 0, 0, now).map(|c| c.id),
            Some(2),
            "a's oldest went first"
        );
    }

    #[test]
    fn max_pool_zero_caches_nothing() {
        let now = Instant::now();
        let p = Pool::new(PoolLimits {
            max_per_key: 0,
            max_total: 10,
            life_time: None,
        });
        p.put(
            key("a"),
            0,
            Fake {
                id: 1,
                created: now,
                generation: 0,
            },
        );
        assert_eq!(p.idle_total(), 0);
    }
}
