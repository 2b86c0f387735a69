//! Running one backup: the target directory and its "incomplete" marker, the executor the
//! control side runs on, the choice between `BASE_BACKUP` and the parallel SQL mode, WAL
//! streaming, `-R`, the manifest, and what is left behind on failure.
//!
//! # The incomplete marker
//! [`INCOMPLETE_MARKER`] (`backup_incomplete`) is written into the target directory before
//! anything else and removed only after `backup_manifest` has been renamed into place (the very
//! last step). A directory holding it — or lacking `backup_manifest` — is not a finished
//! backup: `pg_verifybackup` rejects it (no manifest, or a file the manifest does not list), and
//! `global/pg_control` is written only at the end, so the server refuses to start from a copy
//! interrupted earlier. On a handled failure the marker's text says what happened and
//! `backup_manifest` is removed — unless nothing was copied yet (a refused connection, a wrong
//! password): then the directory is put back as it was, absent or empty, as pg_basebackup
//! does, so the same command can simply be run again.

use crate::lsn::{Lsn, TimelineId};
use crate::options::{BackupOptions, Format, WalMethod};
use crate::output::{create_dir, sync_tree};
use crate::progress::{Progress, Reporter};
use crate::sink::{check_empty_dir, SinkConfig};
use crate::wal::{SlotChoice, StopAt, WalStreamer};
use crate::Error;
use std::cell::Cell;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// Name of the marker file of an unfinished backup.
pub const INCOMPLETE_MARKER: &str = "backup_incomplete";

/// io_uring registered memory per executor: small enough that several executors fit the
/// default 8 MiB RLIMIT_MEMLOCK (glommio only warns when registration fails); DMA buffers
/// beyond it come from the heap.
pub const IO_MEMORY: usize = 1 << 20;

/// What a finished backup reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// Backup start LSN.
    pub start: Lsn,
    /// Backup end LSN.
    pub end: Lsn,
    /// Start timeline.
    pub timeline: TimelineId,
    /// Worker connections that took part (0 for `BASE_BACKUP`).
    pub parallel_workers: usize,
    /// Data page checksum failures (the backup is complete but the exit status is 1).
    pub checksum_failures: u64,
    /// Listed files that were gone when a worker read them (dropped relations): left out of
    /// the manifest (`-j N` only; BASE_BACKUP skips them silently).
    pub vanished_files: usize,
}

/// Everything the control side shares with the rest of the backup.
pub struct Context {
    /// The options.
    pub opts: BackupOptions,
    /// Set on SIGINT: stop cleanly.
    pub cancel: Arc<AtomicBool>,
    /// Byte counters for `-P`.
    pub progress: Arc<Progress>,
    /// `-R`'s text for postgresql.auto.conf.
    pub recovery_conf: Option<String>,
    /// When the backup started, for `-v` timings.
    pub started: std::time::Instant,
}

impl Context {
    /// Prints a `-v` message.
    pub fn verbose(&self, msg: &str) {
        if self.opts.verbose {
            let t = self.started.elapsed().as_secs_f64();
            eprintln!("corepool basebackup: [{t:6.2}s] {msg}");
        }
    }

    /// The settings of archive sinks.
    pub fn sink_config(&self) -> Arc<SinkConfig> {
        Arc::new(SinkConfig {
            target: self.opts.target.clone(),
            mappings: self.opts.tablespace_mapping.clone(),
            sync: self.opts.sync,
            compression: self.opts.compression,
            recovery_conf: self.recovery_conf.clone(),
            progress: self.progress.clone(),
        })
    }

    /// Where streamed WAL goes: `pg_wal` of the target (tar format packs it at the end).
    pub fn wal_dir(&self) -> PathBuf {
        self.opts.target.join("pg_wal")
    }

    /// `-R` in plain format: append to postgresql.auto.conf and create standby.signal.
    pub fn write_recovery_plain(&self) -> Result<(), Error> {
        let Some(conf) = &self.recovery_conf else {
            return Ok(());
        };
        let path = self.opts.target.join(crate::recovery::AUTO_CONF);
        let old = std::fs::read(&path).ok();
        let new = crate::recovery::append_recovery_config(old.as_deref(), conf);
        write_file(&path, &new)?;
        write_file(&self.opts.target.join(crate::recovery::STANDBY_SIGNAL), b"")
    }

    /// Writes `backup_manifest.tmp` and renames it to `backup_manifest`.
    pub fn install_manifest(&self, text: &[u8]) -> Result<(), Error> {
        let tmp = self.opts.target.join("backup_manifest.tmp");
        write_file(&tmp, text)?;
        if self.opts.sync {
            if let Ok(f) = std::fs::File::open(&tmp) {
                let _ = f.sync_all();
            }
        }
        let dst = self.opts.target.join(crate::manifest::MANIFEST_FILE_NAME);
        std::fs::rename(&tmp, &dst)
            .map_err(|e| Error::io(format!("could not rename \"{}\"", tmp.display()), e))
    }
}

/// Writes a small file with std I/O (labels, signal files, manifest).
pub fn write_file(path: &Path, data: &[u8]) -> Result<(), Error> {
    std::fs::write(path, data)
        .map_err(|e| Error::io(format!("could not write file \"{}\"", path.display()), e))
}

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

/// Connects the WAL streamer when `-X stream` applies (the SQL mode also streams for `-X fetch`).
pub async fn start_wal(ctx: &Context) -> Result<Option<PreparedWal>, Error> {
    let parallel = ctx.opts.jobs > 1;
    let wanted = match ctx.opts.wal_method {
        WalMethod::Stream => true,
        WalMethod::Fetch => parallel,
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

/// Takes a backup: checks and prepares the target, runs it, and on failure leaves the
/// directory marked incomplete without a manifest.
pub fn run(opts: BackupOptions, cancel: Arc<AtomicBool>) -> Result<Outcome, Error> {
    opts.validate().map_err(Error::Usage)?;
    check_empty_dir(&opts.target)?;
    let created = !opts.target.exists();
    create_dir(&opts.target, 0o700)?;
    let target = opts.target.clone();
    let marker = target.join(INCOMPLETE_MARKER);
    write_file(&marker, b"corepool basebackup in progress\n")?;
    let recovery_conf = if opts.write_recovery_conf {
        let values: Vec<(&str, &str)> = opts
            .conninfo_values
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let all = crate::recovery::with_libpq_defaults(&values);
        Some(crate::recovery::recovery_config(
            &all,
            opts.slot.as_deref(),
        )?)
    } else {
        None
    };
    let progress = Arc::new(Progress::default());
    let reporter = opts.progress.then(|| Reporter::start(progress.clone()));
    // Nothing is synced file by file: one pass at the end (sync_tree) costs one journal
    // commit instead of one per file, and O_DIRECT data is already on the device.
    let sync = opts.sync;
    let mut opts = opts;
    opts.sync = false;
    let ctx = Context {
        opts,
        cancel,
        progress,
        recovery_conf,
        started: std::time::Instant::now(),
    };
    let result = run_on_executor(ctx);
    if let Some(r) = reporter {
        r.stop();
    }
    match result {
        Ok(outcome) => {
            if sync {
                sync_tree(&target)?;
            }
            std::fs::remove_file(&marker)
                .map_err(|e| Error::io(format!("could not remove \"{}\"", marker.display()), e))?;
            Ok(outcome)
        }
        Err(e) => {
            if holds_no_file_but(&target, &marker) {
                let _ = std::fs::remove_file(&marker);
                clear_empty_tree(&target, created);
                return Err(e);
            }
            let _ = std::fs::remove_file(target.join("backup_manifest"));
            let _ = std::fs::remove_file(target.join("backup_manifest.tmp"));
            let _ = std::fs::write(
                &marker,
                format!("corepool basebackup did not finish: {e}\nThis directory is not a usable backup.\n"),
            );
            Err(e)
        }
    }
}

/// Whether the tree under `dir` holds no file other than `marker` (directories don't count).
/// Unreadable parts count as holding files.
fn holds_no_file_but(dir: &Path, marker: &Path) -> bool {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return false;
    };
    entries.into_iter().all(|e| {
        let Ok(e) = e else { return false };
        let path = e.path();
        match e.file_type() {
            Ok(t) if t.is_dir() => holds_no_file_but(&path, marker),
            Ok(_) => path == marker,
            Err(_) => false,
        }
    })
}

/// Removes the empty directories under `dir`, and `dir` itself when `remove_root`.
fn clear_empty_tree(dir: &Path, remove_root: bool) {
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                clear_empty_tree(&e.path(), true);
            }
        }
    }
    if remove_root {
        let _ = std::fs::remove_dir(dir);
    }
}

fn run_on_executor(ctx: Context) -> Result<Outcome, Error> {
    let handle = glommio::LocalExecutorBuilder::new(glommio::Placement::Unbound)
        .name("basebackup-0")
        .io_memory(IO_MEMORY)
        .spawn(move || async move {
            let probe = hold_probe_file(&ctx.opts.target).await;
            let mut wal = None;
            let result = if ctx.opts.jobs > 1 {
                match crate::parallel::run(&ctx, &mut wal).await {
                    Err(Error::Privileges(msg)) if crate::parallel::may_fall_back(&ctx).await => {
                        eprintln!("corepool basebackup: {msg}");
                        eprintln!("corepool basebackup: falling back to BASE_BACKUP (-j 1)");
                        crate::stream_mode::run(&ctx, &mut wal).await
                    }
                    other => other,
                }
            } else {
                crate::stream_mode::run(&ctx, &mut wal).await
            };
            if let Some(w) = wal.take() {
                w.abort().await;
            }
            if let Some(p) = probe {
                let _ = p.close().await;
            }
            result
        })
        .map_err(|e| {
            Error::io(
                "could not start executor",
                std::io::Error::other(e.to_string()),
            )
        })?;
    handle.join().map_err(|e| {
        Error::io(
            "backup executor failed",
            std::io::Error::other(e.to_string()),
        )
    })?
}

/// The oldest server this client speaks to: PostgreSQL 15 renamed the SQL backup functions
/// (`pg_backup_start`/`pg_backup_stop`) and gave `BASE_BACKUP` its option list and one COPY
/// stream for all archives.
pub const MIN_SERVER_MAJOR: u32 = 15;

/// Refuses a server older than [`MIN_SERVER_MAJOR`] with pg_basebackup's wording.
pub fn check_server_version(conn: &corepool_client::Connection) -> Result<(), Error> {
    let version = conn.parameter("server_version").unwrap_or("");
    if !server_major(version).is_some_and(|major| major >= MIN_SERVER_MAJOR) {
        return Err(Error::Usage(format!(
            "incompatible server version {version}: corepool basebackup needs PostgreSQL {MIN_SERVER_MAJOR} or later"
        )));
    }
    Ok(())
}

/// The major version in a `server_version` string (`15.18 (Debian 15.18-0+deb12u1)`, `17beta1`).
fn server_major(version: &str) -> Option<u32> {
    let digits = version
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(version.len());
    version[..digits].parse().ok()
}

/// Opens the marker file as a DMA file and keeps it open while the executor runs. glommio
/// probes io_uring polling support on the first DMA file of a device it sees, after the open
/// returns; when that first file is one a worker closes at once (an empty file), the probe hits
/// a closed descriptor and glommio logs an ERROR. A file held open gives it a valid one.
pub async fn hold_probe_file(target: &Path) -> Option<glommio::io::DmaFile> {
    glommio::io::DmaFile::open(target.join(INCOMPLETE_MARKER))
        .await
        .ok()
}

/// `true` if the cancel flag is set.
pub fn cancelled(cancel: &AtomicBool) -> bool {
    cancel.load(Ordering::Relaxed)
}

/// Sets `cancel` on SIGINT and SIGTERM (a second signal kills the process as usual).
pub fn install_signal_handlers(cancel: &Arc<AtomicBool>) -> Result<(), Error> {
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register_conditional_default(sig, cancel.clone())
            .map_err(|e| Error::io("could not install signal handler", e))?;
        signal_hook::flag::register(sig, cancel.clone())
            .map_err(|e| Error::io("could not install signal handler", e))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::server_major;

    #[test]
    fn server_majors() {
        for (text, major) in [
            ("15.18 (Debian 15.18-0+deb12u1)", Some(15)),
            ("17beta1", Some(17)),
            ("9.6.24", Some(9)),
            ("14", Some(14)),
            ("", None),
            ("devel", None),
        ] {
            assert_eq!(server_major(text), major, "{text}");
        }
    }
}
