//! The extended protocol with the crate's writers: Parse/Bind/Describe/Execute/Sync.

use corepool_protocol::message::backend::BackendMessage;
use corepool_protocol::message::write::frontend;
use corepool_protocol::message::{Format, Target, TransactionStatus};
use corepool_protocol::sqlstate;
use corepool_testkit::Cluster;

use crate::client::{final_status, first_error, Conn, Credential, Reads, TestResult};
use crate::scan::check_scan_run_agrees;

/// Type OIDs from pg_type.
const INT4: u32 = 23;
const TEXT: u32 = 25;
const BOOL: u32 = 16;

/// The tags of `frames`, as a string for readable assertions.
fn tags(frames: &[corepool_protocol::framing::Frame]) -> String {
    frames.iter().map(|f| char::from(f.tag())).collect()
}

#[test]
fn parameters_null_and_binary_results() -> TestResult {
    let cluster = Cluster::builder().start()?;
    let port = cluster.primary().port();
    let mut conn = Conn::connect(port, Credential::Password(""), Reads::Tiny(11))?;

    let sql = "SELECT $1::int4 + 1 AS n, $2::text AS t, $3::text IS NULL AS is_null";
    let forty_one = 41i32.to_be_bytes();
    let parameters = [Some(&forty_one[..]), Some(&b"hello"[..]), None];
    let out = conn.out();
    frontend::parse("s1", sql, [0, 0, 0], out)?;
    frontend::describe(Target::PreparedStatement, "s1", out)?;
    let param_formats = [Format::Binary, Format::Text, Format::Text];
    frontend::bind("p1", "s1", param_formats, parameters, [Format::Binary], out)?;
    frontend::describe(Target::Portal, "p1", out)?;
    frontend::execute("p1", 0, out)?;
    frontend::sync(out);
    conn.flush()?;
    let frames = conn.read_until_ready()?;
    assert_eq!(tags(&frames), "1tT2TDCZ");

    expect!(frames[0], BackendMessage::ParseComplete);
    let types = expect!(frames[1], BackendMessage::ParameterDescription(p) => p.types());
    assert_eq!(
        types.collect::<Vec<_>>(),
        [INT4, TEXT, TEXT],
        "parameter types"
    );
    // A statement's description cannot know the result formats yet: all text.
    let fields = expect!(frames[2], BackendMessage::RowDescription(d) => d.fields());
    let shape: Vec<_> = fields.map(|f| (f.name, f.type_oid, f.format)).collect();
    let text = [("n", INT4, Format::Text), ("t", TEXT, Format::Text)];
    assert_eq!(shape[..2], text);
    assert_eq!(shape[2], ("is_null", BOOL, Format::Text));
    expect!(frames[3], BackendMessage::BindComplete);
    // The portal's description has the formats Bind asked for.
    let fields = expect!(frames[4], BackendMessage::RowDescription(d) => d.fields());
    let formats: Vec<_> = fields.map(|f| f.format).collect();
    assert_eq!(formats, [Format::Binary; 3], "portal formats");
    let row = expect!(frames[5], BackendMessage::DataRow(row) => row);
    let expected: [&[u8]; 3] = [&42i32.to_be_bytes(), b"hello", &[1]];
    assert!(
        row.values().eq(expected.map(Some)),
        "binary row {:?}",
        row.body()
    );
    expect!(frames[6], BackendMessage::CommandComplete(c) => assert_eq!(c.tag(), "SELECT 1"));
    assert_eq!(final_status(&frames)?, TransactionStatus::Idle);

    // Row limits suspend the portal; Close on the statement; Describe of a rowless statement.
    let out = conn.out();
    frontend::parse("", "SELECT g FROM generate_series(1, 5) g", [], out)?;
    frontend::bind("", "", [], [], [], out)?;
    frontend::execute("", 2, out)?;
    frontend::execute("", 0, out)?;
    frontend::close(Target::PreparedStatement, "s1", out)?;
    frontend::parse("set", "SET search_path TO public", [], out)?;
    frontend::describe(Target::PreparedStatement, "set", out)?;
    frontend::sync(out);
    conn.flush()?;
    let frames = conn.read_until_ready()?;
    assert_eq!(tags(&frames), "12DDsDDDC31tnZ");
    expect!(frames[5], BackendMessage::DataRow(row) => {
        assert!(row.values().eq([Some(&b"3"[..])]), "first row after the suspension");
    });
    expect!(frames[8], BackendMessage::CommandComplete(c) => assert_eq!(c.tag(), "SELECT 3"));
    let types = expect!(frames[11], BackendMessage::ParameterDescription(p) => p.types());
    assert_eq!(types.len(), 0);

    // The closed statement is gone.
    let out = conn.out();
    frontend::bind("", "s1", [], [], [], out)?;
    frontend::sync(out);
    conn.flush()?;
    let frames = conn.read_until_ready()?;
    assert_eq!(tags(&frames), "EZ");
    let error = first_error(&frames)?;
    assert_eq!(
        error.code(),
        Some(sqlstate::INVALID_SQL_STATEMENT_NAME.code())
    );
    check_scan_run_agrees(conn.transcript())?;
    Ok(())
}

#[test]
fn error_mid_execute_skips_to_sync() -> TestResult {
    let cluster = Cluster::builder().start()?;
    let port = cluster.primary().port();
    let mut conn = Conn::connect(port, Credential::Password(""), Reads::Large)?;
    let out = conn.out();
    frontend::parse(
        "",
        "SELECT 10 / (5 - g) FROM generate_series(1, $1) g",
        [INT4],
        out,
    )?;
    frontend::bind("", "", [], [Some(&b"10"[..])], [], out)?;
    frontend::execute("", 0, out)?;
    // Skipped: the server discards messages after an error until Sync.
    frontend::parse("", "SELECT 1", [], out)?;
    frontend::bind("", "", [], [], [], out)?;
    frontend::execute("", 0, out)?;
    frontend::sync(out);
    conn.flush()?;
    let frames = conn.read_until_ready()?;
    assert_eq!(tags(&frames), "12DDDDEZ");
    let error = first_error(&frames)?;
    assert_eq!(error.code(), Some(sqlstate::DIVISION_BY_ZERO.code()));
    assert_eq!(error.message(), Some("division by zero"));
    assert_eq!(error.severity(), Some("ERROR"));
    assert_eq!(final_status(&frames)?, TransactionStatus::Idle);
    // The connection is usable after the Sync.
    assert_eq!(conn.value("SELECT 'still here'")?, "still here");
    check_scan_run_agrees(conn.transcript())?;
    Ok(())
}
