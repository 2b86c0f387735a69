//! The cancel-key table: which backend serves the client holding a proxy-issued key, readable
//! from every core without a lock.
//!
//! Each client gets a `(process_id, secret)` pair from corepool, not the backend's: a 4-byte
//! secret for a protocol 3.0 client, 32 bytes for a 3.2 one (what PostgreSQL 18 sends). The
//! process id encodes a slot; the slot records the backend's own key while the session is bound
//! to a backend. A CancelRequest may arrive on any core: that core reads the slot (a seqlock: the
//! one writer is the session that owns the slot), checks the secret — length and bytes — and
//! sends the backend's key, at whatever length that backend issued it, to the backend's node.
//! The two keys are independent: a 3.2 client may sit on a 3.0 backend and the other way round.
//! Slots are split into per-shard ranges, so allocation needs no atomics.

use std::sync::atomic::{fence, AtomicU32, Ordering};

/// A cancel secret as the table stores it: 1 to [`Secret::MAX_LEN`] bytes.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Secret {
    /// How many of `bytes` are the secret.
    len: u8,
    /// The secret, zero-padded.
    bytes: [u8; Secret::MAX_LEN],
}

impl Secret {
    /// The longest secret a slot holds: PostgreSQL 18's key length. Protocol 3.2 allows up to
    /// 256 bytes, which no PostgreSQL release sends; a backend key longer than this is not
    /// stored (see `backend::connect`).
    pub const MAX_LEN: usize = 32;

    /// The secret `bytes`, or `None` when empty or longer than [`Secret::MAX_LEN`].
    pub fn new(bytes: &[u8]) -> Option<Secret> {
        if bytes.is_empty() || bytes.len() > Secret::MAX_LEN {
            return None;
        }
        let mut s = Secret {
            len: bytes.len() as u8,
            bytes: [0; Secret::MAX_LEN],
        };
        s.bytes[..bytes.len()].copy_from_slice(bytes);
        Some(s)
    }

    /// A fresh secret of `len` (1 to [`Secret::MAX_LEN`], clamped) bytes from the thread's
    /// cryptographic RNG, for a client's BackendKeyData.
    pub fn random(len: usize) -> Secret {
        let len = len.clamp(1, Secret::MAX_LEN);
        let mut s = Secret {
            len: len as u8,
            bytes: [0; Secret::MAX_LEN],
        };
        rand::Rng::fill(&mut rand::thread_rng(), &mut s.bytes[..len]);
        s
    }

    /// The secret's bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }

    /// Compares with `other` in time independent of where they differ.
    fn matches(&self, other: &[u8]) -> bool {
        other.len() == usize::from(self.len)
            && self
                .as_bytes()
                .iter()
                .zip(other)
                .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                == 0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Secret({} bytes, <redacted>)", self.len)
    }
}

/// What a cancel needs to reach a backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BackendKey {
    /// Node the backend runs on.
    pub node: u32,
    /// The backend's process id (from its BackendKeyData).
    pub process_id: i32,
    /// The backend's secret key, as long as it issued it (4 bytes, 32 from PostgreSQL 18 at
    /// protocol 3.2).
    pub secret: Secret,
}

/// A [`Secret`] in atomics: its length (0: none) and its bytes as big-endian words.
#[derive(Debug, Default)]
struct SecretCell {
    len: AtomicU32,
    words: [AtomicU32; Secret::MAX_LEN / 4],
}

impl SecretCell {
    fn store(&self, secret: Option<&Secret>) {
        let Some(secret) = secret else {
            self.len.store(0, Ordering::Relaxed);
            return;
        };
        self.len.store(u32::from(secret.len), Ordering::Relaxed);
        for (word, chunk) in self.words.iter().zip(secret.bytes.chunks_exact(4)) {
            let w = u32::from_be_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
            word.store(w, Ordering::Relaxed);
        }
    }

    fn load(&self) -> Option<Secret> {
        let len = self.len.load(Ordering::Relaxed) as usize;
        if len == 0 || len > Secret::MAX_LEN {
            return None;
        }
        let mut s = Secret {
            len: len as u8,
            bytes: [0; Secret::MAX_LEN],
        };
        for (word, chunk) in self.words.iter().zip(s.bytes.chunks_exact_mut(4)) {
            chunk.copy_from_slice(&word.load(Ordering::Relaxed).to_be_bytes());
        }
        Some(s)
    }
}

#[derive(Debug, Default)]
struct Slot {
    /// Even: stable; odd: being written.
    seq: AtomicU32,
    /// The client's secret; none while the slot is free.
    client_secret: SecretCell,
    /// Node id + 1; 0 while no backend is bound.
    node: AtomicU32,
    pid: AtomicU32,
    key: SecretCell,
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

    /// Marks `slot` as owned by a client holding `secret`, no backend bound yet.
    pub fn claim(&self, slot: usize, secret: &Secret) {
        self.write(slot, |s| {
            s.client_secret.store(Some(secret));
            s.node.store(0, Ordering::Relaxed);
        });
    }

    /// Records (or clears, with `None`) the backend the slot's session is using.
    pub fn bind(&self, slot: usize, backend: Option<BackendKey>) {
        self.write(slot, |s| match backend {
            Some(b) => {
                s.node.store(b.node + 1, Ordering::Relaxed);
                s.pid.store(b.process_id as u32, Ordering::Relaxed);
                s.key.store(Some(&b.secret));
            }
            None => s.node.store(0, Ordering::Relaxed),
        });
    }

    /// Frees the slot when the session ends.
    pub fn release(&self, slot: usize) {
        self.write(slot, |s| {
            s.client_secret.store(None);
            s.node.store(0, Ordering::Relaxed);
        });
    }

    /// Finds the backend for a client's cancel key (`secret` as the CancelRequest carried it,
    /// of any length); `None` if the key is unknown, stale, of the wrong length, or no backend
    /// is bound.
    pub fn lookup(&self, process_id: i32, secret: &[u8]) -> Option<BackendKey> {
        let slot = (process_id as u32).checked_sub(PID_BASE)? as usize;
        let s = self.slots.get(slot)?;
        for _ in 0..64 {
            let before = s.seq.load(Ordering::Acquire);
            if before & 1 == 1 {
                std::hint::spin_loop();
                continue;
            }
            let client_secret = s.client_secret.load();
            let node = s.node.load(Ordering::Relaxed);
            let pid = s.pid.load(Ordering::Relaxed);
            let key = s.key.load();
            fence(Ordering::Acquire);
            if s.seq.load(Ordering::Relaxed) != before {
                continue;
            }
            let (Some(client_secret), Some(key)) = (client_secret, key) else {
                return None;
            };
            if !client_secret.matches(secret) || node == 0 {
                return None;
            }
            return Some(BackendKey {
                node: node - 1,
                process_id: pid as i32,
                secret: key,
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

    fn secret(bytes: &[u8]) -> Secret {
        Secret::new(bytes).unwrap()
    }

    #[test]
    fn a_bound_slot_answers_only_its_secret() {
        let t = CancelTable::new(2, 4);
        let r = t.shard_range(1);
        assert_eq!(r, 4..8);
        let slot = r.start;
        t.claim(slot, &secret(&[0, 0, 0xde, 0xad]));
        let pid = CancelTable::process_id(slot);
        assert_eq!(
            t.lookup(pid, &[0, 0, 0xde, 0xad]),
            None,
            "no backend bound yet"
        );
        let b = BackendKey {
            node: 1,
            process_id: 4242,
            secret: secret(&(-7i32).to_be_bytes()),
        };
        t.bind(slot, Some(b));
        assert_eq!(t.lookup(pid, &[0, 0, 0xde, 0xad]), Some(b));
        assert_eq!(t.lookup(pid, &[0, 0, 0xbe, 0xef]), None);
        t.release(slot);
        assert_eq!(t.lookup(pid, &[0, 0, 0xde, 0xad]), None);
    }

    /// A 3.2 client's 32-byte secret matches only whole: not a prefix, not padded, not a 4-byte
    /// key; and the backend key comes back at its own length, whichever the client's is.
    #[test]
    fn secrets_match_by_length_and_bytes() {
        let t = CancelTable::new(1, 2);
        let long: Vec<u8> = (1..=32).collect();
        t.claim(0, &secret(&long));
        let backend_32 = BackendKey {
            node: 0,
            process_id: 77,
            secret: secret(&[9; 32]),
        };
        t.bind(0, Some(backend_32));
        let pid = CancelTable::process_id(0);
        assert_eq!(t.lookup(pid, &long), Some(backend_32));
        assert_eq!(t.lookup(pid, &long[..4]), None, "a prefix");
        assert_eq!(t.lookup(pid, &long[..31]), None);
        assert_eq!(t.lookup(pid, &[long.clone(), vec![0]].concat()), None);
        let mut flipped = long.clone();
        flipped[31] ^= 1;
        assert_eq!(t.lookup(pid, &flipped), None, "last byte differs");
        assert_eq!(t.lookup(pid, &[]), None);
        // A 3.0 client on a 3.2 backend, and a 3.2 client on a 3.0 backend.
        t.claim(1, &secret(&[1, 2, 3, 4]));
        t.bind(1, Some(backend_32));
        let backend_4 = BackendKey {
            secret: secret(&[5, 6, 7, 8]),
            ..backend_32
        };
        assert_eq!(
            t.lookup(CancelTable::process_id(1), &[1, 2, 3, 4]),
            Some(backend_32)
        );
        t.bind(0, Some(backend_4));
        assert_eq!(
            t.lookup(pid, &long).map(|k| k.secret.as_bytes().to_vec()),
            Some(vec![5, 6, 7, 8])
        );
    }

    #[test]
    fn secrets_hold_one_to_32_bytes() {
        assert!(Secret::new(&[]).is_none());
        assert!(Secret::new(&[0; 33]).is_none());
        assert_eq!(Secret::new(&[3; 32]).unwrap().as_bytes(), &[3; 32]);
        for len in [4, 32] {
            let a = Secret::random(len);
            assert_eq!(a.as_bytes().len(), len);
            assert_ne!(a, Secret::random(len), "fresh each time");
        }
        assert_eq!(
            format!("{:?}", secret(&[0xab; 4])),
            "Secret(4 bytes, <redacted>)"
        );
    }

    #[test]
    fn foreign_process_ids_are_ignored() {
        let t = CancelTable::new(1, 2);
        assert_eq!(t.lookup(1, &[1]), None);
        assert_eq!(t.lookup(-5, &[1]), None);
        assert_eq!(t.lookup(CancelTable::process_id(99), &[1]), None);
    }

    #[test]
    fn concurrent_readers_never_see_torn_keys() {
        use std::sync::Arc;
        let t = Arc::new(CancelTable::new(1, 1));
        t.claim(0, &secret(&[9; 32]));
        let pid = CancelTable::process_id(0);
        let writer = {
            let t = t.clone();
            std::thread::spawn(move || {
                for i in 0..20_000i32 {
                    // Keys alternate between 4 and 32 bytes, every word the process id.
                    let word = i.to_be_bytes();
                    let len = if i % 2 == 0 { 4 } else { 32 };
                    let key: Vec<u8> = word.iter().copied().cycle().take(len).collect();
                    t.bind(
                        0,
                        Some(BackendKey {
                            node: 0,
                            process_id: i,
                            secret: Secret::new(&key).unwrap(),
                        }),
                    );
                }
            })
        };
        for _ in 0..20_000 {
            if let Some(k) = t.lookup(pid, &[9; 32]) {
                let bytes = k.secret.as_bytes();
                assert_eq!(bytes.len(), if k.process_id % 2 == 0 { 4 } else { 32 });
                for chunk in bytes.chunks(4) {
                    assert_eq!(chunk, k.process_id.to_be_bytes());
                }
            }
        }
        writer.join().unwrap();
    }
}
