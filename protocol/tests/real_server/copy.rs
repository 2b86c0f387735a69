//! COPY TO STDOUT (text and binary) and COPY FROM STDIN with the crate's copy writers.

use corepool_protocol::message::backend::BackendMessage;
use corepool_protocol::message::write::frontend;
use corepool_protocol::message::{Format, TransactionStatus};
use corepool_protocol::sqlstate;
use corepool_testkit::Cluster;

use crate::client::{final_status, first_error, Conn, Credential, Reads, TestResult};
use crate::scan::check_scan_run_agrees;

/// The signature that starts a binary COPY stream.
const BINARY_SIGNATURE: &[u8] = b"PGCOPY\n\xff\r\n\0";

/// A trust-auth cluster and a connection to it.
fn connect(reads: Reads) -> TestResult<(Cluster, Conn)> {
    let cluster = Cluster::builder().start()?;
    let conn = Conn::connect(cluster.primary().port(), Credential::Password(""), reads)?;
    Ok((cluster, conn))
}

/// Runs a COPY TO STDOUT and returns its overall format, column formats and data.
fn copy_out(conn: &mut Conn, sql: &str, rows: u64) -> TestResult<(Format, Vec<Format>, Vec<u8>)> {
    let frames = conn.simple_query(sql)?;
    let response = expect!(frames[0], BackendMessage::CopyOutResponse(r) => r);
    let (format, columns) = (response.format(), response.column_formats().collect());
    let mut data = Vec::new();
    let [.., done, complete, _] = &frames[..] else {
        return Err("too few messages".into());
    };
    for frame in &frames[1..frames.len() - 3] {
        expect!(frame, BackendMessage::CopyData(chunk) => data.extend_from_slice(chunk.data()));
    }
    expect!(done, BackendMessage::CopyDone);
    expect!(complete, BackendMessage::CommandComplete(c) => assert_eq!(c.rows(), Some(rows)));
    assert_eq!(final_status(&frames)?, TransactionStatus::Idle);
    Ok((format, columns, data))
}

#[test]
fn copy_to_stdout_text_and_binary() -> TestResult {
    let (_cluster, mut conn) = connect(Reads::Tiny(100))?;
    let select = "SELECT g, 'row ' || g FROM generate_series(1, 100) g";
    let (format, columns, data) = copy_out(&mut conn, &format!("COPY ({select}) TO STDOUT"), 100)?;
    assert_eq!((format, columns), (Format::Text, vec![Format::Text; 2]));
    let expected: String = (1..=100).map(|g| format!("{g}\trow {g}\n")).collect();
    assert_eq!(std::str::from_utf8(&data)?, expected);

    let sql = format!("COPY ({select}) TO STDOUT (FORMAT binary)");
    let (format, columns, data) = copy_out(&mut conn, &sql, 100)?;
    assert_eq!((format, columns), (Format::Binary, vec![Format::Binary; 2]));
    assert!(data.starts_with(BINARY_SIGNATURE), "binary COPY signature");
    assert!(data.ends_with(&[0xff, 0xff]), "binary COPY trailer");
    check_scan_run_agrees(conn.transcript())?;
    Ok(())
}

#[test]
fn copy_from_stdin_with_the_copy_writers() -> TestResult {
    let (_cluster, mut conn) = connect(Reads::Large)?;
    conn.simple_query("CREATE TABLE t (a int, b varchar(20))")?;

    // The server answers CopyInResponse, then waits for data: no ReadyForQuery yet.
    frontend::query("COPY t FROM STDIN", conn.out())?;
    conn.flush()?;
    let frame = conn.read_frame()?;
    let response = expect!(frame, BackendMessage::CopyInResponse(r) => r);
    assert_eq!(response.format(), Format::Text);
    assert_eq!(
        response.column_formats().collect::<Vec<_>>(),
        [Format::Text; 2]
    );
    // Rows split across CopyData messages at arbitrary places, as COPY allows.
    let text: String = (1..=1000).map(|a| format!("{a}\tvalue {a}\n")).collect();
    let mut rest = text.as_bytes();
    let mut size = 1;
    while !rest.is_empty() {
        size = size % 37 + 5;
        let (chunk, tail) = rest.split_at(size.min(rest.len()));
        frontend::copy_data(chunk, conn.out())?;
        rest = tail;
    }
    frontend::copy_done(conn.out());
    conn.flush()?;
    let frames = conn.read_until_ready()?;
    expect!(frames[0], BackendMessage::CommandComplete(c) => assert_eq!(c.tag(), "COPY 1000"));
    assert_eq!(final_status(&frames)?, TransactionStatus::Idle);
    let summary = conn.rows("SELECT count(*), sum(a), max(b) FROM t")?;
    let expected = ["1000", "500500", "value 999"].map(|v| Some(v.to_owned()));
    assert_eq!(summary, [expected]);

    // Table columns carry their table, attribute number and type modifier.
    let table: u32 = conn.value("SELECT 't'::regclass::oid")?.parse()?;
    let frames = conn.simple_query("SELECT b, a FROM t LIMIT 0")?;
    let fields = expect!(frames[0], BackendMessage::RowDescription(d) => d.fields());
    let shape: Vec<_> = fields
        .map(|f| {
            (
                f.name,
                f.table_oid,
                f.column_id,
                f.type_oid,
                f.type_modifier,
            )
        })
        .collect();
    // varchar(20) is type 1043 with typmod 20 + 4.
    assert_eq!(shape, [("b", table, 2, 1043, 24), ("a", table, 1, 23, -1)]);
    let frames = conn.simple_query("INSERT INTO t SELECT a + 1000, b FROM t WHERE a <= 5")?;
    expect!(frames[0], BackendMessage::CommandComplete(c) => {
        assert_eq!((c.tag(), c.rows()), ("INSERT 0 5", Some(5)));
    });
    conn.simple_query("DELETE FROM t WHERE a > 1000")?;

    // CopyFail aborts the COPY with the client's reason; nothing is inserted.
    frontend::query("COPY t FROM STDIN", conn.out())?;
    conn.flush()?;
    expect!(conn.read_frame()?, BackendMessage::CopyInResponse(_));
    frontend::copy_data(b"1001\tnever\n", conn.out())?;
    frontend::copy_fail("client gave up", conn.out())?;
    conn.flush()?;
    let frames = conn.read_until_ready()?;
    let error = first_error(&frames)?;
    assert_eq!(error.code(), Some(sqlstate::QUERY_CANCELED.code()));
    assert_eq!(
        error.message(),
        Some("COPY from stdin failed: client gave up")
    );
    assert_eq!(final_status(&frames)?, TransactionStatus::Idle);
    assert_eq!(conn.value("SELECT count(*) FROM t")?, "1000");
    check_scan_run_agrees(conn.transcript())?;
    Ok(())
}

#[test]
fn copy_both_for_physical_replication() -> TestResult {
    let cluster = Cluster::builder().start()?;
    let port = cluster.primary().port();
    let extra = [("replication", "true")];
    let login = Conn::login_with(
        port,
        "postgres",
        &extra,
        Credential::Password(""),
        Reads::Tiny(87),
    );
    let mut conn = login?.map_err(|e| crate::client::describe(&e))?;
    let rows = conn.rows("IDENTIFY_SYSTEM")?;
    let Some([_, Some(timeline), Some(position), None]) = rows.first().map(|r| &r[..]) else {
        return Err(format!("IDENTIFY_SYSTEM returned {rows:?}").into());
    };
    assert_eq!(timeline, "1");

    frontend::query(&format!("START_REPLICATION {position}"), conn.out())?;
    conn.flush()?;
    let frame = conn.read_frame()?;
    let response = expect!(frame, BackendMessage::CopyBothResponse(r) => r);
    assert_eq!(response.format(), Format::Text);
    assert_eq!(response.column_formats().len(), 0);
    // The client ends the stream; the server answers CopyDone and completes the command.
    frontend::copy_done(conn.out());
    conn.flush()?;
    let frames = conn.read_until_ready()?;
    let [.., done, streaming, replication, _] = &frames[..] else {
        return Err(format!("{} messages after our CopyDone", frames.len()).into());
    };
    for frame in &frames[..frames.len() - 4] {
        // Keepalives ('k') or WAL ('w') sent before the server saw our CopyDone.
        expect!(frame, BackendMessage::CopyData(d) => {
            assert!(matches!(d.data().first(), Some(b'k' | b'w')), "{:?}", d.data());
        });
    }
    expect!(done, BackendMessage::CopyDone);
    // PostgreSQL 15 completes the streaming, then the replication command.
    let streaming = expect!(streaming, BackendMessage::CommandComplete(c) => c.tag());
    let replication = expect!(replication, BackendMessage::CommandComplete(c) => c.tag());
    assert_eq!(
        (streaming, replication),
        ("START_STREAMING", "START_REPLICATION")
    );
    assert_eq!(final_status(&frames)?, TransactionStatus::Idle);
    check_scan_run_agrees(conn.transcript())?;
    Ok(())
}
