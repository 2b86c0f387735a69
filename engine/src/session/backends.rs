//! The backend connections one session uses, by node id, and moving between them.

use bytes::BytesMut;
use corepool_protocol::framing::Limits;
use corepool_protocol::message::tags::{ERROR_RESPONSE_TAG, READY_FOR_QUERY_TAG};

use crate::backend::{io_error, next_message, BackendConn, ConnectError};

/// At most one connection per node.
#[derive(Default)]
pub struct Backends {
    conns: Vec<Option<BackendConn>>,
}

impl Backends {
    /// The connection to `node`, if open.
    pub fn get_mut(&mut self, node: usize) -> Option<&mut BackendConn> {
        self.conns.get_mut(node).and_then(Option::as_mut)
    }

    /// True when a connection to `node` is open.
    pub fn has(&self, node: usize) -> bool {
        self.conns.get(node).is_some_and(Option::is_some)
    }

    /// Keeps a new connection.
    pub fn insert(&mut self, conn: BackendConn) {
        let node = conn.node;
        if self.conns.len() <= node {
            self.conns.resize_with(node + 1, || None);
        }
        self.conns[node] = Some(conn);
    }

    /// Drops the connection to `node` (it broke).
    pub fn remove(&mut self, node: usize) -> Option<BackendConn> {
        self.conns.get_mut(node).and_then(Option::take)
    }

    /// Open nodes, ascending.
    pub fn nodes(&self) -> smallvec::SmallVec<[usize; 4]> {
        self.conns
            .iter()
            .enumerate()
            .filter_map(|(i, c)| c.as_ref().map(|_| i))
            .collect()
    }

    /// Every connection, for clean-up.
    pub fn drain(&mut self) -> impl Iterator<Item = BackendConn> + '_ {
        self.conns.drain(..).flatten()
    }
}

/// Reads and drops the replies to requests corepool sent on its own (`discard_pending`).
/// Returns how many ErrorResponses were among them.
pub async fn discard_owed(conn: &mut BackendConn, limits: &Limits) -> Result<u32, ConnectError> {
    let mut errors = 0;
    while conn.side.discard_pending > 0 {
        let (tag, len) = next_message(
            &mut conn.stream,
            &mut conn.rbuf,
            limits,
            conn.node,
            &conn.address,
        )
        .await?;
        let frame = conn.rbuf.split_frame(len);
        match tag {
            ERROR_RESPONSE_TAG => errors += 1,
            READY_FOR_QUERY_TAG => {
                conn.side.discard_pending -= 1;
                if let Some(s) = frame
                    .get(5)
                    .and_then(|b| corepool_protocol::message::TransactionStatus::from_byte(*b))
                {
                    conn.status = s;
                }
            }
            _ => {}
        }
    }
    Ok(errors)
}

/// Queues `bytes` (whole messages) on a quiet backend and records that its replies up to
/// `ready_for_query` ReadyForQuery messages are to be dropped.
pub fn send_discarded(
    conn: &mut BackendConn,
    bytes: bytes::Bytes,
    ready_for_query: u32,
) -> Result<(), ConnectError> {
    let node = conn.node;
    conn.stream
        .send(bytes)
        .map_err(|source| io_error(node, &conn.address, source))?;
    conn.side.discard_pending += ready_for_query;
    Ok(())
}

/// A Query message carrying `sql`.
pub fn query_message(sql: &str) -> BytesMut {
    let mut out = BytesMut::with_capacity(sql.len() + 6);
    let _ = corepool_protocol::message::write::frontend::query(sql, &mut out);
    out
}
