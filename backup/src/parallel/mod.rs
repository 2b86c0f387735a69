//! `-j N`: the SQL backup API. A control session runs `pg_backup_start` / `pg_backup_stop` and
//! stays open throughout; the WAL streamer's slot is created before the backup starts; the
//! listing is planned largest-first (plain) or in archive order (tar) and N workers
//! ([`crate::worker`]), spread over one glommio executor per core, copy the chunks;
//! `global/pg_control` is copied last, then `backup_label`, the WAL and the manifest.

mod control;
mod exec;
mod finish;
mod prepare;
mod wal_sql;

use crate::context::{write_file, Context, Outcome};
use crate::listing::{self, FileEntry};
use crate::manifest::{ManifestWriter, WalRange};
use crate::options::Format;
use crate::output::create_dir;
use crate::wal_task::{finish_wal, start_wal, Mode, WalTask};
use crate::worker::SharedState;
use crate::Error;
use control::Control;
use std::path::PathBuf;
use std::sync::atomic::Ordering;

/// Runs the parallel backup; a WAL streamer it starts is left in `wal` for the caller to stop
/// if the backup fails.
pub async fn run(ctx: &Context, wal: &mut Option<WalTask>) -> Result<Outcome, Error> {
    let opts = &ctx.opts;
    let mut control = Control::open(ctx).await?;
    if opts.format == Format::Plain {
        for loc in control.spaces.values() {
            let mapped = PathBuf::from(opts.tablespace_mapping.map(loc));
            crate::sink::check_empty_dir(&mapped)?;
            create_dir(&mapped, control.dir_mode)?;
        }
    }
    let mut sql_wal = None;
    let streamer = match start_wal(ctx, Mode::Sql).await {
        Ok(s) => s,
        Err(e) if wal_sql::walsender_refused(&e) => {
            eprintln!("WARNING:  could not start WAL streaming: {e}");
            eprintln!("HINT:  The write-ahead log will be copied over SQL once the files are copied, kept until then by a temporary slot.");
            sql_wal = Some(wal_sql::SqlWal::reserve(&mut control.conn, ctx).await?);
            None
        }
        Err(e) => return Err(e),
    };
    let timeline = streamer.as_ref().map(|s| s.timeline()).unwrap_or(1);
    ctx.verbose("initiating base backup, waiting for checkpoint to complete");
    let start = control.start(ctx).await?;
    ctx.verbose(&format!(
        "checkpoint completed; write-ahead log start point: {start} on timeline {timeline}"
    ));
    *wal = streamer.map(|s| s.spawn(ctx, start, timeline));
    let (listing, auto_conf, system_id) = list_files(ctx, &mut control).await?;
    if opts.format == Format::Plain {
        prepare::make_dirs(ctx, &listing.dirs, &control.spaces, control.dir_mode)?;
    }
    let (shared, tar_plan) = prepare::prepare(ctx, &listing, &control, start)?;
    let writer = tar_plan.map(|p| {
        let target = opts.target.clone();
        let fut = exec::write_archives(shared.clone(), p, target, opts.compression, opts.sync);
        glommio::spawn_local(fut).detach()
    });
    exec::run_workers(&shared, opts.jobs, &opts.target).await?;
    ctx.verbose("workers finished");
    let base_tar = match writer {
        Some(h) => Some(
            h.await
                .ok_or_else(|| Error::Interrupted("archive writer cancelled".into()))??,
        ),
        None => None,
    };
    let state = take_state(ctx, &shared)?;
    finish::report_failures(&shared, &state);
    if !state.gone.is_empty() {
        ctx.verbose(&format!(
            "{} file(s) were removed from the server during the backup (dropped or rewritten relations): {}",
            state.gone.len(),
            if opts.format == Format::Plain { "left out" } else { "kept zero-filled in the archive" }
        ));
    }
    if opts.format == Format::Plain {
        finish::remove_vanished(&shared, &state.vanished)?;
    }
    let pg_control = match &listing.pg_control {
        Some(f) => Some(finish::copy_pg_control(ctx, &mut control.conn, f).await?),
        None => None,
    };
    let file_mode = control.file_mode;
    let stopped = control.stop(ctx).await?;
    ctx.verbose(&format!("write-ahead log end point: {}", stopped.end));
    let tli = stopped.timeline.unwrap_or(timeline);
    if let Some(w) = &sql_wal {
        w.copy(&mut control.conn, ctx, start, stopped.end, tli)
            .await?;
    }
    control.close().await;
    let mut manifest = ManifestWriter::for_server(opts.manifest_force_encode, system_id);
    let alg = opts.manifest_checksums;
    finish::add_small(&mut manifest, "backup_label", stopped.label.as_bytes(), alg);
    match base_tar {
        Some(out) => {
            let tail = finish::TarTail {
                pg_control: pg_control.as_ref(),
                auto_conf: auto_conf.as_ref(),
                file_mode,
            };
            finish::finish_base_tar(ctx, out, &tail, &stopped, &mut manifest).await?;
        }
        None => write_file(&opts.target.join("backup_label"), stopped.label.as_bytes())?,
    }
    if let (Some((data, mtime)), Some(f)) = (&pg_control, &listing.pg_control) {
        finish::add_file(&mut manifest, &f.path, data, *mtime, alg);
    }
    finish::add_files(ctx, &mut manifest, &shared, state.crcs, &state.vanished)?;
    finish_wal(ctx, wal, stopped.end).await?;
    if opts.format == Format::Plain {
        ctx.write_recovery_plain()?;
    }
    if opts.manifest {
        let range = WalRange {
            timeline: tli,
            start,
            end: stopped.end,
        };
        ctx.install_manifest(&manifest.finish(&[range]))?;
    }
    Ok(Outcome {
        start,
        end: stopped.end,
        timeline: tli,
        parallel_workers: state.connected,
        checksum_failures: state.total_failures,
        vanished_files: state.gone.len(),
    })
}

/// What the server's control file says that the copy needs (`pg_control_system()`, readable by
/// any role).
struct ServerControl {
    /// The `PG_<major>_<catversion>` tablespace directory.
    version_dir: crate::exclude::TablespaceVersionDir,
    /// The system identifier, for the version 2 manifest of PostgreSQL 17 and later.
    manifest_system_id: Option<u64>,
}

/// The first major whose server writes version 2 manifests (with the system identifier).
const MANIFEST_V2_MAJOR: u32 = 17;

async fn server_control(conn: &mut corepool_client::Connection) -> Result<ServerControl, Error> {
    let failed = |e| Error::client("could not read the server's control data", e);
    let row = conn
        .query_one(
            "SELECT current_setting('server_version_num')::int / 10000, catalog_version_no, \
             system_identifier FROM pg_control_system()",
        )
        .await
        .map_err(failed)?;
    let major: u32 = row.parse(0).map_err(failed)?;
    let system_id: u64 = row.parse(2).map_err(failed)?;
    Ok(ServerControl {
        version_dir: crate::exclude::TablespaceVersionDir::new(
            major,
            row.parse(1).map_err(failed)?,
        ),
        manifest_system_id: (major >= MANIFEST_V2_MAJOR).then_some(system_id),
    })
}

/// Lists the data directory on the control session and applies the exclusion rules. In tar
/// format with `-R`, postgresql.auto.conf is taken out: the control side appends to it. Also
/// returns the system identifier when the manifest must carry it (17 and later).
async fn list_files(
    ctx: &Context,
    control: &mut Control,
) -> Result<(listing::Listing, Option<FileEntry>, Option<u64>), Error> {
    let rows = control
        .conn
        .simple_query(listing::LISTING_SQL)
        .await
        .map_err(|e| Error::client("could not list the data directory", e))?;
    let server = server_control(&mut control.conn).await?;
    let mut listing = listing::build(
        listing::parse_rows(&rows)?,
        server.version_dir,
        control.verify,
    )?;
    let auto_conf = if ctx.opts.format == Format::Tar && ctx.recovery_conf.is_some() {
        let at = listing
            .files
            .iter()
            .position(|f| f.path == crate::recovery::AUTO_CONF);
        at.map(|i| listing.files.remove(i))
    } else {
        None
    };
    ctx.verbose(&format!(
        "{} files to copy over {} connections",
        listing.files.len(),
        ctx.opts.jobs
    ));
    Ok((listing, auto_conf, server.manifest_system_id))
}

/// The workers' results, or why the copy cannot be trusted.
fn take_state(ctx: &Context, shared: &crate::worker::Shared) -> Result<SharedState, Error> {
    let state = std::mem::take(
        &mut *shared
            .state
            .lock()
            .map_err(|_| Error::Protocol("poisoned lock".into()))?,
    );
    if let Some(e) = state.error {
        return Err(Error::Interrupted(e));
    }
    if ctx.cancel.load(Ordering::Relaxed) {
        return Err(Error::Interrupted("canceled by user".into()));
    }
    if state.connected == 0 {
        return Err(Error::Interrupted(format!(
            "no worker connection could be opened: {}",
            state.refused.first().cloned().unwrap_or_default()
        )));
    }
    if shared.queue.remaining() > 0 {
        return Err(Error::Interrupted(
            "workers stopped before copying every file".into(),
        ));
    }
    Ok(state)
}
