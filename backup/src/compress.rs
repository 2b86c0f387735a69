//! Client-side compression of tar archives: gzip (flate2), lz4 frames (lz4_flex), zstd.
//!
//! [`Compressor`] compresses one stream incrementally. [`compress_block`] compresses a piece as
//! a self-contained gzip member / lz4 frame / zstd frame: concatenated, such pieces form a valid
//! `.gz` / `.lz4` / `.zst` file, which is what lets parallel workers compress their own chunks.

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

/// Compresses `data` as one self-contained member/frame; without compression, `data` itself.
pub fn compress_block(c: Option<Compression>, data: Vec<u8>) -> std::io::Result<Vec<u8>> {
    if c.is_none() {
        return Ok(data);
    }
    let mut comp = Compressor::new(c)?;
    let mut out = comp.write(&data)?;
    out.extend(comp.finish()?);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    #[test]
    fn concatenated_blocks_decompress_to_the_whole() {
        let a: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
        let b = b"second part".to_vec();
        for c in [Compression::Gzip(6), Compression::Lz4, Compression::Zstd(3)] {
            let mut all = compress_block(Some(c), a.clone()).unwrap();
            all.extend(compress_block(Some(c), b.clone()).unwrap());
            let mut out = Vec::new();
            match c {
                Compression::Gzip(_) => {
                    flate2::read::MultiGzDecoder::new(&all[..])
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
            assert_eq!(&out[a.len()..], &b[..]);
        }
    }
}
