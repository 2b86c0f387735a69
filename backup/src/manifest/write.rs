//! Writes `backup_manifest` exactly as PG15's `backup_manifest.c` does.

use super::digest::push_hex;
use super::{Digest, ManifestError, WalRange};
use crate::lsn::{Lsn, TimelineHistoryEntry, TimelineId};
use sha2::{Digest as _, Sha256};
use std::fmt::Write as _;

/// Builds a manifest in memory: the header on creation, one line per [`add_file`], the WAL
/// ranges and the manifest checksum on [`finish`].
///
/// [`add_file`]: ManifestWriter::add_file
/// [`finish`]: ManifestWriter::finish
#[derive(Debug, Clone)]
pub struct ManifestWriter {
    text: String,
    /// The server terminates the previous entry when adding the next, so it must know if one is
    /// the first (no comma).
    first_file: bool,
    /// `MANIFEST 'force-encode'`: every path as `Encoded-Path`.
    force_encode: bool,
}

impl ManifestWriter {
    /// Starts a version 1 manifest (PostgreSQL 15 and 16); `force_encode` writes every path
    /// hex-encoded.
    pub fn new(force_encode: bool) -> Self {
        Self::for_server(force_encode, None)
    }

    /// Starts the manifest the server would write: version 1, or with the system identifier
    /// (`pg_control_system()`) version 2, which PostgreSQL 17 and later write and whose
    /// pg_verifybackup then checks against the backup's `global/pg_control`.
    pub fn for_server(force_encode: bool, system_identifier: Option<u64>) -> Self {
        let text = match system_identifier {
            None => String::from("{ \"PostgreSQL-Backup-Manifest-Version\": 1,\n\"Files\": ["),
            Some(id) => format!(
                "{{ \"PostgreSQL-Backup-Manifest-Version\": 2,\n\"System-Identifier\": {id},\n\"Files\": ["
            ),
        };
        ManifestWriter {
            text,
            first_file: true,
            force_encode,
        }
    }

    /// Adds one regular file: `path` relative to the data directory with `/` separators
    /// (tablespace files as `pg_tblspc/<oid>/PG_15_202209061/…`), its size in the backup, its
    /// mtime (seconds since the Unix epoch) and its checksum.
    pub fn add_file(&mut self, path: &[u8], size: u64, mtime: i64, checksum: &Digest) {
        let t = &mut self.text;
        t.push_str(if self.first_file { "\n" } else { ",\n" });
        self.first_file = false;
        // The C code stops at a NUL; such a path is not valid for the verifier either, so it is
        // hex-encoded like any other path that is not UTF-8.
        match std::str::from_utf8(path) {
            Ok(p) if !self.force_encode && !p.contains('\0') => {
                t.push_str("{ \"Path\": ");
                escape_json(t, p);
                t.push_str(", ");
            }
            _ => {
                t.push_str("{ \"Encoded-Path\": \"");
                push_hex(t, path);
                t.push_str("\", ");
            }
        }
        let _ = write!(t, "\"Size\": {size}, \"Last-Modified\": \"");
        t.push_str(&format_last_modified(mtime));
        t.push('"');
        if checksum.algorithm() != super::ChecksumAlgorithm::None {
            let _ = write!(
                t,
                ", \"Checksum-Algorithm\": \"{}\", \"Checksum\": \"",
                checksum.algorithm().name()
            );
            push_hex(t, checksum.as_bytes());
            t.push('"');
        }
        t.push_str(" }");
    }

    /// Ends the file list, writes `ranges` (newest timeline first, see [`wal_ranges`]) and the
    /// manifest checksum, and returns the whole manifest.
    pub fn finish(mut self, ranges: &[WalRange]) -> Vec<u8> {
        let t = &mut self.text;
        t.push_str("\n],\n\"WAL-Ranges\": [\n");
        for (i, r) in ranges.iter().enumerate() {
            let sep = if i == 0 { "" } else { ",\n" };
            let _ = write!(
                t,
                "{sep}{{ \"Timeline\": {}, \"Start-LSN\": \"{}\", \"End-LSN\": \"{}\" }}",
                r.timeline, r.start, r.end
            );
        }
        t.push_str("\n],\n");
        let sum = Sha256::digest(t.as_bytes());
        t.push_str("\"Manifest-Checksum\": \"");
        push_hex(t, &sum);
        t.push_str("\"}\n");
        self.text.into_bytes()
    }
}

/// `escape_json`: quotes and escapes a string as the server does (`\b \f \n \r \t \" \\`, other
/// control characters as `\u00XX`, everything else, including non-ASCII, as is).
fn escape_json(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if u32::from(c) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Formats a Unix time as `YYYY-MM-DD HH:MM:SS GMT` (`pg_strftime` with `pg_gmtime`).
pub fn format_last_modified(mtime: i64) -> String {
    let days = mtime.div_euclid(86_400);
    let secs = mtime.rem_euclid(86_400);
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02} GMT",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

/// Days since 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// The `WAL-Ranges` of a backup, as `AddWALInfoToBackupManifest` computes them: walking the end
/// timeline's history (`history`, newest first, as [`parse_timeline_history`] returns it) back
/// to the start timeline. The newest range runs from the timeline's begin to `end`, each older
/// one ends where the next began, and the oldest starts at `start`.
///
/// [`parse_timeline_history`]: crate::lsn::parse_timeline_history
pub fn wal_ranges(
    start: Lsn,
    start_tli: TimelineId,
    end: Lsn,
    end_tli: TimelineId,
    history: &[TimelineHistoryEntry],
) -> Result<Vec<WalRange>, ManifestError> {
    let mut ranges = Vec::new();
    let mut range_end = end;
    for entry in history {
        // Timelines that ended before the backup started are not needed.
        if entry.end.is_valid() && entry.end < start {
            continue;
        }
        if ranges.is_empty() && entry.tli != end_tli {
            return Err(ManifestError::Timeline(format!(
                "expected end timeline {end_tli} but found timeline {}",
                entry.tli
            )));
        }
        let range_start = if entry.tli == start_tli {
            start
        } else if entry.begin.is_valid() {
            entry.begin
        } else {
            return Err(ManifestError::Timeline(format!(
                "expected start timeline {start_tli} but found timeline {}",
                entry.tli
            )));
        };
        ranges.push(WalRange {
            timeline: entry.tli,
            start: range_start,
            end: range_end,
        });
        if entry.tli == start_tli {
            return Ok(ranges);
        }
        range_end = entry.begin;
    }
    Err(ManifestError::Timeline(format!(
        "start timeline {start_tli} not found in history of timeline {end_tli}"
    )))
}
