//! The byte stream under a connection (TCP, TLS over TCP, or UNIX-domain) and its read buffer.

use crate::transport::{self, Endpoint, Io};
use bytes::{Buf, Bytes, BytesMut};
use futures_lite::{AsyncReadExt, AsyncWriteExt};
use futures_rustls::client::TlsStream;
use futures_rustls::rustls::pki_types::ServerName;
use futures_rustls::rustls::ClientConfig;
use futures_rustls::TlsConnector;
use std::io;
use std::sync::Arc;
use std::time::Duration;

/// A connected socket, in clear or TLS.
pub(crate) enum Socket {
    Plain(Box<dyn Io>),
    Tls(Box<TlsStream<Box<dyn Io>>>),
}

impl Socket {
    /// Connects to `endpoint` within `limit` (see [`transport`](crate::transport)).
    pub(crate) async fn connect(
        endpoint: Endpoint,
        limit: Duration,
        connector: Option<&transport::Connector>,
    ) -> io::Result<Socket> {
        transport::connect(endpoint, limit, connector)
            .await
            .map(Socket::Plain)
    }

    /// Sends an SSLRequest on a fresh TCP socket: when the server says `S`, runs the TLS
    /// handshake with `config` (SNI from `host`) and returns the TLS socket; on `N` returns the
    /// socket in clear. Called before anything else is sent or read, so the one-byte answer is
    /// read straight from the socket.
    pub(crate) async fn negotiate_tls(
        self,
        config: Arc<ClientConfig>,
        host: &str,
    ) -> io::Result<Socket> {
        let Socket::Plain(mut tcp) = self else {
            return Ok(self);
        };
        let mut request = BytesMut::with_capacity(8);
        corepool_protocol::message::write::frontend::ssl_request(&mut request);
        tcp.write_all(&request).await?;
        tcp.flush().await?;
        let mut answer = [0u8; 1];
        tcp.read_exact(&mut answer).await?;
        match answer[0] {
            b'S' => {
                let name = ServerName::try_from(host.to_owned()).map_err(|_| {
                    io::Error::new(
                        io::ErrorKind::InvalidInput,
                        format!("\"{host}\" is not a valid TLS server name"),
                    )
                })?;
                let tls = TlsConnector::from(config).connect(name, tcp).await?;
                Ok(Socket::Tls(Box::new(tls)))
            }
            b'N' => Ok(Socket::Plain(tcp)),
            other => Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "received invalid response to SSL negotiation: {}",
                    char::from(other)
                ),
            )),
        }
    }

    /// Whether the socket runs TLS.
    pub(crate) fn is_tls(&self) -> bool {
        matches!(self, Socket::Tls(_))
    }

    pub(crate) async fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Socket::Plain(s) => s.read(buf).await,
            Socket::Tls(s) => s.read(buf).await,
        }
    }

    pub(crate) async fn write_all(&mut self, data: &[u8]) -> io::Result<()> {
        // Flushed: TLS records, and a connector's buffered stream, may wait until then.
        match self {
            Socket::Plain(s) => {
                s.write_all(data).await?;
                s.flush().await
            }
            Socket::Tls(s) => {
                s.write_all(data).await?;
                s.flush().await
            }
        }
    }
}

/// Bytes read and not yet consumed. `data` is always fully initialised: `data[..filled]` is
/// pending, the rest is free space a read may overwrite, so reads never zero-fill (the same
/// scheme as the engine's `ReadBuf`).
pub(crate) struct ReadBuf {
    data: BytesMut,
    filled: usize,
    chunk: usize,
}

impl ReadBuf {
    pub(crate) fn new(chunk: usize) -> Self {
        let mut data = BytesMut::with_capacity(chunk);
        data.resize(chunk, 0);
        ReadBuf {
            data,
            filled: 0,
            chunk,
        }
    }

    pub(crate) fn pending(&self) -> &[u8] {
        &self.data[..self.filled]
    }

    /// Free space of at least `min` bytes (and at least one read chunk).
    pub(crate) fn spare_mut(&mut self, min: usize) -> &mut [u8] {
        let want = min.max(self.chunk);
        if self.data.len() - self.filled < want {
            self.data.reserve(self.filled + want - self.data.len());
            let cap = self.data.capacity();
            self.data.resize(cap, 0);
        }
        &mut self.data[self.filled..]
    }

    pub(crate) fn commit(&mut self, n: usize) {
        self.filled = (self.filled + n).min(self.data.len());
    }

    /// Splits the first `n` pending bytes off without copying.
    pub(crate) fn split(&mut self, n: usize) -> Bytes {
        let n = n.min(self.filled);
        self.filled -= n;
        let out = self.data.split_to(n).freeze();
        if self.filled == 0 && self.data.len() < self.chunk {
            self.data.clear();
            self.data.reserve(self.chunk);
            let cap = self.data.capacity();
            self.data.resize(cap, 0);
        }
        out
    }

    pub(crate) fn consume(&mut self, n: usize) {
        let n = n.min(self.filled);
        self.data.advance(n);
        self.filled -= n;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_and_grow() {
        let mut b = ReadBuf::new(8);
        b.spare_mut(20)[..20].fill(7);
        b.commit(20);
        assert_eq!(b.pending().len(), 20);
        let f = b.split(5);
        assert_eq!(&f[..], &[7; 5]);
        assert_eq!(b.pending().len(), 15);
        b.split(15);
        assert!(b.pending().is_empty());
        assert!(b.spare_mut(0).len() >= 8);
    }
}
