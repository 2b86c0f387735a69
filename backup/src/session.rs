//! Running one backup: the target directory and its "incomplete" marker, the executor the
//! control side runs on, the choice between `BASE_BACKUP` and the parallel SQL mode, WAL
//! streaming, `-R`, the manifest, and what is left behind on failure.
//!
//! # The incomplete marker
//! [`INCOMPLETE_MARKER`] (`backup_incomplete`) is written into the target directory before
//! anything else and removed only after `backup_manifest` has been renamed into place (the very
//! last step). A directory holding it — or lacking `backup_manifest` — is not a finished
//! backup: `pg_verifybackup` rejects it (no manifest, or a file the manifest does not list), and
//! `global/pg_control` is written only at the end, so the server refuses to start from a copy
//! interrupted earlier. On a handled failure the marker's text says what happened and
//! `backup_manifest` is removed — unless nothing was copied yet (a refused connection, a wrong
//! password): then the directory is put back as it was, absent or empty, as pg_basebackup
//! does, so the same command can simply be run again.

use crate::context::{hold_probe_file, write_file, Context, Outcome, INCOMPLETE_MARKER, IO_MEMORY};
use crate::options::BackupOptions;
use crate::output::{create_dir, sync_tree};
use crate::progress::{Progress, Reporter};
use crate::sink::check_empty_dir;
use crate::Error;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// Takes a backup: checks and prepares the target, runs it, and on failure leaves the
/// directory marked incomplete without a manifest.
pub fn run(opts: BackupOptions, cancel: Arc<AtomicBool>) -> Result<Outcome, Error> {
    opts.validate().map_err(Error::Usage)?;
    check_empty_dir(&opts.target)?;
    let created = !opts.target.exists();
    create_dir(&opts.target, 0o700)?;
    let target = opts.target.clone();
    let marker = target.join(INCOMPLETE_MARKER);
    write_file(&marker, b"corepool basebackup in progress\n")?;
    let recovery_conf = if opts.write_recovery_conf {
        let values: Vec<(&str, &str)> = opts
            .conninfo_values
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let all = crate::recovery::with_libpq_defaults(&values);
        Some(crate::recovery::recovery_config(
            &all,
            opts.slot.as_deref(),
        )?)
    } else {
        None
    };
    let progress = Arc::new(Progress::default());
    let reporter = opts.progress.then(|| Reporter::start(progress.clone()));
    // Nothing is synced file by file: one pass at the end (sync_tree) costs one journal
    // commit instead of one per file, and O_DIRECT data is already on the device.
    let sync = opts.sync;
    let mut opts = opts;
    opts.sync = false;
    let ctx = Context {
        opts,
        cancel,
        progress,
        recovery_conf,
        started: std::time::Instant::now(),
    };
    let result = run_on_executor(ctx);
    if let Some(r) = reporter {
        r.stop();
    }
    match result {
        Ok(outcome) => {
            if sync {
                sync_tree(&target)?;
            }
            std::fs::remove_file(&marker)
                .map_err(|e| Error::io(format!("could not remove \"{}\"", marker.display()), e))?;
            Ok(outcome)
        }
        Err(e) => {
            if holds_no_file_but(&target, &marker) {
                let _ = std::fs::remove_file(&marker);
                clear_empty_tree(&target, created);
                return Err(e);
            }
            let _ = std::fs::remove_file(target.join("backup_manifest"));
            let _ = std::fs::remove_file(target.join("backup_manifest.tmp"));
            let _ = std::fs::write(
                &marker,
                format!("corepool basebackup did not finish: {e}\nThis directory is not a usable backup.\n"),
            );
            Err(e)
        }
    }
}

/// Whether the tree under `dir` holds no file other than `marker` (directories don't count).
/// Unreadable parts count as holding files.
fn holds_no_file_but(dir: &Path, marker: &Path) -> bool {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return false;
    };
    entries.into_iter().all(|e| {
        let Ok(e) = e else { return false };
        let path = e.path();
        match e.file_type() {
            Ok(t) if t.is_dir() => holds_no_file_but(&path, marker),
            Ok(_) => path == marker,
            Err(_) => false,
        }
    })
}

/// Removes the empty directories under `dir`, and `dir` itself when `remove_root`.
fn clear_empty_tree(dir: &Path, remove_root: bool) {
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                clear_empty_tree(&e.path(), true);
            }
        }
    }
    if remove_root {
        let _ = std::fs::remove_dir(dir);
    }
}

fn run_on_executor(ctx: Context) -> Result<Outcome, Error> {
    let handle = glommio::LocalExecutorBuilder::new(glommio::Placement::Unbound)
        .name("basebackup-0")
        .io_memory(IO_MEMORY)
        .spawn(move || async move {
            let probe = hold_probe_file(&ctx.opts.target).await;
            let mut wal = None;
            let result = if ctx.opts.jobs > 1 {
                match crate::parallel::run(&ctx, &mut wal).await {
                    // Nothing was started or created yet: the same backup over BASE_BACKUP.
                    Err(Error::ParallelUnavailable(why)) => {
                        eprintln!("{}", why.warning());
                        crate::stream_mode::run(&ctx, &mut wal).await
                    }
                    other => other,
                }
            } else {
                crate::stream_mode::run(&ctx, &mut wal).await
            };
            if let Some(w) = wal.take() {
                w.abort().await;
            }
            if let Some(p) = probe {
                let _ = p.close().await;
            }
            result
        })
        .map_err(|e| {
            Error::io(
                "could not start executor",
                std::io::Error::other(e.to_string()),
            )
        })?;
    handle.join().map_err(|e| {
        Error::io(
            "backup executor failed",
            std::io::Error::other(e.to_string()),
        )
    })?
}

/// `true` if the cancel flag is set.
pub fn cancelled(cancel: &AtomicBool) -> bool {
    cancel.load(Ordering::Relaxed)
}

/// Sets `cancel` on SIGINT and SIGTERM (a second signal kills the process as usual).
pub fn install_signal_handlers(cancel: &Arc<AtomicBool>) -> Result<(), Error> {
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register_conditional_default(sig, cancel.clone())
            .map_err(|e| Error::io("could not install signal handler", e))?;
        signal_hook::flag::register(sig, cancel.clone())
            .map_err(|e| Error::io("could not install signal handler", e))?;
    }
    Ok(())
}
