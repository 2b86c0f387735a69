//! Process signals mapped to Pgpool-II's meanings: SIGHUP reloads, SIGTERM/SIGINT/SIGQUIT stop.

use std::io;
use std::sync::Arc;

use signal_hook::consts::{SIGHUP, SIGINT, SIGQUIT, SIGTERM};
use signal_hook::iterator::Signals;

use crate::cluster::{ClusterState, ShutdownMode};

/// What a signal asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignalAction {
    /// Re-read the configuration files.
    Reload,
    /// Stop in the given mode.
    Stop(ShutdownMode),
}

/// Maps a signal number to its action, as Pgpool-II does.
pub fn action_for(signal: i32) -> Option<SignalAction> {
    match signal {
        SIGHUP => Some(SignalAction::Reload),
        SIGTERM => Some(SignalAction::Stop(ShutdownMode::Smart)),
        SIGINT => Some(SignalAction::Stop(ShutdownMode::Fast)),
        SIGQUIT => Some(SignalAction::Stop(ShutdownMode::Immediate)),
        _ => None,
    }
}

/// The four signals, caught from the moment [`SignalCatcher::catch`] returns: one that arrives
/// before the handling thread runs (say a SIGHUP sent as soon as the pid file appears) waits for
/// it instead of taking the default action and killing the process.
pub struct SignalCatcher(Signals);

impl SignalCatcher {
    /// Installs the handlers. Call it before anything listens or the pid file is written.
    pub fn catch() -> io::Result<Self> {
        Signals::new([SIGHUP, SIGTERM, SIGINT, SIGQUIT]).map(Self)
    }

    /// Starts a thread that turns signals, including any caught so far, into cluster-state
    /// changes; `on_reload` runs on SIGHUP. The thread ends after a stop signal.
    pub fn spawn(
        self,
        state: Arc<ClusterState>,
        on_reload: impl Fn() + Send + 'static,
    ) -> io::Result<std::thread::JoinHandle<()>> {
        spawn_signal_thread(self.0, state, on_reload)
    }
}

fn spawn_signal_thread(
    mut signals: Signals,
    state: Arc<ClusterState>,
    on_reload: impl Fn() + Send + 'static,
) -> io::Result<std::thread::JoinHandle<()>> {
    std::thread::Builder::new()
        .name("corepool-signals".into())
        .spawn(move || {
            for sig in signals.forever() {
                match action_for(sig) {
                    Some(SignalAction::Reload) => {
                        tracing::info!("SIGHUP: reloading configuration");
                        on_reload();
                    }
                    Some(SignalAction::Stop(mode)) => {
                        tracing::info!(?mode, "shutdown requested");
                        state.request_shutdown(mode);
                        if mode == ShutdownMode::Immediate {
                            std::process::exit(0);
                        }
                    }
                    None => {}
                }
            }
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signals_map_like_pgpool() {
        assert_eq!(action_for(SIGHUP), Some(SignalAction::Reload));
        assert_eq!(
            action_for(SIGTERM),
            Some(SignalAction::Stop(ShutdownMode::Smart))
        );
        assert_eq!(
            action_for(SIGINT),
            Some(SignalAction::Stop(ShutdownMode::Fast))
        );
        assert_eq!(
            action_for(SIGQUIT),
            Some(SignalAction::Stop(ShutdownMode::Immediate))
        );
        assert_eq!(action_for(libc::SIGUSR1), None);
    }
}
