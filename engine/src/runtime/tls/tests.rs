//! Tests of the TLS configurations, the backend verifier and TLS streams over real sockets.

use super::*;

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

fn self_signed() -> (String, String) {
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(vec!["localhost".into()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    (cert.pem(), key.serialize_pem())
}

#[test]
fn builds_both_sides_from_a_certificate_and_key() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = self_signed();
    let files = TlsFiles {
        cert: Some(write(dir.path(), "c.pem", &cert)),
        key: Some(write(dir.path(), "k.pem", &key)),
        ca: Some(write(dir.path(), "ca.pem", &cert)),
        ..TlsFiles::default()
    };
    let s = TlsSettings::build(&files).unwrap();
    assert!(s.server.is_some() && s.client.is_some());
    assert_eq!(
        s.server.unwrap().alpn_protocols,
        vec![b"postgresql".to_vec()]
    );
}

#[test]
fn without_a_certificate_only_backends_get_tls() {
    let s = TlsSettings::build(&TlsFiles::default()).unwrap();
    assert!(s.server.is_none() && s.client.is_some());
}

#[test]
fn bad_files_are_typed_errors_naming_the_parameter() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, _) = self_signed();
    let missing = TlsFiles {
        cert: Some(dir.path().join("nope.pem")),
        key: Some(dir.path().join("nope.key")),
        ..TlsFiles::default()
    };
    let e = TlsSettings::build(&missing).err().unwrap();
    assert!(e.to_string().contains("ssl_cert"), "{e}");

    let no_key = TlsFiles {
        cert: Some(write(dir.path(), "c.pem", &cert)),
        key: Some(write(dir.path(), "k.pem", "not a key")),
        ..TlsFiles::default()
    };
    let e = TlsSettings::build(&no_key).err().unwrap();
    assert!(e.to_string().contains("ssl_key"), "{e}");

    let half = TlsFiles {
        cert: no_key.cert.clone(),
        ..TlsFiles::default()
    };
    assert!(matches!(
        TlsSettings::build(&half),
        Err(TlsError::CertWithoutKey)
    ));
}

#[test]
fn a_key_that_does_not_match_the_certificate_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, _) = self_signed();
    let (_, other_key) = self_signed();
    let files = TlsFiles {
        cert: Some(write(dir.path(), "c.pem", &cert)),
        key: Some(write(dir.path(), "k.pem", &other_key)),
        ..TlsFiles::default()
    };
    assert!(matches!(
        TlsSettings::build(&files),
        Err(TlsError::Rustls(_))
    ));
}

#[test]
fn ca_dir_files_are_read_and_junk_is_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, _) = self_signed();
    write(dir.path(), "a.pem", &cert);
    write(dir.path(), "README", "not a certificate");
    let files = TlsFiles {
        ca_dir: Some(dir.path().to_owned()),
        ..TlsFiles::default()
    };
    let roots = load_roots(&files).unwrap().unwrap();
    assert_eq!(roots.len(), 1);
}

/// A CA, a server certificate for localhost/127.0.0.1 and a client certificate for `alice`.
struct Pki {
    ca: rcgen::Certificate,
    server: (rcgen::Certificate, rcgen::KeyPair),
    client: (rcgen::Certificate, rcgen::KeyPair),
}

impl Pki {
    fn new() -> Pki {
        let ca_key = rcgen::KeyPair::generate().unwrap();
        let mut ca = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        ca.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        ca.distinguished_name
            .push(rcgen::DnType::CommonName, "test CA");
        let ca = ca.self_signed(&ca_key).unwrap();
        let leaf = |names: Vec<String>, cn: &str, eku| {
            let key = rcgen::KeyPair::generate().unwrap();
            let mut p = rcgen::CertificateParams::new(names).unwrap();
            p.distinguished_name.push(rcgen::DnType::CommonName, cn);
            p.extended_key_usages = vec![eku];
            (p.signed_by(&key, &ca, &ca_key).unwrap(), key)
        };
        let server = leaf(
            vec!["localhost".into(), "127.0.0.1".into()],
            "localhost",
            rcgen::ExtendedKeyUsagePurpose::ServerAuth,
        );
        let client = leaf(
            Vec::new(),
            "alice",
            rcgen::ExtendedKeyUsagePurpose::ClientAuth,
        );
        Pki { ca, server, client }
    }

    fn files(&self, dir: &Path) -> TlsFiles {
        TlsFiles {
            cert: Some(write(dir, "server.crt", &self.server.0.pem())),
            key: Some(write(dir, "server.key", &self.server.1.serialize_pem())),
            ca: Some(write(dir, "ca.crt", &self.ca.pem())),
            ..TlsFiles::default()
        }
    }

    fn client_config(&self) -> Arc<ClientConfig> {
        let mut roots = RootCertStore::empty();
        roots.add(self.ca.der().clone()).unwrap();
        let key = PrivateKeyDer::Pkcs8(self.client.1.serialize_der().into());
        let config =
            ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
                .with_safe_default_protocol_versions()
                .unwrap()
                .with_root_certificates(roots)
                .with_client_auth_cert(vec![self.client.0.der().clone()], key)
                .unwrap();
        Arc::new(config)
    }
}

fn verify(v: &Verifier, cert: &rcgen::Certificate, name: &str) -> bool {
    use rustls::client::danger::ServerCertVerifier;
    let name = ServerName::try_from(name.to_owned()).unwrap();
    v.verify_server_cert(
        cert.der(),
        &[],
        &name,
        &[],
        rustls::pki_types::UnixTime::now(),
    )
    .is_ok()
}

#[test]
fn backends_are_verified_against_the_ca_but_not_by_name() {
    let pki = Pki::new();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = RootCertStore::empty();
    roots.add(pki.ca.der().clone()).unwrap();
    let with_ca =
        Verifier::new(provider.clone(), Some(Arc::new(roots)), Vec::new(), false).unwrap();
    assert!(verify(&with_ca, &pki.server.0, "localhost"));
    assert!(
        verify(&with_ca, &pki.server.0, "db.elsewhere.example"),
        "verify-ca: the host name is not compared"
    );
    let stranger = Pki::new();
    assert!(
        !verify(&with_ca, &stranger.server.0, "localhost"),
        "a certificate from another CA is refused"
    );

    let without_ca = Verifier::new(provider, None, Vec::new(), false).unwrap();
    assert!(
        verify(&without_ca, &stranger.server.0, "anything"),
        "require: any certificate"
    );
}

/// A TLS server writes, never flushing (as the relay does), until the socket is full, then only
/// reads: the ciphertext rustls kept reaches the client only because reads push it out.
#[test]
fn unflushed_writes_reach_the_peer_and_client_certificates_are_seen() {
    use futures_lite::{AsyncReadExt, AsyncWriteExt};
    use std::cell::Cell;
    use std::rc::Rc;
    use std::time::Duration;

    use crate::runtime::Stream;

    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::new();
    let server_config = TlsSettings::build(&pki.files(dir.path()))
        .unwrap()
        .server
        .unwrap();
    let client_config = pki.client_config();
    let outcome = corepool_runtime::block_on(async move {
        let listener = super::super::Listener::bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let addr = listener.local_addr().unwrap();
        let sent = Rc::new(Cell::new(None::<usize>));
        let server_sent = sent.clone();
        let server_out = Rc::new(std::cell::RefCell::new(None));
        let server_slot = server_out.clone();
        corepool_runtime::spawn(async move {
            let mut s = listener.accept().await.unwrap();
            s.accept_tls(server_config).await.unwrap();
            assert!(s.is_tls() && !s.is_local() && s.peer_addr().is_some());
            let cn = s
                .peer_certificate()
                .and_then(common_name)
                .map(str::to_owned);
            let chunk = vec![7u8; 64 * 1024];
            let mut total = 0;
            // Stop at the first write that cannot go on: the socket is full and rustls holds
            // what the last successful write could not send.
            while let Some(n) = super::super::timeout(
                Duration::from_millis(200),
                AsyncWriteExt::write(&mut s, &chunk),
            )
            .await
            {
                total += n.unwrap();
            }
            server_sent.set(Some(total));
            let mut ack = [0u8; 2];
            s.read_exact(&mut ack).await.unwrap();
            *server_slot.borrow_mut() = Some((cn, ack));
        });
        let mut c = Stream::connect_tcp(addr, Duration::from_secs(5))
            .await
            .unwrap();
        c.connect_tls(client_config, ServerName::try_from("localhost").unwrap())
            .await
            .unwrap();
        let total = loop {
            match sent.get() {
                Some(n) => break n,
                None => super::super::sleep(Duration::from_millis(20)).await,
            }
        };
        let mut got = 0;
        let mut buf = vec![0u8; 64 * 1024];
        let read_all = async {
            while got < total {
                let n = c.read(&mut buf).await.unwrap();
                assert!(n > 0, "server closed early");
                got += n;
            }
        };
        let done = super::super::timeout(Duration::from_secs(10), read_all).await;
        assert!(done.is_some(), "stalled after {got} of {total} bytes");
        c.write_all(b"ok").await.unwrap();
        loop {
            if let Some(out) = server_out.borrow_mut().take() {
                break out;
            }
            super::super::sleep(Duration::from_millis(5)).await;
        }
    })
    .unwrap();
    assert_eq!(outcome, (Some("alice".to_owned()), *b"ok"));
}
