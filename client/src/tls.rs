//! TLS to servers: libpq's `sslmode`s as rustls client configurations.
//!
//! The certificate is checked as the mode says: not at all (`prefer`, `require`: the session is
//! encrypted but the server unauthenticated), its chain to `sslrootcert`'s CAs (`verify-ca`), or
//! the chain and the host name (`verify-full`). Handshake signatures are always checked, so the
//! keys belong to whoever holds the presented certificate's key.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use futures_rustls::rustls;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{
    CertificateDer, CertificateRevocationListDer, PrivateKeyDer, ServerName, UnixTime,
};
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, Error, RootCertStore, SignatureScheme,
};

/// libpq's `sslmode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SslMode {
    /// Never ask for SSL.
    Disable,
    /// libpq tries in clear first; here it is taken as `prefer`.
    Allow,
    /// Ask for SSL, go on in clear when the server declines (libpq's default).
    Prefer,
    /// SSL or nothing; the certificate is not checked.
    Require,
    /// SSL, with a certificate that chains to `sslrootcert`.
    VerifyCa,
    /// As `verify-ca`, and the certificate names the host connected to.
    VerifyFull,
}

impl SslMode {
    /// Parses libpq's spelling.
    pub fn parse(text: &str) -> Result<SslMode, TlsError> {
        Ok(match text {
            "disable" => SslMode::Disable,
            "allow" => SslMode::Allow,
            "prefer" => SslMode::Prefer,
            "require" => SslMode::Require,
            "verify-ca" => SslMode::VerifyCa,
            "verify-full" => SslMode::VerifyFull,
            other => return Err(TlsError::Mode(other.to_owned())),
        })
    }

    /// Whether a server that declines SSL is refused.
    pub fn requires_tls(self) -> bool {
        matches!(
            self,
            SslMode::Require | SslMode::VerifyCa | SslMode::VerifyFull
        )
    }
}

/// Why a TLS configuration could not be built.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// An `sslmode` libpq does not know.
    #[error("invalid sslmode value: \"{0}\"")]
    Mode(String),
    /// `sslrootcert` could not be read or holds no usable certificate.
    #[error("could not read root certificate file \"{path}\": {reason}")]
    RootCert {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },
    /// `sslcert` or `sslkey` could not be read, or they do not go together.
    #[error("could not load {what} \"{path}\": {reason}")]
    ClientCert {
        /// `certificate file` or `private key file`.
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },
    /// rustls refused the configuration.
    #[error("could not set up TLS: {0}")]
    Rustls(String),
}

/// The files a TLS client configuration reads (libpq's `sslrootcert`, `sslcert`, `sslkey`).
#[derive(Debug, Clone, Copy, Default)]
pub struct TlsFiles<'a> {
    /// CA certificates the server's certificate must chain to (`verify-ca`, `verify-full`).
    pub root_cert: Option<&'a Path>,
    /// A client certificate chain to present when the server asks (`cert` authentication);
    /// used only together with `key`.
    pub cert: Option<&'a Path>,
    /// The client certificate's private key.
    pub key: Option<&'a Path>,
}

/// The configuration for `mode` (`None` for `disable`), with the CAs of `files.root_cert` for
/// the verifying modes (which require it) and the client certificate of `files.cert` and
/// `files.key` when both are given.
pub fn client_config(
    mode: SslMode,
    files: &TlsFiles<'_>,
) -> Result<Option<Arc<ClientConfig>>, TlsError> {
    let root_cert = files.root_cert;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let roots = match mode {
        SslMode::Disable => return Ok(None),
        SslMode::Allow | SslMode::Prefer | SslMode::Require => None,
        SslMode::VerifyCa | SslMode::VerifyFull => {
            let path = root_cert.ok_or_else(|| TlsError::RootCert {
                path: PathBuf::from("~/.postgresql/root.crt"),
                reason: "no sslrootcert given".into(),
            })?;
            Some(Arc::new(load_roots(path)?))
        }
    };
    let verifier = Verifier::new(
        provider.clone(),
        roots,
        Vec::new(),
        mode == SslMode::VerifyFull,
    )?;
    let builder = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Rustls(e.to_string()))?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier));
    let config = match (files.cert, files.key) {
        (Some(cert), Some(key)) => {
            let (chain, key_der) = load_client_cert(cert, key)?;
            builder
                .with_client_auth_cert(chain, key_der)
                .map_err(|e| TlsError::ClientCert {
                    what: "private key file",
                    path: key.to_owned(),
                    reason: e.to_string(),
                })?
        }
        _ => builder.with_no_client_auth(),
    };
    Ok(Some(Arc::new(config)))
}

fn load_client_cert(
    cert: &Path,
    key: &Path,
) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), TlsError> {
    let chain = CertificateDer::pem_file_iter(cert)
        .and_then(|it| it.collect::<Result<Vec<_>, _>>())
        .map_err(|e| TlsError::ClientCert {
            what: "certificate file",
            path: cert.to_owned(),
            reason: e.to_string(),
        })?;
    if chain.is_empty() {
        return Err(TlsError::ClientCert {
            what: "certificate file",
            path: cert.to_owned(),
            reason: "no certificate in it".into(),
        });
    }
    let key_der = PrivateKeyDer::from_pem_file(key).map_err(|e| TlsError::ClientCert {
        what: "private key file",
        path: key.to_owned(),
        reason: e.to_string(),
    })?;
    Ok((chain, key_der))
}

fn load_roots(path: &Path) -> Result<RootCertStore, TlsError> {
    let bad = |reason: String| TlsError::RootCert {
        path: path.to_owned(),
        reason,
    };
    let certs = CertificateDer::pem_file_iter(path)
        .and_then(|it| it.collect::<Result<Vec<_>, _>>())
        .map_err(|e| bad(e.to_string()))?;
    let mut roots = RootCertStore::empty();
    let (added, _) = roots.add_parsable_certificates(certs);
    if added == 0 {
        return Err(bad("no certificate in it".into()));
    }
    Ok(roots)
}

/// Checks a server certificate as its mode says.
#[derive(Debug)]
pub struct Verifier {
    provider: Arc<CryptoProvider>,
    chain: Option<Arc<WebPkiServerVerifier>>,
    check_name: bool,
}

impl Verifier {
    /// With `roots`, certificates must chain to them and not be revoked by `crls`; with
    /// `check_name` too, name the host.
    pub fn new(
        provider: Arc<CryptoProvider>,
        roots: Option<Arc<RootCertStore>>,
        crls: Vec<CertificateRevocationListDer<'static>>,
        check_name: bool,
    ) -> Result<Verifier, TlsError> {
        let chain = match roots {
            Some(roots) => Some(
                WebPkiServerVerifier::builder_with_provider(roots, provider.clone())
                    .with_crls(crls)
                    .build()
                    .map_err(|e| TlsError::Rustls(e.to_string()))?,
            ),
            None => None,
        };
        Ok(Verifier {
            provider,
            chain,
            check_name,
        })
    }
}

impl ServerCertVerifier for Verifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, Error> {
        let Some(chain) = &self.chain else {
            return Ok(ServerCertVerified::assertion());
        };
        match chain.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now) {
            Err(Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) if !self.check_name => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_parse_like_libpq() {
        let cases = [
            ("disable", SslMode::Disable, false),
            ("allow", SslMode::Allow, false),
            ("prefer", SslMode::Prefer, false),
            ("require", SslMode::Require, true),
            ("verify-ca", SslMode::VerifyCa, true),
            ("verify-full", SslMode::VerifyFull, true),
        ];
        for (text, mode, required) in cases {
            assert_eq!(SslMode::parse(text).unwrap(), mode);
            assert_eq!(mode.requires_tls(), required, "{text}");
        }
        let e = SslMode::parse("Require").unwrap_err();
        assert_eq!(e.to_string(), "invalid sslmode value: \"Require\"");
    }

    #[test]
    fn configurations_by_mode() {
        let none = TlsFiles::default();
        assert!(client_config(SslMode::Disable, &none).unwrap().is_none());
        assert!(client_config(SslMode::Prefer, &none).unwrap().is_some());
        let e = client_config(SslMode::VerifyFull, &none).unwrap_err();
        assert!(e.to_string().contains("no sslrootcert given"), "{e}");
        let missing = Path::new("/nonexistent/root.crt");
        let files = TlsFiles {
            root_cert: Some(missing),
            ..TlsFiles::default()
        };
        let e = client_config(SslMode::VerifyCa, &files).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("could not read root certificate file \"/nonexistent/root.crt\""),
            "{e}"
        );
        let files = TlsFiles {
            cert: Some(Path::new("/nonexistent/postgresql.crt")),
            key: Some(Path::new("/nonexistent/postgresql.key")),
            ..TlsFiles::default()
        };
        let e = client_config(SslMode::Require, &files).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("could not load certificate file \"/nonexistent/postgresql.crt\""),
            "{e}"
        );
    }
}
