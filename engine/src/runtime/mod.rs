//! The runtime seam: the few things the engine needs from an async runtime.
//!
//! Everything above this module (sessions, pools, health checks) sees only [`Listener`],
//! [`Stream`], [`sleep`], [`timeout`] and [`spawn`]; glommio is named nowhere else in the engine's
//! query path. [`tls`] layers rustls over a [`Stream`]: a TLS session is one more variant.
//!
//! Two executors can run the shards ([`RuntimeKind`]): glommio, or corepool's own io_uring loop
//! in [`uring`]. Each call here serves the executor running on the calling thread: a thread
//! running an io_uring shard gets [`uring`] sockets and timers, every other thread (glommio
//! shards, the probe and backup executors, tests) glommio's.

pub mod client_io;
mod executor;
mod kind;
mod readbuf;
pub mod tls;
pub mod uring;

pub use executor::{
    check_port_free, raise_fd_limit, start_shards, ExecutorSettings, ShardHandle, StartGate,
};
pub use kind::{RuntimeKind, RUNTIME_ENV};
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
    inner: AnyListener,
}

/// A listener of either runtime.
enum AnyListener {
    Glommio(glommio::net::TcpListener),
    Uring(uring::Listener),
}

impl Listener {
    /// Binds `addr` with SO_REUSEPORT. Callers check first that no other process holds the port
    /// (see [`check_port_free`]): SO_REUSEPORT would otherwise share it silently.
    pub fn bind(addr: SocketAddr) -> io::Result<Self> {
        let inner = if uring::is_current() {
            AnyListener::Uring(uring::Listener::bind_tcp(addr)?)
        } else {
            AnyListener::Glommio(glommio::net::TcpListener::bind(addr).map_err(to_io)?)
        };
        Ok(Self { inner })
    }

    /// Waits for the next client.
    pub async fn accept(&self) -> io::Result<Stream> {
        match &self.inner {
            AnyListener::Glommio(l) => {
                let s = l.accept().await.map_err(to_io)?;
                // Latency over throughput: PostgreSQL messages are small and request/response.
                let _ = s.set_nodelay(true);
                Ok(Stream::Tcp(s))
            }
            AnyListener::Uring(l) => Ok(Stream::Uring(l.accept().await?)),
        }
    }

    /// The bound address (useful when binding port 0 in tests).
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        match &self.inner {
            AnyListener::Glommio(l) => l.local_addr().map_err(to_io),
            AnyListener::Uring(l) => l.local_addr(),
        }
    }
}

/// A UNIX-domain listener owned by one shard (only one shard listens on a socket path).
pub struct UnixListener {
    inner: AnyUnixListener,
}

/// A UNIX-domain listener of either runtime.
enum AnyUnixListener {
    Glommio(glommio::net::UnixListener),
    Uring(uring::Listener),
}

impl UnixListener {
    /// Binds a socket file, removing a stale one first.
    pub fn bind(path: &Path) -> io::Result<Self> {
        let _ = std::fs::remove_file(path);
        let inner = if uring::is_current() {
            AnyUnixListener::Uring(uring::Listener::bind_unix(path)?)
        } else {
            AnyUnixListener::Glommio(glommio::net::UnixListener::bind(path).map_err(to_io)?)
        };
        // Like PostgreSQL's default unix_socket_permissions (0777): the directory's permissions
        // are what restrict access.
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o777))?;
        Ok(Self { inner })
    }

    /// Waits for the next client.
    pub async fn accept(&self) -> io::Result<Stream> {
        match &self.inner {
            AnyUnixListener::Glommio(l) => Ok(Stream::Unix(l.accept().await.map_err(to_io)?)),
            AnyUnixListener::Uring(l) => Ok(Stream::Uring(l.accept().await?)),
        }
    }
}

/// A byte stream to a client or a backend.
pub enum Stream {
    /// TCP.
    Tcp(glommio::net::TcpStream),
    /// A UNIX-domain socket.
    Unix(glommio::net::UnixStream),
    /// TCP or a UNIX-domain socket on an io_uring shard.
    Uring(uring::Socket),
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
            Stream::Uring(s) => return s.peer_gone(),
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
        if uring::is_current() {
            return match timeout(limit, uring::Socket::connect_tcp(addr)).await {
                Some(s) => Ok(Stream::Uring(s?)),
                None => Err(io::Error::new(io::ErrorKind::TimedOut, "connect timed out")),
            };
        }
        let s = glommio::net::TcpStream::connect_timeout(addr, limit)
            .await
            .map_err(to_io)?;
        let _ = s.set_nodelay(true);
        Ok(Stream::Tcp(s))
    }

    /// Connects to a UNIX-domain socket within `limit`.
    pub async fn connect_unix(path: &Path, limit: Duration) -> io::Result<Self> {
        if uring::is_current() {
            return match timeout(limit, uring::Socket::connect_unix(path)).await {
                Some(s) => Ok(Stream::Uring(s?)),
                None => Err(io::Error::new(io::ErrorKind::TimedOut, "connect timed out")),
            };
        }
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
            Stream::Uring(s) => s.peer_addr(),
            Stream::Unix(_) | Stream::Closed => None,
        }
    }

    /// True for a UNIX-domain socket (pool_hba's `local` lines), with or without TLS.
    pub fn is_local(&self) -> bool {
        match self {
            Stream::Unix(_) => true,
            Stream::Tls(t) => t.plain().is_local(),
            Stream::Uring(s) => s.is_unix(),
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
            Stream::Uring(s) => s.poll_read(cx, buf),
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
            Stream::Uring(s) => s.poll_write(cx, buf),
            Stream::Closed => Poll::Ready(Err(not_connected())),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Tcp(s) => Pin::new(s).poll_flush(cx),
            Stream::Unix(s) => Pin::new(s).poll_flush(cx),
            Stream::Tls(t) => t.poll_flush(cx),
            Stream::Uring(_) => Poll::Ready(Ok(())),
            Stream::Closed => Poll::Ready(Err(not_connected())),
        }
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Tcp(s) => Pin::new(s).poll_close(cx),
            Stream::Unix(s) => Pin::new(s).poll_close(cx),
            Stream::Tls(t) => t.poll_close(cx),
            Stream::Uring(s) => Poll::Ready(s.shutdown_write()),
            Stream::Closed => Poll::Ready(Ok(())),
        }
    }
}

/// Sleeps on the current shard's timers.
pub async fn sleep(d: Duration) {
    if uring::is_current() {
        uring::sleep(d).await
    } else {
        glommio::timer::sleep(d).await
    }
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
    if uring::is_current() {
        uring::spawn(fut);
    } else {
        glommio::spawn_local(fut).detach();
    }
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
