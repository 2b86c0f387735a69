//! What every part of a backup shares: the [`Context`] (options, cancel flag, progress, `-R`
//! text), the [`Outcome`] a finished backup reports, the target's incomplete marker, the
//! server-version check and small-file writes. The runner ([`crate::session`]) builds the
//! context; the two modes ([`crate::stream_mode`], [`crate::parallel`]) and the writers below
//! them only read it, so imports run one way: runner → modes → this module.

use crate::lsn::{Lsn, TimelineId};
use crate::options::BackupOptions;
use crate::progress::Progress;
use crate::sink::SinkConfig;
use crate::Error;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
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
