//! The server and the disk changing under a backup: tables dropped while their files are being
//! copied, a backup taken from a standby while the primary writes, a standby promoted
//! mid-backup, no walsender left for the WAL stream, and a full disk. Each ends either in a
//! backup that pg_verifybackup accepts and that starts, or in a clear error with the directory
//! marked incomplete and no slot left behind.

mod real;

use corepool_backup::client::{ConnectOptions, Host};
use corepool_backup::{BackupOptions, Checkpoint, Format};
use corepool_testkit::Cluster;
use real::*;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

fn slot_count(node: &corepool_testkit::Node) -> String {
    node.psql("postgres", "SELECT count(*) FROM pg_replication_slots")
        .unwrap()
}

fn assert_marked_incomplete(dir: &Path, why: &str) {
    let marker = std::fs::read_to_string(dir.join(corepool_backup::INCOMPLETE_MARKER))
        .expect("the incomplete marker stays");
    assert!(marker.contains(why), "marker says: {marker}");
    assert!(!dir.join("backup_manifest").exists());
}

/// A finished backup checked by pg_verifybackup (tar: extracted first); its plain directory.
fn verified_plain(f: &Fixture, dir: &Path, format: Format) -> std::path::PathBuf {
    match format {
        Format::Tar => restore_tar(&f.cluster, dir),
        _ => {
            let (ok, text) = verify(&f.cluster, dir);
            assert!(ok, "{text}");
            dir.to_owned()
        }
    }
}

/// Polls until `cond` holds (10 s at most).
fn eventually(what: &str, mut cond: impl FnMut() -> bool) {
    for _ in 0..100 {
        if cond() {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("timed out waiting for {what}");
}

#[test]
fn tables_dropped_during_the_copy_are_left_out() {
    let f = fixture(&[]);
    let p = f.cluster.primary();
    // Three tables of ~4 MB, copied after pgbench_accounts (largest first), dropped while the
    // throttled backup is still on the big files: their listed files vanish before a worker
    // reaches them.
    for t in ["doomed_a", "doomed_b", "doomed_c"] {
        p.psql(
            "postgres",
            &format!(
                "CREATE TABLE {t} AS SELECT g, md5(g::text) AS v FROM generate_series(1, 50000) g"
            ),
        )
        .unwrap();
    }
    p.psql("postgres", "CHECKPOINT").unwrap();
    let before = p.psql("postgres", REF_QUERY).unwrap();
    for (jobs, format) in [(2, Format::Plain), (3, Format::Tar)] {
        let name = format!("dropped_j{jobs}");
        let mut o = options(&f, &name, jobs);
        o.format = format;
        o.max_rate = Some(8 << 20); // the ~60 MB cluster takes ~7 s
        let dir = o.target.clone();
        let t = std::thread::spawn(move || backup(o));
        p.wait_backup_copying().unwrap();
        for t in ["doomed_a", "doomed_b", "doomed_c"] {
            p.psql("postgres", &format!("DROP TABLE IF EXISTS {t}"))
                .unwrap();
        }
        // The first segment of a dropped relation is unlinked at the next checkpoint.
        p.psql("postgres", "CHECKPOINT").unwrap();
        let outcome = t.join().unwrap().expect("backup with vanished files");
        assert_eq!(outcome.checksum_failures, 0);
        assert!(outcome.vanished_files >= 3, "{outcome:?}");
        let plain = verified_plain(&f, &dir, format);
        let r = start_server(&f.cluster, &plain, &format!("{name}_srv"));
        assert_eq!(r.psql(REF_QUERY), before);
        assert_eq!(
            r.psql("SELECT count(*) FROM pg_class WHERE relname LIKE 'doomed%'"),
            "0"
        );
        // Recreate for the next round.
        for t in ["doomed_a", "doomed_b", "doomed_c"] {
            p.psql(
                "postgres",
                &format!("CREATE TABLE {t} AS SELECT g, md5(g::text) AS v FROM generate_series(1, 50000) g"),
            )
            .unwrap();
        }
        p.psql("postgres", "CHECKPOINT").unwrap();
    }
}

#[test]
fn a_standby_promoted_mid_backup_fails_the_backup() {
    let cluster = Cluster::builder()
        .data_checksums(true)
        .standbys(2)
        .start()
        .unwrap();
    let p = cluster.primary();
    p.psql(
        "postgres",
        "CREATE TABLE big AS SELECT g, repeat(md5(g::text), 8) AS v FROM generate_series(1, 100000) g; CHECKPOINT",
    )
    .unwrap();
    // Both standbys have replayed the table before the backups start.
    let lsn = p.psql("postgres", "SELECT pg_current_wal_lsn()").unwrap();
    for s in cluster.standbys() {
        eventually("standby replay", || {
            s.psql(
                "postgres",
                &format!("SELECT pg_last_wal_replay_lsn() >= '{lsn}'"),
            )
            .unwrap()
                == "t"
        });
    }
    for (jobs, standby) in [(1, &cluster.standbys()[0]), (2, &cluster.standbys()[1])] {
        let mut conn = ConnectOptions::new(Host::parse(standby.host()), standby.port(), "postgres");
        conn.database = Some("postgres".into());
        let dir = cluster.root_dir().join(format!("promoted_j{jobs}"));
        let mut o = BackupOptions::new(conn, &dir);
        o.jobs = jobs;
        o.checkpoint = Checkpoint::Fast;
        o.sync = false;
        o.max_rate = Some(4 << 20); // ~10 s for the ~45 MB cluster
        let t = std::thread::spawn(move || backup(o));
        standby.wait_backup_copying().unwrap();
        standby.promote().unwrap();
        let err = t
            .join()
            .unwrap()
            .expect_err("a backup across a promotion must fail");
        let text = err.to_string();
        eprintln!("-j {jobs} across a promotion: {text}");
        assert!(
            text.contains("promoted") || text.contains("timeline"),
            "-j {jobs}: {text}"
        );
        assert_marked_incomplete(&dir, "did not finish");
        eventually("the temporary slot to go", || slot_count(standby) == "0");
        let (ok, _) = verify(&cluster, &dir);
        assert!(!ok, "pg_verifybackup accepted a backup across a promotion");
    }
}

#[test]
fn without_a_free_walsender_the_wal_is_copied_over_sql() {
    // No walsender at all: -j 1 (BASE_BACKUP needs one) fails cleanly; -j N copies the files
    // over ordinary sessions and the WAL through a slot made over SQL.
    let f = fixture(&[("max_wal_senders", "0")]);
    let p = f.cluster.primary();
    let before = p.psql("postgres", REF_QUERY).unwrap();
    let ts_before = p.psql("postgres", TS_QUERY).unwrap();

    let o = options(&f, "nowalsender_j1", 1);
    let dir = o.target.clone();
    let err = backup(o).expect_err("BASE_BACKUP without a walsender");
    assert!(err.to_string().contains("max_wal_senders"), "{err}");
    // Refused before anything was copied: the directory is removed, as pg_basebackup does.
    assert!(!dir.exists(), "nothing copied, nothing left");

    for (jobs, format) in [(2, Format::Plain), (4, Format::Tar)] {
        let name = format!("nowalsender_j{jobs}");
        let mut load = pgbench_load(&f.cluster, 2);
        let mut o = options(&f, &name, jobs);
        o.format = format;
        let dir = o.target.clone();
        let outcome = backup(o).expect("-j N without a walsender");
        let _ = load.wait();
        assert_eq!(outcome.parallel_workers, jobs);
        let plain = verified_plain(&f, &dir, format);
        let r = start_server(&f.cluster, &plain, &format!("{name}_srv"));
        assert_eq!(r.psql(REF_QUERY), before);
        assert_eq!(r.psql(TS_QUERY), ts_before);
        assert_eq!(slot_count(p), "0", "slot left after -j {jobs}");
    }
}

/// A small tmpfs (O_DIRECT-capable since Linux 6.6) mounted for the test, unmounted on drop.
struct SmallDisk {
    path: std::path::PathBuf,
}

impl SmallDisk {
    fn mount(path: &Path, size: &str) -> SmallDisk {
        std::fs::create_dir_all(path).unwrap();
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(path)
            .output()
            .expect("run mount");
        assert!(
            out.status.success(),
            "this test mounts a small tmpfs and needs root: {:?}",
            out.stderr
        );
        SmallDisk {
            path: path.to_owned(),
        }
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.path).output();
    }
}

#[test]
fn a_full_disk_fails_cleanly() {
    let f = fixture(&[]);
    let p = f.cluster.primary();
    let disk = SmallDisk::mount(&f.cluster.root_dir().join("small_disk"), "12m");
    for jobs in [1, 2] {
        let mut o = options(&f, &format!("full_j{jobs}"), jobs);
        o.target = disk.path.join(format!("full_j{jobs}"));
        let dir = o.target.clone();
        let err = backup(o).expect_err("a backup larger than the disk");
        let text = err.to_string();
        eprintln!("-j {jobs} on a full disk: {text}");
        assert!(
            text.contains("No space left on device"),
            "-j {jobs}: {text}"
        );
        assert_marked_incomplete(&dir, "No space left on device");
        eventually("the temporary slot to go", || slot_count(p) == "0");
        std::fs::remove_dir_all(&dir).unwrap();
    }
    // The server is not left in backup mode.
    let o = options(&f, "after_full", 2);
    let dir = o.target.clone();
    backup(o).expect("backup after the full disk");
    assert!(verify(&f.cluster, &dir).0);
}

#[test]
fn a_backup_taken_from_a_standby_verifies_and_starts() {
    let cluster = Cluster::builder()
        .data_checksums(true)
        .standbys(1)
        .start()
        .unwrap();
    let p = cluster.primary();
    p.psql(
        "postgres",
        "CREATE TABLE ref_table AS SELECT g AS id, repeat(md5(g::text), 4) AS v FROM generate_series(1, 50000) g",
    )
    .unwrap();
    let before = p.psql("postgres", REF_QUERY).unwrap();
    let lsn = p.psql("postgres", "SELECT pg_current_wal_lsn()").unwrap();
    let standby = &cluster.standbys()[0];
    eventually("standby replay", || {
        standby
            .psql(
                "postgres",
                &format!("SELECT pg_last_wal_replay_lsn() >= '{lsn}'"),
            )
            .unwrap()
            == "t"
    });
    for jobs in [1, 3] {
        let mut conn = ConnectOptions::new(Host::parse(standby.host()), standby.port(), "postgres");
        conn.database = Some("postgres".into());
        let dir = cluster.root_dir().join(format!("from_standby_j{jobs}"));
        let mut o = BackupOptions::new(conn, &dir);
        o.jobs = jobs;
        o.checkpoint = Checkpoint::Fast;
        o.sync = false;
        // Writes on the primary during the backup reach the standby and its WAL.
        let mut load = cluster.pgbench(&["-i", "-s", "1", "-q"]).spawn().unwrap();
        let outcome = backup(o).expect("backup from a standby");
        let _ = load.wait();
        assert_eq!(outcome.checksum_failures, 0);
        let (ok, text) = verify(&cluster, &dir);
        assert!(ok, "-j {jobs}: {text}");
        let r = start_server(&cluster, &dir, &format!("from_standby_j{jobs}_srv"));
        assert_eq!(r.psql(REF_QUERY), before, "-j {jobs}");
        assert_eq!(
            slot_count(standby),
            "0",
            "slot left on the standby after -j {jobs}"
        );
    }
}
