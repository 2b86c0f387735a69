//! The task loop of one io_uring shard: a local run queue, a queue other threads inject into,
//! and the park between batches.
//!
//! Tasks come from `async_task::spawn_local`. Their schedule function pushes onto this thread's
//! run queue when called on the shard thread, and otherwise onto the shard's shared queue,
//! writing the shard's eventfd once so a parked shard wakes. The loop runs up to [`BUDGET`]
//! tasks, then parks: without waiting when tasks are still queued, otherwise until an I/O
//! completion, a timer or an injected task.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::future::Future;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::panic::AssertUnwindSafe;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use async_task::Runnable;

use super::reactor::Reactor;

/// Tasks run between two looks at the ring, so I/O completions are not starved.
const BUDGET: usize = 128;

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

/// Calls `f` with this thread's reactor; `None` when no io_uring shard runs here.
pub(super) fn with_reactor<R>(f: impl FnOnce(&Reactor) -> R) -> Option<R> {
    let reactor = REACTOR.with(|r| r.borrow().clone())?;
    Some(f(&reactor))
}

/// True on a thread running an io_uring shard.
pub fn is_current() -> bool {
    OWNER.with(|o| o.get() != 0)
}

/// Spawns a detached task on this thread's shard.
///
/// # Panics
/// When no io_uring shard runs on this thread (callers check [`is_current`] first).
pub fn spawn(fut: impl Future<Output = ()> + 'static) {
    let remote = REMOTE
        .with(|r| r.borrow().clone())
        .expect("uring::spawn outside an io_uring shard");
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

/// Runs `main` and the tasks it spawns on this thread until `main` ends; then drops every task
/// still pending.
pub fn run(main: impl Future<Output = ()> + 'static) -> io::Result<()> {
    if is_current() {
        return Err(io::Error::other(
            "an io_uring shard already runs on this thread",
        ));
    }
    let remote = Arc::new(Remote::new()?);
    let reactor = Rc::new(Reactor::new(remote.wake_fd.as_raw_fd())?);
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
    result
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
