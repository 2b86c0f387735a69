//! A connection to a client or a backend, in clear or over TLS, and the listeners that accept
//! clients.
//!
//! The relay speaks the chunk API: [`Stream::poll_recv`] gives received bytes as they came
//! (in clear: the ring buffer the kernel filled, no copy), [`Stream::send`] queues a [`Piece`].
//! Start-up, authentication and corepool's own queries use `AsyncRead`/`AsyncWrite` (and
//! [`Stream::read_buf`]) on the same stream; bytes a chunk reader gave back with
//! [`Stream::unread`] are read first either way.

use std::io;
use std::net::SocketAddr;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use corepool_runtime::buf::{Piece, RecvBuf};
use corepool_runtime::net::{Listener as RingListener, Socket};
use futures_lite::{AsyncRead, AsyncWrite, AsyncWriteExt};

use super::tls::{ClientConfig, ServerConfig, ServerName, TlsStream, Transport};
use super::ReadBuf;

/// Plaintext read from a TLS session in one chunk.
const TLS_CHUNK: usize = 16 * 1024;

/// Received bytes: a ring buffer as the kernel filled it, or bytes of our own (decrypted TLS,
/// or what an earlier reader left in a [`ReadBuf`]).
#[derive(Debug)]
pub enum Chunk {
    /// A receive buffer of the shard's ring.
    Ring(RecvBuf),
    /// Owned bytes, from `start` on.
    Owned {
        /// The bytes.
        data: Vec<u8>,
        /// Bytes already handled.
        start: usize,
    },
}

impl Chunk {
    /// The same bytes in memory of their own, giving a ring buffer back to the kernel at once:
    /// for a chunk that may be held while the session waits (a transaction-pooled request
    /// waiting for a backend must not hold one of the shard's receive buffers, or enough
    /// waiting clients starve the backends' replies of buffers and nothing moves).
    pub fn into_owned(self) -> Chunk {
        match self {
            Chunk::Ring(r) => Chunk::Owned {
                data: r.as_slice().to_vec(),
                start: 0,
            },
            owned => owned,
        }
    }

    /// The bytes not handled yet.
    pub fn as_slice(&self) -> &[u8] {
        match self {
            Chunk::Ring(r) => r.as_slice(),
            Chunk::Owned { data, start } => data.get(*start..).unwrap_or_default(),
        }
    }

    /// Number of bytes left.
    pub fn len(&self) -> usize {
        self.as_slice().len()
    }

    /// True when nothing is left.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Marks the first `n` bytes handled.
    pub fn advance(&mut self, n: usize) {
        match self {
            Chunk::Ring(r) => r.advance(n),
            Chunk::Owned { data, start } => *start = (*start + n).min(data.len()),
        }
    }

    /// Keeps only the first `n` bytes left.
    pub fn truncate(&mut self, n: usize) {
        match self {
            Chunk::Ring(r) => r.truncate(n),
            Chunk::Owned { data, start } => data.truncate(*start + n),
        }
    }

    /// What is left, as a piece to send (no copy).
    pub fn into_piece(self) -> Piece {
        match self {
            Chunk::Ring(r) => Piece::Chunk(r),
            Chunk::Owned { data, start } => Piece::Vec {
                data,
                offset: start,
            },
        }
    }
}

impl std::ops::Deref for Chunk {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        self.as_slice()
    }
}

/// What a [`Stream`] runs over.
enum Io {
    /// A TCP or UNIX-domain socket on the shard's ring.
    Plain(Socket),
    /// TLS over a plain socket, either side.
    Tls(Box<TlsStream<Stream>>),
    /// Nothing: what is left when a TLS handshake took the socket and failed.
    Closed,
}

/// A byte stream to a client or a backend.
pub struct Stream {
    io: Io,
    /// Bytes given back by a chunk reader, read first.
    partial: Option<Chunk>,
}

impl Stream {
    fn new(io: Io) -> Self {
        Self { io, partial: None }
    }

    /// Takes the stream out, leaving a closed one in its place.
    pub fn take(&mut self) -> Stream {
        std::mem::replace(self, Stream::new(Io::Closed))
    }

    /// A stream over a plain socket of this shard.
    pub fn plain(socket: Socket) -> Self {
        Self::new(Io::Plain(socket))
    }

    /// Connects over TCP within `limit`.
    pub async fn connect_tcp(addr: SocketAddr, limit: Duration) -> io::Result<Self> {
        match super::timeout(limit, Socket::connect_tcp(addr)).await {
            Some(s) => Ok(Self::plain(s?)),
            None => Err(io::Error::new(io::ErrorKind::TimedOut, "connect timed out")),
        }
    }

    /// Connects to a UNIX-domain socket within `limit`.
    pub async fn connect_unix(path: &Path, limit: Duration) -> io::Result<Self> {
        match super::timeout(limit, Socket::connect_unix(path)).await {
            Some(s) => Ok(Self::plain(s?)),
            None => Err(io::Error::new(io::ErrorKind::TimedOut, "connect timed out")),
        }
    }

    /// The plain socket underneath, if the stream is open.
    fn socket(&self) -> Option<&Socket> {
        match &self.io {
            Io::Plain(s) => Some(s),
            Io::Tls(t) => t.socket(),
            Io::Closed => None,
        }
    }

    /// Whether an idle connection has been closed or spoken to by its peer: a pooled backend
    /// has nothing to say between queries, so pending bytes (a FATAL at shutdown, a TLS
    /// close_notify) or end of stream mean it must not be reused. Looks only at what the
    /// ring already received: no syscall.
    pub fn peer_gone(&self) -> bool {
        self.partial.is_some() || self.socket().map_or(true, Socket::peer_gone)
    }

    /// The peer's address, `None` for UNIX-domain sockets.
    pub fn peer_addr(&self) -> Option<SocketAddr> {
        self.socket()?.peer_addr()
    }

    /// True for a UNIX-domain socket (pool_hba's `local` lines), with or without TLS.
    pub fn is_local(&self) -> bool {
        self.socket().is_some_and(Socket::is_unix)
    }

    /// The next received bytes; `Ok(None)` at end of stream.
    pub fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<Option<Chunk>>> {
        if let Some(c) = self.partial.take() {
            return Poll::Ready(Ok(Some(c)));
        }
        match &mut self.io {
            Io::Plain(s) => s.poll_recv(cx).map_ok(|c| c.map(Chunk::Ring)),
            Io::Tls(t) => {
                let mut data = vec![0u8; TLS_CHUNK];
                match t.poll_read(cx, &mut data) {
                    Poll::Ready(Ok(0)) => Poll::Ready(Ok(None)),
                    Poll::Ready(Ok(n)) => {
                        data.truncate(n);
                        Poll::Ready(Ok(Some(Chunk::Owned { data, start: 0 })))
                    }
                    Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
                    Poll::Pending => Poll::Pending,
                }
            }
            Io::Closed => Poll::Ready(Err(not_connected())),
        }
    }

    /// Gives received bytes back: the next read (of either kind) starts with them.
    pub fn unread(&mut self, chunk: Chunk) {
        if chunk.is_empty() {
            return;
        }
        self.partial = Some(match self.partial.take() {
            None => chunk,
            // Two leftovers: the one given back now comes first.
            Some(later) => {
                let mut data = chunk.as_slice().to_vec();
                data.extend_from_slice(later.as_slice());
                Chunk::Owned { data, start: 0 }
            }
        });
    }

    /// Gives back what `rbuf` holds unread (it came off this stream before a chunk reader).
    pub fn unread_buf(&mut self, rbuf: &mut ReadBuf) {
        if !rbuf.is_empty() {
            let data = rbuf.pending().to_vec();
            rbuf.consume(data.len());
            self.unread(Chunk::Owned { data, start: 0 });
        }
    }

    /// Queues `piece` to be sent; returns at once (TLS encrypts it first).
    pub fn send(&mut self, piece: impl Into<Piece>) -> io::Result<()> {
        let piece = piece.into();
        match &mut self.io {
            Io::Plain(s) => s.send(piece),
            Io::Tls(t) => t.queue(piece),
            Io::Closed => Err(not_connected()),
        }
    }

    /// Bytes queued and not yet sent.
    pub fn unsent(&self) -> usize {
        match &self.io {
            Io::Plain(s) => s.unsent(),
            Io::Tls(t) => t.unsent(),
            Io::Closed => 0,
        }
    }

    /// Moves queued bytes on; ready once at most `low` bytes are left to send.
    pub fn poll_flush_to(&mut self, cx: &mut Context<'_>, low: usize) -> Poll<io::Result<()>> {
        match &mut self.io {
            Io::Plain(s) => s.poll_flush_to(cx, low),
            Io::Tls(t) => t.poll_flush_to(cx, low),
            Io::Closed => Poll::Ready(Err(not_connected())),
        }
    }

    /// Waits until everything queued was sent.
    pub async fn flush_all(&mut self) -> io::Result<()> {
        std::future::poll_fn(|cx| self.poll_flush_to(cx, 0)).await
    }

    /// Reads once into `buf`'s free space; `Ok(0)` is end of stream.
    pub async fn read_buf(&mut self, buf: &mut ReadBuf) -> io::Result<usize> {
        let n = futures_lite::AsyncReadExt::read(self, buf.spare_mut()).await?;
        buf.commit(n);
        Ok(n)
    }

    /// Writes all of `data` and waits until it is sent.
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

impl Stream {
    /// Runs the server side of a TLS handshake on this stream (after answering `S` to an
    /// SSLRequest) and continues over TLS. On failure the stream is left closed.
    pub async fn accept_tls(&mut self, config: Arc<ServerConfig>) -> io::Result<()> {
        let plain = self.take();
        let tls = futures_rustls::TlsAcceptor::from(config)
            .accept(plain)
            .await?;
        *self = Stream::new(Io::Tls(Box::new(TlsStream::new(
            futures_rustls::TlsStream::Server(tls),
        ))));
        Ok(())
    }

    /// Runs the client side of a TLS handshake with `server` (after the backend answered `S`
    /// to an SSLRequest) and continues over TLS. On failure the stream is left closed.
    pub async fn connect_tls(
        &mut self,
        config: Arc<ClientConfig>,
        server: ServerName<'static>,
    ) -> io::Result<()> {
        let plain = self.take();
        let tls = futures_rustls::TlsConnector::from(config)
            .connect(server, plain)
            .await?;
        *self = Stream::new(Io::Tls(Box::new(TlsStream::new(
            futures_rustls::TlsStream::Client(tls),
        ))));
        Ok(())
    }

    /// True once TLS is running on this stream (pool_hba's `hostssl`/`hostnossl`).
    pub fn is_tls(&self) -> bool {
        matches!(self.io, Io::Tls(_))
    }

    /// The end-entity certificate the peer presented over TLS, DER; `None` in clear or when
    /// the peer sent none.
    pub fn peer_certificate(&self) -> Option<&[u8]> {
        match &self.io {
            Io::Tls(t) => t.peer_certificates()?.first().map(|c| c.as_ref()),
            _ => None,
        }
    }
}

impl Transport for Stream {
    fn queue(&mut self, piece: Piece) -> io::Result<()> {
        self.send(piece)
    }
    fn poll_flush_to(&mut self, cx: &mut Context<'_>, low: usize) -> Poll<io::Result<()>> {
        Stream::poll_flush_to(self, cx, low)
    }
    fn socket(&self) -> Option<&Socket> {
        Stream::socket(self)
    }
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if let Some(mut c) = this.partial.take() {
            let n = c.len().min(buf.len());
            buf[..n].copy_from_slice(&c[..n]);
            c.advance(n);
            this.unread(c);
            return Poll::Ready(Ok(n));
        }
        match &mut this.io {
            Io::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Io::Tls(t) => t.poll_read(cx, buf),
            Io::Closed => Poll::Ready(Err(not_connected())),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match &mut self.get_mut().io {
            Io::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Io::Tls(t) => t.poll_write(cx, buf),
            Io::Closed => Poll::Ready(Err(not_connected())),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.get_mut().poll_flush_to(cx, 0)
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &mut self.get_mut().io {
            Io::Plain(s) => Pin::new(s).poll_close(cx),
            Io::Tls(t) => t.poll_close(cx),
            Io::Closed => Poll::Ready(Ok(())),
        }
    }
}

/// A TCP listener owned by one shard. Every shard binds the same address with SO_REUSEPORT and
/// the kernel spreads new connections across them.
pub struct Listener {
    inner: RingListener,
}

impl Listener {
    /// Binds `addr` with SO_REUSEPORT. Callers check first that no other process holds the
    /// port (see [`super::check_port_free`]): SO_REUSEPORT would otherwise share it silently.
    pub fn bind(addr: SocketAddr) -> io::Result<Self> {
        Ok(Self {
            inner: RingListener::bind_tcp(addr)?,
        })
    }

    /// Waits for the next client.
    pub async fn accept(&self) -> io::Result<Stream> {
        Ok(Stream::plain(self.inner.accept().await?))
    }

    /// The bound address (useful when binding port 0 in tests).
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.local_addr()
    }
}

/// A UNIX-domain listener owned by one shard (only one shard listens on a socket path).
pub struct UnixListener {
    inner: RingListener,
}

impl UnixListener {
    /// Binds a socket file, removing a stale one first.
    pub fn bind(path: &Path) -> io::Result<Self> {
        let _ = std::fs::remove_file(path);
        let inner = RingListener::bind_unix(path)?;
        // Like PostgreSQL's default unix_socket_permissions (0777): the directory's permissions
        // are what restrict access.
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o777))?;
        Ok(Self { inner })
    }

    /// Waits for the next client.
    pub async fn accept(&self) -> io::Result<Stream> {
        Ok(Stream::plain(self.inner.accept().await?))
    }
}

fn not_connected() -> io::Error {
    io::Error::new(io::ErrorKind::NotConnected, "the stream was closed")
}
