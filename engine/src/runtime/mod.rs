//! The runtime seam: the few things the engine needs from an async runtime.
//!
//! Everything above this module (sessions, pools, health checks) sees only [`Listener`],
//! [`Stream`], [`sleep`], [`timeout`] and [`spawn`]; glommio is named nowhere else in the engine's
//! query path. [`tls`] layers rustls over a [`Stream`]: a TLS session is one more variant. That keeps a later move of the hot path to raw io_uring operations (multishot recv,
//! provided buffers, send_zc through the `io-uring` crate) a change of this module only.

mod executor;
mod readbuf;
pub mod tls;

pub use executor::{
    check_port_free, raise_fd_limit, start_shards, ExecutorSettings, ShardHandle, StartGate,
};
pub use readbuf::ReadBuf;

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::path::Path;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use futures_lite::{AsyncRead, AsyncWrite, AsyncWriteExt};

/// A TCP listener owned by one shard. Every shard binds the same address with SO_REUSEPORT and the
/// kernel spreads new connections across them.
pub struct Listener {
    inner: glommio::net::TcpListener,
}

impl Listener {
    /// Binds `addr` with SO_REUSEPORT. Callers check first that no other process holds the port
    /// (see [`check_port_free`]): SO_REUSEPORT would otherwise share it silently.
    pub fn bind(addr: SocketAddr) -> io::Result<Self> {
        let inner = glommio::net::TcpListener::bind(addr).map_err(to_io)?;
        Ok(Self { inner })
    }

    /// Waits for the next client.
    pub async fn accept(&self) -> io::Result<Stream> {
        let s = self.inner.accept().await.map_err(to_io)?;
        // Latency over throughput: PostgreSQL messages are small and request/response.
        let _ = s.set_nodelay(true);
        Ok(Stream::Tcp(s))
    }

    /// The bound address (useful when binding port 0 in tests).
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.local_addr().map_err(to_io)
    }
}

/// A UNIX-domain listener owned by one shard (only one shard listens on a socket path).
pub struct UnixListener {
    inner: glommio::net::UnixListener,
}

impl UnixListener {
    /// Binds a socket file, removing a stale one first.
    pub fn bind(path: &Path) -> io::Result<Self> {
        let _ = std::fs::remove_file(path);
        let inner = glommio::net::UnixListener::bind(path).map_err(to_io)?;
        // Like PostgreSQL's default unix_socket_permissions (0777): the directory's permissions
        // are what restrict access.
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o777))?;
        Ok(Self { inner })
    }

    /// Waits for the next client.
    pub async fn accept(&self) -> io::Result<Stream> {
        let s = self.inner.accept().await.map_err(to_io)?;
        Ok(Stream::Unix(s))
    }
}

/// A byte stream to a client or a backend.
pub enum Stream {
    /// TCP.
    Tcp(glommio::net::TcpStream),
    /// A UNIX-domain socket.
    Unix(glommio::net::UnixStream),
    /// TLS over one of the others, as either side ([`Stream::accept_tls`],
    /// [`Stream::connect_tls`]).
    Tls(Box<tls::TlsStream>),
    /// Nothing: what is left when a TLS handshake took the stream and failed (or was dropped).
    /// Reads and writes fail with `NotConnected`.
    Closed,
}

impl Stream {
    /// Whether an idle connection has been closed or spoken to by its peer: a pooled backend
    /// has nothing to say between queries, so pending bytes (a FATAL at shutdown, a TLS
    /// close_notify) or end-of-file mean it must not be reused. One non-blocking peek (TCP and
    /// TLS; a UNIX-domain stream is taken as alive).
    pub fn peer_gone(&self) -> bool {
        use std::os::fd::{AsRawFd, BorrowedFd};
        let raw = match self {
            Stream::Tcp(s) => s.as_raw_fd(),
            // glommio's UnixStream exposes no descriptor: not checked.
            Stream::Unix(_) => return false,
            Stream::Tls(t) => return t.plain().peer_gone(),
            Stream::Closed => return true,
        };
        // SAFETY: `raw` is the descriptor of a stream `self` owns and keeps open for the whole
        // borrow (glommio streams expose only `AsRawFd`).
        let fd = unsafe { BorrowedFd::borrow_raw(raw) };
        let sock = socket2::SockRef::from(&fd);
        let mut byte = [std::mem::MaybeUninit::<u8>::uninit(); 1];
        match sock.recv_with_flags(&mut byte, libc::MSG_PEEK | libc::MSG_DONTWAIT) {
            Err(e) => {
                e.kind() != io::ErrorKind::WouldBlock && e.kind() != io::ErrorKind::Interrupted
            }
            Ok(_) => true,
        }
    }

    /// Connects over TCP within `limit`.
    pub async fn connect_tcp(addr: SocketAddr, limit: Duration) -> io::Result<Self> {
        let s = glommio::net::TcpStream::connect_timeout(addr, limit)
            .await
            .map_err(to_io)?;
        let _ = s.set_nodelay(true);
        Ok(Stream::Tcp(s))
    }

    /// Connects to a UNIX-domain socket within `limit`.
    pub async fn connect_unix(path: &Path, limit: Duration) -> io::Result<Self> {
        let connect = glommio::net::UnixStream::connect(path);
        match timeout(limit, connect).await {
            Some(r) => Ok(Stream::Unix(r.map_err(to_io)?)),
            None => Err(io::Error::new(io::ErrorKind::TimedOut, "connect timed out")),
        }
    }

    /// The peer's address, `None` for UNIX-domain sockets.
    pub fn peer_addr(&self) -> Option<SocketAddr> {
        match self {
            Stream::Tcp(s) => s.peer_addr().ok(),
            Stream::Tls(t) => t.plain().peer_addr(),
            Stream::Unix(_) | Stream::Closed => None,
        }
    }

    /// True for a UNIX-domain socket (pool_hba's `local` lines), with or without TLS.
    pub fn is_local(&self) -> bool {
        match self {
            Stream::Unix(_) => true,
            Stream::Tls(t) => t.plain().is_local(),
            Stream::Tcp(_) | Stream::Closed => false,
        }
    }

    /// Reads once into `buf`'s free space; `Ok(0)` is end of stream.
    pub async fn read_buf(&mut self, buf: &mut ReadBuf) -> io::Result<usize> {
        let n = futures_lite::AsyncReadExt::read(self, buf.spare_mut()).await?;
        buf.commit(n);
        Ok(n)
    }

    /// Writes all of `data` and flushes it (TLS may otherwise keep the last record).
    pub async fn write_all(&mut self, data: &[u8]) -> io::Result<()> {
        AsyncWriteExt::write_all(self, data).await?;
        AsyncWriteExt::flush(self).await
    }

    /// Polls one read into `buf`'s free space.
    pub fn poll_read_buf(
        &mut self,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf,
    ) -> Poll<io::Result<usize>> {
        match Pin::new(&mut *self).poll_read(cx, buf.spare_mut()) {
            Poll::Ready(Ok(n)) => {
                buf.commit(n);
                Poll::Ready(Ok(n))
            }
            other => other,
        }
    }
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Tcp(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Unix(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Tls(t) => t.poll_read(cx, buf),
            Stream::Closed => Poll::Ready(Err(not_connected())),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Tcp(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Unix(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Tls(t) => t.poll_write(cx, buf),
            Stream::Closed => Poll::Ready(Err(not_connected())),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Tcp(s) => Pin::new(s).poll_flush(cx),
            Stream::Unix(s) => Pin::new(s).poll_flush(cx),
            Stream::Tls(t) => t.poll_flush(cx),
            Stream::Closed => Poll::Ready(Err(not_connected())),
        }
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Tcp(s) => Pin::new(s).poll_close(cx),
            Stream::Unix(s) => Pin::new(s).poll_close(cx),
            Stream::Tls(t) => t.poll_close(cx),
            Stream::Closed => Poll::Ready(Ok(())),
        }
    }
}

/// Sleeps on the current shard's timer wheel.
pub async fn sleep(d: Duration) {
    glommio::timer::sleep(d).await
}

/// Runs `fut` for at most `limit`; `None` when the time ran out (the future is dropped).
pub async fn timeout<T>(limit: Duration, fut: impl Future<Output = T>) -> Option<T> {
    futures_lite::future::or(async { Some(fut.await) }, async {
        sleep(limit).await;
        None
    })
    .await
}

/// Spawns a task on the current shard and lets it run detached.
pub fn spawn(fut: impl Future<Output = ()> + 'static) {
    glommio::spawn_local(fut).detach();
}

fn not_connected() -> io::Error {
    io::Error::new(io::ErrorKind::NotConnected, "the stream was closed")
}

fn to_io(e: glommio::GlommioError<()>) -> io::Error {
    match e {
        glommio::GlommioError::IoError(e) => e,
        other => io::Error::other(other.to_string()),
    }
}
