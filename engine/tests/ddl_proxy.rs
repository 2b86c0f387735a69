//! HighGo's sharding DDL through the proxy: psql (and tokio-postgres) to corepool in front of a
//! real local server, with two real foreign servers S1 and S2. The same examples and checks as
//! `corepool ddl` (cli/tests/ddl_guide.rs), and what only the wire shows.

mod common;
#[path = "../../ddl/tests/fixture/mod.rs"]
mod fixture;

use common::{connect, rt, Proxy};
use corepool_testkit::Cluster;
use fixture::{checks, Outcome, Remotes, Runner};

/// psql through corepool (without -q, so command tags are printed as the guide shows them).
struct Psql<'a> {
    proxy: &'a Proxy,
}

impl Psql<'_> {
    fn run_commands(&self, db: &str, commands: &[&str]) -> Outcome {
        let mut cmd = self.proxy.cluster.command("psql");
        cmd.args(["-X", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1"])
            .args([
                "-p",
                &self.proxy.port.to_string(),
                "-U",
                "postgres",
                "-d",
                db,
            ])
            .env("PGCONNECT_TIMEOUT", "10");
        for c in commands {
            cmd.args(["-c", c]);
        }
        Outcome::from_output(cmd.output().expect("psql runs"))
    }
}

impl Runner for Psql<'_> {
    fn run(&self, db: &str, sql: &str) -> Outcome {
        self.run_commands(db, &[sql])
    }

    fn position_text(&self, _position: usize) -> String {
        // psql shows the P field as the line and a caret under the character.
        "LINE 1: DROP TABLE t INCLUDE REMOTE CASCADE".to_owned()
    }
}

fn proxy() -> Proxy {
    Proxy::start_on(
        Cluster::builder().start().expect("local cluster starts"),
        |_, _| {},
    )
}

#[test]
fn ddl_proxy_guide_examples_match_the_hand_written_statements() {
    let (proxy, remotes) = (proxy(), Remotes::start());
    fixture::guide_suite(&Psql { proxy: &proxy }, proxy.primary(), &remotes);
}

#[test]
fn ddl_proxy_errors_cascade_and_undo() {
    let (proxy, remotes) = (proxy(), Remotes::start());
    let (psql, node) = (Psql { proxy: &proxy }, proxy.primary());
    checks::errors(&psql, node, &remotes, "errs");
    checks::cascade(&psql, node, &remotes, "casc");
    checks::undo(&psql, node, &remotes, "undo");

    // Inside a transaction block: remote work is refused, local-only syntax runs in it.
    let out = psql
        .run_commands(
            "casc",
            &[
                "BEGIN",
                "CREATE FOREIGN TABLE x (a int) SERVER S1 WITH PUSHDOWN",
            ],
        )
        .expect_error("in a transaction block");
    assert!(
        out.stderr
            .contains("WITH PUSHDOWN cannot run inside a transaction block"),
        "{}",
        out.stderr
    );
    let out = psql
        .run_commands(
            "casc",
            &[
                "BEGIN",
                "CREATE TABLE tx (a int) PARTITION BY LIST (a) (PARTITION tx1 FOR VALUES IN (1))",
                "ROLLBACK",
            ],
        )
        .expect_ok("local-only in a transaction");
    assert_eq!(out.stdout, "BEGIN\nCREATE TABLE\nROLLBACK");
    assert_eq!(checks::tables(node, "casc"), "");
    // Everything else passes through untouched.
    let out = psql
        .run("casc", "SELECT 'PARTITION BY' AS x")
        .expect_ok("plain select");
    assert_eq!(out.stdout, "PARTITION BY");
}

#[test]
fn ddl_proxy_error_fields_on_the_wire() {
    let (proxy, remotes) = (proxy(), Remotes::start());
    fixture::prepare(proxy.primary(), &remotes, "wire");
    rt().block_on(async {
        let client = connect(&proxy.conninfo("wire", "postgres")).await;
        // A syntax error carries PostgreSQL's SQLSTATE and 1-based position.
        let e = client.simple_query("DROP TABLE t INCLUDE REMOTE CASCADE").await.unwrap_err();
        let db = e.as_db_error().expect("server error");
        assert_eq!(db.code().code(), "42601");
        assert_eq!(db.message(), "syntax error at or near \"CASCADE\"");
        assert_eq!(db.position(), Some(&tokio_postgres::error::ErrorPosition::Original(29)));
        // HighGo's semantic errors carry no position.
        let e = client
            .simple_query("CREATE TEMP TABLE t (a int) PARTITION BY RANGE (a) (PARTITION t1 DEFAULT SERVER S1 WITH PUSHDOWN)")
            .await
            .unwrap_err();
        let db = e.as_db_error().expect("server error");
        assert_eq!(db.code().code(), "42P16");
        assert_eq!(db.message(), "WITH PUSHDOWN is only allowed for permanent relations");
        assert_eq!(db.position(), None);
        // The session goes on: a pushdown and its tag, then a remote failure with its DETAIL.
        let sql = "CREATE FOREIGN TABLE f (i int) SERVER S1 OPTIONS (table_name 'f_data') WITH PUSHDOWN";
        let done = client.simple_query(sql).await.expect("pushdown");
        assert!(matches!(done.last(), Some(tokio_postgres::SimpleQueryMessage::CommandComplete(0))));
        client.simple_query("DROP FOREIGN TABLE f").await.expect("plain drop");
        let e = client.simple_query(sql).await.unwrap_err();
        let db = e.as_db_error().expect("server error");
        assert_eq!(db.code().code(), "42P07");
        assert_eq!(db.message(), "Failed to execute CREATE TABLE on remote server");
        assert_eq!(
            db.detail(),
            Some("relation \"f_data\" already exists (CREATE TABLE public.f_data on foreign server \"s1\")")
        );
        let rows = client.simple_query("SELECT 1").await.expect("still usable");
        assert!(rows.iter().any(|m| matches!(m, tokio_postgres::SimpleQueryMessage::Row(_))));
        // An enhanced statement among others in one query string is refused as a whole:
        // nothing runs, and the session goes on.
        let e = client
            .simple_query("BEGIN; CREATE TABLE multi (a int) PARTITION BY RANGE (a) (PARTITION multi1 DEFAULT); INSERT INTO multi VALUES (1); COMMIT")
            .await
            .unwrap_err();
        let db = e.as_db_error().expect("server error");
        assert_eq!(db.code().code(), "0A000");
        assert_eq!(db.message(), "enhanced partition DDL cannot be combined with other statements in one query");
        assert_eq!(db.hint(), Some("Send the statement as a query of its own."));
        let rows = client
            .simple_query("SELECT count(*) FROM pg_class WHERE relname LIKE 'multi%'")
            .await
            .expect("still usable");
        assert!(matches!(&rows[1], tokio_postgres::SimpleQueryMessage::Row(r) if r.get(0) == Some("0")));
        // Several standard statements still pass through as one query.
        client
            .batch_execute("CREATE TABLE plain_a (x int); DROP TABLE plain_a")
            .await
            .expect("standard statements");
    });
}

#[test]
fn ddl_proxy_runs_on_the_primary_when_reads_are_balanced() {
    let proxy = Proxy::start(1, |_, _| {});
    let remotes = Remotes::start();
    let primary = proxy.primary();
    fixture::prepare(primary, &remotes, "lb");
    proxy.cluster.standbys()[0]
        .wait_caught_up(primary)
        .expect("standby caught up");
    let psql = Psql { proxy: &proxy };
    let out = psql
        .run_commands(
            "lb",
            &[
                "SELECT 1",
                "CREATE TABLE lb_t (a int) PARTITION BY RANGE (a) (
                   PARTITION lb_1 FOR VALUES FROM (0) TO (10) SERVER S1 WITH PUSHDOWN,
                   PARTITION lb_2 DEFAULT)",
                "INSERT INTO lb_t VALUES (1), (20)",
                "DROP TABLE lb_t INCLUDE REMOTE",
            ],
        )
        .expect_ok("balanced session");
    assert_eq!(out.stdout, "1\nCREATE TABLE\nINSERT 0 2\nDROP TABLE");
    assert_eq!(
        out.notices(),
        ["Drop remote table 'public.lb_1' on foreign server 's1'"]
    );
    assert_eq!(checks::tables(remotes.node(1), "lb"), "");
}

/// The extended protocol, as drivers send it: tokio-postgres prepares (Parse, Describe, Sync)
/// and then executes (Bind, Execute, Sync) each statement. A prepared-only statement has no
/// effect; executing it runs the translation once.
#[test]
fn ddl_proxy_extended_protocol_prepares_and_executes() {
    let (proxy, remotes) = (proxy(), Remotes::start());
    fixture::prepare(proxy.primary(), &remotes, "ext");
    let create = "CREATE TABLE ext_t (a int) PARTITION BY RANGE (a) (
                    PARTITION ext_1 FOR VALUES FROM (0) TO (10) SERVER S1 WITH PUSHDOWN,
                    PARTITION ext_2 DEFAULT)";
    rt().block_on(async {
        let client = connect(&proxy.conninfo("ext", "postgres")).await;
        // Prepared only: described as a statement without parameters or rows, nothing created.
        let stmt = client.prepare(create).await.expect("prepare enhanced DDL");
        assert!(stmt.params().is_empty() && stmt.columns().is_empty());
        assert_eq!(checks::tables(remotes.node(1), "ext"), "");
        // Executed: the local table, its foreign partition and the remote table exist.
        assert_eq!(client.execute(&stmt, &[]).await.expect("execute"), 0);
        assert_eq!(checks::tables(remotes.node(1), "ext"), "ext_1");
        assert_eq!(
            client
                .execute("INSERT INTO ext_t VALUES ($1), ($2)", &[&1i32, &20i32])
                .await
                .expect("insert through the extended protocol"),
            2
        );
        let row = client
            .query_one("SELECT count(*) FROM ext_1", &[])
            .await
            .expect("the foreign partition");
        assert_eq!(row.get::<_, i64>(0), 1);
        // A second execution of the same statement fails as PostgreSQL would.
        let e = client.execute(&stmt, &[]).await.unwrap_err();
        assert_eq!(
            e.as_db_error().map(|d| d.code().code()),
            Some("42P07"),
            "{e}"
        );
        // Errors keep their SQLSTATE and position; the session goes on.
        let e = client
            .execute("DROP TABLE ext_t INCLUDE REMOTE CASCADE", &[])
            .await
            .unwrap_err();
        let db = e.as_db_error().expect("server error");
        assert_eq!(db.code().code(), "42601");
        assert_eq!(
            db.position(),
            Some(&tokio_postgres::error::ErrorPosition::Original(33))
        );
        assert_eq!(
            client
                .execute("DROP TABLE ext_t INCLUDE REMOTE", &[])
                .await
                .expect("drop"),
            0
        );
        assert_eq!(checks::tables(remotes.node(1), "ext"), "");
        let row = client
            .query_one("SELECT 40 + 2", &[])
            .await
            .expect("still usable");
        assert_eq!(row.get::<_, i32>(0), 42);
    });
}
