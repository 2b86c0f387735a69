//! `-j 1` (and roles with only REPLICATION): the standard `BASE_BACKUP` replication command on
//! one connection, its archives extracted or re-written by [`crate::sink`], WAL streamed in
//! parallel on a second connection by [`crate::wal`].

use crate::context::{Context, Outcome};
use crate::lsn::Lsn;
use crate::options::{BackupOptions, Checkpoint, Format, WalMethod};
use crate::sink::{ArchiveSink, SinkConfig};
use crate::wal_task::{finish_wal, start_wal, Mode, WalTask};
use crate::Error;
use corepool_client::{ClientError, Connection, Replication, Response, Row};
use std::sync::atomic::Ordering;
use std::sync::Arc;

/// The `BASE_BACKUP ( … )` command pg_basebackup 15 would send for these options.
pub fn base_backup_command(opts: &BackupOptions) -> String {
    let mut o = vec![
        format!("LABEL '{}'", opts.label.replace('\'', "''")),
        "PROGRESS".into(),
    ];
    if opts.checkpoint == Checkpoint::Fast {
        o.push("CHECKPOINT 'fast'".into());
    }
    match opts.wal_method {
        WalMethod::Fetch => o.push("WAL".into()),
        WalMethod::Stream => o.push("WAIT 0".into()),
        WalMethod::None => {}
    }
    if let Some(rate) = opts.max_rate {
        o.push(format!("MAX_RATE {}", (rate / 1024).clamp(32, 1_048_576)));
    }
    if opts.format == Format::Tar {
        o.push("TABLESPACE_MAP".into());
    }
    if !opts.verify_checksums {
        o.push("VERIFY_CHECKSUMS 0".into());
    }
    if opts.manifest {
        let m = if opts.manifest_force_encode {
            "force-encode"
        } else {
            "yes"
        };
        o.push(format!("MANIFEST '{m}'"));
        o.push(format!(
            "MANIFEST_CHECKSUMS '{}'",
            opts.manifest_checksums.name()
        ));
    }
    o.push("TARGET 'client'".into());
    format!("BASE_BACKUP ( {} )", o.join(", "))
}

async fn read_rows(conn: &mut Connection, what: &str) -> Result<Vec<Row>, Error> {
    let mut rows = Vec::new();
    loop {
        match conn
            .next_response()
            .await
            .map_err(|e| Error::client(what.to_owned(), e))?
        {
            Response::Row(r) => rows.push(r),
            Response::CommandComplete(_) => return Ok(rows),
            Response::RowDescription(_) => {}
            other => return Err(Error::Protocol(format!("{what}: unexpected {other:?}"))),
        }
    }
}

fn lsn_of(row: &Row) -> Result<(Lsn, u32), Error> {
    let text = row
        .text_required(0)
        .map_err(|e| Error::client("invalid backup position", e))?;
    let tli: u32 = row
        .parse(1)
        .map_err(|e| Error::client("invalid backup timeline", e))?;
    Ok((Lsn::parse(text)?, tli))
}

/// Runs the backup over `BASE_BACKUP`.
pub async fn run(ctx: &Context, wal: &mut Option<WalTask>) -> Result<Outcome, Error> {
    let opts = &ctx.opts;
    let mut conn_opts = opts.conn.clone();
    conn_opts.replication = Some(Replication::Physical);
    conn_opts.database = None;
    let mut conn = Connection::connect(&conn_opts)
        .await
        .map_err(|e| Error::client("could not connect to server", e))?;
    crate::context::check_server_version(&conn)?;
    let streamer = start_wal(ctx, Mode::BaseBackup).await?;
    let cmd = base_backup_command(opts);
    ctx.verbose(&format!(
        "initiating base backup, waiting for checkpoint to complete ({cmd})"
    ));
    conn.send_query(&cmd)
        .await
        .map_err(|e| Error::client("could not initiate base backup", e))?;
    let start_rows = read_rows(&mut conn, "could not initiate base backup").await?;
    let (start, tli) = lsn_of(
        start_rows
            .first()
            .ok_or_else(|| Error::Protocol("no start position".into()))?,
    )?;
    ctx.verbose(&format!(
        "checkpoint completed; write-ahead log start point: {start} on timeline {tli}"
    ));
    *wal = streamer.map(|s| s.spawn(ctx, start, tli));
    let spaces = read_rows(&mut conn, "could not get backup header").await?;
    let total_kb: u64 = spaces.iter().filter_map(|r| r.parse::<u64>(2).ok()).sum();
    ctx.progress.set_total(total_kb * 1024);
    match conn
        .next_response()
        .await
        .map_err(|e| Error::client("could not get COPY data stream", e))?
    {
        Response::CopyOut => {}
        other => return Err(Error::Protocol(format!("expected COPY OUT, got {other:?}"))),
    }
    let manifest = receive_archives(ctx, &mut conn).await?;
    let end_rows = read_rows(&mut conn, "could not get write-ahead log end position").await;
    let end_rows = match end_rows {
        Ok(r) => r,
        Err(e) => return Err(e),
    };
    let (end, _) = lsn_of(
        end_rows
            .first()
            .ok_or_else(|| Error::Protocol("no end position".into()))?,
    )?;
    ctx.verbose(&format!("write-ahead log end point: {end}"));
    // CommandComplete BASE_BACKUP, or XX001 after a checksum failure.
    let mut checksum_failures = 0;
    loop {
        match conn.next_response().await {
            Ok(Response::Ready) => break,
            Ok(_) => {}
            Err(ClientError::Server { code, message, .. }) if code == "XX001" => {
                eprintln!("WARNING:  {message}");
                checksum_failures = 1;
                break;
            }
            Err(e) => return Err(Error::client("final receive failed", e)),
        }
    }
    for n in conn.take_notices() {
        eprintln!("{}:  {}", n.severity, n.message);
    }
    conn.close().await;
    finish_wal(ctx, wal, end).await?;
    if ctx.opts.format == Format::Plain {
        ctx.write_recovery_plain()?;
    }
    if let Some(m) = manifest {
        ctx.install_manifest(&m)?;
    }
    Ok(Outcome {
        start,
        end,
        timeline: tli,
        parallel_workers: 0,
        checksum_failures,
        vanished_files: 0,
    })
}

/// Reads the COPY stream: archives to the sink, the manifest into memory.
async fn receive_archives(ctx: &Context, conn: &mut Connection) -> Result<Option<Vec<u8>>, Error> {
    let tar = ctx.opts.format == Format::Tar;
    let cfg: Arc<SinkConfig> = ctx.sink_config();
    let mut current: Option<ArchiveSink> = None;
    let mut manifest: Option<Vec<u8>> = None;
    loop {
        if ctx.cancel.load(Ordering::Relaxed) {
            return Err(Error::Interrupted("canceled by user".into()));
        }
        let Some(msg) = conn
            .copy_data()
            .await
            .map_err(|e| Error::client("could not read COPY data", e))?
        else {
            break;
        };
        match msg.first() {
            Some(b'n') => {
                if let Some(a) = current.take() {
                    a.finish().await?;
                }
                let mut parts = msg[1..].split(|&b| b == 0);
                let name = std::str::from_utf8(parts.next().unwrap_or_default())
                    .map_err(|_| Error::Protocol("bad archive name".into()))?;
                let path = std::str::from_utf8(parts.next().unwrap_or_default())
                    .map_err(|_| Error::Protocol("bad tablespace path".into()))?;
                ctx.verbose(&format!("receiving archive \"{name}\""));
                current = Some(ArchiveSink::begin(cfg.clone(), name, path, tar).await?);
            }
            Some(b'd') => {
                if let Some(m) = manifest.as_mut() {
                    m.extend_from_slice(&msg[1..]);
                } else if let Some(a) = current.as_mut() {
                    a.data(&msg[1..]).await?;
                } else {
                    return Err(Error::Protocol("data before archive start".into()));
                }
            }
            Some(b'p') => {}
            Some(b'm') => {
                if let Some(a) = current.take() {
                    a.finish().await?;
                }
                manifest = Some(Vec::new());
            }
            _ => return Err(Error::Protocol("unexpected COPY message".into())),
        }
    }
    if let Some(a) = current.take() {
        a.finish().await?;
    }
    Ok(manifest)
}
