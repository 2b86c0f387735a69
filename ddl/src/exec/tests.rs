//! The executor's paths that need no foreign server, against a scripted local server.

use std::cell::RefCell;

use corepool_protocol::ddl::{parse, CommandTag};
use corepool_protocol::message::TransactionStatus;

use crate::error::ErrorKind;
use crate::server::{Notice, QueryError, Reply, SqlServer};
use crate::{execute, DdlExecError};

type Answer = Box<dyn Fn(&str) -> Option<Result<Reply, QueryError>>>;

/// A local server that records what it is sent and answers with `answer` (else an empty
/// success), tracking the transaction status like PostgreSQL.
struct Fake {
    status: TransactionStatus,
    sent: RefCell<Vec<String>>,
    answer: Answer,
}

impl Fake {
    /// `current_schema()` is always `public`.
    fn new(answer: impl Fn(&str) -> Option<Result<Reply, QueryError>> + 'static) -> Fake {
        Fake {
            status: TransactionStatus::Idle,
            sent: RefCell::new(Vec::new()),
            answer: Box::new(move |sql| {
                if sql.starts_with("SELECT pg_catalog.current_schema") {
                    return rows(&[&[Some("public")]]);
                }
                answer(sql)
            }),
        }
    }

    fn sent(&self) -> Vec<String> {
        self.sent.borrow().clone()
    }
}

impl SqlServer for Fake {
    async fn query(&mut self, sql: &str, _: &mut Vec<Notice>) -> Result<Reply, QueryError> {
        self.sent.borrow_mut().push(sql.to_owned());
        let result = (self.answer)(sql).unwrap_or_else(|| {
            let tag = sql.split_whitespace().next().unwrap_or_default().to_owned();
            Ok(Reply {
                rows: Vec::new(),
                tags: vec![tag],
            })
        });
        self.status = match (sql, &result, self.status) {
            ("BEGIN", Ok(_), _) => TransactionStatus::InTransaction,
            ("COMMIT" | "ROLLBACK", _, _) => TransactionStatus::Idle,
            (_, Err(_), TransactionStatus::InTransaction) => TransactionStatus::Failed,
            (_, _, s) => s,
        };
        result
    }

    fn transaction_status(&self) -> TransactionStatus {
        self.status
    }
}

fn server_error(code: &str, message: &str) -> QueryError {
    QueryError::Server(Notice {
        severity: "ERROR".into(),
        code: code.into(),
        message: message.into(),
        detail: None,
        hint: None,
    })
}

fn rows(rows: &[&[Option<&str>]]) -> Option<Result<Reply, QueryError>> {
    let rows = rows
        .iter()
        .map(|r| r.iter().map(|v| v.map(str::to_owned)).collect())
        .collect();
    Some(Ok(Reply {
        rows,
        tags: vec!["SELECT".into()],
    }))
}

/// Runs `sql` on `fake`, returning the result and the notices.
fn run(fake: &mut Fake, sql: &str) -> (Result<CommandTag, DdlExecError>, Vec<Notice>) {
    let stmt = parse(sql).expect("parses").expect("is ours");
    let mut notices = Vec::new();
    // The fake needs no I/O: a plain poll loop runs the future.
    let result = futures_lite::future::block_on(execute(fake, &stmt, &mut |n| notices.push(n)));
    (result, notices)
}

const LOCAL_ONLY: &str =
    "CREATE TABLE t (a int) PARTITION BY LIST (a) (PARTITION t1 FOR VALUES IN (1))";
const PUSHDOWN: &str = "CREATE FOREIGN TABLE f (a int) SERVER s1 WITH PUSHDOWN";
const LOCALS: [&str; 2] = [
    "CREATE TABLE t (a int) PARTITION BY LIST (a)",
    "CREATE TABLE t1 PARTITION OF t FOR VALUES IN (1)",
];

#[test]
fn local_statements_run_in_one_transaction() {
    let mut fake = Fake::new(|_| None);
    let (result, _) = run(&mut fake, LOCAL_ONLY);
    assert_eq!(result, Ok(CommandTag::CreateTable));
    assert_eq!(fake.sent(), ["BEGIN", LOCALS[0], LOCALS[1], "COMMIT"]);
}

#[test]
fn inside_a_transaction_block_local_work_joins_it_and_remote_work_is_refused() {
    let mut fake = Fake::new(|_| None);
    fake.status = TransactionStatus::InTransaction;
    let (result, _) = run(&mut fake, LOCAL_ONLY);
    assert_eq!(result, Ok(CommandTag::CreateTable));
    assert_eq!(fake.sent(), LOCALS);

    let mut fake = Fake::new(|_| None);
    fake.status = TransactionStatus::InTransaction;
    let e = run(&mut fake, PUSHDOWN).0.unwrap_err();
    assert_eq!(
        (e.code(), e.message()),
        (
            "25001",
            "WITH PUSHDOWN cannot run inside a transaction block"
        )
    );
    let e = run(&mut fake, "DROP TABLE t INCLUDE REMOTE").0.unwrap_err();
    assert_eq!(
        e.message(),
        "INCLUDE REMOTE cannot run inside a transaction block"
    );
    assert!(fake.sent().is_empty());

    fake.status = TransactionStatus::Failed;
    let e = run(&mut fake, LOCAL_ONLY).0.unwrap_err();
    assert_eq!(e.code(), "25P02");
    assert!(fake.sent().is_empty());
}

#[test]
fn if_not_exists_skips_everything_with_postgres_notice() {
    let mut fake = Fake::new(|sql| {
        sql.starts_with("SELECT EXISTS")
            .then(|| rows(&[&[Some("t")]]))
            .flatten()
    });
    let (result, notices) = run(
        &mut fake,
        "CREATE FOREIGN TABLE IF NOT EXISTS f (a int) SERVER s1 WITH PUSHDOWN",
    );
    assert_eq!(result, Ok(CommandTag::CreateForeignTable));
    assert_eq!(notices.len(), 1);
    assert_eq!(
        (notices[0].code.as_str(), notices[0].message.as_str()),
        ("42P07", "relation \"f\" already exists, skipping")
    );
    assert_eq!(fake.sent().len(), 1);
}

#[test]
fn a_failing_local_statement_rolls_back_and_is_reported_as_the_server_said() {
    let mut fake = Fake::new(|sql| {
        (sql == LOCALS[1]).then(|| Err(server_error("42P07", "relation \"t1\" already exists")))
    });
    let e = run(&mut fake, LOCAL_ONLY).0.unwrap_err();
    assert_eq!(
        (e.kind(), e.code(), e.message()),
        (ErrorKind::Local, "42P07", "relation \"t1\" already exists")
    );
    assert_eq!(e.detail(), None);
    assert_eq!(fake.sent(), ["BEGIN", LOCALS[0], LOCALS[1], "ROLLBACK"]);
}

#[test]
fn a_commit_that_rolls_back_is_an_error() {
    let mut fake = Fake::new(|sql| {
        (sql == "COMMIT").then(|| {
            Ok(Reply {
                rows: Vec::new(),
                tags: vec!["ROLLBACK".into()],
            })
        })
    });
    let e = run(&mut fake, LOCAL_ONLY).0.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Commit);
    assert!(e.left_behind().is_empty());
}

#[test]
fn server_lookups_fail_like_postgres_fdw() {
    // No such server.
    let mut fake = Fake::new(|sql| {
        sql.contains("pg_foreign_server")
            .then(|| rows(&[]))
            .flatten()
    });
    let e = run(&mut fake, PUSHDOWN).0.unwrap_err();
    assert_eq!(
        (e.code(), e.message()),
        ("42704", "server \"s1\" does not exist")
    );
    assert_eq!(fake.sent().last().map(String::as_str), Some("ROLLBACK"));
    // No user mapping.
    let mut fake = Fake::new(|sql| {
        if sql.contains("pg_foreign_server") {
            rows(&[&[
                Some("s1"),
                Some("postgres_fdw"),
                Some("{host=127.0.0.1}"),
                None,
            ]])
        } else if sql == "SELECT CURRENT_USER" {
            rows(&[&[Some("alice")]])
        } else {
            None
        }
    });
    let e = run(&mut fake, PUSHDOWN).0.unwrap_err();
    assert_eq!(
        (e.code(), e.message()),
        ("42704", "user mapping not found for \"alice\"")
    );
    // Another wrapper.
    let mut fake = Fake::new(|sql| {
        sql.contains("pg_foreign_server")
            .then(|| rows(&[&[Some("s1"), Some("file_fdw"), None, Some("{}")]]))
            .flatten()
    });
    let e = run(&mut fake, PUSHDOWN).0.unwrap_err();
    assert_eq!(e.code(), "0A000");
    // Unreachable: postgres_fdw's message, the reason in DETAIL.
    let mut fake = Fake::new(|sql| {
        if sql.contains("pg_foreign_server") {
            rows(&[&[
                Some("s1"),
                Some("postgres_fdw"),
                Some("{host=127.0.0.1,port=1}"),
                Some("{user=u}"),
            ]])
        } else {
            None
        }
    });
    let e = run(&mut fake, PUSHDOWN).0.unwrap_err();
    assert_eq!(
        (e.code(), e.message()),
        ("08001", "could not connect to server \"s1\"")
    );
    assert!(e.detail().is_some_and(|d| d.contains("127.0.0.1")), "{e:?}");
    assert_eq!(fake.sent().last().map(String::as_str), Some("ROLLBACK"));
}

#[test]
fn include_remote_refuses_tables_of_other_wrappers_and_drops_locally_when_none_are_remote() {
    let mut fake = Fake::new(|sql| {
        sql.starts_with("WITH RECURSIVE")
            .then(|| {
                rows(&[&[
                    Some("ft"),
                    Some("files"),
                    Some("file_fdw"),
                    Some("public"),
                    Some("ft"),
                ]])
            })
            .flatten()
    });
    let e = run(&mut fake, "DROP TABLE t INCLUDE REMOTE").0.unwrap_err();
    assert_eq!(
        (e.code(), e.message()),
        (
            "0A000",
            "cannot drop the remote table of foreign table \"ft\""
        )
    );
    assert_eq!(fake.sent().last().map(String::as_str), Some("ROLLBACK"));

    let mut fake = Fake::new(|sql| {
        sql.starts_with("WITH RECURSIVE")
            .then(|| rows(&[]))
            .flatten()
    });
    let (result, notices) = run(&mut fake, "DROP TABLE IF EXISTS t CASCADE INCLUDE REMOTE");
    assert_eq!(result, Ok(CommandTag::DropTable));
    assert!(notices.is_empty());
    let sent = fake.sent();
    assert_eq!(
        sent[sent.len() - 2..],
        ["DROP TABLE IF EXISTS t CASCADE", "COMMIT"]
    );
}
