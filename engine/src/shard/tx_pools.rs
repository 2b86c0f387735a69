//! The shard's transaction pools, one per user, database and node, created on first use.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use std::time::{Duration, Instant};

use crate::backend::{StartupReply, TxBackend};
use crate::pool::{TxPool, TxPoolStats};

/// One transaction pool and what its backends said at start-up (greets new clients without
/// taking a backend).
pub struct TxPoolEntry {
    /// The user.
    pub user: String,
    /// The database.
    pub database: String,
    /// The node.
    pub node: usize,
    /// The backends.
    pub pool: TxPool<TxBackend>,
    /// The start-up reply of the pool's first backend: ParameterStatus values for greetings.
    pub greeting: RefCell<Option<StartupReply>>,
}

/// Every transaction pool of a shard.
#[derive(Default)]
pub struct TxPools {
    pools: RefCell<HashMap<(String, String, usize), Rc<TxPoolEntry>>>,
}

impl TxPools {
    /// The pool of `user` on `database` at `node`, made with room for `size` backends.
    pub fn get(&self, user: &str, database: &str, node: usize, size: usize) -> Rc<TxPoolEntry> {
        let key = (user.to_owned(), database.to_owned(), node);
        self.pools
            .borrow_mut()
            .entry(key)
            .or_insert_with(|| {
                Rc::new(TxPoolEntry {
                    user: user.to_owned(),
                    database: database.to_owned(),
                    node,
                    pool: TxPool::new(size),
                    greeting: RefCell::new(None),
                })
            })
            .clone()
    }

    /// Lets go of the waiters of pools whose node is not `usable` any more.
    pub fn node_gone(&self, usable: impl Fn(usize) -> bool) {
        for p in self.pools.borrow().values() {
            if !usable(p.node) {
                p.pool.release_waiters();
            }
        }
    }

    /// Resizes every pool (reload).
    pub fn resize(&self, size: usize) {
        for p in self.pools.borrow().values() {
            p.pool.set_max(size);
        }
    }

    /// Closes stale and long-idle backends; returns (closed, idle left).
    pub fn prune(
        &self,
        generation: u64,
        life: Option<Duration>,
        idle_limit: Option<Duration>,
        now: Instant,
    ) -> (usize, usize) {
        let pools: Vec<Rc<TxPoolEntry>> = self.pools.borrow().values().cloned().collect();
        let mut closed = 0;
        let mut idle = 0;
        for p in pools {
            closed += p.pool.prune(generation, life, idle_limit, now);
            idle += p.pool.stats(now).idle;
        }
        (closed, idle)
    }

    /// The rows this shard publishes for the pool report.
    pub fn report(
        &self,
        shard: usize,
        now: Instant,
    ) -> Vec<crate::cluster::pool_report::TxPoolRow> {
        self.pools
            .borrow()
            .values()
            .map(|p| {
                let s = p.pool.stats(now);
                let (prepared, re_prepared) = p.pool.fold_idle((0, 0), |(n, r), b| {
                    (n + b.statements.len(), r + b.statements.re_prepared)
                });
                crate::cluster::pool_report::TxPoolRow {
                    shard,
                    user: p.user.clone(),
                    database: p.database.clone(),
                    node: p.node,
                    backends: s.open,
                    idle: s.idle,
                    waiting: s.waiting,
                    longest_wait: s.longest_wait,
                    waits: s.waits,
                    timeouts: s.timeouts,
                    prepared_statements: prepared,
                    re_prepared,
                }
            })
            .collect()
    }

    /// Every pool with its figures.
    pub fn stats(&self, now: Instant) -> Vec<(Rc<TxPoolEntry>, TxPoolStats)> {
        self.pools
            .borrow()
            .values()
            .map(|p| (p.clone(), p.pool.stats(now)))
            .collect()
    }
}
