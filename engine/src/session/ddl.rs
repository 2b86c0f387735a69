//! HighGo's sharding DDL sent through the proxy: spotted per Query (and per extended-protocol
//! run, see `inband_extended`) by the router, run by corepool-ddl on the session's primary,
//! answered as the server would (NoticeResponses, one CommandComplete, ReadyForQuery), or with
//! an ErrorResponse carrying the statement's position for a syntax error. Every other statement
//! passes through untouched.

use bytes::BytesMut;
use corepool_ddl::{DdlExecError, ErrorKind, Notice};
use corepool_protocol::ddl;
use corepool_protocol::message::write::backend::{self as out, ErrorData, Severity};
use corepool_protocol::sqlstate;

use super::relay::End;
use super::Session;
use crate::backend::BackendServer;

impl Session<'_> {
    /// Runs the enhanced statement at the front of the client's input on the primary and
    /// answers the client. `Err` ends the session (the client or the primary is gone).
    pub(super) async fn run_ddl(&mut self) -> Result<(), End> {
        let primary = self.router.primary;
        self.switch_to(primary).await?;
        let (msg_len, sql) = self.side.front_query();
        let reply = self.execute_ddl(&sql).await?;
        self.side.consume_front(msg_len);
        self.reply(reply).await
    }

    /// Runs enhanced statement `sql` on the primary (the caller has switched to it) and returns
    /// the simple-protocol reply: NoticeResponses, then CommandComplete or an ErrorResponse,
    /// then ReadyForQuery with the primary's status.
    pub(super) async fn execute_ddl(&mut self, sql: &str) -> Result<BytesMut, End> {
        let primary = self.router.primary;
        let limits = self.shard.limits();
        let Some(conn) = self.backends.get_mut(primary) else {
            return Err(End::backend_lost(None));
        };
        let mut notices = Vec::new();
        let result = if among_other_statements(sql) {
            Err(DdlExecError::new(
                ErrorKind::Parse,
                sqlstate::FEATURE_NOT_SUPPORTED,
                "enhanced partition DDL cannot be combined with other statements in one query",
            )
            .with_hint("Send the statement as a query of its own."))
        } else {
            match ddl::parse(sql) {
                Ok(Some(stmt)) => {
                    let mut server = BackendServer::new(conn, limits);
                    corepool_ddl::execute(&mut server, &stmt, &mut |n| notices.push(n)).await
                }
                Ok(None) => Err(DdlExecError::new(
                    ErrorKind::Parse,
                    sqlstate::INTERNAL_ERROR,
                    "enhanced DDL expected",
                )),
                Err(e) => Err(DdlExecError::from_parse(&e, sql)),
            }
        };
        if let Err(e) = &result {
            tracing::info!(code = e.code(), error = %e, "enhanced DDL failed");
            if e.kind() == ErrorKind::Connection {
                return Err(End::backend_lost(None));
            }
        }
        let status = conn.status;
        self.router.primary_status = status;
        let mut reply = BytesMut::with_capacity(256);
        for n in &notices {
            write_notice(n, &mut reply);
        }
        match &result {
            Ok(tag) => {
                let _ = out::command_complete(tag.as_str(), &mut reply);
            }
            Err(e) => write_error(e, &mut reply),
        }
        out::ready_for_query(status, &mut reply);
        Ok(reply)
    }
}

/// Whether statement text is one of the enhanced forms (or a malformed one the parser should
/// answer), for Parse messages.
pub(crate) fn is_ddl_text(sql: &str) -> bool {
    !matches!(ddl::parse(sql), Ok(None))
}

/// Whether a query string of several statements holds an enhanced one: corepool runs enhanced
/// statements itself, one per query, so such a string is refused rather than sent to a server
/// that would call the enhanced syntax an error somewhere in the middle. Strings without a `;`
/// before their last statement, or without `CREATE`/`DROP`, are passed over without lexing.
pub(crate) fn among_other_statements(sql: &str) -> bool {
    let bytes = sql.as_bytes();
    let Some(first_semicolon) = memchr::memchr(b';', bytes) else {
        return false;
    };
    let only_trailing = bytes[first_semicolon..]
        .iter()
        .all(|b| *b == b';' || b.is_ascii_whitespace());
    if only_trailing || !(contains_word(bytes, b"create") || contains_word(bytes, b"drop")) {
        return false;
    }
    let mut statements = 0;
    let mut enhanced = false;
    for span in corepool_protocol::sql::split(sql) {
        let Ok(span) = span else {
            return false;
        };
        statements += 1;
        enhanced |= is_ddl_text(span.text(sql));
    }
    statements > 1 && enhanced
}

/// Whether `word` (lower-case ASCII) occurs in `text`, in any case.
fn contains_word(text: &[u8], word: &[u8]) -> bool {
    text.windows(word.len())
        .any(|w| w.eq_ignore_ascii_case(word))
}

/// Cheap look at a Parse body: could its statement be enhanced DDL (`CREATE` or `DROP` first)?
pub(crate) fn parse_text_might_be_ddl(body: &[u8]) -> bool {
    let head = super::route::parse_text_head(body);
    head.eq_ignore_ascii_case(b"create")
        || head
            .get(..4)
            .is_some_and(|h| h.eq_ignore_ascii_case(b"drop"))
}

fn write_notice(n: &Notice, buf: &mut BytesMut) {
    let severity = match n.severity.as_str() {
        "WARNING" => Severity::Warning,
        "INFO" => Severity::Info,
        "LOG" => Severity::Log,
        "DEBUG" => Severity::Debug,
        _ => Severity::Notice,
    };
    let mut data = ErrorData::new(severity, &n.code, &n.message);
    data.detail = n.detail.as_deref();
    data.hint = n.hint.as_deref();
    if out::notice_response(&data, buf).is_err() {
        // A NUL in server text or a bad code: send the message alone rather than nothing.
        let _ = out::notice_response(
            &ErrorData::new(severity, "00000", "notice not representable"),
            buf,
        );
    }
}

fn write_error(e: &DdlExecError, buf: &mut BytesMut) {
    let mut data = ErrorData::new(Severity::Error, e.code(), e.message());
    data.detail = e.detail();
    data.hint = e.hint();
    data.position = e.position();
    if out::error_response(&data, buf).is_err() {
        let _ = out::error_response(&ErrorData::new(Severity::Error, "XX000", e.message()), buf);
    }
}

#[cfg(test)]
mod tests {
    use super::among_other_statements;

    #[test]
    fn finds_enhanced_statements_among_others() {
        let enhanced = "CREATE TABLE t (a int) PARTITION BY RANGE (a) (PARTITION t1 DEFAULT)";
        let cases: &[(String, bool)] = &[
            (format!("BEGIN; {enhanced}; COMMIT"), true),
            (format!("{enhanced}; SELECT 1"), true),
            ("select 1;\ndrop table t include remote".to_owned(), true),
            // One statement, with or without its `;`: the usual enhanced path takes it.
            (enhanced.to_owned(), false),
            (format!("{enhanced};  ;\n"), false),
            // Several standard statements, whatever words their strings hold.
            ("CREATE TABLE a (x int); DROP TABLE a".to_owned(), false),
            (
                "SELECT 'PARTITION BY RANGE (a) (PARTITION x DEFAULT)'; SELECT 2".to_owned(),
                false,
            ),
            ("SELECT 1; SELECT 2".to_owned(), false),
            ("SELECT ';'".to_owned(), false),
            // A lexical error: left to the server, which reports it.
            (format!("{enhanced}; SELECT 'unterminated"), false),
        ];
        for (sql, expected) in cases {
            assert_eq!(among_other_statements(sql), *expected, "{sql}");
        }
    }
}
