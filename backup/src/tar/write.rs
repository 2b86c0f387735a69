//! Writes tar headers exactly as PostgreSQL's `tarCreateHeader` does.

use super::{header_checksum, EntryKind, TarError, TarHeader, BLOCK, MAX_NAME};
use bytes::BufMut;

/// The two zero blocks that end every archive.
pub const END_OF_ARCHIVE: [u8; 2 * BLOCK] = [0; 2 * BLOCK];

/// Bytes of zero padding after `size` bytes of member data.
pub fn padding_len(size: u64) -> usize {
    // The remainder is below 512, so the cast cannot truncate.
    ((BLOCK as u64 - size % BLOCK as u64) % BLOCK as u64) as usize
}

/// `print_tar_number`: octal with a trailing space when it fits in `len - 1` digits, else
/// base-256 with a leading 0x80 byte.
fn put_number(field: &mut [u8], value: u64) {
    let len = field.len();
    let octal_digits = 3 * (len - 1);
    if octal_digits >= 64 || value < (1u64 << octal_digits) {
        field[len - 1] = b' ';
        let mut v = value;
        for slot in field[..len - 1].iter_mut().rev() {
            *slot = b'0' + (v & 7) as u8;
            v >>= 3;
        }
    } else {
        field[0] = 0x80;
        let mut v = value;
        for slot in field[1..].iter_mut().rev() {
            *slot = (v & 0xFF) as u8;
            v >>= 8;
        }
    }
}

fn display(bytes: &[u8]) -> String {
    bytes.escape_ascii().to_string()
}

/// Encodes one header block, validating what the server validates (names and link targets of
/// at most 99 bytes) plus what C strings could not hold (empty names, NUL bytes).
pub fn encode_header(h: &TarHeader) -> Result<[u8; BLOCK], TarError> {
    if h.name.is_empty() || h.name.contains(&0) {
        return Err(TarError::InvalidName(display(&h.name)));
    }
    if h.name.len() > MAX_NAME {
        return Err(TarError::NameTooLong(display(&h.name)));
    }
    let (typeflag, size) = match h.kind {
        EntryKind::File => (b'0', h.size),
        EntryKind::Directory => (b'5', 0),
        EntryKind::Symlink => (b'2', 0),
        EntryKind::Other(_) => {
            return Err(TarError::UnsupportedKind(display(&h.name), h.kind));
        }
    };
    if h.kind == EntryKind::Symlink
        && (h.link_target.len() > MAX_NAME || h.link_target.contains(&0))
    {
        return Err(TarError::LinkTooLong {
            name: display(&h.name),
            target: display(&h.link_target),
        });
    }
    let mut b = [0u8; BLOCK];
    b[..h.name.len()].copy_from_slice(&h.name);
    if h.kind != EntryKind::File {
        // Directories and symlinks (to directories) get a trailing slash; the NUL after it, when
        // the name is 99 bytes, falls on the mode field, which is written next.
        b[h.name.len()] = b'/';
    }
    put_number(&mut b[100..108], u64::from(h.mode & 0o7777));
    put_number(&mut b[108..116], u64::from(h.uid));
    put_number(&mut b[116..124], u64::from(h.gid));
    put_number(&mut b[124..136], size);
    put_number(&mut b[136..148], h.mtime);
    b[156] = typeflag;
    if h.kind == EntryKind::Symlink {
        b[157..157 + h.link_target.len()].copy_from_slice(&h.link_target);
    }
    b[257..263].copy_from_slice(b"ustar\0");
    b[263..265].copy_from_slice(b"00");
    b[265..273].copy_from_slice(b"postgres");
    b[297..305].copy_from_slice(b"postgres");
    put_number(&mut b[329..337], 0);
    put_number(&mut b[337..345], 0);
    let sum = header_checksum(&b);
    put_number(&mut b[148..156], sum);
    Ok(b)
}

/// Appends one header block to `dst`.
pub fn write_header(dst: &mut impl BufMut, h: &TarHeader) -> Result<(), TarError> {
    dst.put_slice(&encode_header(h)?);
    Ok(())
}

/// Appends a whole member — header, `data`, padding — to `dst`. `data` must be `h.size` bytes
/// for a file and empty otherwise.
pub fn write_entry(dst: &mut impl BufMut, h: &TarHeader, data: &[u8]) -> Result<(), TarError> {
    let expected = if h.kind == EntryKind::File { h.size } else { 0 };
    if data.len() as u64 != expected {
        return Err(TarError::SizeMismatch {
            name: display(&h.name),
            expected,
            actual: data.len() as u64,
        });
    }
    write_header(dst, h)?;
    dst.put_slice(data);
    dst.put_bytes(0, padding_len(expected));
    Ok(())
}
