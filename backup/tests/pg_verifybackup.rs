//! Manifests written by `ManifestWriter` are accepted by the real `pg_verifybackup` 15, for every
//! checksum algorithm and for paths that need escaping or hex encoding; damage is caught.

// Output of PostgreSQL tools, shown in assertion messages only.
#![allow(clippy::disallowed_methods)]

mod common;

use corepool_backup::lsn::Lsn;
use corepool_backup::manifest::{ChecksumAlgorithm, FileChecksum, ManifestWriter, WalRange};
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::process::Command;

/// Files of a small fake backup: relative path and content.
fn files() -> Vec<(Vec<u8>, Vec<u8>)> {
    vec![
        (
            b"backup_label".to_vec(),
            b"START WAL LOCATION: 0/2000028\n".to_vec(),
        ),
        (b"PG_VERSION".to_vec(), b"15\n".to_vec()),
        (b"global/pg_control".to_vec(), vec![7; 8192]),
        (
            b"base/1/1259".to_vec(),
            (0..40_000u32).map(|i| i as u8).collect(),
        ),
        (b"base/1/empty".to_vec(), Vec::new()),
        (b"odd/a \"quoted\" \\ name\t!".to_vec(), b"x".to_vec()),
        (b"odd/caf\xc3\xa9".to_vec(), b"utf8".to_vec()),
        (b"odd/latin1-\xe9".to_vec(), b"not utf8".to_vec()),
    ]
}

fn write_backup(dir: &Path, algorithm: ChecksumAlgorithm, force_encode: bool) {
    let mut manifest = ManifestWriter::new(force_encode);
    for (path, content) in files() {
        let full = dir.join(OsStr::from_bytes(&path));
        std::fs::create_dir_all(full.parent().unwrap()).unwrap();
        std::fs::write(&full, &content).unwrap();
        let mut sum = FileChecksum::new(algorithm);
        for piece in content.chunks(1000) {
            sum.update(piece);
        }
        manifest.add_file(&path, content.len() as u64, 1_700_000_000, &sum.finish());
    }
    std::fs::create_dir_all(dir.join("pg_wal/archive_status")).unwrap();
    // Ignored by the verifier like pg_basebackup -R's output.
    std::fs::write(dir.join("standby.signal"), b"").unwrap();
    let ranges = [WalRange {
        timeline: 1,
        start: Lsn(0x200_0028),
        end: Lsn(0x200_0100),
    }];
    std::fs::write(dir.join("backup_manifest"), manifest.finish(&ranges)).unwrap();
}

fn verify(bin: &Path, dir: &Path) -> (bool, String) {
    let out = Command::new(bin)
        .arg("--no-parse-wal")
        .arg(dir)
        .output()
        .expect("run pg_verifybackup");
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.success(), text)
}

#[test]
fn pg_verifybackup_accepts_our_manifests() {
    let Some(bin) = common::require_binary("pg_verifybackup") else {
        return;
    };
    for algorithm in [
        ChecksumAlgorithm::None,
        ChecksumAlgorithm::Crc32c,
        ChecksumAlgorithm::Sha224,
        ChecksumAlgorithm::Sha256,
        ChecksumAlgorithm::Sha384,
        ChecksumAlgorithm::Sha512,
    ] {
        for force_encode in [false, true] {
            let dir = tempfile::tempdir().unwrap();
            write_backup(dir.path(), algorithm, force_encode);
            let (ok, text) = verify(&bin, dir.path());
            assert!(ok, "{algorithm} force_encode={force_encode}: {text}");
        }
    }
}

#[test]
fn pg_verifybackup_catches_damage() {
    let Some(bin) = common::require_binary("pg_verifybackup") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    write_backup(dir.path(), ChecksumAlgorithm::Crc32c, false);
    let victim = dir.path().join("base/1/1259");
    let mut content = std::fs::read(&victim).unwrap();
    content[1234] ^= 1;
    std::fs::write(&victim, &content).unwrap();
    let (ok, text) = verify(&bin, dir.path());
    assert!(!ok);
    assert!(text.contains("checksum mismatch"), "{text}");

    // A file missing from the manifest is reported too.
    let dir = tempfile::tempdir().unwrap();
    write_backup(dir.path(), ChecksumAlgorithm::Sha256, false);
    std::fs::write(dir.path().join("base/1/extra"), b"?").unwrap();
    let (ok, text) = verify(&bin, dir.path());
    assert!(!ok);
    assert!(
        text.contains("is present on disk but not in the manifest"),
        "{text}"
    );
}
