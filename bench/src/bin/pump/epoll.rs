//! The epoll byte pump: one thread, one epoll set, each client paired with its own PostgreSQL
//! connection, bytes copied both ways through one 64 KiB buffer without looking at them.
//!
//! Per readiness event the loop makes one `recv` and one `send`; nothing else is on the steady
//! path. A `send` that does not take everything (a full socket buffer, or a PostgreSQL
//! connection still being established) keeps the rest in the pair's stash and stops reading
//! that direction until the stash is flushed, so one slow reader never grows memory without
//! bound.
//!
//! Two triggering modes, chosen with `--trigger`:
//! - **edge** (the default): each socket is registered once with `EPOLLIN | EPOLLOUT |
//!   EPOLLET` and never touched again by `epoll_ctl`. The kernel reports a socket only when
//!   something new happens on it, and does not re-check it on the next `epoll_wait` as it does
//!   for level-triggered entries. A read shorter than the buffer means the socket was drained,
//!   so PostgreSQL's small messages still cost exactly one `recv`; `EPOLLOUT` wake-ups only come
//!   after a send hit a full buffer (the kernel signals write space only to a writer that ran
//!   out of it).
//! - **level**: registered with `EPOLLIN` alone; `EPOLLOUT` is added with `EPOLL_CTL_MOD` only
//!   while a stash waits, and reading the stashed direction is switched off the same way. One
//!   `recv` per event; the kernel re-polls every reported socket on the next wait.

use std::io;
use std::net::SocketAddrV4;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};

use crate::sys;

/// The epoll token of the listening socket (pairs use `slot << 1 | side`).
const LISTENER: u64 = u64::MAX;

/// Bytes one `recv` may take: larger than any burst pgbench's workloads produce.
const READ_BUFFER: usize = 64 * 1024;

/// Events taken per `epoll_wait`.
const EVENTS: usize = 1024;

/// Side 0 of a pair is the client, side 1 its PostgreSQL connection.
const CLIENT: usize = 0;
const SERVER: usize = 1;

/// How sockets are registered with epoll (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Trigger {
    /// `EPOLLET`, registered once.
    Edge,
    /// Level-triggered, `EPOLLOUT` only while a send is pending.
    Level,
}

/// One client and its PostgreSQL connection.
struct Pair {
    fds: [OwnedFd; 2],
    /// `stash[i]`: bytes read from side `i` that side `1 - i` has not accepted yet.
    stash: [Vec<u8>; 2],
    /// The events each side is registered for (level mode changes them).
    registered: [u32; 2],
}

/// What a step left the pair in.
enum Next {
    Keep,
    Close,
}

/// The loop's state.
struct Pump {
    ep: OwnedFd,
    trigger: Trigger,
    backend: SocketAddrV4,
    slots: Vec<Option<Pair>>,
    /// Slots free for new pairs.
    free: Vec<usize>,
    /// Slots closed during the current batch of events: reused only after it, so a later
    /// event of the batch for a closed pair finds the slot empty instead of a new pair.
    closed: Vec<usize>,
    buf: Box<[u8]>,
}

/// Serves clients on `listen`, each paired with a new connection to `backend`, until the
/// process is killed.
pub fn run(listen: SocketAddrV4, backend: SocketAddrV4, trigger: Trigger) -> io::Result<()> {
    let listener = sys::listen_tcp(listen)?;
    let ep = sys::epoll_create()?;
    sys::epoll_ctl(
        ep.as_raw_fd(),
        true,
        listener.as_raw_fd(),
        libc::EPOLLIN as u32,
        LISTENER,
    )?;
    let mut pump = Pump {
        ep,
        trigger,
        backend,
        slots: Vec::new(),
        free: Vec::new(),
        closed: Vec::new(),
        buf: vec![0; READ_BUFFER].into_boxed_slice(),
    };
    let mut events = vec![sys::empty_event(); EVENTS];
    loop {
        let n = sys::epoll_wait(pump.ep.as_raw_fd(), &mut events)?;
        for event in &events[..n] {
            // Copies: the struct is packed on x86-64.
            let (token, flags) = (event.u64, event.events);
            if token == LISTENER {
                pump.accept_all(listener.as_raw_fd());
            } else {
                let (slot, side) = ((token >> 1) as usize, (token & 1) as usize);
                if let Next::Close = pump.handle(slot, side, flags) {
                    pump.close(slot);
                }
            }
        }
        pump.free.append(&mut pump.closed);
    }
}

impl Pump {
    fn base_events(&self) -> u32 {
        match self.trigger {
            Trigger::Edge => (libc::EPOLLIN | libc::EPOLLOUT | libc::EPOLLET) as u32,
            Trigger::Level => libc::EPOLLIN as u32,
        }
    }

    /// Accepts every queued client and pairs each with a new PostgreSQL connection.
    fn accept_all(&mut self, listener: RawFd) {
        loop {
            match sys::accept(listener) {
                Ok(Some(client)) => {
                    if let Err(e) = self.open(client) {
                        eprintln!("pump: cannot pair a client with PostgreSQL: {e}");
                    }
                }
                Ok(None) => return,
                Err(e) if e.raw_os_error() == Some(libc::ECONNABORTED) => {}
                Err(e) => {
                    // EMFILE and the like: the client waits in the backlog for a later turn.
                    eprintln!("pump: accept: {e}");
                    return;
                }
            }
        }
    }

    fn open(&mut self, client: OwnedFd) -> io::Result<()> {
        sys::set_nodelay(client.as_raw_fd())?;
        let server = sys::connect_tcp(self.backend)?;
        let slot = self.free.pop().unwrap_or(self.slots.len());
        let events = self.base_events();
        for (side, fd) in [(CLIENT, &client), (SERVER, &server)] {
            let token = (slot as u64) << 1 | side as u64;
            sys::epoll_ctl(self.ep.as_raw_fd(), true, fd.as_raw_fd(), events, token)?;
        }
        let pair = Pair {
            fds: [client, server],
            stash: [Vec::new(), Vec::new()],
            registered: [events; 2],
        };
        if slot == self.slots.len() {
            self.slots.push(Some(pair));
        } else {
            self.slots[slot] = Some(pair);
        }
        Ok(())
    }

    /// Closing the descriptors also takes them out of the epoll set.
    fn close(&mut self, slot: usize) {
        if let Some(entry) = self.slots.get_mut(slot) {
            if entry.take().is_some() {
                self.closed.push(slot);
            }
        }
    }

    /// Handles the events `flags` reported for `side` of the pair in `slot`.
    fn handle(&mut self, slot: usize, side: usize, flags: u32) -> Next {
        let Some(Some(pair)) = self.slots.get_mut(slot) else {
            return Next::Keep; // closed earlier in this batch
        };
        if let Next::Close = step(pair, side, flags, &mut self.buf, self.trigger) {
            return Next::Close;
        }
        if self.trigger == Trigger::Level && update(&self.ep, pair, slot).is_err() {
            return Next::Close;
        }
        Next::Keep
    }
}

/// Moves what `flags` says can move: the stash waiting for `side` if it became writable, then
/// what `side` received.
fn step(pair: &mut Pair, side: usize, flags: u32, buf: &mut [u8], trigger: Trigger) -> Next {
    let other = 1 - side;
    if flags & libc::EPOLLOUT as u32 != 0 && !pair.stash[other].is_empty() {
        match flush(pair, other) {
            Err(_) => return Next::Close,
            Ok(false) => {}
            Ok(true) => {
                // The stashed side was not read meanwhile (edge mode skipped its events).
                if let Next::Close = forward(pair, other, buf, trigger) {
                    return Next::Close;
                }
            }
        }
    }
    let readable = (libc::EPOLLIN | libc::EPOLLHUP | libc::EPOLLERR) as u32;
    if flags & readable != 0 && pair.stash[side].is_empty() {
        return forward(pair, side, buf, trigger);
    }
    Next::Keep
}

/// Reads from side `from` and sends to the other side: once (level), or until a short read
/// (edge). Stops early when the other side stops taking bytes.
fn forward(pair: &mut Pair, from: usize, buf: &mut [u8], trigger: Trigger) -> Next {
    let to = 1 - from;
    loop {
        match sys::recv(pair.fds[from].as_raw_fd(), buf) {
            Ok(0) => return Next::Close,
            Ok(n) => {
                match send_or_stash(pair.fds[to].as_raw_fd(), &buf[..n], &mut pair.stash[from]) {
                    Err(_) => return Next::Close,
                    Ok(true) => return Next::Keep,
                    Ok(false) => {}
                }
                if trigger == Trigger::Level || n < buf.len() {
                    return Next::Keep;
                }
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Next::Keep,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return Next::Close,
        }
    }
}

/// Sends `data` to `fd`; what the socket does not take goes to `stash`. Returns whether
/// anything was stashed.
fn send_or_stash(fd: RawFd, data: &[u8], stash: &mut Vec<u8>) -> io::Result<bool> {
    let sent = loop {
        match sys::send(fd, data) {
            Ok(n) => break n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break 0,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    };
    if sent == data.len() {
        return Ok(false);
    }
    // A short send means the socket buffer is full: the rest waits for EPOLLOUT.
    stash.extend_from_slice(&data[sent..]);
    Ok(true)
}

/// Sends what side `from` stashed to the other side; returns whether the stash is empty now.
fn flush(pair: &mut Pair, from: usize) -> io::Result<bool> {
    let fd = pair.fds[1 - from].as_raw_fd();
    let stash = &mut pair.stash[from];
    while !stash.is_empty() {
        match sys::send(fd, stash) {
            Ok(n) => {
                stash.drain(..n);
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(true)
}

/// Level mode: registers each side for reading while nothing it sent is stashed, and for
/// writing while the other side's bytes wait for it.
fn update(ep: &OwnedFd, pair: &mut Pair, slot: usize) -> io::Result<()> {
    for side in [CLIENT, SERVER] {
        let mut events = 0;
        if pair.stash[side].is_empty() {
            events |= libc::EPOLLIN as u32;
        }
        if !pair.stash[1 - side].is_empty() {
            events |= libc::EPOLLOUT as u32;
        }
        if events != pair.registered[side] {
            let token = (slot as u64) << 1 | side as u64;
            sys::epoll_ctl(
                ep.as_raw_fd(),
                false,
                pair.fds[side].as_raw_fd(),
                events,
                token,
            )?;
            pair.registered[side] = events;
        }
    }
    Ok(())
}
