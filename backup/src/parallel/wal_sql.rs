//! `-j N` when the server refuses the WAL stream's walsender (all `max_wal_senders` in use):
//! the workers are ordinary sessions and can still copy the files, so the WAL is kept by a
//! temporary physical slot created over SQL on the control session, before the backup starts,
//! and copied from `pg_wal/` with `pg_read_binary_file` once `pg_backup_stop` has returned —
//! still on the control session, so the slot holds every segment until the last is copied.
//! The result is what `-X fetch` gives: complete segments, each marked `.done`.

use crate::context::Context;
use crate::lsn::{done_status_path, Lsn, TimelineId, WalSegmentSize};
use crate::output::{create_dir, SeqFile};
use crate::worker::READ_SQL;
use crate::Error;
use corepool_client::Connection;

/// Bytes per read of a segment.
const READ_BYTES: u64 = 1 << 20;

/// The WAL kept for a backup without a walsender.
pub struct SqlWal {
    seg: WalSegmentSize,
}

/// Whether `err` is the server refusing a walsender (SQLSTATE 53300, `max_wal_senders`).
pub fn walsender_refused(err: &Error) -> bool {
    matches!(err, Error::Client { source, .. } if source.is_too_many_connections())
}

impl SqlWal {
    /// Creates the temporary slot on `conn` (the control session) and the target's
    /// `pg_wal/archive_status`.
    pub async fn reserve(conn: &mut Connection, ctx: &Context) -> Result<SqlWal, Error> {
        let name = format!("corepool_basebackup_{}", conn.backend_pid());
        let sql = format!("SELECT pg_create_physical_replication_slot('{name}', true, true)");
        conn.simple_query(&sql)
            .await
            .map_err(|e| Error::client("could not create temporary replication slot", e))?;
        ctx.verbose(&format!(
            "created temporary replication slot \"{name}\" over SQL"
        ));
        let setting = conn
            .query_one("SHOW wal_segment_size")
            .await
            .map_err(|e| Error::client("could not read wal_segment_size", e))?;
        let text = setting
            .text_required(0)
            .map_err(|e| Error::client("could not read wal_segment_size", e))?;
        let seg = WalSegmentSize::from_setting(text)?;
        create_dir(&ctx.wal_dir().join("archive_status"), 0o700)?;
        Ok(SqlWal { seg })
    }

    /// Copies the segments of timeline `tli` holding `start..end` into the target's `pg_wal`
    /// (packed into `pg_wal.tar` in tar format).
    pub async fn copy(
        &self,
        conn: &mut Connection,
        ctx: &Context,
        start: Lsn,
        end: Lsn,
        tli: TimelineId,
    ) -> Result<(), Error> {
        let first = self.seg.segno(start);
        // An end exactly on a boundary needs nothing of the segment it opens.
        let last = self.seg.segno(Lsn(end.0.saturating_sub(1))).max(first);
        ctx.verbose(&format!(
            "copying write-ahead log segments {} to {} over SQL",
            self.seg.file_name(tli, first),
            self.seg.file_name(tli, last)
        ));
        let dir = ctx.wal_dir();
        for segno in first..=last {
            let name = self.seg.file_name(tli, segno);
            let source = format!("pg_wal/{name}");
            let mut out =
                SeqFile::create_sized(&dir.join(&name), false, Some(self.seg.bytes())).await?;
            let mut offset = 0;
            while offset < self.seg.bytes() {
                let len = READ_BYTES.min(self.seg.bytes() - offset);
                let (o, l) = (offset.to_string(), len.to_string());
                let data = conn
                    .query_binary(READ_SQL, &[Some(&source), Some(&o), Some(&l)])
                    .await
                    .map_err(|e| Error::client(format!("could not read WAL file \"{name}\""), e))?
                    .unwrap_or_default();
                if data.len() as u64 != len {
                    return Err(Error::Interrupted(format!(
                        "WAL file \"{name}\" is gone or short on the server (read {} of {len} bytes at offset {offset})",
                        data.len()
                    )));
                }
                out.write(&data).await?;
                offset += len;
            }
            out.finish().await?;
            crate::context::write_file(&dir.join(done_status_path(&name)), b"")?;
        }
        if ctx.opts.format == crate::options::Format::Tar {
            crate::tar_out::pack_wal_dir(ctx).await?;
        }
        Ok(())
    }
}
