//! Tests of page checksums against pages written by a real PostgreSQL 15 and a literal reference.

use super::*;
use proptest::prelude::*;

/// Block 0 and 5 of a heap and block 2 of its free space map, copied from a stopped
/// `initdb --data-checksums` PostgreSQL 15.18 cluster that `pg_checksums --check` accepted.
const HEAP_BLK0: &[u8] = include_bytes!("../tests/fixtures/heap_blk0.page");
const HEAP_BLK5: &[u8] = include_bytes!("../tests/fixtures/heap_blk5.page");
const FSM_BLK2: &[u8] = include_bytes!("../tests/fixtures/fsm_blk2.page");

/// A literal transcription of `checksum_impl.h`: the page as `uint32 data[BLCKSZ/128][N_SUMS]`
/// in a mutable copy with `pd_checksum` cleared, nested index loops, then the two zero rounds.
fn reference_checksum(page: &[u8], blkno: u32) -> u16 {
    let mut copy = page.to_vec();
    copy[8] = 0;
    copy[9] = 0;
    let words: Vec<u32> = copy
        .chunks(4)
        .map(|c| u32::from_ne_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    let mut sums = BASE_OFFSETS;
    let comp = |s: &mut u32, v: u32| {
        let tmp = *s ^ v;
        *s = tmp.wrapping_mul(FNV_PRIME) ^ (tmp >> 17);
    };
    for i in 0..words.len() / N_SUMS {
        for j in 0..N_SUMS {
            comp(&mut sums[j], words[i * N_SUMS + j]);
        }
    }
    for _ in 0..2 {
        for sum in sums.iter_mut() {
            comp(sum, 0);
        }
    }
    let mut result = 0u32;
    for sum in sums {
        result ^= sum;
    }
    result ^= blkno;
    ((result % 65535) + 1) as u16
}

#[test]
fn real_pages_verify() {
    for (page, blkno) in [(HEAP_BLK0, 0), (HEAP_BLK5, 5), (FSM_BLK2, 2)] {
        let header = PageHeader::parse(page).unwrap();
        assert!(!header.is_new());
        assert_eq!(header.page_size(), BLCKSZ);
        assert_eq!(checksum_page(page, blkno).unwrap(), header.checksum);
        assert_eq!(reference_checksum(page, blkno), header.checksum);
        let after = Lsn(header.lsn.0 + 1);
        assert_eq!(check_page(page, blkno, after), Ok(PageStatus::Valid));
        // The wrong block number is caught: block numbers are part of the checksum.
        assert!(matches!(
            check_page(page, blkno + 1, after),
            Ok(PageStatus::Mismatch { .. })
        ));
    }
    // Known values read from the pages with xxd: pd_checksum little-endian.
    assert_eq!(PageHeader::parse(HEAP_BLK5).unwrap().checksum, 0xE313);
    assert_eq!(PageHeader::parse(FSM_BLK2).unwrap().checksum, 0x6562);
}

#[test]
fn verification_rule() {
    let header = PageHeader::parse(HEAP_BLK5).unwrap();
    let start = Lsn(header.lsn.0 + 1);
    assert_eq!(
        verify_page(HEAP_BLK5, 5, start, Attempt::First),
        Ok(Decision::Pass(PageStatus::Valid))
    );
    // A page changed after the backup started is not checked at all, even if torn.
    let mut torn = HEAP_BLK5.to_vec();
    torn[4000] ^= 0xFF;
    assert_eq!(
        verify_page(&torn, 5, header.lsn, Attempt::First),
        Ok(Decision::Pass(PageStatus::NewerThanBackupStart))
    );
    assert_eq!(
        verify_page(&torn, 5, start, Attempt::First),
        Ok(Decision::Reread)
    );
    let Ok(Decision::Fail {
        calculated,
        expected,
    }) = verify_page(&torn, 5, start, Attempt::Reread)
    else {
        panic!("torn page passed on re-read");
    };
    assert_eq!(expected, 0xE313);
    assert_eq!(calculated, reference_checksum(&torn, 5));
    // New pages (pd_upper == 0) pass without a checksum, even when not all zeros.
    let zeros = vec![0u8; BLCKSZ];
    assert!(is_all_zeros(&zeros));
    assert_eq!(
        verify_page(&zeros, 1, start, Attempt::Reread),
        Ok(Decision::Pass(PageStatus::New))
    );
    let mut new_page = zeros.clone();
    new_page[100] = 1;
    assert!(!is_all_zeros(&new_page));
    assert_eq!(check_page(&new_page, 1, start), Ok(PageStatus::New));
    // Short buffers are errors, never panics.
    assert!(check_page(&HEAP_BLK5[..10], 5, start).is_err());
    assert!(checksum_page(&HEAP_BLK5[..200], 5).is_err());
    assert!(checksum_page(&[], 5).is_err());
    assert!(read_is_verifiable(3 * BLCKSZ, BLCKSZ));
    assert!(!read_is_verifiable(BLCKSZ + 512, BLCKSZ));
    assert!(!read_is_verifiable(0, 0));
}

#[test]
fn checksummed_files() {
    let c = |tree, p: &str| ChecksummedFile::classify(tree, p.as_bytes());
    let seg = |n| Ok(Some(ChecksummedFile { segno: n }));
    assert_eq!(c(Tree::DataDir, "base/5/16384"), seg(0));
    assert_eq!(c(Tree::DataDir, "base/5/16384_fsm.3"), seg(3));
    assert_eq!(c(Tree::DataDir, "global/1262"), seg(0));
    assert_eq!(c(Tree::DataDir, "global/pg_control"), Ok(None));
    assert_eq!(c(Tree::DataDir, "global/pg_filenode.map"), Ok(None));
    assert_eq!(c(Tree::DataDir, "base/5/pg_internal.init.77"), Ok(None));
    assert_eq!(c(Tree::DataDir, "base/5/PG_VERSION"), Ok(None));
    assert_eq!(c(Tree::DataDir, "pg_xact/0000"), Ok(None));
    assert_eq!(c(Tree::DataDir, "PG_VERSION"), Ok(None));
    assert_eq!(c(Tree::DataDir, "basement/1"), Ok(None));
    assert_eq!(c(Tree::Tablespace, "PG_15_202209061/5/16393.12"), seg(12));
    assert!(c(Tree::DataDir, "base/5/16384.0").is_err());
    assert!(c(Tree::DataDir, "base/5/notes.txt").is_err());
    assert!(c(Tree::DataDir, "base/5/1.99999999999").is_err());
    let file = ChecksummedFile { segno: 2 };
    assert_eq!(file.block_number(7, RELSEG_SIZE), 2 * RELSEG_SIZE + 7);
    let huge = ChecksummedFile { segno: u32::MAX };
    let _ = huge.block_number(u32::MAX, RELSEG_SIZE);
}

#[test]
fn failure_reports() {
    let mut count = FailureCount::default();
    let reports: Vec<Report> = (0..7).map(|_| count.record()).collect();
    assert_eq!(
        reports,
        [
            Report::Warn,
            Report::Warn,
            Report::Warn,
            Report::Warn,
            Report::WarnLast,
            Report::Silent,
            Report::Silent
        ]
    );
    assert_eq!(count.count(), 7);
}

proptest! {
    #[test]
    fn matches_reference(seed in any::<u64>(), blkno in any::<u32>()) {
        let mut page = vec![0u8; BLCKSZ];
        let mut x = seed | 1;
        for b in page.iter_mut() {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            *b = x as u8;
        }
        let sum = checksum_page(&page, blkno).unwrap();
        prop_assert_eq!(sum, reference_checksum(&page, blkno));
        prop_assert_ne!(sum, 0);
        // The stored checksum does not feed into itself.
        page[8] ^= 0x5A;
        prop_assert_eq!(checksum_page(&page, blkno).unwrap(), sum);
    }

    #[test]
    fn other_page_sizes(rows in 1usize..200, blkno in any::<u32>()) {
        let page: Vec<u8> = (0..rows * 128).map(|i| (i * 31 % 251) as u8).collect();
        prop_assert_eq!(checksum_page(&page, blkno).unwrap(), reference_checksum(&page, blkno));
    }

    #[test]
    fn never_panics(page in proptest::collection::vec(any::<u8>(), 0..300), blkno in any::<u32>()) {
        let _ = check_page(&page, blkno, Lsn(u64::MAX));
        let _ = PageHeader::parse(&page);
    }
}
