//! TLS over the runtime's streams with rustls: the server side for clients, the client side for
//! backends, and the configurations both are built from.
//!
//! [`TlsSettings::build`] turns pgpool.conf's `ssl_*` files into a rustls [`ServerConfig`]
//! (clients → corepool) and [`ClientConfig`] (corepool → PostgreSQL) once per start or reload;
//! every shard shares them through `Arc`s. [`TlsStream`] (in `session.rs`) runs a session over
//! any [`Transport`]; the runtime's stream switches to one after the SSLRequest exchange
//! (`Stream::accept_tls`, `Stream::connect_tls`), so everything above sees one stream type
//! whatever the transport.
//!
//! Backends are verified like libpq's `sslmode=require` (encrypted, certificate not checked)
//! unless `ssl_ca_cert`/`ssl_ca_cert_dir` is set; then the chain must lead to one of those CAs
//! but the host name is not compared (`sslmode=verify-ca`), which is what Pgpool-II's
//! `SSL_VERIFY_PEER` without a host check does.

mod cert_name;
mod session;

pub use cert_name::common_name;
pub use rustls::pki_types::ServerName;
pub use rustls::{ClientConfig, ServerConfig};
pub use session::{TlsStream, Transport};

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use corepool_client::tls::Verifier;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, CertificateRevocationListDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::RootCertStore;

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

#[cfg(test)]
mod tests;
