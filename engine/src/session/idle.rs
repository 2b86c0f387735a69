//! client_idle_limit: what the relay records about client activity, and the timer that ends an
//! idle session.

use super::relay::RelayEnd;

/// What client_idle_limit needs to know about a running relay: when the client last sent
/// something, and whether a request is outstanding (a client waiting for a reply is not idle).
#[derive(Debug)]
pub struct IdleWatch {
    /// Last client read or completed request.
    pub last: std::cell::Cell<std::time::Instant>,
    /// A request is in flight.
    pub busy: std::cell::Cell<bool>,
}

impl Default for IdleWatch {
    fn default() -> Self {
        Self {
            last: std::cell::Cell::new(std::time::Instant::now()),
            busy: std::cell::Cell::new(false),
        }
    }
}

/// Ends when the client has been idle (no request outstanding, nothing sent) for `limit`.
pub async fn idle_timeout(watch: &IdleWatch, limit: std::time::Duration) -> RelayEnd {
    loop {
        let idle_for = watch.last.get().elapsed();
        if !watch.busy.get() && idle_for >= limit {
            return RelayEnd::IdleTimeout(limit);
        }
        let wait = if watch.busy.get() {
            limit
        } else {
            limit.saturating_sub(idle_for)
        };
        crate::runtime::sleep(wait.max(std::time::Duration::from_millis(50))).await;
    }
}
