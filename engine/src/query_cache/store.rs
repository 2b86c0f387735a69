//! One segment of the cache: a map from key to slot, and the slots swept by a clock hand for
//! eviction (an entry used since the hand last passed gets another round).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;

use super::{Snapshot, ENTRY_OVERHEAD};

#[derive(Debug)]
struct Slot {
    key: Arc<[u8]>,
    reply: Bytes,
    snapshot: Snapshot,
    stored: Instant,
    referenced: bool,
}

impl Slot {
    fn cost(&self) -> usize {
        cost(&self.key, &self.reply)
    }
}

fn cost(key: &[u8], reply: &[u8]) -> usize {
    key.len() + reply.len() + ENTRY_OVERHEAD
}

/// A bounded map of cached replies.
#[derive(Debug)]
pub(super) struct Segment {
    index: HashMap<Arc<[u8]>, usize>,
    slots: Vec<Option<Slot>>,
    free: Vec<usize>,
    hand: usize,
    used: usize,
    max_bytes: usize,
    max_entries: usize,
}

impl Segment {
    pub(super) fn new(max_bytes: u64, max_entries: usize) -> Self {
        Self {
            index: HashMap::new(),
            slots: Vec::new(),
            free: Vec::new(),
            hand: 0,
            used: 0,
            max_bytes: usize::try_from(max_bytes).unwrap_or(usize::MAX),
            max_entries,
        }
    }

    pub(super) fn len(&self) -> usize {
        self.index.len()
    }

    pub(super) fn used_bytes(&self) -> usize {
        self.used
    }

    /// The fresh reply under `key`; a stale or expired entry is dropped.
    pub(super) fn get(&mut self, key: &[u8], now: Instant, expire: Duration) -> Option<Bytes> {
        let i = *self.index.get(key)?;
        let slot = self.slots.get_mut(i)?.as_mut()?;
        let expired = !expire.is_zero() && now.saturating_duration_since(slot.stored) >= expire;
        if expired || !slot.snapshot.is_current() {
            self.take(i);
            return None;
        }
        slot.referenced = true;
        Some(slot.reply.clone())
    }

    pub(super) fn insert(
        &mut self,
        key: Arc<[u8]>,
        reply: Bytes,
        snapshot: Snapshot,
        now: Instant,
    ) -> bool {
        let need = cost(&key, &reply);
        if need > self.max_bytes {
            return false;
        }
        if let Some(i) = self.index.get(&key[..]).copied() {
            self.take(i);
        }
        while !self.index.is_empty()
            && (self.used + need > self.max_bytes || self.index.len() >= self.max_entries)
        {
            self.evict_one();
        }
        let slot = Slot {
            key: key.clone(),
            reply,
            snapshot,
            stored: now,
            referenced: false,
        };
        self.used += slot.cost();
        let i = match self.free.pop() {
            Some(i) => {
                self.slots[i] = Some(slot);
                i
            }
            None => {
                self.slots.push(Some(slot));
                self.slots.len() - 1
            }
        };
        self.index.insert(key, i);
        true
    }

    pub(super) fn remove(&mut self, key: &[u8]) -> bool {
        match self.index.get(key).copied() {
            Some(i) => {
                self.take(i);
                true
            }
            None => false,
        }
    }

    pub(super) fn clear(&mut self) {
        self.index.clear();
        self.slots.clear();
        self.free.clear();
        self.hand = 0;
        self.used = 0;
    }

    /// Moves the clock hand to the first entry not used since its last pass, and drops it.
    fn evict_one(&mut self) {
        // Two sweeps at most: the first clears every reference bit it passes.
        for _ in 0..2 * self.slots.len() + 1 {
            if self.hand >= self.slots.len() {
                self.hand = 0;
            }
            let i = self.hand;
            self.hand += 1;
            match self.slots.get_mut(i) {
                Some(Some(s)) if s.referenced => s.referenced = false,
                Some(Some(_)) => {
                    self.take(i);
                    return;
                }
                _ => {}
            }
        }
    }

    fn take(&mut self, i: usize) {
        if let Some(slot) = self.slots.get_mut(i).and_then(Option::take) {
            self.used -= slot.cost();
            self.index.remove(&slot.key[..]);
            self.free.push(i);
        }
    }
}
