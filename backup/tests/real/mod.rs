//! Helpers for the backup tests against real servers: a cluster with data checksums and a
//! tablespace, pgbench load, running a backup through the library, verifying and starting it.

// Output of PostgreSQL tools, shown in assertion messages only.
#![allow(clippy::disallowed_methods)]
#![allow(dead_code)]

use corepool_backup::client::{ConnectOptions, Host};
use corepool_backup::{BackupOptions, Checkpoint, Outcome};
use corepool_testkit::Cluster;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

/// A cluster with data checksums, a tablespace `ts1` holding table `ts_table`, pgbench tables
/// (scale 2) and a reference table `ref_table` written before any backup.
pub struct Fixture {
    pub cluster: Cluster,
    pub ts_dir: PathBuf,
}

pub fn fixture(settings: &[(&str, &str)]) -> Fixture {
    let mut b = Cluster::builder()
        .data_checksums(true)
        .setting("max_connections", "40");
    for (k, v) in settings {
        b = b.setting(*k, *v);
    }
    let cluster = b.start().expect("start cluster");
    let ts_dir = cluster.create_dir("ts1").unwrap();
    let p = cluster.primary();
    p.psql(
        "postgres",
        &format!("CREATE TABLESPACE ts1 LOCATION '{}'", ts_dir.display()),
    )
    .unwrap();
    p.psql(
        "postgres",
        "CREATE TABLE ts_table TABLESPACE ts1 AS SELECT g AS id, md5(g::text) AS v FROM generate_series(1, 20000) g;
         CREATE TABLE ref_table AS SELECT g AS id, repeat(md5(g::text), 4) AS v FROM generate_series(1, 50000) g;
         CREATE UNLOGGED TABLE unlogged_t AS SELECT 1 AS x;
         CHECKPOINT;",
    )
    .unwrap();
    let out = pgbench(&cluster, &["-i", "-s", "2", "-q"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    Fixture { cluster, ts_dir }
}

pub fn pgbench(cluster: &Cluster, args: &[&str]) -> Output {
    cluster.pgbench(args).output().expect("run pgbench")
}

/// pgbench writing in the background for `secs` seconds.
pub fn pgbench_load(cluster: &Cluster, secs: u32) -> Child {
    cluster
        .pgbench(&["-c", "2", "-T", &secs.to_string(), "-n"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn pgbench")
}

/// Options for a backup of the fixture into `<root>/<name>` with `-c fast` and `ts1` mapped.
pub fn options(f: &Fixture, name: &str, jobs: usize) -> BackupOptions {
    let p = f.cluster.primary();
    let mut conn = ConnectOptions::new(Host::parse(p.host()), p.port(), "postgres");
    conn.database = Some("postgres".into());
    let target = f.cluster.root_dir().join(name);
    let mut o = BackupOptions::new(conn, &target);
    o.jobs = jobs;
    o.checkpoint = Checkpoint::Fast;
    o.sync = false;
    o.chunk_size = 1 << 20;
    let new_ts = f.cluster.root_dir().join(format!("{name}_ts1"));
    o.tablespace_mapping
        .push_arg(&format!("{}={}", f.ts_dir.display(), new_ts.display()))
        .unwrap();
    o.conninfo_values = vec![
        ("user".into(), "postgres".into()),
        ("host".into(), p.host().into()),
        ("port".into(), p.port().to_string()),
    ];
    o
}

pub fn backup(o: BackupOptions) -> Result<Outcome, corepool_backup::Error> {
    corepool_backup::run(o, Arc::new(AtomicBool::new(false)))
}

/// Gives `path` (recursively, symlinks not followed) to the servers' user.
pub fn give(cluster: &Cluster, path: &Path) {
    let ts = PathBuf::from(format!("{}_ts1", path.display()));
    if ts.exists() {
        cluster.give(&ts).unwrap();
    }
    cluster.give(path).unwrap();
}

/// Runs pg_verifybackup on a plain backup; returns (success, output).
pub fn verify(cluster: &Cluster, dir: &Path) -> (bool, String) {
    give(cluster, dir);
    let out = cluster
        .command("pg_verifybackup")
        .arg(dir)
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.success(), text)
}

/// A server started from a backup directory on its own port and socket directory.
pub struct Restored<'a> {
    pub cluster: &'a Cluster,
    pub dir: PathBuf,
    pub port: u16,
    pub sock: PathBuf,
}

impl Restored<'_> {
    pub fn psql(&self, sql: &str) -> String {
        let out = self
            .cluster
            .command("psql")
            .args(["-X", "-A", "-t", "-q", "-v", "ON_ERROR_STOP=1"])
            .args([
                "-h",
                &self.sock.display().to_string(),
                "-p",
                &self.port.to_string(),
            ])
            .args(["-U", "postgres", "-d", "postgres", "-c", sql])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "psql: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }

    /// Runs pg_amcheck (heap, all indexes) on the restored server and asserts it found
    /// nothing. An installation without contrib's amcheck is allowed only when it is not the
    /// default one (`COREPOOL_PG_BINDIR` names it: the cross-version run of scripts/test.sh).
    pub fn assert_amcheck_clean(&self) {
        let available =
            self.psql("SELECT count(*) FROM pg_available_extensions WHERE name = 'amcheck'");
        if available == "0" {
            let other = std::env::var_os(corepool_testkit::install::BINDIR_ENV);
            assert!(
                other.is_some(),
                "amcheck is missing from the default installation"
            );
            eprintln!("pg_amcheck skipped: {other:?} has no amcheck extension");
            return;
        }
        let am = self
            .cluster
            .command("pg_amcheck")
            .args([
                "-h",
                &self.sock.display().to_string(),
                "-p",
                &self.port.to_string(),
            ])
            .args([
                "-U",
                "postgres",
                "--install-missing",
                "--heapallindexed",
                "postgres",
            ])
            .output()
            .unwrap();
        assert!(
            am.status.success() && am.stdout.is_empty(),
            "{}{}",
            String::from_utf8_lossy(&am.stdout),
            String::from_utf8_lossy(&am.stderr)
        );
    }
}

impl Drop for Restored<'_> {
    fn drop(&mut self) {
        let _ = self
            .cluster
            .command("pg_ctl")
            .args([
                "-D",
                &self.dir.display().to_string(),
                "-m",
                "immediate",
                "-w",
                "stop",
            ])
            .output();
    }
}

/// Starts a server on the backup (fsync off, own port/socket) and waits until it accepts
/// connections (after recovery reaches consistency).
pub fn start_server<'a>(cluster: &'a Cluster, dir: &Path, name: &str) -> Restored<'a> {
    give(cluster, dir);
    let sock = cluster.create_dir(&format!("{name}_sock")).unwrap();
    let port = corepool_testkit::free_port();
    let log = cluster.root_dir().join(format!("{name}.log"));
    let opts = format!(
        "-p {port} -k {} -c fsync=off -c archive_mode=off",
        sock.display()
    );
    let out = cluster
        .command("pg_ctl")
        .args([
            "-D",
            &dir.display().to_string(),
            "-l",
            &log.display().to_string(),
        ])
        .args(["-w", "-t", "60", "-o", &opts, "start"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "pg_ctl start: {}\n{}",
        String::from_utf8_lossy(&out.stderr),
        std::fs::read_to_string(&log).unwrap_or_default()
    );
    Restored {
        cluster,
        dir: dir.to_owned(),
        port,
        sock,
    }
}

/// `SELECT count(*), sum(hashtext(v))` of the reference table.
pub const REF_QUERY: &str = "SELECT count(*), sum(hashtext(v)) FROM ref_table";
pub const TS_QUERY: &str = "SELECT count(*), sum(hashtext(v)) FROM ts_table";

pub fn cmd_ok(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{:?}: {}",
        cmd,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Decompresses a `.tar[.gz|.lz4|.zst]` archive and extracts it into `into`.
pub fn extract(archive: &Path, into: &Path) {
    use std::io::Read;
    let raw = std::fs::read(archive).unwrap();
    let name = archive.file_name().unwrap().to_string_lossy().into_owned();
    let tar_bytes = if name.ends_with(".gz") {
        let mut out = Vec::new();
        flate2::read::MultiGzDecoder::new(&raw[..])
            .read_to_end(&mut out)
            .unwrap();
        out
    } else if name.ends_with(".lz4") {
        // Concatenated frames (one per parallel piece): decode them one after the other.
        let mut out = Vec::new();
        let mut rest = &raw[..];
        while !rest.is_empty() {
            lz4_flex::frame::FrameDecoder::new(&mut rest)
                .read_to_end(&mut out)
                .unwrap();
        }
        out
    } else if name.ends_with(".zst") {
        zstd::stream::decode_all(&raw[..]).unwrap()
    } else {
        raw
    };
    std::fs::create_dir_all(into).unwrap();
    let tmp = into.with_extension("extract.tar");
    std::fs::write(&tmp, tar_bytes).unwrap();
    cmd_ok(Command::new("tar").arg("-xf").arg(&tmp).arg("-C").arg(into));
    std::fs::remove_file(&tmp).unwrap();
}

/// Turns a tar-format backup into a plain one: base.tar into `<dir>_plain`, pg_wal.tar into its
/// pg_wal, each `<oid>.tar` into `<dir>_plain_ts<oid>` linked from pg_tblspc (and tablespace_map
/// rewritten to point there once verified). Returns the plain directory.
pub fn restore_tar(cluster: &Cluster, dir: &Path) -> PathBuf {
    let plain = PathBuf::from(format!("{}_plain", dir.display()));
    let mut oids = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let path = e.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if name.starts_with("base.tar") {
            extract(&path, &plain);
        } else if name.starts_with("pg_wal.tar") {
            extract(&path, &plain.join("pg_wal"));
        } else if name.ends_with(".tar") || name.contains(".tar.") {
            let oid = name.split('.').next().unwrap().to_owned();
            extract(&path, Path::new(&format!("{}_ts{oid}", plain.display())));
            oids.push(oid);
        }
    }
    std::fs::copy(dir.join("backup_manifest"), plain.join("backup_manifest")).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&plain, std::fs::Permissions::from_mode(0o700)).unwrap();
    for oid in &oids {
        let loc = format!("{}_ts{oid}", plain.display());
        std::os::unix::fs::symlink(&loc, plain.join("pg_tblspc").join(oid)).unwrap();
        give(cluster, Path::new(&loc));
    }
    let (ok, text) = verify(cluster, &plain);
    assert!(ok, "{text}");
    if !oids.is_empty() {
        let map: String = oids
            .iter()
            .map(|oid| format!("{oid} {}_ts{oid}\n", plain.display()))
            .collect();
        std::fs::write(plain.join("tablespace_map"), map).unwrap();
        give(cluster, &plain);
    }
    plain
}
