//! The io_uring reactor of one shard: one-shot readiness polls, timers, and the park.
//!
//! Sockets are nonblocking. A socket operation is tried first; only on `EAGAIN` does its future
//! arm a one-shot `IORING_OP_POLL_ADD` for the descriptor and park its waker in a slot keyed by
//! the poll's `user_data`. Parking the shard is one `io_uring_enter` that submits every armed
//! poll and waits for the first completion or the next timer deadline (an `EXT_ARG` timespec,
//! so no timeout entry is queued). No memory is lent to the kernel, so a future dropped while
//! its poll is in flight only has to cancel the poll: the slot stays reserved until the
//! kernel's completion (or cancellation) arrives, so a key is never reused early.

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::io;
use std::os::fd::RawFd;
use std::task::Waker;
use std::time::{Duration, Instant};

use io_uring::{opcode, squeue, types, IoUring};

/// `user_data` of entries whose completion means nothing (cancellations).
const IGNORED: u64 = u64::MAX;
/// `user_data` of the poll on the shard's wake eventfd.
const WAKE: u64 = u64::MAX - 1;
/// Submission queue size; the completion queue is twice that and the kernel keeps overflow.
const RING_ENTRIES: u32 = 256;

/// One armed poll, from arming until its completion is consumed.
enum PollSlot {
    /// Unused; the number is the next free slot (a free list through the vector).
    Free(usize),
    /// Waiting for the kernel; the waker of the future that armed it.
    Waiting(Waker),
    /// Completed with this result (the revents mask, or a negated errno).
    Done(i32),
    /// Its future was dropped before the completion: free the slot when it arrives.
    Abandoned,
}

/// The reactor state of one shard thread.
pub(super) struct Reactor {
    ring: RefCell<IoUring>,
    polls: RefCell<Vec<PollSlot>>,
    free_poll: Cell<usize>,
    timers: RefCell<BTreeMap<(Instant, u64), Waker>>,
    next_timer: Cell<u64>,
    /// The shard's eventfd, written by other threads that schedule one of its tasks.
    wake_fd: RawFd,
}

impl Reactor {
    /// A ring for this thread; `wake_fd` is polled so another thread's write ends a park.
    pub(super) fn new(wake_fd: RawFd) -> io::Result<Self> {
        // Only this thread enters the ring, and completions are only needed when it parks:
        // deferred task work saves the kernel interrupting the shard. Older kernels lack these
        // flags and get a plain ring.
        let ring = IoUring::builder()
            .setup_single_issuer()
            .setup_defer_taskrun()
            .build(RING_ENTRIES)
            .or_else(|_| IoUring::builder().setup_coop_taskrun().build(RING_ENTRIES))
            .or_else(|_| IoUring::new(RING_ENTRIES))
            .map_err(|e| io::Error::new(e.kind(), format!("could not create an io_uring: {e}")))?;
        if !ring.params().is_feature_ext_arg() {
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "the io_uring runtime needs Linux 5.11 or later (IORING_FEAT_EXT_ARG)",
            ));
        }
        let reactor = Self {
            ring: RefCell::new(ring),
            polls: RefCell::new(Vec::new()),
            free_poll: Cell::new(usize::MAX),
            timers: RefCell::new(BTreeMap::new()),
            next_timer: Cell::new(0),
            wake_fd,
        };
        reactor.arm_wake()?;
        Ok(reactor)
    }

    /// Arms a one-shot poll of `fd` for `events` (`libc::POLLIN`, …); returns its key.
    pub(super) fn arm_poll(&self, fd: RawFd, events: u32, waker: &Waker) -> io::Result<usize> {
        let key = {
            let mut polls = self.polls.borrow_mut();
            let free = self.free_poll.get();
            if free < polls.len() {
                if let PollSlot::Free(next) = polls[free] {
                    self.free_poll.set(next);
                }
                polls[free] = PollSlot::Waiting(waker.clone());
                free
            } else {
                polls.push(PollSlot::Waiting(waker.clone()));
                polls.len() - 1
            }
        };
        let entry = opcode::PollAdd::new(types::Fd(fd), events)
            .build()
            .user_data(key as u64);
        if let Err(e) = self.push(&entry) {
            self.free(key);
            return Err(e);
        }
        Ok(key)
    }

    /// The result of poll `key` if it completed (the slot is then freed), else records `waker`.
    pub(super) fn check_poll(&self, key: usize, waker: &Waker) -> Option<i32> {
        let result = {
            let mut polls = self.polls.borrow_mut();
            match polls.get_mut(key) {
                Some(PollSlot::Done(res)) => *res,
                Some(PollSlot::Waiting(w)) => {
                    if !w.will_wake(waker) {
                        *w = waker.clone();
                    }
                    return None;
                }
                // Not ours any more: report an error rather than hang.
                _ => -libc::EBADF,
            }
        };
        self.free(key);
        Some(result)
    }

    /// Forgets poll `key` (its future was dropped) and asks the kernel to cancel it.
    pub(super) fn abandon_poll(&self, key: usize) {
        let waiting = {
            let mut polls = self.polls.borrow_mut();
            match polls.get_mut(key) {
                Some(slot @ PollSlot::Waiting(_)) => {
                    Some(std::mem::replace(slot, PollSlot::Abandoned))
                }
                Some(PollSlot::Done(_)) => None,
                _ => return,
            }
        };
        match waiting {
            // Dropped outside the borrow: dropping a waker may reschedule its task.
            Some(waker) => {
                drop(waker);
                let cancel = opcode::AsyncCancel::new(key as u64)
                    .build()
                    .user_data(IGNORED);
                if let Err(e) = self.push(&cancel) {
                    // The poll then completes when the descriptor next becomes ready, or when
                    // the ring is torn down; the slot stays reserved until then.
                    tracing::debug!(error = %e, "could not cancel an io_uring poll");
                }
            }
            None => self.free(key),
        }
    }

    /// Registers a timer at `deadline`; returns the id that [`Self::cancel_timer`] takes.
    pub(super) fn add_timer(&self, deadline: Instant, waker: &Waker) -> u64 {
        let id = self.next_timer.get();
        self.next_timer.set(id.wrapping_add(1));
        self.timers
            .borrow_mut()
            .insert((deadline, id), waker.clone());
        id
    }

    /// Replaces the waker of a registered timer (registers it again if it is gone).
    pub(super) fn update_timer(&self, deadline: Instant, id: u64, waker: &Waker) {
        let mut timers = self.timers.borrow_mut();
        match timers.get_mut(&(deadline, id)) {
            Some(w) if w.will_wake(waker) => {}
            Some(w) => *w = waker.clone(),
            None => {
                timers.insert((deadline, id), waker.clone());
            }
        }
    }

    /// Removes a timer whose future was dropped.
    pub(super) fn cancel_timer(&self, deadline: Instant, id: u64) {
        let removed = self.timers.borrow_mut().remove(&(deadline, id));
        drop(removed);
    }

    /// Submits what was armed and, when `wait`, sleeps until a completion or the next timer.
    /// Then wakes the tasks whose polls completed or whose timers are due.
    pub(super) fn park(&self, wait: bool) -> io::Result<()> {
        let now = Instant::now();
        let next_deadline = self.timers.borrow().keys().next().map(|(d, _)| *d);
        let wait = wait && next_deadline.map_or(true, |d| d > now);
        {
            let mut ring = self.ring.borrow_mut();
            let idle_ring = {
                let sq = ring.submission();
                sq.is_empty() && !sq.taskrun() && !sq.cq_overflow()
            };
            let entered = match (wait, next_deadline) {
                // Busy and nothing to submit or collect from the kernel: no syscall.
                (false, _) if idle_ring => Ok(0),
                (false, _) => ring.submit(),
                (true, None) => ring.submit_and_wait(1),
                (true, Some(deadline)) => {
                    let left = deadline.saturating_duration_since(now);
                    // Round up so the shard does not wake a few microseconds early and spin.
                    let ts = types::Timespec::from(left + Duration::from_micros(50));
                    let args = types::SubmitArgs::new().timespec(&ts);
                    ring.submitter().submit_with_args(1, &args)
                }
            };
            if let Err(e) = entered {
                match e.raw_os_error() {
                    Some(libc::ETIME) | Some(libc::EINTR) | Some(libc::EBUSY) => {}
                    _ => return Err(io::Error::new(e.kind(), format!("io_uring_enter: {e}"))),
                }
            }
        }
        let mut ready = Vec::new();
        self.reap(&mut ready)?;
        self.expire_timers(Instant::now(), &mut ready);
        for waker in ready {
            waker.wake();
        }
        Ok(())
    }

    /// Takes every waker the reactor holds (shutdown: dropping them lets their tasks be freed).
    pub(super) fn take_wakers(&self) -> Vec<Waker> {
        let mut out: Vec<Waker> = std::mem::take(&mut *self.timers.borrow_mut())
            .into_values()
            .collect();
        for slot in self.polls.borrow_mut().iter_mut() {
            if matches!(slot, PollSlot::Waiting(_)) {
                if let PollSlot::Waiting(w) = std::mem::replace(slot, PollSlot::Abandoned) {
                    out.push(w);
                }
            }
        }
        out
    }

    /// Moves completions into their slots, collecting the wakers to wake.
    fn reap(&self, ready: &mut Vec<Waker>) -> io::Result<()> {
        let mut rearm_wake = false;
        let mut ring = self.ring.borrow_mut();
        let mut polls = self.polls.borrow_mut();
        for cqe in ring.completion() {
            match cqe.user_data() {
                IGNORED => {}
                WAKE => rearm_wake = true,
                key => {
                    let key = key as usize;
                    match polls.get_mut(key) {
                        Some(slot @ PollSlot::Waiting(_)) => {
                            if let PollSlot::Waiting(w) =
                                std::mem::replace(slot, PollSlot::Done(cqe.result()))
                            {
                                ready.push(w);
                            }
                        }
                        Some(slot @ PollSlot::Abandoned) => {
                            *slot = PollSlot::Free(self.free_poll.get());
                            self.free_poll.set(key);
                        }
                        _ => {}
                    }
                }
            }
        }
        drop(polls);
        drop(ring);
        if rearm_wake {
            drain_eventfd(self.wake_fd);
            self.arm_wake()?;
        }
        Ok(())
    }

    fn expire_timers(&self, now: Instant, ready: &mut Vec<Waker>) {
        let mut timers = self.timers.borrow_mut();
        while let Some(entry) = timers.first_entry() {
            if entry.key().0 > now {
                break;
            }
            ready.push(entry.remove());
        }
    }

    fn arm_wake(&self) -> io::Result<()> {
        let entry = opcode::PollAdd::new(types::Fd(self.wake_fd), libc::POLLIN as u32)
            .build()
            .user_data(WAKE);
        self.push(&entry)
    }

    fn free(&self, key: usize) {
        let mut polls = self.polls.borrow_mut();
        if let Some(slot) = polls.get_mut(key) {
            *slot = PollSlot::Free(self.free_poll.get());
            self.free_poll.set(key);
        }
    }

    /// Queues `entry`, submitting what is queued first when the submission queue is full.
    fn push(&self, entry: &squeue::Entry) -> io::Result<()> {
        let mut ring = self.ring.borrow_mut();
        for _ in 0..2 {
            // SAFETY: the entries queued here (poll, cancel) reference no memory, only a
            // descriptor and a user_data number.
            if unsafe { ring.submission().push(entry) }.is_ok() {
                return Ok(());
            }
            if let Err(e) = ring.submit() {
                if e.raw_os_error() != Some(libc::EBUSY) {
                    return Err(io::Error::new(e.kind(), format!("io_uring submit: {e}")));
                }
            }
        }
        Err(io::Error::new(
            io::ErrorKind::WouldBlock,
            "the io_uring submission queue is full",
        ))
    }
}

/// Reads the eventfd's counter back to zero (nonblocking; nothing to do when already zero).
fn drain_eventfd(fd: RawFd) {
    let mut counter = [0u8; 8];
    // SAFETY: `fd` is the shard's eventfd, open for the reactor's lifetime; `counter` is a
    // writable 8-byte buffer, the size an eventfd read needs.
    let _ = unsafe { libc::read(fd, counter.as_mut_ptr().cast(), counter.len()) };
}
