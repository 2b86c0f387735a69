//! The reactor of one shard: the ring, its operation slots, the sockets' inboxes and send
//! queues, the timers, and the park that ends every loop turn.
//!
//! Operations are identified by `user_data` = slot index | generation << 32, so a completion
//! for a slot reused since is recognised and ignored. Sockets live in a table of their own:
//! their state outlives the handle while the kernel still holds an operation on them, and the
//! descriptor is closed only when the last completion arrived.
//!
//! The reactor builds every submission entry itself (receive, send, accept, connect, cancel,
//! the eventfd poll); nothing outside this module can queue an entry.
#![allow(unsafe_code)]

mod bufring;
mod fifo;
mod socks;
mod sys;

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::io;
use std::os::fd::RawFd;
use std::task::Waker;
use std::time::{Duration, Instant};

use io_uring::{cqueue, opcode, squeue, types, IoUring};

use crate::buf::Region;
use bufring::BufRing;
pub(crate) use socks::{SockId, Socks};

/// `user_data` of entries whose completion means nothing (cancellations).
const IGNORED: u64 = u64::MAX;
/// `user_data` of the poll on the shard's wake eventfd.
const WAKE: u64 = u64::MAX - 1;
/// Completions taken out of the ring at a time.
const REAP_BATCH: usize = 64;

/// What an operation slot is for.
#[derive(Debug)]
enum OpKind {
    /// Unused; the number is the next free slot.
    Free(u32),
    /// A multishot receive on a socket.
    Recv(SockId),
    /// A send of the front of a socket's queue.
    Send(SockId),
    /// A multishot accept on a listening socket.
    Accept(SockId),
    /// A connect; the address must outlive the operation.
    Connect(SockId, #[allow(dead_code)] Box<socket2::SockAddr>),
}

struct OpSlot {
    generation: u32,
    kind: OpKind,
}

/// Sizes of the ring and the receive buffers.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Sizes {
    pub(crate) ring_entries: u32,
    pub(crate) buffer_size: usize,
    pub(crate) buffers: usize,
}

/// The reactor state of one shard thread.
pub(crate) struct Reactor {
    ring: RefCell<IoUring>,
    ops: RefCell<Vec<OpSlot>>,
    free_op: Cell<u32>,
    pub(crate) socks: Socks,
    bufs: RefCell<BufRing>,
    timers: RefCell<BTreeMap<(Instant, u64), Waker>>,
    next_timer: Cell<u64>,
    wake_fd: RawFd,
    /// The loop turn's clock: read once after every park.
    now: Cell<Instant>,
    /// Wakers collected while reaping, woken once no borrow is held.
    ready: RefCell<Vec<Waker>>,
    /// Completions taken out of the ring, handled once its borrow is given back (kept for its
    /// capacity).
    reaped: RefCell<Vec<(u64, i32, u32)>>,
    pub(crate) stats: Cell<Stats>,
}

/// What a shard's reactor did since it started (for tests and profiling).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Stats {
    /// Loop turns that ended in a park.
    pub turns: u64,
    /// `io_uring_enter` calls made by parks.
    pub enters: u64,
    /// Completions reaped.
    pub completions: u64,
    /// Receives that ended because every buffer was taken (armed again later).
    pub starved: u64,
}

impl Reactor {
    /// A ring for this thread; `wake_fd` is polled so another thread's write ends a park.
    pub(crate) fn new(wake_fd: RawFd, sizes: Sizes) -> io::Result<Self> {
        // Only this thread enters the ring, and completions are only needed when it enters:
        // deferred task work saves the kernel interrupting the shard.
        let cq = sizes.ring_entries * 4;
        let ring = IoUring::builder()
            .setup_single_issuer()
            .setup_defer_taskrun()
            .setup_taskrun_flag()
            .setup_cqsize(cq)
            .build(sizes.ring_entries)
            .or_else(|_| {
                IoUring::builder()
                    .setup_coop_taskrun()
                    .setup_taskrun_flag()
                    .setup_cqsize(cq)
                    .build(sizes.ring_entries)
            })
            .or_else(|_| {
                IoUring::builder()
                    .setup_cqsize(cq)
                    .build(sizes.ring_entries)
            })
            .map_err(|e| io::Error::new(e.kind(), format!("could not create an io_uring: {e}")))?;
        if !ring.params().is_feature_ext_arg() || !ring.params().is_feature_nodrop() {
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "corepool's runtime needs Linux 6.0 or later (io_uring EXT_ARG, NODROP, multishot receive)",
            ));
        }
        let region = Region::new(sizes.buffer_size, sizes.buffers).ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::OutOfMemory,
                "could not allocate the receive buffers",
            )
        })?;
        let bufs = BufRing::register(&ring, region)?;
        let reactor = Self {
            ring: RefCell::new(ring),
            ops: RefCell::new(Vec::new()),
            free_op: Cell::new(u32::MAX),
            socks: Socks::default(),
            bufs: RefCell::new(bufs),
            timers: RefCell::new(BTreeMap::new()),
            next_timer: Cell::new(0),
            wake_fd,
            now: Cell::new(Instant::now()),
            ready: RefCell::new(Vec::new()),
            reaped: RefCell::new(Vec::with_capacity(REAP_BATCH)),
            stats: Cell::new(Stats::default()),
        };
        reactor.arm_wake()?;
        Ok(reactor)
    }

    /// The loop turn's clock.
    pub(crate) fn now(&self) -> Instant {
        self.now.get()
    }

    // ---- operation slots ----

    fn new_op(&self, kind: OpKind) -> u64 {
        let mut ops = self.ops.borrow_mut();
        let free = self.free_op.get();
        let index = if (free as usize) < ops.len() {
            let slot = &mut ops[free as usize];
            if let OpKind::Free(next) = slot.kind {
                self.free_op.set(next);
            }
            slot.kind = kind;
            free
        } else {
            ops.push(OpSlot {
                generation: 0,
                kind,
            });
            (ops.len() - 1) as u32
        };
        (ops[index as usize].generation as u64) << 32 | index as u64
    }

    fn free_op(&self, user_data: u64) {
        let index = (user_data & 0xffff_ffff) as u32;
        let mut ops = self.ops.borrow_mut();
        if let Some(slot) = ops.get_mut(index as usize) {
            slot.generation = slot.generation.wrapping_add(1);
            slot.kind = OpKind::Free(self.free_op.get());
            self.free_op.set(index);
        }
    }

    /// The live op for `user_data`, if the slot was not reused since.
    fn op_kind(&self, user_data: u64) -> Option<OpKindRef> {
        let index = (user_data & 0xffff_ffff) as usize;
        let generation = (user_data >> 32) as u32;
        let ops = self.ops.borrow();
        let slot = ops.get(index)?;
        if slot.generation != generation {
            return None;
        }
        Some(match &slot.kind {
            OpKind::Free(_) => return None,
            OpKind::Recv(s) => OpKindRef::Recv(*s),
            OpKind::Send(s) => OpKindRef::Send(*s),
            OpKind::Accept(s) => OpKindRef::Accept(*s),
            OpKind::Connect(s, _) => OpKindRef::Connect(*s),
        })
    }

    // ---- submissions (the only entries this runtime queues) ----

    /// Arms a multishot receive on `fd` into the buffer group; returns its user_data.
    pub(crate) fn submit_recv(&self, sock: SockId, fd: RawFd) -> io::Result<u64> {
        let user_data = self.new_op(OpKind::Recv(sock));
        let entry = opcode::RecvMulti::new(types::Fd(fd), bufring::GROUP)
            .build()
            .user_data(user_data);
        self.push_or_free(entry, user_data)
    }

    /// Sends `iov` (one or more slices that stay valid until the completion) on `fd`.
    pub(crate) fn submit_send(
        &self,
        sock: SockId,
        fd: RawFd,
        msg: &sys::SendMsg,
    ) -> io::Result<u64> {
        let user_data = self.new_op(OpKind::Send(sock));
        let entry = msg.entry(fd).user_data(user_data);
        self.push_or_free(entry, user_data)
    }

    /// Sends `data` on `fd` (a plain `SEND`); `data` must stay valid and unmoved until the
    /// completion is reaped.
    pub(crate) fn submit_send_one(&self, sock: SockId, fd: RawFd, data: &[u8]) -> io::Result<u64> {
        let user_data = self.new_op(OpKind::Send(sock));
        let entry = sys::send_one(fd, data).user_data(user_data);
        self.push_or_free(entry, user_data)
    }

    /// Arms a multishot accept on listening socket `fd`.
    pub(crate) fn submit_accept(&self, sock: SockId, fd: RawFd) -> io::Result<u64> {
        let user_data = self.new_op(OpKind::Accept(sock));
        let entry = opcode::AcceptMulti::new(types::Fd(fd))
            .flags(libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK)
            .build()
            .user_data(user_data);
        self.push_or_free(entry, user_data)
    }

    /// Starts connecting `fd` to `addr`.
    pub(crate) fn submit_connect(
        &self,
        sock: SockId,
        fd: RawFd,
        addr: socket2::SockAddr,
    ) -> io::Result<u64> {
        let addr = Box::new(addr);
        let (ptr, len) = (addr.as_ptr(), addr.len());
        let user_data = self.new_op(OpKind::Connect(sock, addr));
        // The boxed address lives in the op slot until the completion frees it.
        let entry = opcode::Connect::new(types::Fd(fd), ptr.cast(), len)
            .build()
            .user_data(user_data);
        self.push_or_free(entry, user_data)
    }

    /// Asks the kernel to cancel the operation `user_data` (its completion still comes).
    pub(crate) fn cancel(&self, user_data: u64) {
        let entry = opcode::AsyncCancel::new(user_data)
            .build()
            .user_data(IGNORED);
        if let Err(e) = self.push(&entry) {
            tracing::debug!(error = %e, "could not cancel an io_uring operation");
        }
    }

    fn arm_wake(&self) -> io::Result<()> {
        let entry = opcode::PollAdd::new(types::Fd(self.wake_fd), libc::POLLIN as u32)
            .build()
            .user_data(WAKE);
        self.push(&entry)
    }

    fn push_or_free(&self, entry: squeue::Entry, user_data: u64) -> io::Result<u64> {
        match self.push(&entry) {
            Ok(()) => Ok(user_data),
            Err(e) => {
                self.free_op(user_data);
                Err(e)
            }
        }
    }

    /// Queues `entry`, submitting what is queued first when the submission queue is full.
    fn push(&self, entry: &squeue::Entry) -> io::Result<()> {
        let mut ring = self.ring.borrow_mut();
        for _ in 0..2 {
            // SAFETY: every entry is built by this module; the memory it names (a send's
            // slices and msghdr, a connect's address) is owned by the op slot or the socket's
            // send queue and stays put until the entry's completion is reaped.
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

    // ---- timers ----

    /// Registers a timer at `deadline`; returns the id that [`Self::cancel_timer`] takes.
    pub(crate) fn add_timer(&self, deadline: Instant, waker: &Waker) -> u64 {
        let id = self.next_timer.get();
        self.next_timer.set(id.wrapping_add(1));
        self.timers
            .borrow_mut()
            .insert((deadline, id), waker.clone());
        id
    }

    /// Replaces the waker of a registered timer (registers it again if it is gone).
    pub(crate) fn update_timer(&self, deadline: Instant, id: u64, waker: &Waker) {
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
    pub(crate) fn cancel_timer(&self, deadline: Instant, id: u64) {
        let removed = self.timers.borrow_mut().remove(&(deadline, id));
        drop(removed);
    }

    // ---- the park ----

    /// Ends a loop turn: lends returned buffers, re-arms receives that ran out of buffers,
    /// makes one `io_uring_enter` that submits what the turn queued (waiting for a completion
    /// or the next timer only when `wait`), then reaps every completion and wakes their tasks.
    pub(crate) fn park(&self, wait: bool) -> io::Result<()> {
        let republished = self.bufs.borrow_mut().publish();
        if republished {
            self.socks.rearm_starved(self);
        }
        let now = self.now.get();
        let next_deadline = self.timers.borrow().keys().next().map(|(d, _)| *d);
        let wait = wait && next_deadline.map_or(true, |d| d > now);
        let (pending, flagged) = {
            let mut ring = self.ring.borrow_mut();
            let sq = ring.submission();
            (!sq.is_empty(), sq.taskrun() || sq.cq_overflow())
        };
        {
            let ring = self.ring.borrow();
            let submitter = ring.submitter();
            let entered = match (wait, next_deadline) {
                // Busy, nothing to submit and no completion waiting in the kernel: no syscall.
                // (With the kernel's TASKRUN flag set, submit() asks for completions too.)
                (false, _) if !pending && !flagged => Ok(usize::MAX),
                (false, _) => submitter.submit(),
                (true, None) => submitter.submit_and_wait(1),
                (true, Some(deadline)) => {
                    let left = deadline.saturating_duration_since(now);
                    // Round up so the shard does not wake a few microseconds early and spin.
                    let ts = types::Timespec::from(left + Duration::from_micros(50));
                    let args = types::SubmitArgs::new().timespec(&ts);
                    submitter.submit_with_args(1, &args)
                }
            };
            let mut stats = self.stats.get();
            stats.turns += 1;
            if !matches!(entered, Ok(usize::MAX)) {
                stats.enters += 1;
            }
            self.stats.set(stats);
            if let Err(e) = entered {
                match e.raw_os_error() {
                    Some(libc::ETIME) | Some(libc::EINTR) | Some(libc::EBUSY) => {}
                    _ => return Err(io::Error::new(e.kind(), format!("io_uring_enter: {e}"))),
                }
            }
        }
        self.now.set(Instant::now());
        self.reap()?;
        self.expire_timers();
        // Wake outside the borrow, then keep the emptied vector (and its capacity) for the next
        // turn: no allocation per turn.
        let mut ready = std::mem::take(&mut *self.ready.borrow_mut());
        for waker in ready.drain(..) {
            waker.wake();
        }
        let mut slot = self.ready.borrow_mut();
        if slot.is_empty() {
            *slot = ready;
        }
        Ok(())
    }

    /// Collects a waker to wake at the end of the park.
    pub(crate) fn defer_wake(&self, waker: Waker) {
        self.ready.borrow_mut().push(waker);
    }

    fn reap(&self) -> io::Result<()> {
        let mut rearm_wake = false;
        loop {
            // Take a batch out of the queue so no ring borrow is held while handling them
            // (handling may queue new entries).
            let mut batch = std::mem::take(&mut *self.reaped.borrow_mut());
            batch.clear();
            {
                let mut ring = self.ring.borrow_mut();
                batch.extend(
                    ring.completion()
                        .take(REAP_BATCH)
                        .map(|cqe| (cqe.user_data(), cqe.result(), cqe.flags())),
                );
            }
            let n = batch.len();
            if n > 0 {
                let mut stats = self.stats.get();
                stats.completions += n as u64;
                self.stats.set(stats);
                for &(user_data, result, flags) in &batch {
                    match user_data {
                        IGNORED => {}
                        WAKE => rearm_wake = true,
                        _ => self.complete(user_data, result, flags),
                    }
                }
            }
            *self.reaped.borrow_mut() = batch;
            if n == 0 {
                break;
            }
        }
        if rearm_wake {
            sys::drain_eventfd(self.wake_fd);
            self.arm_wake()?;
        }
        Ok(())
    }

    fn complete(&self, user_data: u64, result: i32, flags: u32) {
        let Some(kind) = self.op_kind(user_data) else {
            return;
        };
        let more = cqueue::more(flags);
        match kind {
            OpKindRef::Recv(sock) => {
                let chunk = cqueue::buffer_select(flags).map(|bid| {
                    let mut bufs = self.bufs.borrow_mut();
                    bufs.taken();
                    crate::buf::RecvBuf::new(bufs.region().clone(), bid, result.max(0) as usize)
                });
                if !more {
                    self.free_op(user_data);
                }
                self.socks
                    .on_recv(self, sock, user_data, result, chunk, more);
            }
            OpKindRef::Send(sock) => {
                self.free_op(user_data);
                self.socks.on_send(self, sock, result);
            }
            OpKindRef::Accept(sock) => {
                if !more {
                    self.free_op(user_data);
                }
                self.socks.on_accept(self, sock, user_data, result, more);
            }
            OpKindRef::Connect(sock) => {
                self.free_op(user_data);
                self.socks.on_connect(self, sock, result);
            }
        }
    }

    /// Buffers the kernel can still receive into.
    pub(crate) fn buffers_available(&self) -> usize {
        self.bufs.borrow().available()
    }

    fn expire_timers(&self) {
        let now = self.now.get();
        let mut timers = self.timers.borrow_mut();
        let mut ready = self.ready.borrow_mut();
        while let Some(entry) = timers.first_entry() {
            if entry.key().0 > now {
                break;
            }
            ready.push(entry.remove());
        }
    }

    /// Takes every waker the reactor holds (shutdown: dropping them lets their tasks be freed).
    pub(crate) fn take_wakers(&self) -> Vec<Waker> {
        let mut out: Vec<Waker> = std::mem::take(&mut *self.timers.borrow_mut())
            .into_values()
            .collect();
        out.append(&mut self.ready.borrow_mut());
        self.socks.take_wakers(&mut out);
        out
    }
}

impl Drop for Reactor {
    fn drop(&mut self) {
        // Close what is left, then stop lending buffers before the memory goes.
        self.socks.close_all();
        let ring = self.ring.borrow();
        self.bufs.borrow().unregister(&ring);
    }
}

/// A copy of an op's kind, without the slot borrow.
#[derive(Debug, Clone, Copy)]
enum OpKindRef {
    Recv(SockId),
    Send(SockId),
    Accept(SockId),
    Connect(SockId),
}
