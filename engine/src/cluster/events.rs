//! Recent failover and health events — node detached, attached, promoted, a new primary, a
//! failed health check — kept in a small bounded log for the status page and `/status.json`.
//!
//! Writers are the failover thread and shard 0's health checks: a few events a minute at the
//! very most, never on the query path. So the log is a short `VecDeque` behind a mutex that is
//! held only to push or copy; the oldest event falls off when [`CAPACITY`] is reached. Each
//! event gets a sequence number, so a reader polling the log can tell new events from old and
//! see when some fell off between two polls.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

/// How many events are kept.
pub const CAPACITY: usize = 64;

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum EventKind {
    /// A node was marked down (failover, PCP detach, follow_primary, pgpool_status at start).
    NodeDetached,
    /// A node was attached again (failback, PCP attach, auto_failback).
    NodeAttached,
    /// A node was promoted to primary (PCP promote, with or without switchover).
    NodePromoted,
    /// corepool now treats this node as the primary.
    PrimaryChanged,
    /// A failover left no primary.
    NoPrimary,
    /// A health check of the node failed after all its retries.
    HealthCheckFailed,
}

impl EventKind {
    /// A stable name for JSON and the page (`node_detached`, …).
    pub fn name(self) -> &'static str {
        match self {
            EventKind::NodeDetached => "node_detached",
            EventKind::NodeAttached => "node_attached",
            EventKind::NodePromoted => "node_promoted",
            EventKind::PrimaryChanged => "primary_changed",
            EventKind::NoPrimary => "no_primary",
            EventKind::HealthCheckFailed => "health_check_failed",
        }
    }
}

/// One recorded event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// 1 for the first event since start, then increasing by one.
    pub seq: u64,
    /// When, in milliseconds since the Unix epoch.
    pub at_ms: u64,
    /// What happened.
    pub kind: EventKind,
    /// The node it happened to, if any.
    pub node: Option<usize>,
    /// Why, or what was said (the failover reason, the health check's error).
    pub detail: String,
}

/// The bounded log.
#[derive(Debug, Default)]
pub struct EventLog {
    inner: Mutex<Ring>,
}

#[derive(Debug, Default)]
struct Ring {
    events: VecDeque<Event>,
    last_seq: u64,
}

impl EventLog {
    /// An empty log.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records an event now; the oldest is dropped when the log is full.
    pub fn record(&self, kind: EventKind, node: Option<usize>, detail: impl Into<String>) {
        let at_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
            .unwrap_or(0);
        let detail = detail.into();
        let mut ring = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        ring.last_seq += 1;
        let seq = ring.last_seq;
        if ring.events.len() == CAPACITY {
            ring.events.pop_front();
        }
        ring.events.push_back(Event {
            seq,
            at_ms,
            kind,
            node,
            detail,
        });
    }

    /// The events kept, oldest first.
    pub fn recent(&self) -> Vec<Event> {
        let ring = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        ring.events.iter().cloned().collect()
    }

    /// How many events were recorded since start (kept or not).
    pub fn total(&self) -> u64 {
        self.inner
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .last_seq
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_newest_in_order() {
        let log = EventLog::new();
        assert!(log.recent().is_empty());
        for i in 0..CAPACITY + 5 {
            log.record(
                EventKind::HealthCheckFailed,
                Some(i % 2),
                format!("try {i}"),
            );
        }
        let kept = log.recent();
        assert_eq!(kept.len(), CAPACITY);
        assert_eq!(kept[0].seq, 6);
        assert_eq!(kept.last().map(|e| e.seq), Some(CAPACITY as u64 + 5));
        assert_eq!(kept[0].detail, "try 5");
        assert!(kept.windows(2).all(|w| w[0].seq + 1 == w[1].seq));
        assert_eq!(log.total(), CAPACITY as u64 + 5);
    }

    #[test]
    fn names_are_stable() {
        assert_eq!(EventKind::NodeDetached.name(), "node_detached");
        assert_eq!(EventKind::HealthCheckFailed.name(), "health_check_failed");
    }
}
