//! Parses `backup_manifest` with the checks of `pg_verifybackup`'s `parse_manifest.c`.
//!
//! The JSON is lexed by a small hand-written lexer and the fixed shape (one object of two arrays
//! of flat objects) is walked without recursion, so no input can exhaust the stack.

use super::digest::decode_hex;
use super::{ChecksumAlgorithm, Digest, ManifestError, WalRange};
use crate::lsn::Lsn;
use sha2::{Digest as _, Sha256};

/// A parsed manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Manifest {
    /// The files, in manifest order.
    pub files: Vec<ManifestFile>,
    /// The WAL ranges, newest timeline first.
    pub wal_ranges: Vec<WalRange>,
    /// The SHA-256 `Manifest-Checksum`, already checked against the content.
    pub checksum: [u8; 32],
}

/// One `Files` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManifestFile {
    /// The path relative to the data directory, decoded from `Path` or `Encoded-Path`.
    pub path: Vec<u8>,
    /// The size in bytes.
    pub size: u64,
    /// The `Last-Modified` text (the verifier does not interpret it).
    pub last_modified: Option<String>,
    /// The checksum, `None` when the entry has none.
    pub checksum: Option<Digest>,
}

fn fail<T>(msg: impl Into<String>) -> Result<T, ManifestError> {
    Err(ManifestError::Parse(msg.into()))
}

/// Parses and checks a whole manifest, including its `Manifest-Checksum`.
pub fn parse_manifest(text: &[u8]) -> Result<Manifest, ManifestError> {
    let mut lx = Lexer { s: text, pos: 0 };
    lx.expect(Tok::ObjectStart)?;
    let mut files = None;
    let mut ranges = None;
    let mut checksum = None;
    let mut first = true;
    loop {
        let key = match lx.next()? {
            Tok::Str(k) => k,
            Tok::ObjectEnd if !first => break,
            _ => return fail("expected version indicator"),
        };
        lx.expect(Tok::Colon)?;
        if first {
            if key != "PostgreSQL-Backup-Manifest-Version" {
                return fail("expected version indicator");
            }
            if lx.scalar()? != "1" {
                return fail("unexpected manifest version");
            }
            first = false;
        } else {
            match key.as_str() {
                "Files" if files.is_none() => files = Some(parse_files(&mut lx)?),
                "WAL-Ranges" if ranges.is_none() => ranges = Some(parse_ranges(&mut lx)?),
                "Manifest-Checksum" if checksum.is_none() => checksum = Some(lx.scalar()?),
                _ => return fail(format!("unexpected object field \"{key}\"")),
            }
        }
        match lx.next()? {
            Tok::Comma => {}
            Tok::ObjectEnd => break,
            _ => return fail("expected , or }"),
        }
    }
    if lx.skip_ws() {
        return fail("unexpected data after the manifest object");
    }
    if first {
        return fail("expected version indicator");
    }
    let Some(files) = files else {
        return fail("missing file list");
    };
    let Some(wal_ranges) = ranges else {
        return fail("missing WAL ranges");
    };
    let Some(checksum_text) = checksum else {
        return fail("manifest has no checksum");
    };
    let checksum: [u8; 32] = decode_hex(&checksum_text)
        .and_then(|v| v.try_into().ok())
        .ok_or_else(|| {
            ManifestError::Parse(format!("invalid manifest checksum: \"{checksum_text}\""))
        })?;
    verify_manifest_checksum(text, &checksum)?;
    Ok(Manifest {
        files,
        wal_ranges,
        checksum,
    })
}

/// Checks the SHA-256 of everything up to the second-to-last newline (`verify_manifest_checksum`).
fn verify_manifest_checksum(text: &[u8], expected: &[u8; 32]) -> Result<(), ManifestError> {
    let mut newlines = text
        .iter()
        .enumerate()
        .filter(|(_, b)| **b == b'\n')
        .map(|(i, _)| i);
    let (Some(last), Some(penultimate)) = (newlines.next_back(), newlines.next_back()) else {
        return fail("expected at least 2 lines");
    };
    if last != text.len() - 1 {
        return fail("last line not newline-terminated");
    }
    if Sha256::digest(&text[..=penultimate]).as_slice() != expected {
        return Err(ManifestError::ChecksumMismatch);
    }
    Ok(())
}

/// Reads `[ {..}, ... ]` of flat objects, handing each object's fields to `each`.
fn parse_array_of_objects(
    lx: &mut Lexer<'_>,
    mut each: impl FnMut(Vec<(String, String)>) -> Result<(), ManifestError>,
) -> Result<(), ManifestError> {
    lx.expect(Tok::ArrayStart)?;
    let mut first = true;
    loop {
        match lx.next()? {
            Tok::ArrayEnd if first => return Ok(()),
            Tok::ObjectStart => {}
            _ => return fail("expected an object in the array"),
        }
        first = false;
        let mut fields = Vec::new();
        loop {
            let key = match lx.next()? {
                Tok::Str(k) => k,
                Tok::ObjectEnd if fields.is_empty() => break,
                _ => return fail("expected a field name"),
            };
            lx.expect(Tok::Colon)?;
            fields.push((key, lx.scalar()?));
            match lx.next()? {
                Tok::Comma => {}
                Tok::ObjectEnd => break,
                _ => return fail("expected , or }"),
            }
        }
        each(fields)?;
        match lx.next()? {
            Tok::Comma => {}
            Tok::ArrayEnd => return Ok(()),
            _ => return fail("expected , or ]"),
        }
    }
}

fn parse_files(lx: &mut Lexer<'_>) -> Result<Vec<ManifestFile>, ManifestError> {
    let mut files = Vec::new();
    parse_array_of_objects(lx, |fields| {
        let (mut path, mut encoded, mut size, mut modified, mut alg, mut sum) =
            (None, None, None, None, None, None);
        for (key, value) in fields {
            let slot = match key.as_str() {
                "Path" => &mut path,
                "Encoded-Path" => &mut encoded,
                "Size" => &mut size,
                "Last-Modified" => &mut modified,
                "Checksum-Algorithm" => &mut alg,
                "Checksum" => &mut sum,
                _ => return fail(format!("unexpected file field \"{key}\"")),
            };
            if slot.replace(value).is_some() {
                return fail(format!("duplicate file field \"{key}\""));
            }
        }
        let path: Vec<u8> = match (path, encoded) {
            (Some(_), Some(_)) => return fail("both path name and encoded path name"),
            (None, None) => return fail("missing path name"),
            (Some(p), None) => p.into_bytes(),
            (None, Some(e)) => match decode_hex(&e) {
                Some(p) => p,
                None => return fail("could not decode file name"),
            },
        };
        let shown = path.escape_ascii().to_string();
        let Some(size) = size else {
            return fail("missing size");
        };
        let Ok(size) = size.parse::<u64>() else {
            return fail("file size is not an integer");
        };
        let checksum = match (alg, sum) {
            (None, Some(_)) => return fail("checksum without algorithm"),
            (None, None) => None,
            (Some(alg), sum) => {
                let algorithm = ChecksumAlgorithm::parse(&alg).map_err(|_| {
                    ManifestError::Parse(format!("unrecognized checksum algorithm: \"{alg}\""))
                })?;
                let sum = sum.unwrap_or_default();
                match Digest::from_hex(algorithm, &sum) {
                    Some(d) if algorithm != ChecksumAlgorithm::None => Some(d),
                    _ => return fail(format!("invalid checksum for file \"{shown}\": \"{sum}\"")),
                }
            }
        };
        files.push(ManifestFile {
            path,
            size,
            last_modified: modified,
            checksum,
        });
        Ok(())
    })?;
    Ok(files)
}

fn parse_ranges(lx: &mut Lexer<'_>) -> Result<Vec<WalRange>, ManifestError> {
    let mut ranges = Vec::new();
    parse_array_of_objects(lx, |fields| {
        let (mut tli, mut start, mut end) = (None, None, None);
        for (key, value) in fields {
            let slot = match key.as_str() {
                "Timeline" => &mut tli,
                "Start-LSN" => &mut start,
                "End-LSN" => &mut end,
                _ => return fail(format!("unexpected WAL range field \"{key}\"")),
            };
            if slot.replace(value).is_some() {
                return fail(format!("duplicate WAL range field \"{key}\""));
            }
        }
        let (Some(tli), Some(start), Some(end)) = (tli, start, end) else {
            return fail("missing timeline, start LSN or end LSN");
        };
        let Ok(timeline) = tli.parse::<u32>() else {
            return fail("timeline is not an integer");
        };
        let Ok(start) = Lsn::parse(&start) else {
            return fail("could not parse start LSN");
        };
        let Ok(end) = Lsn::parse(&end) else {
            return fail("could not parse end LSN");
        };
        ranges.push(WalRange {
            timeline,
            start,
            end,
        });
        Ok(())
    })?;
    Ok(ranges)
}

#[derive(Debug, PartialEq, Eq)]
enum Tok {
    ObjectStart,
    ObjectEnd,
    ArrayStart,
    ArrayEnd,
    Colon,
    Comma,
    Str(String),
    /// A number, `true`, `false` or `null`, as written.
    Scalar(String),
}

struct Lexer<'a> {
    s: &'a [u8],
    pos: usize,
}

impl Lexer<'_> {
    /// Skips whitespace; whether anything is left.
    fn skip_ws(&mut self) -> bool {
        while self
            .s
            .get(self.pos)
            .is_some_and(|b| matches!(b, b' ' | b'\t' | b'\n' | b'\r'))
        {
            self.pos += 1;
        }
        self.pos < self.s.len()
    }

    fn expect(&mut self, want: Tok) -> Result<(), ManifestError> {
        let got = self.next()?;
        if got == want {
            Ok(())
        } else {
            fail(format!("expected {want:?}, found {got:?}"))
        }
    }

    /// A string or other scalar, as text (like the C parser's scalar callback).
    fn scalar(&mut self) -> Result<String, ManifestError> {
        match self.next()? {
            Tok::Str(s) | Tok::Scalar(s) => Ok(s),
            other => fail(format!("expected a scalar, found {other:?}")),
        }
    }

    fn next(&mut self) -> Result<Tok, ManifestError> {
        if !self.skip_ws() {
            return fail("the manifest ended unexpectedly");
        }
        let b = self.s[self.pos];
        self.pos += 1;
        Ok(match b {
            b'{' => Tok::ObjectStart,
            b'}' => Tok::ObjectEnd,
            b'[' => Tok::ArrayStart,
            b']' => Tok::ArrayEnd,
            b':' => Tok::Colon,
            b',' => Tok::Comma,
            b'"' => Tok::Str(self.string()?),
            b'-' | b'0'..=b'9' | b't' | b'f' | b'n' => {
                let start = self.pos - 1;
                while self
                    .s
                    .get(self.pos)
                    .is_some_and(|c| c.is_ascii_alphanumeric() || matches!(c, b'+' | b'-' | b'.'))
                {
                    self.pos += 1;
                }
                let word = std::str::from_utf8(&self.s[start..self.pos]).unwrap_or("");
                if !matches!(word, "true" | "false" | "null") && !is_json_number(word) {
                    return fail(format!("invalid token \"{word}\""));
                }
                Tok::Scalar(word.to_owned())
            }
            other => return fail(format!("unexpected character 0x{other:02x}")),
        })
    }

    /// The rest of a string after its opening quote, de-escaped.
    fn string(&mut self) -> Result<String, ManifestError> {
        let mut out: Vec<u8> = Vec::new();
        loop {
            let Some(&b) = self.s.get(self.pos) else {
                return fail("unterminated string");
            };
            self.pos += 1;
            match b {
                b'"' => break,
                b'\\' => {
                    let Some(&e) = self.s.get(self.pos) else {
                        return fail("unterminated string");
                    };
                    self.pos += 1;
                    let c = match e {
                        b'"' => '"',
                        b'\\' => '\\',
                        b'/' => '/',
                        b'b' => '\u{8}',
                        b'f' => '\u{c}',
                        b'n' => '\n',
                        b'r' => '\r',
                        b't' => '\t',
                        b'u' => self.unicode_escape()?,
                        _ => return fail("invalid escape sequence"),
                    };
                    out.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes());
                }
                0..=0x1F => return fail(format!("character 0x{b:02x} must be escaped")),
                _ => out.push(b),
            }
        }
        String::from_utf8(out).or_else(|_| fail("invalid UTF-8 in a string"))
    }

    fn hex4(&mut self) -> Result<u32, ManifestError> {
        let digits = self
            .s
            .get(self.pos..self.pos + 4)
            .and_then(|d| std::str::from_utf8(d).ok())
            .filter(|d| d.bytes().all(|c| c.is_ascii_hexdigit()));
        let Some(digits) = digits else {
            return fail("\"\\u\" must be followed by four hexadecimal digits");
        };
        self.pos += 4;
        u32::from_str_radix(digits, 16).or_else(|_| fail("bad \\u escape"))
    }

    fn unicode_escape(&mut self) -> Result<char, ManifestError> {
        let first = self.hex4()?;
        let code = match first {
            0 => return fail("\\u0000 cannot be converted to text"),
            0xD800..=0xDBFF => {
                if self.s.get(self.pos..self.pos + 2) != Some(b"\\u") {
                    return fail("Unicode high surrogate must not follow a high surrogate.");
                }
                self.pos += 2;
                let low = self.hex4()?;
                if !(0xDC00..=0xDFFF).contains(&low) {
                    return fail("Unicode low surrogate must follow a high surrogate.");
                }
                0x10000 + ((first - 0xD800) << 10) + (low - 0xDC00)
            }
            0xDC00..=0xDFFF => return fail("Unicode low surrogate must follow a high surrogate."),
            c => c,
        };
        char::from_u32(code).ok_or_else(|| ManifestError::Parse("bad \\u escape".into()))
    }
}

/// JSON's number grammar: `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`.
fn is_json_number(word: &str) -> bool {
    let b = word.as_bytes();
    let mut i = usize::from(b.first() == Some(&b'-'));
    let digits = |i: &mut usize| {
        let start = *i;
        while b.get(*i).is_some_and(u8::is_ascii_digit) {
            *i += 1;
        }
        *i - start
    };
    let int_start = i;
    match digits(&mut i) {
        0 => return false,
        n if n > 1 && b[int_start] == b'0' => return false,
        _ => {}
    }
    if b.get(i) == Some(&b'.') {
        i += 1;
        if digits(&mut i) == 0 {
            return false;
        }
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(b.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        if digits(&mut i) == 0 {
            return false;
        }
    }
    i == b.len()
}
