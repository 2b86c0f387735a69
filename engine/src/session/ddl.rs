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
        let result = if ddl::among_other_statements(sql) {
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
