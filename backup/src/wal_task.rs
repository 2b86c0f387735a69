//! The WAL streamer as a task of the backup: connected (and its slot in place) before the
//! backup starts, spawned at the start LSN, told the end LSN when the backup stops, and packed
//! into `pg_wal.tar` in tar format. Both modes use it.

use crate::context::Context;
use crate::lsn::{Lsn, TimelineId};
use crate::options::{Format, WalMethod};
use crate::output::create_dir;
use crate::wal::{SlotChoice, StopAt, WalStreamer};
use crate::Error;
use std::cell::Cell;
use std::rc::Rc;

/// A WAL streamer connected, its slot in place, not yet streaming.
pub struct PreparedWal(WalStreamer);

/// A running WAL streamer.
pub struct WalTask {
    stop: StopAt,
    abort: Rc<Cell<bool>>,
    handle: glommio::task::JoinHandle<Result<Lsn, Error>>,
}

impl WalTask {
    /// Stops streaming at once (the backup failed) and waits until the connection, and with it
    /// a temporary slot, is gone.
    pub async fn abort(self) {
        self.abort.set(true);
        let _ = self.handle.await;
    }
}

/// Which mode starts the streamer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// `BASE_BACKUP` (`-j 1`, or `-j N` fallen back): `-X fetch` puts the WAL in the archive.
    BaseBackup,
    /// The SQL mode: it streams for `-X fetch` too.
    Sql,
}

/// Connects the WAL streamer when `-X stream` applies (the SQL mode also streams for `-X fetch`).
pub async fn start_wal(ctx: &Context, mode: Mode) -> Result<Option<PreparedWal>, Error> {
    let wanted = match ctx.opts.wal_method {
        WalMethod::Stream => true,
        WalMethod::Fetch => mode == Mode::Sql,
        WalMethod::None => false,
    };
    if !wanted {
        return Ok(None);
    }
    let slot = match &ctx.opts.slot {
        Some(name) => SlotChoice::Named {
            name: name.clone(),
            create: ctx.opts.create_slot,
        },
        None => SlotChoice::Temporary,
    };
    let s = WalStreamer::connect(&ctx.opts.conn, &slot).await?;
    ctx.verbose(&format!(
        "created or using replication slot \"{}\"",
        s.slot()
    ));
    create_dir(&ctx.wal_dir().join("archive_status"), 0o700)?;
    Ok(Some(PreparedWal(s)))
}

impl PreparedWal {
    /// The server's timeline.
    pub fn timeline(&self) -> TimelineId {
        self.0.timeline
    }

    /// Starts streaming from the segment of `start` in a local task.
    pub fn spawn(self, ctx: &Context, start: Lsn, tli: TimelineId) -> WalTask {
        let stop: StopAt = Rc::new(Cell::new(None));
        let abort = Rc::new(Cell::new(false));
        let fut = self.0.run(crate::wal::StreamParams {
            start,
            tli,
            dir: ctx.wal_dir(),
            stop: stop.clone(),
            abort: abort.clone(),
            cancel: ctx.cancel.clone(),
            status_interval: ctx.opts.status_interval,
            sync: ctx.opts.sync,
        });
        WalTask {
            stop,
            abort,
            handle: glommio::spawn_local(fut).detach(),
        }
    }
}

/// Tells the streamer the end LSN and waits for it; packs `pg_wal.tar` in tar format.
pub async fn finish_wal(ctx: &Context, wal: &mut Option<WalTask>, end: Lsn) -> Result<(), Error> {
    let Some(wal) = wal.take() else {
        return Ok(());
    };
    wal.stop.set(Some(end));
    ctx.verbose("waiting for background process to finish streaming ...");
    match wal.handle.await {
        Some(r) => r.map(drop)?,
        None => {
            return Err(Error::Interrupted(
                "WAL streaming task was cancelled".into(),
            ))
        }
    }
    if ctx.opts.format == Format::Tar {
        crate::tar_out::pack_wal_dir(ctx).await?;
    }
    Ok(())
}
