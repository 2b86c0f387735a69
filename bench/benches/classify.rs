//! Criterion bench of the SQL classifier on the query path: ns per statement.
//!
//! Run: `cargo bench -p corepool-bench --bench classify -- --warm-up-time 1 --measurement-time 3`
//!
//! Groups: `simple` (the two statements every pgbench/ORM workload is made of, alone),
//! `mix` (24 real statements classified in turn; reported per statement), `split` (the mix
//! joined into one multi-statement string) and `lex` (the lexer alone over the mix).
//!
//! `simple_best` and `mix_best` time the same work in short chunks (about 30 µs) and report the
//! fastest chunk: on a shared, oversubscribed host (the development box runs at load 10-50 on 2
//! cores) preempted chunks inflate the wall-clock means several times over, and the best chunk
//! is the closer estimate of what the code costs on an idle core.

use std::time::{Duration, Instant};

use criterion::{black_box, criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};

use corepool_protocol::sql::{classify, split, Lexer};

const SIMPLE: &[(&str, &str)] = &[
    ("select_star_where_id", "SELECT * FROM t WHERE id = 1"),
    (
        "pgbench_select",
        "SELECT abalance FROM pgbench_accounts WHERE aid = $1",
    ),
];

const MIX: &[&str] = &[
    // pgbench -S and TPC-B.
    "SELECT abalance FROM pgbench_accounts WHERE aid = $1;",
    "UPDATE pgbench_accounts SET abalance = abalance + $1 WHERE aid = $2;",
    "UPDATE pgbench_tellers SET tbalance = tbalance + $1 WHERE tid = $2;",
    "UPDATE pgbench_branches SET bbalance = bbalance + $1 WHERE bid = $2;",
    "INSERT INTO pgbench_history (tid, bid, aid, delta, mtime) VALUES ($1, $2, $3, $4, CURRENT_TIMESTAMP);",
    "BEGIN;",
    "END;",
    "COMMIT",
    "BEGIN ISOLATION LEVEL SERIALIZABLE READ ONLY",
    "SET application_name = 'PostgreSQL JDBC Driver'",
    "SHOW TRANSACTION ISOLATION LEVEL",
    // ORMs.
    r#"SELECT "users".* FROM "users" WHERE "users"."id" = $1 LIMIT $2"#,
    r#"INSERT INTO "users" ("name", "created_at", "updated_at") VALUES ($1, $2, $3) RETURNING "id""#,
    "select u1_0.id,u1_0.name,u1_0.email from users u1_0 join orders o1_0 on o1_0.user_id=u1_0.id where u1_0.id=$1 for update",
    "select nextval('hibernate_sequence')",
    // psql catalog queries.
    "SELECT c.oid, n.nspname, c.relname FROM pg_catalog.pg_class c LEFT JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace WHERE c.relname OPERATOR(pg_catalog.~) '^(pgbench_accounts)$' COLLATE pg_catalog.default AND pg_catalog.pg_table_is_visible(c.oid) ORDER BY 2, 3;",
    "SELECT a.attname, pg_catalog.format_type(a.atttypid, a.atttypmod), (SELECT pg_catalog.pg_get_expr(d.adbin, d.adrelid, true) FROM pg_catalog.pg_attrdef d WHERE d.adrelid = a.attrelid AND d.adnum = a.attnum AND a.atthasdef), a.attnotnull FROM pg_catalog.pg_attribute a WHERE a.attrelid = '16384' AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum;",
    "SELECT d.datname as \"Name\", pg_catalog.pg_get_userbyid(d.datdba) as \"Owner\", pg_catalog.pg_encoding_to_char(d.encoding) as \"Encoding\" FROM pg_catalog.pg_database d ORDER BY 1;",
    // CTEs.
    "WITH RECURSIVE t(n) AS (VALUES (1) UNION ALL SELECT n + 1 FROM t WHERE n < 100) SELECT sum(n) FROM t",
    "WITH moved_rows AS (DELETE FROM products WHERE \"date\" >= '2010-10-01' RETURNING *) INSERT INTO products_log SELECT * FROM moved_rows",
    // Long IN list.
    "SELECT id, name FROM items WHERE id IN (1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40, 41, 42, 43, 44, 45, 46, 47, 48, 49, 50)",
    // Other commands.
    "COPY pgbench_accounts FROM STDIN WITH (FREEZE ON)",
    "/*REPLICATION*/ SELECT * FROM t WHERE id = 1",
    "CREATE FUNCTION f(a int) RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT a + 1; END",
];

/// `iters` runs of `f`, timed as `iters` times the fastest per-run time over `chunk`-run chunks
/// (pick `chunk` so a chunk takes some tens of microseconds, well under a scheduler slice).
fn best_of_chunks(iters: u64, chunk: u64, mut f: impl FnMut()) -> Duration {
    let mut best = f64::MAX;
    let mut done = 0;
    while done < iters {
        let n = chunk.min(iters - done);
        let start = Instant::now();
        for _ in 0..n {
            f();
        }
        best = best.min(start.elapsed().as_secs_f64() / n as f64);
        done += n;
    }
    Duration::from_secs_f64(best * iters as f64)
}

fn bench_simple(c: &mut Criterion) {
    let mut group = c.benchmark_group("simple");
    group.throughput(Throughput::Elements(1));
    for (name, sql) in SIMPLE {
        group.bench_with_input(BenchmarkId::new("classify", name), sql, |b, sql| {
            b.iter(|| classify(black_box(sql)).map(|c| c.kind))
        });
    }
    group.finish();

    let mut group = c.benchmark_group("simple_best");
    group.throughput(Throughput::Elements(1));
    for (name, sql) in SIMPLE {
        group.bench_with_input(BenchmarkId::new("classify", name), sql, |b, sql| {
            b.iter_custom(|iters| {
                best_of_chunks(iters, 256, || {
                    let _ = black_box(classify(black_box(sql)).map(|c| c.kind));
                })
            })
        });
    }
    group.finish();
}

fn bench_mix(c: &mut Criterion) {
    let mut group = c.benchmark_group("mix");
    group.throughput(Throughput::Elements(MIX.len() as u64));
    group.bench_function("classify", |b| {
        b.iter(|| {
            for sql in MIX {
                let _ = black_box(classify(black_box(sql)));
            }
        })
    });
    group.bench_function("lex", |b| {
        b.iter(|| {
            for sql in MIX {
                black_box(Lexer::new(black_box(sql)).count());
            }
        })
    });
    group.finish();

    let mut group = c.benchmark_group("mix_best");
    group.throughput(Throughput::Elements(MIX.len() as u64));
    group.bench_function("classify", |b| {
        b.iter_custom(|iters| {
            best_of_chunks(iters, 4, || {
                for sql in MIX {
                    let _ = black_box(classify(black_box(sql)));
                }
            })
        })
    });
    group.finish();

    let joined = MIX.join("\n;\n");
    let mut group = c.benchmark_group("split");
    group.throughput(Throughput::Bytes(joined.len() as u64));
    group.bench_function("mix_joined", |b| {
        b.iter(|| split(black_box(&joined)).count())
    });
    group.finish();
}

criterion_group!(benches, bench_simple, bench_mix);
criterion_main!(benches);
