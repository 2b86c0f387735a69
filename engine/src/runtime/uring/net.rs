//! Nonblocking TCP and UNIX-domain sockets on the io_uring reactor.
//!
//! Every operation is the plain syscall first; only `EAGAIN` arms a readiness poll (see
//! [`PollWait`]). A socket keeps its pending read and write polls, so a read future dropped by a
//! timeout leaves nothing in flight that outlives the socket: the poll is cancelled when the
//! socket (or its next successful read) drops it, and the kernel never holds a buffer.

use std::io::{self, Read};
use std::mem::MaybeUninit;
use std::net::{Shutdown, SocketAddr};
use std::os::fd::{AsRawFd, RawFd};
use std::path::Path;
use std::task::{Context, Poll};
use std::time::Duration;

use socket2::{Domain, SockAddr, Type};

use super::PollWait;

/// Connections a listener queues before accepting them.
const BACKLOG: i32 = 1024;

/// A connected stream socket (TCP or UNIX-domain).
pub struct Socket {
    // Declared before `inner`: the polls are cancelled before the descriptor closes.
    read_wait: Option<PollWait>,
    write_wait: Option<PollWait>,
    inner: socket2::Socket,
    unix: bool,
}

impl Socket {
    fn new(inner: socket2::Socket, unix: bool) -> Self {
        Self {
            read_wait: None,
            write_wait: None,
            inner,
            unix,
        }
    }

    /// Connects over TCP (with TCP_NODELAY). The caller bounds the time.
    pub async fn connect_tcp(addr: SocketAddr) -> io::Result<Self> {
        let sock =
            socket2::Socket::new(Domain::for_address(addr), Type::STREAM.nonblocking(), None)?;
        connect(&sock, &addr.into()).await?;
        let _ = sock.set_nodelay(true);
        Ok(Self::new(sock, false))
    }

    /// Connects to a UNIX-domain socket. The caller bounds the time.
    pub async fn connect_unix(path: &Path) -> io::Result<Self> {
        let sock = socket2::Socket::new(Domain::UNIX, Type::STREAM.nonblocking(), None)?;
        connect(&sock, &SockAddr::unix(path)?).await?;
        Ok(Self::new(sock, true))
    }

    /// True for a UNIX-domain socket.
    pub fn is_unix(&self) -> bool {
        self.unix
    }

    /// The peer's address; `None` for UNIX-domain sockets.
    pub fn peer_addr(&self) -> Option<SocketAddr> {
        self.inner.peer_addr().ok()?.as_socket()
    }

    /// Whether the peer closed or sent something (one nonblocking peek).
    pub fn peer_gone(&self) -> bool {
        let mut byte = [MaybeUninit::<u8>::uninit(); 1];
        match self
            .inner
            .recv_with_flags(&mut byte, libc::MSG_PEEK | libc::MSG_DONTWAIT)
        {
            Err(e) => {
                e.kind() != io::ErrorKind::WouldBlock && e.kind() != io::ErrorKind::Interrupted
            }
            Ok(_) => true,
        }
    }

    /// Polls one read into `buf`; `Ok(0)` is end of stream.
    pub fn poll_read(&mut self, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        let fd = self.inner.as_raw_fd();
        let inner = &self.inner;
        poll_io(&mut self.read_wait, fd, libc::POLLIN as u32, cx, || {
            (&*inner).read(buf)
        })
    }

    /// Polls one write of (a prefix of) `buf`.
    pub fn poll_write(&mut self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let fd = self.inner.as_raw_fd();
        let inner = &self.inner;
        // A closed peer is EPIPE, not SIGPIPE.
        poll_io(&mut self.write_wait, fd, libc::POLLOUT as u32, cx, || {
            inner.send_with_flags(buf, libc::MSG_NOSIGNAL)
        })
    }

    /// Shuts the sending side down (the peer reads end of stream).
    pub fn shutdown_write(&self) -> io::Result<()> {
        match self.inner.shutdown(Shutdown::Write) {
            Err(e) if e.kind() == io::ErrorKind::NotConnected => Ok(()),
            other => other,
        }
    }
}

/// A listening socket (TCP with SO_REUSEPORT, or UNIX-domain).
pub struct Listener {
    inner: socket2::Socket,
    unix: bool,
}

impl Listener {
    /// Binds `addr` with SO_REUSEPORT, so each shard can bind its own listener.
    pub fn bind_tcp(addr: SocketAddr) -> io::Result<Self> {
        let sock =
            socket2::Socket::new(Domain::for_address(addr), Type::STREAM.nonblocking(), None)?;
        sock.set_reuse_address(true)?;
        sock.set_reuse_port(true)?;
        if addr.is_ipv6() {
            let _ = sock.set_only_v6(true);
        }
        sock.bind(&addr.into())?;
        sock.listen(BACKLOG)?;
        Ok(Self {
            inner: sock,
            unix: false,
        })
    }

    /// Binds a UNIX-domain socket file (the caller removed a stale one).
    pub fn bind_unix(path: &Path) -> io::Result<Self> {
        let sock = socket2::Socket::new(Domain::UNIX, Type::STREAM.nonblocking(), None)?;
        sock.bind(&SockAddr::unix(path)?)?;
        sock.listen(BACKLOG)?;
        Ok(Self {
            inner: sock,
            unix: true,
        })
    }

    /// The bound address (TCP).
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner
            .local_addr()?
            .as_socket()
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "not an IP socket"))
    }

    /// Waits for the next connection. Dropping the future loses nothing: a connection is only
    /// taken by the `accept4` that returns it.
    pub async fn accept(&self) -> io::Result<Socket> {
        let mut wait = None;
        let fd = self.inner.as_raw_fd();
        let (sock, _) = std::future::poll_fn(|cx| {
            poll_io(&mut wait, fd, libc::POLLIN as u32, cx, || {
                self.inner.accept()
            })
        })
        .await?;
        sock.set_nonblocking(true)?;
        if !self.unix {
            // Latency over throughput: PostgreSQL messages are small and request/response.
            let _ = sock.set_nodelay(true);
        }
        Ok(Socket::new(sock, self.unix))
    }
}

/// Starts a nonblocking connect and waits until it is established or failed.
async fn connect(sock: &socket2::Socket, addr: &SockAddr) -> io::Result<()> {
    loop {
        match sock.connect(addr) {
            Ok(()) => return Ok(()),
            Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => break,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            // A UNIX-domain listener's backlog is full: try again shortly.
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                super::sleep(Duration::from_millis(1)).await;
            }
            Err(e) => return Err(e),
        }
    }
    let mut wait = None;
    let fd = sock.as_raw_fd();
    std::future::poll_fn(|cx| {
        poll_io(&mut wait, fd, libc::POLLOUT as u32, cx, || {
            match sock.take_error()? {
                Some(e) => Err(e),
                // Still connecting is only possible before the first poll fired.
                None if sock.peer_addr().is_err() => Err(io::ErrorKind::WouldBlock.into()),
                None => Ok(()),
            }
        })
    })
    .await
}

/// Tries `op`; on `EAGAIN` arms (or keeps) a readiness poll in `wait` and returns `Pending`.
fn poll_io<T>(
    wait: &mut Option<PollWait>,
    fd: RawFd,
    events: u32,
    cx: &mut Context<'_>,
    mut op: impl FnMut() -> io::Result<T>,
) -> Poll<io::Result<T>> {
    let mut polled = None;
    if let Some(w) = wait {
        match w.poll(cx) {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(res) => {
                *wait = None;
                polled = Some(res);
            }
        }
    }
    loop {
        match op() {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                // A poll that failed outright would fail again: report it instead of looping.
                if let Some(res) = polled.filter(|r| *r < 0) {
                    return Poll::Ready(Err(io::Error::from_raw_os_error(-res)));
                }
                return match PollWait::arm(fd, events, cx) {
                    Ok(w) => {
                        *wait = Some(w);
                        Poll::Pending
                    }
                    Err(e) => Poll::Ready(Err(e)),
                };
            }
            other => return Poll::Ready(other),
        }
    }
}
