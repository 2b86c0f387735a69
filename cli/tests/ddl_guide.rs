//! `corepool ddl` against a real local server and two real foreign servers S1 and S2: every
//! example of chapters 3 and 4 of the HighGo guide, the errors, CASCADE and the undo paths.

#[path = "../../ddl/tests/fixture/mod.rs"]
mod fixture;

use std::process::Command;

use corepool_testkit::{AuthMethod, Cluster, Node};
use fixture::{checks, Outcome, Remotes, Runner};

/// Runs `corepool ddl -c SQL` against the local server over TCP.
struct Cli<'a> {
    local: &'a Node,
}

impl Cli<'_> {
    fn command(&self, db: &str) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_corepool"));
        cmd.args([
            "ddl",
            "-h",
            self.local.host(),
            "-p",
            &self.local.port().to_string(),
        ])
        .args(["-U", "postgres", "-d", db])
        .env_remove("PGPASSWORD");
        cmd
    }
}

impl Runner for Cli<'_> {
    fn run(&self, db: &str, sql: &str) -> Outcome {
        Outcome::from_output(
            self.command(db)
                .args(["-c", sql])
                .output()
                .expect("corepool runs"),
        )
    }

    fn position_text(&self, position: usize) -> String {
        format!("(at character {position})")
    }
}

fn local() -> Cluster {
    Cluster::builder().start().expect("local cluster starts")
}

#[test]
fn ddl_guide_examples_match_the_hand_written_statements() {
    let (local, remotes) = (local(), Remotes::start());
    fixture::guide_suite(
        &Cli {
            local: local.primary(),
        },
        local.primary(),
        &remotes,
    );
}

#[test]
fn ddl_errors_cascade_and_undo() {
    let (local, remotes) = (local(), Remotes::start());
    let node = local.primary();
    let cli = Cli { local: node };
    checks::errors(&cli, node, &remotes, "errs");
    checks::cascade(&cli, node, &remotes, "casc");
    checks::undo(&cli, node, &remotes, "undo");

    // Inside a transaction block (statements of one -c run one by one): refused.
    let out = cli
        .run(
            "casc",
            "BEGIN; CREATE FOREIGN TABLE x (a int) SERVER S1 WITH PUSHDOWN",
        )
        .expect_error("in a transaction block");
    assert!(
        out.stderr
            .contains("WITH PUSHDOWN cannot run inside a transaction block"),
        "{}",
        out.stderr
    );
    // Local-only enhanced syntax runs in the client's transaction.
    let out = cli
        .run(
            "casc",
            "BEGIN; CREATE TABLE tx (a int) PARTITION BY LIST (a) (PARTITION tx1 FOR VALUES IN (1)); ROLLBACK",
        )
        .expect_ok("local-only in a transaction");
    assert_eq!(out.stdout, "BEGIN\nCREATE TABLE\nROLLBACK");
    assert_eq!(checks::tables(node, "casc"), "");
}

#[test]
fn ddl_dry_run_prints_the_standard_sql_and_changes_nothing() {
    let (local, remotes) = (local(), Remotes::start());
    let node = local.primary();
    fixture::prepare(node, &remotes, "dry");
    let cli = Cli { local: node };
    let out = Outcome::from_output(
        cli.command("dry")
            .args(["--dry-run", "-c"])
            .arg(
                "CREATE TABLE m (a int) PARTITION BY HASH (a) (
                   PARTITION m0 FOR VALUES WITH (MODULUS 2, REMAINDER 0),
                   PARTITION m1 FOR VALUES WITH (MODULUS 2, REMAINDER 1) SERVER S2 WITH PUSHDOWN);
                 SELECT 1",
            )
            .output()
            .expect("runs"),
    )
    .expect_ok("dry run");
    let s2 = remotes.node(2);
    let want = format!(
        "-- CREATE TABLE (the command tag)
-- on foreign server \"s2\" (host=127.0.0.1 port={} dbname=dry user=postgres):
CREATE TABLE public.m1 (a int);
-- on the local server, in one transaction:
BEGIN;
CREATE TABLE m (a int) PARTITION BY HASH (a);
CREATE TABLE m0 PARTITION OF m FOR VALUES WITH (MODULUS 2, REMAINDER 0);
CREATE FOREIGN TABLE m1 PARTITION OF m FOR VALUES WITH (MODULUS 2, REMAINDER 1) SERVER S2;
COMMIT;
-- as written:
SELECT 1;",
        s2.port()
    );
    assert_eq!(out.stdout, want);
    assert_eq!(checks::tables(node, "dry"), "");
    assert_eq!(checks::tables(s2, "dry"), "");
}

#[test]
fn ddl_script_file_env_and_a_scram_foreign_server() {
    let local = local();
    let remote = Cluster::builder()
        .host_auth(AuthMethod::ScramSha256)
        .superuser_password("s3cret pw")
        .start()
        .expect("remote cluster starts");
    let (node, s1) = (local.primary(), remote.primary());
    node.psql("postgres", "CREATE DATABASE scr").expect("db");
    s1.psql("postgres", "CREATE DATABASE scr")
        .expect("remote db");
    node.psql(
        "scr",
        &format!(
            "CREATE EXTENSION postgres_fdw;
             CREATE SERVER s1 FOREIGN DATA WRAPPER postgres_fdw OPTIONS (host '{}', port '{}', dbname 'scr');
             CREATE USER MAPPING FOR postgres SERVER s1 OPTIONS (user 'postgres', password 's3cret pw')",
            s1.host(),
            s1.port()
        ),
    )
    .expect("server");
    let dir = tempfile::tempdir().expect("dir");
    let script = dir.path().join("shard.sql");
    std::fs::write(
        &script,
        "-- a script, as psql -f would run it\n\
         CREATE FOREIGN TABLE f (i int) SERVER s1 WITH PUSHDOWN;\n\
         INSERT INTO f VALUES (7);\n\
         SELECT i FROM f;\n\
         DROP FOREIGN TABLE f INCLUDE REMOTE;\n",
    )
    .expect("script");
    let run = |args: &[&std::ffi::OsStr]| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_corepool"));
        cmd.arg("ddl")
            .args(args)
            .env("PGHOST", node.host())
            .env("PGPORT", node.port().to_string())
            .env("PGUSER", "postgres")
            .env("PGDATABASE", "scr")
            .env_remove("PGPASSWORD");
        Outcome::from_output(cmd.output().expect("corepool runs"))
    };
    let out = run(&["-f".as_ref(), script.as_os_str()]).expect_ok("script");
    assert_eq!(
        out.stdout,
        "CREATE FOREIGN TABLE\nINSERT 0 1\n7\nSELECT 1\nDROP FOREIGN TABLE"
    );
    assert_eq!(
        out.notices(),
        ["Drop remote table 'public.f' on foreign server 's1'"]
    );
    assert_eq!(checks::tables(s1, "scr"), "");

    // A wrong password in the user mapping: postgres_fdw's error, nothing created anywhere.
    node.psql(
        "scr",
        "ALTER USER MAPPING FOR postgres SERVER s1 OPTIONS (SET password 'wrong')",
    )
    .expect("alter mapping");
    let out = run(&[
        "-c".as_ref(),
        "CREATE FOREIGN TABLE g (i int) SERVER s1 WITH PUSHDOWN".as_ref(),
    ])
    .expect_error("wrong password");
    assert!(
        out.stderr
            .contains("ERROR:  could not connect to server \"s1\""),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("password authentication failed"),
        "{}",
        out.stderr
    );
    assert_eq!(checks::tables(node, "scr"), "");
    assert_eq!(checks::tables(s1, "scr"), "");
}
