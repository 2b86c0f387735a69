//! A transaction pool: the backends one shard keeps for one user, database and node when
//! clients hold a backend only for a transaction.
//!
//! At most `max` connections are open at once (idle, lent out, or being opened). A client asks
//! with [`TxPool::acquire`]: it gets an idle connection (the most recently returned), or the
//! right to open one, or it waits — in arrival order, each waiter handed the next returned
//! connection (or a free place after one was closed) directly, so a newcomer never overtakes
//! it. A wait longer than the caller's limit ends with [`WaitTimeout`]. The pool lives on one
//! shard: `RefCell`s, no lock.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::future::poll_fn;
use std::rc::Rc;
use std::task::{Poll, Waker};
use std::time::{Duration, Instant};

use super::Pooled;

/// What [`TxPool::acquire`] gives.
#[derive(Debug)]
pub enum Got<C> {
    /// An idle connection.
    Idle(C),
    /// A place for a new connection: open one and hand it to [`TxPool::release`] later, or
    /// call [`TxPool::discard`] if opening it failed.
    Open,
}

/// No connection became free in time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("no backend connection became free within {0:?}")]
pub struct WaitTimeout(pub Duration);

/// A client waiting for a connection.
struct Waiter<C> {
    /// The connection handed over, or `Some(None)`: a place to open one.
    handed: RefCell<Option<Got<C>>>,
    waker: RefCell<Option<Waker>>,
    since: Instant,
    /// Still in the queue (not popped by whoever served it).
    queued: Cell<bool>,
}

/// Figures of one pool, for `SHOW pool_pools` and metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TxPoolStats {
    /// Connections open (idle + lent + being opened).
    pub open: usize,
    /// Idle connections.
    pub idle: usize,
    /// Clients waiting now.
    pub waiting: usize,
    /// How long the longest current wait has lasted.
    pub longest_wait: Duration,
    /// Waits that ran out of time, since start.
    pub timeouts: u64,
    /// Clients that had to wait, since start.
    pub waits: u64,
}

/// The transaction pool of one user, database and node on one shard.
pub struct TxPool<C> {
    idle: RefCell<Vec<(C, Instant)>>,
    open: Cell<usize>,
    max: Cell<usize>,
    waiters: RefCell<VecDeque<Rc<Waiter<C>>>>,
    timeouts: Cell<u64>,
    waits: Cell<u64>,
}

impl<C: Pooled> TxPool<C> {
    /// An empty pool of at most `max` connections.
    pub fn new(max: usize) -> Self {
        Self {
            idle: RefCell::new(Vec::new()),
            open: Cell::new(0),
            max: Cell::new(max.max(1)),
            waiters: RefCell::new(VecDeque::new()),
            timeouts: Cell::new(0),
            waits: Cell::new(0),
        }
    }

    /// Changes the size (reload); a smaller pool shrinks as connections come back.
    pub fn set_max(&self, max: usize) {
        self.max.set(max.max(1));
        while self.open.get() < self.max.get() && self.hand_place() {}
    }

    /// An idle connection, a place to open one, or — when the pool is full — the next one
    /// returned, waiting at most `limit`. Connections of another `generation` or past their
    /// life are closed on the way.
    pub async fn acquire(
        &self,
        generation: u64,
        life: Option<Duration>,
        limit: Duration,
        now: Instant,
    ) -> Result<Got<C>, WaitTimeout> {
        if self.waiters.borrow().is_empty() {
            if let Some(c) = self.take_idle(generation, life, now) {
                return Ok(Got::Idle(c));
            }
            if self.open.get() < self.max.get() {
                self.open.set(self.open.get() + 1);
                return Ok(Got::Open);
            }
        }
        let waiter = Rc::new(Waiter {
            handed: RefCell::new(None),
            waker: RefCell::new(None),
            since: now,
            queued: Cell::new(true),
        });
        self.waiters.borrow_mut().push_back(waiter.clone());
        self.waits.set(self.waits.get() + 1);
        let _leave = LeaveQueue {
            pool: self,
            waiter: waiter.clone(),
        };
        let wait = poll_fn(|cx| {
            if let Some(got) = waiter.handed.borrow_mut().take() {
                return Poll::Ready(got);
            }
            *waiter.waker.borrow_mut() = Some(cx.waker().clone());
            Poll::Pending
        });
        match corepool_runtime::timeout(limit, wait).await {
            Some(Got::Idle(c)) if usable(&c, generation, life, corepool_runtime::now()) => {
                Ok(Got::Idle(c))
            }
            // Handed a connection that went stale meanwhile: open a fresh one in its place.
            Some(Got::Idle(stale)) => {
                drop(stale);
                Ok(Got::Open)
            }
            Some(Got::Open) => Ok(Got::Open),
            None => {
                self.timeouts.set(self.timeouts.get() + 1);
                Err(WaitTimeout(limit))
            }
        }
    }

    /// Gives a clean connection back: to the longest waiter, else to the idle list.
    pub fn release(&self, conn: C, now: Instant) {
        if self.open.get() > self.max.get() {
            // The pool shrank: close this one instead.
            self.discard();
            return;
        }
        let waiter = self.waiters.borrow_mut().pop_front();
        match waiter {
            Some(w) => {
                w.queued.set(false);
                *w.handed.borrow_mut() = Some(Got::Idle(conn));
                let waker = w.waker.borrow_mut().take();
                if let Some(waker) = waker {
                    waker.wake();
                }
            }
            None => self.idle.borrow_mut().push((conn, now)),
        }
    }

    /// A lent (or being opened) connection was closed: its place goes to the longest waiter.
    pub fn discard(&self) {
        self.open.set(self.open.get().saturating_sub(1));
        if self.open.get() < self.max.get() {
            self.hand_place();
        }
    }

    /// Closes idle connections idle longer than `idle_limit`, of another generation, or past
    /// `life`; returns how many.
    pub fn prune(
        &self,
        generation: u64,
        life: Option<Duration>,
        idle_limit: Option<Duration>,
        now: Instant,
    ) -> usize {
        let mut idle = self.idle.borrow_mut();
        let before = idle.len();
        idle.retain(|(c, since)| {
            usable(c, generation, life, now)
                && idle_limit.map_or(true, |l| now.saturating_duration_since(*since) < l)
        });
        let closed = before - idle.len();
        drop(idle);
        for _ in 0..closed {
            self.discard();
        }
        closed
    }

    /// The node is gone (failover): idle connections are closed and every waiter is let go
    /// (its attempt to open a connection then fails quickly, instead of waiting for a
    /// connection that will never come back).
    pub fn release_waiters(&self) {
        self.clear();
        while self.hand_place() {}
    }

    /// Closes every idle connection (failover, shutdown).
    pub fn clear(&self) {
        let closed = std::mem::take(&mut *self.idle.borrow_mut()).len();
        for _ in 0..closed {
            self.discard();
        }
    }

    /// The pool's figures now.
    pub fn stats(&self, now: Instant) -> TxPoolStats {
        let waiters = self.waiters.borrow();
        TxPoolStats {
            open: self.open.get(),
            idle: self.idle.borrow().len(),
            waiting: waiters.len(),
            longest_wait: waiters
                .front()
                .map(|w| now.saturating_duration_since(w.since))
                .unwrap_or_default(),
            timeouts: self.timeouts.get(),
            waits: self.waits.get(),
        }
    }

    /// Folds over the idle connections (for reports).
    pub fn fold_idle<A>(&self, init: A, f: impl Fn(A, &C) -> A) -> A {
        self.idle.borrow().iter().fold(init, |a, (c, _)| f(a, c))
    }

    fn take_idle(&self, generation: u64, life: Option<Duration>, now: Instant) -> Option<C> {
        loop {
            let (c, _) = self.idle.borrow_mut().pop()?;
            if usable(&c, generation, life, now) {
                return Some(c);
            }
            self.open.set(self.open.get().saturating_sub(1));
        }
    }

    /// Hands a place to open a connection to the longest waiter; false when none waits.
    fn hand_place(&self) -> bool {
        let waiter = self.waiters.borrow_mut().pop_front();
        let Some(w) = waiter else {
            return false;
        };
        self.open.set(self.open.get() + 1);
        w.queued.set(false);
        *w.handed.borrow_mut() = Some(Got::Open);
        let waker = w.waker.borrow_mut().take();
        if let Some(waker) = waker {
            waker.wake();
        }
        true
    }
}

/// Takes a waiter out of the queue when its wait ends (timed out or dropped): a place or a
/// connection handed to it meanwhile goes to the next waiter.
struct LeaveQueue<'a, C: Pooled> {
    pool: &'a TxPool<C>,
    waiter: Rc<Waiter<C>>,
}

impl<C: Pooled> Drop for LeaveQueue<'_, C> {
    fn drop(&mut self) {
        let left = self.waiter.handed.borrow_mut().take();
        if self.waiter.queued.get() {
            // Not served (timed out or dropped): still queued. A served waiter was popped by
            // whoever served it, so thousands of waiters cost nothing here.
            self.pool
                .waiters
                .borrow_mut()
                .retain(|w| !Rc::ptr_eq(w, &self.waiter));
        }
        match left {
            Some(Got::Idle(c)) => self.pool.release(c, corepool_runtime::now()),
            Some(Got::Open) => self.pool.discard(),
            None => {}
        }
    }
}

fn usable<C: Pooled>(c: &C, generation: u64, life: Option<Duration>, now: Instant) -> bool {
    c.generation() == generation
        && life.map_or(true, |l| now.saturating_duration_since(c.created()) < l)
        && c.alive()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct Fake(u32, Instant);

    impl Pooled for Fake {
        fn created(&self) -> Instant {
            self.1
        }
        fn generation(&self) -> u64 {
            0
        }
    }

    fn run<T: 'static>(f: impl std::future::Future<Output = T> + 'static) -> T {
        corepool_runtime::block_on(f).expect("a shard")
    }

    #[test]
    fn fills_to_its_size_then_hands_returns_to_waiters_in_arrival_order() {
        let order = run(async {
            let pool = Rc::new(TxPool::<Fake>::new(2));
            let now = corepool_runtime::now();
            let long = Duration::from_secs(10);
            assert!(matches!(
                pool.acquire(0, None, long, now).await,
                Ok(Got::Open)
            ));
            assert!(matches!(
                pool.acquire(0, None, long, now).await,
                Ok(Got::Open)
            ));
            let order = Rc::new(RefCell::new(Vec::new()));
            for who in 0..3 {
                let (pool, order) = (pool.clone(), order.clone());
                corepool_runtime::spawn(async move {
                    let now = corepool_runtime::now();
                    if let Ok(Got::Idle(c)) = pool.acquire(0, None, long, now).await {
                        order.borrow_mut().push((who, c.0));
                        pool.release(c, corepool_runtime::now());
                    }
                });
            }
            corepool_runtime::sleep(Duration::from_millis(5)).await;
            assert_eq!(pool.stats(corepool_runtime::now()).waiting, 3);
            pool.release(Fake(7, now), now);
            corepool_runtime::sleep(Duration::from_millis(5)).await;
            let got = order.borrow().clone();
            got
        });
        assert_eq!(order, vec![(0, 7), (1, 7), (2, 7)]);
    }

    #[test]
    fn a_wait_times_out_and_a_closed_connection_frees_a_place() {
        let (timed_out, reopened, stats) = run(async {
            let pool = TxPool::<Fake>::new(1);
            let now = corepool_runtime::now();
            assert!(matches!(
                pool.acquire(0, None, Duration::from_secs(1), now).await,
                Ok(Got::Open)
            ));
            let timed_out = pool
                .acquire(0, None, Duration::from_millis(5), corepool_runtime::now())
                .await
                .is_err();
            pool.discard();
            let reopened = matches!(
                pool.acquire(0, None, Duration::from_millis(5), corepool_runtime::now())
                    .await,
                Ok(Got::Open)
            );
            (timed_out, reopened, pool.stats(corepool_runtime::now()))
        });
        assert!(timed_out && reopened);
        assert_eq!((stats.timeouts, stats.waits, stats.open), (1, 1, 1));
    }

    #[test]
    fn idle_connections_past_the_idle_limit_are_closed() {
        let start = Instant::now();
        let pool = TxPool::<Fake>::new(3);
        pool.open.set(2);
        pool.release(Fake(1, start), start);
        pool.release(Fake(2, start), start + Duration::from_secs(5));
        let closed = pool.prune(
            0,
            None,
            Some(Duration::from_secs(8)),
            start + Duration::from_secs(10),
        );
        assert_eq!(closed, 1);
        let s = pool.stats(start);
        assert_eq!((s.idle, s.open), (1, 1));
    }
}
