//! `-P`: byte counters shared by every worker, drawn by a reporter thread with indicatif
//! (bytes done of the estimate, MB/s, ETA).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

/// Counters updated by the backup.
#[derive(Debug, Default)]
pub struct Progress {
    done: AtomicU64,
    total: AtomicU64,
}

impl Progress {
    /// Counts `n` more bytes copied.
    pub fn add(&self, n: u64) {
        self.done.fetch_add(n, Ordering::Relaxed);
    }

    /// Sets the estimated total.
    pub fn set_total(&self, n: u64) {
        self.total.store(n, Ordering::Relaxed);
    }

    /// Bytes copied so far.
    pub fn done(&self) -> u64 {
        self.done.load(Ordering::Relaxed)
    }

    /// The estimate.
    pub fn total(&self) -> u64 {
        self.total.load(Ordering::Relaxed)
    }
}

/// A thread drawing the bar until [`stop`](Self::stop).
pub struct Reporter {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Reporter {
    /// Starts drawing `progress` on stderr.
    pub fn start(progress: Arc<Progress>) -> Reporter {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::Builder::new()
            .name("basebackup-progress".into())
            .spawn(move || {
                // No bar until there is something to show (the checkpoint and the listing
                // come first): a "0 B/1 B" bar says nothing.
                while progress.total() == 0 && progress.done() == 0 && !flag.load(Ordering::Relaxed)
                {
                    std::thread::sleep(Duration::from_millis(50));
                }
                let bar = indicatif::ProgressBar::new(progress.total().max(1));
                bar.set_style(
                    indicatif::ProgressStyle::with_template(
                        "{bytes}/{total_bytes} ({percent}%) {binary_bytes_per_sec} ETA {eta} {wide_bar}",
                    )
                    .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
                );
                while !flag.load(Ordering::Relaxed) {
                    let done = progress.done();
                    bar.set_length(progress.total().max(done).max(1));
                    bar.set_position(done);
                    std::thread::sleep(Duration::from_millis(200));
                }
                let done = progress.done();
                bar.set_length(progress.total().max(done).max(1));
                bar.set_position(done);
                bar.finish();
            })
            .ok();
        Reporter { stop, thread }
    }

    /// Draws the final state and stops.
    pub fn stop(mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
