//! `-j 1`: the BASE_BACKUP path against a real server with checksums and a tablespace, under
//! pgbench load; pg_verifybackup, a restored server, pg_amcheck and table contents.

// Output of PostgreSQL tools, shown in assertion messages only.
#![allow(clippy::disallowed_methods)]

mod real;

use real::*;

#[test]
fn j1_plain_backup_verifies_starts_and_matches() {
    let f = fixture(&[]);
    let p = f.cluster.primary();
    let before = p.psql("postgres", REF_QUERY).unwrap();
    let ts_before = p.psql("postgres", TS_QUERY).unwrap();
    let mut load = pgbench_load(&f.cluster, 4);
    let mut o = options(&f, "j1", 1);
    o.sync = true; // exercise the final fsync pass, tablespace links included
    let dir = o.target.clone();
    let outcome = backup(o).expect("backup");
    let _ = load.wait();
    assert_eq!(outcome.checksum_failures, 0);
    assert!(!dir.join(corepool_backup::INCOMPLETE_MARKER).exists());
    let (ok, text) = verify(&f.cluster, &dir);
    assert!(ok, "{text}");
    // The tablespace went to its -T location.
    let link = std::fs::read_link(
        dir.join("pg_tblspc")
            .read_dir()
            .unwrap()
            .next()
            .unwrap()
            .unwrap()
            .path(),
    )
    .unwrap();
    assert!(link.ends_with("j1_ts1"), "{}", link.display());
    let r = start_server(&f.cluster, &dir, "j1_srv");
    assert_eq!(r.psql(REF_QUERY), before);
    assert_eq!(r.psql(TS_QUERY), ts_before);
    r.assert_amcheck_clean();
}
