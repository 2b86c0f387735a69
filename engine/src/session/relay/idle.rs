//! client_idle_limit: what the relay records about client activity, and the timer that ends an
//! idle session.

use std::cell::Cell;
use std::time::{Duration, Instant};

use super::End;

/// What client_idle_limit needs to know about a running relay: when the client last sent
/// something, and whether a request is outstanding (a client waiting for a reply is not idle).
#[derive(Debug)]
pub struct IdleWatch {
    /// Last client read or completed request (the loop turn's clock).
    pub last: Cell<Instant>,
    /// A request is in flight.
    pub busy: Cell<bool>,
}

impl Default for IdleWatch {
    fn default() -> Self {
        Self {
            last: Cell::new(crate::runtime::now()),
            busy: Cell::new(false),
        }
    }
}

/// Ends when the client has been idle (no request outstanding, nothing sent) for `limit`.
pub async fn idle_timeout(watch: &IdleWatch, limit: Duration) -> End {
    loop {
        let idle_for = crate::runtime::now().saturating_duration_since(watch.last.get());
        if !watch.busy.get() && idle_for >= limit {
            return End::IdleTimeout(limit);
        }
        let wait = if watch.busy.get() {
            limit
        } else {
            limit.saturating_sub(idle_for)
        };
        crate::runtime::sleep(wait.max(Duration::from_millis(50))).await;
    }
}
