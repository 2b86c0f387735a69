//! The byte pump's only `unsafe`: thin wrappers over the libc calls its epoll loop makes
//! (sockets, `epoll_*`, `recv`/`send`), each returning `io::Result` and owning descriptors as
//! [`OwnedFd`] so a closed connection's descriptors are closed exactly once.
#![allow(unsafe_code)]

use std::io;
use std::mem;
use std::net::SocketAddrV4;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

/// `listen(2)` backlog: as deep as the kernel allows (`somaxconn`, 4096 on Debian 12), so a
/// `pgbench -C` or 10,000-client burst is never refused by the pump itself.
const BACKLOG: libc::c_int = 4096;

/// Turns a -1 return into the thread's `errno`.
fn check(ret: libc::c_int) -> io::Result<libc::c_int> {
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

/// `ret` as a new descriptor we own.
fn owned(ret: libc::c_int) -> io::Result<OwnedFd> {
    let fd = check(ret)?;
    // SAFETY: `fd` was just returned by the kernel from a call that creates a descriptor;
    // nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// A `sockaddr_in` for `addr`.
fn sockaddr(addr: SocketAddrV4) -> libc::sockaddr_in {
    // SAFETY: sockaddr_in is plain old data; all-zero is a valid value to fill in.
    let mut sa: libc::sockaddr_in = unsafe { mem::zeroed() };
    sa.sin_family = libc::AF_INET as libc::sa_family_t;
    sa.sin_port = addr.port().to_be();
    sa.sin_addr = libc::in_addr {
        s_addr: u32::from(*addr.ip()).to_be(),
    };
    sa
}

fn tcp_socket() -> io::Result<OwnedFd> {
    // SAFETY: socket(2) takes no pointers.
    owned(unsafe {
        libc::socket(
            libc::AF_INET,
            libc::SOCK_STREAM | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
            0,
        )
    })
}

fn set_int_option(fd: RawFd, level: libc::c_int, name: libc::c_int) -> io::Result<()> {
    let one: libc::c_int = 1;
    // SAFETY: `one` is a live c_int and the length passed is its size.
    check(unsafe {
        libc::setsockopt(
            fd,
            level,
            name,
            (&one as *const libc::c_int).cast(),
            mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    })
    .map(drop)
}

/// TCP_NODELAY: PostgreSQL messages are small request/response exchanges, so Nagle's
/// algorithm would only add delay (every pooler sets it).
pub fn set_nodelay(fd: RawFd) -> io::Result<()> {
    set_int_option(fd, libc::IPPROTO_TCP, libc::TCP_NODELAY)
}

/// A nonblocking TCP listener on `addr`.
pub fn listen_tcp(addr: SocketAddrV4) -> io::Result<OwnedFd> {
    let fd = tcp_socket()?;
    set_int_option(fd.as_raw_fd(), libc::SOL_SOCKET, libc::SO_REUSEADDR)?;
    let sa = sockaddr(addr);
    // SAFETY: `sa` is a live sockaddr_in and the length passed is its size.
    check(unsafe {
        libc::bind(
            fd.as_raw_fd(),
            (&sa as *const libc::sockaddr_in).cast(),
            mem::size_of::<libc::sockaddr_in>() as libc::socklen_t,
        )
    })?;
    // SAFETY: listen(2) takes no pointers.
    check(unsafe { libc::listen(fd.as_raw_fd(), BACKLOG) })?;
    Ok(fd)
}

/// Accepts one connection (nonblocking, close-on-exec); `Ok(None)` when none is queued.
pub fn accept(listener: RawFd) -> io::Result<Option<OwnedFd>> {
    // SAFETY: null address pointers are allowed (the peer's address is not wanted).
    let ret = unsafe {
        libc::accept4(
            listener,
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
        )
    };
    match owned(ret) {
        Ok(fd) => Ok(Some(fd)),
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(None),
        Err(e) => Err(e),
    }
}

/// Starts a nonblocking connect to `addr`: the socket is returned at once and becomes writable
/// when connected (a send before that fails with `EAGAIN`, which the loop treats like a full
/// send buffer).
pub fn connect_tcp(addr: SocketAddrV4) -> io::Result<OwnedFd> {
    let fd = tcp_socket()?;
    set_nodelay(fd.as_raw_fd())?;
    let sa = sockaddr(addr);
    // SAFETY: `sa` is a live sockaddr_in and the length passed is its size.
    let ret = unsafe {
        libc::connect(
            fd.as_raw_fd(),
            (&sa as *const libc::sockaddr_in).cast(),
            mem::size_of::<libc::sockaddr_in>() as libc::socklen_t,
        )
    };
    match check(ret) {
        Ok(_) => Ok(fd),
        Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => Ok(fd),
        Err(e) => Err(e),
    }
}

/// `recv(2)` into `buf`: bytes read (0 at end of stream); `EAGAIN` is `WouldBlock`.
#[inline]
pub fn recv(fd: RawFd, buf: &mut [u8]) -> io::Result<usize> {
    // SAFETY: `buf` is a live, writable slice and the length passed is its length.
    let n = unsafe { libc::recv(fd, buf.as_mut_ptr().cast(), buf.len(), 0) };
    usize::try_from(n).map_err(|_| io::Error::last_os_error())
}

/// `send(2)` of `data` without SIGPIPE: bytes sent; `EAGAIN` is `WouldBlock`.
#[inline]
pub fn send(fd: RawFd, data: &[u8]) -> io::Result<usize> {
    // SAFETY: `data` is a live slice and the length passed is its length.
    let n = unsafe { libc::send(fd, data.as_ptr().cast(), data.len(), libc::MSG_NOSIGNAL) };
    usize::try_from(n).map_err(|_| io::Error::last_os_error())
}

/// A new epoll instance.
pub fn epoll_create() -> io::Result<OwnedFd> {
    // SAFETY: epoll_create1 takes no pointers.
    owned(unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) })
}

/// `EPOLL_CTL_ADD` (`add`) or `EPOLL_CTL_MOD` of `fd` with `events`, tagged with `token`.
pub fn epoll_ctl(ep: RawFd, add: bool, fd: RawFd, events: u32, token: u64) -> io::Result<()> {
    let mut event = libc::epoll_event { events, u64: token };
    let op = if add {
        libc::EPOLL_CTL_ADD
    } else {
        libc::EPOLL_CTL_MOD
    };
    // SAFETY: `event` is a live epoll_event; the kernel only reads it.
    check(unsafe { libc::epoll_ctl(ep, op, fd, &mut event) }).map(drop)
}

/// Waits (forever) for events into `events`; returns how many arrived (0 after a signal).
#[inline]
pub fn epoll_wait(ep: RawFd, events: &mut [libc::epoll_event]) -> io::Result<usize> {
    let max = libc::c_int::try_from(events.len()).unwrap_or(libc::c_int::MAX);
    // SAFETY: `events` is a live, writable array of at least `max` entries.
    let n = unsafe { libc::epoll_wait(ep, events.as_mut_ptr(), max, -1) };
    match usize::try_from(n) {
        Ok(n) => Ok(n),
        Err(_) => {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                Ok(0)
            } else {
                Err(e)
            }
        }
    }
}

/// An empty event, to size the array [`epoll_wait`] fills.
pub fn empty_event() -> libc::epoll_event {
    libc::epoll_event { events: 0, u64: 0 }
}
