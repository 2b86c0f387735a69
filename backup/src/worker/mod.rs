//! A parallel worker: one SQL session pulling chunks off the shared [`TaskQueue`], reading them
//! with a prepared `pg_read_binary_file` statement ([`fetch`]; two requests in flight so the
//! server never waits for us), verifying data page checksums, and writing the bytes (plain: at
//! their offset with O_DIRECT, [`plain`]; tar: as an ordered, separately compressed piece of the
//! archive).

use crate::checksum::{verify_page, Attempt, Decision, FailureCount, Report, BLCKSZ};
use crate::compress::{compress_frame, Frame};
use crate::listing::FileEntry;
use crate::lsn::Lsn;
use crate::manifest::Crc32cAssembler;
use crate::options::Compression;
use crate::plan::{Task, TaskQueue};
use crate::progress::Progress;
use crate::tar::{self, TarHeader};
use crate::Error;
use check::ChunkCheck;
use corepool_client::{ConnectOptions, Connection};
use fetch::Received;
use plain::{Placement, Writer};
use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::path::PathBuf;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

mod check;
mod fetch;
mod plain;

pub use plain::FileCache;

/// A one-value read of part of a file (pg_control, re-read pages).
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
    pub slots: Mutex<BTreeMap<usize, Frame>>,
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
    /// Files found gone by a worker, in either format (tar keeps them, zero-filled).
    pub gone: HashSet<usize>,
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
    /// Workers that tried to connect so far.
    pub attempted: usize,
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
    /// Worker sessions asked for (`-j`).
    pub workers: usize,
    /// Backup start: newer pages are not verified.
    pub start_lsn: Lsn,
    /// Bytes of a full chunk (the plan's chunk size).
    pub chunk: u64,
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

    pub(crate) fn fail(&self, msg: String) {
        self.abort.store(true, Ordering::Relaxed);
        if let Ok(mut s) = self.state.lock() {
            s.error.get_or_insert(msg);
        }
    }
}

/// Runs worker `id` to the end of the queue. A refused connection is not an error: the
/// other workers take over its share. `files` is the executor's cache of open output files.
pub async fn run(shared: Arc<Shared>, id: usize, files: Rc<FileCache>) {
    let connected = Connection::connect(&shared.conn).await;
    if let Ok(mut s) = shared.state.lock() {
        match &connected {
            Ok(_) => s.connected += 1,
            Err(e) => s.refused.push(e.to_string()),
        }
        s.attempted += 1;
        if s.attempted == shared.workers && !s.refused.is_empty() {
            warn_refused(&s, shared.workers);
        }
    }
    let Ok(mut conn) = connected else {
        return;
    };
    if let Err(e) = work(&shared, &mut conn, &files).await {
        shared.fail(format!("worker {id}: {e}"));
    }
    conn.close().await;
}

/// The one warning about refused worker connections, once every worker has tried: the
/// workers that connected copy everything (the HighGo guide's behaviour past the server's
/// limit).
fn warn_refused(s: &SharedState, workers: usize) {
    let first = s.refused.first().map(String::as_str).unwrap_or_default();
    eprintln!(
        "WARNING:  {} of {workers} parallel worker connections were refused: {first}\n\
         HINT:  The backup continues with the {} worker(s) that connected. Workers are SQL \
         sessions: max_connections (less superuser_reserved_connections and, from PostgreSQL \
         16, reserved_connections) and the role's and database's CONNECTION LIMIT bound them, \
         not max_wal_senders.",
        s.refused.len(),
        s.connected
    );
}

async fn work(shared: &Shared, conn: &mut Connection, files: &FileCache) -> Result<(), Error> {
    fetch::prepare(conn).await?;
    let mut inflight: VecDeque<Task> = VecDeque::new();
    let mut rereads: Vec<(usize, u64)> = Vec::new();
    let started = Instant::now();
    let mut bytes: u64 = 0;
    let mut pending: Option<Task> = None;
    let mut writer = Writer::new(shared.chunk as usize);
    let result = async {
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
                fetch::send(conn, &shared.files[task.file].path, &task).await?;
                inflight.push_back(task);
            }
            let Some(task) = inflight.pop_front() else {
                break;
            };
            match &shared.tar {
                None => copy_plain(shared, conn, files, &mut writer, &task, &mut rereads).await?,
                Some(order) => copy_tar(shared, order, conn, &task, &mut rereads).await?,
            }
            if shared.stopped() {
                return Ok::<(), Error>(());
            }
            shared.progress.add(task.len);
            bytes += task.len;
            throttle(shared, started, bytes).await;
        }
        Ok(())
    }
    .await;
    let written = writer.finish().await;
    result?;
    written?;
    for (file, block) in rereads {
        reread(shared, conn, file, block).await?;
    }
    Ok(())
}

/// Plain format: the chunk is received into a DMA buffer and written at its offset.
async fn copy_plain(
    shared: &Shared,
    conn: &mut Connection,
    files: &FileCache,
    writer: &mut Writer,
    task: &Task,
    rereads: &mut Vec<(usize, u64)>,
) -> Result<(), Error> {
    let f = &shared.files[task.file];
    let path = &shared.dests[task.file];
    let file = files.get(task.file, path, f.size).await?;
    let len = task.len as usize;
    let check = ChunkCheck::new(shared, task);
    if len == 0 {
        fetch::receive(conn, &f.path, &mut [], check, rereads).await?;
        return Ok(());
    }
    let mut buf = writer.buffer(&file, len);
    let bytes = buf.as_bytes_mut();
    let received = fetch::receive(conn, &f.path, &mut bytes[..len], check, rereads).await?;
    if received == Received::Gone {
        // Gone since the listing: skipped, like BASE_BACKUP.
        if let Ok(mut s) = shared.state.lock() {
            s.vanished.insert(task.file);
            s.gone.insert(task.file);
        }
        return Ok(());
    }
    bytes[len..].fill(0);
    let to = Placement {
        file,
        path,
        offset: task.offset,
        len,
        file_size: f.size,
    };
    writer.write(buf, to).await
}

/// Tar format: the chunk becomes one (separately compressed) piece of its archive, with the
/// member's header before a file's first chunk and the padding after its last.
async fn copy_tar(
    shared: &Shared,
    t: &TarOrder,
    conn: &mut Connection,
    task: &Task,
    rereads: &mut Vec<(usize, u64)>,
) -> Result<(), Error> {
    let f = &shared.files[task.file];
    let len = task.len as usize;
    let mut piece = Vec::with_capacity(len + 2 * tar::BLOCK);
    if task.offset == 0 {
        let h = TarHeader::file(
            t.names[task.file].as_bytes(),
            f.size,
            shared.file_mode,
            f.mtime.max(0) as u64,
        );
        tar::write_header(&mut piece, &h)?;
    }
    let at = piece.len();
    piece.resize(at + len, 0);
    let check = ChunkCheck::new(shared, task);
    if fetch::receive(conn, &f.path, &mut piece[at..], check, rereads).await? == Received::Gone {
        // A file gone since the listing keeps its announced size in the archive, as zeros.
        piece[at..].fill(0);
        if let Ok(mut s) = shared.state.lock() {
            s.gone.insert(task.file);
        }
        ChunkCheck::new(shared, task).finish(&piece[at..], rereads)?;
    }
    if task.offset + task.len == f.size {
        piece.resize(piece.len() + tar::padding_len(f.size), 0);
    }
    let piece =
        compress_frame(t.compression, piece).map_err(|e| Error::io("could not compress", e))?;
    let seq = t.first_seq[task.file] + (task.offset / t.chunk) as usize;
    if let Ok(mut slots) = t.slots.lock() {
        slots.insert(seq, piece);
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
