//! Unit tests of the cache structure: hits, generations, expiry, bounds, clearing.

use std::time::{Duration, Instant};

use bytes::Bytes;

use super::*;

fn cache(total: u64, entries: u32, expire: u64) -> QueryCache {
    QueryCache::new(Settings {
        total_size: total,
        max_entries: entries,
        expire: Duration::from_secs(expire),
        max_result: 1024,
        auto_invalidation: true,
    })
}

fn put(c: &QueryCache, key: &str, tables: &[TableGen], now: Instant) -> bool {
    let snap = c.snapshot(tables);
    c.insert(
        key.as_bytes().into(),
        Bytes::from_static(b"rows"),
        snap,
        now,
    )
}

#[test]
fn a_stored_reply_is_served_until_a_table_it_read_is_written() {
    let c = cache(1 << 20, 100, 0);
    let now = Instant::now();
    let (t, u) = (c.table("db.t"), c.table("db.u"));
    assert!(c.get(b"k", now).is_none());
    assert!(put(&c, "k", std::slice::from_ref(&t), now));
    assert_eq!(c.get(b"k", now).as_deref(), Some(&b"rows"[..]));
    c.invalidate(&[u]);
    assert!(c.get(b"k", now).is_some(), "another table's write");
    c.invalidate(&[c.table("db.t")]);
    assert!(c.get(b"k", now).is_none());
    assert_eq!(c.stats().entries, 0, "the stale entry was dropped");
    assert_eq!(c.stats().hits, 2);
}

#[test]
fn a_result_read_before_a_write_is_not_stored_after_it() {
    let c = cache(1 << 20, 100, 0);
    let t = c.table("db.t");
    let snap = c.snapshot(std::slice::from_ref(&t));
    c.invalidate(&[t]);
    assert!(!c.insert(Box::from(&b"k"[..]), Bytes::new(), snap, Instant::now()));
}

#[test]
fn entries_expire() {
    let c = cache(1 << 20, 100, 60);
    let now = Instant::now();
    assert!(put(&c, "k", &[], now));
    assert!(c.get(b"k", now + Duration::from_secs(59)).is_some());
    assert!(c.get(b"k", now + Duration::from_secs(60)).is_none());
}

#[test]
fn memory_and_entry_count_are_bounded_and_unused_entries_go_first() {
    // One segment's share: 16 entries' worth of bytes over the 16 segments.
    let per_entry = (ENTRY_OVERHEAD + 8 + 4) as u64;
    let c = cache(per_entry * 2 * SEGMENTS as u64, 1_000, 0);
    let now = Instant::now();
    for i in 0..2_000 {
        assert!(put(&c, &format!("k{i:06}"), &[], now));
    }
    let s = c.stats();
    assert!(s.used_bytes <= per_entry * 2 * SEGMENTS as u64, "{s:?}");
    assert!(s.entries <= 2 * SEGMENTS as u64);
    assert_eq!(s.used_bytes + s.free_bytes, per_entry * 2 * SEGMENTS as u64);

    let c = cache(1 << 20, 32, 0);
    for i in 0..500 {
        put(&c, &format!("k{i}"), &[], now);
    }
    assert!(c.stats().entries <= 32 + SEGMENTS as u64);
}

#[test]
fn the_clock_keeps_a_used_entry_over_an_unused_one() {
    let mut s = store::Segment::new(10_000, 2);
    let now = Instant::now();
    let key = |k: &str| -> std::sync::Arc<[u8]> { k.as_bytes().into() };
    s.insert(key("a"), Bytes::new(), Snapshot::default(), now);
    s.insert(key("b"), Bytes::new(), Snapshot::default(), now);
    assert!(s.get(b"a", now, Duration::ZERO).is_some());
    s.insert(key("c"), Bytes::new(), Snapshot::default(), now);
    assert!(s.get(b"a", now, Duration::ZERO).is_some());
    assert!(s.get(b"b", now, Duration::ZERO).is_none());
    assert!(s.get(b"c", now, Duration::ZERO).is_some());
}

#[test]
fn too_large_results_are_refused_and_clear_empties_everything() {
    let c = cache(1 << 20, 100, 0);
    let now = Instant::now();
    let big = Bytes::from(vec![0u8; 1025]);
    assert!(!c.insert(Box::from(&b"big"[..]), big, c.snapshot(&[]), now));
    assert!(put(&c, "k", &[], now));
    let snap = c.snapshot(&[]);
    c.clear();
    assert!(c.get(b"k", now).is_none());
    assert_eq!(c.stats().used_bytes, 0);
    assert!(
        !c.insert(Box::from(&b"k2"[..]), Bytes::new(), snap, now),
        "read before the clear"
    );
    assert!(put(&c, "k", &[], now));
    assert!(c.remove(b"k"));
    assert!(!c.remove(b"k"));
}

#[test]
fn hash_entries_round_up_to_a_power_of_two_as_pgpool_does() {
    assert_eq!(cache(1, 100_000, 0).stats().hash_entries, 131_072);
    let c = cache(1 << 20, 100, 0);
    c.count_select();
    assert!(put(&c, "k", &[], Instant::now()));
    c.get(b"k", Instant::now());
    assert_eq!(c.stats().hit_ratio(), 0.5);
}
