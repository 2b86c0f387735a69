//! What a worker checks of a chunk as its rows arrive: the data pages' checksums (a mismatch
//! is queued for one re-read) and the running CRC-32C recorded for the manifest. Done row by
//! row, while the bytes just received are still in the CPU cache.

use super::Shared;
use crate::checksum::{verify_page, Attempt, Decision, BLCKSZ, RELSEG_SIZE};
use crate::plan::Task;
use crate::Error;

/// The checks of one chunk in progress.
pub struct ChunkCheck<'a> {
    shared: &'a Shared,
    task: &'a Task,
    /// Bytes whose pages have been verified (a multiple of the block size).
    verified: usize,
    /// Bytes in `crc`.
    summed: usize,
    crc: u32,
}

impl<'a> ChunkCheck<'a> {
    /// Checks for `task`.
    pub fn new(shared: &'a Shared, task: &'a Task) -> Self {
        ChunkCheck {
            shared,
            task,
            verified: 0,
            summed: 0,
            crc: 0,
        }
    }

    /// `data` is the chunk received so far: checks the bytes not seen before.
    pub fn advance(&mut self, data: &[u8], rereads: &mut Vec<(usize, u64)>) -> Result<(), Error> {
        if let Some(new) = data.get(self.summed..) {
            self.crc = crc32c::crc32c_append(self.crc, new);
            self.summed = data.len();
        }
        let Some(cf) = self.shared.files[self.task.file].checksummed else {
            return Ok(());
        };
        let complete = data.len() / BLCKSZ * BLCKSZ;
        let first_block = self.task.offset / BLCKSZ as u64;
        while self.verified < complete {
            let block = first_block + (self.verified / BLCKSZ) as u64;
            let page = &data[self.verified..self.verified + BLCKSZ];
            let blkno = cf.block_number(block as u32, RELSEG_SIZE);
            if verify_page(page, blkno, self.shared.start_lsn, Attempt::First)? == Decision::Reread
            {
                rereads.push((self.task.file, block));
            }
            self.verified += BLCKSZ;
        }
        Ok(())
    }

    /// `data` is the whole chunk (zero-filled past what a shrunk file gave): checks the rest
    /// and records the chunk's CRC.
    pub fn finish(mut self, data: &[u8], rereads: &mut Vec<(usize, u64)>) -> Result<(), Error> {
        self.advance(data, rereads)?;
        if let Ok(mut s) = self.shared.state.lock() {
            s.crcs[self.task.file].add(self.task.offset, self.task.len, self.crc);
        }
        Ok(())
    }
}
