//! Replication commands on a walsender connection: IDENTIFY_SYSTEM, slots, START_REPLICATION.
//!
//! The messages inside COPY BOTH (XLogData, keepalives, standby status updates) are decoded and
//! written by the pure [`messages`] module and re-exported here.

pub mod messages;

pub use messages::*;

use crate::query::Response;
use crate::{ClientError, Connection};
use bytes::BytesMut;
use corepool_protocol::message::tags::*;
use corepool_protocol::message::write::frontend;

/// The answer to IDENTIFY_SYSTEM.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SystemInfo {
    /// The cluster's system identifier (decimal text).
    pub system_id: String,
    /// The current timeline.
    pub timeline: u32,
    /// The current WAL flush position, as `X/X` text.
    pub xlogpos: String,
    /// The database of a `replication=database` connection.
    pub dbname: Option<String>,
}

/// Quotes an identifier for a replication command (`"name"`, `"` doubled).
pub fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

impl Connection {
    /// IDENTIFY_SYSTEM.
    pub async fn identify_system(&mut self) -> Result<SystemInfo, ClientError> {
        let row = self.query_one("IDENTIFY_SYSTEM").await?;
        Ok(SystemInfo {
            system_id: row.text_required(0)?.to_owned(),
            timeline: row.parse(1)?,
            xlogpos: row.text_required(2)?.to_owned(),
            dbname: row.text(3)?.map(str::to_owned),
        })
    }

    /// `SHOW name` on any connection.
    pub async fn show(&mut self, name: &str) -> Result<String, ClientError> {
        let row = self.query_one(&format!("SHOW {name}")).await?;
        Ok(row.text_required(0)?.to_owned())
    }

    /// `CREATE_REPLICATION_SLOT "name" [TEMPORARY] PHYSICAL (RESERVE_WAL)`.
    pub async fn create_physical_slot(
        &mut self,
        name: &str,
        temporary: bool,
    ) -> Result<(), ClientError> {
        let temp = if temporary { " TEMPORARY" } else { "" };
        let sql = format!(
            "CREATE_REPLICATION_SLOT {}{temp} PHYSICAL (RESERVE_WAL)",
            quote_ident(name)
        );
        self.simple_query(&sql).await.map(drop)
    }

    /// `DROP_REPLICATION_SLOT "name"`.
    pub async fn drop_slot(&mut self, name: &str) -> Result<(), ClientError> {
        let sql = format!("DROP_REPLICATION_SLOT {}", quote_ident(name));
        self.simple_query(&sql).await.map(drop)
    }

    /// `START_REPLICATION [SLOT s] PHYSICAL X/X TIMELINE t`; on success the connection is in
    /// COPY BOTH mode: read with [`copy_data`](Self::copy_data), answer with
    /// [`send_standby_status`](Self::send_standby_status), end with
    /// [`end_copy_both`](Self::end_copy_both).
    pub async fn start_replication(
        &mut self,
        slot: Option<&str>,
        start: u64,
        timeline: u32,
    ) -> Result<(), ClientError> {
        let slot = slot
            .map(|s| format!("SLOT {} ", quote_ident(s)))
            .unwrap_or_default();
        let sql = format!(
            "START_REPLICATION {slot}PHYSICAL {:X}/{:X} TIMELINE {timeline}",
            start >> 32,
            start & 0xFFFF_FFFF
        );
        self.send_query(&sql).await?;
        match self.next_response().await? {
            Response::CopyBoth => Ok(()),
            other => Err(ClientError::protocol(format!(
                "expected CopyBothResponse, got {other:?}"
            ))),
        }
    }

    /// Sends a standby status update inside the COPY BOTH stream.
    pub async fn send_standby_status(&mut self, status: &StandbyStatus) -> Result<(), ClientError> {
        let mut payload = BytesMut::with_capacity(34);
        write_standby_status(status, &mut payload);
        frontend::copy_data(&payload, &mut self.out)?;
        self.flush().await
    }

    /// Ends COPY BOTH: sends CopyDone and reads to ReadyForQuery, skipping remaining CopyData,
    /// the server's CopyDone, the optional next-timeline result set and the CommandCompletes.
    /// Returns the next-timeline row `(tli, start LSN text)` when the server sent one.
    pub async fn end_copy_both(&mut self) -> Result<Option<(u32, String)>, ClientError> {
        frontend::copy_done(&mut self.out);
        self.flush().await?;
        let mut next = None;
        loop {
            let msg = self.read_message().await?;
            match msg.tag {
                COPY_DATA_TAG | COPY_DONE_TAG => {}
                READY_FOR_QUERY_TAG => return Ok(next),
                ERROR_RESPONSE_TAG => return Err(self.drain_after_error(&msg.body).await),
                _ => {
                    if let Response::Row(row) = self.decode_response(msg).await? {
                        next = Some((row.parse(0)?, row.text_required(1)?.to_owned()));
                    }
                }
            }
        }
    }
}
