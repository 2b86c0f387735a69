//! [`BackendServer`]: corepool-ddl's [`SqlServer`] over a session's own backend connection, so
//! enhanced DDL sent through the proxy runs on the session's primary, in its transaction.

use bytes::BytesMut;
use corepool_ddl::server::text_row;
use corepool_ddl::{Notice, QueryError, Reply, SqlServer};
use corepool_protocol::framing::Limits;
use corepool_protocol::message::backend::{CommandComplete, ReadyForQuery};
use corepool_protocol::message::tags::{
    COMMAND_COMPLETE_TAG, COPY_BOTH_RESPONSE_TAG, COPY_IN_RESPONSE_TAG, COPY_OUT_RESPONSE_TAG,
    DATA_ROW_TAG, ERROR_RESPONSE_TAG, NOTICE_RESPONSE_TAG, READY_FOR_QUERY_TAG,
};
use corepool_protocol::message::{write, TransactionStatus};

use super::connect::{next_message, BackendConn};

/// A quiet backend connection (nothing owed to the client or to corepool) lent to the DDL
/// executor. ParameterStatus and NotificationResponse messages met on the way are dropped.
pub struct BackendServer<'a> {
    conn: &'a mut BackendConn,
    limits: Limits,
}

impl<'a> BackendServer<'a> {
    /// Lends `conn`, read with `limits`.
    pub fn new(conn: &'a mut BackendConn, limits: Limits) -> Self {
        BackendServer { conn, limits }
    }
}

impl SqlServer for BackendServer<'_> {
    async fn query(&mut self, sql: &str, notices: &mut Vec<Notice>) -> Result<Reply, QueryError> {
        let node = self.conn.node;
        let broken = |e: String| QueryError::Broken(format!("backend node {node}: {e}"));
        let mut out = BytesMut::with_capacity(sql.len() + 6);
        write::frontend::query(sql, &mut out).map_err(|e| broken(e.to_string()))?;
        self.conn
            .stream
            .write_all(&out)
            .await
            .map_err(|e| broken(e.to_string()))?;
        let mut reply = Reply::default();
        let mut error = None;
        loop {
            let (tag, len) = next_message(
                &mut self.conn.stream,
                &mut self.conn.rbuf,
                &self.limits,
                node,
                &self.conn.address,
            )
            .await
            .map_err(|e| broken(e.to_string()))?;
            let frame = self.conn.rbuf.split_frame(len);
            let body = frame.get(5..).unwrap_or_default();
            match tag {
                DATA_ROW_TAG => reply.rows.push(text_row(body).map_err(broken)?),
                COMMAND_COMPLETE_TAG => {
                    let c = CommandComplete::parse(body).map_err(|e| broken(e.to_string()))?;
                    reply.tags.push(c.tag().to_owned());
                }
                NOTICE_RESPONSE_TAG => {
                    notices.push(Notice::from_notice_body(body).map_err(|e| broken(e.to_string()))?)
                }
                ERROR_RESPONSE_TAG => {
                    error = Some(Notice::from_error_body(body).map_err(|e| broken(e.to_string()))?)
                }
                READY_FOR_QUERY_TAG => {
                    let r = ReadyForQuery::parse(body).map_err(|e| broken(e.to_string()))?;
                    self.conn.status = r.status();
                    return match error {
                        Some(e) => Err(QueryError::Server(e)),
                        None => Ok(reply),
                    };
                }
                COPY_IN_RESPONSE_TAG | COPY_OUT_RESPONSE_TAG | COPY_BOTH_RESPONSE_TAG => {
                    return Err(broken("unexpected COPY".to_owned()));
                }
                _ => {}
            }
        }
    }

    fn transaction_status(&self) -> TransactionStatus {
        self.conn.status
    }
}
