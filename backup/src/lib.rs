//! `corepool basebackup`: pg_basebackup-compatible physical base backups of a stock
//! PostgreSQL 15–18 server, taken over N parallel connections (`-j N`) and written with O_DIRECT.
//!
//! The crate produces what `pg_basebackup` 15 produces — a plain data directory (`-Fp`) or
//! `base.tar` / `<oid>.tar` / `pg_wal.tar` (`-Ft`), a `backup_manifest` that `pg_verifybackup`
//! accepts, streamed WAL, `-R` recovery settings and `-T` tablespace relocation. It does not
//! restore, archive WAL, or take incremental backups, and it never writes into the server's data
//! directory.
//!
//! # Layout
//!
//! Data flows from the server through these stages:
//!
//! ```text
//!   control session ──(start LSN, label)──────────────────────────────┐
//!        │  pg_backup_start / BASE_BACKUP, pg_backup_stop             │
//!        ▼                                                            ▼
//!   walk + plan ──tasks──▶ workers ──chunks──▶ writer (O_DIRECT) ──▶ manifest
//!   exclude, plan          (N sessions,        tar or plain files,    per-file
//!                           pg_read_binary_    checksum verify        checksums,
//!                           file / tar stream)                        WAL ranges
//!   WAL streamer (replication slot, START_REPLICATION) ──▶ pg_wal/ segments
//! ```
//!
//! * **entry point**: [`run`] ([`session`]) checks and marks the target directory
//!   ([`INCOMPLETE_MARKER`]), picks the mode — `-j N`, or `-j 1` when the parallel path cannot
//!   be had — runs it on a glommio executor, and on failure leaves the target marked incomplete
//!   without a manifest. Options are one typed struct ([`options`]). What the modes share, the
//!   [`context::Context`] and the [`Outcome`], lives in [`context`], below both modes and the
//!   runner; the WAL streamer task both modes start is [`wal_task`]. Imports run one way:
//!   `session` → `stream_mode` / `parallel` → `worker`, `wal_task`, `tar_out`, `sink` →
//!   `context` → the pure building blocks.
//! * **`-j 1`** ([`stream_mode`]): `BASE_BACKUP` on a replication connection; its tar stream is
//!   extracted or re-written by [`sink`] (split by [`tar::TarReader`]).
//! * **`-j N`** ([`parallel`]): the control session (`pg_backup_start` / `pg_backup_stop`), the
//!   recursive listing ([`listing`], rules from [`exclude`]), the plan ([`plan`]) and N
//!   [`worker`]s on one executor per core fetching chunks with `pg_read_binary_file`,
//!   verifying pages ([`checksum`]) and writing them.
//! * **writer**: O_DIRECT DMA files ([`output`]); tar archives ([`tar`], [`tar_out`]) compressed
//!   on the client ([`compress`]); [`tablespace`] maps `-T`; [`recovery`] produces `-R`'s files.
//! * **WAL streamer** ([`wal`]): a replication connection with a temporary slot writing
//!   segments named by [`lsn::WalSegmentSize`].
//! * **manifest**: [`manifest`] accumulates per-file checksums and writes `backup_manifest`
//!   byte-for-byte as the server would.
//! * **progress**: [`progress`] counters drawn with indicatif (`-P`).
//!
//! The building blocks (lsn, exclude, checksum, manifest, tar, recovery, tablespace, plan) are
//! pure: no I/O, no glommio. Connections come from `corepool-client`.
//!
//! # Example
//!
//! Decide what to copy from `base/5`, plan the copy for four workers, and write the manifest:
//!
//! ```
//! use corepool_backup::exclude::{DirContext, Entry, FileKind, Tree, WalkOptions};
//! use corepool_backup::lsn::Lsn;
//! use corepool_backup::manifest::{ChecksumAlgorithm, FileChecksum, ManifestWriter, WalRange};
//! use corepool_backup::plan::{plan, ChunkSize, TaskQueue};
//!
//! let listing: [(&[u8], u64); 3] = [(b"16384", 40 << 20), (b"16389", 8192), (b"16389_init", 0)];
//! let opts = WalkOptions::default(); // PostgreSQL 15's tablespace version directory
//! let dir = DirContext::new(Tree::DataDir, b"base/5", listing.iter().map(|(n, _)| *n), &opts);
//! let kept: Vec<_> = listing
//!     .iter()
//!     .filter(|(name, _)| dir.classify(name, FileKind::File, &opts) == Entry::Include)
//!     .collect();
//! assert_eq!(kept.len(), 2); // 16389 is an unlogged relation's main fork
//!
//! let sizes: Vec<u64> = kept.iter().map(|(_, size)| *size).collect();
//! let queue = TaskQueue::new(plan(&sizes, ChunkSize::default()));
//! assert_eq!(queue.tasks().len(), 41); // 40 MiB in 1 MiB chunks, plus the empty init fork
//! while let Some(task) = queue.next_task() {
//!     // A worker would fetch `task.len` bytes at `task.offset` of file `task.file` here.
//!     let _ = task;
//! }
//!
//! let mut manifest = ManifestWriter::new(false);
//! let mut sum = FileChecksum::new(ChecksumAlgorithm::Crc32c);
//! sum.update(b"15\n");
//! manifest.add_file(b"PG_VERSION", 3, 1_700_000_000, &sum.finish());
//! let range = WalRange { timeline: 1, start: Lsn(0x2000028), end: Lsn(0x2000100) };
//! let text = manifest.finish(&[range]);
//! assert!(text.ends_with(b"\"}\n"));
//! ```

#![warn(missing_docs)]
#![forbid(unsafe_code)]

pub mod admission;
pub mod checksum;
pub mod compress;
pub mod context;
pub mod error;
pub mod exclude;
pub mod glommio_io;
pub mod listing;
pub mod lsn;
pub mod manifest;
pub mod options;
pub mod output;
pub mod parallel;
pub mod plan;
pub mod progress;
pub mod recovery;
pub mod session;
pub mod sink;
pub mod stream_mode;
pub mod tablespace;
pub mod tar;
pub mod tar_out;
pub mod wal;
pub mod wal_task;
pub mod worker;

pub use context::{Outcome, INCOMPLETE_MARKER};
pub use corepool_client as client;
pub use error::Error;
pub use glommio_io::glommio_connector;
pub use options::{BackupOptions, Checkpoint, Compression, Format, WalMethod};
pub use session::run;
