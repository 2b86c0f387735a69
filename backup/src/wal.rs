//! Streaming the WAL a backup needs (`-X stream`) over a replication connection, into
//! `pg_wal/` segment files, as `pg_basebackup` does.
//!
//! The slot is set up first ([`WalStreamer::connect`]) so that no WAL the backup needs can be
//! recycled, then [`WalStreamer::run`] streams from the start of the segment holding the backup
//! start LSN until the control side reports the end LSN through a [`StopAt`] and it has been
//! received. Segments are created full-size (zero tail); completed ones get an
//! `archive_status/<seg>.done` file; the last one keeps its zero tail, like pg_basebackup's.

use crate::lsn::{Lsn, TimelineId, WalSegmentSize};
use crate::Error;
use corepool_client::replication::{
    parse_replication_message, pg_now, ReplicationMessage, StandbyStatus,
};
use corepool_client::{ConnectOptions, Connection, Replication};
use glommio::io::{BufferedFile, OpenOptions};
use std::cell::Cell;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Where the control side tells the streamer to stop (`None` until the backup has ended).
pub type StopAt = Rc<Cell<Option<Lsn>>>;

/// Which slot the WAL is streamed through.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SlotChoice {
    /// A temporary `corepool_basebackup_<pid>` slot, gone when the connection ends.
    Temporary,
    /// `-S name`, created first with `-C`.
    Named {
        /// The slot.
        name: String,
        /// `-C`: create it (permanent).
        create: bool,
    },
}

/// What [`WalStreamer::run`] streams and how it is told to stop.
pub struct StreamParams {
    /// Backup start LSN (streaming starts at its segment).
    pub start: Lsn,
    /// Timeline to stream.
    pub tli: TimelineId,
    /// The `pg_wal` directory to write.
    pub dir: PathBuf,
    /// Set by the control side to the backup end LSN.
    pub stop: StopAt,
    /// Set when the backup failed: stop at once.
    pub abort: Rc<Cell<bool>>,
    /// SIGINT.
    pub cancel: Arc<AtomicBool>,
    /// Interval of standby status updates.
    pub status_interval: Duration,
    /// fdatasync completed segments.
    pub sync: bool,
}

/// A replication connection with its slot, ready to stream.
pub struct WalStreamer {
    conn: Connection,
    slot: String,
    /// The server's timeline when connecting.
    pub timeline: TimelineId,
    /// The cluster's system identifier.
    pub system_id: String,
    /// `wal_segment_size`.
    pub seg_size: WalSegmentSize,
}

impl WalStreamer {
    /// Connects (`replication=true`), identifies the system and sets up the slot.
    pub async fn connect(
        conn_opts: &ConnectOptions,
        slot: &SlotChoice,
    ) -> Result<WalStreamer, Error> {
        let mut opts = conn_opts.clone();
        opts.replication = Some(Replication::Physical);
        opts.database = None;
        let mut conn = Connection::connect(&opts)
            .await
            .map_err(|e| Error::client("could not connect for WAL streaming", e))?;
        let sys = conn
            .identify_system()
            .await
            .map_err(|e| Error::client("could not identify system", e))?;
        let seg_text = conn
            .show("wal_segment_size")
            .await
            .map_err(|e| Error::client("could not read wal_segment_size", e))?;
        let seg_size = WalSegmentSize::from_setting(&seg_text)?;
        let name = match slot {
            SlotChoice::Temporary => {
                let name = format!("corepool_basebackup_{}", conn.backend_pid());
                conn.create_physical_slot(&name, true)
                    .await
                    .map_err(|e| Error::client("could not create temporary replication slot", e))?;
                name
            }
            SlotChoice::Named { name, create } => {
                if *create {
                    conn.create_physical_slot(name, false).await.map_err(|e| {
                        Error::client(format!("could not create replication slot \"{name}\""), e)
                    })?;
                }
                name.clone()
            }
        };
        Ok(WalStreamer {
            conn,
            slot: name,
            timeline: sys.timeline,
            system_id: sys.system_id,
            seg_size,
        })
    }

    /// The slot's name.
    pub fn slot(&self) -> &str {
        &self.slot
    }

    /// Streams WAL of `p.tli` from the segment holding `p.start` into `p.dir` (`pg_wal`) until
    /// `p.stop` is set and reached. Returns the position received up to.
    pub async fn run(mut self, p: StreamParams) -> Result<Lsn, Error> {
        let StreamParams {
            start,
            tli,
            dir,
            stop,
            abort,
            cancel,
            status_interval,
            sync,
        } = p;
        let seg = self.seg_size;
        let begin = seg.segment_start(start);
        self.conn
            .start_replication(Some(&self.slot), begin.0, tli)
            .await
            .map_err(|e| Error::client("could not start WAL streaming", e))?;
        let mut writer = SegmentWriter::new(dir, seg, tli, sync);
        let mut received = begin;
        let mut last_status = Instant::now();
        loop {
            if cancel.load(Ordering::Relaxed) || abort.get() {
                return Err(Error::Interrupted("WAL streaming stopped".into()));
            }
            if let Some(end) = stop.get() {
                if received >= end {
                    break;
                }
            }
            let next = glommio::timer::timeout(Duration::from_millis(50), async {
                Ok(self.conn.copy_data().await)
            })
            .await;
            let mut reply = false;
            match next {
                Err(_) => {}
                Ok(Err(e)) => return Err(Error::client("could not receive WAL", e)),
                Ok(Ok(None)) => break,
                Ok(Ok(Some(payload))) => {
                    match parse_replication_message(&payload)
                        .map_err(|e| Error::Protocol(e.to_string()))?
                    {
                        ReplicationMessage::XLogData(x) => {
                            if x.start != received.0 {
                                return Err(Error::Protocol(format!(
                                    "WAL data at {} but {} expected",
                                    Lsn(x.start),
                                    received
                                )));
                            }
                            writer.write(Lsn(x.start), &x.data).await?;
                            received = Lsn(x.start + x.data.len() as u64);
                        }
                        ReplicationMessage::Keepalive(k) => reply = k.reply_requested,
                        _ => {}
                    }
                }
            }
            if reply || last_status.elapsed() >= status_interval {
                let status = StandbyStatus {
                    write: received.0,
                    flush: writer.flushed.0,
                    apply: 0,
                    time: pg_now(),
                    reply_requested: false,
                };
                self.conn
                    .send_standby_status(&status)
                    .await
                    .map_err(|e| Error::client("could not send feedback packet", e))?;
                last_status = Instant::now();
            }
        }
        writer.finish().await?;
        let _ = self.conn.end_copy_both().await;
        self.conn.close().await;
        Ok(received)
    }
}

/// Writes XLogData into segment files, creating them full-size.
struct SegmentWriter {
    dir: PathBuf,
    seg: WalSegmentSize,
    tli: TimelineId,
    sync: bool,
    current: Option<(u64, BufferedFile)>,
    /// End of the last completed segment.
    flushed: Lsn,
}

impl SegmentWriter {
    fn new(dir: PathBuf, seg: WalSegmentSize, tli: TimelineId, sync: bool) -> Self {
        SegmentWriter {
            dir,
            seg,
            tli,
            sync,
            current: None,
            flushed: Lsn(0),
        }
    }

    async fn write(&mut self, mut at: Lsn, mut data: &[u8]) -> Result<(), Error> {
        while !data.is_empty() {
            let segno = self.seg.segno(at);
            if self.current.as_ref().map(|c| c.0) != Some(segno) {
                self.close_current(true).await?;
                let path = self.dir.join(self.seg.file_name(self.tli, segno));
                let file = open_segment(&path, self.seg.bytes()).await?;
                self.current = Some((segno, file));
            }
            let offset = self.seg.offset(at);
            let n = ((self.seg.bytes() - offset) as usize).min(data.len());
            if let Some((_, file)) = &self.current {
                file.write_at(data[..n].to_vec(), offset)
                    .await
                    .map_err(|e| Error::glommio("could not write WAL segment", e))?;
            }
            data = &data[n..];
            at = Lsn(at.0 + n as u64);
            if self.seg.offset(at) == 0 {
                self.close_current(true).await?;
            }
        }
        Ok(())
    }

    async fn close_current(&mut self, completed: bool) -> Result<(), Error> {
        let Some((segno, file)) = self.current.take() else {
            return Ok(());
        };
        if self.sync {
            file.fdatasync()
                .await
                .map_err(|e| Error::glommio("could not fsync WAL segment", e))?;
        }
        let _ = file.close().await;
        if completed {
            let name = self.seg.file_name(self.tli, segno);
            let done = self.dir.join(crate::lsn::done_status_path(&name));
            std::fs::write(&done, b"")
                .map_err(|e| Error::io(format!("could not create \"{}\"", done.display()), e))?;
            self.flushed = self.seg.segment_lsn(segno + 1);
        }
        Ok(())
    }

    async fn finish(&mut self) -> Result<(), Error> {
        // The segment holding the end LSN stays without .done, full-size with a zero tail.
        self.close_current(false).await
    }
}

async fn open_segment(path: &Path, size: u64) -> Result<BufferedFile, Error> {
    let ctx = || format!("could not create WAL file \"{}\"", path.display());
    let file = OpenOptions::new()
        .write(true)
        .create(true)
        .buffered_open(path)
        .await
        .map_err(|e| Error::glommio(ctx(), e))?;
    file.truncate(size)
        .await
        .map_err(|e| Error::glommio(ctx(), e))?;
    Ok(file)
}
