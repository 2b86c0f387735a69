//! `corepool serve`: run the proxy with a pgpool.conf, as `pgpool -n -f …` would. Under a
//! systemd `Type=notify` unit it reports READY=1 once every shard listens, RELOADING=1 and
//! READY=1 around each reload, and STOPPING=1 when a stop begins.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use corepool_engine::cluster::ShutdownMode;
use corepool_engine::config::Config;
use corepool_engine::server::{self, ReloadHook, ReloadPhase, ServeOptions};

use super::notify::Notifier;
use super::Failure;

/// Flags follow pgpool's where they mean the same.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// pgpool.conf to read.
    #[arg(
        short = 'f',
        long = "config-file",
        default_value = "/etc/pgpool2/pgpool.conf"
    )]
    config_file: PathBuf,
    /// pool_hba.conf (default: beside pgpool.conf).
    #[arg(short = 'a', long = "hba-file")]
    hba_file: Option<PathBuf>,
    /// pcp.conf (default: beside pgpool.conf).
    #[arg(short = 'F', long = "pcp-file")]
    pcp_file: Option<PathBuf>,
    /// Accepted for pgpool compatibility: corepool always runs in the foreground.
    #[arg(short = 'n', long = "dont-detach")]
    dont_detach: bool,
    /// Discard the pgpool_status file and start with every node up.
    #[arg(short = 'D', long = "discard-status")]
    discard_status: bool,
}

/// Loads the configuration, logs every ignored setting once, and serves until stopped.
pub fn run(args: ServeArgs, verbose: u8) -> Result<(), Failure> {
    let loaded = Config::load(&args.config_file)
        .with_context(|| format!("could not load {}", args.config_file.display()))
        .map_err(Failure::config)?;
    super::set_configured_log_level(loaded.config.log_min_messages.tracing_level(), verbose);
    for w in &loaded.warnings {
        tracing::warn!("{w}");
    }
    let _ = args.dont_detach;
    let notifier = Notifier::from_env();
    let options = ServeOptions {
        config_path: Some(args.config_file),
        hba_file: args.hba_file,
        pcp_file: args.pcp_file,
        discard_status: args.discard_status,
        on_reload: notifier.clone().map(reload_hook),
        receive_buffers: None,
    };
    let failed = |e: server::ServeError| match e {
        server::ServeError::Bind(_) | server::ServeError::Config(_) => Failure::config(e),
        other => Failure::unavailable(other),
    };
    let running = server::start(loaded.config, options).map_err(failed)?;
    let mut stopping = None;
    if let Some(n) = notifier {
        let addresses: Vec<String> = running.bound.tcp.iter().map(|a| a.to_string()).collect();
        n.notify(&format!(
            "READY=1\nSTATUS=accepting connections on {}\nMAINPID={}",
            addresses.join(", "),
            std::process::id()
        ));
        // STOPPING=1 goes once: from the watcher as soon as a stop is asked for, or at the
        // latest when the server has stopped (a smart stop without clients can end before the
        // watcher looks again).
        let once = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let tell_stopping = {
            let once = once.clone();
            move |n: &Notifier| {
                if !once.swap(true, std::sync::atomic::Ordering::AcqRel) {
                    n.notify("STOPPING=1\nSTATUS=stopping");
                }
            }
        };
        let state = running.state.clone();
        let watcher_notifier = n.clone();
        let watcher_tell = tell_stopping.clone();
        let watcher = std::thread::Builder::new()
            .name("corepool-notify".into())
            .spawn(move || {
                while state.shutdown() == ShutdownMode::None {
                    std::thread::sleep(Duration::from_millis(100));
                }
                watcher_tell(&watcher_notifier);
            });
        if let Err(e) = watcher {
            tracing::warn!(error = %e, "could not start the systemd notification thread");
        }
        stopping = Some((n, tell_stopping));
    }
    let result = running.wait().map_err(failed);
    if let Some((n, tell)) = stopping {
        tell(&n);
    }
    result
}

/// Tells systemd RELOADING=1 before a reload and READY=1 after it.
fn reload_hook(n: Notifier) -> ReloadHook {
    ReloadHook(Arc::new(move |phase| match phase {
        ReloadPhase::Started => n.notify("RELOADING=1\nSTATUS=reloading the configuration"),
        ReloadPhase::Finished => n.notify("READY=1\nSTATUS=configuration reloaded"),
    }))
}
