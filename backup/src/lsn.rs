//! WAL positions (`X/X`), WAL segment sizes and file names, and timeline history files.

use std::fmt;
use std::str::FromStr;

/// A timeline ID (`TimeLineID`).
pub type TimelineId = u32;

/// A WAL location (`XLogRecPtr`): a byte position in the WAL stream.
///
/// Formats as PostgreSQL does everywhere: two upper-case hex numbers without leading zeros, the
/// high 32 bits, `/`, the low 32 bits (`0/3000028`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Lsn(pub u64);

impl Lsn {
    /// `InvalidXLogRecPtr`: no position.
    pub const INVALID: Lsn = Lsn(0);

    /// Whether this is a real position (not `0/0`).
    pub fn is_valid(self) -> bool {
        self.0 != 0
    }

    /// Parses `X/X` with the rules of the `pg_lsn` input function: each half is 1–8 hex digits
    /// (either case), nothing before, between or after.
    pub fn parse(text: &str) -> Result<Lsn, LsnError> {
        let invalid = || LsnError::InvalidLsn(text.to_owned());
        let (high, low) = text.split_once('/').ok_or_else(invalid)?;
        let half = |s: &str| -> Option<u64> {
            if s.is_empty() || s.len() > 8 || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
                return None;
            }
            u64::from_str_radix(s, 16).ok()
        };
        match (half(high), half(low)) {
            (Some(h), Some(l)) => Ok(Lsn((h << 32) | l)),
            _ => Err(invalid()),
        }
    }
}

impl fmt::Display for Lsn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:X}/{:X}", self.0 >> 32, self.0 & 0xFFFF_FFFF)
    }
}

impl FromStr for Lsn {
    type Err = LsnError;

    fn from_str(s: &str) -> Result<Lsn, LsnError> {
        Lsn::parse(s)
    }
}

/// Errors from LSN, WAL file name, size setting and timeline history parsing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LsnError {
    /// Text that is not `X/X`.
    #[error("invalid LSN \"{0}\"")]
    InvalidLsn(String),
    /// A WAL segment size that PostgreSQL would not accept.
    #[error("invalid WAL segment size {0}: must be a power of two between 1 MB and 1 GB")]
    InvalidSegmentSize(u64),
    /// A size setting (`SHOW wal_segment_size`) that is not a number with a memory unit.
    #[error("invalid size setting \"{0}\"")]
    InvalidSizeSetting(String),
    /// Not a 24-hex-digit WAL segment file name, or one out of range for the segment size.
    #[error("invalid WAL file name \"{0}\"")]
    InvalidWalFileName(String),
    /// A timeline history file that the server would reject.
    #[error("syntax error in history file line {line}: {reason}")]
    History {
        /// 1-based line number in the history file.
        line: usize,
        /// The server's detail message.
        reason: &'static str,
    },
}

/// The WAL segment size of a cluster (`wal_segment_size`, 16 MB unless initdb said otherwise).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WalSegmentSize(u64);

impl Default for WalSegmentSize {
    fn default() -> Self {
        WalSegmentSize(Self::DEFAULT_BYTES)
    }
}

impl WalSegmentSize {
    /// 16 MiB, initdb's default.
    pub const DEFAULT_BYTES: u64 = 16 * 1024 * 1024;

    /// Validates a size in bytes: a power of two from 1 MiB to 1 GiB (`IsValidWalSegSize`).
    pub fn try_new(bytes: u64) -> Result<Self, LsnError> {
        if bytes.is_power_of_two() && (1 << 20..=1 << 30).contains(&bytes) {
            Ok(WalSegmentSize(bytes))
        } else {
            Err(LsnError::InvalidSegmentSize(bytes))
        }
    }

    /// Parses the reply to `SHOW wal_segment_size` (`16MB`, `1GB`, `1048576kB`, `16777216B`).
    pub fn from_setting(text: &str) -> Result<Self, LsnError> {
        Self::try_new(parse_memory_setting(text)?)
    }

    /// The size in bytes.
    pub fn bytes(self) -> u64 {
        self.0
    }

    /// Segments per 4 GiB "xlogid" (`XLogSegmentsPerXLogId`): 256 for 16 MiB.
    pub fn segments_per_xlogid(self) -> u64 {
        0x1_0000_0000 / self.0
    }

    /// The segment number holding `lsn` (`XLByteToSeg`).
    pub fn segno(self, lsn: Lsn) -> u64 {
        lsn.0 / self.0
    }

    /// The offset of `lsn` within its segment (`XLogSegmentOffset`).
    pub fn offset(self, lsn: Lsn) -> u64 {
        lsn.0 & (self.0 - 1)
    }

    /// The first position of the segment holding `lsn` (where streaming starts).
    pub fn segment_start(self, lsn: Lsn) -> Lsn {
        Lsn(lsn.0 - self.offset(lsn))
    }

    /// The first position of segment `segno` (`XLogSegNoOffsetToRecPtr` with offset 0).
    pub fn segment_lsn(self, segno: u64) -> Lsn {
        Lsn(segno.wrapping_mul(self.0))
    }

    /// The file name of a segment (`XLogFileName`): `TTTTTTTTXXXXXXXXYYYYYYYY`.
    pub fn file_name(self, tli: TimelineId, segno: u64) -> String {
        let per_id = self.segments_per_xlogid();
        // The C code casts both halves to uint32; do the same so no input panics or widens.
        let high = (segno / per_id) as u32;
        let low = (segno % per_id) as u32;
        format!("{tli:08X}{high:08X}{low:08X}")
    }

    /// Parses a segment file name back into its timeline and segment number
    /// (`IsXLogFileName` + `XLogFromFileName`). Lower-case hex is rejected like the server does.
    pub fn parse_file_name(self, name: &str) -> Result<(TimelineId, u64), LsnError> {
        let invalid = || LsnError::InvalidWalFileName(name.to_owned());
        if name.len() != 24 || !name.bytes().all(|b| matches!(b, b'0'..=b'9' | b'A'..=b'F')) {
            return Err(invalid());
        }
        let field = |r: std::ops::Range<usize>| {
            name.get(r)
                .and_then(|s| u32::from_str_radix(s, 16).ok())
                .ok_or_else(invalid)
        };
        let (tli, high, low) = (field(0..8)?, field(8..16)?, field(16..24)?);
        let per_id = self.segments_per_xlogid();
        if u64::from(low) >= per_id {
            return Err(invalid());
        }
        Ok((tli, u64::from(high) * per_id + u64::from(low)))
    }
}

/// `TLHistoryFileName`: `00000002.history`.
pub fn history_file_name(tli: TimelineId) -> String {
    format!("{tli:08X}.history")
}

/// The archive status file that marks a WAL file as already archived, relative to `pg_wal`.
pub fn done_status_path(wal_file_name: &str) -> String {
    format!("archive_status/{wal_file_name}.done")
}

/// Parses a GUC memory value as `SHOW` prints it: an integer with unit `B`, `kB`, `MB`, `GB` or
/// `TB` (or none, meaning bytes).
pub fn parse_memory_setting(text: &str) -> Result<u64, LsnError> {
    let invalid = || LsnError::InvalidSizeSetting(text.to_owned());
    let trimmed = text.trim();
    let digits_end = trimmed
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(trimmed.len());
    let (number, unit) = trimmed.split_at(digits_end);
    let number: u64 = number.parse().map_err(|_| invalid())?;
    let multiplier: u64 = match unit.trim_start() {
        "" | "B" => 1,
        "kB" => 1 << 10,
        "MB" => 1 << 20,
        "GB" => 1 << 30,
        "TB" => 1 << 40,
        _ => return Err(invalid()),
    };
    number.checked_mul(multiplier).ok_or_else(invalid)
}

/// One timeline of a history, as `readTimeLineHistory` returns it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimelineHistoryEntry {
    /// The timeline.
    pub tli: TimelineId,
    /// Where it branched off its parent (`0/0` for the first timeline).
    pub begin: Lsn,
    /// Where the next timeline branched off it (`0/0` for the newest, still-open timeline).
    pub end: Lsn,
}

/// Parses the content of `<target_tli>.history` (lines `parentTLI<TAB>X/X<TAB>reason`) into the
/// list of timelines leading to `target_tli`, **newest first**, with the same checks as the
/// server's `readTimeLineHistory`. Empty content (timeline 1) gives the single open timeline.
pub fn parse_timeline_history(
    content: &[u8],
    target_tli: TimelineId,
) -> Result<Vec<TimelineHistoryEntry>, LsnError> {
    let mut entries: Vec<TimelineHistoryEntry> = Vec::new();
    let mut prev_end = Lsn::INVALID;
    let mut last_tli: Option<TimelineId> = None;
    for (index, raw) in content.split(|&b| b == b'\n').enumerate() {
        let line = index + 1;
        let err = |reason| LsnError::History { line, reason };
        let mut s = Scanner(raw);
        s.skip_space();
        if matches!(s.peek(), None | Some(b'#')) {
            continue;
        }
        let tli = s.number(10).ok_or(err("Expected a numeric timeline ID."))?;
        s.skip_space();
        let high = s.number(16);
        let slash = s.eat(b'/');
        let low = s.number(16);
        let (Some(high), true, Some(low)) = (high, slash, low) else {
            return Err(err("Expected a write-ahead log switchpoint location."));
        };
        if last_tli.is_some_and(|last| tli <= last) {
            return Err(err("Timeline IDs must be in increasing sequence."));
        }
        last_tli = Some(tli);
        let end = Lsn((u64::from(high) << 32) | u64::from(low));
        entries.push(TimelineHistoryEntry {
            tli,
            begin: prev_end,
            end,
        });
        prev_end = end;
    }
    if last_tli.is_some_and(|last| target_tli <= last) {
        return Err(LsnError::History {
            line: 0,
            reason: "Timeline IDs must be less than child timeline's ID.",
        });
    }
    entries.push(TimelineHistoryEntry {
        tli: target_tli,
        begin: prev_end,
        end: Lsn::INVALID,
    });
    entries.reverse();
    Ok(entries)
}

/// A tiny `sscanf`-like cursor over one history line.
struct Scanner<'a>(&'a [u8]);

impl Scanner<'_> {
    fn peek(&self) -> Option<u8> {
        self.0.first().copied()
    }

    fn skip_space(&mut self) {
        while self.peek().is_some_and(|b| b.is_ascii_whitespace()) {
            self.0 = &self.0[1..];
        }
    }

    fn eat(&mut self, byte: u8) -> bool {
        if self.peek() == Some(byte) {
            self.0 = &self.0[1..];
            true
        } else {
            false
        }
    }

    /// Unsigned number in `radix`; `None` if no digit or it overflows 32 bits.
    fn number(&mut self, radix: u32) -> Option<u32> {
        let len = self
            .0
            .iter()
            .take_while(|b| (**b as char).is_digit(radix))
            .count();
        let (digits, rest) = self.0.split_at(len);
        self.0 = rest;
        let text = std::str::from_utf8(digits).ok()?;
        u32::from_str_radix(text, radix).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lsn_parse_and_format() {
        for (text, value) in [
            ("0/0", 0),
            ("0/3000028", 0x300_0028),
            ("1/0", 1 << 32),
            ("FFFFFFFF/FFFFFFFF", u64::MAX),
            ("ab/cd", 0xAB_0000_00CD),
        ] {
            assert_eq!(Lsn::parse(text), Ok(Lsn(value)), "{text}");
        }
        assert_eq!(Lsn(0x300_0028).to_string(), "0/3000028");
        assert_eq!(Lsn(0xAB_0000_00CD).to_string(), "AB/CD");
        for bad in [
            "",
            "/",
            "0/",
            "/0",
            "0x0/0",
            "1/2/3",
            " 0/0",
            "0/0 ",
            "123456789/0",
            "g/0",
            "+1/0",
        ] {
            assert!(Lsn::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn segment_names_match_the_server() {
        let seg = WalSegmentSize::default();
        let lsn = Lsn::parse("0/3000028").unwrap();
        assert_eq!(seg.segno(lsn), 3);
        assert_eq!(seg.segment_start(lsn), Lsn(0x300_0000));
        assert_eq!(seg.offset(lsn), 0x28);
        assert_eq!(seg.file_name(1, 3), "000000010000000000000003");
        assert_eq!(seg.file_name(2, 256 + 0x1F), "00000002000000010000001F");
        assert_eq!(
            seg.parse_file_name("00000002000000010000001F"),
            Ok((2, 287))
        );
        assert!(seg.parse_file_name("000000020000000100000100").is_err());
        assert!(seg.parse_file_name("00000002000000010000001f").is_err());
        assert!(seg.parse_file_name("00000002000000010000001").is_err());
        let big = WalSegmentSize::try_new(1 << 30).unwrap();
        assert_eq!(big.segments_per_xlogid(), 4);
        assert_eq!(big.file_name(1, 5), "000000010000000100000001");
        assert_eq!(seg.segment_lsn(3), Lsn(0x300_0000));
        assert_eq!(history_file_name(0x1A), "0000001A.history");
        assert_eq!(
            done_status_path("000000010000000000000003"),
            "archive_status/000000010000000000000003.done"
        );
    }

    #[test]
    fn segment_size_settings() {
        assert_eq!(
            WalSegmentSize::from_setting("16MB").unwrap().bytes(),
            16 << 20
        );
        assert_eq!(
            WalSegmentSize::from_setting("1GB").unwrap().bytes(),
            1 << 30
        );
        assert_eq!(
            WalSegmentSize::from_setting("1024kB").unwrap().bytes(),
            1 << 20
        );
        assert_eq!(
            WalSegmentSize::from_setting("2097152").unwrap().bytes(),
            2 << 20
        );
        for bad in [
            "",
            "MB",
            "16 mb",
            "3MB",
            "2GB",
            "512kB",
            "-16MB",
            "99999999999999TB",
        ] {
            assert!(WalSegmentSize::from_setting(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn timeline_history() {
        let text = b"1\t0/3000158\tno recovery target specified\n\n# comment\n2\t0/5000000\tat restore point \"x\"\n";
        let list = parse_timeline_history(text, 3).unwrap();
        assert_eq!(
            list,
            vec![
                TimelineHistoryEntry {
                    tli: 3,
                    begin: Lsn(0x500_0000),
                    end: Lsn::INVALID
                },
                TimelineHistoryEntry {
                    tli: 2,
                    begin: Lsn(0x300_0158),
                    end: Lsn(0x500_0000)
                },
                TimelineHistoryEntry {
                    tli: 1,
                    begin: Lsn::INVALID,
                    end: Lsn(0x300_0158)
                },
            ]
        );
        assert_eq!(parse_timeline_history(b"", 1).unwrap().len(), 1);
        assert!(parse_timeline_history(b"x\t0/1\n", 2).is_err());
        assert!(parse_timeline_history(b"1\t0/\n", 2).is_err());
        assert!(parse_timeline_history(b"1\t0/1\n1\t0/2\n", 3).is_err());
        assert!(parse_timeline_history(b"1\t0/1\n", 1).is_err());
        assert!(parse_timeline_history(b"99999999999\t0/1\n", 2).is_err());
    }
}
