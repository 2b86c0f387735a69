//! Plain-format output of the workers: chunks written at their offsets with O_DIRECT, from
//! DMA buffers that are reused once their write completes, through files kept open per
//! executor.
//!
//! Opening, writing and closing a file per chunk (and allocating a fresh 1 MiB buffer for each)
//! cost more CPU than the copy itself: the buffers' pages faulted in anew every time and each
//! open/close went through io_uring's worker threads. Here a worker keeps a small pool of
//! chunk-sized buffers and the executor a small LRU of open files; a chunk that ends at an
//! unaligned end of file is written padded and the file then truncated to its size.

use crate::Error;
use glommio::io::{DmaBuffer, DmaFile, OpenOptions};
use std::cell::RefCell;
use std::collections::VecDeque;
use std::path::Path;
use std::rc::Rc;

/// Files each executor keeps open.
const OPEN_FILES: usize = 16;

/// Writes each worker keeps in flight (the device latency of one overlaps the next fetch).
const WRITES_IN_FLIGHT: usize = 8;

/// The files an executor has open, most recently used last.
#[derive(Default)]
pub struct FileCache {
    open: RefCell<VecDeque<(usize, Rc<DmaFile>)>>,
}

impl FileCache {
    /// File `index` (at `path`, `size` bytes when complete), opened for writing (created and
    /// allocated if needed) unless already open.
    pub async fn get(&self, index: usize, path: &Path, size: u64) -> Result<Rc<DmaFile>, Error> {
        if let Some(f) = self.lookup(index) {
            return Ok(f);
        }
        let file = OpenOptions::new()
            .write(true)
            .create(true)
            .dma_open(path)
            .await
            .map_err(|e| {
                Error::glommio(format!("could not create file \"{}\"", path.display()), e)
            })?;
        if size > 0 {
            // Best effort (not every file system has fallocate): with the blocks allocated
            // and the size set, O_DIRECT writes no longer extend the file, so the kernel does
            // not hand them to io_uring's worker threads under the inode lock. Measured at
            // -j 4 on a 3 GB cluster: 2.25–2.49 s instead of 2.79–3.05 s, 20% less CPU.
            let _ = file.pre_allocate(size, false).await;
        }
        // Another worker of this executor may have opened it meanwhile: keep one handle.
        if let Some(f) = self.lookup(index) {
            let _ = file.close().await;
            return Ok(f);
        }
        let file = Rc::new(file);
        let evicted = {
            let mut open = self.open.borrow_mut();
            open.push_back((index, file.clone()));
            if open.len() > OPEN_FILES {
                open.pop_front()
            } else {
                None
            }
        };
        if let Some((_, old)) = evicted {
            // Writes still in flight hold their own reference; the last one closes it.
            let _ = old.close_rc().await;
        }
        Ok(file)
    }

    fn lookup(&self, index: usize) -> Option<Rc<DmaFile>> {
        let mut open = self.open.borrow_mut();
        let pos = open.iter().position(|(i, _)| *i == index)?;
        let entry = open.remove(pos)?;
        let file = entry.1.clone();
        open.push_back(entry);
        Some(file)
    }

    /// Closes every file (after the workers' writes have completed).
    pub async fn close_all(&self) -> Result<(), Error> {
        let files: Vec<_> = self.open.borrow_mut().drain(..).collect();
        for (_, f) in files {
            f.close_rc()
                .await
                .map_err(|e| Error::glommio("could not close a backup file".to_owned(), e))?;
        }
        Ok(())
    }
}

/// A write in flight; it hands its buffer back for reuse.
type PendingWrite = glommio::task::JoinHandle<Result<Option<DmaBuffer>, Error>>;

/// One worker's buffers and writes in flight.
pub struct Writer {
    chunk: usize,
    pool: Vec<DmaBuffer>,
    inflight: VecDeque<PendingWrite>,
}

/// Where a filled buffer goes.
pub struct Placement<'a> {
    /// The open file.
    pub file: Rc<DmaFile>,
    /// Its path, for messages.
    pub path: &'a Path,
    /// Offset of the chunk.
    pub offset: u64,
    /// Bytes of the chunk that belong to the file.
    pub len: usize,
    /// The file's final size: a chunk ending there truncates the O_DIRECT padding.
    pub file_size: u64,
}

impl Writer {
    /// A writer whose full chunks are `chunk` bytes (a multiple of 8 KiB).
    pub fn new(chunk: usize) -> Self {
        Writer {
            chunk,
            pool: Vec::new(),
            inflight: VecDeque::new(),
        }
    }

    /// A buffer for `len` bytes of `file`: a reused one for a full chunk, otherwise a new one
    /// of the aligned length. Its first `len` bytes are for the data.
    pub fn buffer(&mut self, file: &DmaFile, len: usize) -> DmaBuffer {
        if len == self.chunk {
            if let Some(b) = self.pool.pop() {
                return b;
            }
        }
        glommio::allocate_dma_buffer_global(file.align_up(len as u64) as usize)
    }

    /// Writes `buf` (zero-padded past `len` by the caller) in the background. Waits for the
    /// oldest write first when [`WRITES_IN_FLIGHT`] are pending.
    pub async fn write(&mut self, buf: DmaBuffer, to: Placement<'_>) -> Result<(), Error> {
        if self.inflight.len() >= WRITES_IN_FLIGHT {
            self.wait_one().await?;
        }
        let reusable = buf.len() == self.chunk;
        let path = to.path.to_owned();
        let Placement {
            file,
            offset,
            len,
            file_size,
            ..
        } = to;
        let task = glommio::spawn_local(async move {
            let ctx = || format!("could not write to file \"{}\"", path.display());
            let buf = Rc::new(buf);
            let want = buf.len();
            let n = file
                .write_rc_at(buf.clone(), offset)
                .await
                .map_err(|e| Error::glommio(ctx(), e))?;
            if n < want {
                // A short write (the device filling up): write the rest, which either goes
                // through or fails with the reason.
                write_rest(&file, &buf.as_bytes()[n..], offset + n as u64)
                    .await
                    .map_err(|e| Error::io(ctx(), e))?;
            }
            let end = offset + len as u64;
            if end == file_size && want as u64 != len as u64 {
                file.truncate(file_size)
                    .await
                    .map_err(|e| Error::glommio(ctx(), e))?;
            }
            Ok(if reusable {
                Rc::try_unwrap(buf).ok()
            } else {
                None
            })
        })
        .detach();
        self.inflight.push_back(task);
        Ok(())
    }

    async fn wait_one(&mut self) -> Result<(), Error> {
        let Some(h) = self.inflight.pop_front() else {
            return Ok(());
        };
        let done = h
            .await
            .unwrap_or_else(|| Err(Error::Interrupted("a write was cancelled".into())))?;
        if let Some(b) = done {
            self.pool.push(b);
        }
        Ok(())
    }

    /// Waits for every write in flight; the first error is returned.
    pub async fn finish(&mut self) -> Result<(), Error> {
        let mut first = Ok(());
        while !self.inflight.is_empty() {
            if let Err(e) = self.wait_one().await {
                if first.is_ok() {
                    first = Err(e);
                }
            }
        }
        first
    }
}

/// Writes `rest` at `at` (both O_DIRECT-aligned: a short direct write stops on a block
/// boundary) until done or an error; a write of nothing is reported as a full device.
async fn write_rest(file: &DmaFile, mut rest: &[u8], mut at: u64) -> std::io::Result<()> {
    while !rest.is_empty() {
        let mut buf = glommio::allocate_dma_buffer_global(rest.len());
        buf.as_bytes_mut().copy_from_slice(rest);
        let n = file.write_at(buf, at).await.map_err(std::io::Error::from)?;
        if n == 0 {
            return Err(std::io::Error::from_raw_os_error(libc::ENOSPC));
        }
        rest = &rest[n.min(rest.len())..];
        at += n as u64;
    }
    Ok(())
}
