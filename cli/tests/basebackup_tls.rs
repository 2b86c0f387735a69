//! `corepool basebackup` against a server that refuses clear-text TCP (`hostnossl … reject`):
//! libpq's `sslmode`s from PGSSLMODE or the `-d` connection string, for the control, worker,
//! `BASE_BACKUP` and WAL-stream connections alike.

// Output of the programs, shown in assertion messages only.
#![allow(clippy::disallowed_methods)]

use corepool_testkit::{Cluster, PgInstall};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A CA and a server certificate for `localhost` only (so `verify-full` to 127.0.0.1 fails).
struct Certs {
    dir: tempfile::TempDir,
}

impl Certs {
    fn new() -> Certs {
        let dir = tempfile::tempdir().unwrap();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let ca_key = rcgen::KeyPair::generate().unwrap();
        let mut ca = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        ca.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        ca.distinguished_name
            .push(rcgen::DnType::CommonName, "corepool test CA");
        let ca = ca.self_signed(&ca_key).unwrap();
        let key = rcgen::KeyPair::generate().unwrap();
        let mut server = rcgen::CertificateParams::new(vec!["localhost".to_owned()]).unwrap();
        server
            .distinguished_name
            .push(rcgen::DnType::CommonName, "localhost");
        let server = server.signed_by(&key, &ca, &ca_key).unwrap();
        // A client certificate for `cert` authentication as postgres.
        let client_key = rcgen::KeyPair::generate().unwrap();
        let mut client = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        client
            .distinguished_name
            .push(rcgen::DnType::CommonName, "postgres");
        client.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ClientAuth];
        let client = client.signed_by(&client_key, &ca, &ca_key).unwrap();
        let certs = Certs { dir };
        certs.write("ca.crt", &ca.pem(), 0o644);
        certs.write("server.crt", &server.pem(), 0o644);
        certs.write("server.key", &key.serialize_pem(), 0o600);
        certs.write("client.crt", &client.pem(), 0o644);
        certs.write("client.key", &client_key.serialize_pem(), 0o600);
        certs
    }

    /// Writes `name`, owned by the PostgreSQL user when running as root.
    fn write(&self, name: &str, text: &str, mode: u32) {
        let path = self.path(name);
        std::fs::write(&path, text).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
        if let Some(user) = PgInstall::get().unwrap().run_as() {
            std::os::unix::fs::chown(&path, Some(user.uid()), Some(user.gid())).unwrap();
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
}

fn backup(c: &Cluster, dir: &Path, host: &str, extra: &[&str], sslmode: Option<&str>) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_corepool"));
    cmd.arg("basebackup")
        .arg("-D")
        .arg(dir)
        .args(["-h", host, "-p", &c.primary().port().to_string()])
        .args(["-U", "postgres", "-c", "fast", "--no-sync"])
        .args(extra)
        .env_remove("PGSSLMODE")
        .env_remove("PGSSLROOTCERT")
        .env_remove("PGSSLCERT")
        .env_remove("PGSSLKEY")
        // No ~/.postgresql defaults from the machine running the tests.
        .env("HOME", c.root_dir());
    if let Some(mode) = sslmode {
        cmd.env("PGSSLMODE", mode);
    }
    cmd.output().unwrap()
}

fn verified(c: &Cluster, dir: &Path) {
    c.give(dir).unwrap();
    let v = c.command("pg_verifybackup").arg(dir).output().unwrap();
    assert!(v.status.success(), "{}", String::from_utf8_lossy(&v.stderr));
}

#[test]
fn servers_that_refuse_clear_text_are_backed_up_over_tls() {
    let certs = Certs::new();
    let c = Cluster::builder()
        .ssl(&certs.path("server.crt"), &certs.path("server.key"))
        .hba_line("hostnossl all all 127.0.0.1/32 reject")
        .hba_line("hostnossl replication all 127.0.0.1/32 reject")
        .start()
        .unwrap();
    c.primary()
        .psql(
            "postgres",
            "CREATE TABLE t AS SELECT g FROM generate_series(1, 1000) g",
        )
        .unwrap();

    // libpq's default, prefer: TLS when the server offers it. -j 2 (SQL workers, WAL stream)
    // and -j 1 (BASE_BACKUP) both get through.
    for jobs in ["2", "1"] {
        let dir = c.root_dir().join(format!("prefer_j{jobs}"));
        let out = backup(&c, &dir, "127.0.0.1", &["-j", jobs], None);
        assert!(
            out.status.success(),
            "-j {jobs}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        verified(&c, &dir);
    }

    // In clear the server says no, and that is the error.
    let out = backup(
        &c,
        &c.root_dir().join("clear"),
        "127.0.0.1",
        &[],
        Some("disable"),
    );
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("no encryption"), "{stderr}");

    // verify-full checks the name: the certificate is for localhost, not 127.0.0.1 ...
    let ca = certs.path("ca.crt").display().to_string();
    let full = format!("sslmode=verify-full sslrootcert={ca}");
    let out = backup(
        &c,
        &c.root_dir().join("wrong_name"),
        "127.0.0.1",
        &["-d", &full],
        None,
    );
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("certificate not valid for name \"127.0.0.1\""),
        "{stderr}"
    );
    // ... which verify-ca does not, and localhost passes verify-full; -R keeps the mode.
    for (name, host, conninfo) in [
        (
            "verify_ca",
            "127.0.0.1",
            format!("sslmode=verify-ca sslrootcert={ca}"),
        ),
        ("verify_full", "localhost", full.clone()),
    ] {
        let dir = c.root_dir().join(name);
        let out = backup(&c, &dir, host, &["-d", &conninfo, "-R"], None);
        assert!(
            out.status.success(),
            "{name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        verified(&c, &dir);
        let auto = std::fs::read_to_string(dir.join("postgresql.auto.conf")).unwrap();
        assert!(auto.contains("sslmode="), "{auto}");
    }

    // require against a server without SSL: refused before anything is sent.
    let plain = Cluster::builder().start().unwrap();
    let out = backup(
        &plain,
        &plain.root_dir().join("req"),
        "127.0.0.1",
        &[],
        Some("require"),
    );
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("server does not support SSL, but SSL was required"),
        "{stderr}"
    );
}

#[test]
fn cert_authentication_uses_the_client_certificate() {
    // Every TCP connection must present a certificate whose CN is the user (`cert`).
    let certs = Certs::new();
    let c = Cluster::builder()
        .ssl(&certs.path("server.crt"), &certs.path("server.key"))
        .setting("ssl_ca_file", certs.path("ca.crt").display().to_string())
        .hba_line("hostssl all all 127.0.0.1/32 cert")
        .hba_line("hostssl replication all 127.0.0.1/32 cert")
        .hba_line("hostnossl all all 127.0.0.1/32 reject")
        .hba_line("hostnossl replication all 127.0.0.1/32 reject")
        .start()
        .unwrap();
    let without = backup(&c, &c.root_dir().join("no_cert"), "127.0.0.1", &[], None);
    assert_eq!(without.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&without.stderr);
    assert!(
        stderr.contains("connection requires a valid client certificate"),
        "{stderr}"
    );
    let conninfo = format!(
        "sslmode=require sslcert={} sslkey={}",
        certs.path("client.crt").display(),
        certs.path("client.key").display()
    );
    for jobs in ["2", "1"] {
        let dir = c.root_dir().join(format!("cert_j{jobs}"));
        let out = backup(&c, &dir, "127.0.0.1", &["-j", jobs, "-d", &conninfo], None);
        assert!(
            out.status.success(),
            "-j {jobs}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        verified(&c, &dir);
    }
}
