//! SCRAM-SHA-256 and md5 logins against real servers, right and wrong passwords.

use corepool_protocol::auth::{Md5Hash, ScramVerifier};
use corepool_protocol::message::backend::{BackendMessage, ErrorResponse};
use corepool_protocol::sqlstate;
use corepool_testkit::{AuthMethod, Cluster};

use crate::client::{Conn, Credential, Reads, TestResult, APPLICATION_NAME, DATABASE};

/// The superuser password of the clusters here.
pub const PASSWORD: &str = "corepool-it s3cret";

/// Authentication request codes of a SCRAM login: SASL, SASLContinue, SASLFinal, Ok.
const SCRAM_REQUESTS: [i32; 4] = [10, 11, 12, 0];

/// Authentication request codes of an md5 login: MD5Password, Ok.
const MD5_REQUESTS: [i32; 2] = [5, 0];

/// A cluster whose TCP logins use `method`, with [`PASSWORD`] for `postgres`.
pub fn cluster(method: AuthMethod) -> TestResult<Cluster> {
    Ok(Cluster::builder()
        .host_auth(method)
        .superuser_password(PASSWORD)
        .start()?)
}

/// Checks that `conn` is logged in as `user` and can run a query whose DataRow says so.
fn check_logged_in(conn: &mut Conn, user: &str) -> TestResult {
    let frames = conn.simple_query("SELECT current_user")?;
    let [description, row, complete, ready] = &frames[..] else {
        return Err(format!("expected 4 messages, got {}", frames.len()).into());
    };
    let field = expect!(description, BackendMessage::RowDescription(d) => d.fields().next());
    let field = field.ok_or("RowDescription without fields")?;
    assert_eq!(
        (field.name, field.type_oid),
        ("current_user", 19),
        "name column"
    );
    let row = expect!(row, BackendMessage::DataRow(row) => row);
    assert_eq!(row.values().collect::<Vec<_>>(), [Some(user.as_bytes())]);
    expect!(complete, BackendMessage::CommandComplete(c) => assert_eq!(c.tag(), "SELECT 1"));
    expect!(ready, BackendMessage::ReadyForQuery(_));
    Ok(())
}

/// Checks the ErrorResponse a failed password login gets.
fn check_password_failed(error: &ErrorResponse<'_>, user: &str) {
    assert_eq!(error.severity(), Some("FATAL"), "severity");
    assert_eq!(error.severity_nonlocalized(), Some("FATAL"));
    assert_eq!(
        error.code(),
        Some(sqlstate::INVALID_PASSWORD.code()),
        "SQLSTATE"
    );
    let message = format!("password authentication failed for user \"{user}\"");
    assert_eq!(error.message(), Some(message.as_str()));
}

/// Logs in with `credential` and checks that the server refuses it with 28P01.
fn expect_refused(port: u16, user: &str, credential: Credential<'_>) -> TestResult {
    let error = match Conn::login(port, user, credential, Reads::Large)? {
        Ok(_) => return Err(format!("{user} logged in with a wrong credential").into()),
        Err(frame) => frame,
    };
    let error = expect!(error, BackendMessage::ErrorResponse(e) => e);
    check_password_failed(&error, user);
    Ok(())
}

#[test]
fn scram_login_runs_a_query_and_wrong_password_is_28p01() -> TestResult {
    let cluster = cluster(AuthMethod::ScramSha256)?;
    let port = cluster.primary().port();
    let mut conn = Conn::connect(port, Credential::Password(PASSWORD), Reads::Tiny(7))?;
    assert_eq!(conn.auth_requests, SCRAM_REQUESTS, "a SCRAM exchange");
    check_logged_in(&mut conn, "postgres")?;

    let version = conn
        .parameter("server_version")
        .ok_or("no server_version")?;
    assert!(version.starts_with("15"), "server_version {version}");
    assert_eq!(conn.parameter("application_name"), Some(APPLICATION_NAME));
    assert_eq!(conn.parameter("server_encoding"), Some("UTF8"));
    assert_eq!(conn.parameter("session_authorization"), Some("postgres"));
    let pid = conn.value("SELECT pg_backend_pid()")?;
    assert_eq!(
        pid,
        conn.process_id()?.to_string(),
        "BackendKeyData process id"
    );
    assert_eq!(conn.value("SELECT current_database()")?, DATABASE);
    crate::scan::check_scan_run_agrees(conn.transcript())?;

    // Wrong passwords: FATAL 28P01 in the crate's ErrorResponse view.
    expect_refused(port, "postgres", Credential::Password("not the password"))?;
    expect_refused(port, "postgres", Credential::Password(""))?;
    // A role that does not exist gets the same answer, after a mock exchange.
    expect_refused(port, "nobody", Credential::Password(PASSWORD))?;
    Ok(())
}

/// Passwords that SASLprep changes (or gives up on), with the roles that get them.
const PREPPED: &[(&str, &str)] = &[
    // Non-ASCII, already normalized: used as is.
    ("prep_plain", "pässwörd ünïcode"),
    // U+00A0 maps to a space, U+2168 (ROMAN NUMERAL NINE) to "IX", U+00AD is removed.
    ("prep_mapped", "no\u{a0}break \u{2168} soft\u{ad}hyphen"),
    // A tab is prohibited: SASLprep fails and the raw bytes are used, as PostgreSQL does.
    ("prep_prohibited", "tab\there ü"),
    // U+0221 is unassigned in Unicode 3.2, SASLprep's table: prohibited, raw bytes again.
    ("prep_unassigned", "unassigned \u{221}"),
    // Hebrew next to Latin breaks the bidi rule: prohibited, raw bytes again.
    ("prep_bidi", "\u{5d0}abc\u{5d0}"),
];

#[test]
fn scram_saslprep_passwords_match_postgres() -> TestResult {
    let cluster = cluster(AuthMethod::ScramSha256)?;
    let node = cluster.primary();
    for (role, password) in PREPPED {
        let sql = format!("CREATE ROLE {role} LOGIN PASSWORD '{password}'");
        node.psql(DATABASE, &sql)?;
    }
    for (role, password) in PREPPED {
        let sql = format!("SELECT rolpassword FROM pg_authid WHERE rolname = '{role}'");
        let verifier = ScramVerifier::parse(&node.psql(DATABASE, &sql)?)?;
        // Both keys derived here from the raw password match the ones PostgreSQL stored.
        verifier.verify_password(password.as_bytes())?;

        let reads = Reads::Tiny(role.len() as u32);
        let mut conn = Conn::connect_as(node.port(), role, Credential::Password(password), reads)?;
        assert_eq!(conn.auth_requests, SCRAM_REQUESTS, "{role}");
        check_logged_in(&mut conn, role)?;
    }
    // The mapped password's prepared form logs in too; the unmapped one does not.
    let port = node.port();
    let prepared = "no break IX softhyphen";
    Conn::connect_as(
        port,
        "prep_mapped",
        Credential::Password(prepared),
        Reads::Large,
    )?;
    expect_refused(port, "prep_prohibited", Credential::Password("tab here ü"))?;
    Ok(())
}

#[test]
fn md5_login_from_password_and_from_stored_hash_then_scram_upgrade() -> TestResult {
    let cluster = cluster(AuthMethod::Md5)?;
    let node = cluster.primary();
    let port = node.port();

    let mut conn = Conn::connect(port, Credential::Password(PASSWORD), Reads::Tiny(5))?;
    assert_eq!(conn.auth_requests, MD5_REQUESTS, "an md5 exchange");
    check_logged_in(&mut conn, "postgres")?;

    // PostgreSQL stored md5(password || user); the crate computes the same hash.
    let hash = Md5Hash::from_password(b"postgres", PASSWORD.as_bytes());
    let stored = node.psql(
        DATABASE,
        "SELECT rolpassword FROM pg_authid WHERE rolname = 'postgres'",
    )?;
    assert_eq!(stored, hash.as_str(), "stored md5 hash");
    let mut conn = Conn::connect(port, Credential::Md5Hash(&hash), Reads::Large)?;
    check_logged_in(&mut conn, "postgres")?;
    // A proxy holding only the stored hash logs in with it.
    let parsed = Md5Hash::parse(stored.as_bytes())?;
    let mut conn = Conn::connect(port, Credential::Md5Hash(&parsed), Reads::Large)?;
    check_logged_in(&mut conn, "postgres")?;

    expect_refused(port, "postgres", Credential::Password("not the password"))?;
    let wrong = Md5Hash::from_password(b"someone_else", PASSWORD.as_bytes());
    expect_refused(port, "postgres", Credential::Md5Hash(&wrong))?;

    // md5 in pg_hba.conf with a SCRAM secret stored: PostgreSQL runs SCRAM instead.
    node.psql(
        DATABASE,
        "SET password_encryption = 'scram-sha-256'; CREATE ROLE carol LOGIN PASSWORD 'carol pw'",
    )?;
    let mut conn = Conn::connect_as(
        port,
        "carol",
        Credential::Password("carol pw"),
        Reads::Large,
    )?;
    assert_eq!(
        conn.auth_requests, SCRAM_REQUESTS,
        "md5 in pg_hba, SCRAM secret"
    );
    check_logged_in(&mut conn, "carol")?;
    Ok(())
}
