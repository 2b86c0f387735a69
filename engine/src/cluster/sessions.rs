//! Who is connected: one record per client session, for PCP's process info.
//!
//! One slot per cancel slot (same indexing as [`CancelTable`](super::CancelTable)), each a
//! small mutex written only when a session binds its backend and when it ends — never per
//! query — and read by PCP on its own thread. The shard that owns a slot is its only writer,
//! so the locks are never contended on the query path. What a session is doing (idle, in a
//! transaction, running a request) changes per request and lives beside the record in an atomic
//! byte, stored with a relaxed write only when it changes.

use std::sync::atomic::{AtomicU8, Ordering::Relaxed};
use std::sync::Mutex;

/// What a session is doing, as `pcp_proc_info` and `SHOW pool_processes` report it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Activity {
    /// Waiting for the client's next request, outside a transaction block.
    Idle = 0,
    /// Waiting for the client inside a transaction block (or a failed one).
    IdleInTransaction = 1,
    /// A request is being run or its reply forwarded.
    Executing = 2,
}

impl Activity {
    fn from_byte(b: u8) -> Activity {
        match b {
            1 => Activity::IdleInTransaction,
            2 => Activity::Executing,
            _ => Activity::Idle,
        }
    }

    /// Pgpool-II's words for it.
    pub fn pgpool_name(self) -> &'static str {
        match self {
            Activity::Idle => "Idle",
            Activity::IdleInTransaction => "Idle in transaction",
            Activity::Executing => "Execute command",
        }
    }

    /// Stores `self` in `cell` unless it is there already (one relaxed load otherwise).
    pub fn publish(self, cell: &AtomicU8) {
        if cell.load(Relaxed) != self as u8 {
            cell.store(self as u8, Relaxed);
        }
    }
}

/// One client session as PCP reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionInfo {
    /// The process id the client was given in BackendKeyData (corepool's, not the backend's).
    pub process_id: i32,
    /// When the client connected, Unix epoch seconds.
    pub connected_at: u64,
    /// When the backend connection was made or taken from the pool, Unix epoch seconds.
    pub backend_connected_at: u64,
    /// The user name from the start-up packet.
    pub user: String,
    /// The database from the start-up packet.
    pub database: String,
    /// The node serving the session.
    pub node: u32,
    /// The backend's own process id.
    pub backend_pid: i32,
    /// What the session is doing now.
    pub activity: Activity,
}

/// Every session slot of the process.
#[derive(Debug)]
pub struct SessionRegistry {
    slots: Box<[Mutex<Option<SessionInfo>>]>,
    activity: Box<[AtomicU8]>,
}

impl SessionRegistry {
    /// A registry with `per_shard` slots for each of `shards` shards, like the cancel table.
    pub fn new(shards: usize, per_shard: usize) -> Self {
        let n = shards.max(1) * per_shard.max(1);
        Self {
            slots: (0..n).map(|_| Mutex::new(None)).collect(),
            activity: (0..n)
                .map(|_| AtomicU8::new(Activity::Idle as u8))
                .collect(),
        }
    }

    /// Where the session in `slot` publishes its [`Activity`].
    pub fn activity(&self, slot: usize) -> Option<&AtomicU8> {
        self.activity.get(slot)
    }

    /// Records the session in `slot` (called when it has its backend).
    pub fn open(&self, slot: usize, user: &str, database: &str, node: usize, backend_pid: i32) {
        let now = super::now_secs();
        if let Some(a) = self.activity(slot) {
            Activity::Idle.publish(a);
        }
        self.set(
            slot,
            Some(SessionInfo {
                process_id: super::CancelTable::process_id(slot),
                connected_at: now,
                backend_connected_at: now,
                user: user.to_owned(),
                database: database.to_owned(),
                node: node as u32,
                backend_pid,
                activity: Activity::Idle,
            }),
        );
    }

    /// Forgets the session in `slot` (called when it ends).
    pub fn close(&self, slot: usize) {
        self.set(slot, None);
    }

    /// The sessions now, in slot order.
    pub fn snapshot(&self) -> Vec<SessionInfo> {
        self.slots
            .iter()
            .zip(self.activity.iter())
            .filter_map(|(s, a)| {
                let mut info = s.lock().ok().and_then(|g| g.clone())?;
                info.activity = Activity::from_byte(a.load(Relaxed));
                Some(info)
            })
            .collect()
    }

    fn set(&self, slot: usize, info: Option<SessionInfo>) {
        if let Some(s) = self.slots.get(slot) {
            match s.lock() {
                Ok(mut g) => *g = info,
                Err(p) => *p.into_inner() = info,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn open_snapshot_close() {
        let r = SessionRegistry::new(2, 2);
        r.open(3, "alice", "app", 1, 4242);
        r.open(0, "bob", "db", 0, 7);
        r.open(99, "nobody", "x", 0, 1);
        let s = r.snapshot();
        assert_eq!(s.len(), 2);
        assert_eq!(s[0].user, "bob");
        assert_eq!(s[1].process_id, super::super::CancelTable::process_id(3));
        assert_eq!(s[1].backend_pid, 4242);
        assert_eq!(s[1].activity, Activity::Idle);
        Activity::IdleInTransaction.publish(r.activity(3).unwrap());
        assert_eq!(r.snapshot()[1].activity, Activity::IdleInTransaction);
        Activity::Executing.publish(r.activity(3).unwrap());
        assert_eq!(r.snapshot()[1].activity.pgpool_name(), "Execute command");
        // A new session in the slot starts idle.
        r.open(3, "carol", "app", 0, 5);
        assert_eq!(r.snapshot()[1].activity, Activity::Idle);
        assert!(r.activity(99).is_none());
        r.close(0);
        assert_eq!(r.snapshot().len(), 1);
    }
}
