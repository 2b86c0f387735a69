//! Sockets on the shard's ring: [`Socket`] (a connected TCP or UNIX-domain stream) and
//! [`Listener`].
//!
//! The chunk API is what the proxy's relay uses: [`Socket::poll_recv`] hands over whole
//! receive buffers as the kernel filled them, [`Socket::send`] queues a [`Piece`] and returns at
//! once. `AsyncRead`/`AsyncWrite` are built on the same two for code that wants a byte stream
//! (start-up, authentication, TLS, corepool's own client): reads copy out of the chunks,
//! writes copy into owned pieces. A socket belongs to the shard that made it.

#![allow(unsafe_code)]

mod listener;

pub use listener::Listener;

use std::future::poll_fn;
use std::io;
use std::marker::PhantomData;
use std::mem::ManuallyDrop;
use std::net::{Shutdown, SocketAddr};
use std::path::Path;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

use futures_lite::{AsyncRead, AsyncWrite};
use socket2::{Domain, SockAddr, Type};

use crate::buf::{Piece, RecvBuf};
use crate::executor::with_reactor;
use crate::reactor::SockId;

/// Unsent bytes past which `AsyncWrite` makes the writer wait.
const WRITE_HIGH: usize = 256 * 1024;

/// A connected stream socket (TCP or UNIX-domain) on the current shard.
pub struct Socket {
    id: SockId,
    /// For socket options and addresses; the descriptor is closed by the socket table.
    sock: ManuallyDrop<socket2::Socket>,
    unix: bool,
    /// A chunk partly read through `AsyncRead`, or given back with [`Socket::unread`].
    partial: Option<RecvBuf>,
    _shard: PhantomData<Rc<()>>,
}

impl Socket {
    /// Takes over a connected descriptor (made nonblocking) on the current shard.
    pub(super) fn adopt(sock: socket2::Socket, unix: bool) -> io::Result<Self> {
        use std::os::fd::AsRawFd;
        let fd = sock.as_raw_fd();
        let id = with_reactor(|r| r.socks.insert(fd)).ok_or_else(outside)?;
        Ok(Self {
            id,
            sock: ManuallyDrop::new(sock),
            unix,
            partial: None,
            _shard: PhantomData,
        })
    }

    /// Connects over TCP (with TCP_NODELAY). The caller bounds the time (dropping the future
    /// cancels the connect).
    pub async fn connect_tcp(addr: SocketAddr) -> io::Result<Self> {
        let sock = socket2::Socket::new(
            Domain::for_address(addr),
            Type::STREAM.nonblocking().cloexec(),
            None,
        )?;
        let _ = sock.set_nodelay(true);
        let socket = Self::adopt(sock, false)?;
        socket.connect(addr.into()).await?;
        Ok(socket)
    }

    /// Connects to a UNIX-domain socket. The caller bounds the time.
    pub async fn connect_unix(path: &Path) -> io::Result<Self> {
        let sock = socket2::Socket::new(Domain::UNIX, Type::STREAM.nonblocking().cloexec(), None)?;
        let socket = Self::adopt(sock, true)?;
        socket.connect(SockAddr::unix(path)?).await?;
        Ok(socket)
    }

    async fn connect(&self, addr: SockAddr) -> io::Result<()> {
        with_reactor(|r| r.socks.connect(r, self.id, addr)).ok_or_else(outside)??;
        poll_fn(|cx| {
            with_reactor(|r| r.socks.poll_connect(self.id, cx))
                .unwrap_or_else(|| Poll::Ready(Err(outside())))
        })
        .await
    }

    /// True for a UNIX-domain socket.
    pub fn is_unix(&self) -> bool {
        self.unix
    }

    /// The peer's address; `None` for UNIX-domain sockets.
    pub fn peer_addr(&self) -> Option<SocketAddr> {
        self.sock.peer_addr().ok()?.as_socket()
    }

    /// The next received chunk; `Ok(None)` at end of stream.
    pub fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<Option<RecvBuf>>> {
        if let Some(chunk) = self.partial.take() {
            return Poll::Ready(Ok(Some(chunk)));
        }
        with_reactor(|r| r.socks.poll_recv(r, self.id, cx))
            .unwrap_or_else(|| Poll::Ready(Err(outside())))
    }

    /// Waits for the next received chunk; `Ok(None)` at end of stream.
    pub async fn recv(&mut self) -> io::Result<Option<RecvBuf>> {
        poll_fn(|cx| self.poll_recv(cx)).await
    }

    /// Gives a chunk back: the next read starts with it.
    pub fn unread(&mut self, chunk: RecvBuf) {
        if !chunk.is_empty() {
            self.partial = Some(chunk);
        }
    }

    /// Queues `piece` to be sent; returns at once. Fails when an earlier send failed.
    pub fn send(&self, piece: impl Into<Piece>) -> io::Result<()> {
        let piece = piece.into();
        with_reactor(|r| r.socks.send(r, self.id, piece)).unwrap_or_else(|| Err(outside()))
    }

    /// Bytes queued and not sent yet.
    pub fn unsent(&self) -> usize {
        with_reactor(|r| r.socks.unsent(self.id)).unwrap_or(0)
    }

    /// Ready once at most `low` bytes are left to send.
    pub fn poll_flush_to(&self, cx: &mut Context<'_>, low: usize) -> Poll<io::Result<()>> {
        with_reactor(|r| r.socks.poll_flush(self.id, cx, low))
            .unwrap_or_else(|| Poll::Ready(Err(outside())))
    }

    /// Waits until everything queued was sent.
    pub async fn flush(&self) -> io::Result<()> {
        poll_fn(|cx| self.poll_flush_to(cx, 0)).await
    }

    /// Sends a copy of `data` and waits until it is sent.
    pub async fn write_all(&self, data: &[u8]) -> io::Result<()> {
        self.send(data.to_vec())?;
        self.flush().await
    }

    /// True when the peer closed, sent something, or a send failed: an idle pooled connection
    /// must not be reused then. Reads only what the receive already brought (no syscall).
    pub fn peer_gone(&self) -> bool {
        self.partial.is_some() || with_reactor(|r| r.socks.peer_spoke(self.id)).unwrap_or(true)
    }

    /// Shuts the sending side down (the peer reads end of stream).
    pub fn shutdown_write(&self) -> io::Result<()> {
        match self.sock.shutdown(Shutdown::Write) {
            Err(e) if e.kind() == io::ErrorKind::NotConnected => Ok(()),
            other => other,
        }
    }
}

impl Drop for Socket {
    fn drop(&mut self) {
        self.partial = None;
        if with_reactor(|r| r.socks.close(r, self.id)).is_none() {
            // The shard is gone (thread exit): close the descriptor ourselves.
            // SAFETY: the table that would have closed it no longer exists, so this handle
            // is the descriptor's last owner.
            unsafe { ManuallyDrop::drop(&mut self.sock) };
        }
    }
}

impl AsyncRead for Socket {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if buf.is_empty() {
            return Poll::Ready(Ok(0));
        }
        let mut chunk = match this.poll_recv(cx) {
            Poll::Ready(Ok(Some(c))) => c,
            Poll::Ready(Ok(None)) => return Poll::Ready(Ok(0)),
            Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
            Poll::Pending => return Poll::Pending,
        };
        let n = chunk.len().min(buf.len());
        buf[..n].copy_from_slice(&chunk[..n]);
        chunk.advance(n);
        this.unread(chunk);
        Poll::Ready(Ok(n))
    }
}

impl AsyncWrite for Socket {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.unsent() > WRITE_HIGH {
            match this.poll_flush_to(cx, WRITE_HIGH / 2) {
                Poll::Ready(Ok(())) => {}
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => return Poll::Pending,
            }
        }
        this.send(buf.to_vec())?;
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.get_mut().poll_flush_to(cx, 0)
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        match this.poll_flush_to(cx, 0) {
            Poll::Ready(Ok(())) => Poll::Ready(this.shutdown_write()),
            other => other,
        }
    }
}

impl std::fmt::Debug for Socket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Socket")
            .field("unix", &self.unix)
            .field("peer", &self.peer_addr())
            .finish()
    }
}

pub(super) fn outside() -> io::Error {
    io::Error::other("a corepool_runtime socket used outside its shard")
}
