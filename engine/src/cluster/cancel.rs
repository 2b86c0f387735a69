//! The cancel-key table: which backend serves the client holding a proxy-issued key, readable
//! from every core without a lock.
//!
//! Each client gets a `(process_id, secret_key)` pair from corepool, not the backend's. The
//! process id encodes a slot; the slot records the backend's own key while the session is bound
//! to a backend. A CancelRequest may arrive on any core: that core reads the slot (a seqlock: the
//! one writer is the session that owns the slot), checks the secret, and sends the backend's key
//! to the backend's node. Slots are split into per-shard ranges, so allocation needs no atomics.

use std::sync::atomic::{fence, AtomicU32, Ordering};

/// What a cancel needs to reach a backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BackendKey {
    /// Node the backend runs on.
    pub node: u32,
    /// The backend's process id (from its BackendKeyData).
    pub process_id: i32,
    /// The backend's secret key.
    pub secret_key: i32,
}

#[derive(Debug, Default)]
struct Slot {
    /// Even: stable; odd: being written.
    seq: AtomicU32,
    /// The client's secret; 0 while the slot is free.
    client_secret: AtomicU32,
    /// Node id + 1; 0 while no backend is bound.
    node: AtomicU32,
    pid: AtomicU32,
    key: AtomicU32,
}

/// All cancel slots of the process.
#[derive(Debug)]
pub struct CancelTable {
    slots: Box<[Slot]>,
    per_shard: usize,
}

/// Offset added to slot numbers so proxy-issued process ids look like (and never equal 0).
const PID_BASE: u32 = 100_000;

impl CancelTable {
    /// A table with `per_shard` slots for each of `shards` shards.
    pub fn new(shards: usize, per_shard: usize) -> Self {
        let n = shards.max(1) * per_shard.max(1);
        let slots = (0..n).map(|_| Slot::default()).collect();
        Self {
            slots,
            per_shard: per_shard.max(1),
        }
    }

    /// The slot range a shard allocates from.
    pub fn shard_range(&self, shard: usize) -> std::ops::Range<usize> {
        let start = shard * self.per_shard;
        start.min(self.slots.len())..(start + self.per_shard).min(self.slots.len())
    }

    /// The process id a client sees for `slot`.
    pub fn process_id(slot: usize) -> i32 {
        (PID_BASE as usize + slot) as i32
    }

    /// Marks `slot` as owned by a client with `secret` (non-zero), no backend bound yet.
    pub fn claim(&self, slot: usize, secret: u32) {
        self.write(slot, |s| {
            s.client_secret.store(secret.max(1), Ordering::Relaxed);
            s.node.store(0, Ordering::Relaxed);
        });
    }

    /// Records (or clears, with `None`) the backend the slot's session is using.
    pub fn bind(&self, slot: usize, backend: Option<BackendKey>) {
        self.write(slot, |s| match backend {
            Some(b) => {
                s.node.store(b.node + 1, Ordering::Relaxed);
                s.pid.store(b.process_id as u32, Ordering::Relaxed);
                s.key.store(b.secret_key as u32, Ordering::Relaxed);
            }
            None => s.node.store(0, Ordering::Relaxed),
        });
    }

    /// Frees the slot when the session ends.
    pub fn release(&self, slot: usize) {
        self.write(slot, |s| {
            s.client_secret.store(0, Ordering::Relaxed);
            s.node.store(0, Ordering::Relaxed);
        });
    }

    /// Finds the backend for a client's cancel key; `None` if the key is unknown, stale, or no
    /// backend is bound.
    pub fn lookup(&self, process_id: i32, secret: i32) -> Option<BackendKey> {
        let slot = (process_id as u32).checked_sub(PID_BASE)? as usize;
        let s = self.slots.get(slot)?;
        for _ in 0..64 {
            let before = s.seq.load(Ordering::Acquire);
            if before & 1 == 1 {
                std::hint::spin_loop();
                continue;
            }
            let client_secret = s.client_secret.load(Ordering::Relaxed);
            let node = s.node.load(Ordering::Relaxed);
            let pid = s.pid.load(Ordering::Relaxed);
            let key = s.key.load(Ordering::Relaxed);
            fence(Ordering::Acquire);
            if s.seq.load(Ordering::Relaxed) != before {
                continue;
            }
            if client_secret == 0 || client_secret != secret as u32 || node == 0 {
                return None;
            }
            return Some(BackendKey {
                node: node - 1,
                process_id: pid as i32,
                secret_key: key as i32,
            });
        }
        None
    }

    fn write(&self, slot: usize, f: impl FnOnce(&Slot)) {
        let Some(s) = self.slots.get(slot) else {
            return;
        };
        let seq = s.seq.load(Ordering::Relaxed);
        s.seq.store(seq.wrapping_add(1), Ordering::Relaxed);
        fence(Ordering::Release);
        f(s);
        s.seq.store(seq.wrapping_add(2), Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bound_slot_answers_only_its_secret() {
        let t = CancelTable::new(2, 4);
        let r = t.shard_range(1);
        assert_eq!(r, 4..8);
        let slot = r.start;
        t.claim(slot, 0xdead);
        let pid = CancelTable::process_id(slot);
        assert_eq!(t.lookup(pid, 0xdead), None, "no backend bound yet");
        let b = BackendKey {
            node: 1,
            process_id: 4242,
            secret_key: -7,
        };
        t.bind(slot, Some(b));
        assert_eq!(t.lookup(pid, 0xdead), Some(b));
        assert_eq!(t.lookup(pid, 0xbeef), None);
        t.release(slot);
        assert_eq!(t.lookup(pid, 0xdead), None);
    }

    #[test]
    fn foreign_process_ids_are_ignored() {
        let t = CancelTable::new(1, 2);
        assert_eq!(t.lookup(1, 1), None);
        assert_eq!(t.lookup(-5, 1), None);
        assert_eq!(t.lookup(CancelTable::process_id(99), 1), None);
    }

    #[test]
    fn concurrent_readers_never_see_torn_keys() {
        use std::sync::Arc;
        let t = Arc::new(CancelTable::new(1, 1));
        t.claim(0, 9);
        let pid = CancelTable::process_id(0);
        let writer = {
            let t = t.clone();
            std::thread::spawn(move || {
                for i in 0..20_000i32 {
                    t.bind(
                        0,
                        Some(BackendKey {
                            node: 0,
                            process_id: i,
                            secret_key: i,
                        }),
                    );
                }
            })
        };
        for _ in 0..20_000 {
            if let Some(k) = t.lookup(pid, 9) {
                assert_eq!(k.process_id, k.secret_key);
            }
        }
        writer.join().unwrap();
    }
}
