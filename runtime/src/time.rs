//! Timers on the shard's clock: [`sleep`] and [`timeout`].
//!
//! Deadlines are measured from the loop turn's clock ([`crate::now`]), which the reactor reads
//! once per turn; the park waits for the earliest deadline with the `io_uring_enter` timeout,
//! so no timeout entry is ever queued.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use crate::executor::{now, with_reactor};

/// Sleeps for `d` on the current shard's timers.
pub fn sleep(d: Duration) -> Sleep {
    Sleep {
        deadline: now() + d,
        timer: None,
    }
}

/// The future [`sleep`] returns; dropping it removes its timer.
#[derive(Debug)]
pub struct Sleep {
    deadline: Instant,
    timer: Option<u64>,
}

impl Future for Sleep {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        if now() >= this.deadline {
            if let Some(id) = this.timer.take() {
                with_reactor(|r| r.cancel_timer(this.deadline, id));
            }
            return Poll::Ready(());
        }
        let deadline = this.deadline;
        match this.timer {
            Some(id) => {
                with_reactor(|r| r.update_timer(deadline, id, cx.waker()));
            }
            None => this.timer = with_reactor(|r| r.add_timer(deadline, cx.waker())),
        }
        if this.timer.is_none() {
            // Outside a shard there is no reactor to wake us: sleep on the thread instead.
            std::thread::sleep(deadline.saturating_duration_since(Instant::now()));
            return Poll::Ready(());
        }
        Poll::Pending
    }
}

impl Drop for Sleep {
    fn drop(&mut self) {
        if let Some(id) = self.timer.take() {
            with_reactor(|r| r.cancel_timer(self.deadline, id));
        }
    }
}

/// Runs `fut` for at most `limit`; `None` when the time ran out (the future is dropped).
///
/// A plain function returning a struct, not an `async fn`: an `async fn` would keep `fut`
/// both as its argument and as the future it awaits, and a session's start-up future wrapped
/// so took three times its size in every session's task.
pub fn timeout<F: Future>(limit: Duration, fut: F) -> Timeout<F> {
    Timeout {
        fut,
        sleep: sleep(limit),
    }
}

pin_project_lite::pin_project! {
    /// The future [`timeout`] returns.
    #[derive(Debug)]
    pub struct Timeout<F> {
        #[pin]
        fut: F,
        sleep: Sleep,
    }
}

impl<F: Future> Future for Timeout<F> {
    type Output = Option<F::Output>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        if let Poll::Ready(v) = this.fut.poll(cx) {
            return Poll::Ready(Some(v));
        }
        Pin::new(this.sleep).poll(cx).map(|()| None)
    }
}
