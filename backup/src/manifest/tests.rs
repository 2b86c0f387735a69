//! Manifest tests: byte-identical rewrite of a real PostgreSQL 15 manifest, escaping, WAL ranges,
//! parser checks and a writer→parser round trip.

use super::*;
use crate::lsn::{parse_timeline_history, Lsn};
use proptest::prelude::*;

/// The manifest `pg_basebackup` 15.18 received for a small cluster with one tablespace.
const REAL: &[u8] = include_bytes!("../../tests/fixtures/pg_backup_manifest");

/// Inverse of `format_last_modified`, for the tests only.
fn parse_gmt(text: &str) -> i64 {
    let n = |r: std::ops::Range<usize>| text[r].parse::<i64>().unwrap();
    let (y, m, d) = (n(0..4), n(5..7), n(8..10));
    let (y, m) = if m <= 2 { (y - 1, m + 9) } else { (y, m - 3) };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * m + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    assert!(text.ends_with(" GMT"));
    days * 86_400 + n(11..13) * 3600 + n(14..16) * 60 + n(17..19)
}

#[test]
fn rewrites_a_real_manifest_byte_for_byte() {
    let parsed = parse_manifest(REAL).unwrap();
    assert!(parsed.files.len() > 900);
    assert_eq!(
        parsed.wal_ranges,
        [WalRange {
            timeline: 1,
            start: Lsn(0x300_0028),
            end: Lsn(0x300_0100)
        }]
    );
    let first = &parsed.files[0];
    assert_eq!(first.path, b"pg_tblspc/16392/PG_15_202209061/5/16393");
    assert_eq!(first.size, 8192);
    let mut writer = ManifestWriter::new(false);
    for f in &parsed.files {
        let mtime = parse_gmt(f.last_modified.as_deref().unwrap());
        writer.add_file(&f.path, f.size, mtime, &f.checksum.unwrap());
    }
    let rewritten = writer.finish(&parsed.wal_ranges);
    assert!(rewritten == REAL, "rewritten manifest differs");
}

#[test]
fn layout_of_a_small_manifest() {
    let mut w = ManifestWriter::new(false);
    let mut sum = FileChecksum::new(ChecksumAlgorithm::Crc32c);
    sum.update(b"15\n");
    w.add_file(b"PG_VERSION", 3, 1_700_000_000, &sum.finish());
    w.add_file(b"a \"q\"\\\n\t\x01/\xc3\xa9", 0, 0, &Digest::NONE);
    w.add_file(b"bad\xff", 1, 0, &Digest::NONE);
    let ranges = [WalRange {
        timeline: 1,
        start: Lsn(0x200_0028),
        end: Lsn(0x200_0100),
    }];
    let text = String::from_utf8(w.finish(&ranges)).unwrap();
    let body = "{ \"PostgreSQL-Backup-Manifest-Version\": 1,\n\"Files\": [\n\
        { \"Path\": \"PG_VERSION\", \"Size\": 3, \"Last-Modified\": \"2023-11-14 22:13:20 GMT\", \
        \"Checksum-Algorithm\": \"CRC32C\", \"Checksum\": \"8a744722\" },\n\
        { \"Path\": \"a \\\"q\\\"\\\\\\n\\t\\u0001/é\", \"Size\": 0, \"Last-Modified\": \"1970-01-01 00:00:00 GMT\" },\n\
        { \"Encoded-Path\": \"626164ff\", \"Size\": 1, \"Last-Modified\": \"1970-01-01 00:00:00 GMT\" }\n\
        ],\n\"WAL-Ranges\": [\n\
        { \"Timeline\": 1, \"Start-LSN\": \"0/2000028\", \"End-LSN\": \"0/2000100\" }\n\
        ],\n";
    if cfg!(target_endian = "little") {
        assert!(text.starts_with(body), "{text}");
    }
    let last = &text[text.len() - 89..];
    assert!(last.starts_with("\"Manifest-Checksum\": \""), "{last}");
    assert!(last.ends_with("\"}\n"));
    let parsed = parse_manifest(text.as_bytes()).unwrap();
    assert_eq!(parsed.files[1].path, b"a \"q\"\\\n\t\x01/\xc3\xa9");
    assert_eq!(parsed.files[2].path, b"bad\xff");
    assert_eq!(parsed.files[1].checksum, None);
}

#[test]
fn force_encode_and_empty_lists() {
    let mut w = ManifestWriter::new(true);
    w.add_file(b"global/1", 8192, 0, &Digest::NONE);
    let text = String::from_utf8(w.finish(&[])).unwrap();
    assert!(text.contains("{ \"Encoded-Path\": \"676c6f62616c2f31\", \"Size\": 8192,"));
    let empty = ManifestWriter::new(false).finish(&[]);
    let empty = String::from_utf8(empty).unwrap();
    assert!(empty.starts_with(
        "{ \"PostgreSQL-Backup-Manifest-Version\": 1,\n\"Files\": [\n],\n\"WAL-Ranges\": [\n\n],\n"
    ));
    let parsed = parse_manifest(empty.as_bytes()).unwrap();
    assert!(parsed.files.is_empty() && parsed.wal_ranges.is_empty());
}

#[test]
fn last_modified_format() {
    assert_eq!(format_last_modified(0), "1970-01-01 00:00:00 GMT");
    assert_eq!(format_last_modified(951_827_696), "2000-02-29 12:34:56 GMT");
    assert_eq!(
        format_last_modified(4_102_444_799),
        "2099-12-31 23:59:59 GMT"
    );
    assert_eq!(format_last_modified(-1), "1969-12-31 23:59:59 GMT");
    let _ = format_last_modified(i64::MIN / 2);
    let _ = format_last_modified(i64::MAX / 2);
}

#[test]
fn wal_ranges_across_timelines() {
    let one = parse_timeline_history(b"", 1).unwrap();
    assert_eq!(
        wal_ranges(Lsn(0x100), 1, Lsn(0x200), 1, &one).unwrap(),
        [WalRange {
            timeline: 1,
            start: Lsn(0x100),
            end: Lsn(0x200)
        }]
    );
    let history = parse_timeline_history(b"1\t0/1000\tx\n2\t0/3000\ty\n", 3).unwrap();
    // Started on 2, promoted to 3 during the backup: timeline 1 ended before the start.
    assert_eq!(
        wal_ranges(Lsn(0x2000), 2, Lsn(0x5000), 3, &history).unwrap(),
        [
            WalRange {
                timeline: 3,
                start: Lsn(0x3000),
                end: Lsn(0x5000)
            },
            WalRange {
                timeline: 2,
                start: Lsn(0x2000),
                end: Lsn(0x3000)
            },
        ]
    );
    assert!(wal_ranges(Lsn(0x2000), 2, Lsn(0x5000), 4, &history).is_err());
    assert!(wal_ranges(Lsn(0x2000), 9, Lsn(0x5000), 3, &history).is_err());
}

fn with_valid_checksum(body: &str) -> Vec<u8> {
    use sha2::{Digest as _, Sha256};
    let mut hex = String::new();
    super::digest::push_hex(&mut hex, &Sha256::digest(body.as_bytes()));
    format!("{body}\"Manifest-Checksum\": \"{hex}\"}}\n").into_bytes()
}

#[test]
fn parser_rejects_what_the_verifier_rejects() {
    let head = "{ \"PostgreSQL-Backup-Manifest-Version\": 1,\n\"Files\": [\n";
    let tail = "\n],\n\"WAL-Ranges\": [\n],\n";
    let ok_file = "{ \"Path\": \"x\", \"Size\": 1 }";
    assert!(parse_manifest(&with_valid_checksum(&format!("{head}{ok_file}{tail}"))).is_ok());
    for bad_file in [
        "{ \"Size\": 1 }",
        "{ \"Path\": \"x\" }",
        "{ \"Path\": \"x\", \"Encoded-Path\": \"78\", \"Size\": 1 }",
        "{ \"Encoded-Path\": \"7\", \"Size\": 1 }",
        "{ \"Path\": \"x\", \"Size\": -1 }",
        "{ \"Path\": \"x\", \"Size\": \"one\" }",
        "{ \"Path\": \"x\", \"Size\": 1, \"Checksum\": \"00000000\" }",
        "{ \"Path\": \"x\", \"Size\": 1, \"Checksum-Algorithm\": \"MD5\", \"Checksum\": \"00\" }",
        "{ \"Path\": \"x\", \"Size\": 1, \"Checksum-Algorithm\": \"CRC32C\", \"Checksum\": \"0\" }",
        "{ \"Path\": \"x\", \"Size\": 1, \"Colour\": \"red\" }",
        "{ \"Path\": \"x\", \"Size\": 1, \"Size\": 2 }",
        "{ \"Path\": [\"x\"], \"Size\": 1 }",
        "{ \"Path\": \"\\u0000\", \"Size\": 1 }",
        "{ \"Path\": \"\\ud800\", \"Size\": 1 }",
        "{ \"Path\": \"x\x01\", \"Size\": 1 }",
        "{ \"Path\": \"x\", \"Size\": 01 }",
        "{ \"Path\": \"x\", \"Size\": 1, }",
    ] {
        let text = with_valid_checksum(&format!("{head}{bad_file}{tail}"));
        assert!(parse_manifest(&text).is_err(), "{bad_file}");
    }
    // Surrogate pairs decode.
    let pair = "{ \"Path\": \"\\ud83d\\ude00\", \"Size\": 1 }";
    let parsed = parse_manifest(&with_valid_checksum(&format!("{head}{pair}{tail}"))).unwrap();
    assert_eq!(parsed.files[0].path, "😀".as_bytes());
    // Version first and equal to 1.
    let v2 =
        "{ \"PostgreSQL-Backup-Manifest-Version\": 2,\n\"Files\": [\n],\n\"WAL-Ranges\": [\n],\n";
    assert!(parse_manifest(&with_valid_checksum(v2)).is_err());
    let files_first = "{ \"Files\": [\n],\n\"PostgreSQL-Backup-Manifest-Version\": 1,\n";
    assert!(parse_manifest(&with_valid_checksum(files_first)).is_err());
    // Checksum problems.
    let mut tampered = REAL.to_vec();
    tampered[200] ^= 1;
    assert!(parse_manifest(&tampered).is_err());
    assert!(parse_manifest(&REAL[..REAL.len() - 1]).is_err());
    let mut trailing = REAL.to_vec();
    trailing.extend_from_slice(b"x");
    assert!(parse_manifest(&trailing).is_err());
    for truncated in [0, 1, 10, 100, REAL.len() / 2] {
        assert!(parse_manifest(&REAL[..truncated]).is_err());
    }
}

proptest! {
    #[test]
    fn writer_output_parses_back(
        files in proptest::collection::vec(
            (proptest::collection::vec(any::<u8>(), 1..40), any::<u64>(), 0i64..5_000_000_000, 0usize..6),
            0..20),
        force in any::<bool>(),
    ) {
        let algs = [
            ChecksumAlgorithm::None, ChecksumAlgorithm::Crc32c, ChecksumAlgorithm::Sha224,
            ChecksumAlgorithm::Sha256, ChecksumAlgorithm::Sha384, ChecksumAlgorithm::Sha512,
        ];
        let mut w = ManifestWriter::new(force);
        let mut expect = Vec::new();
        for (path, size, mtime, alg) in &files {
            let mut sum = FileChecksum::new(algs[*alg]);
            sum.update(path);
            let digest = sum.finish();
            w.add_file(path, *size, *mtime, &digest);
            expect.push((path.clone(), *size, format_last_modified(*mtime), digest));
        }
        let ranges = [WalRange { timeline: 7, start: Lsn(1), end: Lsn(u64::MAX) }];
        let parsed = parse_manifest(&w.finish(&ranges)).unwrap();
        prop_assert_eq!(&parsed.wal_ranges[..], &ranges[..]);
        prop_assert_eq!(parsed.files.len(), expect.len());
        for (f, (path, size, modified, digest)) in parsed.files.iter().zip(expect) {
            prop_assert_eq!(&f.path, &path);
            prop_assert_eq!(f.size, size);
            prop_assert_eq!(f.last_modified.as_deref(), Some(modified.as_str()));
            let want = (digest.algorithm() != ChecksumAlgorithm::None).then_some(digest);
            prop_assert_eq!(f.checksum, want);
        }
    }

    #[test]
    fn parser_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        let _ = parse_manifest(&bytes);
    }

    #[test]
    fn parser_never_panics_on_mutations(pos in 0usize..2000, byte in any::<u8>()) {
        let mut text = REAL[..2000].to_vec();
        text[pos] = byte;
        let _ = parse_manifest(&text);
    }
}
