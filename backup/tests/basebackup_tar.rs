//! `-Ft`, with and without client-side compression, through `BASE_BACKUP` (-j 1) and the
//! parallel mode (-j 4): the archives extract to a backup that pg_verifybackup accepts, that
//! starts, and whose tables match.

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
