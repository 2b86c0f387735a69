//! What must not go wrong: an interrupted backup is never taken for a good one and leaves no
//! slot; refused worker connections still end in a good backup; a corrupted page gives the
//! checksum warning; a role without privileges is told which GRANTs to run; `-R` makes a
//! streaming standby.

mod real;

use corepool_backup::Error;
use real::*;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

fn slots(f: &Fixture) -> String {
    f.cluster
        .primary()
        .psql("postgres", "SELECT count(*) FROM pg_replication_slots")
        .unwrap()
}

fn assert_incomplete(dir: &std::path::Path) {
    assert!(dir.join(corepool_backup::INCOMPLETE_MARKER).exists());
    assert!(!dir.join("backup_manifest").exists());
}

#[test]
fn interrupted_backups_are_marked_and_leave_no_slot() {
    let f = fixture(&[]);
    for jobs in [1, 3] {
        let mut o = options(&f, &format!("cancel_j{jobs}"), jobs);
        o.max_rate = Some(4 << 20); // ~10 s for the cluster: plenty of time to interrupt.
        let dir = o.target.clone();
        let cancel = Arc::new(AtomicBool::new(false));
        let flag = cancel.clone();
        let t = std::thread::spawn(move || corepool_backup::run(o, flag));
        f.cluster.primary().wait_backup_copying().unwrap();
        cancel.store(true, Ordering::Relaxed);
        let r = t.join().unwrap();
        assert!(matches!(r, Err(Error::Interrupted(_))), "-j {jobs}: {r:?}");
        assert_incomplete(&dir);
        let marker = std::fs::read_to_string(dir.join(corepool_backup::INCOMPLETE_MARKER)).unwrap();
        assert!(marker.contains("canceled"), "{marker}");
        // The temporary slot went away with its connection.
        let mut gone = false;
        for _ in 0..50 {
            if slots(&f) == "0" {
                gone = true;
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        assert!(gone, "slot left behind after -j {jobs}");
        let (ok, _) = verify(&f.cluster, &dir);
        assert!(!ok, "pg_verifybackup accepted an interrupted backup");
    }
    // The server is not left in backup mode: a new backup works.
    let o = options(&f, "after_cancel", 2);
    let dir = o.target.clone();
    backup(o).expect("backup after cancel");
    assert!(verify(&f.cluster, &dir).0);
}

#[test]
fn refused_worker_connections_still_make_a_good_backup() {
    // Control + 4 workers need 5 sessions; the server allows 4.
    let f = fixture(&[
        ("max_connections", "4"),
        ("superuser_reserved_connections", "0"),
    ]);
    let o = options(&f, "refused", 4);
    let dir = o.target.clone();
    let outcome = backup(o).expect("backup with a refused worker");
    assert!(outcome.parallel_workers < 4, "{outcome:?}");
    let (ok, text) = verify(&f.cluster, &dir);
    assert!(ok, "{text}");
    let before = f.cluster.primary().psql("postgres", REF_QUERY).unwrap();
    let r = start_server(&f.cluster, &dir, "refused_srv");
    assert_eq!(r.psql(REF_QUERY), before);
}

#[test]
fn corrupted_page_gives_checksum_failure() {
    let f = fixture(&[]);
    let p = f.cluster.primary();
    p.psql(
        "postgres",
        "CREATE TABLE victim AS SELECT g FROM generate_series(1, 10000) g; CHECKPOINT",
    )
    .unwrap();
    let rel = p
        .psql("postgres", "SELECT pg_relation_filepath('victim')")
        .unwrap();
    p.stop().unwrap();
    let path = p.data_dir().join(&rel);
    let mut data = std::fs::read(&path).unwrap();
    data[8192 + 4000] ^= 0xFF; // block 1, in the tuple area
    std::fs::write(&path, &data).unwrap();
    p.start().unwrap();
    for jobs in [1, 2] {
        let o = options(&f, &format!("corrupt_j{jobs}"), jobs);
        let outcome = backup(o).expect("backup completes despite the bad page");
        assert_eq!(outcome.checksum_failures, 1, "-j {jobs}");
    }
    // Without verification the same backup is clean.
    let mut o = options(&f, "corrupt_noverify", 2);
    o.verify_checksums = false;
    assert_eq!(backup(o).unwrap().checksum_failures, 0);
}

#[test]
fn privileges_are_named_and_replication_role_falls_back() {
    let f = fixture(&[]);
    let p = f.cluster.primary();
    p.psql(
        "postgres",
        "CREATE ROLE plain_user LOGIN; CREATE ROLE repl_user LOGIN REPLICATION",
    )
    .unwrap();
    let mut o = options(&f, "noprivs", 2);
    o.conn.user = "plain_user".into();
    match backup(o) {
        Err(Error::Privileges(msg)) => {
            assert!(
                msg.contains(
                    "GRANT EXECUTE ON FUNCTION pg_backup_start(text, boolean) TO plain_user"
                ),
                "{msg}"
            );
            assert!(
                msg.contains("pg_read_binary_file(text, bigint, bigint, boolean)"),
                "{msg}"
            );
        }
        other => panic!("{other:?}"),
    }
    let mut o = options(&f, "repl_only", 2);
    o.conn.user = "repl_user".into();
    // Fallen back, -X fetch is BASE_BACKUP's (the WAL in the archive), not the SQL mode's.
    o.wal_method = corepool_backup::WalMethod::Fetch;
    let dir = o.target.clone();
    let outcome = backup(o).expect("replication role falls back to BASE_BACKUP");
    assert_eq!(outcome.parallel_workers, 0);
    assert!(verify(&f.cluster, &dir).0);
}

#[test]
fn write_recovery_conf_makes_a_streaming_standby() {
    let f = fixture(&[]);
    let mut o = options(&f, "standby", 2);
    o.write_recovery_conf = true;
    let dir = o.target.clone();
    backup(o).unwrap();
    assert!(dir.join("standby.signal").exists());
    let auto = std::fs::read_to_string(dir.join("postgresql.auto.conf")).unwrap();
    assert!(auto.contains("primary_conninfo = '"), "{auto}");
    assert!(verify(&f.cluster, &dir).0);
    let r = start_server(&f.cluster, &dir, "standby_srv");
    assert_eq!(r.psql("SELECT pg_is_in_recovery()"), "t");
    f.cluster
        .primary()
        .psql("postgres", "CREATE TABLE after_backup AS SELECT 42 AS x")
        .unwrap();
    let mut seen = String::new();
    for _ in 0..100 {
        if r.psql("SELECT count(*) FROM pg_class WHERE relname = 'after_backup'") == "1" {
            seen = r.psql("SELECT x FROM after_backup");
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(seen, "42", "standby did not stream");
}
