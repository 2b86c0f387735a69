//! The in-memory query cache (memory_cache_enabled) through the proxy, on a real PostgreSQL:
//! hits and misses in the simple and extended protocols, every rule that keeps a SELECT out
//! of the cache, invalidation by writes in other sessions on other shards, a session's own
//! write-then-read, expiry, the memory bound, SHOW pool_cache and the in-band commands.

// Test output (psql, the pcp tool, result rows) is read as lossy text.
#![allow(clippy::disallowed_methods)]

mod common;

use std::time::Duration;

use bytes::BytesMut;
use common::{first_value, Msg, Proxy, RawClient};
use corepool_engine::cluster::CancelTable;
use corepool_engine::config::Config;
use corepool_protocol::message::backend::DataRow;
use corepool_protocol::message::write::frontend as fe;
use corepool_protocol::message::{Format, Target};

fn cache_on(c: &mut Config) {
    c.corepool_cores = 2;
    c.memory_cache_enabled = true;
    c.memqcache_maxcache = 10 * 1024;
    c.cache_unsafe_memqcache_table_list = vec!["unsafe_.*".into()];
    c.cache_safe_memqcache_table_list = vec!["safe_view".into()];
}

/// Every value of every DataRow, as text.
fn rows(msgs: &[Msg]) -> Vec<Vec<Option<String>>> {
    msgs.iter()
        .filter(|(t, _)| *t == b'D')
        .map(|(_, b)| {
            DataRow::parse(b)
                .expect("DataRow")
                .values()
                .map(|v| v.map(|v| String::from_utf8_lossy(v).into_owned()))
                .collect()
        })
        .collect()
}

fn column(msgs: &[Msg]) -> Vec<String> {
    rows(msgs)
        .into_iter()
        .map(|r| r[0].clone().unwrap_or_default())
        .collect()
}

fn no_error(msgs: &[Msg]) -> &[Msg] {
    assert_eq!(common::error_code(msgs), None, "{msgs:?}");
    msgs
}

/// SHOW pool_cache's row by column.
fn pool_cache(c: &mut RawClient) -> std::collections::HashMap<String, String> {
    let msgs = c.query("SHOW pool_cache");
    let (_, desc) = msgs
        .iter()
        .find(|(t, _)| *t == b'T')
        .expect("RowDescription");
    let names = corepool_protocol::message::backend::RowDescription::parse(desc)
        .expect("RowDescription")
        .fields()
        .map(|f| f.name.to_owned())
        .collect::<Vec<_>>();
    let row = rows(&msgs).remove(0);
    names
        .into_iter()
        .zip(row)
        .map(|(n, v)| (n, v.unwrap_or_default()))
        .collect()
}

fn hits(c: &mut RawClient) -> u64 {
    pool_cache(c)["num_cache_hits"].parse().expect("a number")
}

/// Which shard a client landed on, from the process id corepool gave it.
fn shard_of(proxy: &Proxy, startup: &[Msg]) -> usize {
    let (_, body) = startup
        .iter()
        .find(|(t, _)| *t == b'K')
        .expect("BackendKeyData");
    let pid = i32::from_be_bytes([body[0], body[1], body[2], body[3]]);
    (0..2)
        .find(|s| {
            proxy
                .state()
                .cancel
                .shard_range(*s)
                .any(|slot| CancelTable::process_id(slot) == pid)
        })
        .expect("a shard")
}

/// Two clients on different shards (clients are spread by the kernel; retry until both are).
fn two_shards(proxy: &Proxy) -> (RawClient, RawClient) {
    let (a, msgs) = RawClient::connect(proxy.port, "postgres", "postgres", &[]);
    let first = shard_of(proxy, &msgs);
    for _ in 0..64 {
        let (b, msgs) = RawClient::connect(proxy.port, "postgres", "postgres", &[]);
        if shard_of(proxy, &msgs) != first {
            return (a, b);
        }
        b.terminate();
    }
    panic!("no client landed on the second shard");
}

#[test]
fn simple_protocol_hits_rules_and_invalidation_across_shards() {
    let proxy = Proxy::start(0, |c, _| cache_on(c));
    proxy
        .psql(
            "postgres",
            "postgres",
            "CREATE TABLE t (a int); INSERT INTO t VALUES (1), (2);
             CREATE TABLE unsafe_t (a int); INSERT INTO unsafe_t VALUES (1);
             CREATE VIEW v AS SELECT a FROM t; CREATE VIEW safe_view AS SELECT a FROM t;
             CREATE UNLOGGED TABLE u (a int);
             CREATE SCHEMA s1; CREATE SCHEMA s2;
             CREATE TABLE s1.sp (a text); INSERT INTO s1.sp VALUES ('one');
             CREATE TABLE s2.sp (a text); INSERT INTO s2.sp VALUES ('two');
             CREATE ROLE bob LOGIN; GRANT SELECT ON t TO bob;",
        )
        .expect("set-up");
    let (mut a, mut b) = two_shards(&proxy);
    let q = "SELECT a FROM t ORDER BY a";

    // Miss, then hit on the same shard, then hit from the other shard (one shared cache).
    assert_eq!(column(no_error(&a.query(q))), ["1", "2"]);
    assert_eq!(hits(&mut a), 0);
    let hit = a.query(q);
    assert_eq!(column(no_error(&hit)), ["1", "2"]);
    assert_eq!(hit.last().map(|m| m.1.clone()), Some(b"I".to_vec()));
    assert_eq!(hits(&mut a), 1);
    assert_eq!(column(&b.query(q)), ["1", "2"]);
    assert_eq!(hits(&mut a), 2);

    // A write on the other shard invalidates before its reply reaches its client.
    no_error(&b.query("UPDATE t SET a = a + 10"));
    assert_eq!(column(&a.query(q)), ["11", "12"]);
    assert_eq!(hits(&mut a), 2);
    assert_eq!(column(&a.query(q)), ["11", "12"]);
    assert_eq!(hits(&mut a), 3);
    // A session's own write, then its read: never the old rows.
    for (write, want) in [
        ("INSERT INTO t VALUES (100)", vec!["11", "12", "100"]),
        ("DELETE FROM t WHERE a = 100", vec!["11", "12"]),
        ("TRUNCATE t", vec![]),
        ("INSERT INTO t VALUES (5)", vec!["5"]),
        ("ALTER TABLE t ADD COLUMN b int", vec!["5"]),
    ] {
        no_error(&a.query(write));
        assert_eq!(column(&a.query(q)), want, "after {write}");
        assert_eq!(column(&a.query(q)), want, "after {write}, cached");
    }
    // In a transaction that wrote, its own rows; committed, everyone's.
    let before = hits(&mut a);
    no_error(&a.query("BEGIN"));
    no_error(&a.query("UPDATE t SET a = 6"));
    assert_eq!(column(&a.query(q)), ["6"]);
    assert_eq!(column(&a.query(q)), ["6"]);
    assert_eq!(column(&b.query(q)), ["5"], "not committed yet");
    no_error(&a.query("COMMIT"));
    assert_eq!(column(&b.query(q)), ["6"], "committed");
    assert_eq!(
        hits(&mut a),
        before,
        "the write made every earlier entry stale"
    );

    // Never cached: each runs twice and the hit count stays.
    no_error(&a.query("CREATE TEMP TABLE tt (a int)"));
    let not_cached = [
        "SELECT random() FROM t",
        "SELECT now()",
        "SELECT a FROM tt",
        "SELECT a FROM t FOR UPDATE",
        "SELECT a FROM t FOR SHARE",
        "SELECT a FROM unsafe_t",
        "SELECT a FROM v",
        "SELECT a FROM u",
        "SELECT relname FROM pg_class WHERE relname = 't'",
        "SELECT repeat('x', 20000)",
        "SELECT 1; SELECT 2",
        "WITH w AS (UPDATE t SET a = a RETURNING a) SELECT a FROM w",
    ];
    for sql in not_cached {
        let before = hits(&mut a);
        no_error(&a.query(sql));
        no_error(&a.query(sql));
        assert_eq!(hits(&mut a), before, "{sql} was served from the cache");
    }
    // A view in cache_safe_memqcache_table_list is cached.
    let before = hits(&mut a);
    a.query("SELECT a FROM safe_view");
    a.query("SELECT a FROM safe_view");
    assert_eq!(hits(&mut a), before + 1);

    // Different search paths, users and databases never share an entry.
    let sp = "SELECT a FROM sp";
    no_error(&a.query("SET search_path = s1"));
    assert_eq!(column(&a.query(sp)), ["one"]);
    assert_eq!(column(&a.query(sp)), ["one"]);
    no_error(&a.query("SET search_path = s2"));
    assert_eq!(column(&a.query(sp)), ["two"]);
    no_error(&a.query("RESET search_path"));
    let before = hits(&mut a);
    let (mut bob, _) = RawClient::connect(proxy.port, "bob", "postgres", &[]);
    no_error(&bob.query(q));
    assert_eq!(hits(&mut a), before, "bob's first read is a miss");
    // A SET that fails, or one a ROLLBACK may undo, leaves the settings unknown: those
    // sessions stop caching.
    for setup in [
        &["SET statement_timeout = 'soon'"][..],
        &["BEGIN", "SET search_path = s1", "ROLLBACK"][..],
        &["SET search_path = s2; SELECT 1/0"][..],
    ] {
        let (mut c, _) = RawClient::connect(proxy.port, "postgres", "postgres", &[]);
        for sql in setup {
            c.query(sql);
        }
        let before = hits(&mut a);
        c.query(q);
        c.query(q);
        assert_eq!(hits(&mut a), before, "after {setup:?}");
    }
    // set_config() changes what corepool cannot follow: that session stops caching.
    no_error(&b.query("SELECT set_config('search_path', 's1', false)"));
    let before = hits(&mut a);
    b.query(q);
    b.query(q);
    assert_eq!(hits(&mut a), before);

    // SHOW pool_cache, PGPOOL SET CACHE DELETE, PGPOOL INVALIDATE QUERY CACHE.
    let stats = pool_cache(&mut a);
    assert_eq!(stats.len(), 9, "{stats:?}");
    assert_eq!(stats["num_hash_entries"], "1048576");
    assert!(stats["num_cache_entries"].parse::<u64>().unwrap() > 0);
    assert!(stats["cache_hit_ratio"].starts_with("0."), "{stats:?}");
    assert_eq!(stats["fragment_cache_entries_size"], "0");
    a.query("SELECT 42");
    let deleted = a.query("PGPOOL SET CACHE DELETE 'SELECT 42'");
    assert!(
        String::from_utf8_lossy(&deleted[0].1).contains("query cache deleted"),
        "{deleted:?}"
    );
    let before = hits(&mut a);
    a.query("SELECT 42");
    assert_eq!(hits(&mut a), before, "deleted");
    no_error(&a.query("PGPOOL INVALIDATE QUERY CACHE"));
    assert_eq!(pool_cache(&mut a)["num_cache_entries"], "0");
}

/// Parse (unnamed) + Bind + Describe + Execute + Sync with one text parameter.
fn extended(c: &mut RawClient, sql: &str, param: &str) -> Vec<Msg> {
    let mut out = BytesMut::new();
    fe::parse("", sql, [], &mut out).expect("parse");
    fe::bind(
        "",
        "",
        [Format::Text],
        [Some(param.as_bytes())],
        [Format::Text],
        &mut out,
    )
    .expect("bind");
    fe::describe(Target::Portal, "", &mut out).expect("describe");
    fe::execute("", 0, &mut out).expect("execute");
    fe::sync(&mut out);
    c.send(&out);
    c.read_until_ready()
}

#[test]
fn extended_protocol_expiry_and_the_memory_bound() {
    let proxy = Proxy::start(0, |c, _| {
        cache_on(c);
        c.memqcache_expire = Duration::from_secs(2);
        c.memqcache_total_size = 64 * 1024;
    });
    proxy
        .psql(
            "postgres",
            "postgres",
            "CREATE TABLE e (id int, v text); INSERT INTO e VALUES (1, 'a'), (2, 'b');",
        )
        .expect("set-up");
    let (mut a, mut b) = two_shards(&proxy);
    let q = "SELECT v FROM e WHERE id = $1";
    let first = extended(&mut a, q, "1");
    assert_eq!(column(no_error(&first)), ["a"]);
    let hit = extended(&mut a, q, "1");
    assert_eq!(
        hit, first,
        "a hit replays ParseComplete … CommandComplete, ReadyForQuery"
    );
    assert_eq!(hits(&mut a), 1);
    assert_eq!(
        column(&extended(&mut b, q, "2")),
        ["b"],
        "parameters are in the key"
    );
    assert_eq!(hits(&mut a), 1);
    // An extended write on the other shard invalidates.
    no_error(&extended(&mut b, "UPDATE e SET v = 'c' WHERE id = $1", "1"));
    assert_eq!(column(&extended(&mut a, q, "1")), ["c"]);

    // tokio-postgres: query_typed uses the unnamed statement, query a statement it prepared
    // (Bind … Sync runs of a named statement): both are cached and see the same rows.
    let rt = common::rt();
    let before = hits(&mut a);
    rt.block_on(async {
        let client = common::connect(&proxy.conninfo("postgres", "postgres")).await;
        let prepared = client
            .prepare("SELECT v FROM e WHERE id = $1")
            .await
            .expect("prepare");
        for _ in 0..2 {
            let r = client
                .query_typed(
                    "SELECT v FROM e WHERE id = $1",
                    &[(&2i32, tokio_postgres::types::Type::INT4)],
                )
                .await
                .expect("query_typed");
            assert_eq!(r[0].get::<_, String>(0), "b");
            let r = client.query(&prepared, &[&1i32]).await.expect("query");
            assert_eq!(r[0].get::<_, String>(0), "c");
        }
        // A write through the named path invalidates too.
        let update = client
            .prepare("UPDATE e SET v = $1 WHERE id = 1")
            .await
            .expect("prepare");
        client.execute(&update, &[&"d"]).await.expect("update");
        let r = client.query(&prepared, &[&1i32]).await.expect("query");
        assert_eq!(r[0].get::<_, String>(0), "d");
    });
    assert_eq!(hits(&mut a), before + 2, "the second round hit both");

    // Expiry.
    a.query("SELECT v FROM e ORDER BY id");
    let before = hits(&mut a);
    a.query("SELECT v FROM e ORDER BY id");
    assert_eq!(hits(&mut a), before + 1);
    std::thread::sleep(Duration::from_millis(2200));
    a.query("SELECT v FROM e ORDER BY id");
    assert_eq!(hits(&mut a), before + 1, "expired");

    // The memory bound: 500 distinct results of ~1 kB in 64 kB.
    for i in 0..500 {
        no_error(&a.query(&format!("SELECT repeat('x', 1000), {i}")));
    }
    let stats = pool_cache(&mut a);
    let used: u64 = stats["used_cache_entries_size"].parse().unwrap();
    let free: u64 = stats["free_cache_entries_size"].parse().unwrap();
    assert!(used <= 64 * 1024, "{stats:?}");
    assert_eq!(used + free, 64 * 1024);
    let entries: u64 = stats["num_cache_entries"].parse().unwrap();
    assert!((10..100).contains(&entries), "{stats:?}");
    // The most recent one is still there.
    let before = hits(&mut a);
    assert_eq!(
        first_value(&a.query("SELECT repeat('x', 1000), 499")).map(|v| v.len()),
        Some(1000)
    );
    assert_eq!(hits(&mut a), before + 1);
}

#[test]
fn routing_sessions_and_transaction_pooling_invalidate_and_hit() {
    // Streaming replication with load balancing; the standby has weight 0, so reads go to the
    // primary and the test never waits for replay.
    let proxy = Proxy::start(1, |c, _| {
        cache_on(c);
        c.backends[1].weight = 0.0;
        c.pooling.per_user = vec![(
            "txuser".into(),
            corepool_engine::config::PoolMode::Transaction,
        )];
    });
    proxy
        .psql(
            "postgres",
            "postgres",
            "CREATE TABLE r (a int); INSERT INTO r VALUES (1);
             CREATE ROLE txuser LOGIN SUPERUSER;",
        )
        .expect("set-up");
    let q = "SELECT a FROM r";
    let (mut a, _) = RawClient::connect(proxy.port, "postgres", "postgres", &[]);
    let (mut tx, _) = RawClient::connect(proxy.port, "txuser", "postgres", &[]);
    assert_eq!(column(no_error(&a.query(q))), ["1"]);
    assert_eq!(column(no_error(&a.query(q))), ["1"]);
    assert_eq!(hits(&mut a), 1, "a routing session stores and hits");
    // A transaction-pooled session's write invalidates; its own reads hit too.
    no_error(&tx.query("UPDATE r SET a = 2"));
    assert_eq!(column(&a.query(q)), ["2"]);
    assert_eq!(column(&tx.query(q)), ["2"]);
    assert_eq!(hits(&mut a), 1, "another user's key");
    assert_eq!(column(&tx.query(q)), ["2"]);
    assert_eq!(
        hits(&mut a),
        2,
        "the transaction-pooled session hits its own entry"
    );
    no_error(&tx.query("BEGIN"));
    no_error(&tx.query("INSERT INTO r VALUES (3)"));
    no_error(&tx.query("COMMIT"));
    let mut got = column(&a.query("SELECT a FROM r ORDER BY a"));
    got.sort();
    assert_eq!(got, ["2", "3"]);

    // Once the writer has its reply, no reader anywhere sees the old value.
    let (mut w, mut r) = two_shards(&proxy);
    no_error(&w.query("CREATE TABLE c (n int); INSERT INTO c VALUES (0)"));
    for i in 1..=200 {
        assert_eq!(column(&r.query("SELECT n FROM c")), [(i - 1).to_string()]);
        no_error(&w.query(&format!("UPDATE c SET n = {i}")));
        assert_eq!(
            column(&r.query("SELECT n FROM c")),
            [i.to_string()],
            "round {i}"
        );
        assert_eq!(
            column(&w.query("SELECT n FROM c")),
            [i.to_string()],
            "round {i}"
        );
    }
    assert!(
        hits(&mut r) > 200,
        "the reads between writes were served from the cache"
    );

    // A table re-created as a view on another core: the view is not cached.
    no_error(&w.query("CREATE TABLE rv (a int); INSERT INTO rv VALUES (1)"));
    r.query("SELECT a FROM rv");
    r.query("SELECT a FROM rv");
    let before = hits(&mut r);
    no_error(&w.query("DROP TABLE rv"));
    no_error(&w.query("CREATE VIEW rv AS SELECT n AS a FROM c"));
    for _ in 0..2 {
        assert_eq!(column(&r.query("SELECT a FROM rv")), ["200"]);
    }
    assert_eq!(hits(&mut r), before);
}
