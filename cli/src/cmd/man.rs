//! `corepool man`: writes the man pages — corepool(1) and one corepool-<command>(1) per
//! subcommand — rendered by clap_mangen from the command line's own clap definition, so they
//! always say what `--help` says. The Debian package ships them (scripts/package.sh).

use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, CommandFactory};

use super::{Cli, Failure};

/// Where to write.
#[derive(Debug, Args)]
pub struct ManArgs {
    /// Directory for the pages (created if missing).
    #[arg(short = 'o', long = "out-dir")]
    out_dir: PathBuf,
}

/// Writes every page into `out_dir`.
pub fn run(args: ManArgs) -> Result<(), Failure> {
    std::fs::create_dir_all(&args.out_dir)
        .with_context(|| format!("cannot create {}", args.out_dir.display()))?;
    let cli = Cli::command();
    clap_mangen::generate_to(cli, &args.out_dir)
        .with_context(|| format!("cannot write man pages into {}", args.out_dir.display()))?;
    Ok(())
}
