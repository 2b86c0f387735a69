//! A lean io_uring shard runtime: the alternative to glommio behind the runtime seam
//! (`corepool_runtime = io_uring`).
//!
//! Layout: [`executor`] runs tasks (async-task) on one thread and parks in the [`reactor`],
//! which owns the ring, the readiness polls and the timers; [`net`] has the nonblocking
//! sockets that try each call first and arm a poll only on `EAGAIN`. This module adds the
//! two futures everything else waits on: [`sleep`] and [`PollWait`].
//!
//! Why not glommio here: profiles of `pgbench -S` through the proxy showed most of a shard's
//! CPU in glommio's park and wake path (several rings, a membarrier per park, clock reads). This
//! runtime parks with one `io_uring_enter` per batch and nothing else.

mod executor;
mod net;
mod reactor;
#[cfg(test)]
mod tests;

pub use executor::{is_current, run, spawn};
pub use net::{Listener, Socket};

use std::future::Future;
use std::io;
use std::os::fd::RawFd;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use executor::with_reactor;

/// Sleeps for `d` on the current shard's timers.
pub fn sleep(d: Duration) -> Sleep {
    Sleep {
        deadline: Instant::now() + d,
        timer: None,
    }
}

/// The future [`sleep`] returns; dropping it removes its timer.
pub struct Sleep {
    deadline: Instant,
    timer: Option<u64>,
}

impl Future for Sleep {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        if Instant::now() >= this.deadline {
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
        // Outside a shard (no reactor) the timer cannot be registered: wake again to poll later
        // rather than hang.
        if this.timer.is_none() {
            cx.waker().wake_by_ref();
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

/// One armed readiness poll of a descriptor; dropping it cancels the poll.
pub(crate) struct PollWait {
    key: usize,
}

impl PollWait {
    /// Arms a poll of `fd` for `events` that wakes `cx`'s task.
    pub(crate) fn arm(fd: RawFd, events: u32, cx: &Context<'_>) -> io::Result<Self> {
        let key = with_reactor(|r| r.arm_poll(fd, events, cx.waker())).unwrap_or_else(|| {
            Err(io::Error::other(
                "an io_uring socket used outside its shard",
            ))
        })?;
        Ok(Self { key })
    }

    /// The poll's result once it completed: the ready events, or a negated errno.
    pub(crate) fn poll(&mut self, cx: &Context<'_>) -> Poll<i32> {
        match with_reactor(|r| r.check_poll(self.key, cx.waker())) {
            Some(Some(res)) => {
                // Consumed: the slot is free again and must not be abandoned on drop.
                self.key = usize::MAX;
                Poll::Ready(res)
            }
            Some(None) => Poll::Pending,
            None => Poll::Ready(-libc::EBADF),
        }
    }
}

impl Drop for PollWait {
    fn drop(&mut self) {
        if self.key != usize::MAX {
            with_reactor(|r| r.abandon_poll(self.key));
        }
    }
}
