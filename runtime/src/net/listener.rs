//! Listening sockets: a multishot accept on the ring queues new connections for [`Listener::accept`].

use std::future::poll_fn;
use std::io;
use std::marker::PhantomData;
use std::mem::ManuallyDrop;
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, FromRawFd};
use std::path::Path;
use std::rc::Rc;
use std::task::Poll;

use socket2::{Domain, SockAddr, Type};

use super::{outside, Socket};
use crate::executor::with_reactor;
use crate::reactor::SockId;

/// Connections a listener queues before accepting them.
const BACKLOG: i32 = 1024;

/// A listening socket (TCP with SO_REUSEPORT, or UNIX-domain) on the current shard.
pub struct Listener {
    id: SockId,
    sock: ManuallyDrop<socket2::Socket>,
    unix: bool,
    _shard: PhantomData<Rc<()>>,
}

impl Listener {
    /// Binds `addr` with SO_REUSEPORT, so each shard can bind its own listener on the port
    /// (the kernel spreads new connections across them).
    pub fn bind_tcp(addr: SocketAddr) -> io::Result<Self> {
        let sock = socket2::Socket::new(
            Domain::for_address(addr),
            Type::STREAM.nonblocking().cloexec(),
            None,
        )?;
        sock.set_reuse_address(true)?;
        sock.set_reuse_port(true)?;
        if addr.is_ipv6() {
            let _ = sock.set_only_v6(true);
        }
        sock.bind(&addr.into())?;
        sock.listen(BACKLOG)?;
        Self::adopt(sock, false)
    }

    /// Binds a UNIX-domain socket file (the caller removed a stale one).
    pub fn bind_unix(path: &Path) -> io::Result<Self> {
        let sock = socket2::Socket::new(Domain::UNIX, Type::STREAM.nonblocking().cloexec(), None)?;
        sock.bind(&SockAddr::unix(path)?)?;
        sock.listen(BACKLOG)?;
        Self::adopt(sock, true)
    }

    fn adopt(sock: socket2::Socket, unix: bool) -> io::Result<Self> {
        let fd = sock.as_raw_fd();
        let id = with_reactor(|r| r.socks.insert(fd)).ok_or_else(outside)?;
        Ok(Self {
            id,
            sock: ManuallyDrop::new(sock),
            unix,
            _shard: PhantomData,
        })
    }

    /// The bound address (TCP).
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.sock
            .local_addr()?
            .as_socket()
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "not an IP socket"))
    }

    /// True for a UNIX-domain listener.
    pub fn is_unix(&self) -> bool {
        self.unix
    }

    /// Waits for the next connection (TCP ones get TCP_NODELAY). Dropping the future loses
    /// nothing: accepted connections wait in the listener's queue.
    pub async fn accept(&self) -> io::Result<Socket> {
        let fd = poll_fn(|cx| {
            with_reactor(|r| r.socks.poll_accept(r, self.id, cx))
                .unwrap_or_else(|| Poll::Ready(Err(outside())))
        })
        .await?;
        // SAFETY: `fd` is a new descriptor the kernel just returned from accept; nothing else
        // owns it.
        let sock = unsafe { socket2::Socket::from_raw_fd(fd) };
        if !self.unix {
            // Latency over throughput: PostgreSQL messages are small and request/response.
            let _ = sock.set_nodelay(true);
        }
        Socket::adopt(sock, self.unix)
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        if with_reactor(|r| r.socks.close(r, self.id)).is_none() {
            // SAFETY: the socket table is gone with its shard; this handle is the last owner.
            unsafe { ManuallyDrop::drop(&mut self.sock) };
        }
    }
}
