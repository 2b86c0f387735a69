//! Per-file manifest checksums (`checksum_helper.c`): algorithms, an incremental builder, and
//! CRC-32C assembly from chunks fetched in parallel.

use super::ManifestError;
use sha2::{Digest as _, Sha224, Sha256, Sha384, Sha512};
use std::fmt;
use std::str::FromStr;

/// A manifest checksum algorithm (`MANIFEST_CHECKSUMS`, `--manifest-checksums`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum ChecksumAlgorithm {
    /// No per-file checksum: the `Checksum-Algorithm` and `Checksum` keys are omitted.
    None,
    /// CRC-32C, the default.
    #[default]
    Crc32c,
    /// SHA-224.
    Sha224,
    /// SHA-256.
    Sha256,
    /// SHA-384.
    Sha384,
    /// SHA-512.
    Sha512,
}

impl ChecksumAlgorithm {
    /// The name written in manifests (`pg_checksum_type_name`).
    pub fn name(self) -> &'static str {
        match self {
            ChecksumAlgorithm::None => "NONE",
            ChecksumAlgorithm::Crc32c => "CRC32C",
            ChecksumAlgorithm::Sha224 => "SHA224",
            ChecksumAlgorithm::Sha256 => "SHA256",
            ChecksumAlgorithm::Sha384 => "SHA384",
            ChecksumAlgorithm::Sha512 => "SHA512",
        }
    }

    /// Parses a name case-insensitively (`pg_checksum_parse_type`).
    pub fn parse(name: &str) -> Result<Self, ManifestError> {
        [
            ChecksumAlgorithm::None,
            ChecksumAlgorithm::Crc32c,
            ChecksumAlgorithm::Sha224,
            ChecksumAlgorithm::Sha256,
            ChecksumAlgorithm::Sha384,
            ChecksumAlgorithm::Sha512,
        ]
        .into_iter()
        .find(|a| a.name().eq_ignore_ascii_case(name))
        .ok_or_else(|| ManifestError::UnknownAlgorithm(name.to_owned()))
    }

    /// Length in bytes of this algorithm's checksum.
    pub fn digest_len(self) -> usize {
        match self {
            ChecksumAlgorithm::None => 0,
            ChecksumAlgorithm::Crc32c => 4,
            ChecksumAlgorithm::Sha224 => 28,
            ChecksumAlgorithm::Sha256 => 32,
            ChecksumAlgorithm::Sha384 => 48,
            ChecksumAlgorithm::Sha512 => 64,
        }
    }
}

impl FromStr for ChecksumAlgorithm {
    type Err = ManifestError;

    fn from_str(s: &str) -> Result<Self, ManifestError> {
        Self::parse(s)
    }
}

impl fmt::Display for ChecksumAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A finished file checksum: the algorithm and its raw bytes (no allocation).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Digest {
    algorithm: ChecksumAlgorithm,
    bytes: [u8; 64],
}

impl Digest {
    /// The empty digest of [`ChecksumAlgorithm::None`].
    pub const NONE: Digest = Digest {
        algorithm: ChecksumAlgorithm::None,
        bytes: [0; 64],
    };

    fn from_slice(algorithm: ChecksumAlgorithm, raw: &[u8]) -> Digest {
        let mut bytes = [0; 64];
        let len = algorithm.digest_len().min(raw.len());
        bytes[..len].copy_from_slice(&raw[..len]);
        Digest { algorithm, bytes }
    }

    /// A CRC-32C digest of a finished CRC value, stored in native byte order as the server does
    /// (so on little-endian machines `0xE3069283` is written `839206e3`).
    pub fn from_crc32c(crc: u32) -> Digest {
        Self::from_slice(ChecksumAlgorithm::Crc32c, &crc.to_ne_bytes())
    }

    /// Parses the lower- or upper-case hex form written in a manifest.
    pub fn from_hex(algorithm: ChecksumAlgorithm, hex: &str) -> Option<Digest> {
        let raw = decode_hex(hex)?;
        (raw.len() == algorithm.digest_len()).then(|| Self::from_slice(algorithm, &raw))
    }

    /// The algorithm.
    pub fn algorithm(&self) -> ChecksumAlgorithm {
        self.algorithm
    }

    /// The raw checksum bytes (empty for `NONE`).
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..self.algorithm.digest_len()]
    }

    /// Lower-case hex, as written in a manifest.
    pub fn to_hex(&self) -> String {
        let mut out = String::with_capacity(128);
        push_hex(&mut out, self.as_bytes());
        out
    }
}

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.algorithm, self.to_hex())
    }
}

/// Appends the lower-case hex of `bytes` (`hex_encode`).
pub(crate) fn push_hex(out: &mut String, bytes: &[u8]) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    for &b in bytes {
        out.push(char::from(HEX[usize::from(b >> 4)]));
        out.push(char::from(HEX[usize::from(b & 15)]));
    }
}

/// Decodes hex of either case; `None` on an odd length or a non-hex character.
pub(crate) fn decode_hex(hex: &str) -> Option<Vec<u8>> {
    let digits = hex.as_bytes();
    if digits.len() % 2 != 0 {
        return None;
    }
    let nibble = |c: u8| (c as char).to_digit(16).map(|d| d as u8);
    digits
        .chunks_exact(2)
        .map(|p| Some((nibble(p[0])? << 4) | nibble(p[1])?))
        .collect()
}

#[derive(Clone)]
enum State {
    None,
    Crc32c(u32),
    Sha224(Box<Sha224>),
    Sha256(Box<Sha256>),
    Sha384(Box<Sha384>),
    Sha512(Box<Sha512>),
}

/// An incremental file checksum: feed the file's bytes in order, then [`finish`](Self::finish).
#[derive(Clone)]
pub struct FileChecksum {
    state: State,
}

impl FileChecksum {
    /// Starts a checksum of a new file.
    pub fn new(algorithm: ChecksumAlgorithm) -> Self {
        let state = match algorithm {
            ChecksumAlgorithm::None => State::None,
            ChecksumAlgorithm::Crc32c => State::Crc32c(0),
            ChecksumAlgorithm::Sha224 => State::Sha224(Box::default()),
            ChecksumAlgorithm::Sha256 => State::Sha256(Box::default()),
            ChecksumAlgorithm::Sha384 => State::Sha384(Box::default()),
            ChecksumAlgorithm::Sha512 => State::Sha512(Box::default()),
        };
        FileChecksum { state }
    }

    /// Adds the next bytes of the file.
    pub fn update(&mut self, data: &[u8]) {
        match &mut self.state {
            State::None => {}
            State::Crc32c(crc) => *crc = crc32c::crc32c_append(*crc, data),
            State::Sha224(h) => h.update(data),
            State::Sha256(h) => h.update(data),
            State::Sha384(h) => h.update(data),
            State::Sha512(h) => h.update(data),
        }
    }

    /// The checksum of everything fed so far.
    pub fn finish(self) -> Digest {
        match self.state {
            State::None => Digest::NONE,
            State::Crc32c(crc) => Digest::from_crc32c(crc),
            State::Sha224(h) => Digest::from_slice(ChecksumAlgorithm::Sha224, &h.finalize()),
            State::Sha256(h) => Digest::from_slice(ChecksumAlgorithm::Sha256, &h.finalize()),
            State::Sha384(h) => Digest::from_slice(ChecksumAlgorithm::Sha384, &h.finalize()),
            State::Sha512(h) => Digest::from_slice(ChecksumAlgorithm::Sha512, &h.finalize()),
        }
    }
}

/// Assembles a file's CRC-32C from the CRCs of chunks fetched by different workers in any order
/// ([`crc32c_combine`](super::crc_combine::crc32c_combine)), so the default algorithm needs no second pass over split files. SHA
/// checksums cannot be combined: a split file must be hashed in order.
#[derive(Debug, Clone, Default)]
pub struct Crc32cAssembler {
    /// `(offset, len, crc)` of each chunk received.
    parts: Vec<(u64, u64, u32)>,
}

impl Crc32cAssembler {
    /// Records the CRC-32C of the `len` bytes at `offset`.
    pub fn add(&mut self, offset: u64, len: u64, crc: u32) {
        self.parts.push((offset, len, crc));
    }

    /// The digest of the whole file of `size` bytes, or `None` unless the chunks tile
    /// `0..size` exactly.
    pub fn finish(mut self, size: u64) -> Option<Digest> {
        self.parts.sort_unstable_by_key(|p| p.0);
        let mut crc = 0;
        let mut end = 0u64;
        for (offset, len, part) in self.parts {
            if offset != end {
                return None;
            }
            crc = super::crc_combine::crc32c_combine(crc, part, len);
            end = end.checked_add(len)?;
        }
        (end == size).then(|| Digest::from_crc32c(crc))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_digests() {
        let digest = |alg, data: &[u8]| {
            let mut c = FileChecksum::new(alg);
            for piece in data.chunks(3) {
                c.update(piece);
            }
            c.finish().to_hex()
        };
        let check = b"123456789";
        if cfg!(target_endian = "little") {
            assert_eq!(digest(ChecksumAlgorithm::Crc32c, check), "839206e3");
            // PG_VERSION of the real backup in tests/fixtures/pg_backup_manifest.
            assert_eq!(digest(ChecksumAlgorithm::Crc32c, b"15\n"), "8a744722");
        }
        assert_eq!(digest(ChecksumAlgorithm::Crc32c, b""), "00000000");
        assert_eq!(digest(ChecksumAlgorithm::None, check), "");
        assert_eq!(
            digest(ChecksumAlgorithm::Sha256, b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(
            digest(ChecksumAlgorithm::Sha224, b"abc"),
            "23097d223405d8228642a477bda255b32aadbce4bda0b3f7e36c9da7"
        );
        assert_eq!(digest(ChecksumAlgorithm::Sha384, b"abc").len(), 96);
        assert_eq!(digest(ChecksumAlgorithm::Sha512, b"abc").len(), 128);
    }

    #[test]
    fn names_and_hex() {
        assert_eq!(
            ChecksumAlgorithm::parse("sha512").unwrap(),
            ChecksumAlgorithm::Sha512
        );
        assert_eq!(
            "crc32c".parse::<ChecksumAlgorithm>().unwrap(),
            ChecksumAlgorithm::Crc32c
        );
        assert!(ChecksumAlgorithm::parse("md5").is_err());
        let d = Digest::from_hex(ChecksumAlgorithm::Crc32c, "839206E3").unwrap();
        assert_eq!(d.as_bytes(), [0x83, 0x92, 0x06, 0xe3]);
        assert!(Digest::from_hex(ChecksumAlgorithm::Crc32c, "839206e").is_none());
        assert!(Digest::from_hex(ChecksumAlgorithm::Crc32c, "839206e3aa").is_none());
        assert!(Digest::from_hex(ChecksumAlgorithm::Crc32c, "83920gzz").is_none());
        assert!(Digest::from_hex(ChecksumAlgorithm::Crc32c, "8392é3").is_none());
    }

    #[test]
    fn crc_assembly() {
        let data: Vec<u8> = (0..100_000u32).map(|i| (i * 7 % 256) as u8).collect();
        let whole = crc32c::crc32c(&data);
        let mut asm = Crc32cAssembler::default();
        for (i, chunk) in data.chunks(16384).enumerate().rev() {
            asm.add(i as u64 * 16384, chunk.len() as u64, crc32c::crc32c(chunk));
        }
        assert_eq!(
            asm.clone().finish(data.len() as u64),
            Some(Digest::from_crc32c(whole))
        );
        assert_eq!(asm.clone().finish(data.len() as u64 + 1), None);
        asm.add(0, 1, 0);
        assert_eq!(asm.finish(data.len() as u64), None);
        assert_eq!(
            Crc32cAssembler::default().finish(0),
            Some(Digest::from_crc32c(0))
        );
    }
}
