//! Tar archives as PostgreSQL writes them (`src/port/tar.c`): a streaming reader for the archives
//! of `BASE_BACKUP` and a header writer producing `base.tar` / `<oid>.tar` / `pg_wal.tar` like
//! `pg_basebackup -Ft`.
//!
//! The server writes ustar headers with 99-byte names, no prefix field and no GNU/pax extensions,
//! directories and symlinks named with a trailing `/`, octal numbers ending in a space, base-256
//! for numbers that do not fit (files of 8 GiB and more), user and group names `postgres`, and
//! ends each archive with two zero blocks. The reader also accepts what GNU tar writes (the
//! ustar prefix, GNU long names, pax `path`/`linkpath`/`size`/`mtime`/`uid`/`gid` records) so it
//! can read archives made by other tools.

mod read;
mod write;

pub use read::{TarEvent, TarReader};
pub use write::{encode_header, padding_len, write_entry, write_header, END_OF_ARCHIVE};

/// Size of a tar block (`TAR_BLOCK_SIZE`).
pub const BLOCK: usize = 512;

/// Longest member name or link target the server writes (the 100-byte field minus its NUL).
pub const MAX_NAME: usize = 99;

/// What a tar member is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EntryKind {
    /// A regular file (type `0`, or NUL / `7` from other writers); data follows.
    File,
    /// A directory (type `5`).
    Directory,
    /// A symbolic link (type `2`); the target is in [`TarHeader::link_target`].
    Symlink,
    /// Any other type flag (hard link, device, FIFO…), only ever produced by the reader; its data
    /// (usually none) is passed through.
    Other(u8),
}

/// One member's header.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TarHeader {
    /// Member name without the trailing `/` of directories and symlinks (`base/1`, `backup_label`,
    /// `./pg_wal/archive_status` — the server keeps that one `./`).
    pub name: Vec<u8>,
    /// What it is.
    pub kind: EntryKind,
    /// Bytes of data that follow (0 for directories and symlinks).
    pub size: u64,
    /// Permission bits (`mode & 07777`).
    pub mode: u32,
    /// Numeric owner.
    pub uid: u32,
    /// Numeric group.
    pub gid: u32,
    /// Modification time, seconds since the Unix epoch.
    pub mtime: u64,
    /// Symlink target (empty otherwise).
    pub link_target: Vec<u8>,
}

impl TarHeader {
    /// A regular file header.
    pub fn file(name: impl Into<Vec<u8>>, size: u64, mode: u32, mtime: u64) -> Self {
        TarHeader {
            name: name.into(),
            kind: EntryKind::File,
            size,
            mode,
            uid: 0,
            gid: 0,
            mtime,
            link_target: Vec::new(),
        }
    }

    /// A directory header.
    pub fn directory(name: impl Into<Vec<u8>>, mode: u32, mtime: u64) -> Self {
        TarHeader {
            kind: EntryKind::Directory,
            ..TarHeader::file(name, 0, mode, mtime)
        }
    }

    /// A symlink header.
    pub fn symlink(name: impl Into<Vec<u8>>, target: impl Into<Vec<u8>>, mtime: u64) -> Self {
        TarHeader {
            kind: EntryKind::Symlink,
            link_target: target.into(),
            ..TarHeader::file(name, 0, 0o777, mtime)
        }
    }

    /// Sets the owner and group.
    pub fn with_owner(mut self, uid: u32, gid: u32) -> Self {
        self.uid = uid;
        self.gid = gid;
        self
    }
}

/// Errors reading or writing tar archives; messages follow the server's and pg_basebackup's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TarError {
    /// A name longer than 99 bytes (`file name too long for tar format: "%s"`).
    #[error("file name too long for tar format: \"{0}\"")]
    NameTooLong(String),
    /// A link target longer than 99 bytes.
    #[error(
        "symbolic link target too long for tar format: file name \"{name}\", target \"{target}\""
    )]
    LinkTooLong {
        /// The member name.
        name: String,
        /// The link target.
        target: String,
    },
    /// A name that is empty or contains a NUL byte.
    #[error("invalid tar member name \"{0}\"")]
    InvalidName(String),
    /// The writer was asked for a kind it cannot write.
    #[error("cannot write tar member \"{0}\" of type {1:?}")]
    UnsupportedKind(String, EntryKind),
    /// [`write_entry`] got data of the wrong length.
    #[error("tar member \"{name}\" has {actual} bytes of data but its header says {expected}")]
    SizeMismatch {
        /// The member name.
        name: String,
        /// Size in the header.
        expected: u64,
        /// Bytes given.
        actual: u64,
    },
    /// A header whose checksum does not match its bytes.
    #[error("tar header at offset {offset} has checksum {stored} but its bytes sum to {computed}")]
    BadChecksum {
        /// Archive offset of the header.
        offset: u64,
        /// Checksum stored in the header.
        stored: u64,
        /// Checksum of the header bytes.
        computed: u64,
    },
    /// A numeric field that is neither octal nor base-256 in range.
    #[error("invalid {field} field in tar header at offset {offset}")]
    BadNumber {
        /// Which field.
        field: &'static str,
        /// Archive offset of the header.
        offset: u64,
    },
    /// A member with an empty name (`tar member has empty name`).
    #[error("tar member has empty name (header at offset {0})")]
    EmptyName(u64),
    /// A GNU long-name or pax header that is malformed or larger than the reader accepts.
    #[error("invalid extended header at offset {0}")]
    BadExtendedHeader(u64),
    /// The input ended inside a header or a member (`COPY stream ended before last file was
    /// finished`).
    #[error("tar archive ended before the last member was finished (offset {0})")]
    UnexpectedEnd(u64),
}

/// Reads a numeric field like `read_tar_number`, but strictly: octal digits (leading spaces or
/// NULs allowed, ended by space, NUL or the field end) or base-256 (first byte 0x80) that fits
/// in 64 bits. Empty or all-NUL fields read as 0.
pub(crate) fn read_number(field: &[u8]) -> Option<u64> {
    match field.first() {
        Some(0x80) => {
            let (high, low) = field[1..].split_at(field.len().saturating_sub(9));
            if high.iter().any(|&b| b != 0) {
                return None;
            }
            Some(low.iter().fold(0u64, |acc, &b| (acc << 8) | u64::from(b)))
        }
        _ => {
            let start = field.iter().position(|&b| b != b' ' && b != 0);
            let Some(start) = start else { return Some(0) };
            let digits = &field[start..];
            let len = digits
                .iter()
                .take_while(|b| matches!(b, b'0'..=b'7'))
                .count();
            if digits[len..].iter().any(|&b| b != b' ' && b != 0) || len == 0 {
                return None;
            }
            digits[..len].iter().try_fold(0u64, |acc, &b| {
                acc.checked_mul(8)?.checked_add(u64::from(b - b'0'))
            })
        }
    }
}

/// `tarChecksum`: the unsigned byte sum of a header with its checksum field read as spaces.
pub(crate) fn header_checksum(block: &[u8; BLOCK]) -> u64 {
    let sum: u64 = block
        .iter()
        .enumerate()
        .filter(|(i, _)| !(148..156).contains(i))
        .map(|(_, &b)| u64::from(b))
        .sum();
    sum + 8 * u64::from(b' ')
}

/// The sum historic tar writers computed with signed chars, also accepted on read.
pub(crate) fn header_checksum_signed(block: &[u8; BLOCK]) -> i64 {
    let sum: i64 = block
        .iter()
        .enumerate()
        .filter(|(i, _)| !(148..156).contains(i))
        .map(|(_, &b)| i64::from(b as i8))
        .sum();
    sum + 8 * i64::from(b' ')
}

#[cfg(test)]
mod tests;
