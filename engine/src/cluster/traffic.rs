//! Traffic figures for the metrics endpoint: bytes per shard, idle pooled connections per shard,
//! request latency per node, failovers — all atomics, written without contention.
//!
//! Bytes and idle counts live in one cache-line-padded slot per shard, so a shard only ever
//! writes its own line. Latency histograms are per node with fixed buckets.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
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

/// One shard's counters, alone on its cache line.
#[derive(Debug, Default)]
#[repr(align(64))]
pub struct ShardTraffic {
    /// Bytes read from clients.
    pub bytes_from_clients: AtomicU64,
    /// Bytes read from backends (and so forwarded to clients).
    pub bytes_from_backends: AtomicU64,
    /// Idle backend connections in the shard's pool.
    pub idle_connections: AtomicU64,
    /// Clients accepted by the shard and waiting for a session slot (or a held door).
    pub clients_waiting: AtomicU64,
}

/// Request latency of one node: how long a request waited for its ReadyForQuery.
#[derive(Debug, Default)]
pub struct LatencyHistogram {
    buckets: [AtomicU64; LATENCY_BUCKETS_US.len()],
    sum_us: AtomicU64,
    count: AtomicU64,
}

impl LatencyHistogram {
    /// Records one request.
    pub fn observe(&self, took: Duration) {
        let us = u64::try_from(took.as_micros()).unwrap_or(u64::MAX);
        let i = LATENCY_BUCKETS_US
            .iter()
            .position(|le| us <= *le)
            .unwrap_or(LATENCY_BUCKETS_US.len() - 1);
        self.buckets[i].fetch_add(1, Relaxed);
        self.sum_us.fetch_add(us, Relaxed);
        self.count.fetch_add(1, Relaxed);
    }

    /// Cumulative counts per bucket (Prometheus' form), the sum in microseconds, the count.
    pub fn snapshot(&self) -> ([u64; LATENCY_BUCKETS_US.len()], u64, u64) {
        let mut cumulative = [0u64; LATENCY_BUCKETS_US.len()];
        let mut running = 0;
        for (i, b) in self.buckets.iter().enumerate() {
            running += b.load(Relaxed);
            cumulative[i] = running;
        }
        (
            cumulative,
            self.sum_us.load(Relaxed),
            self.count.load(Relaxed),
        )
    }
}

/// All traffic figures.
#[derive(Debug)]
pub struct Traffic {
    shards: Box<[ShardTraffic]>,
    latency: Box<[LatencyHistogram]>,
    /// Nodes detached by failover (health check, backend error, PCP).
    pub failovers: AtomicU64,
}

impl Traffic {
    /// Figures for `shards` shards and `nodes` nodes.
    pub fn new(shards: usize, nodes: usize) -> Self {
        Self {
            shards: (0..shards.max(1))
                .map(|_| ShardTraffic::default())
                .collect(),
            latency: (0..nodes).map(|_| LatencyHistogram::default()).collect(),
            failovers: AtomicU64::new(0),
        }
    }

    /// One shard's counters (shard ids past the end share the last slot).
    pub fn shard(&self, id: usize) -> &ShardTraffic {
        &self.shards[id.min(self.shards.len() - 1)]
    }

    /// Every shard's counters.
    pub fn shards(&self) -> &[ShardTraffic] {
        &self.shards
    }

    /// One node's latency histogram.
    pub fn latency(&self, node: usize) -> Option<&LatencyHistogram> {
        self.latency.get(node)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latencies_land_in_cumulative_buckets() {
        let h = LatencyHistogram::default();
        h.observe(Duration::from_micros(50));
        h.observe(Duration::from_micros(300));
        h.observe(Duration::from_secs(60));
        let (b, sum, count) = h.snapshot();
        assert_eq!(count, 3);
        assert_eq!(sum, 50 + 300 + 60_000_000);
        assert_eq!(b[0], 1, "≤ 100 µs");
        assert_eq!(b[2], 2, "≤ 500 µs");
        assert_eq!(*b.last().unwrap(), 3, "+Inf counts everything");
    }

    #[test]
    fn shards_have_their_own_lines() {
        let t = Traffic::new(2, 1);
        t.shard(1).bytes_from_clients.fetch_add(5, Relaxed);
        assert_eq!(t.shard(0).bytes_from_clients.load(Relaxed), 0);
        assert_eq!(t.shard(9).bytes_from_clients.load(Relaxed), 5);
        assert_eq!(std::mem::align_of::<ShardTraffic>(), 64);
    }
}
