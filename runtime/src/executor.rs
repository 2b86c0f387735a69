//! The task loop of one shard: a local run queue, a queue other threads inject into, and the
//! park that ends each loop turn.
//!
//! Tasks come from `async_task::spawn_local`. Their schedule function pushes onto this thread's
//! run queue when called on the shard thread, and otherwise onto the shard's shared queue,
//! writing the shard's eventfd once so a parked shard wakes. A loop turn runs the tasks that
//! are ready (at most [`BUDGET`]), then parks once: without waiting when tasks are still
//! queued, otherwise until an I/O completion, a timer or an injected task. The clock is read
//! once per turn, after the park ([`now`]).
#![allow(unsafe_code)]

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::future::Future;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::panic::AssertUnwindSafe;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use async_task::Runnable;

use crate::reactor::{Reactor, Sizes};

/// Tasks run between two looks at the ring, so I/O completions are not starved.
const BUDGET: usize = 256;

/// How a shard's ring and receive buffers are sized.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    /// Submission queue entries (the completion queue is four times as many; the kernel keeps
    /// any overflow).
    pub ring_entries: u32,
    /// Size of one receive buffer. A chunk a socket receives is at most this long.
    pub buffer_size: usize,
    /// Receive buffers the kernel may be lent (a power of two, at most 32768). Memory: at most
    /// `buffer_size × buffers` per shard, whatever the number of connections; buffers are put
    /// in circulation as receives need them, so a shard of idle clients touches few.
    pub buffers: usize,
}

impl Default for Options {
    /// 16 KiB × 1024 buffers (16 MiB per shard) and 1024 submission entries.
    fn default() -> Self {
        Self {
            ring_entries: 1024,
            buffer_size: 16 * 1024,
            buffers: 1024,
        }
    }
}

impl Options {
    /// Small rings and buffers, for short-lived helpers (a probe, a CLI command).
    pub fn small() -> Self {
        Self {
            ring_entries: 64,
            buffer_size: 16 * 1024,
            buffers: 64,
        }
    }
}

thread_local! {
    /// The reactor of the shard running on this thread, if any.
    static REACTOR: RefCell<Option<Rc<Reactor>>> = const { RefCell::new(None) };
    /// The shard's handle for other threads, while a shard runs on this thread.
    static REMOTE: RefCell<Option<Arc<Remote>>> = const { RefCell::new(None) };
    /// Address of the running shard's [`Remote`]: tells a schedule call on this thread.
    static OWNER: Cell<usize> = const { Cell::new(0) };
    /// Tasks ready to run on this thread.
    static RUN_QUEUE: RefCell<VecDeque<Runnable>> = const { RefCell::new(VecDeque::new()) };
}

/// The part of a shard other threads can reach: they schedule its tasks through it.
struct Remote {
    injected: Mutex<Vec<Runnable>>,
    /// Set when `injected` may hold tasks; cleared by the shard before it takes them.
    pending: AtomicBool,
    wake_fd: OwnedFd,
}

impl Remote {
    fn new() -> io::Result<Self> {
        // SAFETY: eventfd takes no pointers; a non-negative result is a new descriptor.
        let fd = unsafe { libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) };
        if fd < 0 {
            let e = io::Error::last_os_error();
            return Err(io::Error::new(
                e.kind(),
                format!("could not create an eventfd: {e}"),
            ));
        }
        // SAFETY: `fd` was just created and is owned by nothing else.
        let wake_fd = unsafe { OwnedFd::from_raw_fd(fd) };
        Ok(Self {
            injected: Mutex::new(Vec::new()),
            pending: AtomicBool::new(false),
            wake_fd,
        })
    }

    fn id(self: &Arc<Self>) -> usize {
        Arc::as_ptr(self) as usize
    }

    /// Schedules `runnable` from another thread.
    fn inject(&self, runnable: Runnable) {
        match self.injected.lock() {
            Ok(mut q) => q.push(runnable),
            Err(poisoned) => poisoned.into_inner().push(runnable),
        }
        if !self.pending.swap(true, Ordering::AcqRel) {
            let one = 1u64.to_ne_bytes();
            // SAFETY: `wake_fd` is an open eventfd; `one` is the 8-byte value a write needs.
            let _ = unsafe { libc::write(self.wake_fd.as_raw_fd(), one.as_ptr().cast(), 8) };
        }
    }

    /// Moves injected tasks onto the local run queue.
    fn take_injected(&self) {
        if !self.pending.swap(false, Ordering::AcqRel) {
            return;
        }
        let taken = match self.injected.lock() {
            Ok(mut q) => std::mem::take(&mut *q),
            Err(poisoned) => std::mem::take(&mut *poisoned.into_inner()),
        };
        RUN_QUEUE.with(|q| q.borrow_mut().extend(taken));
    }
}

/// Calls `f` with this thread's reactor; `None` when no shard runs here.
pub(crate) fn with_reactor<R>(f: impl FnOnce(&Reactor) -> R) -> Option<R> {
    REACTOR.with(|r| r.borrow().as_ref().map(|r| f(r)))
}

/// True on a thread running a shard (inside [`run`]).
pub fn is_current() -> bool {
    OWNER.with(|o| o.get() != 0)
}

/// The current loop turn's clock: read once per turn, after the park. Outside a shard, the
/// real clock.
pub fn now() -> Instant {
    with_reactor(|r| r.now()).unwrap_or_else(Instant::now)
}

/// Sockets and listeners of this thread's shard whose descriptors are still open (handles
/// alive, or closing while the kernel gives back their operations); 0 outside a shard.
pub fn open_sockets() -> usize {
    with_reactor(|r| r.socks.live()).unwrap_or(0)
}

/// What this thread's shard reactor did so far; zeros outside a shard.
pub fn stats() -> crate::Stats {
    with_reactor(|r| r.stats.get()).unwrap_or_default()
}

/// Spawns a detached task on this thread's shard.
///
/// # Panics
/// When no shard runs on this thread (callers are tasks of a shard).
pub fn spawn(fut: impl Future<Output = ()> + 'static) {
    let remote = REMOTE
        .with(|r| r.borrow().clone())
        .expect("corepool_runtime::spawn outside a shard");
    let id = remote.id();
    let schedule = move |runnable: Runnable| {
        if OWNER.with(|o| o.get()) == id {
            // Fails only at thread exit, after the shard drained its queues: the closure and
            // with it the task are dropped.
            let _ = RUN_QUEUE.try_with(|q| q.borrow_mut().push_back(runnable));
        } else {
            remote.inject(runnable);
        }
    };
    let (runnable, task) = async_task::spawn_local(fut, schedule);
    runnable.schedule();
    task.detach();
}

/// Runs `main` and the tasks it spawns on this thread until `main` ends, with default
/// [`Options`]; then drops every task still pending.
pub fn run(main: impl Future<Output = ()> + 'static) -> io::Result<()> {
    run_with(Options::default(), main)
}

/// [`run`] with the given ring and buffer sizes.
pub fn run_with(options: Options, main: impl Future<Output = ()> + 'static) -> io::Result<()> {
    if is_current() {
        return Err(io::Error::other("a shard already runs on this thread"));
    }
    let remote = Arc::new(Remote::new()?);
    let sizes = Sizes {
        ring_entries: options.ring_entries,
        buffer_size: options.buffer_size,
        buffers: options.buffers,
    };
    let reactor = Rc::new(Reactor::new(remote.wake_fd.as_raw_fd(), sizes)?);
    REACTOR.with(|r| *r.borrow_mut() = Some(reactor.clone()));
    REMOTE.with(|r| *r.borrow_mut() = Some(remote.clone()));
    OWNER.with(|o| o.set(remote.id()));

    let done = Rc::new(Cell::new(false));
    let finished = SetOnDrop(done.clone());
    spawn(async move {
        // Set when `main` ends, and also when it panicked and was dropped.
        let _finished = finished;
        main.await;
    });
    let result = run_until(&reactor, &remote, &done);
    shut_down(&reactor, &remote);
    drop(reactor);
    result
}

/// Runs `fut` to its end on a fresh shard on this thread (small ring) and returns its output:
/// for short jobs on threads that are not shards (a probe, a CLI command, a test).
pub fn block_on<T: 'static>(fut: impl Future<Output = T> + 'static) -> io::Result<T> {
    let out = Rc::new(RefCell::new(None));
    let slot = out.clone();
    run_with(Options::small(), async move {
        let value = fut.await;
        *slot.borrow_mut() = Some(value);
    })?;
    let value = out.borrow_mut().take();
    value.ok_or_else(|| io::Error::other("the job panicked"))
}

/// Sets its flag when dropped.
struct SetOnDrop(Rc<Cell<bool>>);

impl Drop for SetOnDrop {
    fn drop(&mut self) {
        self.0.set(true);
    }
}

fn run_until(reactor: &Reactor, remote: &Remote, done: &Cell<bool>) -> io::Result<()> {
    loop {
        remote.take_injected();
        for _ in 0..BUDGET {
            let Some(runnable) = RUN_QUEUE.with(|q| q.borrow_mut().pop_front()) else {
                break;
            };
            // A panicking task is closed by async-task (its future dropped) before the panic
            // leaves `run`; catching it here ends that task (one session) instead of the shard.
            if std::panic::catch_unwind(AssertUnwindSafe(|| runnable.run())).is_err() {
                tracing::error!("a task panicked and was dropped; the shard goes on");
            }
        }
        if done.get() {
            return Ok(());
        }
        let idle =
            RUN_QUEUE.with(|q| q.borrow().is_empty()) && !remote.pending.load(Ordering::Acquire);
        reactor.park(idle)?;
    }
}

/// Drops every task left: first the wakers the reactor holds, then whatever that scheduled.
fn shut_down(reactor: &Reactor, remote: &Remote) {
    drop(reactor.take_wakers());
    loop {
        remote.pending.store(true, Ordering::Release);
        remote.take_injected();
        let Some(runnable) = RUN_QUEUE.with(|q| q.borrow_mut().pop_front()) else {
            break;
        };
        // Dropping an unrun task drops its future, which may release more wakers.
        drop(runnable);
        drop(reactor.take_wakers());
    }
    OWNER.with(|o| o.set(0));
    REMOTE.with(|r| r.borrow_mut().take());
    let reactor = REACTOR.with(|r| r.borrow_mut().take());
    drop(reactor);
}
