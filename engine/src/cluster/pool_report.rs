//! What the shards' transaction pools look like, published by each shard at its housekeeping
//! tick (every 100 ms, off the query path) for `SHOW pool_transaction_pools`, `/metrics` and
//! the status page, which read it from any thread.

use std::sync::Mutex;
use std::time::Duration;

/// One transaction pool of one shard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxPoolRow {
    /// The shard.
    pub shard: usize,
    /// The user.
    pub user: String,
    /// The database.
    pub database: String,
    /// The node.
    pub node: usize,
    /// Backends open (lent + idle + being opened).
    pub backends: usize,
    /// Backends idle in the pool.
    pub idle: usize,
    /// Clients waiting for a backend now.
    pub waiting: usize,
    /// How long the longest current wait has lasted.
    pub longest_wait: Duration,
    /// Clients that had to wait, since start.
    pub waits: u64,
    /// Waits that ran out (query_wait_timeout), since start.
    pub timeouts: u64,
    /// Named statements prepared on the idle backends.
    pub prepared_statements: usize,
    /// Statements prepared again on a backend for a client that had them elsewhere.
    pub re_prepared: u64,
}

/// Every shard's rows, each shard replacing its own.
#[derive(Debug)]
pub struct PoolReport {
    shards: Box<[Mutex<Vec<TxPoolRow>>]>,
}

impl PoolReport {
    /// An empty report for `shards` shards.
    pub fn new(shards: usize) -> Self {
        Self {
            shards: (0..shards.max(1)).map(|_| Mutex::new(Vec::new())).collect(),
        }
    }

    /// Shard `id` publishes its rows.
    pub fn publish(&self, id: usize, rows: Vec<TxPoolRow>) {
        if let Some(m) = self.shards.get(id) {
            match m.lock() {
                Ok(mut g) => *g = rows,
                Err(p) => *p.into_inner() = rows,
            }
        }
    }

    /// Every row, shard by shard.
    pub fn rows(&self) -> Vec<TxPoolRow> {
        self.shards
            .iter()
            .flat_map(|m| match m.lock() {
                Ok(g) => g.clone(),
                Err(p) => p.into_inner().clone(),
            })
            .collect()
    }
}
