//! The fence: a thread that de-escalates this instance before its lease could expire in etcd,
//! whatever the agent is doing (an etcd call can block for a while when members hang).
//!
//! The agent moves the deadline forward after each renewal (the renewal's send time plus the
//! TTL etcd granted, which can only be earlier than etcd's own expiry). When the deadline is
//! `margin` away, the fence runs the de-escalation and marks the lease as lost; the agent
//! escalates only through [`Fence::escalate_if_safe`], under the same lock.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use super::escalation::Escalation;
use crate::config::WatchdogSettings;

/// What the fence guards.
#[derive(Debug, Default)]
struct Guarded {
    deadline: Option<Instant>,
    escalation: Escalation,
}

/// Shared by the agent and the fence thread.
#[derive(Debug)]
pub struct Fence {
    guarded: Mutex<Guarded>,
    margin: Duration,
    lost: AtomicBool,
}

impl Fence {
    /// A fence acting `margin` before the deadline.
    pub fn new(margin: Duration) -> Self {
        Self {
            guarded: Mutex::new(Guarded::default()),
            margin,
            lost: AtomicBool::new(false),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Guarded> {
        self.guarded.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The lease is valid until `deadline` (`None`: no lease).
    pub fn set_deadline(&self, deadline: Option<Instant>) {
        self.lock().deadline = deadline;
    }

    /// Whether the lease is valid for longer than the margin.
    pub fn lease_safe(&self) -> bool {
        self.lock()
            .deadline
            .is_some_and(|d| Instant::now() + self.margin < d)
    }

    /// Escalates when the lease is safely valid; returns whether this instance is escalated.
    pub fn escalate_if_safe(&self, s: &WatchdogSettings) -> bool {
        let mut g = self.lock();
        if g.deadline.is_some_and(|d| Instant::now() + self.margin < d) {
            g.escalation.escalate(s);
        }
        g.escalation.escalated()
    }

    /// De-escalates now (leadership lost, shutdown).
    pub fn de_escalate(&self, s: &WatchdogSettings, why: &str) {
        self.lock().escalation.de_escalate(s, why);
    }

    /// Whether this instance is escalated.
    pub fn escalated(&self) -> bool {
        self.lock().escalation.escalated()
    }

    /// Takes the fence's "lease lost" mark.
    pub fn take_lost(&self) -> bool {
        self.lost.swap(false, Ordering::AcqRel)
    }

    /// One check: de-escalates and marks the lease lost when its deadline is near.
    pub fn check(&self, s: &WatchdogSettings) {
        let mut g = self.lock();
        let Some(d) = g.deadline else {
            return;
        };
        if Instant::now() + self.margin < d {
            return;
        }
        g.deadline = None;
        self.lost.store(true, Ordering::Release);
        tracing::error!("watchdog: lease renewal overdue; this instance stops deciding");
        g.escalation.de_escalate(s, "etcd lease about to expire");
    }
}

/// Runs the fence until `stop` says so, checking every 50 ms.
pub fn spawn(
    fence: Arc<Fence>,
    settings: impl Fn() -> WatchdogSettings + Send + 'static,
    stop: impl Fn() -> bool + Send + 'static,
) -> std::io::Result<std::thread::JoinHandle<()>> {
    std::thread::Builder::new()
        .name("corepool-wd-fence".into())
        .spawn(move || {
            while !stop() {
                fence.check(&settings());
                std::thread::sleep(Duration::from_millis(50));
            }
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_overdue_lease_de_escalates_and_blocks_escalation() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("log");
        let s = WatchdogSettings {
            escalation_command: format!("echo up >> {}", log.display()),
            de_escalation_command: format!("echo down >> {}", log.display()),
            ..WatchdogSettings::default()
        };
        let f = Fence::new(Duration::from_millis(500));
        assert!(!f.escalate_if_safe(&s), "no lease, no escalation");
        f.set_deadline(Some(Instant::now() + Duration::from_secs(10)));
        assert!(f.escalate_if_safe(&s));
        f.check(&s);
        assert!(!f.take_lost());
        f.set_deadline(Some(Instant::now() + Duration::from_millis(100)));
        f.check(&s);
        assert!(f.take_lost());
        assert!(!f.escalated());
        assert!(!f.escalate_if_safe(&s));
        // The escalation thread ran before the de-escalation (joined first).
        assert_eq!(std::fs::read_to_string(&log).unwrap(), "up\ndown\n");
    }
}
