//! An incremental tar reader: feed it byte chunks as they arrive, get headers and borrowed data
//! slices back, never a whole file in memory.

use super::{
    header_checksum, header_checksum_signed, read_number, EntryKind, TarError, TarHeader, BLOCK,
};

/// Largest GNU long-name or pax extended header the reader buffers.
const MAX_EXTENDED_HEADER: u64 = 1 << 20;

/// What the reader found next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TarEvent<'a> {
    /// A new member starts; for files, [`TarEvent::Data`] for `size` bytes follows.
    Entry(TarHeader),
    /// The next bytes of the current member, borrowed from the input.
    Data(&'a [u8]),
    /// The current member is complete (sent for every member, after its data if any).
    EntryEnd,
    /// The end-of-archive zero block. Anything after it is ignored.
    End,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Extended {
    LongName,
    LongLink,
    Pax,
    GlobalPax,
}

#[derive(Debug)]
enum State {
    /// Collecting a header block; `filled` bytes of `block` are valid.
    Header,
    /// Passing through member data.
    Data { remaining: u64, padding: u64 },
    /// Member data done; `EntryEnd` not yet reported.
    EntryDone { padding: u64 },
    /// Skipping padding after member data.
    Padding { remaining: u64 },
    /// Buffering the data of an extended header that applies to the next member.
    Extended {
        kind: Extended,
        remaining: u64,
        padding: u64,
    },
    /// After the end-of-archive block.
    Trailer,
}

/// Overrides for the next member from GNU long-name and pax headers.
#[derive(Debug, Default)]
struct Pending {
    name: Option<Vec<u8>>,
    link: Option<Vec<u8>>,
    size: Option<u64>,
    mtime: Option<u64>,
    uid: Option<u64>,
    gid: Option<u64>,
}

/// The reader. See [`TarReader::next_event`].
#[derive(Debug)]
pub struct TarReader {
    state: State,
    block: Box<[u8; BLOCK]>,
    filled: usize,
    extended: Vec<u8>,
    pending: Pending,
    /// Bytes consumed so far, for error messages.
    offset: u64,
}

impl Default for TarReader {
    fn default() -> Self {
        Self::new()
    }
}

impl TarReader {
    /// A reader at the start of an archive.
    pub fn new() -> Self {
        TarReader {
            state: State::Header,
            block: Box::new([0; BLOCK]),
            filled: 0,
            extended: Vec::new(),
            pending: Pending::default(),
            offset: 0,
        }
    }

    /// Consumes bytes from the front of `input` and returns the next event, or `Ok(None)` once
    /// `input` is empty and more bytes are needed. Data events borrow from `input`.
    pub fn next_event<'a>(
        &mut self,
        input: &mut &'a [u8],
    ) -> Result<Option<TarEvent<'a>>, TarError> {
        loop {
            match self.state {
                State::Trailer => {
                    self.take(input, input.len());
                    return Ok(None);
                }
                State::EntryDone { padding } => {
                    self.state = State::Padding { remaining: padding };
                    return Ok(Some(TarEvent::EntryEnd));
                }
                _ if input.is_empty() => return Ok(None),
                State::Padding { remaining } => {
                    let n = self.take(input, clamp(remaining, input.len())).len() as u64;
                    self.state = if n == remaining {
                        State::Header
                    } else {
                        State::Padding {
                            remaining: remaining - n,
                        }
                    };
                }
                State::Data { remaining, padding } => {
                    let data = self.take(input, clamp(remaining, input.len()));
                    let left = remaining - data.len() as u64;
                    self.state = if left == 0 {
                        State::EntryDone { padding }
                    } else {
                        State::Data {
                            remaining: left,
                            padding,
                        }
                    };
                    return Ok(Some(TarEvent::Data(data)));
                }
                State::Extended {
                    kind,
                    remaining,
                    padding,
                } => {
                    let data = self.take(input, clamp(remaining, input.len()));
                    self.extended.extend_from_slice(data);
                    let left = remaining - data.len() as u64;
                    if left == 0 {
                        self.apply_extended(kind)?;
                        self.state = State::Padding { remaining: padding };
                    } else {
                        self.state = State::Extended {
                            kind,
                            remaining: left,
                            padding,
                        };
                    }
                }
                State::Header => {
                    let want = BLOCK - self.filled;
                    let got = self.take(input, want.min(input.len()));
                    self.block[self.filled..self.filled + got.len()].copy_from_slice(got);
                    self.filled += got.len();
                    if self.filled == BLOCK {
                        self.filled = 0;
                        if let Some(event) = self.parse_header()? {
                            return Ok(Some(event));
                        }
                    }
                }
            }
        }
    }

    /// Checks, once the input has ended, that the archive was complete: its end-of-archive block
    /// was seen. Trailing zero blocks and garbage after it are accepted, as pg_basebackup does.
    pub fn finish(&self) -> Result<(), TarError> {
        match self.state {
            State::Trailer => Ok(()),
            _ => Err(TarError::UnexpectedEnd(self.offset)),
        }
    }

    /// Whether the end-of-archive block has been seen.
    pub fn is_finished(&self) -> bool {
        matches!(self.state, State::Trailer)
    }

    fn take<'a>(&mut self, input: &mut &'a [u8], n: usize) -> &'a [u8] {
        let (head, rest) = input.split_at(n.min(input.len()));
        *input = rest;
        self.offset += head.len() as u64;
        head
    }

    /// Parses the complete header in `self.block`; `None` for an extended header (its data is
    /// read next).
    fn parse_header(&mut self) -> Result<Option<TarEvent<'static>>, TarError> {
        let at = self.offset - BLOCK as u64;
        let b: &[u8; BLOCK] = &self.block;
        if b.iter().all(|&x| x == 0) {
            self.state = State::Trailer;
            return Ok(Some(TarEvent::End));
        }
        let number = |range: std::ops::Range<usize>, field| {
            read_number(&b[range]).ok_or(TarError::BadNumber { field, offset: at })
        };
        let stored = number(148..156, "checksum")?;
        let computed = header_checksum(b);
        if stored != computed && i64::try_from(stored).ok() != Some(header_checksum_signed(b)) {
            return Err(TarError::BadChecksum {
                offset: at,
                stored,
                computed,
            });
        }
        let mut size = number(124..136, "size")?;
        let typeflag = b[156];
        let extended = match typeflag {
            b'L' => Some(Extended::LongName),
            b'K' => Some(Extended::LongLink),
            b'x' => Some(Extended::Pax),
            b'g' => Some(Extended::GlobalPax),
            _ => None,
        };
        if let Some(kind) = extended {
            if size > MAX_EXTENDED_HEADER {
                return Err(TarError::BadExtendedHeader(at));
            }
            self.extended.clear();
            self.state = State::Extended {
                kind,
                remaining: size,
                padding: super::padding_len(size) as u64,
            };
            if size == 0 {
                self.apply_extended(kind)?;
                self.state = State::Header;
            }
            return Ok(None);
        }
        let kind = match typeflag {
            b'0' | 0 | b'7' => EntryKind::File,
            b'5' => EntryKind::Directory,
            b'2' => EntryKind::Symlink,
            other => EntryKind::Other(other),
        };
        let mut mode = number(100..108, "mode")?;
        let mut uid = number(108..116, "uid")?;
        let mut gid = number(116..124, "gid")?;
        let mut mtime = number(136..148, "mtime")?;
        let mut name = c_string(&b[..100]).to_vec();
        // POSIX ustar (not GNU's "ustar  ") may split long names into prefix/name.
        let prefix = c_string(&b[345..500]);
        if &b[257..263] == b"ustar\0" && !prefix.is_empty() {
            name = [prefix, b"/", &name].concat();
        }
        let mut link_target = c_string(&b[157..257]).to_vec();
        let pending = std::mem::take(&mut self.pending);
        name = pending.name.unwrap_or(name);
        link_target = pending.link.unwrap_or(link_target);
        size = pending.size.unwrap_or(size);
        mtime = pending.mtime.unwrap_or(mtime);
        uid = pending.uid.unwrap_or(uid);
        gid = pending.gid.unwrap_or(gid);
        mode &= 0o7777;
        let owner =
            |v: u64, field| u32::try_from(v).map_err(|_| TarError::BadNumber { field, offset: at });
        let (uid, gid) = (owner(uid, "uid")?, owner(gid, "gid")?);
        if matches!(kind, EntryKind::Directory | EntryKind::Symlink) {
            size = 0;
            if name.len() > 1 && name.ends_with(b"/") {
                name.pop();
            }
        }
        if name.is_empty() {
            return Err(TarError::EmptyName(at));
        }
        self.state = if size == 0 {
            State::EntryDone { padding: 0 }
        } else {
            State::Data {
                remaining: size,
                padding: super::padding_len(size) as u64,
            }
        };
        Ok(Some(TarEvent::Entry(TarHeader {
            name,
            kind,
            size,
            mode: mode as u32,
            uid,
            gid,
            mtime,
            link_target,
        })))
    }

    fn apply_extended(&mut self, kind: Extended) -> Result<(), TarError> {
        let data = std::mem::take(&mut self.extended);
        match kind {
            Extended::LongName => self.pending.name = Some(c_string(&data).to_vec()),
            Extended::LongLink => self.pending.link = Some(c_string(&data).to_vec()),
            Extended::GlobalPax => {}
            Extended::Pax => self.apply_pax(&data)?,
        }
        Ok(())
    }

    /// Applies pax records `"<len> <key>=<value>\n"`.
    fn apply_pax(&mut self, mut data: &[u8]) -> Result<(), TarError> {
        let bad = TarError::BadExtendedHeader(self.offset);
        while !data.is_empty() {
            let space = data.iter().position(|&b| b == b' ').ok_or(bad.clone())?;
            let len: usize = std::str::from_utf8(&data[..space])
                .ok()
                .and_then(|s| s.parse().ok())
                .filter(|&l| l > space + 1 && l <= data.len())
                .ok_or(bad.clone())?;
            let record = &data[space + 1..len];
            data = &data[len..];
            let record = record.strip_suffix(b"\n").ok_or(bad.clone())?;
            let eq = record.iter().position(|&b| b == b'=').ok_or(bad.clone())?;
            let (key, value) = (&record[..eq], &record[eq + 1..]);
            let int = |v: &[u8]| -> Result<u64, TarError> {
                let whole = v.split(|&b| b == b'.').next().unwrap_or(v);
                std::str::from_utf8(whole)
                    .ok()
                    .and_then(|s| s.parse().ok())
                    .ok_or(bad.clone())
            };
            match key {
                b"path" => self.pending.name = Some(value.to_vec()),
                b"linkpath" => self.pending.link = Some(value.to_vec()),
                b"size" => self.pending.size = Some(int(value)?),
                b"mtime" => self.pending.mtime = Some(int(value)?),
                b"uid" => self.pending.uid = Some(int(value)?),
                b"gid" => self.pending.gid = Some(int(value)?),
                _ => {}
            }
        }
        Ok(())
    }
}

fn clamp(remaining: u64, available: usize) -> usize {
    usize::try_from(remaining).map_or(available, |r| r.min(available))
}

/// The bytes of a NUL-terminated field up to its first NUL.
fn c_string(field: &[u8]) -> &[u8] {
    let end = field.iter().position(|&b| b == 0).unwrap_or(field.len());
    &field[..end]
}
