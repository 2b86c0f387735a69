//! Queries: the simple protocol with text results, one-value binary queries over the extended
//! protocol, and streaming the responses of commands that answer with several result sets and a
//! COPY (`BASE_BACKUP`).

use crate::conn::{server_error, Connection, RawMessage};
use crate::prepared::Fetched;
use crate::ClientError;
use bytes::Bytes;
use corepool_protocol::message::backend::{CommandComplete, DataRow, RowDescription};
use corepool_protocol::message::tags::*;
use corepool_protocol::message::write::frontend;
use std::sync::Arc;

/// One result row: each column's raw value (text format for simple queries), `None` for NULL.
/// Values are slices of the received message, not copies.
#[derive(Debug, Clone)]
pub struct Row {
    columns: Arc<[String]>,
    values: Vec<Option<Bytes>>,
}

impl Row {
    /// Column names of the result set.
    pub fn columns(&self) -> &[String] {
        &self.columns
    }

    /// How many columns.
    pub fn len(&self) -> usize {
        self.values.len()
    }

    /// Whether the row has no columns.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// The raw bytes of column `i`; `None` for NULL or a missing column.
    pub fn bytes(&self, i: usize) -> Option<&Bytes> {
        self.values.get(i).and_then(Option::as_ref)
    }

    /// Column `i` as text; `Ok(None)` for NULL, an error when it is not UTF-8 or missing.
    pub fn text(&self, i: usize) -> Result<Option<&str>, ClientError> {
        match self.values.get(i) {
            None => Err(ClientError::protocol(format!("no column {i} in result"))),
            Some(None) => Ok(None),
            Some(Some(b)) => std::str::from_utf8(b)
                .map(Some)
                .map_err(|_| ClientError::protocol(format!("column {i} is not valid UTF-8"))),
        }
    }

    /// Column `i` as non-NULL text.
    pub fn text_required(&self, i: usize) -> Result<&str, ClientError> {
        self.text(i)?
            .ok_or_else(|| ClientError::protocol(format!("column {i} is NULL")))
    }

    /// Column `i` parsed with `FromStr`; NULL or a bad value is an error.
    pub fn parse<T: std::str::FromStr>(&self, i: usize) -> Result<T, ClientError> {
        let text = self.text_required(i)?;
        text.parse().map_err(|_| {
            ClientError::protocol(format!("unexpected value \"{text}\" in column {i}"))
        })
    }
}

/// One step of a response to a simple query, for callers that stream it.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Response {
    /// A result set starts; its column names.
    RowDescription(Arc<[String]>),
    /// A row of the current result set.
    Row(Row),
    /// A command finished, with its tag.
    CommandComplete(String),
    /// The server starts a COPY OUT: read [`Connection::copy_data`] until it returns `None`.
    CopyOut,
    /// The server starts a COPY BOTH (START_REPLICATION).
    CopyBoth,
    /// The query string was empty.
    EmptyQuery,
    /// The whole query is done (ReadyForQuery): the connection takes new queries.
    Ready,
}

impl Connection {
    /// Runs `sql` with the simple protocol and returns the rows of every result set.
    pub async fn simple_query(&mut self, sql: &str) -> Result<Vec<Row>, ClientError> {
        self.send_query(sql).await?;
        let mut rows = Vec::new();
        loop {
            match self.next_response().await? {
                Response::Row(row) => rows.push(row),
                Response::Ready => return Ok(rows),
                Response::CopyOut | Response::CopyBoth => {
                    return Err(ClientError::protocol("unexpected COPY in simple_query"))
                }
                _ => {}
            }
        }
    }

    /// Runs `sql` and returns its only row (an error if there is none).
    pub async fn query_one(&mut self, sql: &str) -> Result<Row, ClientError> {
        self.simple_query(sql)
            .await?
            .into_iter()
            .next()
            .ok_or_else(|| ClientError::protocol(format!("no row returned by: {sql}")))
    }

    /// Sends a simple Query; read the answer with [`next_response`](Self::next_response).
    pub async fn send_query(&mut self, sql: &str) -> Result<(), ClientError> {
        frontend::query(sql, &mut self.out)?;
        self.flush().await
    }

    /// The next step of the current response. An ErrorResponse is returned as
    /// [`ClientError::Server`] after reading up to ReadyForQuery, so the connection stays usable.
    pub async fn next_response(&mut self) -> Result<Response, ClientError> {
        let msg = self.read_message().await?;
        self.decode_response(msg).await
    }

    pub(crate) async fn decode_response(
        &mut self,
        msg: RawMessage,
    ) -> Result<Response, ClientError> {
        Ok(match msg.tag {
            ROW_DESCRIPTION_TAG => {
                let desc = RowDescription::parse(&msg.body)?;
                let names: Vec<String> = desc.fields().map(|f| f.name.to_owned()).collect();
                let names: Arc<[String]> = names.into();
                self.columns = Some(names.clone());
                Response::RowDescription(names)
            }
            DATA_ROW_TAG => Response::Row(self.row(&msg.body)?),
            COMMAND_COMPLETE_TAG => {
                Response::CommandComplete(CommandComplete::parse(&msg.body)?.tag().to_owned())
            }
            COPY_OUT_RESPONSE_TAG => Response::CopyOut,
            COPY_BOTH_RESPONSE_TAG => Response::CopyBoth,
            EMPTY_QUERY_RESPONSE_TAG => Response::EmptyQuery,
            READY_FOR_QUERY_TAG => Response::Ready,
            ERROR_RESPONSE_TAG => return Err(self.drain_after_error(&msg.body).await),
            tag => {
                return Err(ClientError::protocol(format!(
                    "unexpected message '{}'",
                    tag as char
                )))
            }
        })
    }

    fn row(&self, body: &Bytes) -> Result<Row, ClientError> {
        let row = DataRow::parse(body)?;
        let values = row
            .ranges()
            .map(|r| r.map(|r| body.slice(r)))
            .collect::<Vec<_>>();
        let columns = self
            .columns
            .clone()
            .unwrap_or_else(|| Arc::from(Vec::new()));
        Ok(Row { columns, values })
    }

    /// Reads to ReadyForQuery after an ErrorResponse; returns the error.
    pub(crate) async fn drain_after_error(&mut self, body: &[u8]) -> ClientError {
        let err = server_error(body);
        loop {
            match self.read_message().await {
                Ok(m) if m.tag == READY_FOR_QUERY_TAG => return err,
                Ok(_) => {}
                Err(_) => return err,
            }
        }
    }

    /// The next CopyData payload of a COPY OUT / COPY BOTH, or `None` at CopyDone. The payload
    /// is a slice of the received message.
    pub async fn copy_data(&mut self) -> Result<Option<Bytes>, ClientError> {
        let msg = self.read_message().await?;
        match msg.tag {
            COPY_DATA_TAG => Ok(Some(msg.body)),
            COPY_DONE_TAG => Ok(None),
            ERROR_RESPONSE_TAG => Err(self.drain_after_error(&msg.body).await),
            tag => Err(ClientError::protocol(format!(
                "unexpected message '{}' during COPY",
                tag as char
            ))),
        }
    }

    /// Sends a query over the extended protocol with text parameters (`None` is NULL) asking for
    /// binary results; read its answer with [`recv_binary`](Self::recv_binary). Several may be
    /// sent before reading, to keep the server busy.
    pub async fn send_binary(
        &mut self,
        sql: &str,
        params: &[Option<&str>],
    ) -> Result<(), ClientError> {
        frontend::parse("", sql, std::iter::empty(), &mut self.out)?;
        self.send_prepared("", params).await
    }

    /// Reads the answer to one [`send_binary`](Self::send_binary): the first column of the
    /// first row (`None` for no row or NULL), without copying it.
    pub async fn recv_binary(&mut self) -> Result<Option<Bytes>, ClientError> {
        let mut value = None;
        let mut first = true;
        while let Fetched::Row(v) = self.next_fetched().await? {
            if first {
                value = v;
                first = false;
            }
        }
        Ok(value)
    }

    /// [`send_binary`](Self::send_binary) then [`recv_binary`](Self::recv_binary), e.g.
    /// `pg_read_binary_file($1, $2, $3, true)`.
    pub async fn query_binary(
        &mut self,
        sql: &str,
        params: &[Option<&str>],
    ) -> Result<Option<Bytes>, ClientError> {
        self.send_binary(sql, params).await?;
        self.recv_binary().await
    }
}
