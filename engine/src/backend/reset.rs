//! Cleaning a backend connection before it goes back to the pool (reset_query_list).

use std::time::Duration;

use bytes::BytesMut;
use corepool_protocol::framing::Limits;
use corepool_protocol::message::backend::{ParameterStatus, ReadyForQuery};
use corepool_protocol::message::tags::{
    ERROR_RESPONSE_TAG, PARAMETER_STATUS_TAG, READY_FOR_QUERY_TAG,
};
use corepool_protocol::message::write;
use corepool_protocol::message::TransactionStatus;

use super::connect::{io_error, next_message, BackendConn, ConnectError};
use crate::runtime;

/// Why a reset failed; the connection is then closed instead of cached.
#[derive(Debug, thiserror::Error)]
pub enum ResetError {
    /// A reset statement failed on the server.
    #[error("reset query {query:?} failed on backend node {node}")]
    Failed {
        /// The statement.
        query: String,
        /// Node id.
        node: usize,
    },
    /// A reset statement did not finish within 10 seconds.
    #[error("reset query {query:?} timed out on backend node {node}")]
    Timeout {
        /// The statement.
        query: String,
        /// Node id.
        node: usize,
    },
    /// I/O or protocol failure.
    #[error(transparent)]
    Connection(#[from] ConnectError),
}

/// Pgpool-II's per-statement limit for reset queries.
const RESET_TIMEOUT: Duration = Duration::from_secs(10);

/// Runs each statement of `reset_query_list` in order. `ABORT` is skipped when the backend is
/// idle (not in a transaction), as Pgpool-II does.
pub async fn reset(
    conn: &mut BackendConn,
    queries: &[String],
    limits: &Limits,
) -> Result<(), ResetError> {
    let mut out = BytesMut::with_capacity(64);
    for q in queries {
        if conn.status == TransactionStatus::Idle && q.trim().eq_ignore_ascii_case("abort") {
            continue;
        }
        out.clear();
        write::frontend::query(q, &mut out).map_err(|source| ConnectError::Protocol {
            node: conn.node,
            source,
        })?;
        let node = conn.node;
        let run = async {
            conn.stream
                .write_all(&out)
                .await
                .map_err(|source| io_error(node, &conn.address, source))?;
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
                    ERROR_RESPONSE_TAG => failed = true,
                    PARAMETER_STATUS_TAG => {
                        if let Ok(p) = ParameterStatus::parse(body) {
                            conn.reply.set_parameter(p.name(), p.value());
                        }
                    }
                    READY_FOR_QUERY_TAG => {
                        let r = ReadyForQuery::parse(body)
                            .map_err(|source| ConnectError::Protocol { node, source })?;
                        conn.status = r.status();
                        return Ok::<bool, ResetError>(failed);
                    }
                    _ => {}
                }
            }
        };
        match runtime::timeout(RESET_TIMEOUT, run).await {
            Some(Ok(false)) => {}
            Some(Ok(true)) => {
                return Err(ResetError::Failed {
                    query: q.clone(),
                    node,
                })
            }
            Some(Err(e)) => return Err(e),
            None => {
                return Err(ResetError::Timeout {
                    query: q.clone(),
                    node,
                })
            }
        }
    }
    Ok(())
}
