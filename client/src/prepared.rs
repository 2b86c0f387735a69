//! Named prepared statements with binary results, streamed a row at a time: the shape of a
//! parallel backup worker's reads (`SELECT pg_read_binary_file(…) FROM generate_series(…)`),
//! where the statement is parsed once per session and each execution returns many rows.

use crate::conn::Connection;
use crate::ClientError;
use bytes::Bytes;
use corepool_protocol::framing::{Header, HEADER_LEN};
use corepool_protocol::message::backend::DataRow;
use corepool_protocol::message::tags::*;
use corepool_protocol::message::write::frontend;
use corepool_protocol::message::Format;

/// One step of a streamed execution read with [`Connection::next_fetched_into`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placed {
    /// A row whose first column (this many bytes, `None` for NULL) is now at the start of the
    /// destination.
    Row(Option<usize>),
    /// The execution finished (ReadyForQuery).
    Done,
}

/// Bytes of a one-column DataRow before its value: tag, length, column count, value length.
const ROW_PREFIX: usize = HEADER_LEN + 2 + 4;

/// One step of a streamed execution.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fetched {
    /// A row: its first column (`None` for NULL), a slice of the received message.
    Row(Option<Bytes>),
    /// The execution finished (ReadyForQuery).
    Done,
}

impl Connection {
    /// Parses `sql` as the named statement `name` (parameter types left to the server) and
    /// waits for the server to accept it.
    pub async fn prepare(&mut self, name: &str, sql: &str) -> Result<(), ClientError> {
        frontend::parse(name, sql, std::iter::empty(), &mut self.out)?;
        frontend::sync(&mut self.out);
        self.flush().await?;
        loop {
            let msg = self.read_message().await?;
            match msg.tag {
                PARSE_COMPLETE_TAG => {}
                READY_FOR_QUERY_TAG => return Ok(()),
                ERROR_RESPONSE_TAG => return Err(self.drain_after_error(&msg.body).await),
                tag => {
                    return Err(ClientError::protocol(format!(
                        "unexpected message '{}' after Parse",
                        tag as char
                    )))
                }
            }
        }
    }

    /// Executes the prepared statement `name` with text parameters (`None` is NULL), asking for
    /// binary results. Read the answer with [`next_fetched`](Self::next_fetched) until
    /// [`Fetched::Done`]; several executions may be sent before reading.
    pub async fn send_prepared(
        &mut self,
        name: &str,
        params: &[Option<&str>],
    ) -> Result<(), ClientError> {
        frontend::bind(
            "",
            name,
            [Format::Text],
            params.iter().map(|p| p.map(str::as_bytes)),
            [Format::Binary],
            &mut self.out,
        )?;
        frontend::execute("", 0, &mut self.out)?;
        frontend::sync(&mut self.out);
        self.flush().await
    }

    /// The next row of the current execution, or [`Fetched::Done`]. An ErrorResponse is read
    /// through to ReadyForQuery and returned as [`ClientError::Server`].
    pub async fn next_fetched(&mut self) -> Result<Fetched, ClientError> {
        loop {
            let msg = self.read_message().await?;
            match msg.tag {
                DATA_ROW_TAG => {
                    let row = DataRow::parse(&msg.body)?;
                    let value = row.ranges().next().flatten().map(|r| msg.body.slice(r));
                    return Ok(Fetched::Row(value));
                }
                PARSE_COMPLETE_TAG
                | BIND_COMPLETE_TAG
                | COMMAND_COMPLETE_TAG
                | NO_DATA_TAG
                | EMPTY_QUERY_RESPONSE_TAG => {}
                READY_FOR_QUERY_TAG => return Ok(Fetched::Done),
                ERROR_RESPONSE_TAG => return Err(self.drain_after_error(&msg.body).await),
                tag => {
                    return Err(ClientError::protocol(format!(
                        "unexpected message '{}' in a prepared execution",
                        tag as char
                    )))
                }
            }
        }
    }

    /// Like [`next_fetched`](Self::next_fetched), but a one-column row's value is received
    /// into `dest` — read from the socket straight into it, past the few bytes already
    /// buffered — instead of being split off the read buffer. For values the caller stores
    /// anyway (a backup's DMA buffers) this saves a copy of every byte.
    ///
    /// A value longer than `dest` is an error that leaves the connection unusable.
    pub async fn next_fetched_into(&mut self, dest: &mut [u8]) -> Result<Placed, ClientError> {
        let header = loop {
            let pending = self.fill_to(HEADER_LEN).await?;
            let Some(header) = Header::parse(pending)? else {
                return Err(ClientError::protocol("incomplete message header"));
            };
            match header.tag {
                // What precedes and follows the rows: skipped here so that every row, the
                // first included, takes the direct path.
                PARSE_COMPLETE_TAG | BIND_COMPLETE_TAG | COMMAND_COMPLETE_TAG => {
                    self.read_message().await?;
                }
                DATA_ROW_TAG if header.frame_len() >= ROW_PREFIX => break header,
                _ => return self.next_fetched_copied(dest).await,
            }
        };
        let p = self.fill_to(ROW_PREFIX).await?;
        let columns = i16::from_be_bytes([p[5], p[6]]);
        let len = i32::from_be_bytes([p[7], p[8], p[9], p[10]]);
        if columns != 1 {
            // Not the shape this path is for: the general reader takes it.
            return self.next_fetched_copied(dest).await;
        }
        let Ok(len) = usize::try_from(len) else {
            // NULL: the message is just the prefix.
            if header.frame_len() != ROW_PREFIX {
                return Err(ClientError::protocol("malformed DataRow"));
            }
            self.consume(ROW_PREFIX);
            return Ok(Placed::Row(None));
        };
        if header.frame_len() != ROW_PREFIX + len {
            return Err(ClientError::protocol("malformed DataRow"));
        }
        let Some(slot) = dest.get_mut(..len) else {
            return Err(ClientError::protocol(format!(
                "a value of {len} bytes does not fit the {} bytes expected",
                dest.len()
            )));
        };
        self.consume(ROW_PREFIX);
        self.read_exact_into(slot).await?;
        Ok(Placed::Row(Some(len)))
    }
}

impl Connection {
    /// [`next_fetched`](Self::next_fetched) with the value copied into `dest`.
    async fn next_fetched_copied(&mut self, dest: &mut [u8]) -> Result<Placed, ClientError> {
        Ok(match self.next_fetched().await? {
            Fetched::Done => Placed::Done,
            Fetched::Row(None) => Placed::Row(None),
            Fetched::Row(Some(v)) => Placed::Row(Some(place(&v, dest)?)),
        })
    }
}

/// Copies `value` to the start of `dest`.
fn place(value: &[u8], dest: &mut [u8]) -> Result<usize, ClientError> {
    let room = dest.len();
    let slot = dest.get_mut(..value.len()).ok_or_else(|| {
        ClientError::protocol(format!(
            "a value of {} bytes does not fit the {room} bytes expected",
            value.len()
        ))
    })?;
    slot.copy_from_slice(value);
    Ok(value.len())
}
