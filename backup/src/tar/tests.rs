//! Tar tests: a real PostgreSQL 15 archive read and rewritten byte for byte, GNU tar and pax
//! archives, header layout details, and reader/writer round trips over random chunkings.

use super::*;
use proptest::prelude::*;

/// `16392.tar` from `pg_basebackup -Ft` of a PostgreSQL 15.18 cluster with one tablespace.
const PG_TABLESPACE: &[u8] = include_bytes!("../../tests/fixtures/pg_tablespace.tar");
/// GNU tar 1.34, `--format=gnu`, with a 124-byte name and a symlink.
const GNU: &[u8] = include_bytes!("../../tests/fixtures/gnu_format.tar");
/// The same tree with `--format=pax`.
const PAX: &[u8] = include_bytes!("../../tests/fixtures/pax_format.tar");

/// Reads a whole archive fed in chunks of the given sizes (cycled), collecting each member with
/// its data.
fn read_all(archive: &[u8], chunks: &[usize]) -> Result<Vec<(TarHeader, Vec<u8>)>, TarError> {
    let mut reader = TarReader::new();
    let mut members: Vec<(TarHeader, Vec<u8>)> = Vec::new();
    let mut open = false;
    let mut rest = archive;
    let mut sizes = chunks.iter().cycle();
    while !rest.is_empty() {
        let n = (*sizes.next().unwrap_or(&rest.len())).clamp(1, rest.len());
        let (mut chunk, tail) = rest.split_at(n);
        rest = tail;
        while let Some(event) = reader.next_event(&mut chunk)? {
            match event {
                TarEvent::Entry(h) => {
                    assert!(!open, "entry inside entry");
                    open = true;
                    members.push((h, Vec::new()));
                }
                TarEvent::Data(d) => members.last_mut().unwrap().1.extend_from_slice(d),
                TarEvent::EntryEnd => {
                    assert!(open);
                    open = false;
                }
                TarEvent::End => assert!(!open),
            }
        }
        assert!(chunk.is_empty());
    }
    reader.finish()?;
    Ok(members)
}

fn write_all(members: &[(TarHeader, Vec<u8>)]) -> Vec<u8> {
    let mut out = Vec::new();
    for (h, data) in members {
        write_entry(&mut out, h, data).unwrap();
    }
    out.extend_from_slice(&END_OF_ARCHIVE);
    out
}

#[test]
fn real_postgres_archive_round_trips_byte_for_byte() {
    for chunks in [
        &[PG_TABLESPACE.len()][..],
        &[1],
        &[511, 3, 1024],
        &[7, 8192],
    ] {
        let members = read_all(PG_TABLESPACE, chunks).unwrap();
        let names: Vec<_> = members.iter().map(|(h, _)| h.name.as_slice()).collect();
        assert_eq!(
            names,
            [
                b"PG_15_202209061".as_slice(),
                b"PG_15_202209061/5",
                b"PG_15_202209061/5/16393"
            ]
        );
        let (file, data) = &members[2];
        assert_eq!(
            (file.kind, file.size, file.mode),
            (EntryKind::File, 8192, 0o600)
        );
        assert_eq!(members[0].0.kind, EntryKind::Directory);
        assert_eq!(members[0].0.mode, 0o700);
        // The manifest of the same backup lists this file with CRC32C bc8f8d01.
        if cfg!(target_endian = "little") {
            assert_eq!(crc32c::crc32c(data).to_le_bytes(), [0xbc, 0x8f, 0x8d, 0x01]);
        }
        assert!(write_all(&members) == PG_TABLESPACE, "rewrite differs");
    }
}

/// Name, kind, mode, link target, data.
type Summary = (String, EntryKind, u32, Vec<u8>, Vec<u8>);

#[test]
fn gnu_and_pax_archives() {
    const MTIME: u64 = 1_704_164_645; // 2024-01-02 03:04:05 UTC
    let long = format!("dir/{}", "d".repeat(120));
    for archive in [GNU, PAX] {
        let members = read_all(archive, &[100]).unwrap();
        let summary: Vec<Summary> = members
            .iter()
            .map(|(h, d)| {
                assert_eq!(h.mtime, MTIME);
                assert_eq!((h.uid, h.gid), (0, 0));
                assert_eq!(h.size, d.len() as u64);
                let name = String::from_utf8(h.name.clone()).unwrap();
                (name, h.kind, h.mode, h.link_target.clone(), d.clone())
            })
            .collect();
        let f = |n: &str, k, m, l: &[u8], d: &[u8]| (n.to_owned(), k, m, l.to_vec(), d.to_vec());
        assert_eq!(
            summary,
            [
                f("small.txt", EntryKind::File, 0o640, b"", b"hello\n"),
                f("empty", EntryKind::File, 0o644, b"", b""),
                f("dir", EntryKind::Directory, 0o755, b"", b""),
                f(&long, EntryKind::File, 0o644, b"", b"long\n"),
                f("dir/link", EntryKind::Symlink, 0o777, b"../small.txt", b""),
                f("dir/thousand", EntryKind::File, 0o644, b"", &[b'x'; 1000]),
            ]
        );
    }
}

#[test]
fn header_layout() {
    let h = TarHeader::file("backup_label", 225, 0o100600, 0o15300233574).with_owner(101, 104);
    let b = encode_header(&h).unwrap();
    assert_eq!(&b[..13], b"backup_label\0");
    assert_eq!(&b[100..108], b"0000600 ");
    assert_eq!(&b[108..116], b"0000145 ");
    assert_eq!(&b[116..124], b"0000150 ");
    assert_eq!(&b[124..136], b"00000000341 ");
    assert_eq!(&b[136..148], b"15300233574 ");
    assert_eq!(&b[148..156], b"0015521 ");
    assert_eq!(b[156], b'0');
    assert_eq!(&b[257..265], b"ustar\x0000");
    assert_eq!(&b[265..274], b"postgres\0");
    assert_eq!(&b[297..306], b"postgres\0");
    assert_eq!(&b[329..345], b"0000000 0000000 ");
    assert!(b[345..].iter().all(|&x| x == 0));
    // The same header as the real base.tar's first block (checked with xxd).
    assert_eq!(super::header_checksum(&b), 0o15521);

    let dir = encode_header(&TarHeader::directory("./pg_wal/archive_status", 0o700, 0)).unwrap();
    assert_eq!(&dir[..25], b"./pg_wal/archive_status/\0");
    assert_eq!(&dir[124..136], b"00000000000 ");
    assert_eq!(dir[156], b'5');
    let link = encode_header(&TarHeader::symlink("pg_tblspc/16392", "/tmp/ts", 0)).unwrap();
    assert_eq!(&link[..17], b"pg_tblspc/16392/\0");
    assert_eq!(&link[157..165], b"/tmp/ts\0");
    assert_eq!(link[156], b'2');

    let huge = encode_header(&TarHeader::file("big", 8 << 30, 0o600, 0)).unwrap();
    assert_eq!(&huge[124..136], &[0x80, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0]);
    let just_fits = encode_header(&TarHeader::file("big", (8 << 30) - 1, 0o600, 0)).unwrap();
    assert_eq!(&just_fits[124..136], b"77777777777 ");
}

#[test]
fn name_limits() {
    let n99 = "n".repeat(99);
    assert!(encode_header(&TarHeader::file(n99.clone(), 0, 0o600, 0)).is_ok());
    let dir = encode_header(&TarHeader::directory(n99.clone(), 0o700, 0)).unwrap();
    assert_eq!(dir[99], b'/');
    let read = read_all(
        &write_all(&[(TarHeader::directory(n99.clone(), 0o700, 0), vec![])]),
        &[],
    )
    .unwrap();
    assert_eq!(read[0].0.name, n99.as_bytes());
    let n100 = "n".repeat(100);
    assert!(matches!(
        encode_header(&TarHeader::file(n100, 0, 0o600, 0)),
        Err(TarError::NameTooLong(_))
    ));
    assert!(matches!(
        encode_header(&TarHeader::symlink("l", "t".repeat(100), 0)),
        Err(TarError::LinkTooLong { .. })
    ));
    assert!(encode_header(&TarHeader::file("", 0, 0o600, 0)).is_err());
    assert!(encode_header(&TarHeader::file("a\0b", 0, 0o600, 0)).is_err());
    let other = TarHeader {
        kind: EntryKind::Other(b'3'),
        ..TarHeader::file("dev", 0, 0o600, 0)
    };
    assert!(encode_header(&other).is_err());
    assert!(write_entry(&mut Vec::new(), &TarHeader::file("f", 2, 0o600, 0), b"abc").is_err());
}

#[test]
fn damaged_archives_are_errors() {
    // Truncated anywhere before the end block.
    for cut in [0, 1, 511, 512, 600, 1024 + 8191, PG_TABLESPACE.len() - 1024] {
        assert!(
            read_all(&PG_TABLESPACE[..cut], &[]).is_err(),
            "cut at {cut}"
        );
    }
    // Trailing data after the end block is ignored.
    let mut padded = PG_TABLESPACE.to_vec();
    padded.extend_from_slice(&[0xAA; 700]);
    assert_eq!(read_all(&padded, &[]).unwrap().len(), 3);
    // A flipped header byte fails the checksum.
    let mut bad = PG_TABLESPACE.to_vec();
    bad[5] ^= 1;
    assert!(matches!(
        read_all(&bad, &[]),
        Err(TarError::BadChecksum { offset: 0, .. })
    ));
}

#[test]
fn padding() {
    assert_eq!(padding_len(0), 0);
    assert_eq!(padding_len(1), 511);
    assert_eq!(padding_len(512), 0);
    assert_eq!(padding_len(8193), 511);
}

fn arb_header() -> impl Strategy<Value = (TarHeader, Vec<u8>)> {
    let name = proptest::collection::vec(1u8..=255, 1..=99).prop_filter("no slash end", |n| {
        n.last() != Some(&b'/') && !(n.len() == 1 && n[0] == b'/')
    });
    (
        name,
        0usize..3,
        proptest::collection::vec(any::<u8>(), 0..2000),
        0u32..0o7777,
        any::<u32>(),
        any::<u32>(),
        any::<u64>(),
        proptest::collection::vec(1u8..=255, 0..=99),
    )
        .prop_map(|(name, kind, data, mode, uid, gid, mtime, target)| {
            let kind = [EntryKind::File, EntryKind::Directory, EntryKind::Symlink][kind];
            let data = if kind == EntryKind::File {
                data
            } else {
                vec![]
            };
            let link_target = if kind == EntryKind::Symlink {
                target
            } else {
                vec![]
            };
            let h = TarHeader {
                name,
                kind,
                size: data.len() as u64,
                mode,
                uid,
                gid,
                mtime,
                link_target,
            };
            (h, data)
        })
}

proptest! {
    #[test]
    fn round_trip(
        members in proptest::collection::vec(arb_header(), 0..8),
        chunks in proptest::collection::vec(1usize..1500, 1..5),
    ) {
        let archive = write_all(&members);
        prop_assert_eq!(archive.len() % BLOCK, 0);
        let read = read_all(&archive, &chunks).unwrap();
        prop_assert_eq!(read, members);
    }

    #[test]
    fn reader_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..3000),
                           chunk in 1usize..700) {
        let _ = read_all(&bytes, &[chunk]);
    }

    #[test]
    fn reader_survives_mutations(pos in 0usize..1536, byte in any::<u8>()) {
        let mut archive = PG_TABLESPACE.to_vec();
        archive[pos] = byte;
        let _ = read_all(&archive, &[333]);
    }
}
