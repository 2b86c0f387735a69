//! `corepool basebackup`: pg_basebackup-compatible physical base backups of a stock
//! PostgreSQL 15 server, taken over N parallel connections (`-j N`) and written with O_DIRECT.
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
//! * **control session** *(next)*: the one connection that owns the backup — `BASE_BACKUP` on a
//!   replication connection for `-j 1`, or `pg_backup_start` / `pg_backup_stop` on a SQL session
//!   for `-j N` — and learns the start/end [`lsn::Lsn`], timeline and `backup_label`.
//! * **walk and plan**: [`exclude`] decides, entry by entry, what the server's own walk would
//!   send, empty or skip; [`plan`] splits the surviving files into chunk-sized [`plan::Task`]s,
//!   largest first, in a shared [`plan::TaskQueue`] that keeps every worker busy to the end.
//! * **workers** *(next)*: one glommio executor per connection pulling tasks and fetching bytes;
//!   in `-j 1` mode the single COPY stream is split by [`tar::TarReader`] instead.
//! * **checksums**: [`checksum`] verifies data pages as the server does (skip pages newer than
//!   the start LSN, re-read once on mismatch) as chunks go by.
//! * **writer** *(next)*: O_DIRECT files through glommio's `DmaFile` for plain format, or
//!   archives built with [`tar`]'s header writer for tar format; [`tablespace`] maps `-T`
//!   locations and reads/writes `tablespace_map`; [`recovery`] produces the `-R` files.
//! * **WAL streamer** *(next)*: a second replication connection with a temporary slot, writing
//!   16 MB segments named by [`lsn::WalSegmentSize`].
//! * **manifest**: [`manifest`] accumulates per-file checksums incrementally and writes
//!   `backup_manifest` byte-for-byte as the server would; it also parses a server-sent one.
//!
//! Everything in the modules above is pure (no I/O, no glommio): the stages marked *(next)* wire
//! them to connections and files.
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
//! let dir = DirContext::new(Tree::DataDir, b"base/5", listing.iter().map(|(n, _)| *n));
//! let opts = WalkOptions::default();
//! let kept: Vec<_> = listing
//!     .iter()
//!     .filter(|(name, _)| dir.classify(name, FileKind::File, &opts) == Entry::Include)
//!     .collect();
//! assert_eq!(kept.len(), 2); // 16389 is an unlogged relation's main fork
//!
//! let sizes: Vec<u64> = kept.iter().map(|(_, size)| *size).collect();
//! let queue = TaskQueue::new(plan(&sizes, ChunkSize::default()));
//! assert_eq!(queue.tasks().len(), 4); // 40 MiB in three 16 MiB chunks, plus the empty init fork
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

pub mod checksum;
pub mod compress;
pub mod error;
pub mod exclude;
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
pub mod worker;

pub use corepool_client as client;
pub use error::Error;
pub use options::{BackupOptions, Checkpoint, Compression, Format, WalMethod};
pub use session::{run, Outcome, INCOMPLETE_MARKER};
