//! TLS over the runtime's streams with rustls: the server side for clients, the client side for
//! backends, and the configurations both are built from.
//!
//! [`TlsSettings::build`] turns pgpool.conf's `ssl_*` files into a rustls [`ServerConfig`]
//! (clients → corepool) and [`ClientConfig`] (corepool → PostgreSQL) once per start or reload;
//! every shard shares them through `Arc`s. [`Stream::accept_tls`] and [`Stream::connect_tls`]
//! replace a plain stream by a [`Stream::Tls`] after the SSLRequest exchange, so everything
//! above sees one [`Stream`] type whatever the transport.
//!
//! Backends are verified like libpq's `sslmode=require` (encrypted, certificate not checked)
//! unless `ssl_ca_cert`/`ssl_ca_cert_dir` is set; then the chain must lead to one of those CAs
//! but the host name is not compared (`sslmode=verify-ca`), which is what Pgpool-II's
//! `SSL_VERIFY_PEER` without a host check does.

mod cert_name;

pub use cert_name::common_name;
pub use rustls::pki_types::ServerName;
pub use rustls::{ClientConfig, ServerConfig};

use std::fmt;
use std::io;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use corepool_client::tls::Verifier;
use futures_lite::{AsyncRead, AsyncWrite};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, CertificateRevocationListDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::RootCertStore;

use super::stream::{Io, Outbox};
use super::{Piece, Stream};

/// The ALPN protocol name PostgreSQL 17 registers; offered on both sides so that servers and
/// clients which insist on it are satisfied, and ignored by older peers.
const ALPN_POSTGRESQL: &[u8] = b"postgresql";

/// The TLS configurations in force, built once per start or reload. Cloning copies two `Arc`s.
#[derive(Clone, Default)]
pub struct TlsSettings {
    /// How clients are served after they ask for SSL; `None` answers SSLRequest with `N`.
    pub server: Option<Arc<ServerConfig>>,
    /// How backends are connected to; `None` never sends them an SSLRequest.
    pub client: Option<Arc<ClientConfig>>,
}

impl fmt::Debug for TlsSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsSettings")
            .field("server", &self.server.is_some())
            .field("client", &self.client.is_some())
            .finish()
    }
}

/// The files pgpool.conf's `ssl_*` parameters name, already resolved to paths.
#[derive(Debug, Clone, Default)]
pub struct TlsFiles {
    /// `ssl_cert`: the server certificate chain, PEM, leaf first.
    pub cert: Option<PathBuf>,
    /// `ssl_key`: the server's private key, PEM (PKCS#8, PKCS#1 or SEC1; not encrypted).
    pub key: Option<PathBuf>,
    /// `ssl_ca_cert`: CA certificates that verify client certificates and backends.
    pub ca: Option<PathBuf>,
    /// `ssl_ca_cert_dir`: a directory whose PEM files add CA certificates.
    pub ca_dir: Option<PathBuf>,
    /// `ssl_crl_file`: revoked client and backend certificates.
    pub crl: Option<PathBuf>,
    /// `ssl_prefer_server_ciphers`: pick the cipher suite in corepool's order.
    pub prefer_server_ciphers: bool,
}

/// Why the TLS configuration could not be built.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A PEM file could not be read or holds nothing usable.
    #[error("could not load {what} from \"{path}\": {source}")]
    Pem {
        /// Which parameter's file.
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// The reading or parsing error.
        #[source]
        source: rustls::pki_types::pem::Error,
    },
    /// `ssl_ca_cert_dir` could not be listed.
    #[error("could not read ssl_ca_cert_dir \"{path}\": {source}")]
    CaDir {
        /// The directory.
        path: PathBuf,
        /// The error.
        #[source]
        source: io::Error,
    },
    /// Only one of `ssl_cert` and `ssl_key` is set.
    #[error("ssl_cert and ssl_key must be set together")]
    CertWithoutKey,
    /// rustls refused the certificates or key (a key that does not match the certificate …).
    #[error("invalid SSL configuration: {0}")]
    Rustls(#[from] rustls::Error),
    /// The CA certificates cannot verify anything.
    #[error("invalid ssl_ca_cert: {0}")]
    ClientVerifier(#[from] rustls::server::VerifierBuilderError),
    /// The backend certificate verifier could not be built from the CA certificates.
    #[error("invalid ssl_ca_cert for backends: {0}")]
    BackendVerifier(#[from] corepool_client::tls::TlsError),
}

impl TlsSettings {
    /// Builds both sides from `files`. Without `ssl_cert`/`ssl_key` only the backend side is
    /// built: Pgpool-II documents that those two are needed for clients, not for backends.
    pub fn build(files: &TlsFiles) -> Result<Self, TlsError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let roots = load_roots(files)?;
        let crls = match &files.crl {
            Some(path) => CertificateRevocationListDer::pem_file_iter(path)
                .and_then(|it| it.collect::<Result<Vec<_>, _>>())
                .map_err(pem_error("ssl_crl_file", path))?,
            None => Vec::new(),
        };
        let server = match (&files.cert, &files.key) {
            (Some(cert), Some(key)) => Some(Arc::new(server_config(
                &provider, cert, key, &roots, &crls, files,
            )?)),
            (None, None) => None,
            _ => return Err(TlsError::CertWithoutKey),
        };
        // Backends' certificates: not checked without CAs (libpq's sslmode=require), the chain
        // but not the host name with them (verify-ca), as Pgpool-II checks them.
        let verifier = Verifier::new(provider.clone(), roots, crls, false)?;
        let mut client = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(verifier))
            .with_no_client_auth();
        client.alpn_protocols = vec![ALPN_POSTGRESQL.to_vec()];
        Ok(Self {
            server,
            client: Some(Arc::new(client)),
        })
    }
}

fn server_config(
    provider: &Arc<CryptoProvider>,
    cert: &Path,
    key: &Path,
    roots: &Option<Arc<RootCertStore>>,
    crls: &[CertificateRevocationListDer<'static>],
    files: &TlsFiles,
) -> Result<ServerConfig, TlsError> {
    let chain = CertificateDer::pem_file_iter(cert)
        .and_then(|it| it.collect::<Result<Vec<_>, _>>())
        .map_err(pem_error("ssl_cert", cert))?;
    let key = PrivateKeyDer::from_pem_file(key).map_err(pem_error("ssl_key", key))?;
    // With CA certificates, clients are asked for a certificate but may go without one, as
    // PostgreSQL does with ssl_ca_file; the `cert` method in pool_hba.conf then requires it.
    let client_auth = match roots {
        Some(roots) => WebPkiClientVerifier::builder_with_provider(roots.clone(), provider.clone())
            .with_crls(crls.iter().cloned())
            .allow_unauthenticated()
            .build()?,
        None => WebPkiClientVerifier::no_client_auth(),
    };
    let mut config = ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()?
        .with_client_cert_verifier(client_auth)
        .with_single_cert(chain, key)?;
    config.alpn_protocols = vec![ALPN_POSTGRESQL.to_vec()];
    config.ignore_client_order = files.prefer_server_ciphers;
    Ok(config)
}

/// The CA certificates of `ssl_ca_cert` and `ssl_ca_cert_dir`; `None` when neither is set.
fn load_roots(files: &TlsFiles) -> Result<Option<Arc<RootCertStore>>, TlsError> {
    if files.ca.is_none() && files.ca_dir.is_none() {
        return Ok(None);
    }
    let mut roots = RootCertStore::empty();
    if let Some(path) = &files.ca {
        let certs = CertificateDer::pem_file_iter(path)
            .and_then(|it| it.collect::<Result<Vec<_>, _>>())
            .map_err(pem_error("ssl_ca_cert", path))?;
        add_roots(&mut roots, certs, path);
    }
    if let Some(dir) = &files.ca_dir {
        let entries = std::fs::read_dir(dir).map_err(|source| TlsError::CaDir {
            path: dir.clone(),
            source,
        })?;
        // OpenSSL's CApath names files by subject hash; here every PEM file counts.
        for entry in entries.flatten() {
            let path = entry.path();
            match CertificateDer::pem_file_iter(&path).and_then(|it| it.collect()) {
                Ok(certs) => add_roots(&mut roots, certs, &path),
                Err(e) => {
                    tracing::debug!(path = %path.display(), error = %e, "ssl_ca_cert_dir: skipped")
                }
            }
        }
    }
    Ok(Some(Arc::new(roots)))
}

fn add_roots(roots: &mut RootCertStore, certs: Vec<CertificateDer<'static>>, path: &Path) {
    let (_, ignored) = roots.add_parsable_certificates(certs);
    if ignored > 0 {
        tracing::warn!(path = %path.display(), ignored, "CA certificates that cannot be used were ignored");
    }
}

fn pem_error<'a>(
    what: &'static str,
    path: &'a Path,
) -> impl FnOnce(rustls::pki_types::pem::Error) -> TlsError + 'a {
    move |source| TlsError::Pem {
        what,
        path: path.to_owned(),
        source,
    }
}

/// Queues what rustls writes on the plain stream's send queue (which never waits).
struct QueueWriter<'a>(&'a mut Stream);

impl std::io::Write for QueueWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.send(buf.to_vec())?;
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Encrypts everything in `out` into records queued on `plain` (whose send queue never waits).
fn encrypt<D>(
    plain: &mut Stream,
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

/// A TLS session over a [`Stream`], either side.
///
/// Writes are pushed to the socket eagerly: rustls may keep encrypted bytes when the socket is
/// full, and callers of `poll_write` (the relay) never flush, so every read and write first
/// tries to send what is left. A task that waits for either direction is then woken when the
/// socket takes more.
pub struct TlsStream {
    inner: futures_rustls::TlsStream<Stream>,
    /// Plaintext queued by the relay's `send`, encrypted as the flush goes.
    out: Outbox,
}

impl TlsStream {
    fn new(inner: futures_rustls::TlsStream<Stream>) -> Self {
        Self {
            inner,
            out: Outbox::default(),
        }
    }

    /// The plain socket TLS runs over.
    pub(super) fn socket(&self) -> Option<&corepool_runtime::net::Socket> {
        match &self.inner.get_ref().0.io {
            Io::Plain(s) => Some(s),
            _ => None,
        }
    }

    /// The peer's certificate chain (end entity first) when it presented one. On the server
    /// side that chain was verified against `ssl_ca_cert` during the handshake.
    pub fn peer_certificates(&self) -> Option<&[CertificateDer<'static>]> {
        self.inner.get_ref().1.peer_certificates()
    }

    /// Encrypts `piece` into records queued on the socket (which never waits).
    pub(super) fn queue(&mut self, piece: Piece) -> io::Result<()> {
        self.out.bytes += piece.len();
        self.out.pieces.push_back(piece);
        self.encrypt_queued()
    }

    /// Ciphertext the socket has not sent yet.
    pub(super) fn unsent(&self) -> usize {
        self.out.bytes + self.socket().map_or(0, |s| s.unsent())
    }

    /// Moves queued ciphertext on; ready once at most `low` bytes are left.
    pub(super) fn poll_flush_to(
        &mut self,
        cx: &mut Context<'_>,
        low: usize,
    ) -> Poll<io::Result<()>> {
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

    pub(super) fn poll_read(
        &mut self,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        if let Poll::Ready(Err(e)) = self.poll_drain(cx) {
            return Poll::Ready(Err(e));
        }
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }

    pub(super) fn poll_write(
        &mut self,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        if self.poll_drain(cx)?.is_pending() {
            return Poll::Pending;
        }
        let n = std::task::ready!(Pin::new(&mut self.inner).poll_write(cx, buf))?;
        if let Poll::Ready(Err(e)) = self.poll_drain(cx) {
            return Poll::Ready(Err(e));
        }
        Poll::Ready(Ok(n))
    }

    pub(super) fn poll_close(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_close(cx)
    }
}

impl Stream {
    /// Runs the server side of a TLS handshake on this stream (after answering `S` to an
    /// SSLRequest) and continues over TLS. On failure the stream is left closed.
    pub async fn accept_tls(&mut self, config: Arc<ServerConfig>) -> io::Result<()> {
        let plain = std::mem::replace(self, Stream::new(Io::Closed));
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
        let plain = std::mem::replace(self, Stream::new(Io::Closed));
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

#[cfg(test)]
mod test;
