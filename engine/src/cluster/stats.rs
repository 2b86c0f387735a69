//! Traffic figures written per shard and summed when read: bytes, idle pooled connections,
//! and per node the statements routed, the errors seen, the sessions bound and the request
//! latency histogram.
//!
//! Each shard owns one [`ShardStats`], alone on its cache lines, and is its only writer: a
//! counter is bumped with a plain load and store (no locked instruction), and no other core
//! ever writes the line. `SHOW pool_*`, PCP and `/metrics` sum the shards when they read;
//! a sum may miss an increment made during the read, never lose one.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering::Relaxed};
use std::time::Duration;

/// Upper bounds of the latency buckets, in microseconds (Prometheus `le`), the last one +Inf.
pub const LATENCY_BUCKETS_US: [u64; 14] = [
    100,
    250,
    500,
    1_000,
    2_500,
    5_000,
    10_000,
    25_000,
    50_000,
    100_000,
    250_000,
    1_000_000,
    5_000_000,
    u64::MAX,
];

/// A counter with one writer (its shard): increments are a load and a store.
#[derive(Debug, Default)]
pub struct Counter(AtomicU64);

impl Counter {
    /// Adds `n`. Only the owning shard calls this.
    pub fn add(&self, n: u64) {
        self.0.store(self.0.load(Relaxed).wrapping_add(n), Relaxed);
    }

    /// The value.
    pub fn get(&self) -> u64 {
        self.0.load(Relaxed)
    }
}

/// A gauge with one writer (its shard).
#[derive(Debug, Default)]
pub struct Gauge(AtomicI64);

impl Gauge {
    /// Adds `n` (negative to subtract). Only the owning shard calls this.
    pub fn add(&self, n: i64) {
        self.0.store(self.0.load(Relaxed).wrapping_add(n), Relaxed);
    }

    /// Sets the value. Only the owning shard calls this.
    pub fn set(&self, v: i64) {
        self.0.store(v, Relaxed);
    }

    /// The value.
    pub fn get(&self) -> i64 {
        self.0.load(Relaxed)
    }
}

/// Statement kinds counted per node (Pgpool-II's `SHOW pool_backend_stats` columns).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatementClass {
    /// SELECT (and TABLE, SELECT INTO, locking SELECTs).
    Select,
    /// INSERT.
    Insert,
    /// UPDATE.
    Update,
    /// DELETE.
    Delete,
    /// CREATE, ALTER, DROP …
    Ddl,
    /// Everything else.
    Other,
}

/// One shard's figures for one node.
#[derive(Debug, Default)]
#[repr(align(64))]
pub struct NodeStats {
    buckets: [Counter; LATENCY_BUCKETS_US.len()],
    latency_sum_us: Counter,
    latency_count: Counter,
    select: Counter,
    insert: Counter,
    update: Counter,
    delete: Counter,
    ddl: Counter,
    other: Counter,
    /// ErrorResponses with severity ERROR received from the node.
    pub errors: Counter,
    /// ErrorResponses with severity FATAL received.
    pub fatals: Counter,
    /// ErrorResponses with severity PANIC received.
    pub panics: Counter,
    /// Sessions of this shard bound to the node now.
    pub sessions: Gauge,
}

impl NodeStats {
    /// Records how long one request waited for its ReadyForQuery.
    pub fn observe(&self, took: Duration) {
        let us = u64::try_from(took.as_micros()).unwrap_or(u64::MAX);
        let i = LATENCY_BUCKETS_US
            .iter()
            .position(|le| us <= *le)
            .unwrap_or(LATENCY_BUCKETS_US.len() - 1);
        self.buckets[i].add(1);
        self.latency_sum_us.add(us);
        self.latency_count.add(1);
    }

    /// Counts one statement sent to the node.
    pub fn count(&self, class: StatementClass) {
        match class {
            StatementClass::Select => &self.select,
            StatementClass::Insert => &self.insert,
            StatementClass::Update => &self.update,
            StatementClass::Delete => &self.delete,
            StatementClass::Ddl => &self.ddl,
            StatementClass::Other => &self.other,
        }
        .add(1);
    }
}

/// One shard's figures.
#[derive(Debug)]
#[repr(align(64))]
pub struct ShardStats {
    /// Bytes read from clients.
    pub bytes_from_clients: Counter,
    /// Bytes read from backends (and so forwarded to clients).
    pub bytes_from_backends: Counter,
    /// Idle backend connections in the shard's pool.
    pub idle_connections: Gauge,
    /// Clients accepted by the shard and waiting for a session slot (or a held door).
    pub clients_waiting: Gauge,
    /// Transaction-pooled clients pinned to their backend (state that cannot move).
    pub pinned_clients: Gauge,
    nodes: Box<[NodeStats]>,
}

impl ShardStats {
    fn new(nodes: usize) -> Self {
        Self {
            bytes_from_clients: Counter::default(),
            bytes_from_backends: Counter::default(),
            idle_connections: Gauge::default(),
            clients_waiting: Gauge::default(),
            pinned_clients: Gauge::default(),
            nodes: (0..nodes).map(|_| NodeStats::default()).collect(),
        }
    }

    /// This shard's figures for `node`.
    pub fn node(&self, node: usize) -> Option<&NodeStats> {
        self.nodes.get(node)
    }
}

/// A node's figures summed over the shards.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NodeTotals {
    /// SELECTs sent (Pgpool-II's select_cnt).
    pub select: u64,
    /// INSERTs sent.
    pub insert: u64,
    /// UPDATEs sent.
    pub update: u64,
    /// DELETEs sent.
    pub delete: u64,
    /// DDL statements sent.
    pub ddl: u64,
    /// Everything else.
    pub other: u64,
    /// ERRORs received.
    pub errors: u64,
    /// FATALs received.
    pub fatals: u64,
    /// PANICs received.
    pub panics: u64,
    /// Sessions bound to the node now.
    pub sessions: i64,
}

/// A node's latency histogram summed over the shards.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Latency {
    /// Cumulative counts per bucket of [`LATENCY_BUCKETS_US`] (Prometheus' form).
    pub cumulative: [u64; LATENCY_BUCKETS_US.len()],
    /// Sum of all latencies, microseconds.
    pub sum_us: u64,
    /// Requests observed.
    pub count: u64,
}

/// Every shard's figures.
#[derive(Debug)]
pub struct Stats {
    shards: Box<[ShardStats]>,
    /// Nodes detached by failover (health check, backend error, PCP): written by failover
    /// threads, so a real atomic.
    pub failovers: AtomicU64,
}

impl Stats {
    /// Figures for `shards` shards and `nodes` nodes.
    pub fn new(shards: usize, nodes: usize) -> Self {
        Self {
            shards: (0..shards.max(1)).map(|_| ShardStats::new(nodes)).collect(),
            failovers: AtomicU64::new(0),
        }
    }

    /// One shard's figures, for that shard to write (ids past the end share the last).
    pub fn shard(&self, id: usize) -> &ShardStats {
        &self.shards[id.min(self.shards.len() - 1)]
    }

    /// Every shard's figures.
    pub fn shards(&self) -> &[ShardStats] {
        &self.shards
    }

    /// `node`'s counters summed over the shards.
    pub fn node_totals(&self, node: usize) -> NodeTotals {
        let mut t = NodeTotals::default();
        for s in self.shards.iter().filter_map(|s| s.node(node)) {
            t.select += s.select.get();
            t.insert += s.insert.get();
            t.update += s.update.get();
            t.delete += s.delete.get();
            t.ddl += s.ddl.get();
            t.other += s.other.get();
            t.errors += s.errors.get();
            t.fatals += s.fatals.get();
            t.panics += s.panics.get();
            t.sessions += s.sessions.get();
        }
        t
    }

    /// `node`'s latency histogram summed over the shards.
    pub fn latency(&self, node: usize) -> Latency {
        let mut l = Latency::default();
        for s in self.shards.iter().filter_map(|s| s.node(node)) {
            let mut running = 0;
            for (i, b) in s.buckets.iter().enumerate() {
                running += b.get();
                l.cumulative[i] += running;
            }
            l.sum_us += s.latency_sum_us.get();
            l.count += s.latency_count.get();
        }
        l
    }

    /// Bytes read from clients and from backends, over every shard.
    pub fn bytes(&self) -> (u64, u64) {
        self.shards.iter().fold((0, 0), |(c, b), s| {
            (
                c + s.bytes_from_clients.get(),
                b + s.bytes_from_backends.get(),
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latencies_land_in_cumulative_buckets_summed_over_shards() {
        let stats = Stats::new(2, 1);
        stats
            .shard(0)
            .node(0)
            .unwrap()
            .observe(Duration::from_micros(50));
        stats
            .shard(1)
            .node(0)
            .unwrap()
            .observe(Duration::from_micros(300));
        stats
            .shard(1)
            .node(0)
            .unwrap()
            .observe(Duration::from_secs(60));
        let l = stats.latency(0);
        assert_eq!(l.count, 3);
        assert_eq!(l.sum_us, 50 + 300 + 60_000_000);
        assert_eq!(l.cumulative[0], 1, "≤ 100 µs");
        assert_eq!(l.cumulative[2], 2, "≤ 500 µs");
        assert_eq!(*l.cumulative.last().unwrap(), 3, "+Inf counts everything");
    }

    #[test]
    fn each_shard_writes_its_own_lines_and_readers_sum() {
        let stats = Stats::new(2, 2);
        stats.shard(1).bytes_from_clients.add(5);
        stats
            .shard(0)
            .node(1)
            .unwrap()
            .count(StatementClass::Select);
        stats
            .shard(1)
            .node(1)
            .unwrap()
            .count(StatementClass::Select);
        stats.shard(1).node(1).unwrap().sessions.add(1);
        assert_eq!(stats.shard(0).bytes_from_clients.get(), 0);
        assert_eq!(
            stats.shard(9).bytes_from_clients.get(),
            5,
            "past the end: the last"
        );
        assert_eq!(stats.bytes(), (5, 0));
        let t = stats.node_totals(1);
        assert_eq!((t.select, t.sessions), (2, 1));
        assert_eq!(stats.node_totals(0), NodeTotals::default());
        assert_eq!(std::mem::align_of::<ShardStats>(), 64);
        assert_eq!(std::mem::align_of::<NodeStats>(), 64);
    }
}
