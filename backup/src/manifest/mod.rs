//! `backup_manifest` version 1: per-file checksums, a writer that reproduces the server's bytes,
//! and a parser with `pg_verifybackup`'s checks.
//!
//! The format is small and fixed, so both directions are written by hand rather than with a JSON
//! library: the writer must match `backup_manifest.c` byte for byte (key order, spacing, line
//! breaks), which a generic serializer does not promise, and the parser needs only one flat
//! object shape.

mod crc_combine;
mod digest;
mod parse;
mod write;

pub use digest::{ChecksumAlgorithm, Crc32cAssembler, Digest, FileChecksum};
pub use parse::{parse_manifest, Manifest, ManifestFile};
pub use write::{format_last_modified, wal_ranges, ManifestWriter};

use crate::lsn::{Lsn, TimelineId};

/// The manifest's own file name in a backup.
pub const MANIFEST_FILE_NAME: &str = "backup_manifest";

/// One `WAL-Ranges` entry: the WAL of `timeline` from `start` to `end` is needed to restore.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WalRange {
    /// The timeline.
    pub timeline: TimelineId,
    /// First LSN needed on it.
    pub start: Lsn,
    /// LSN up to which it is needed.
    pub end: Lsn,
}

/// Errors writing or parsing a manifest; parse messages are `pg_verifybackup`'s.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ManifestError {
    /// The manifest text does not follow the format.
    #[error("could not parse backup manifest: {0}")]
    Parse(String),
    /// The `Manifest-Checksum` does not match the content.
    #[error("manifest checksum mismatch")]
    ChecksumMismatch,
    /// An algorithm name that is not NONE, CRC32C or SHA224/256/384/512.
    #[error("unrecognized checksum algorithm: \"{0}\"")]
    UnknownAlgorithm(String),
    /// The timeline history does not lead from the start timeline to the end timeline.
    #[error("{0}")]
    Timeline(String),
}

#[cfg(test)]
mod tests;
