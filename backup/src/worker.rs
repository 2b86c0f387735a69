//! A parallel worker: one SQL session pulling chunks off the shared [`TaskQueue`], reading them
//! with `pg_read_binary_file` (two requests in flight so the server never waits for us),
//! verifying data page checksums, and writing the bytes (plain: at their offset with O_DIRECT;
//! tar: as an ordered, separately compressed piece of the archive).

use crate::checksum::{verify_page, Attempt, Decision, FailureCount, Report, BLCKSZ};
use crate::compress::compress_block;
use crate::listing::FileEntry;
use crate::lsn::Lsn;
use crate::manifest::Crc32cAssembler;
use crate::options::Compression;
use crate::output::write_range;
use crate::plan::{Task, TaskQueue};
use crate::progress::Progress;
use crate::tar::{self, TarHeader};
use crate::Error;
use bytes::Bytes;
use corepool_client::{ConnectOptions, Connection};
use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The chunk read.
pub const READ_SQL: &str = "SELECT pg_read_binary_file($1, $2::bigint, $3::bigint, true)";

/// Requests each worker keeps in flight.
const PIPELINE: usize = 2;

/// Tar-format ordering: pieces are numbered in archive order and written in that order.
pub struct TarOrder {
    /// Sequence number of each file's first chunk.
    pub first_seq: Vec<usize>,
    /// Name of each file inside its archive.
    pub names: Vec<String>,
    /// Chunk size of the plan.
    pub chunk: u64,
    /// Compression of each piece.
    pub compression: Option<Compression>,
    /// Finished pieces not yet written.
    pub slots: Mutex<BTreeMap<usize, Vec<u8>>>,
    /// Pieces written so far (the writer's cursor).
    pub written: AtomicUsize,
    /// How far ahead of the writer a worker may fetch.
    pub window: usize,
}

/// Results gathered from every worker.
#[derive(Default)]
pub struct SharedState {
    /// Per-file CRC-32C of the chunks.
    pub crcs: Vec<Crc32cAssembler>,
    /// Files that disappeared while being copied (plain format).
    pub vanished: HashSet<usize>,
    /// Checksum failures per file.
    pub failures: HashMap<usize, FailureCount>,
    /// All checksum failures.
    pub total_failures: u64,
    /// The first worker error.
    pub error: Option<String>,
    /// Workers that connected.
    pub connected: usize,
    /// Why workers could not connect.
    pub refused: Vec<String>,
}

/// Everything workers share, across executors.
pub struct Shared {
    /// The files, indexed by [`Task::file`].
    pub files: Vec<FileEntry>,
    /// Plain format: where each file goes.
    pub dests: Vec<PathBuf>,
    /// The work.
    pub queue: TaskQueue,
    /// How workers connect.
    pub conn: ConnectOptions,
    /// Backup start: newer pages are not verified.
    pub start_lsn: Lsn,
    /// fdatasync written ranges.
    pub sync: bool,
    /// Bytes per second per worker.
    pub rate_per_worker: Option<u64>,
    /// SIGINT.
    pub cancel: Arc<AtomicBool>,
    /// Set by the first failing worker so the others stop.
    pub abort: AtomicBool,
    /// `-P` counters.
    pub progress: Arc<Progress>,
    /// Results.
    pub state: Mutex<SharedState>,
    /// Tar format ordering.
    pub tar: Option<TarOrder>,
    /// File mode of written files.
    pub file_mode: u32,
}

impl Shared {
    fn stopped(&self) -> bool {
        self.abort.load(Ordering::Relaxed) || self.cancel.load(Ordering::Relaxed)
    }

    fn fail(&self, msg: String) {
        self.abort.store(true, Ordering::Relaxed);
        if let Ok(mut s) = self.state.lock() {
            s.error.get_or_insert(msg);
        }
    }
}

/// Runs worker `id` to the end of the queue. A refused connection is not an error: the
/// other workers take over its share.
pub async fn run(shared: Arc<Shared>, id: usize) {
    let mut conn = match Connection::connect(&shared.conn).await {
        Ok(c) => c,
        Err(e) => {
            eprintln!("WARNING:  worker {id} could not connect, continuing without it: {e}");
            if let Ok(mut s) = shared.state.lock() {
                s.refused.push(e.to_string());
            }
            return;
        }
    };
    if let Ok(mut s) = shared.state.lock() {
        s.connected += 1;
    }
    if let Err(e) = work(&shared, &mut conn).await {
        shared.fail(format!("worker {id}: {e}"));
    }
    conn.close().await;
}

async fn work(shared: &Shared, conn: &mut Connection) -> Result<(), Error> {
    let mut inflight: VecDeque<Task> = VecDeque::new();
    let mut rereads: Vec<(usize, u64)> = Vec::new();
    let started = Instant::now();
    let mut bytes: u64 = 0;
    let mut pending: Option<Task> = None;
    let mut writes = Writes::new();
    loop {
        while inflight.len() < PIPELINE && !shared.stopped() {
            if pending.is_none() {
                pending = shared.queue.next_task().copied();
            }
            let Some(task) = pending else { break };
            if !in_window(shared, &task) {
                if !inflight.is_empty() {
                    // Answer what is in flight first: the writer may be waiting for it.
                    break;
                }
                wait_for_window(shared, &task).await;
            }
            pending = None;
            let f = &shared.files[task.file];
            let (off, len) = (task.offset.to_string(), task.len.to_string());
            conn.send_binary(READ_SQL, &[Some(&f.path), Some(&off), Some(&len)])
                .await
                .map_err(|e| Error::client(format!("could not read file \"{}\"", f.path), e))?;
            inflight.push_back(task);
        }
        let Some(task) = inflight.pop_front() else {
            break;
        };
        let f = &shared.files[task.file];
        let data = conn
            .recv_binary()
            .await
            .map_err(|e| Error::client(format!("could not read file \"{}\"", f.path), e))?;
        if shared.stopped() {
            return Ok(());
        }
        process(shared, &task, data, &mut rereads, &mut writes).await?;
        bytes += task.len;
        throttle(shared, started, bytes).await;
    }
    while !writes.is_empty() {
        wait_write(&mut writes).await?;
    }
    for (file, block) in rereads {
        reread(shared, conn, file, block).await?;
    }
    Ok(())
}

/// Tar format: whether `task` is close enough to the writer's cursor to be fetched now.
fn in_window(shared: &Shared, task: &Task) -> bool {
    let Some(t) = &shared.tar else { return true };
    let seq = t.first_seq[task.file] + (task.offset / t.chunk) as usize;
    seq <= t.written.load(Ordering::Acquire) + t.window
}

async fn wait_for_window(shared: &Shared, task: &Task) {
    while !in_window(shared, task) && !shared.stopped() {
        glommio::timer::sleep(Duration::from_millis(1)).await;
    }
}

async fn throttle(shared: &Shared, started: Instant, bytes: u64) {
    let Some(rate) = shared.rate_per_worker else {
        return;
    };
    let due = Duration::from_secs_f64(bytes as f64 / rate as f64);
    let elapsed = started.elapsed();
    if due > elapsed {
        glommio::timer::sleep(due - elapsed).await;
    }
}

/// Background writes of one worker.
type Writes = VecDeque<glommio::task::JoinHandle<Result<(), Error>>>;

/// Background writes each worker may have in flight.
const WRITES_IN_FLIGHT: usize = 8;

async fn wait_write(writes: &mut Writes) -> Result<(), Error> {
    match writes.pop_front() {
        Some(h) => h
            .await
            .unwrap_or_else(|| Err(Error::Interrupted("a write was cancelled".into()))),
        None => Ok(()),
    }
}

async fn process(
    shared: &Shared,
    task: &Task,
    data: Option<Bytes>,
    rereads: &mut Vec<(usize, u64)>,
    writes: &mut Writes,
) -> Result<(), Error> {
    let f = &shared.files[task.file];
    let len = task.len as usize;
    let data: Bytes = match data {
        None if shared.tar.is_none() => {
            // Gone since the listing: skipped, like BASE_BACKUP.
            if let Ok(mut s) = shared.state.lock() {
                s.vanished.insert(task.file);
            }
            return Ok(());
        }
        None => Bytes::from(vec![0; len]),
        // Shrunk since the listing: zero-padded to the listed size, like BASE_BACKUP.
        Some(d) if d.len() < len => {
            let mut v = d.to_vec();
            v.resize(len, 0);
            Bytes::from(v)
        }
        Some(d) => d.slice(..len.min(d.len())),
    };
    if let Some(cf) = f.checksummed {
        let first_block = task.offset / BLCKSZ as u64;
        for (i, page) in data.chunks_exact(BLCKSZ).enumerate() {
            let blkno = cf.block_number(
                (first_block + i as u64) as u32,
                crate::checksum::RELSEG_SIZE,
            );
            if verify_page(page, blkno, shared.start_lsn, Attempt::First)? == Decision::Reread {
                rereads.push((task.file, first_block + i as u64));
            }
        }
    }
    let crc = crc32c::crc32c(&data);
    if let Ok(mut s) = shared.state.lock() {
        s.crcs[task.file].add(task.offset, task.len, crc);
    }
    match &shared.tar {
        None => {
            // Written in the background so the device latency of many small O_DIRECT writes
            // overlaps the next fetch; at most WRITES_IN_FLIGHT per worker.
            if writes.len() >= WRITES_IN_FLIGHT {
                wait_write(writes).await?;
            }
            let (path, offset, size, sync) = (
                shared.dests[task.file].clone(),
                task.offset,
                f.size,
                shared.sync,
            );
            writes.push_back(
                glommio::spawn_local(
                    async move { write_range(&path, offset, &data, size, sync).await },
                )
                .detach(),
            );
        }
        Some(t) => {
            let mut piece = Vec::with_capacity(data.len() + 2 * tar::BLOCK);
            if task.offset == 0 {
                let h = TarHeader::file(
                    t.names[task.file].as_bytes(),
                    f.size,
                    shared.file_mode,
                    f.mtime.max(0) as u64,
                );
                tar::write_header(&mut piece, &h)?;
            }
            piece.extend_from_slice(&data);
            if task.offset + task.len == f.size {
                piece.resize(piece.len() + tar::padding_len(f.size), 0);
            }
            let piece = compress_block(t.compression, &piece)
                .map_err(|e| Error::io("could not compress", e))?;
            let seq = t.first_seq[task.file] + (task.offset / t.chunk) as usize;
            if let Ok(mut slots) = t.slots.lock() {
                slots.insert(seq, piece);
            }
        }
    }
    shared.progress.add(task.len);
    Ok(())
}

/// Reads a block that failed verification once more; a second mismatch is a failure. (The
/// copy already written is kept either way: a page changing under the read is rewritten by
/// WAL replay.)
async fn reread(
    shared: &Shared,
    conn: &mut Connection,
    file: usize,
    block: u64,
) -> Result<(), Error> {
    let f = &shared.files[file];
    let Some(cf) = f.checksummed else {
        return Ok(());
    };
    let off = (block * BLCKSZ as u64).to_string();
    let len = BLCKSZ.to_string();
    let page = conn
        .query_binary(READ_SQL, &[Some(&f.path), Some(&off), Some(&len)])
        .await
        .map_err(|e| Error::client(format!("could not read file \"{}\"", f.path), e))?;
    let Some(page) = page.filter(|p| p.len() == BLCKSZ) else {
        return Ok(()); // Truncated meanwhile: nothing to verify.
    };
    let blkno = cf.block_number(block as u32, crate::checksum::RELSEG_SIZE);
    if let Decision::Fail {
        calculated,
        expected,
    } = verify_page(&page, blkno, shared.start_lsn, Attempt::Reread)?
    {
        let mut s = shared
            .state
            .lock()
            .map_err(|_| Error::Protocol("poisoned lock".into()))?;
        s.total_failures += 1;
        let report = s.failures.entry(file).or_default().record();
        if report != Report::Silent {
            eprintln!(
                "WARNING:  checksum verification failed in file \"./{}\", block {block}: calculated {calculated:X} but expected {expected:X}",
                f.path
            );
        }
        if report == Report::WarnLast {
            eprintln!("WARNING:  further checksum verification failures in file \"./{}\" will not be reported", f.path);
        }
    }
    Ok(())
}
