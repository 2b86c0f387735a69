//! Statements that are not enhanced DDL come back `Ok(None)`, to be forwarded untouched.

use crate::ddl::parse;

/// Ordinary statements; `{t}`, `{c}`, `{n}` and `{s}` are filled in at random. Many mention the
/// words the detector looks for, in places where they are not the enhanced clauses.
const TEMPLATES: &[&str] = &[
    "SELECT * FROM {t} WHERE {c} = {n}",
    "select {c}, count(*) from {t} group by 1 order by 2 desc limit {n};",
    "INSERT INTO {t} ({c}) VALUES ({n}), ('{s}') RETURNING *",
    "UPDATE {t} SET {c} = {c} + {n} WHERE {c} < {n}",
    "DELETE FROM {t} WHERE {c} IN (SELECT {c} FROM {t} WHERE {c} > {n})",
    "WITH pushdown AS (SELECT {n} AS {c}) SELECT * FROM pushdown",
    "CREATE TABLE {t} AS WITH pushdown AS (SELECT {n}) SELECT * FROM pushdown",
    "CREATE TABLE {t} ({c} int, include int, remote text)",
    "CREATE TABLE {t} ({c} int) PARTITION BY RANGE ({c})",
    "CREATE TABLE {t} ({c} int) PARTITION BY LIST ({c}) TABLESPACE pg_default",
    "CREATE UNLOGGED TABLE {t} ({c} int) PARTITION BY HASH ({c});",
    "CREATE TABLE {t}_p PARTITION OF {t} FOR VALUES FROM ({n}) TO ({n}0)",
    "CREATE TABLE {t}_d PARTITION OF {t} DEFAULT PARTITION BY LIST ({c})",
    "CREATE TEMP TABLE {t} ({c} int) ON COMMIT DROP",
    "CREATE FOREIGN TABLE {t} ({c} int) SERVER s1 OPTIONS (table_name '{s}')",
    "CREATE FOREIGN TABLE {t} PARTITION OF p FOR VALUES IN ({n}) SERVER s2",
    "create foreign table {t} (\"with\" int, pushdown int) server s1",
    "CREATE VIEW {t}_v AS WITH pushdown AS (SELECT 1) SELECT * FROM pushdown",
    "DROP TABLE {t}",
    "DROP TABLE IF EXISTS {t}, {t}_2 CASCADE",
    "DROP FOREIGN TABLE {t} RESTRICT;",
    "DROP TABLE include, remote",
    "DROP VIEW {t} CASCADE",
    "DROP INDEX {t}_idx",
    "ALTER TABLE {t} ATTACH PARTITION {t}_p FOR VALUES IN ({n})",
    "ALTER TABLE {t} ADD COLUMN {c} text DEFAULT '{s}'",
    "CREATE INDEX {t}_idx ON {t} ({c}) INCLUDE (remote)",
    "CREATE UNIQUE INDEX ON {t} ({c}) INCLUDE ({c}) WHERE {c} > {n}",
    "CREATE SERVER s{n} FOREIGN DATA WRAPPER postgres_fdw OPTIONS (host 'h{n}', port '5432')",
    "CREATE USER MAPPING FOR CURRENT_USER SERVER s{n} OPTIONS (user '{s}')",
    "CREATE EXTENSION IF NOT EXISTS postgres_fdw",
    "COPY {t} FROM STDIN WITH (FORMAT csv)",
    "EXPLAIN ANALYZE SELECT * FROM {t} WHERE {c} = {n}",
    "BEGIN",
    "COMMIT;",
    "SET search_path = public, \"{s}\"",
    "SELECT 'DROP TABLE {t} INCLUDE REMOTE'",
    "SELECT $$CREATE FOREIGN TABLE {t} (a int) SERVER s WITH PUSHDOWN$$",
    "-- DROP TABLE {t} INCLUDE REMOTE\nSELECT {n}",
    "/* CREATE TABLE t (a int) PARTITION BY RANGE (a) (PARTITION p DEFAULT) */ SELECT 1",
    "CREATE FUNCTION f{n}() RETURNS int LANGUAGE sql AS $$ SELECT {n} $$",
    "DO $$ BEGIN EXECUTE 'DROP TABLE {t} INCLUDE REMOTE'; END $$",
    "CREATE MATERIALIZED VIEW {t}_mv AS SELECT * FROM {t} WITH DATA",
    "GRANT SELECT ON {t} TO public",
    "VACUUM (ANALYZE) {t}",
    "TRUNCATE {t} RESTART IDENTITY CASCADE",
    "PREPARE q{n} AS SELECT * FROM {t} WHERE {c} = $1",
    "LISTEN {t}",
    "",
    "   ;  ",
];

const NAMES: &[&str] = &[
    "orders",
    "t",
    "\"Mixed Case\"",
    "public.items",
    "partition",
    "remote",
    "include",
    "pushdown",
    "prt_com1",
    "tf1_f",
    "s.\"T\"",
    "données",
];

/// A small deterministic generator (xorshift64*), so the 200 statements are the same each run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> usize {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 33) as usize
    }

    fn pick<'a>(&mut self, from: &[&'a str]) -> &'a str {
        from[self.next() % from.len()]
    }
}

fn statement(rng: &mut Rng) -> String {
    let template = rng.pick(TEMPLATES);
    let table = rng.pick(NAMES);
    let column = rng.pick(&["a", "id", "remote", "pushdown", "\"PARTITION\""]);
    let n = (rng.next() % 1000).to_string();
    let s = rng.pick(&["x", "it''s", "DROP TABLE t INCLUDE REMOTE", "WITH PUSHDOWN"]);
    template
        .replace("{t}", table)
        .replace("{c}", column)
        .replace("{n}", &n)
        .replace("{s}", s)
}

#[test]
fn two_hundred_ordinary_statements_are_not_ours() {
    let mut rng = Rng(0x5eed_1234_abcd_0001);
    for _ in 0..200 {
        let sql = statement(&mut rng);
        assert_eq!(parse(&sql), Ok(None), "{sql}");
    }
    for template in TEMPLATES {
        let sql = statement(&mut Rng(template.len() as u64 + 1));
        assert_eq!(parse(&sql), Ok(None), "{sql}");
    }
}

#[test]
fn near_misses_are_left_to_postgres() {
    // These look close to the enhanced forms but lack the clause that makes them ours;
    // PostgreSQL reports their errors itself, at the same positions corepool would.
    for sql in [
        "CREATE FOREIGN TABLE f (a int) SERVER s1 OPTIONS (table_name 'x') WITH",
        "CREATE FOREIGN TABLE f (a int) SERVER s1 WITH PUSH DOWN",
        "DROP TABLE t INCLUDE CASCADE REMOTE",
        "DROP TABLE t INCLUDE",
        "CREATE TEMP FOREIGN TABLE f (a int) SERVER s WITH PUSHDOWN",
        "CREATE TABLE t (a int) PARTITION BY RANGE a (PARTITION p DEFAULT)",
        "CREATE TABLE t (a int) PARTITION BY RANGE (a) TABLESPACE x (PARTITION p DEFAULT)",
        "CREATE TABLE t (a text DEFAULT 'x) PARTITION BY RANGE (a) (PARTITION p DEFAULT)",
        "CREATE FOREIGN TABLE f (a int[) SERVER s WITH PUSHDOWN",
        "DROP TABLE t; DROP TABLE u INCLUDE REMOTE",
    ] {
        assert_eq!(parse(sql), Ok(None), "{sql}");
    }
}
