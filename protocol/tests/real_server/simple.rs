//! Simple-protocol traffic: 10,000 rows through tiny and large reads, errors, notices.

use corepool_protocol::framing::Frame;
use corepool_protocol::message::backend::BackendMessage;
use corepool_protocol::message::tags::READY_FOR_QUERY_TAG;
use corepool_protocol::message::write::frontend;
use corepool_protocol::message::{Format, TransactionStatus};
use corepool_protocol::{sqlstate, Error};
use corepool_testkit::Cluster;

use crate::client::{final_status, first_error, messages, Conn, Credential, Reads, TestResult};
use crate::scan::check_scan_run_agrees;

/// A trust-auth cluster and a connection to it.
fn connect(reads: Reads) -> TestResult<(Cluster, Conn)> {
    let cluster = Cluster::builder().start()?;
    let conn = Conn::connect(cluster.primary().port(), Credential::Password(""), reads)?;
    Ok((cluster, conn))
}

/// Runs the 10,000-row query and checks every message: the RowDescription's fields, each
/// DataRow's values (NULL in every tenth row), CommandComplete and ReadyForQuery.
fn check_ten_thousand_rows(conn: &mut Conn) -> TestResult {
    let sql = "SELECT g, 'row ' || g AS label, CASE WHEN g % 10 <> 0 THEN g * 2 END AS twice \
               FROM generate_series(1, 10000) g";
    let frames = conn.simple_query(sql)?;
    assert_eq!(
        frames.len(),
        10_003,
        "RowDescription, rows, CommandComplete, ReadyForQuery"
    );
    let description = expect!(frames[0], BackendMessage::RowDescription(d) => d);
    let fields: Vec<_> = description.fields().collect();
    let shape: Vec<_> = fields
        .iter()
        .map(|f| (f.name, f.type_oid, f.type_size, f.format))
        .collect();
    let expected = [
        ("g", 23, 4, Format::Text),
        ("label", 25, -1, Format::Text),
        ("twice", 23, 4, Format::Text),
    ];
    assert_eq!(shape, expected, "columns");
    for field in &fields {
        assert_eq!(
            (field.table_oid, field.column_id, field.type_modifier),
            (0, 0, -1)
        );
    }
    for (i, frame) in frames[1..=10_000].iter().enumerate() {
        let g = i + 1;
        let row = expect!(frame, BackendMessage::DataRow(row) => row);
        let (text, label, twice) = (g.to_string(), format!("row {g}"), (g * 2).to_string());
        let twice = (g % 10 != 0).then_some(twice.as_bytes());
        let expected = [Some(text.as_bytes()), Some(label.as_bytes()), twice];
        assert!(row.values().eq(expected), "row {g}: {:?}", row.body());
        let widths: Vec<_> = row.ranges().map(|r| r.map(|r| r.len())).collect();
        assert_eq!(
            widths,
            expected.map(|v| v.map(<[u8]>::len)),
            "row {g} ranges"
        );
    }
    expect!(frames[10_001], BackendMessage::CommandComplete(c) => {
        assert_eq!((c.tag(), c.rows()), ("SELECT 10000", Some(10_000)));
    });
    assert_eq!(final_status(&frames)?, TransactionStatus::Idle);
    Ok(())
}

#[test]
fn ten_thousand_rows_through_reads_of_1_to_7_bytes() -> TestResult {
    let (_cluster, mut conn) = connect(Reads::Tiny(0x5eed))?;
    check_ten_thousand_rows(&mut conn)?;
    let messages = check_scan_run_agrees(conn.transcript())?;
    assert!(
        messages > 10_003,
        "the startup messages are in the transcript too"
    );
    Ok(())
}

#[test]
fn ten_thousand_rows_and_a_megabyte_value_through_large_reads() -> TestResult {
    let (_cluster, mut conn) = connect(Reads::Large)?;
    check_ten_thousand_rows(&mut conn)?;
    // One DataRow far larger than a read: split_frame waits for the whole of it.
    let value = conn.value("SELECT repeat('x', 1048576)")?;
    assert!(value.len() == 1 << 20 && value.bytes().all(|b| b == b'x'));
    check_scan_run_agrees(conn.transcript())?;
    Ok(())
}

#[test]
fn error_mid_query_reports_22012_and_the_failed_transaction() -> TestResult {
    let (_cluster, mut conn) = connect(Reads::Tiny(22012))?;
    // Four rows go out before the fifth divides by zero.
    let frames = conn.simple_query("SELECT 10 / (5 - g) FROM generate_series(1, 10) g")?;
    let tags: Vec<u8> = frames.iter().map(|f| f.tag()).collect();
    assert_eq!(
        tags, b"TDDDDEZ",
        "RowDescription, 4 rows, ErrorResponse, ReadyForQuery"
    );
    let rows: Vec<_> = messages(&frames[1..5])?
        .into_iter()
        .map(|m| match m {
            BackendMessage::DataRow(row) => row.values().collect::<Vec<_>>(),
            _ => Vec::new(),
        })
        .collect();
    let expected: [&[u8]; 4] = [b"2", b"3", b"5", b"10"];
    assert_eq!(rows, expected.map(|v| vec![Some(v)]));
    let error = first_error(&frames)?;
    assert_eq!(error.severity(), Some("ERROR"));
    assert_eq!(error.severity_nonlocalized(), Some("ERROR"));
    assert_eq!(error.code(), Some(sqlstate::DIVISION_BY_ZERO.code()));
    assert_eq!(error.message(), Some("division by zero"));
    assert_eq!(error.get(b'R'), Some("int4div"), "routine");
    assert!(
        error.get(b'F').is_some() && error.get(b'L').is_some(),
        "file and line"
    );
    let types: Vec<u8> = error.fields().map(|f| f.field_type).collect();
    assert_eq!(&types[..3], b"SVC", "severity, severity, code first");
    assert_eq!(final_status(&frames)?, TransactionStatus::Idle);

    // In a transaction block the error leaves it failed until ROLLBACK.
    let frames = conn.simple_query("BEGIN; SELECT 1 / 0; SELECT 2")?;
    assert_eq!(first_error(&frames)?.code(), Some("22012"));
    assert_eq!(final_status(&frames)?, TransactionStatus::Failed);
    let frames = conn.simple_query("SELECT 2")?;
    let error = first_error(&frames)?;
    assert_eq!(
        error.code(),
        Some(sqlstate::IN_FAILED_SQL_TRANSACTION.code())
    );
    assert_eq!(final_status(&frames)?, TransactionStatus::Failed);
    let frames = conn.simple_query("ROLLBACK")?;
    assert_eq!(final_status(&frames)?, TransactionStatus::Idle);

    // A parse-analysis error carries the position of the offending name.
    let frames = conn.simple_query("SELECT * FROM nowhere")?;
    let error = first_error(&frames)?;
    assert_eq!(error.code(), Some(sqlstate::UNDEFINED_TABLE.code()));
    assert_eq!(error.position(), Some("15"));
    assert_eq!(error.message(), Some("relation \"nowhere\" does not exist"));
    check_scan_run_agrees(conn.transcript())?;
    Ok(())
}

#[test]
fn notices_empty_results_and_transaction_status() -> TestResult {
    let (_cluster, mut conn) = connect(Reads::Tiny(3))?;
    let frames = conn.simple_query(
        "DO $$ BEGIN RAISE NOTICE 'hi %', 42; \
         RAISE WARNING 'careful' USING DETAIL = 'the detail', HINT = 'the hint'; END $$",
    )?;
    let tags: Vec<u8> = frames.iter().map(|f| f.tag()).collect();
    assert_eq!(tags, b"NNCZ", "two notices, CommandComplete, ReadyForQuery");
    let notice = expect!(frames[0], BackendMessage::NoticeResponse(n) => n);
    assert_eq!(notice.severity(), Some("NOTICE"));
    assert_eq!(notice.code(), Some("00000"));
    assert_eq!(notice.message(), Some("hi 42"));
    let warning = expect!(frames[1], BackendMessage::NoticeResponse(n) => n);
    assert_eq!(warning.severity_nonlocalized(), Some("WARNING"));
    assert_eq!(warning.code(), Some("01000"));
    assert_eq!(warning.detail(), Some("the detail"));
    assert_eq!(warning.hint(), Some("the hint"));
    expect!(frames[2], BackendMessage::CommandComplete(c) => assert_eq!(c.tag(), "DO"));

    let frames = conn.simple_query("")?;
    assert_eq!(frames.len(), 2, "EmptyQueryResponse, ReadyForQuery");
    expect!(frames[0], BackendMessage::EmptyQueryResponse);

    // Rows without columns: a RowDescription with no fields and DataRows with no values.
    let frames = conn.simple_query("SELECT FROM generate_series(1, 3)")?;
    assert_eq!(
        frames.len(),
        6,
        "RowDescription, 3 rows, CommandComplete, ReadyForQuery"
    );
    expect!(frames[0], BackendMessage::RowDescription(d) => assert_eq!(d.fields().len(), 0));
    for frame in &frames[1..4] {
        expect!(frame, BackendMessage::DataRow(row) => {
            assert!(row.is_empty() && row.values().next().is_none(), "{:?}", row.body());
        });
    }
    expect!(frames[4], BackendMessage::CommandComplete(c) => assert_eq!(c.rows(), Some(3)));

    let frames = conn.simple_query("BEGIN; SELECT 1; ")?;
    assert_eq!(final_status(&frames)?, TransactionStatus::InTransaction);
    let frames = conn.simple_query("COMMIT")?;
    expect!(frames[0], BackendMessage::CommandComplete(c) => {
        assert_eq!((c.tag(), c.rows()), ("COMMIT", None));
    });
    assert_eq!(final_status(&frames)?, TransactionStatus::Idle);
    check_scan_run_agrees(conn.transcript())?;
    Ok(())
}

#[test]
fn latin1_client_encoding_is_framed_but_not_utf8() -> TestResult {
    let (_cluster, mut conn) = connect(Reads::Tiny(1252))?;
    let frames = conn.simple_query("SET client_encoding = 'LATIN1'")?;
    let reported = messages(&frames)?.into_iter().any(|m| {
        matches!(m, BackendMessage::ParameterStatus(p)
            if (p.name(), p.value()) == ("client_encoding", "LATIN1"))
    });
    assert!(reported, "ParameterStatus client_encoding");

    // "café", written in ASCII with U&, comes back in LATIN1: "caf\xe9", not UTF-8.
    let frames = raw_query(&mut conn, "LISTEN c; NOTIFY c, U&'caf\\00E9'")?;
    assert_eq!(tags(&frames), "CCAZ", "LISTEN, NOTIFY, the notification");
    let notification = &frames[2];
    assert!(
        notification.body().ends_with(b"c\0caf\xe9\0"),
        "LATIN1 payload"
    );
    let sql = "SELECT 1 AS U&\"caf\\00E9\"; SELECT * FROM U&\"caf\\00E9\"";
    let frames = raw_query(&mut conn, sql)?;
    assert_eq!(
        tags(&frames),
        "TDCEZ",
        "framing does not care about the encoding"
    );
    let (description, error) = (&frames[0], &frames[3]);
    assert!(
        contains(description.body(), b"caf\xe9\0"),
        "LATIN1 column name"
    );
    let text = b"relation \"caf\xe9\" does not exist\0";
    assert!(contains(error.body(), text), "LATIN1 error message");

    // The views read names, payloads and messages as UTF-8 only, so they reject this valid
    // traffic: whoever parses backend messages must not assume client_encoding = UTF8.
    for frame in [notification, description, error] {
        let parsed = BackendMessage::parse(frame.tag(), frame.body());
        assert!(
            matches!(parsed, Err(Error::InvalidUtf8 { .. })),
            "{:?}: {parsed:?}",
            char::from(frame.tag())
        );
    }
    check_scan_run_agrees(conn.transcript())?;
    Ok(())
}

/// Sends a simple query and reads its messages up to ReadyForQuery without parsing them.
fn raw_query(conn: &mut Conn, sql: &str) -> TestResult<Vec<Frame>> {
    frontend::query(sql, conn.out())?;
    conn.flush()?;
    let mut frames = Vec::new();
    loop {
        let frame = conn.read_raw_frame()?;
        let ready = frame.tag() == READY_FOR_QUERY_TAG;
        frames.push(frame);
        if ready {
            return Ok(frames);
        }
    }
}

/// The tags of `frames` as a string.
fn tags(frames: &[Frame]) -> String {
    frames.iter().map(|f| char::from(f.tag())).collect()
}

/// Whether `haystack` contains `needle`.
fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}
