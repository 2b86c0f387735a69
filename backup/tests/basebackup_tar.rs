//! `-Ft`, with and without client-side compression, through `BASE_BACKUP` (-j 1) and the
//! parallel mode (-j 4): the archives extract to a backup that pg_verifybackup accepts, that
//! starts, and whose tables match.

// Output of PostgreSQL tools, shown in assertion messages only.
#![allow(clippy::disallowed_methods)]

mod real;

use corepool_backup::{Compression, Format};
use real::*;

fn check_tar(
    f: &Fixture,
    name: &str,
    jobs: usize,
    comp: Option<Compression>,
    before: &str,
    ts_before: &str,
) {
    let mut load = pgbench_load(&f.cluster, 2);
    let mut o = options(f, name, jobs);
    o.format = Format::Tar;
    o.compression = comp;
    let dir = o.target.clone();
    backup(o).expect("backup");
    let _ = load.wait();
    let suffix = comp.map(|c| c.suffix()).unwrap_or("");
    assert!(dir.join(format!("base.tar{suffix}")).exists());
    assert!(dir.join(format!("pg_wal.tar{suffix}")).exists());
    let plain = restore_tar(&f.cluster, &dir);
    let r = start_server(&f.cluster, &plain, &format!("{name}_srv"));
    assert_eq!(r.psql(REF_QUERY), before, "{name}");
    assert_eq!(r.psql(TS_QUERY), ts_before, "{name}");
}

#[test]
fn tar_formats_with_and_without_compression() {
    let f = fixture(&[]);
    let p = f.cluster.primary();
    let before = p.psql("postgres", REF_QUERY).unwrap();
    let ts_before = p.psql("postgres", TS_QUERY).unwrap();
    check_tar(&f, "t_j1", 1, None, &before, &ts_before);
    check_tar(
        &f,
        "t_j1_gz",
        1,
        Some(Compression::Gzip(1)),
        &before,
        &ts_before,
    );
    check_tar(&f, "t_j4", 4, None, &before, &ts_before);
    check_tar(
        &f,
        "t_j4_lz4",
        4,
        Some(Compression::Lz4),
        &before,
        &ts_before,
    );
    check_tar(
        &f,
        "t_j2_zst",
        2,
        Some(Compression::Zstd(3)),
        &before,
        &ts_before,
    );
}

/// PostgreSQL 18's pg_verifybackup reads tar-format backups itself (manifest against the
/// archives' members and checksums). It refuses to parse WAL in tar format ("pg_waldump cannot
/// read tar files", even with `-w`), so it runs with `-n`; the WAL is checked by the test
/// above, which verifies the extracted backup.
#[test]
fn pg_verifybackup_18_checks_the_archives_themselves() {
    let major = corepool_testkit::PgInstall::get().unwrap().major();
    if major < 18 {
        eprintln!("PostgreSQL {major}: pg_verifybackup reads only plain backups: skipped");
        return;
    }
    let f = fixture(&[]);
    for (name, jobs, comp) in [
        ("v_j1", 1, None),
        ("v_j4", 4, None),
        ("v_j1_gz", 1, Some(Compression::Gzip(1))),
        ("v_j4_gz", 4, Some(Compression::Gzip(1))),
    ] {
        let mut o = options(&f, name, jobs);
        o.format = Format::Tar;
        o.compression = comp;
        let dir = o.target.clone();
        backup(o).expect("backup");
        let suffix = comp.map(|c| c.suffix()).unwrap_or("");
        give(&f.cluster, &dir);
        let out = f
            .cluster
            .command("pg_verifybackup")
            .arg("-n")
            .arg(&dir)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{name}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        // And it notices a damaged archive.
        let base = dir.join(format!("base.tar{suffix}"));
        let mut bytes = std::fs::read(&base).unwrap();
        let at = bytes.len() / 2;
        bytes[at] ^= 0x55;
        std::fs::write(&base, &bytes).unwrap();
        let out = f
            .cluster
            .command("pg_verifybackup")
            .arg("-n")
            .arg(&dir)
            .output()
            .unwrap();
        assert!(!out.status.success(), "{name}: damage not found");
    }
}
