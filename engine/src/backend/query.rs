//! Running corepool's own short queries on a session's backend connection (catalog lookups).

use std::time::Duration;

use bytes::BytesMut;
use corepool_protocol::framing::Limits;
use corepool_protocol::message::backend::{DataRow, ReadyForQuery};
use corepool_protocol::message::tags::{DATA_ROW_TAG, ERROR_RESPONSE_TAG, READY_FOR_QUERY_TAG};
use corepool_protocol::message::write;

use super::connect::{io_error, next_message, BackendConn, ConnectError};
use crate::runtime;

/// Rows of text values; `None` is SQL NULL.
pub type Rows = Vec<Vec<Option<String>>>;

/// Runs `sql` (simple protocol) on an idle connection and returns its rows. `Ok(None)` when the
/// server answered with an error (the connection stays usable).
pub async fn internal_query(
    conn: &mut BackendConn,
    sql: &str,
    limits: &Limits,
) -> Result<Option<Rows>, ConnectError> {
    let node = conn.node;
    let mut out = BytesMut::with_capacity(64 + sql.len());
    write::frontend::query(sql, &mut out)
        .map_err(|source| ConnectError::Protocol { node, source })?;
    let run = async {
        conn.stream
            .write_all(&out)
            .await
            .map_err(|source| io_error(node, &conn.address, source))?;
        let mut rows = Vec::new();
        let mut failed = false;
        loop {
            let (tag, len) = next_message(
                &mut conn.stream,
                &mut conn.rbuf,
                limits,
                node,
                &conn.address,
            )
            .await?;
            let frame = conn.rbuf.split_frame(len);
            let body = &frame[5..];
            match tag {
                DATA_ROW_TAG => {
                    let row = DataRow::parse(body)
                        .map_err(|source| ConnectError::Protocol { node, source })?;
                    rows.push(
                        row.values()
                            .map(|v| v.and_then(|b| std::str::from_utf8(b).ok().map(str::to_owned)))
                            .collect(),
                    );
                }
                ERROR_RESPONSE_TAG => failed = true,
                READY_FOR_QUERY_TAG => {
                    let r = ReadyForQuery::parse(body)
                        .map_err(|source| ConnectError::Protocol { node, source })?;
                    conn.status = r.status();
                    return Ok((!failed).then_some(rows));
                }
                _ => {}
            }
        }
    };
    match runtime::timeout(Duration::from_secs(10), run).await {
        Some(r) => r,
        None => Err(ConnectError::Timeout {
            node,
            limit: Duration::from_secs(10),
        }),
    }
}
