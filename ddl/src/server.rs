//! [`SqlServer`]: what the executor needs from a connection, and its impl over corepool-client.
//!
//! The executor runs the local server's statements through this trait so that the CLI (a
//! [`ClientSession`]) and the proxy (the session's own backend connection, in `engine`) share
//! one algorithm. Remote servers are always [`ClientSession`]s.

use corepool_client::{ClientError, ConnectOptions, Connection};
use corepool_protocol::message::backend::ReadyForQuery;
use corepool_protocol::message::backend::{CommandComplete, DataRow};
use corepool_protocol::message::tags::{
    COMMAND_COMPLETE_TAG, COPY_BOTH_RESPONSE_TAG, COPY_IN_RESPONSE_TAG, COPY_OUT_RESPONSE_TAG,
    DATA_ROW_TAG, EMPTY_QUERY_RESPONSE_TAG, ERROR_RESPONSE_TAG, READY_FOR_QUERY_TAG,
    ROW_DESCRIPTION_TAG,
};
use corepool_protocol::message::TransactionStatus;

/// Rows of text values; `None` is SQL NULL.
pub type Rows = Vec<Vec<Option<String>>>;

/// What one simple query returned.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Reply {
    /// The rows of every result set, in order.
    pub rows: Rows,
    /// The command tag of each statement, in order (`CREATE TABLE`, `SELECT 1`…).
    pub tags: Vec<String>,
}

/// An ErrorResponse or NoticeResponse, field by field (the client crate's).
pub use corepool_client::Notice;

/// Why a query did not return rows.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QueryError {
    /// The server answered with an ErrorResponse; the connection is still usable.
    #[error("{}", .0.message)]
    Server(Notice),
    /// The connection broke or the server broke the protocol: it cannot be used again.
    #[error("{0}")]
    Broken(String),
}

/// A connection the executor can run statements on.
///
/// Futures are not `Send`: everything runs on one shard thread.
#[allow(async_fn_in_trait)]
pub trait SqlServer {
    /// Runs `sql` with the simple query protocol. Notices the server sends on the way are
    /// pushed to `notices`, in order.
    async fn query(&mut self, sql: &str, notices: &mut Vec<Notice>) -> Result<Reply, QueryError>;

    /// The transaction status of the last ReadyForQuery.
    fn transaction_status(&self) -> TransactionStatus;
}

/// A [`Connection`] that remembers its transaction status: the CLI's local server and every
/// remote server.
#[derive(Debug)]
pub struct ClientSession {
    conn: Connection,
    status: TransactionStatus,
}

impl ClientSession {
    /// Connects with `opts`.
    ///
    /// # Errors
    /// As [`Connection::connect`].
    pub async fn connect(opts: &ConnectOptions) -> Result<ClientSession, ClientError> {
        Ok(ClientSession::new(Connection::connect(opts).await?))
    }

    /// Wraps a connection that is idle (outside a transaction block).
    pub fn new(conn: Connection) -> ClientSession {
        ClientSession {
            conn,
            status: TransactionStatus::Idle,
        }
    }

    /// The connection.
    pub fn connection(&mut self) -> &mut Connection {
        &mut self.conn
    }

    /// Sends Terminate and closes.
    pub async fn close(self) {
        self.conn.close().await;
    }

    async fn read_reply(&mut self, notices: &mut Vec<Notice>) -> Result<Reply, QueryError> {
        let broken = |e: ClientError| QueryError::Broken(e.to_string());
        let bad = |e: corepool_protocol::Error| QueryError::Broken(e.to_string());
        let mut reply = Reply::default();
        let mut error = None;
        loop {
            let msg = self.conn.read_message().await.map_err(broken)?;
            // Notices are kept by the connection as it reads; pass them on in order.
            notices.extend(self.conn.take_notices());
            match msg.tag {
                ROW_DESCRIPTION_TAG | EMPTY_QUERY_RESPONSE_TAG => {}
                DATA_ROW_TAG => reply
                    .rows
                    .push(text_row(&msg.body).map_err(QueryError::Broken)?),
                COMMAND_COMPLETE_TAG => {
                    let tag = CommandComplete::parse(&msg.body).map_err(bad)?;
                    reply.tags.push(tag.tag().to_owned());
                }
                ERROR_RESPONSE_TAG => {
                    error = Some(Notice::from_error_body(&msg.body).map_err(bad)?);
                }
                READY_FOR_QUERY_TAG => {
                    self.status = ReadyForQuery::parse(&msg.body).map_err(bad)?.status();
                    return match error {
                        Some(e) => Err(QueryError::Server(e)),
                        None => Ok(reply),
                    };
                }
                COPY_IN_RESPONSE_TAG | COPY_OUT_RESPONSE_TAG | COPY_BOTH_RESPONSE_TAG => {
                    return Err(QueryError::Broken("COPY is not supported here".to_owned()));
                }
                tag => {
                    return Err(QueryError::Broken(format!(
                        "unexpected message '{}' from server",
                        char::from(tag)
                    )))
                }
            }
        }
    }
}

impl SqlServer for ClientSession {
    async fn query(&mut self, sql: &str, notices: &mut Vec<Notice>) -> Result<Reply, QueryError> {
        self.conn
            .send_query(sql)
            .await
            .map_err(|e| QueryError::Broken(e.to_string()))?;
        self.read_reply(notices).await
    }

    fn transaction_status(&self) -> TransactionStatus {
        self.status
    }
}

/// A DataRow's values as text.
///
/// # Errors
/// When the row is malformed or a value is not UTF-8 (never rewritten).
pub fn text_row(body: &[u8]) -> Result<Vec<Option<String>>, String> {
    let row = DataRow::parse(body).map_err(|e| e.to_string())?;
    row.values()
        .map(|v| match v {
            None => Ok(None),
            Some(b) => std::str::from_utf8(b)
                .map(|s| Some(s.to_owned()))
                .map_err(|_| "a DataRow value is not valid UTF-8".to_owned()),
        })
        .collect()
}
