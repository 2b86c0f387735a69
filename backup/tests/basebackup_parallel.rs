//! `-j N`: the SQL-mode parallel backup against a real server with checksums and a tablespace,
//! under pgbench load: pg_verifybackup, a restored server, pg_amcheck, table contents.

// Output of PostgreSQL tools, shown in assertion messages only.
#![allow(clippy::disallowed_methods)]

mod real;

use real::*;

fn check_plain(f: &Fixture, name: &str, jobs: usize, before: &str, ts_before: &str) {
    let mut load = pgbench_load(&f.cluster, 3);
    let mut o = options(f, name, jobs);
    o.sync = jobs == 4;
    let dir = o.target.clone();
    let outcome = backup(o).expect("backup");
    let _ = load.wait();
    assert_eq!(outcome.checksum_failures, 0);
    assert!(outcome.parallel_workers >= 1);
    assert!(!dir.join(corepool_backup::INCOMPLETE_MARKER).exists());
    let (ok, text) = verify(&f.cluster, &dir);
    assert!(ok, "-j {jobs}: {text}");
    // The manifest's header is the server's own: version 2 with the system identifier from
    // PostgreSQL 17 on (pg_verifybackup then compares it with the backup's pg_control).
    let manifest = std::fs::read_to_string(dir.join("backup_manifest")).unwrap();
    let id = f
        .cluster
        .primary()
        .psql(
            "postgres",
            "SELECT system_identifier FROM pg_control_system()",
        )
        .unwrap();
    let header = if f.cluster.major() >= 17 {
        format!("{{ \"PostgreSQL-Backup-Manifest-Version\": 2,\n\"System-Identifier\": {id},\n\"Files\": [\n")
    } else {
        "{ \"PostgreSQL-Backup-Manifest-Version\": 1,\n\"Files\": [\n".to_owned()
    };
    assert!(manifest.starts_with(&header), "{}", &manifest[..200]);
    let r = start_server(&f.cluster, &dir, &format!("{name}_srv"));
    assert_eq!(r.psql(REF_QUERY), before);
    assert_eq!(r.psql(TS_QUERY), ts_before);
    r.assert_amcheck_clean();
}

#[test]
fn parallel_plain_j2_and_j4_verify_start_and_match() {
    let f = fixture(&[]);
    let p = f.cluster.primary();
    let before = p.psql("postgres", REF_QUERY).unwrap();
    let ts_before = p.psql("postgres", TS_QUERY).unwrap();
    check_plain(&f, "j2", 2, &before, &ts_before);
    check_plain(&f, "j4", 4, &before, &ts_before);
}
