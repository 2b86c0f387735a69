//! Ctrl-C and SIGTERM as a flag, so an interrupted run unwinds and its guards clean up.
//!
//! Proxies run in their own process groups (a terminal's Ctrl-C does not reach them), and the
//! cluster lives in a guard too: both are stopped by `Drop`, which only runs if the process
//! returns normally. So the signals set a flag that long loops check between steps.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use anyhow::{bail, Context, Result};

/// Whether SIGINT or SIGTERM arrived. Cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct Stop {
    flag: Arc<AtomicBool>,
}

impl Stop {
    /// Registers SIGINT and SIGTERM handlers that set the flag.
    pub fn install() -> Result<Stop> {
        let stop = Stop::default();
        for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
            signal_hook::flag::register(signal, Arc::clone(&stop.flag))
                .context("install signal handler")?;
        }
        Ok(stop)
    }

    /// Whether a stop was requested.
    pub fn requested(&self) -> bool {
        self.flag.load(Ordering::Relaxed)
    }

    /// An error once a stop was requested, for `?` in loops.
    pub fn check(&self) -> Result<()> {
        if self.requested() {
            bail!("interrupted");
        }
        Ok(())
    }
}
