//! `corepool pcp <command>`: Pgpool-II's PCP commands against corepool or Pgpool-II 4.3.
//!
//! # Layout
//! - this file: the command line (`-h -p -U -w -W`, `--json`; the global `-v` gives the
//!   pcp_* tools' verbose layout), the password lookup and the exit statuses.
//! - `client`: a blocking PCP connection: connect, md5 login, one request, its reply packets.
//! - `pcppass`: `PCPPASSFILE` / `~/.pcppass`, as libpcp reads them.
//! - `output`: each reply as text (a table, or the tools' verbose layout) or JSON.
//!
//! Exit statuses: 0 success; 69 the server cannot be reached; 77 the login was refused; 1 the
//! server refused the command (unknown node, bad state) or broke the protocol; 64 usage.

mod client;
mod output;
mod pcppass;

use std::io::BufRead;
use std::path::PathBuf;

use clap::{ArgAction, Args, Subcommand, ValueEnum};
use corepool_protocol::pcp::request::{Scope, ShutdownMode};
use corepool_protocol::pcp::Request;

use super::Failure;
use client::{Client, ClientError, Target};
use output::Format;

/// Common options, as the pcp_* tools take them.
#[derive(Debug, Args)]
#[command(disable_help_flag = true)]
pub struct PcpArgs {
    #[command(subcommand)]
    command: PcpCommand,
    /// PCP server host, or a directory holding its UNIX socket (default: the socket in /tmp).
    #[arg(short = 'h', long, global = true)]
    host: Option<String>,
    /// PCP port.
    #[arg(short = 'p', long, global = true, default_value_t = 9898)]
    port: u16,
    /// PCP user name (default: the OS user).
    #[arg(short = 'U', long = "username", global = true)]
    username: Option<String>,
    /// Never prompt: take the password from PCPPASSFILE or ~/.pcppass.
    #[arg(short = 'w', long = "no-password", global = true)]
    no_password: bool,
    /// Read the password from standard input (one line) before trying the password file.
    #[arg(short = 'W', long = "password", global = true)]
    password: bool,
    /// Print the reply as JSON.
    #[arg(long, global = true)]
    json: bool,
    /// Print help.
    #[arg(long, global = true, action = ArgAction::Help)]
    help: Option<bool>,
}

/// The commands, one per pcp_* tool.
#[derive(Debug, Subcommand)]
enum PcpCommand {
    /// Number of configured backend nodes (pcp_node_count).
    #[command(disable_help_flag = true)]
    NodeCount,
    /// Backend node status, weight and role (pcp_node_info).
    #[command(disable_help_flag = true)]
    NodeInfo(NodeArg),
    /// Health check statistics of a node (pcp_health_check_stats).
    #[command(disable_help_flag = true)]
    HealthCheckStats(NodeArg),
    /// Watchdog status (pcp_watchdog_info).
    #[command(disable_help_flag = true)]
    WatchdogInfo(NodeArg),
    /// Client sessions' process ids (pcp_proc_count).
    #[command(disable_help_flag = true)]
    ProcCount,
    /// Client sessions (pcp_proc_info).
    #[command(disable_help_flag = true)]
    ProcInfo {
        /// Only this process id.
        #[arg(short = 'P', long = "process-id")]
        pid: Option<i32>,
        /// Also records with no database (pcp_proc_info -a).
        #[arg(short = 'a', long)]
        all: bool,
    },
    /// The configuration in force (pcp_pool_status).
    #[command(disable_help_flag = true)]
    PoolStatus,
    /// Detach a node (pcp_detach_node).
    #[command(disable_help_flag = true)]
    DetachNode {
        #[command(flatten)]
        node: NodeArg,
        /// Wait for clients to disconnect first.
        #[arg(short = 'g', long)]
        gracefully: bool,
    },
    /// Attach a node (pcp_attach_node).
    #[command(disable_help_flag = true)]
    AttachNode(NodeArg),
    /// Promote a standby (pcp_promote_node).
    #[command(disable_help_flag = true)]
    PromoteNode {
        #[command(flatten)]
        node: NodeArg,
        /// Wait for clients to disconnect first.
        #[arg(short = 'g', long)]
        gracefully: bool,
        /// Detach the current primary and let failover_command promote this node.
        #[arg(short = 's', long)]
        switchover: bool,
    },
    /// Stop the server (pcp_stop_pgpool).
    #[command(disable_help_flag = true)]
    StopPgpool {
        /// smart: wait for clients; fast or immediate: end sessions now.
        #[arg(short = 'm', long, value_enum, default_value_t = Mode::Smart)]
        mode: Mode,
        /// local, or the whole watchdog cluster.
        #[arg(short = 's', long, value_enum, default_value_t = ScopeArg::Local)]
        scope: ScopeArg,
    },
    /// Reload the configuration (pcp_reload_config).
    #[command(disable_help_flag = true)]
    ReloadConfig {
        /// local, or the whole watchdog cluster.
        #[arg(short = 's', long, value_enum, default_value_t = ScopeArg::Local)]
        scope: ScopeArg,
    },
    /// Clear the query cache (Pgpool-II 4.6's pcp_invalidate_query_cache).
    #[command(disable_help_flag = true)]
    InvalidateQueryCache,
    /// Online recovery of a node (pcp_recovery_node).
    #[command(disable_help_flag = true)]
    RecoveryNode(NodeArg),
    /// Set a parameter of the PCP session (only client_min_messages).
    #[command(disable_help_flag = true)]
    SetParameter {
        /// Parameter name.
        name: String,
        /// Value.
        value: String,
    },
}

/// `-n N`, or N as the first argument.
#[derive(Debug, Args)]
struct NodeArg {
    /// Node id (all nodes when omitted, where the command allows it).
    #[arg(short = 'n', long = "node-id", allow_negative_numbers = true)]
    node: Option<i32>,
    /// Node id as a positional argument.
    #[arg(value_name = "NODE_ID", allow_negative_numbers = true)]
    positional: Option<i32>,
    /// With node-info: also nodes with no host name.
    #[arg(short = 'a', long)]
    all: bool,
}

impl NodeArg {
    fn id(&self) -> Option<i32> {
        self.node.or(self.positional)
    }

    fn required(&self) -> Result<i32, Failure> {
        self.id()
            .ok_or_else(|| Failure::config(anyhow::anyhow!("a node id is required (-n N)")))
    }
}

/// Stop modes.
#[derive(Debug, Clone, Copy, ValueEnum)]
enum Mode {
    /// Wait for clients to disconnect.
    #[value(alias = "s")]
    Smart,
    /// End sessions now.
    #[value(alias = "f")]
    Fast,
    /// End sessions now, without cleanup.
    #[value(alias = "i")]
    Immediate,
}

/// Scopes of stop and reload.
#[derive(Debug, Clone, Copy, ValueEnum)]
enum ScopeArg {
    /// This server.
    #[value(alias = "l")]
    Local,
    /// Every watchdog member.
    #[value(alias = "c")]
    Cluster,
}

impl From<ScopeArg> for Scope {
    fn from(s: ScopeArg) -> Scope {
        match s {
            ScopeArg::Local => Scope::Local,
            ScopeArg::Cluster => Scope::Cluster,
        }
    }
}

/// Runs one PCP command; `verbose` selects the tools' verbose layout.
pub fn run(args: PcpArgs, verbose: bool) -> Result<(), Failure> {
    let format = if args.json {
        Format::Json
    } else if verbose {
        Format::Verbose
    } else {
        Format::Human
    };
    let request = build_request(&args.command)?;
    let user = args.username.clone().unwrap_or_else(os_user);
    let password = password(&args, &user)?;
    let target = Target::new(args.host.as_deref(), args.port);
    let mut client = Client::connect(&target, &user, &password).map_err(failure)?;
    let reply = client.call(&request);
    client.close();
    let packets = reply.map_err(failure)?;
    let all = match &args.command {
        PcpCommand::NodeInfo(n) => n.all,
        PcpCommand::ProcInfo { all, .. } => *all,
        _ => false,
    };
    let text = output::render(&request, &packets, format, all).map_err(|e| failure(e.into()))?;
    print!("{text}");
    Ok(())
}

fn build_request(command: &PcpCommand) -> Result<Request<'_>, Failure> {
    Ok(match command {
        PcpCommand::NodeCount => Request::NodeCount,
        PcpCommand::NodeInfo(n) => Request::NodeInfo {
            node_id: n.id().unwrap_or(-1),
        },
        PcpCommand::HealthCheckStats(n) => Request::HealthCheckStats {
            node_id: n.required()?,
        },
        PcpCommand::WatchdogInfo(n) => Request::WatchdogInfo {
            watchdog_id: n.id().unwrap_or(-1),
        },
        PcpCommand::ProcCount => Request::ProcessCount,
        PcpCommand::ProcInfo { pid, .. } => Request::ProcessInfo {
            pid: pid.unwrap_or(0),
        },
        PcpCommand::PoolStatus => Request::PoolStatus,
        PcpCommand::DetachNode { node, gracefully } => Request::DetachNode {
            node_id: node.required()?,
            gracefully: *gracefully,
        },
        PcpCommand::AttachNode(n) => Request::AttachNode {
            node_id: n.required()?,
        },
        PcpCommand::PromoteNode {
            node,
            gracefully,
            switchover,
        } => Request::PromoteNode {
            node_id: node.required()?,
            gracefully: *gracefully,
            switchover: *switchover,
        },
        PcpCommand::StopPgpool { mode, scope } => Request::StopPgpool {
            mode: match mode {
                Mode::Smart => ShutdownMode::Smart,
                Mode::Fast => ShutdownMode::Fast,
                Mode::Immediate => ShutdownMode::Immediate,
            },
            scope: (*scope).into(),
        },
        PcpCommand::ReloadConfig { scope } => Request::ReloadConfig {
            scope: (*scope).into(),
        },
        PcpCommand::InvalidateQueryCache => Request::InvalidateQueryCache,
        PcpCommand::RecoveryNode(n) => Request::RecoveryNode {
            node_id: n.required()?,
        },
        PcpCommand::SetParameter { name, value } => Request::SetParameter { name, value },
    })
}

/// `-W` reads a line from stdin; otherwise (and if that line is empty) the password file;
/// nothing found is the empty password, as libpcp does.
fn password(args: &PcpArgs, user: &str) -> Result<String, Failure> {
    if args.password && !args.no_password {
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .map_err(|e| Failure::config(anyhow::anyhow!("could not read the password: {e}")))?;
        let typed = line.trim_end_matches(['\r', '\n']);
        if !typed.is_empty() {
            return Ok(typed.to_owned());
        }
    }
    let file = pcppass::path(
        std::env::var_os("PCPPASSFILE").map(PathBuf::from),
        std::env::var_os("HOME").map(PathBuf::from),
    );
    let host = pcppass::host_key(args.host.as_deref());
    Ok(file
        .and_then(|f| pcppass::read(&f, host, args.port, user))
        .unwrap_or_default())
}

fn os_user() -> String {
    std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .unwrap_or_else(|_| "postgres".into())
}

fn failure(e: ClientError) -> Failure {
    let code = match &e {
        ClientError::Connect { .. } => 69,
        ClientError::Auth(_) => 77,
        _ => 1,
    };
    Failure {
        error: e.into(),
        code,
    }
}

#[cfg(test)]
mod tests {
    use crate::cmd::{Cli, Command};
    use clap::Parser;

    #[test]
    fn a_repeated_option_takes_its_last_value_like_the_pcp_tools() {
        let argv = [
            "corepool",
            "pcp",
            "node-info",
            "-h",
            "a",
            "-p",
            "1",
            "-h",
            "b",
            "-p",
            "2",
            "0",
        ];
        let Ok(Command::Pcp(p)) = Cli::try_parse_from(argv).map(|c| c.command) else {
            panic!("not parsed as pcp");
        };
        assert_eq!((p.host.as_deref(), p.port), (Some("b"), 2));
    }
}
