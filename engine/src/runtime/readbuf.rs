//! A socket read buffer that is zero-filled once and then reused, so reads never memset.

use bytes::{Buf, Bytes, BytesMut};

/// Bytes read from a socket and not yet consumed.
///
/// The inner `BytesMut` is always fully initialised: `data[..filled]` holds pending bytes and
/// `data[filled..]` is free space that a read may overwrite. Splitting a frame off the front keeps
/// the rest initialised, so the buffer is zero-filled only when it grows, never per read.
pub struct ReadBuf {
    data: BytesMut,
    filled: usize,
    /// Free space a read asks for; the buffer grows to provide it.
    chunk: usize,
    /// The largest `chunk` may become: it doubles each time a read fills all the free space, so
    /// idle sessions keep small buffers and bulk transfers get large reads.
    max_chunk: usize,
    /// Free space offered by the last `spare_mut`.
    offered: usize,
}

/// Largest read size a buffer grows to.
pub const MAX_READ_CHUNK: usize = 64 * 1024;

impl ReadBuf {
    /// A buffer that reads in pieces of `chunk` bytes at first, growing up to
    /// [`MAX_READ_CHUNK`] while reads keep filling it.
    pub fn with_chunk(chunk: usize) -> Self {
        let chunk = chunk.max(64);
        let mut data = BytesMut::with_capacity(chunk);
        data.resize(chunk, 0);
        Self {
            data,
            filled: 0,
            chunk,
            max_chunk: MAX_READ_CHUNK.max(chunk),
            offered: 0,
        }
    }

    /// The pending bytes.
    pub fn pending(&self) -> &[u8] {
        &self.data[..self.filled]
    }

    /// Number of pending bytes.
    pub fn len(&self) -> usize {
        self.filled
    }

    /// True when nothing is pending.
    pub fn is_empty(&self) -> bool {
        self.filled == 0
    }

    /// Free space to read into, at least `chunk` bytes long.
    pub fn spare_mut(&mut self) -> &mut [u8] {
        if self.data.len() - self.filled < self.chunk {
            let want = self.filled + self.chunk;
            self.data.reserve(want.saturating_sub(self.data.len()));
            let cap = self.data.capacity();
            self.data.resize(cap, 0);
        }
        self.offered = self.data.len() - self.filled;
        &mut self.data[self.filled..]
    }

    /// Marks `n` bytes of [`spare_mut`](Self::spare_mut) as read.
    pub fn commit(&mut self, n: usize) {
        if n >= self.offered && self.chunk < self.max_chunk {
            // The read filled everything offered: more is probably waiting.
            self.chunk = (self.chunk * 2).min(self.max_chunk);
        }
        self.filled = (self.filled + n).min(self.data.len());
    }

    /// Drops the first `n` pending bytes (they were forwarded).
    pub fn consume(&mut self, n: usize) {
        let n = n.min(self.filled);
        self.data.advance(n);
        self.filled -= n;
        if self.filled == 0 && self.data.len() < self.chunk {
            // Nothing pending and little free space left: start over at the front, reusing the
            // allocation when nobody else holds a frame of it.
            self.data.clear();
            self.data.reserve(self.chunk);
            let cap = self.data.capacity();
            self.data.resize(cap, 0);
        }
    }

    /// Splits the first `n` pending bytes off as an owned frame without copying.
    pub fn split_frame(&mut self, n: usize) -> Bytes {
        let n = n.min(self.filled);
        self.filled -= n;
        self.data.split_to(n).freeze()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_consumes_and_splits() {
        let mut b = ReadBuf::with_chunk(16);
        let spare = b.spare_mut();
        assert!(spare.len() >= 16);
        spare[..5].copy_from_slice(b"hello");
        b.commit(5);
        assert_eq!(b.pending(), b"hello");
        let f = b.split_frame(2);
        assert_eq!(&f[..], b"he");
        assert_eq!(b.pending(), b"llo");
        b.consume(3);
        assert!(b.is_empty());
        assert!(b.spare_mut().len() >= 16);
    }

    #[test]
    fn grows_when_pending_fills_the_buffer() {
        let mut b = ReadBuf::with_chunk(8);
        for i in 0..10u8 {
            let s = b.spare_mut();
            assert!(s.len() >= 8);
            s[..8].fill(i);
            b.commit(8);
        }
        assert_eq!(b.len(), 80);
        assert_eq!(b.pending()[79], 9);
        assert_eq!(b.pending()[0], 0);
    }

    #[test]
    fn reads_that_fill_the_buffer_grow_the_read_size() {
        let mut b = ReadBuf::with_chunk(64);
        let first = b.spare_mut().len();
        b.commit(first);
        b.consume(first);
        assert!(b.spare_mut().len() >= 128, "doubled after a full read");
        let mut small = ReadBuf::with_chunk(64);
        let _ = small.spare_mut();
        small.commit(10);
        small.consume(10);
        assert!(
            small.spare_mut().len() < 128,
            "a short read does not grow it"
        );
    }

    #[test]
    fn commit_and_consume_never_overrun() {
        let mut b = ReadBuf::with_chunk(4);
        let n = b.spare_mut().len();
        b.commit(n + 100);
        assert_eq!(b.len(), n);
        b.consume(n + 100);
        assert!(b.is_empty());
        assert!(b.split_frame(10).is_empty());
    }
}
