//! The provided-buffer ring: the ring of entries through which the kernel is lent receive
//! buffers (`IORING_REGISTER_PBUF_RING`), one per shard, buffer group 0.
//!
//! A multishot receive takes one buffer per completion; the task that gets the chunk gives its
//! id back when it drops it, and [`BufRing::publish`] lends returned ids again, one tail update
//! per loop turn.
//!
//! Buffers are lent as they are needed, not all at once: the kernel takes buffers in ring
//! order, so every buffer ever lent ends up written and resident, and a shard whose clients are
//! idle needs only a few of its 1,024 (16 MiB of receive memory per shard became resident once
//! 10,000 idle clients had started up, 3 KiB per client). The ring starts with [`FIRST_LENT`]
//! and doubles the buffers in circulation whenever tasks hold more than three quarters of
//! them, up to the whole [`Region`].
#![allow(unsafe_code)]

use std::alloc::{self, Layout};
use std::io;
use std::ptr::NonNull;
use std::rc::Rc;
use std::sync::atomic::{AtomicU16, Ordering};

use io_uring::types::BufRingEntry;
use io_uring::IoUring;

use crate::buf::Region;

/// The buffer group every receive selects from.
pub(super) const GROUP: u16 = 0;

/// Buffers in circulation when the ring starts (all of them when the region has fewer).
pub(super) const FIRST_LENT: usize = 64;

/// The ring of entries shared with the kernel, and the buffers it lends.
pub(super) struct BufRing {
    entries: NonNull<BufRingEntry>,
    layout: Layout,
    mask: u16,
    /// Our copy of the tail (the kernel only reads the shared one).
    tail: u16,
    region: Rc<Region>,
    scratch: Vec<u16>,
    /// Buffers currently lent to the kernel.
    lent: usize,
    /// Buffers in circulation: ids `0..circulating` have been lent; the rest of the region
    /// was never touched.
    circulating: usize,
}

impl BufRing {
    /// Allocates the entries for `region`'s buffers, registers them with `ring` and lends every
    /// buffer. `region.count()` must be a power of two of at most 32768.
    pub(super) fn register(ring: &IoUring, region: Rc<Region>) -> io::Result<Self> {
        let count = region.count();
        if !count.is_power_of_two() || count > 32768 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "the receive buffer count must be a power of two up to 32768",
            ));
        }
        let layout = Layout::from_size_align(count * std::mem::size_of::<BufRingEntry>(), 4096)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e.to_string()))?;
        // SAFETY: the layout's size is non-zero (count ≥ 1 and the entry is 16 bytes).
        let raw = unsafe { alloc::alloc_zeroed(layout) };
        let entries = NonNull::new(raw.cast::<BufRingEntry>())
            .ok_or_else(|| io::Error::new(io::ErrorKind::OutOfMemory, "buffer ring"))?;
        // SAFETY: `entries` points to `count` zeroed, page-aligned entries that stay allocated
        // until `Drop`, which unregisters the ring first (the reactor drops the ring after it).
        let registered = unsafe {
            ring.submitter().register_buf_ring_with_flags(
                entries.as_ptr() as u64,
                count as u16,
                GROUP,
                0,
            )
        };
        if let Err(e) = registered {
            // SAFETY: allocated above with `layout`; the kernel did not take it.
            unsafe { alloc::dealloc(raw, layout) };
            return Err(io::Error::new(
                e.kind(),
                format!("could not register the receive buffer ring (Linux 5.19 or later is needed): {e}"),
            ));
        }
        let mut ring_bufs = Self {
            entries,
            layout,
            mask: (count - 1) as u16,
            tail: 0,
            region,
            scratch: Vec::with_capacity(count),
            lent: 0,
            circulating: 0,
        };
        ring_bufs.circulate(FIRST_LENT);
        ring_bufs.store_tail();
        Ok(ring_bufs)
    }

    /// The region the buffers live in (chunks keep it alive).
    pub(super) fn region(&self) -> &Rc<Region> {
        &self.region
    }

    /// The kernel used buffer `bid` for a completion: it is the task's now.
    pub(super) fn taken(&mut self) {
        self.lent = self.lent.saturating_sub(1);
    }

    /// Buffers the kernel can still fill.
    pub(super) fn available(&self) -> usize {
        self.lent
    }

    /// Lends every buffer returned since the last call; true when some were.
    pub(super) fn publish(&mut self) -> bool {
        let mut ids = std::mem::take(&mut self.scratch);
        self.region.drain_returned(&mut ids);
        let mut any = !ids.is_empty();
        for bid in ids.drain(..) {
            self.push(bid);
        }
        self.scratch = ids;
        if self.lent * 4 < self.circulating && self.circulating < self.region.count() {
            // Tasks hold most of the buffers in circulation: put more in.
            self.circulate(self.circulating);
            any = true;
        }
        if any {
            self.store_tail();
        }
        any
    }

    /// Lends up to `more` buffers never lent before (the caller stores the tail).
    fn circulate(&mut self, more: usize) {
        let end = (self.circulating + more).min(self.region.count());
        for bid in self.circulating..end {
            // `end` is at most the region's count, itself at most 32768.
            self.push(bid as u16);
        }
        self.circulating = end;
    }

    fn push(&mut self, bid: u16) {
        let index = (self.tail & self.mask) as usize;
        // SAFETY: `index <= mask < count`: inside the entries allocation. The kernel reads
        // only entries between its head and the published tail, and this one is past the
        // published tail until `store_tail` runs.
        let entry = unsafe { &mut *self.entries.as_ptr().add(index) };
        entry.set_addr(self.region.addr(bid));
        entry.set_len(self.region.buf_size() as u32);
        entry.set_bid(bid);
        self.tail = self.tail.wrapping_add(1);
        self.lent += 1;
    }

    fn store_tail(&self) {
        // SAFETY: the tail field lies in the first entry, inside the allocation; the kernel
        // reads it concurrently, so it is written as an atomic with release ordering (entries
        // written before are visible to the kernel once it sees the new tail).
        unsafe {
            let tail = BufRingEntry::tail(self.entries.as_ptr()) as *const AtomicU16;
            (*tail).store(self.tail, Ordering::Release);
        }
    }

    /// Unregisters the ring from `ring` (before the ring or the entries go).
    pub(super) fn unregister(&self, ring: &IoUring) {
        let _ = ring.submitter().unregister_buf_ring(GROUP);
    }
}

impl Drop for BufRing {
    fn drop(&mut self) {
        // SAFETY: allocated in `register` with `layout`; the reactor unregistered the ring
        // (or dropped it) before dropping this.
        unsafe { alloc::dealloc(self.entries.as_ptr().cast(), self.layout) }
    }
}
