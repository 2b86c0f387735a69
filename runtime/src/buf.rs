//! Received chunks and the pieces a send queue holds.
//!
//! A [`RecvBuf`] is one buffer of the shard's receive region that the kernel filled and gave
//! back: the task owns it until it drops it, then its id is queued to be lent to the kernel
//! again (the reactor publishes returned ids once per loop turn). A [`Piece`] is what a socket
//! sends: a received chunk forwarded as it came, or bytes of the caller's own.
#![allow(unsafe_code)]

use std::alloc::{self, Layout};
use std::cell::RefCell;
use std::fmt;
use std::ptr::NonNull;
use std::rc::Rc;

use bytes::Bytes;

/// The memory the kernel receives into: `count` buffers of `size` bytes, page-aligned, and the
/// ids of buffers handed back by tasks since the last loop turn.
pub(crate) struct Region {
    base: NonNull<u8>,
    layout: Layout,
    size: usize,
    count: usize,
    returned: RefCell<Vec<u16>>,
}

impl Region {
    /// Allocates `count` buffers of `size` bytes.
    pub(crate) fn new(size: usize, count: usize) -> Option<Rc<Self>> {
        let layout = Layout::from_size_align(size.checked_mul(count)?, 4096).ok()?;
        if layout.size() == 0 {
            return None;
        }
        // SAFETY: the layout has a non-zero size (checked above).
        let base = NonNull::new(unsafe { alloc::alloc(layout) })?;
        Some(Rc::new(Self {
            base,
            layout,
            size,
            count,
            returned: RefCell::new(Vec::with_capacity(count)),
        }))
    }

    /// Size of one buffer.
    pub(crate) fn buf_size(&self) -> usize {
        self.size
    }

    /// Number of buffers.
    pub(crate) fn count(&self) -> usize {
        self.count
    }

    /// Address of buffer `bid`, for the kernel's ring entries.
    pub(crate) fn addr(&self, bid: u16) -> u64 {
        self.base.as_ptr() as u64 + (bid as usize * self.size) as u64
    }

    /// Takes the ids returned since the last call (the reactor lends them out again).
    pub(crate) fn drain_returned(&self, into: &mut Vec<u16>) {
        into.append(&mut self.returned.borrow_mut());
    }

    fn give_back(&self, bid: u16) {
        self.returned.borrow_mut().push(bid);
    }
}

impl Drop for Region {
    fn drop(&mut self) {
        // SAFETY: `base` was allocated with `layout` in `new` and is freed once, here. The
        // reactor unregisters the ring before the last `Rc` goes (it holds one), and every
        // RecvBuf holds one too, so nothing refers to the memory any more.
        unsafe { alloc::dealloc(self.base.as_ptr(), self.layout) }
    }
}

/// One received chunk: bytes `start..end` of a buffer the kernel filled.
pub struct RecvBuf {
    region: Rc<Region>,
    bid: u16,
    start: u32,
    end: u32,
}

impl RecvBuf {
    /// A chunk of `len` bytes in buffer `bid`, just completed by the kernel.
    pub(crate) fn new(region: Rc<Region>, bid: u16, len: usize) -> Self {
        let len = len.min(region.size) as u32;
        Self {
            region,
            bid,
            start: 0,
            end: len,
        }
    }

    /// The bytes.
    pub fn as_slice(&self) -> &[u8] {
        let offset = self.bid as usize * self.region.size + self.start as usize;
        // SAFETY: `bid < count` (the kernel only hands out ids the reactor lent it), and
        // `start <= end <= size`, so the range lies inside the region's allocation. The kernel
        // wrote these bytes before posting the completion that created this chunk and does not
        // touch the buffer again until its id is lent back, which happens only after this
        // RecvBuf is dropped; so nothing writes them while this borrow lives.
        unsafe {
            std::slice::from_raw_parts(
                self.region.base.as_ptr().add(offset),
                (self.end - self.start) as usize,
            )
        }
    }

    /// Length in bytes.
    pub fn len(&self) -> usize {
        (self.end - self.start) as usize
    }

    /// True when no byte is left.
    pub fn is_empty(&self) -> bool {
        self.end == self.start
    }

    /// Drops the first `n` bytes (they were handled).
    pub fn advance(&mut self, n: usize) {
        self.start = (self.start + n.min(self.len()) as u32).min(self.end);
    }

    /// Keeps only the first `n` bytes.
    pub fn truncate(&mut self, n: usize) {
        self.end = self.start + n.min(self.len()) as u32;
    }
}

impl std::ops::Deref for RecvBuf {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        self.as_slice()
    }
}

impl Drop for RecvBuf {
    fn drop(&mut self) {
        self.region.give_back(self.bid);
    }
}

impl fmt::Debug for RecvBuf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RecvBuf")
            .field("bid", &self.bid)
            .field("len", &self.len())
            .finish()
    }
}

/// Bytes queued on a socket to be sent.
#[derive(Debug)]
pub enum Piece {
    /// A received chunk forwarded as it came (no copy).
    Chunk(RecvBuf),
    /// The caller's own bytes, from `offset` on.
    Vec {
        /// The bytes.
        data: Vec<u8>,
        /// Bytes already sent.
        offset: usize,
    },
    /// Shared bytes (a frame split off a read buffer, a static reply).
    Bytes(Bytes),
}

impl Piece {
    /// Owned bytes.
    pub fn from_vec(data: Vec<u8>) -> Self {
        Piece::Vec { data, offset: 0 }
    }

    /// The bytes still to send.
    pub fn as_slice(&self) -> &[u8] {
        match self {
            Piece::Chunk(c) => c.as_slice(),
            Piece::Vec { data, offset } => data.get(*offset..).unwrap_or_default(),
            Piece::Bytes(b) => b,
        }
    }

    /// Bytes still to send.
    pub fn len(&self) -> usize {
        self.as_slice().len()
    }

    /// True when everything was sent.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Records that the first `n` bytes were sent.
    pub fn advance(&mut self, n: usize) {
        match self {
            Piece::Chunk(c) => c.advance(n),
            Piece::Vec { data, offset } => *offset = (*offset + n).min(data.len()),
            Piece::Bytes(b) => {
                let n = n.min(b.len());
                let _ = b.split_to(n);
            }
        }
    }
}

impl From<RecvBuf> for Piece {
    fn from(c: RecvBuf) -> Self {
        Piece::Chunk(c)
    }
}

impl From<Vec<u8>> for Piece {
    fn from(v: Vec<u8>) -> Self {
        Piece::from_vec(v)
    }
}

impl From<Bytes> for Piece {
    fn from(b: Bytes) -> Self {
        Piece::Bytes(b)
    }
}

impl From<bytes::BytesMut> for Piece {
    fn from(b: bytes::BytesMut) -> Self {
        Piece::Bytes(b.freeze())
    }
}
