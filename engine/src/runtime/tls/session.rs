//! A TLS session over any queued byte transport: plaintext pieces are encrypted into records
//! the transport queues, and reads push out whatever ciphertext rustls still holds.
//!
//! Generic over [`Transport`] so that this file needs nothing from the stream that carries it
//! (the runtime's `Stream` implements the trait and holds a `TlsStream<Stream>`).

use std::collections::VecDeque;
use std::io;
use std::io::Write as _;
use std::pin::Pin;
use std::task::{Context, Poll};

use corepool_runtime::buf::Piece;
use corepool_runtime::net::Socket;
use futures_lite::{AsyncRead, AsyncWrite};
use rustls::pki_types::CertificateDer;

/// What TLS runs over: a byte stream whose sends are queued (they never wait) and flushed on
/// demand.
pub trait Transport: AsyncRead + AsyncWrite + Unpin {
    /// Queues `piece` to be sent; returns at once.
    fn queue(&mut self, piece: Piece) -> io::Result<()>;
    /// Moves queued bytes on; ready once at most `low` bytes are left to send.
    fn poll_flush_to(&mut self, cx: &mut Context<'_>, low: usize) -> Poll<io::Result<()>>;
    /// The plain socket underneath, if the transport is open.
    fn socket(&self) -> Option<&Socket>;
}

/// Pieces a TLS session still has to encrypt, and their size.
#[derive(Default)]
struct Outbox {
    pieces: VecDeque<Piece>,
    bytes: usize,
}

/// Queues what rustls writes on the transport's send queue (which never waits).
struct QueueWriter<'a, T>(&'a mut T);

impl<T: Transport> std::io::Write for QueueWriter<'_, T> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.queue(Piece::from(buf.to_vec()))?;
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Encrypts everything in `out` into records queued on `plain` (whose send queue never waits).
fn encrypt<T: Transport, D>(
    plain: &mut T,
    session: &mut rustls::ConnectionCommon<D>,
    out: &mut Outbox,
) -> io::Result<()> {
    while let Some(front) = out.pieces.front_mut() {
        while session.wants_write() {
            session.write_tls(&mut QueueWriter(plain))?;
        }
        // rustls takes plaintext up to its buffer limit (always some once drained).
        let n = session.writer().write(front.as_slice())?;
        if n == 0 && !front.is_empty() {
            return Err(io::ErrorKind::WriteZero.into());
        }
        front.advance(n);
        out.bytes -= n;
        if front.is_empty() {
            out.pieces.pop_front();
        }
    }
    while session.wants_write() {
        session.write_tls(&mut QueueWriter(plain))?;
    }
    Ok(())
}

/// A TLS session over a [`Transport`], either side.
///
/// Writes are pushed to the socket eagerly: rustls may keep encrypted bytes when the socket is
/// full, and callers of `poll_write` (the relay) never flush, so every read and write first
/// tries to send what is left. A task that waits for either direction is then woken when the
/// socket takes more.
pub struct TlsStream<T> {
    inner: futures_rustls::TlsStream<T>,
    /// Plaintext queued by the relay's `send`, encrypted as the flush goes.
    out: Outbox,
}

impl<T: Transport> TlsStream<T> {
    /// Continues over `inner`, a finished handshake.
    pub fn new(inner: futures_rustls::TlsStream<T>) -> Self {
        Self {
            inner,
            out: Outbox::default(),
        }
    }

    /// The plain socket TLS runs over.
    pub fn socket(&self) -> Option<&Socket> {
        self.inner.get_ref().0.socket()
    }

    /// The peer's certificate chain (end entity first) when it presented one. On the server
    /// side that chain was verified against `ssl_ca_cert` during the handshake.
    pub fn peer_certificates(&self) -> Option<&[CertificateDer<'static>]> {
        self.inner.get_ref().1.peer_certificates()
    }

    /// Encrypts `piece` into records queued on the socket (which never waits).
    pub fn queue(&mut self, piece: Piece) -> io::Result<()> {
        self.out.bytes += piece.len();
        self.out.pieces.push_back(piece);
        self.encrypt_queued()
    }

    /// Ciphertext the socket has not sent yet.
    pub fn unsent(&self) -> usize {
        self.out.bytes + self.socket().map_or(0, |s| s.unsent())
    }

    /// Moves queued ciphertext on; ready once at most `low` bytes are left.
    pub fn poll_flush_to(&mut self, cx: &mut Context<'_>, low: usize) -> Poll<io::Result<()>> {
        self.encrypt_queued()?;
        self.inner.get_mut().0.poll_flush_to(cx, low)
    }

    fn encrypt_queued(&mut self) -> io::Result<()> {
        match &mut self.inner {
            futures_rustls::TlsStream::Client(c) => {
                let (plain, session) = c.get_mut();
                encrypt(plain, session, &mut self.out)
            }
            futures_rustls::TlsStream::Server(c) => {
                let (plain, session) = c.get_mut();
                encrypt(plain, session, &mut self.out)
            }
        }
    }

    /// Sends buffered ciphertext; `Pending` leaves the waker with the socket.
    fn poll_drain(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.inner.get_ref().1.wants_write() {
            Pin::new(&mut self.inner).poll_flush(cx)
        } else {
            Poll::Ready(Ok(()))
        }
    }

    /// Reads plaintext into `buf`, first pushing out ciphertext rustls still holds.
    pub fn poll_read(&mut self, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        if let Poll::Ready(Err(e)) = self.poll_drain(cx) {
            return Poll::Ready(Err(e));
        }
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }

    /// Writes plaintext from `buf` once the ciphertext held before it is out.
    pub fn poll_write(&mut self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        if self.poll_drain(cx)?.is_pending() {
            return Poll::Pending;
        }
        let n = std::task::ready!(Pin::new(&mut self.inner).poll_write(cx, buf))?;
        if let Poll::Ready(Err(e)) = self.poll_drain(cx) {
            return Poll::Ready(Err(e));
        }
        Poll::Ready(Ok(n))
    }

    /// Sends close_notify and closes the transport.
    pub fn poll_close(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_close(cx)
    }
}
