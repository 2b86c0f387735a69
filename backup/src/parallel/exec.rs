//! Running the workers on one executor per core, and the tar writer that puts their pieces in
//! archive order.

use super::prepare::TarPlan;
use crate::context::IO_MEMORY;
use crate::tar_out::TarOut;
use crate::worker::{self, FileCache, Shared};
use crate::Error;
use std::path::PathBuf;
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Starts the workers: one executor per core (the first is this one), workers spread over them.
pub async fn run_workers(
    shared: &Arc<Shared>,
    jobs: usize,
    target: &std::path::Path,
) -> Result<(), Error> {
    let cpus = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let executors = jobs.min(cpus).max(1);
    let remaining = Arc::new(AtomicUsize::new(executors - 1));
    let mut handles = Vec::new();
    for e in 1..executors {
        let ids: Vec<usize> = (0..jobs).filter(|i| i % executors == e).collect();
        let (sh, rem, target) = (shared.clone(), remaining.clone(), target.to_owned());
        let h = glommio::LocalExecutorBuilder::new(glommio::Placement::Unbound)
            .name(&format!("basebackup-{e}"))
            .io_memory(IO_MEMORY)
            .spawn(move || async move {
                let probe = crate::context::hold_probe_file(&target).await;
                run_local(&sh, ids).await;
                if let Some(p) = probe {
                    let _ = p.close().await;
                }
                rem.fetch_sub(1, Ordering::AcqRel);
            });
        match h {
            Ok(h) => handles.push(h),
            Err(err) => {
                remaining.fetch_sub(1, Ordering::AcqRel);
                eprintln!("WARNING:  could not start executor {e}: {err}");
            }
        }
    }
    run_local(shared, (0..jobs).filter(|i| i % executors == 0).collect()).await;
    while remaining.load(Ordering::Acquire) > 0 {
        glommio::timer::sleep(Duration::from_millis(2)).await;
    }
    for h in handles {
        let _ = h.join();
    }
    Ok(())
}

/// Runs workers `ids` on this executor, sharing its open output files, to the end.
async fn run_local(shared: &Arc<Shared>, ids: Vec<usize>) {
    let files = Rc::new(FileCache::default());
    let hs: Vec<_> = ids
        .into_iter()
        .map(|id| glommio::spawn_local(worker::run(shared.clone(), id, files.clone())).detach())
        .collect();
    for h in hs {
        h.await;
    }
    if let Err(e) = files.close_all().await {
        shared.fail(e.to_string());
    }
}

/// The tar writer: pieces in sequence order into their archives; returns `base.tar` still
/// open so pg_control and backup_label can be appended.
pub async fn write_archives(
    shared: Arc<Shared>,
    p: TarPlan,
    target: PathBuf,
    compression: Option<crate::options::Compression>,
    sync: bool,
) -> Result<TarOut, Error> {
    let Some(order) = &shared.tar else {
        return Err(Error::Protocol("tar writer without tar plan".into()));
    };
    let mut current: Option<(usize, TarOut)> = None;
    for seq in 0..p.seq_archive.len() {
        let ai = p.seq_archive[seq];
        if current.as_ref().map(|c| c.0) != Some(ai) {
            if let Some((_, out)) = current.take() {
                out.finish_frames().await?;
            }
            let mut out = TarOut::create_at(&target, &p.archives[ai].0, compression, sync).await?;
            out.write_frame(&p.archives[ai].1).await?;
            current = Some((ai, out));
        }
        let piece = loop {
            if let Some(piece) = order.slots.lock().ok().and_then(|mut s| s.remove(&seq)) {
                break piece;
            }
            if shared.abort.load(Ordering::Relaxed) || shared.cancel.load(Ordering::Relaxed) {
                return Err(Error::Interrupted("archive writer stopped".into()));
            }
            glommio::timer::sleep(Duration::from_micros(500)).await;
        };
        if let Some((_, out)) = current.as_mut() {
            out.write_compressed(&piece).await?;
        }
        order.written.store(seq + 1, Ordering::Release);
    }
    let base = p.archives.len() - 1;
    match current {
        Some((ai, out)) if ai == base => Ok(out),
        other => {
            if let Some((_, out)) = other {
                out.finish_frames().await?;
            }
            let mut out =
                TarOut::create_at(&target, &p.archives[base].0, compression, sync).await?;
            out.write_frame(&p.archives[base].1).await?;
            Ok(out)
        }
    }
}
