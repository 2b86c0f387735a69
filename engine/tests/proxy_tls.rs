//! TLS through corepool (`ssl = on`): psql and tokio-postgres clients over TLS, the backend leg
//! negotiated with PostgreSQL, pool_hba's hostssl/hostnossl and `cert`, and broken handshakes.
//!
//! Certificates are generated per test with rcgen into a directory the PostgreSQL user can read
//! (psql and the servers run as that user when the tests run as root).

#[allow(clippy::field_reassign_with_default)]
mod common;

use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use common::{error_code, first_value, rt, write_file, Proxy, RawClient};
use corepool_engine::config::Config;
use corepool_testkit::{Cluster, PgInstall};

/// A CA, a server certificate for localhost and 127.0.0.1, and client certificates, as files.
struct Certs {
    dir: tempfile::TempDir,
    ca: rcgen::Certificate,
    ca_key: rcgen::KeyPair,
}

impl Certs {
    fn new() -> Certs {
        let dir = tempfile::tempdir().expect("cert dir");
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755))
            .expect("chmod");
        let ca_key = rcgen::KeyPair::generate().expect("key");
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("params");
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "corepool test CA");
        let ca = params.self_signed(&ca_key).expect("CA");
        let certs = Certs { dir, ca, ca_key };
        certs.give("ca.crt", &certs.ca.pem(), 0o644);
        certs.issue(
            "server",
            vec!["localhost".into(), "127.0.0.1".into()],
            "localhost",
            rcgen::ExtendedKeyUsagePurpose::ServerAuth,
        );
        certs
    }

    /// Writes `name` readable by the PostgreSQL user (owned by it when running as root).
    fn give(&self, name: &str, text: &str, mode: u32) -> PathBuf {
        let path = self.dir.path().join(name);
        std::fs::write(&path, text).expect("write cert file");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).expect("chmod");
        if let Some(user) = PgInstall::get().expect("PostgreSQL").run_as() {
            std::os::unix::fs::chown(&path, Some(user.uid()), Some(user.gid())).expect("chown");
        }
        path
    }

    /// `<name>.crt` and `<name>.key`, signed by the CA.
    fn issue(&self, name: &str, sans: Vec<String>, cn: &str, eku: rcgen::ExtendedKeyUsagePurpose) {
        let key = rcgen::KeyPair::generate().expect("key");
        let mut params = rcgen::CertificateParams::new(sans).expect("params");
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, cn);
        params.extended_key_usages = vec![eku];
        let cert = params
            .signed_by(&key, &self.ca, &self.ca_key)
            .expect("sign");
        self.give(&format!("{name}.crt"), &cert.pem(), 0o644);
        self.give(&format!("{name}.key"), &key.serialize_pem(), 0o600);
    }

    /// A client certificate whose CN is `cn`; returns libpq's sslcert/sslkey options.
    fn client(&self, cn: &str) -> String {
        self.issue(
            &format!("client-{cn}"),
            Vec::new(),
            cn,
            rcgen::ExtendedKeyUsagePurpose::ClientAuth,
        );
        format!(
            "sslcert={} sslkey={}",
            self.path(&format!("client-{cn}.crt")).display(),
            self.path(&format!("client-{cn}.key")).display()
        )
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
}

/// A cluster; with `ssl` its servers accept SSL with the test certificate.
fn cluster(certs: &Certs, ssl: bool) -> Cluster {
    cluster_from(Cluster::builder(), certs, ssl)
}

/// `b` started, with the test certificate when `ssl`.
fn cluster_from(mut b: corepool_testkit::ClusterBuilder, certs: &Certs, ssl: bool) -> Cluster {
    if ssl {
        b = b.ssl(&certs.path("server.crt"), &certs.path("server.key"));
    }
    b.start().expect("cluster starts")
}

/// corepool with `ssl = on` and the test server certificate (absolute paths).
fn ssl_on(certs: &Certs) -> impl FnOnce(&mut Config, &Path) + '_ {
    move |c, _| {
        c.ssl = true;
        c.ssl_cert = certs.path("server.crt").display().to_string();
        c.ssl_key = certs.path("server.key").display().to_string();
    }
}

/// `ssl = on` with pool_hba.conf `hba`, and every ssl file named relative to pgpool.conf's
/// directory, as a real configuration would.
fn ssl_with_hba<'a>(
    certs: &'a Certs,
    hba: &'static str,
    with_ca: bool,
) -> impl FnOnce(&mut Config, &Path) + 'a {
    move |c, dir| {
        for f in ["server.crt", "server.key", "ca.crt"] {
            std::fs::copy(certs.path(f), dir.join(f)).expect("copy cert");
        }
        write_file(dir, "pool_hba.conf", hba);
        c.source_file = Some(dir.join("pgpool.conf"));
        c.enable_pool_hba = true;
        c.ssl = true;
        c.ssl_cert = "server.crt".into();
        c.ssl_key = "server.key".into();
        if with_ca {
            c.ssl_ca_cert = "ca.crt".into();
        }
    }
}

/// psql through corepool with extra libpq options; trimmed stdout, or stderr as the error.
fn psql(proxy: &Proxy, options: &str, user: &str, db: &str, sql: &str) -> Result<String, String> {
    let conninfo = format!("{} {options}", proxy.conninfo(db, user));
    let out = proxy.cluster.psql_command(&conninfo, sql).output();
    corepool_testkit::psql_result(&out.expect("psql runs"))
}

const BACKEND_SSL: &str = "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()";

#[test]
fn psql_with_sslmode_require_is_encrypted_on_both_legs() {
    let certs = Certs::new();
    let proxy = Proxy::start_on(cluster(&certs, true), ssl_on(&certs));
    let info = psql(
        &proxy,
        "sslmode=require",
        "postgres",
        "postgres",
        "\\conninfo",
    )
    .unwrap();
    assert!(
        info.to_lowercase().contains("ssl connection"),
        "client leg: {info}"
    );
    assert_eq!(
        psql(
            &proxy,
            "sslmode=require",
            "postgres",
            "postgres",
            BACKEND_SSL
        )
        .unwrap(),
        "t",
        "backend leg"
    );
    // A large result crosses both TLS legs (partial writes, many records).
    let rows = psql(
        &proxy,
        "sslmode=require",
        "postgres",
        "postgres",
        "SELECT g, repeat('x', 200) FROM generate_series(1, 40000) g",
    )
    .unwrap();
    assert_eq!(rows.lines().count(), 40_000);
    assert!(rows.ends_with(&format!("40000|{}", "x".repeat(200))));
}

#[test]
fn pooled_tls_backend_connections_are_reset_and_reused() {
    let certs = Certs::new();
    let cluster = cluster(&certs, true);
    cluster
        .primary()
        .psql("postgres", "CREATE DATABASE app")
        .unwrap();
    let proxy = Proxy::start_on(cluster, |c, d| {
        ssl_on(&certs)(c, d);
        c.corepool_cores = 1;
    });
    let sql = "SET work_mem = '7MB'; SELECT pg_backend_pid(), ssl, current_setting('work_mem') FROM pg_stat_ssl WHERE pid = pg_backend_pid()";
    let first = psql(&proxy, "sslmode=require", "postgres", "app", sql).unwrap();
    proxy.wait_pooled(1);
    let second = psql(&proxy, "sslmode=disable", "postgres", "app", sql).unwrap();
    let pid = |s: &str| s.split('|').next().unwrap_or_default().to_owned();
    assert_eq!(pid(&first), pid(&second), "{first} / {second}");
    assert!(first.ends_with("|t|7MB") && second.ends_with("|t|7MB"));
    proxy.wait_pooled(1);
    let reset = psql(
        &proxy,
        "sslmode=disable",
        "postgres",
        "app",
        "SELECT pg_backend_pid(), current_setting('work_mem')",
    )
    .unwrap();
    assert_eq!(
        reset,
        format!("{}|4MB", pid(&first)),
        "the reset ran over TLS on the same connection"
    );
}

#[test]
fn a_backend_without_ssl_is_used_in_clear() {
    let certs = Certs::new();
    let proxy = Proxy::start_on(cluster(&certs, false), ssl_on(&certs));
    assert_eq!(
        psql(
            &proxy,
            "sslmode=require",
            "postgres",
            "postgres",
            BACKEND_SSL
        )
        .unwrap(),
        "f"
    );
}

#[test]
fn tokio_postgres_over_rustls_verifies_corepool_and_queries() {
    let certs = Certs::new();
    let proxy = Proxy::start_on(cluster(&certs, true), ssl_on(&certs));
    let mut roots = rustls::RootCertStore::empty();
    roots.add(certs.ca.der().clone()).unwrap();
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let tls = tokio_postgres_rustls::MakeRustlsConnect::new(config);
    let conninfo = format!("{} sslmode=require", proxy.conninfo("postgres", "postgres"));
    rt().block_on(async {
        let (client, conn) = tokio_postgres::connect(&conninfo, tls)
            .await
            .expect("TLS connect through corepool");
        tokio::spawn(async move {
            let _ = conn.await;
        });
        let row = client
            .query_one(
                "SELECT $1::text || 'pool', ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
                &[&"core"],
            )
            .await
            .unwrap();
        assert_eq!(row.get::<_, String>(0), "corepool");
        assert!(row.get::<_, bool>(1));
        let n: i64 = client
            .query_one("SELECT count(*) FROM generate_series(1, 100000)", &[])
            .await
            .unwrap()
            .get(0);
        assert_eq!(n, 100_000);
    });
}

#[test]
fn hostssl_admits_tls_clients_only() {
    let certs = Certs::new();
    let hba = "hostssl all all 127.0.0.1/32 trust\n";
    let proxy = Proxy::start_on(cluster(&certs, false), ssl_with_hba(&certs, hba, false));
    assert_eq!(
        psql(
            &proxy,
            "sslmode=require",
            "postgres",
            "postgres",
            "SELECT 1"
        )
        .unwrap(),
        "1"
    );
    let (_, msgs) = RawClient::connect(proxy.port, "postgres", "postgres", &[]);
    assert_eq!(error_code(&msgs).as_deref(), Some("28000"), "{msgs:?}");
    let err = psql(
        &proxy,
        "sslmode=disable",
        "postgres",
        "postgres",
        "SELECT 1",
    )
    .unwrap_err();
    assert!(err.contains("pool_hba.conf rejects"), "{err}");
}

#[test]
fn hostnossl_admits_plain_clients_only() {
    let certs = Certs::new();
    let hba = "hostnossl all all 127.0.0.1/32 trust\n";
    let proxy = Proxy::start_on(cluster(&certs, false), ssl_with_hba(&certs, hba, false));
    let (mut c, msgs) = RawClient::connect(proxy.port, "postgres", "postgres", &[]);
    assert_eq!(error_code(&msgs), None, "{msgs:?}");
    assert_eq!(first_value(&c.query("SELECT 2")).as_deref(), Some("2"));
    let err = psql(
        &proxy,
        "sslmode=require",
        "postgres",
        "postgres",
        "SELECT 1",
    )
    .unwrap_err();
    assert!(err.contains("pool_hba.conf rejects"), "{err}");
    let conninfo = format!("{} sslmode=require", proxy.conninfo("postgres", "postgres"));
    let tls = tokio_postgres_rustls::MakeRustlsConnect::new(
        rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates({
            let mut roots = rustls::RootCertStore::empty();
            roots.add(certs.ca.der().clone()).unwrap();
            roots
        })
        .with_no_client_auth(),
    );
    let err = rt()
        .block_on(tokio_postgres::connect(&conninfo, tls))
        .err()
        .expect("TLS client refused");
    assert_eq!(
        err.code(),
        Some(&tokio_postgres::error::SqlState::INVALID_AUTHORIZATION_SPECIFICATION),
        "{err}"
    );
}

#[test]
fn cert_method_needs_a_certificate_whose_cn_is_the_user() {
    let certs = Certs::new();
    let hba = "hostssl all all 127.0.0.1/32 cert\n";
    let proxy = Proxy::start_on(cluster(&certs, false), ssl_with_hba(&certs, hba, true));
    let good = certs.client("postgres");
    let other = certs.client("mallory");
    assert_eq!(
        psql(
            &proxy,
            &format!("sslmode=require {good}"),
            "postgres",
            "postgres",
            "SELECT current_user"
        )
        .unwrap(),
        "postgres"
    );
    let err = psql(
        &proxy,
        &format!("sslmode=require {other}"),
        "postgres",
        "postgres",
        "SELECT 1",
    )
    .unwrap_err();
    assert!(err.contains("certificate authentication failed"), "{err}");
    assert!(err.contains("does not match"), "{err}");
    let err = psql(
        &proxy,
        "sslmode=require",
        "postgres",
        "postgres",
        "SELECT 1",
    )
    .unwrap_err();
    assert!(err.contains("requires a valid client certificate"), "{err}");

    // A certificate from another CA does not get through the handshake.
    let stranger = Certs::new();
    let forged = stranger.client("postgres");
    let err = psql(
        &proxy,
        &format!("sslmode=require {forged}"),
        "postgres",
        "postgres",
        "SELECT 1",
    )
    .unwrap_err();
    assert!(err.contains("SSL error"), "{err}");
}

#[test]
fn sslmode_require_against_ssl_off_fails_cleanly() {
    let proxy = Proxy::start(0, |_, _| {});
    let err = psql(
        &proxy,
        "sslmode=require",
        "postgres",
        "postgres",
        "SELECT 1",
    )
    .unwrap_err();
    assert!(err.contains("server does not support SSL"), "{err}");
    assert_eq!(
        psql(&proxy, "sslmode=prefer", "postgres", "postgres", "SELECT 1").unwrap(),
        "1"
    );
}

const SSL_REQUEST: [u8; 8] = [0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f];
const GSSENC_REQUEST: [u8; 8] = [0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x30];

/// Reads until the server closes the connection; true if it did within the timeout.
fn closed_by_server(s: &mut std::net::TcpStream) -> bool {
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut buf = [0u8; 4096];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => continue,
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return true,
            Err(_) => return false,
        }
    }
}

#[test]
fn a_garbled_tls_handshake_closes_only_that_connection() {
    let certs = Certs::new();
    let proxy = Proxy::start_on(cluster(&certs, false), ssl_on(&certs));
    let (mut bystander, _) = RawClient::connect(proxy.port, "postgres", "postgres", &[]);

    let mut s = std::net::TcpStream::connect(("127.0.0.1", proxy.port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(&GSSENC_REQUEST).unwrap();
    let mut answer = [0u8; 1];
    s.read_exact(&mut answer).unwrap();
    assert_eq!(&answer, b"N", "GSSENCRequest is still refused");
    s.write_all(&SSL_REQUEST).unwrap();
    s.read_exact(&mut answer).unwrap();
    assert_eq!(&answer, b"S");
    // A TLS record header promising a ClientHello, then garbage.
    s.write_all(&[0x16, 0x03, 0x01, 0x00, 0x40]).unwrap();
    s.write_all(&[0xee; 64]).unwrap();
    assert!(closed_by_server(&mut s), "the connection is closed");

    // Plain bytes where the handshake should be.
    let mut s = std::net::TcpStream::connect(("127.0.0.1", proxy.port)).unwrap();
    s.write_all(&SSL_REQUEST).unwrap();
    s.read_exact(&mut answer).unwrap();
    s.write_all(b"GET / HTTP/1.1\r\n\r\n").unwrap();
    assert!(closed_by_server(&mut s));

    // A client that goes silent after 'S' is dropped at authentication_timeout.
    let mut silent = std::net::TcpStream::connect(("127.0.0.1", proxy.port)).unwrap();
    silent.write_all(&SSL_REQUEST).unwrap();
    silent.read_exact(&mut answer).unwrap();

    assert_eq!(
        first_value(&bystander.query("SELECT 'still here'")).as_deref(),
        Some("still here")
    );
    assert_eq!(
        psql(
            &proxy,
            "sslmode=require",
            "postgres",
            "postgres",
            "SELECT 'new'"
        )
        .unwrap(),
        "new"
    );
    assert!(
        closed_by_server(&mut silent),
        "authentication_timeout ends it"
    );
}

#[test]
fn unencrypted_bytes_after_an_ssl_request_are_refused() {
    let certs = Certs::new();
    let proxy = Proxy::start_on(cluster(&certs, false), ssl_on(&certs));
    let mut c = RawClient::open(proxy.port);
    let mut packet = SSL_REQUEST.to_vec();
    let mut startup = bytes::BytesMut::new();
    corepool_protocol::message::write::frontend::startup_message(
        [("user", "postgres"), ("database", "postgres")],
        &mut startup,
    )
    .unwrap();
    packet.extend_from_slice(&startup);
    c.send(&packet);
    let msg = c.read_msg().expect("an error");
    assert_eq!(msg.0, b'E');
    assert_eq!(error_code(&[msg]).as_deref(), Some("08P01"));
}

#[test]
fn health_and_replication_checks_use_ssl_when_the_backends_require_it() {
    // Backends that refuse TCP clients in clear (hostnossl … reject), as Pgpool-II's checks
    // meet them with `ssl = on`: the checks must ask for SSL, or every node is detached.
    let certs = Certs::new();
    let builder = Cluster::builder()
        .standbys(1)
        .hba_line("hostnossl all all 127.0.0.1/32 reject");
    let cluster = cluster_from(builder, &certs, true);
    let names: Vec<String> = cluster
        .nodes()
        .iter()
        .map(|n| n.name().to_owned())
        .collect();
    let proxy = Proxy::start_on(cluster, |c, d| {
        ssl_on(&certs)(c, d);
        c.health_check.period = Duration::from_secs(1);
        c.health_check.user = "postgres".into();
        c.sr_check_period = Duration::from_secs(1);
        c.sr_check_user = "postgres".into();
        for (b, name) in c.backends.iter_mut().zip(&names) {
            b.application_name = name.clone();
        }
    });
    let state = proxy.state();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let checks: Vec<_> = state.health.nodes().iter().map(|n| n.snapshot()).collect();
        let streaming = state.health.nodes()[1].replication_state()
            == corepool_engine::cluster::health_stats::ReplicationState::Streaming;
        assert!(
            checks.iter().all(|c| c.fail_count == 0),
            "a health check failed: {checks:?}"
        );
        if streaming && checks.iter().all(|c| c.success_count >= 2) {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "checks did not succeed: {checks:?}, streaming {streaming}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(state.nodes().iter().all(|n| n.status().is_valid()));
    // Clients in clear are still served: the backend leg is TLS.
    assert_eq!(
        psql(
            &proxy,
            "sslmode=disable",
            "postgres",
            "postgres",
            BACKEND_SSL
        )
        .unwrap(),
        "t"
    );
}
