//! The `corepool` binary: parse the command line, set up logging, run a subcommand, map failure
//! to an exit status.

mod cmd;

use std::process::ExitCode;

use clap::Parser;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = cmd::Cli::parse();
    cmd::init_tracing(cli.verbose);
    match cmd::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("corepool: {e:#}");
            ExitCode::from(e.exit_code())
        }
    }
}
