//! `corepool serve`: run the proxy with a pgpool.conf, as `pgpool -n -f …` would.

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use corepool_engine::config::Config;
use corepool_engine::server::{self, ServeOptions};

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
    let options = ServeOptions {
        config_path: Some(args.config_file),
        hba_file: args.hba_file,
        pcp_file: args.pcp_file,
        discard_status: args.discard_status,
    };
    server::serve(loaded.config, options).map_err(|e| match e {
        server::ServeError::Bind(_) | server::ServeError::Config(_) => Failure::config(e),
        other => Failure::unavailable(other),
    })
}
