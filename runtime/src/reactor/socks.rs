//! The socket table: for each descriptor, its receive inbox, its send queue, and the
//! operations the kernel holds on it.
//!
//! A socket's multishot receive is armed the first time its owner asks for data and stays
//! armed: every completion appends a chunk to the inbox and wakes the owner. When the inbox
//! holds more than [`INBOX_HIGH`] bytes the owner is not keeping up (its peer reads slowly), so
//! the receive is cancelled and armed again once the owner drained it — one slow client cannot
//! take the shard's buffers. When the kernel ran out of buffers the receive ends with `ENOBUFS`
//! and is armed again when buffers come back.
//!
//! Sends are queued on the socket; the front of the queue (up to eight pieces) is one `SEND` or
//! `SENDMSG` at a time, and each completion submits what follows, so a task never waits for a
//! send unless it asks to (`poll_flush`) or the queue is long.
//!
//! When the handle is dropped every operation is cancelled; the descriptor is closed when the
//! last completion came back, so its number is never reused while the kernel knows it.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::io;
use std::os::fd::RawFd;
use std::task::{Context, Poll, Waker};

use super::fifo::Fifo;
use super::sys::{self, SendMsg, MAX_IOV};
use super::Reactor;
use crate::buf::{Piece, RecvBuf};

/// Inbox bytes past which a socket's receive is paused.
pub(crate) const INBOX_HIGH: usize = 64 * 1024;

/// A socket's place in the table; the generation tells a reused slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SockId {
    index: u32,
    generation: u32,
}

#[derive(Default)]
struct Sock {
    generation: u32,
    fd: Option<RawFd>,
    /// The handle exists.
    open: bool,
    recv_op: Option<u64>,
    /// The receive was cancelled because the inbox was full.
    paused: bool,
    /// The receive ended for lack of buffers.
    starved: bool,
    inbox: Fifo<RecvBuf>,
    inbox_bytes: usize,
    eof: bool,
    recv_err: Option<i32>,
    read_waker: Option<Waker>,
    queue: Fifo<Piece>,
    queued: usize,
    send_op: Option<u64>,
    /// The gather list of a send of several pieces, kept for the next one (a send of one
    /// piece needs none, so a socket that only ever sent one at a time has none).
    msg: Option<Box<SendMsg>>,
    send_err: Option<i32>,
    write_waker: Option<Waker>,
    write_low: usize,
    accept_op: Option<u64>,
    accepted: VecDeque<i32>,
    connect_op: Option<u64>,
    connected: Option<i32>,
}

impl Sock {
    fn busy(&self) -> bool {
        self.recv_op.is_some()
            || self.send_op.is_some()
            || self.accept_op.is_some()
            || self.connect_op.is_some()
    }
}

/// Every socket of one shard.
#[derive(Default)]
pub(crate) struct Socks {
    table: RefCell<Vec<Sock>>,
    free: RefCell<Vec<u32>>,
    starved: RefCell<Vec<SockId>>,
    live: Cell<usize>,
}

/// What to drop once the table is no longer borrowed (a waker's task may own sockets).
type Dropped = (Option<Waker>, Option<Waker>);

impl Socks {
    /// Takes ownership of `fd`.
    pub(crate) fn insert(&self, fd: RawFd) -> SockId {
        let mut table = self.table.borrow_mut();
        let index = match self.free.borrow_mut().pop() {
            Some(i) => i,
            None => {
                table.push(Sock::default());
                (table.len() - 1) as u32
            }
        };
        let sock = &mut table[index as usize];
        let generation = sock.generation;
        *sock = Sock {
            generation,
            fd: Some(fd),
            open: true,
            ..Sock::default()
        };
        self.live.set(self.live.get() + 1);
        SockId { index, generation }
    }

    /// Sockets open (handles alive or closing).
    pub(crate) fn live(&self) -> usize {
        self.live.get()
    }

    fn with<R>(&self, id: SockId, f: impl FnOnce(&mut Sock) -> R) -> Option<R> {
        let mut table = self.table.borrow_mut();
        let sock = table.get_mut(id.index as usize)?;
        if sock.generation != id.generation || sock.fd.is_none() {
            return None;
        }
        Some(f(sock))
    }

    /// The next received chunk; `None` at end of stream.
    pub(crate) fn poll_recv(
        &self,
        r: &Reactor,
        id: SockId,
        cx: &Context<'_>,
    ) -> Poll<io::Result<Option<RecvBuf>>> {
        let mut old = None;
        let out = self.with(id, |s| {
            if let Some(chunk) = s.inbox.pop_front() {
                s.inbox_bytes -= chunk.len();
                if s.paused && s.inbox_bytes == 0 && s.recv_op.is_none() && !s.eof {
                    s.paused = false;
                    if let Err(e) = arm(r, id, s) {
                        s.recv_err = Some(e.raw_os_error().unwrap_or(libc::EIO));
                    }
                }
                return Poll::Ready(Ok(Some(chunk)));
            }
            if let Some(e) = s.recv_err {
                return Poll::Ready(Err(io::Error::from_raw_os_error(e)));
            }
            if s.eof {
                return Poll::Ready(Ok(None));
            }
            if s.recv_op.is_none() && !s.starved {
                s.paused = false;
                if let Err(e) = arm(r, id, s) {
                    return Poll::Ready(Err(e));
                }
            }
            old = replace_waker(&mut s.read_waker, cx.waker());
            Poll::Pending
        });
        drop(old);
        out.unwrap_or_else(|| Poll::Ready(Err(closed())))
    }

    /// True when data, end of stream or an error arrived (an idle connection's peer spoke).
    pub(crate) fn peer_spoke(&self, id: SockId) -> bool {
        self.with(id, |s| {
            !s.inbox.is_empty() || s.eof || s.recv_err.is_some() || s.send_err.is_some()
        })
        .unwrap_or(true)
    }

    /// Queues `piece` to be sent.
    pub(crate) fn send(&self, r: &Reactor, id: SockId, piece: Piece) -> io::Result<()> {
        let mut rejected = None;
        let out = self
            .with(id, |s| {
                if let Some(e) = s.send_err {
                    rejected = Some(piece);
                    return Err(io::Error::from_raw_os_error(e));
                }
                if piece.is_empty() {
                    return Ok(());
                }
                s.queued += piece.len();
                s.queue.push_back(piece);
                if s.send_op.is_none() {
                    start_send(r, id, s)?;
                }
                Ok(())
            })
            .unwrap_or_else(|| Err(closed()));
        drop(rejected);
        out
    }

    /// Bytes queued and not yet sent.
    pub(crate) fn unsent(&self, id: SockId) -> usize {
        self.with(id, |s| s.queued).unwrap_or(0)
    }

    /// Ready once at most `low` bytes are left to send (0: everything was sent).
    pub(crate) fn poll_flush(
        &self,
        id: SockId,
        cx: &Context<'_>,
        low: usize,
    ) -> Poll<io::Result<()>> {
        let mut old = None;
        let out = self.with(id, |s| {
            if let Some(e) = s.send_err {
                return Poll::Ready(Err(io::Error::from_raw_os_error(e)));
            }
            if s.queued <= low {
                return Poll::Ready(Ok(()));
            }
            s.write_low = low;
            old = replace_waker(&mut s.write_waker, cx.waker());
            Poll::Pending
        });
        drop(old);
        out.unwrap_or_else(|| Poll::Ready(Err(closed())))
    }

    /// Starts connecting to `addr`.
    pub(crate) fn connect(
        &self,
        r: &Reactor,
        id: SockId,
        addr: socket2::SockAddr,
    ) -> io::Result<()> {
        self.with(id, |s| {
            let fd = s.fd.unwrap_or(-1);
            let op = r.submit_connect(id, fd, addr)?;
            s.connect_op = Some(op);
            Ok(())
        })
        .unwrap_or_else(|| Err(closed()))
    }

    /// The connect's result once it completed.
    pub(crate) fn poll_connect(&self, id: SockId, cx: &Context<'_>) -> Poll<io::Result<()>> {
        let mut old = None;
        let out = self.with(id, |s| match s.connected.take() {
            Some(0) => Poll::Ready(Ok(())),
            Some(e) => Poll::Ready(Err(io::Error::from_raw_os_error(-e))),
            None if s.connect_op.is_none() => Poll::Ready(Err(closed())),
            None => {
                old = replace_waker(&mut s.write_waker, cx.waker());
                Poll::Pending
            }
        });
        drop(old);
        out.unwrap_or_else(|| Poll::Ready(Err(closed())))
    }

    /// The next accepted descriptor of a listening socket.
    pub(crate) fn poll_accept(
        &self,
        r: &Reactor,
        id: SockId,
        cx: &Context<'_>,
    ) -> Poll<io::Result<RawFd>> {
        let mut old = None;
        let out = self.with(id, |s| {
            if let Some(res) = s.accepted.pop_front() {
                return Poll::Ready(if res >= 0 {
                    Ok(res)
                } else {
                    Err(io::Error::from_raw_os_error(-res))
                });
            }
            if s.accept_op.is_none() {
                match r.submit_accept(id, s.fd.unwrap_or(-1)) {
                    Ok(op) => s.accept_op = Some(op),
                    Err(e) => return Poll::Ready(Err(e)),
                }
            }
            old = replace_waker(&mut s.read_waker, cx.waker());
            Poll::Pending
        });
        drop(old);
        out.unwrap_or_else(|| Poll::Ready(Err(closed())))
    }

    /// The handle is gone: cancels what the kernel holds and closes once it gave all back.
    pub(crate) fn close(&self, r: &Reactor, id: SockId) {
        let mut dropped: Vec<Dropped> = Vec::new();
        let mut pieces = Fifo::default();
        let mut chunks = Fifo::default();
        let finished = self.with(id, |s| {
            s.open = false;
            dropped.push((s.read_waker.take(), s.write_waker.take()));
            for op in [s.recv_op, s.send_op, s.accept_op, s.connect_op]
                .into_iter()
                .flatten()
            {
                r.cancel(op);
            }
            chunks = std::mem::take(&mut s.inbox);
            s.inbox_bytes = 0;
            if s.send_op.is_none() {
                pieces = std::mem::take(&mut s.queue);
                s.queued = 0;
            }
            !s.busy()
        });
        if finished == Some(true) {
            self.finish(id);
        }
        drop((dropped, pieces, chunks));
    }

    /// Frees a closed socket whose operations all came back.
    fn finish(&self, id: SockId) {
        let left;
        {
            let mut table = self.table.borrow_mut();
            let Some(s) = table
                .get_mut(id.index as usize)
                .filter(|s| s.generation == id.generation)
            else {
                return;
            };
            if let Some(fd) = s.fd.take() {
                sys::close(fd);
                for fd in s.accepted.drain(..).filter(|fd| *fd >= 0) {
                    sys::close(fd);
                }
            }
            let generation = s.generation.wrapping_add(1);
            left = Some(std::mem::replace(
                s,
                Sock {
                    generation,
                    ..Sock::default()
                },
            ));
        }
        self.free.borrow_mut().push(id.index);
        self.live.set(self.live.get().saturating_sub(1));
        drop(left);
    }

    pub(super) fn on_recv(
        &self,
        r: &Reactor,
        id: SockId,
        op: u64,
        result: i32,
        chunk: Option<RecvBuf>,
        more: bool,
    ) {
        let mut wake = None;
        let mut extra = None;
        let finished = self.with(id, |s| {
            if !more && s.recv_op == Some(op) {
                s.recv_op = None;
            }
            match (result, chunk) {
                (n, Some(chunk)) if n > 0 => {
                    if s.open {
                        s.inbox_bytes += chunk.len();
                        s.inbox.push_back(chunk);
                        if s.inbox_bytes > INBOX_HIGH && !s.paused {
                            if let Some(op) = s.recv_op {
                                s.paused = true;
                                r.cancel(op);
                            }
                        }
                    } else {
                        extra = Some(chunk);
                    }
                }
                (0, chunk) => {
                    extra = chunk;
                    s.eof = true;
                }
                (e, chunk) if e == -libc::ENOBUFS => {
                    extra = chunk;
                    s.starved = true;
                    let mut stats = r.stats.get();
                    stats.starved += 1;
                    r.stats.set(stats);
                }
                (e, chunk) if e == -libc::ECANCELED => extra = chunk,
                (e, chunk) => {
                    extra = chunk;
                    if e < 0 {
                        s.recv_err = Some(-e);
                    }
                }
            }
            wake = s.read_waker.take();
            (!s.open && !s.busy(), s.starved && s.open)
        });
        drop(extra);
        if let Some((finished, starved)) = finished {
            if starved {
                self.starved.borrow_mut().push(id);
            }
            if finished {
                self.finish(id);
            }
        }
        if let Some(w) = wake {
            r.defer_wake(w);
        }
    }

    pub(super) fn on_send(&self, r: &Reactor, id: SockId, result: i32) {
        let mut wakes: Dropped = (None, None);
        // Sent pieces are dropped in place: dropping one only gives a receive buffer back to
        // the ring or frees memory, never touches the socket table.
        let finished = self.with(id, |s| {
            s.send_op = None;
            if result < 0 || !s.open {
                if result < 0 && result != -libc::ECANCELED {
                    s.send_err = Some(-result);
                } else if result < 0 {
                    s.send_err = Some(libc::ECANCELED);
                }
                s.queue.clear();
                s.queued = 0;
                wakes = (s.write_waker.take(), s.read_waker.take());
            } else {
                let mut sent = result as usize;
                s.queued = s.queued.saturating_sub(sent);
                while sent > 0 {
                    let Some(front) = s.queue.front_mut() else {
                        break;
                    };
                    let n = sent.min(front.len());
                    front.advance(n);
                    sent -= n;
                    if front.is_empty() {
                        s.queue.pop_front();
                    }
                }
                while s.queue.front().is_some_and(Piece::is_empty) {
                    s.queue.pop_front();
                }
                if !s.queue.is_empty() {
                    if let Err(e) = start_send(r, id, s) {
                        s.send_err = Some(e.raw_os_error().unwrap_or(libc::EIO));
                    }
                }
                if s.queued <= s.write_low || s.send_err.is_some() {
                    wakes.0 = s.write_waker.take();
                }
            }
            !s.open && !s.busy()
        });
        if finished == Some(true) {
            self.finish(id);
        }
        for w in [wakes.0, wakes.1].into_iter().flatten() {
            r.defer_wake(w);
        }
    }

    pub(super) fn on_accept(&self, r: &Reactor, id: SockId, op: u64, result: i32, more: bool) {
        let mut wake = None;
        let mut orphan = None;
        let finished = self.with(id, |s| {
            if !more && s.accept_op == Some(op) {
                s.accept_op = None;
            }
            if result == -libc::ECANCELED {
            } else if s.open {
                s.accepted.push_back(result);
            } else if result >= 0 {
                orphan = Some(result);
            }
            wake = s.read_waker.take();
            !s.open && !s.busy()
        });
        if let Some(fd) = orphan {
            sys::close(fd);
        }
        if finished == Some(true) {
            self.finish(id);
        }
        if let Some(w) = wake {
            r.defer_wake(w);
        }
    }

    pub(super) fn on_connect(&self, r: &Reactor, id: SockId, result: i32) {
        let mut wake = None;
        let finished = self.with(id, |s| {
            s.connect_op = None;
            s.connected = Some(result);
            wake = s.write_waker.take();
            !s.open && !s.busy()
        });
        if finished == Some(true) {
            self.finish(id);
        }
        if let Some(w) = wake {
            r.defer_wake(w);
        }
    }

    /// Arms the receives that ran out of buffers again (buffers came back).
    pub(super) fn rearm_starved(&self, r: &Reactor) {
        let ids = std::mem::take(&mut *self.starved.borrow_mut());
        let mut wakes = Vec::new();
        for id in ids {
            if r.buffers_available() == 0 {
                self.starved.borrow_mut().push(id);
                continue;
            }
            self.with(id, |s| {
                s.starved = false;
                if s.open && s.recv_op.is_none() && s.read_waker.is_some() && arm(r, id, s).is_err()
                {
                    s.starved = true;
                }
                if let Some(w) = s.read_waker.take() {
                    wakes.push(w);
                }
            });
        }
        for w in wakes {
            r.defer_wake(w);
        }
    }

    /// Takes every waker (shutdown).
    pub(super) fn take_wakers(&self, out: &mut Vec<Waker>) {
        for s in self.table.borrow_mut().iter_mut() {
            out.extend(s.read_waker.take());
            out.extend(s.write_waker.take());
        }
    }

    /// Closes every descriptor left (the ring is going away).
    pub(super) fn close_all(&self) {
        let left = std::mem::take(&mut *self.table.borrow_mut());
        for s in &left {
            if let Some(fd) = s.fd {
                sys::close(fd);
            }
            for fd in s.accepted.iter().filter(|fd| **fd >= 0) {
                sys::close(*fd);
            }
        }
        drop(left);
    }
}

fn arm(r: &Reactor, id: SockId, s: &mut Sock) -> io::Result<()> {
    let op = r.submit_recv(id, s.fd.unwrap_or(-1))?;
    s.recv_op = Some(op);
    Ok(())
}

fn start_send(r: &Reactor, id: SockId, s: &mut Sock) -> io::Result<()> {
    let fd = s.fd.unwrap_or(-1);
    let op = match (s.queue.len(), s.queue.front()) {
        (1, Some(piece)) => r.submit_send_one(id, fd, piece.as_slice())?,
        _ => {
            let msg = s.msg.get_or_insert_with(SendMsg::new);
            msg.fill(s.queue.iter().take(MAX_IOV).map(Piece::as_slice));
            r.submit_send(id, fd, msg)?
        }
    };
    s.send_op = Some(op);
    Ok(())
}

fn replace_waker(slot: &mut Option<Waker>, waker: &Waker) -> Option<Waker> {
    match slot {
        Some(w) if w.will_wake(waker) => None,
        _ => slot.replace(waker.clone()),
    }
}

fn closed() -> io::Error {
    io::Error::new(io::ErrorKind::NotConnected, "the socket was closed")
}
