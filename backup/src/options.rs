//! What a backup is asked to do: one typed struct mirroring `pg_basebackup`'s flags.

use crate::manifest::ChecksumAlgorithm;
use crate::tablespace::TablespaceMappings;
use corepool_client::{ConnectOptions, Host};
use std::path::PathBuf;
use std::time::Duration;

/// `-F`: output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Format {
    /// `-Fp`: a data directory.
    #[default]
    Plain,
    /// `-Ft`: `base.tar`, `<oid>.tar`, `pg_wal.tar`.
    Tar,
}

/// `-X`: how the WAL needed by the backup is collected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum WalMethod {
    /// Streamed over a replication connection while the backup runs (the default).
    #[default]
    Stream,
    /// Fetched at the end (`BASE_BACKUP ( WAL )` with `-j 1`; streamed and kept otherwise).
    Fetch,
    /// Not included: the backup needs a WAL archive to be restored.
    None,
}

/// `-c`: the start checkpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Checkpoint {
    /// As fast as possible.
    Fast,
    /// Spread over `checkpoint_completion_target` (the default).
    #[default]
    Spread,
}

/// `-Z`: client-side compression of tar archives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    /// gzip (`.tar.gz`).
    Gzip(u32),
    /// lz4 frames (`.tar.lz4`).
    Lz4,
    /// zstd (`.tar.zst`).
    Zstd(i32),
}

impl Compression {
    /// The archive name suffix.
    pub fn suffix(self) -> &'static str {
        match self {
            Compression::Gzip(_) => ".gz",
            Compression::Lz4 => ".lz4",
            Compression::Zstd(_) => ".zst",
        }
    }

    /// Parses `-Z` as pg_basebackup 15 does: `N` (gzip level, 0 = none), `method`,
    /// `method:N`, `method:level=N`, or `client-method…`.
    pub fn parse(spec: &str) -> Result<Option<Compression>, String> {
        let spec = spec.strip_prefix("client-").unwrap_or(spec);
        if spec.starts_with("server-") {
            return Err("server-side compression is not supported; use client-side".into());
        }
        if let Ok(level) = spec.parse::<u32>() {
            return Ok((level > 0).then_some(Compression::Gzip(level.min(9))));
        }
        let (method, detail) = spec.split_once(':').unwrap_or((spec, ""));
        let detail = detail.strip_prefix("level=").unwrap_or(detail);
        let level: Option<i32> = if detail.is_empty() {
            None
        } else {
            Some(
                detail
                    .parse()
                    .map_err(|_| format!("invalid compression level \"{detail}\""))?,
            )
        };
        match method {
            "none" => Ok(None),
            "gzip" => Ok(Some(Compression::Gzip(
                level.unwrap_or(6).clamp(1, 9) as u32
            ))),
            "lz4" => Ok(Some(Compression::Lz4)),
            "zstd" => Ok(Some(Compression::Zstd(level.unwrap_or(3)))),
            other => Err(format!("unrecognized compression algorithm: \"{other}\"")),
        }
    }
}

/// Everything a backup needs to know. Defaults are pg_basebackup's.
#[derive(Debug, Clone)]
pub struct BackupOptions {
    /// How to reach the server (host, port, user, database, password). The replication flag
    /// is set per connection.
    pub conn: ConnectOptions,
    /// `-D`: the target directory; must be empty or absent.
    pub target: PathBuf,
    /// `-F`.
    pub format: Format,
    /// `-j`: parallel worker connections; 1 uses `BASE_BACKUP`.
    pub jobs: usize,
    /// `-X`.
    pub wal_method: WalMethod,
    /// `-c`.
    pub checkpoint: Checkpoint,
    /// `-l`.
    pub label: String,
    /// `-P`: draw a progress bar on stderr.
    pub progress: bool,
    /// `-v`: say what is happening on stderr.
    pub verbose: bool,
    /// `-R`: write standby.signal and primary_conninfo.
    pub write_recovery_conf: bool,
    /// `-S`: stream WAL through this slot instead of a temporary one.
    pub slot: Option<String>,
    /// `-C`: create the `-S` slot (permanent) first.
    pub create_slot: bool,
    /// `-T` mappings.
    pub tablespace_mapping: TablespaceMappings,
    /// `-r`: bytes per second, all workers together.
    pub max_rate: Option<u64>,
    /// `--no-verify-checksums` inverted.
    pub verify_checksums: bool,
    /// `--no-sync` inverted: fsync files and directories at the end.
    pub sync: bool,
    /// `--no-manifest` inverted.
    pub manifest: bool,
    /// `--manifest-checksums`.
    pub manifest_checksums: ChecksumAlgorithm,
    /// `--manifest-force-encode`.
    pub manifest_force_encode: bool,
    /// `-z`/`-Z`: client-side compression (tar format only).
    pub compression: Option<Compression>,
    /// Bytes each `pg_read_binary_file` call fetches (a multiple of 8 kB).
    pub chunk_size: u64,
    /// Interval of standby status updates while streaming WAL (`-s`).
    pub status_interval: Duration,
    /// The `-R` connection string values as libpq would report them (`host`, `port`, `user`,
    /// `password`…), filled by the CLI.
    pub conninfo_values: Vec<(String, String)>,
}

impl BackupOptions {
    /// Options with pg_basebackup's defaults for `target` and `conn`.
    pub fn new(mut conn: ConnectOptions, target: impl Into<PathBuf>) -> Self {
        // The backup's connections run on its glommio executors.
        conn.connector
            .get_or_insert_with(crate::glommio_io::glommio_connector);
        BackupOptions {
            conn,
            target: target.into(),
            format: Format::Plain,
            jobs: 1,
            wal_method: WalMethod::Stream,
            checkpoint: Checkpoint::Spread,
            label: "corepool base backup".into(),
            progress: false,
            verbose: false,
            write_recovery_conf: false,
            slot: None,
            create_slot: false,
            tablespace_mapping: TablespaceMappings::new(),
            max_rate: None,
            verify_checksums: true,
            sync: true,
            manifest: true,
            manifest_checksums: ChecksumAlgorithm::Crc32c,
            manifest_force_encode: false,
            compression: None,
            chunk_size: crate::plan::ChunkSize::DEFAULT_BYTES,
            status_interval: Duration::from_secs(10),
            conninfo_values: Vec::new(),
        }
    }

    /// Checks combinations pg_basebackup rejects.
    pub fn validate(&self) -> Result<(), String> {
        if self.jobs == 0 {
            return Err("-j/--jobs must be at least 1".into());
        }
        if self.compression.is_some() && self.format == Format::Plain {
            return Err("compression is only supported with tar format (-Ft)".into());
        }
        if self.create_slot && self.slot.is_none() {
            return Err("--create-slot needs a slot to be specified using --slot".into());
        }
        if self.slot.is_some() && self.wal_method != WalMethod::Stream {
            return Err("replication slots can only be used with WAL streaming".into());
        }
        if crate::plan::ChunkSize::try_new(self.chunk_size).is_err() {
            return Err(format!("invalid chunk size {}", self.chunk_size));
        }
        Ok(())
    }

    /// The host as text for messages.
    pub fn host_text(&self) -> String {
        match &self.conn.host {
            Host::Tcp(h) => h.clone(),
            Host::Unix(d) => d.display().to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compression_specs() {
        assert_eq!(Compression::parse("0"), Ok(None));
        assert_eq!(Compression::parse("5"), Ok(Some(Compression::Gzip(5))));
        assert_eq!(Compression::parse("gzip"), Ok(Some(Compression::Gzip(6))));
        assert_eq!(
            Compression::parse("client-zstd:level=7"),
            Ok(Some(Compression::Zstd(7)))
        );
        assert_eq!(Compression::parse("lz4:1"), Ok(Some(Compression::Lz4)));
        assert_eq!(Compression::parse("none"), Ok(None));
        assert!(Compression::parse("brotli").is_err());
        assert!(Compression::parse("server-gzip").is_err());
    }
}
