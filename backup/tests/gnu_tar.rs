//! Interoperability with GNU tar: it extracts the archives we write, and we read the archives it
//! writes (made at test time here; committed copies are read by the unit tests).

// Output of PostgreSQL tools, shown in assertion messages only.
#![allow(clippy::disallowed_methods)]

mod common;

use corepool_backup::tar::{write_entry, TarEvent, TarHeader, TarReader, END_OF_ARCHIVE};
use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().expect("run tar");
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn gnu_tar_extracts_our_archive() {
    let Some(tar) = common::require_binary("tar") else {
        return;
    };
    let mtime = 1_700_000_000;
    let big: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
    let members = [
        (
            TarHeader::file("backup_label", 6, 0o600, mtime),
            b"label\n".to_vec(),
        ),
        (TarHeader::directory("base", 0o700, mtime), vec![]),
        (TarHeader::directory("base/1", 0o700, mtime), vec![]),
        (
            TarHeader::file("base/1/1259", big.len() as u64, 0o600, mtime),
            big.clone(),
        ),
        (TarHeader::directory("pg_wal", 0o700, mtime), vec![]),
        (
            TarHeader::directory("./pg_wal/archive_status", 0o700, mtime),
            vec![],
        ),
        (TarHeader::directory("pg_tblspc", 0o700, mtime), vec![]),
        (
            TarHeader::symlink("pg_tblspc/16392", "/srv/ts", mtime),
            vec![],
        ),
        (
            TarHeader::file("global/pg_control", 0, 0o600, mtime),
            vec![],
        ),
    ];
    let mut archive = Vec::new();
    for (h, data) in &members {
        write_entry(&mut archive, h, data).unwrap();
    }
    archive.extend_from_slice(&END_OF_ARCHIVE);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("base.tar");
    std::fs::write(&file, &archive).unwrap();

    let listing = run(Command::new(&tar).arg("-tvf").arg(&file));
    assert!(listing.contains("postgres/postgres"), "{listing}");
    assert!(listing.contains("pg_tblspc/16392/ -> /srv/ts"), "{listing}");
    assert!(listing.contains("./pg_wal/archive_status/"), "{listing}");

    let out = dir.path().join("out");
    std::fs::create_dir(&out).unwrap();
    run(Command::new(&tar)
        .arg("-xf")
        .arg(&file)
        .arg("-C")
        .arg(&out)
        .arg("--no-same-owner"));
    assert_eq!(std::fs::read(out.join("base/1/1259")).unwrap(), big);
    assert_eq!(std::fs::read(out.join("backup_label")).unwrap(), b"label\n");
    assert!(out.join("pg_wal/archive_status").is_dir());
    assert_eq!(
        std::fs::read_link(out.join("pg_tblspc/16392")).unwrap(),
        Path::new("/srv/ts")
    );
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::metadata(out.join("base/1/1259")).unwrap();
    assert_eq!(meta.mode() & 0o7777, 0o600);
    assert_eq!(meta.mtime(), mtime as i64);
}

#[test]
fn we_read_what_gnu_tar_writes() {
    let Some(tar) = common::require_binary("tar") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    let deep = src.join("d".repeat(90)).join("e".repeat(90));
    std::fs::create_dir_all(&deep).unwrap();
    let mut expected: BTreeMap<Vec<u8>, Vec<u8>> = BTreeMap::new();
    for (i, size) in [0usize, 1, 511, 512, 513, 70_000].into_iter().enumerate() {
        let name = format!("f{i}");
        let data: Vec<u8> = (0..size).map(|b| (b * 13 + i) as u8).collect();
        std::fs::write(deep.join(&name), &data).unwrap();
        let rel = format!("{}/{}/{name}", "d".repeat(90), "e".repeat(90));
        expected.insert(rel.into_bytes(), data);
    }
    for format in ["gnu", "pax", "ustar"] {
        let file = dir.path().join(format!("{format}.tar"));
        let mut cmd = Command::new(&tar);
        cmd.arg(format!("--format={format}"))
            .arg("-cf")
            .arg(&file)
            .arg("-C")
            .arg(&src)
            .arg(".");
        run(&mut cmd);
        let archive = std::fs::read(&file).unwrap();
        let mut reader = TarReader::new();
        let mut files: BTreeMap<Vec<u8>, Vec<u8>> = BTreeMap::new();
        let mut current: Option<Vec<u8>> = None;
        for mut chunk in archive.chunks(1000) {
            while let Some(event) = reader.next_event(&mut chunk).unwrap() {
                match event {
                    TarEvent::Entry(h) => {
                        let name = h.name.strip_prefix(b"./").unwrap_or(&h.name).to_vec();
                        if h.kind == corepool_backup::tar::EntryKind::File {
                            files.insert(name.clone(), Vec::new());
                            current = Some(name);
                        }
                    }
                    TarEvent::Data(d) => {
                        let name = current.as_ref().unwrap();
                        files.get_mut(name).unwrap().extend_from_slice(d);
                    }
                    TarEvent::EntryEnd => current = None,
                    TarEvent::End => {}
                }
            }
        }
        reader.finish().unwrap();
        assert_eq!(files, expected, "format {format}");
    }
}
