//! Subcommands and what they share: the command-line definition, logging, exit codes.

mod basebackup;
mod ddl;
mod demo;
mod man;
mod notify;
mod passwd;
mod pcp;
mod serve;

use clap::{Parser, Subcommand};

/// corepool: a PostgreSQL data plane — pooling proxy, parallel base backup, admin tools.
///
/// In every subcommand a repeated option takes its last value, as getopt does in
/// pg_basebackup, psql and the pcp_* tools (`-S backup -C --slot=s1` uses slot `s1`); options
/// that collect values (`-T`, `-v`) keep collecting.
#[derive(Debug, Parser)]
#[command(name = "corepool", version, about, args_override_self = true)]
pub struct Cli {
    /// More log output (-v debug, -vv trace). RUST_LOG overrides.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the Pgpool-II-compatible proxy.
    Serve(serve::ServeArgs),
    /// Start a local primary + streaming standby with corepool in front, for trying it out.
    Demo(demo::DemoArgs),
    /// Take a pg_basebackup-compatible base backup, in parallel with -j N.
    Basebackup(basebackup::BasebackupArgs),
    /// Pgpool-II's PCP commands (node-info, detach-node, ...) against corepool or Pgpool-II.
    Pcp(pcp::PcpArgs),
    /// Run HighGo's sharding DDL (inline partitions, WITH PUSHDOWN, INCLUDE REMOTE) on stock PostgreSQL.
    Ddl(ddl::DdlArgs),
    /// pg_md5: print a password's md5 hash (pcp.conf), or write a pool_passwd md5 entry with -m.
    Md5(passwd::md5::Md5Args),
    /// pg_enc: AES-encrypt a password with the pool key, or write a pool_passwd AES entry with -m.
    Enc(passwd::enc::EncArgs),
    /// Write corepool's man pages (generated from this command line) into a directory.
    #[command(hide = true)]
    Man(man::ManArgs),
}

/// A failed command: the message and the exit status.
#[derive(Debug)]
pub struct Failure {
    error: anyhow::Error,
    code: u8,
}

impl Failure {
    /// Exit status for this failure (64 = usage/config, 69 = unavailable, 1 = other).
    pub fn exit_code(&self) -> u8 {
        self.code
    }

    fn config(error: impl Into<anyhow::Error>) -> Self {
        Self {
            error: error.into(),
            code: 64,
        }
    }

    fn unavailable(error: impl Into<anyhow::Error>) -> Self {
        Self {
            error: error.into(),
            code: 69,
        }
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if f.alternate() {
            write!(f, "{:#}", self.error)
        } else {
            write!(f, "{}", self.error)
        }
    }
}

impl From<anyhow::Error> for Failure {
    fn from(error: anyhow::Error) -> Self {
        Self { error, code: 1 }
    }
}

/// Runs the chosen subcommand.
pub fn run(cli: Cli) -> Result<(), Failure> {
    match cli.command {
        Command::Serve(args) => serve::run(args, cli.verbose),
        Command::Demo(args) => demo::run(args),
        Command::Basebackup(args) => basebackup::run(args, cli.verbose > 0),
        Command::Pcp(args) => pcp::run(args, cli.verbose > 0),
        Command::Ddl(args) => ddl::run(args),
        Command::Md5(args) => passwd::md5::run(args),
        Command::Enc(args) => passwd::enc::run(args),
        Command::Man(args) => man::run(args),
    }
}

/// The log filter, replaceable once the configuration says how much to log.
static LOG_FILTER: std::sync::OnceLock<
    tracing_subscriber::reload::Handle<tracing_subscriber::EnvFilter, tracing_subscriber::Registry>,
> = std::sync::OnceLock::new();

/// Logs go to stderr; RUST_LOG wins over -v, which wins over the configuration's level.
pub fn init_tracing(verbose: u8) {
    use tracing_subscriber::prelude::*;
    let default = match verbose {
        0 => "info",
        1 => "debug",
        _ => "trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let (filter, handle) = tracing_subscriber::reload::Layer::new(filter);
    let fmt = tracing_subscriber::fmt::layer().with_writer(std::io::stderr);
    if tracing_subscriber::registry()
        .with(filter)
        .with(fmt)
        .try_init()
        .is_ok()
    {
        let _ = LOG_FILTER.set(handle);
    }
}

/// Applies pgpool.conf's log_min_messages unless RUST_LOG or -v chose already.
pub fn set_configured_log_level(level: tracing::Level, verbose: u8) {
    if verbose > 0 || std::env::var_os("RUST_LOG").is_some() {
        return;
    }
    if let Some(handle) = LOG_FILTER.get() {
        let _ = handle.modify(|f| {
            *f = tracing_subscriber::EnvFilter::new(level.as_str().to_ascii_lowercase())
        });
    }
}
