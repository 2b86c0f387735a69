//! Reading a chunk of a file over SQL: one prepared statement per session that returns the
//! chunk as a series of rows of at most [`ROW_BYTES`], copied straight into the caller's
//! buffer (a DMA buffer for plain output, the archive piece for tar).
//!
//! Why rows of 64 KiB and not one `pg_read_binary_file` of the whole chunk: the server builds
//! each value three times (the file read, `bytea_send`'s buffer, the DataRow), growing the
//! second by doubling. Past glibc's 128 KiB mmap threshold every one of those allocations is
//! a fresh `mmap` whose pages fault in and are zeroed, per chunk. Rows under 64 KiB stay in
//! memory the backend reuses row after row (the per-tuple context is reset). Measured with
//! 4 sessions reading a 2.7 GB relation from the page cache: 1 MiB single values ran at
//! 1.05 GB/s for 7.1 CPU-seconds, 64 KiB rows at 2.37 GB/s for 2.1 CPU-seconds
//! (docs/performance.md, "Parallel backup: how a chunk is read").

use super::check::ChunkCheck;
use crate::plan::Task;
use crate::Error;
use corepool_client::{ClientError, Connection, Placed};

/// Bytes per row: under 64 KiB including `bytea_send`'s 4-byte length and terminator, so the
/// server's buffers never reach the next power of two.
pub const ROW_BYTES: u64 = 65_528;

/// Name of the prepared read statement.
const STATEMENT: &str = "corepool_read_chunk";

/// The chunk `[$2, $4)` of file `$1` in rows of `$3` bytes. `missing_ok` makes a file removed
/// since the listing read as NULL rows instead of an error; reads past a shrunk file's end are
/// empty.
const READ_CHUNK_SQL: &str =
    "SELECT pg_read_binary_file($1, o, least($3::bigint, $4::bigint - o), true) \
     FROM generate_series($2::bigint, $4::bigint - 1, $3::bigint) AS o";

/// What a chunk read found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Received {
    /// The file no longer exists.
    Gone,
    /// This many bytes arrived; the rest of the buffer (a file that shrank) was zeroed.
    Bytes(usize),
}

/// Prepares the read statement on a worker's session (with JIT off: compiling expressions is
/// pure cost for a statement this small that runs thousands of times).
pub async fn prepare(conn: &mut Connection) -> Result<(), Error> {
    conn.simple_query("SET jit = off")
        .await
        .map_err(|e| Error::client("could not set up a worker session", e))?;
    conn.prepare(STATEMENT, READ_CHUNK_SQL)
        .await
        .map_err(|e| Error::client("could not prepare the chunk read", e))
}

/// Sends the read of `task` of the file at `path`; answer with [`receive`].
pub async fn send(conn: &mut Connection, path: &str, task: &Task) -> Result<(), Error> {
    let start = task.offset.to_string();
    let row = ROW_BYTES.to_string();
    let end = (task.offset + task.len).to_string();
    conn.send_prepared(
        STATEMENT,
        &[Some(path), Some(&start), Some(&row), Some(&end)],
    )
    .await
    .map_err(|e| read_error(path, e))
}

/// Receives the answer to the oldest [`send`] into `dest` (the chunk's length), each row read
/// from the socket straight into place and checked by `check` as it lands. On
/// [`Received::Bytes`] the whole chunk has been checked.
pub async fn receive(
    conn: &mut Connection,
    path: &str,
    dest: &mut [u8],
    mut check: ChunkCheck<'_>,
    rereads: &mut Vec<(usize, u64)>,
) -> Result<Received, Error> {
    let mut filled = 0usize;
    let mut gone = false;
    loop {
        let room = &mut dest[filled..];
        match conn
            .next_fetched_into(room)
            .await
            .map_err(|e| read_error(path, e))?
        {
            Placed::Done => break,
            Placed::Row(None) => gone = true,
            Placed::Row(Some(n)) => {
                filled += n;
                check.advance(&dest[..filled], rereads)?;
            }
        }
    }
    if gone {
        return Ok(Received::Gone);
    }
    dest[filled..].fill(0);
    check.finish(dest, rereads)?;
    Ok(Received::Bytes(filled))
}

fn read_error(path: &str, e: ClientError) -> Error {
    Error::client(format!("could not read file \"{path}\""), e)
}
