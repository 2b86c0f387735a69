//! Client-side compression of tar archives: gzip (flate2), lz4 frames (lz4_flex), zstd.
//!
//! [`Compressor`] compresses one stream incrementally. [`compress_frame`] compresses a piece
//! on its own, which is what lets parallel workers compress their own chunks, and a
//! [`FrameJoiner`] puts the pieces together into one valid file:
//!
//! * lz4 and zstd: each piece is a complete frame; a file of concatenated frames is valid.
//! * gzip: each piece is raw deflate ending in a sync flush (a byte-aligned, non-final empty
//!   stored block), so the pieces concatenate into one deflate stream; the joiner writes the
//!   gzip header before the first and, at the end, a final empty block, the CRC-32 (combined
//!   from the pieces') and the length — one gzip member, as pigz makes. (A file of several
//!   gzip members is valid gzip too, but PostgreSQL 18's pg_verifybackup reads only the first
//!   member and then spins on the rest.)

use crate::options::Compression;
use std::io::Write;

/// An incremental compressor writing into an internal buffer that the caller drains.
pub enum Compressor {
    /// No compression: bytes pass through.
    None(Vec<u8>),
    /// gzip.
    Gzip(flate2::write::GzEncoder<Vec<u8>>),
    /// lz4 frame.
    Lz4(lz4_flex::frame::FrameEncoder<Vec<u8>>),
    /// zstd.
    Zstd(zstd::stream::write::Encoder<'static, Vec<u8>>),
}

impl Compressor {
    /// A compressor for `c` (`None`: pass-through).
    pub fn new(c: Option<Compression>) -> std::io::Result<Compressor> {
        Ok(match c {
            None => Compressor::None(Vec::new()),
            Some(Compression::Gzip(level)) => Compressor::Gzip(flate2::write::GzEncoder::new(
                Vec::new(),
                flate2::Compression::new(level),
            )),
            Some(Compression::Lz4) => {
                Compressor::Lz4(lz4_flex::frame::FrameEncoder::new(Vec::new()))
            }
            Some(Compression::Zstd(level)) => {
                Compressor::Zstd(zstd::stream::write::Encoder::new(Vec::new(), level)?)
            }
        })
    }

    /// Compresses `data`; returns the compressed bytes available so far.
    pub fn write(&mut self, data: &[u8]) -> std::io::Result<Vec<u8>> {
        match self {
            Compressor::None(v) => v.extend_from_slice(data),
            Compressor::Gzip(e) => e.write_all(data)?,
            Compressor::Lz4(e) => e.write_all(data)?,
            Compressor::Zstd(e) => e.write_all(data)?,
        }
        Ok(self.drain())
    }

    fn drain(&mut self) -> Vec<u8> {
        let v = match self {
            Compressor::None(v) => v,
            Compressor::Gzip(e) => e.get_mut(),
            Compressor::Lz4(e) => e.get_mut(),
            Compressor::Zstd(e) => e.get_mut(),
        };
        std::mem::take(v)
    }

    /// Ends the stream; returns the remaining bytes.
    pub fn finish(self) -> std::io::Result<Vec<u8>> {
        Ok(match self {
            Compressor::None(v) => v,
            Compressor::Gzip(e) => e.finish()?,
            Compressor::Lz4(e) => e.finish().map_err(std::io::Error::other)?,
            Compressor::Zstd(e) => e.finish()?,
        })
    }
}

/// A piece compressed on its own by [`compress_frame`], to be joined by a [`FrameJoiner`].
pub struct Frame {
    /// The compressed bytes.
    pub bytes: Vec<u8>,
    /// gzip only: the CRC-32 and length of the uncompressed piece.
    gzip: Option<flate2::Crc>,
}

/// Compresses `data` as a piece of a parallel-built file; without compression, `data` itself.
pub fn compress_frame(c: Option<Compression>, data: Vec<u8>) -> std::io::Result<Frame> {
    match c {
        None => Ok(Frame {
            bytes: data,
            gzip: None,
        }),
        Some(Compression::Gzip(level)) => {
            let mut crc = flate2::Crc::new();
            crc.update(&data);
            Ok(Frame {
                bytes: deflate_sync_flushed(level, &data)?,
                gzip: Some(crc),
            })
        }
        Some(_) => {
            let mut comp = Compressor::new(c)?;
            let mut bytes = comp.write(&data)?;
            bytes.extend(comp.finish()?);
            Ok(Frame { bytes, gzip: None })
        }
    }
}

/// Raw deflate of `data` ending in a sync flush: whole bytes, no final block, so another such
/// stream can follow.
fn deflate_sync_flushed(level: u32, data: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut c = flate2::Compress::new(flate2::Compression::new(level), false);
    let mut out = Vec::with_capacity(data.len() / 2 + 64);
    loop {
        if out.capacity() - out.len() < 64 {
            out.reserve(out.capacity().max(4096));
        }
        let from = c.total_in() as usize;
        c.compress_vec(&data[from..], &mut out, flate2::FlushCompress::Sync)
            .map_err(std::io::Error::other)?;
        // The flush is complete once all input is in and the output was not filled.
        if c.total_in() as usize == data.len() && out.len() < out.capacity() {
            return Ok(out);
        }
    }
}

/// The 10-byte gzip header: deflate, no name, no time, unknown OS.
const GZIP_HEADER: [u8; 10] = [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff];

/// A final, empty fixed-Huffman deflate block: ends the stream the pieces made.
const DEFLATE_END: [u8; 2] = [0x03, 0x00];

/// Joins [`Frame`]s into one file: bytes to write before each frame and after the last.
pub struct FrameJoiner {
    /// gzip: the CRC of everything so far, and whether the header is out.
    gzip: Option<(flate2::Crc, bool)>,
}

impl FrameJoiner {
    /// A joiner for files compressed with `c`.
    pub fn new(c: Option<Compression>) -> FrameJoiner {
        FrameJoiner {
            gzip: matches!(c, Some(Compression::Gzip(_))).then(|| (flate2::Crc::new(), false)),
        }
    }

    /// Takes `frame` into account; returns what must be written before its bytes.
    pub fn before(&mut self, frame: &Frame) -> &'static [u8] {
        let (Some((crc, started)), Some(piece)) = (&mut self.gzip, &frame.gzip) else {
            return &[];
        };
        crc.combine(piece);
        if std::mem::replace(started, true) {
            &[]
        } else {
            &GZIP_HEADER
        }
    }

    /// What ends the file (gzip: header if nothing came, final block, CRC-32, length).
    pub fn finish(self) -> Vec<u8> {
        let Some((crc, started)) = self.gzip else {
            return Vec::new();
        };
        let mut out = Vec::with_capacity(GZIP_HEADER.len() + DEFLATE_END.len() + 8);
        if !started {
            out.extend_from_slice(&GZIP_HEADER);
        }
        out.extend_from_slice(&DEFLATE_END);
        out.extend_from_slice(&crc.sum().to_le_bytes());
        out.extend_from_slice(&crc.amount().to_le_bytes());
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    fn join(c: Compression, pieces: &[&[u8]]) -> Vec<u8> {
        let mut joiner = FrameJoiner::new(Some(c));
        let mut all = Vec::new();
        for p in pieces {
            let frame = compress_frame(Some(c), p.to_vec()).unwrap();
            all.extend_from_slice(joiner.before(&frame));
            all.extend(frame.bytes);
        }
        all.extend(joiner.finish());
        all
    }

    #[test]
    fn joined_frames_decompress_to_the_whole() {
        let a: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
        let b = b"second part".to_vec();
        for c in [Compression::Gzip(6), Compression::Lz4, Compression::Zstd(3)] {
            let all = join(c, &[&a, b"", &b]);
            let mut out = Vec::new();
            match c {
                Compression::Gzip(_) => {
                    // One member: the single-member decoder reads it all.
                    flate2::read::GzDecoder::new(&all[..])
                        .read_to_end(&mut out)
                        .unwrap();
                }
                Compression::Lz4 => {
                    // lz4_flex's decoder stops after one frame: decode them one by one.
                    let mut rest = &all[..];
                    while !rest.is_empty() {
                        lz4_flex::frame::FrameDecoder::new(&mut rest)
                            .read_to_end(&mut out)
                            .unwrap();
                    }
                }
                Compression::Zstd(_) => {
                    out = zstd::stream::decode_all(&all[..]).unwrap();
                }
            }
            assert_eq!(out.len(), a.len() + b.len(), "{c:?}");
            assert_eq!(&out[..a.len()], &a[..]);
            assert_eq!(&out[a.len()..], &b[..]);
        }
    }

    #[test]
    fn a_joined_gzip_file_is_one_member_with_the_right_trailer() {
        let data: Vec<u8> = (0..300_000u32).map(|i| (i * 7 % 256) as u8).collect();
        let all = join(Compression::Gzip(1), &[&data[..100_000], &data[100_000..]]);
        let mut d = flate2::read::GzDecoder::new(&all[..]);
        let mut out = Vec::new();
        d.read_to_end(&mut out).unwrap();
        assert_eq!(out, data);
        // Nothing follows the member: the decoder consumed every byte.
        assert!(d.into_inner().is_empty());
        let mut crc = flate2::Crc::new();
        crc.update(&data);
        assert_eq!(all[all.len() - 8..all.len() - 4], crc.sum().to_le_bytes());
        // No frame at all is still a valid, empty gzip file.
        let empty = join(Compression::Gzip(1), &[]);
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(&empty[..])
            .read_to_end(&mut out)
            .unwrap();
        assert!(out.is_empty());
    }
}
