//! `corepool basebackup` as a program: exit statuses, progress, and what a killed or interrupted
//! run leaves behind (real server, real pg_verifybackup).

// Output of the programs, shown in assertion messages only.
#![allow(clippy::disallowed_methods)]

use corepool_testkit::Cluster;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

fn corepool(cluster: &Cluster, dir: &Path, extra: &[&str]) -> Command {
    let p = cluster.primary();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_corepool"));
    cmd.arg("basebackup")
        .arg("-D")
        .arg(dir)
        .args([
            "-h",
            p.host(),
            "-p",
            &p.port().to_string(),
            "-U",
            "postgres",
            "-c",
            "fast",
            "--no-sync",
        ])
        .args(extra)
        .env_remove("PGPASSWORD");
    cmd
}

fn cluster() -> Cluster {
    let c = Cluster::builder().data_checksums(true).start().unwrap();
    let out = c.pgbench(&["-i", "-s", "3", "-q"]).output().unwrap();
    assert!(out.status.success());
    c
}

fn slot_count(c: &Cluster) -> String {
    c.primary()
        .psql("postgres", "SELECT count(*) FROM pg_replication_slots")
        .unwrap()
}

#[test]
fn cli_backup_succeeds_and_verifies() {
    let c = cluster();
    let dir = c.root_dir().join("cli_j2");
    let out = corepool(&c, &dir, &["-j", "2", "-P", "-v"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("write-ahead log end point"), "{stderr}");
    c.give(&dir).unwrap();
    let v = c.command("pg_verifybackup").arg(&dir).output().unwrap();
    assert!(v.status.success(), "{}", String::from_utf8_lossy(&v.stderr));
    // A non-empty target is refused with status 1, like pg_basebackup.
    let out = corepool(&c, &dir, &[]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("exists but is not empty"));
    let out = corepool(&c, &c.root_dir().join("x"), &["-Fp", "-z"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn cli_killed_or_interrupted_backup_is_not_a_backup() {
    let c = cluster();
    for (name, signal) in [("killed", "KILL"), ("interrupted", "INT")] {
        let dir = c.root_dir().join(name);
        let child = corepool(&c, &dir, &["-j", "2", "--max-rate", "2M"])
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        c.primary().wait_backup_copying().unwrap();
        let st = Command::new("kill")
            .args(["-s", signal, &child.id().to_string()])
            .status()
            .unwrap();
        assert!(st.success());
        let out = child.wait_with_output().unwrap();
        assert!(!out.status.success(), "{name}");
        if signal == "INT" {
            assert_eq!(out.status.code(), Some(1));
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert!(stderr.contains("interrupted"), "{stderr}");
        }
        assert!(dir.join("backup_incomplete").exists(), "{name}");
        assert!(!dir.join("backup_manifest").exists(), "{name}");
        assert!(!dir.join("global/pg_control").exists(), "{name}");
        let mut slots = String::new();
        for _ in 0..100 {
            slots = slot_count(&c);
            if slots == "0" {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        assert_eq!(slots, "0", "{name}: slot left behind");
    }
}

#[test]
fn the_pgpool_guides_standby_command_runs_as_written() {
    // "pg_basebackup --format=p --label=standby --host=… --username=edbrepuser --password
    //  --wal-method=stream -R", answering the password prompt (here on standard input).
    let c = Cluster::builder()
        .host_auth(corepool_testkit::AuthMethod::ScramSha256)
        .superuser_password("super pw")
        .start()
        .unwrap();
    c.primary()
        .psql(
            "postgres",
            "CREATE ROLE edbrepuser WITH REPLICATION LOGIN PASSWORD 'password'",
        )
        .unwrap();
    let dir = c.root_dir().join("standby");
    let run = |password: &str| {
        let mut child = Command::new(env!("CARGO_BIN_EXE_corepool"))
            .arg("basebackup")
            .arg("-D")
            .arg(&dir)
            .args([
                "--format=p",
                "--label=standby",
                "--host=127.0.0.1",
                &format!("--port={}", c.primary().port()),
                "--username=edbrepuser",
                "--password",
                "--wal-method=stream",
                "-R",
            ])
            .env_remove("PGPASSWORD")
            .env("HOME", c.root_dir())
            .stdin(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        use std::io::Write;
        let mut stdin = child.stdin.take().unwrap();
        writeln!(stdin, "{password}").unwrap();
        drop(stdin);
        child.wait_with_output().unwrap()
    };
    let out = run("wrong");
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("password authentication failed for user \"edbrepuser\""),
        "{stderr}"
    );
    // Nothing was copied: the directory is gone, as with pg_basebackup, and a retry just works.
    assert!(!dir.exists());
    let out = run("password");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(dir.join("standby.signal").exists());
    let auto = std::fs::read_to_string(dir.join("postgresql.auto.conf")).unwrap();
    assert!(auto.contains("user=edbrepuser"), "{auto}");
    let label = std::fs::read_to_string(dir.join("backup_label")).unwrap();
    assert!(label.contains("LABEL: standby"), "{label}");
    c.give(&dir).unwrap();
    let v = c.command("pg_verifybackup").arg(&dir).output().unwrap();
    assert!(v.status.success(), "{}", String::from_utf8_lossy(&v.stderr));
}
