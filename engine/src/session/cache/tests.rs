//! Unit tests of the session's cache state: keys, settings, extended-protocol shapes and the
//! writes handed to the relay.

use std::sync::Arc;

use bytes::BytesMut;
use corepool_protocol::message::write::frontend as fe;
use corepool_protocol::message::{Format, Target};

use super::analyze::analyze;
use super::CacheState;
use crate::query_cache::{QueryCache, Settings};

fn state(user: &str, params: &[(&str, &str)]) -> CacheState {
    let cache = Arc::new(QueryCache::new(Settings::default()));
    CacheState::new(cache, user, "db", params)
}

#[test]
fn keys_differ_by_user_startup_parameters_and_settings() {
    let a = state("alice", &[("application_name", "x")]);
    let b = state("alice", &[("application_name", "y")]);
    assert_eq!(a.key(b'Q', b"SELECT 1\0"), b.key(b'Q', b"SELECT 1\0"));
    let bob = state("bob", &[]);
    assert_ne!(a.key(b'Q', b"SELECT 1\0"), bob.key(b'Q', b"SELECT 1\0"));
    let opts = state("alice", &[("options", "-c search_path=s1")]);
    assert_ne!(a.key(b'Q', b"SELECT 1\0"), opts.key(b'Q', b"SELECT 1\0"));

    let mut s = state("alice", &[]);
    let plain = s.key(b'Q', b"q\0");
    s.apply(&analyze("SET search_path = s1"), true);
    let s1 = s.key(b'Q', b"q\0");
    assert_ne!(plain, s1);
    s.apply(&analyze("SET search_path = s2"), true);
    assert_ne!(s.key(b'Q', b"q\0"), s1);
    s.apply(&analyze("RESET search_path"), true);
    assert_eq!(s.key(b'Q', b"q\0"), plain);
    assert!(!s.off);
    s.apply(&analyze("SET role = bob"), false);
    assert!(s.off, "a SET that may be undone stops caching");
}

#[test]
fn writes_are_handed_to_the_relay() {
    let mut s = state("alice", &[]);
    s.apply(&analyze("UPDATE t SET a = 1"), true);
    assert_eq!(s.track.pending.len(), 1);
    s.apply(&analyze("PREPARE w AS DELETE FROM u"), true);
    assert_eq!(s.track.pending.len(), 1, "PREPARE writes nothing yet");
    s.apply(&analyze("EXECUTE w"), true);
    assert_eq!(s.track.pending.len(), 2);
    s.apply(&analyze("DO $$ BEGIN END $$"), true);
    assert_eq!(s.track.pending.len(), 3, "everything");
}

fn run(named: &str, max_rows: i32, describe: bool) -> BytesMut {
    let mut out = BytesMut::new();
    fe::parse(named, "SELECT a FROM t WHERE b = $1", [], &mut out).unwrap();
    fe::bind(
        "",
        named,
        [Format::Text],
        [Some(&b"1"[..])],
        [Format::Text],
        &mut out,
    )
    .unwrap();
    if describe {
        fe::describe(Target::Portal, "", &mut out).unwrap();
    }
    fe::execute("", max_rows, &mut out).unwrap();
    fe::sync(&mut out);
    out
}

#[test]
fn only_simple_extended_runs_are_cacheable() {
    let mut s = state("alice", &[]);
    let whole = run("", 0, true);
    let (len, read, _) = s.extended(&whole).expect("cacheable");
    assert_eq!(len, whole.len());
    assert_eq!(read.relations[0].table, "t");
    assert!(s.extended(&run("", 0, false)).is_some());
    assert!(s.extended(&run("s1", 0, true)).is_none(), "named statement");
    assert!(s.extended(&run("", 10, true)).is_none(), "row limit");
    assert!(
        s.extended(&whole[..whole.len() - 5]).is_none(),
        "no Sync yet"
    );

    // A named statement this session parsed: its Bind … Sync runs are cacheable, keyed with
    // its Parse; after Close they are not.
    let mut out = BytesMut::new();
    fe::parse("s1", "SELECT a FROM t WHERE b = $1", [], &mut out).unwrap();
    fe::describe(Target::PreparedStatement, "s1", &mut out).unwrap();
    fe::sync(&mut out);
    assert!(s.extended(&out).is_none(), "a prepare-only run");
    let mut bind = BytesMut::new();
    fe::bind("", "s1", [], [Some(&b"1"[..])], [], &mut bind).unwrap();
    fe::execute("", 0, &mut bind).unwrap();
    fe::sync(&mut bind);
    let (_, _, parse) = s.extended(&bind).expect("cacheable");
    assert!(parse.is_some_and(|p| p.starts_with(b"s1\0SELECT")));
    let mut close = BytesMut::new();
    fe::close(Target::PreparedStatement, "s1", &mut close).unwrap();
    fe::sync(&mut close);
    assert!(s.extended(&close).is_none());
    assert!(s.extended(&bind).is_none(), "closed");

    // A named statement that writes: its Bind in a later run hands the write on.
    let mut out = BytesMut::new();
    fe::parse("w", "UPDATE t SET a = $1", [], &mut out).unwrap();
    fe::sync(&mut out);
    s.extended(&out);
    s.track.pending.clear();
    let mut bind = BytesMut::new();
    fe::bind("", "w", [], [Some(&b"1"[..])], [], &mut bind).unwrap();
    fe::execute("", 0, &mut bind).unwrap();
    fe::sync(&mut bind);
    assert!(s.extended(&bind).is_none());
    assert_eq!(s.track.pending.len(), 1);
}
