//! `corepool demo`: a local primary + streaming standby in temp dirs, corepool in front, with
//! PCP (a user and a fresh password, printed) and the metrics address with its status page.

use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Args;
use corepool_engine::auth::pcp_conf::PcpUsers;
use corepool_engine::config::Config;
use corepool_engine::server::{self, ServeOptions};
use corepool_testkit::Cluster;

use super::Failure;

/// The demo's PCP user.
const PCP_USER: &str = "pcpadmin";

/// What the demo starts.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Port for corepool (0 picks a free one).
    #[arg(short, long, default_value_t = 0)]
    port: u16,
    /// Port for PCP (0 picks a free one).
    #[arg(long, default_value_t = 0)]
    pcp_port: u16,
    /// Port of the metrics endpoint and status page (0 picks a free one).
    #[arg(long, default_value_t = 0)]
    metrics_port: u16,
    /// Number of streaming standbys.
    #[arg(long, default_value_t = 1)]
    standbys: usize,
}

/// Starts the cluster and the proxy, prints how to connect, and runs until Ctrl-C.
pub fn run(args: DemoArgs) -> Result<(), Failure> {
    eprintln!(
        "corepool demo: starting a PostgreSQL primary and {} streaming standby(s)…",
        args.standbys
    );
    let cluster = Cluster::builder()
        .standbys(args.standbys)
        .start()
        .context("could not start the PostgreSQL cluster")
        .map_err(Failure::unavailable)?;
    let pick = |p: u16| {
        if p == 0 {
            corepool_testkit::free_port()
        } else {
            p
        }
    };
    let (port, pcp_port, metrics_port) = (
        pick(args.port),
        pick(args.pcp_port),
        pick(args.metrics_port),
    );

    // corepool's files live beside the servers' and go with them.
    let dir = cluster.root_dir().join("corepool");
    std::fs::create_dir_all(&dir).context("could not create the demo's corepool directory")?;
    let password = fresh_password()?;
    let pcp = write_pcp_files(&dir, &password)?;

    let backends: Vec<(String, u16)> = cluster
        .nodes()
        .iter()
        .map(|n| (n.host().to_owned(), n.port()))
        .collect();
    let mut config = Config::local(port, &backends, "postgres");
    // The demo cluster trusts local connections: health checks can log in as the superuser.
    config.health_check.user = "postgres".into();
    config.health_check.period = std::time::Duration::from_secs(5);
    config.load_balance_mode = true;
    config.logdir = dir.display().to_string();
    config.pcp_listen_addresses = vec!["127.0.0.1".into()];
    config.pcp_port = pcp_port;
    config.pcp_unix_socket_directories = vec![dir.display().to_string()];
    config.corepool_metrics_address = format!("127.0.0.1:{metrics_port}");
    let options = ServeOptions {
        pcp_file: Some(pcp.conf),
        ..ServeOptions::default()
    };
    let running = server::start(config, options).map_err(Failure::unavailable)?;

    println!();
    println!("corepool is running on 127.0.0.1:{port} in front of:");
    for (i, n) in cluster.nodes().iter().enumerate() {
        let role = if i == 0 { "primary" } else { "standby" };
        println!(
            "  node {i}: {role} at {}:{}  (data: {})",
            n.host(),
            n.port(),
            n.data_dir().display()
        );
    }
    println!("PCP on 127.0.0.1:{pcp_port}: user {PCP_USER}, password {password}");
    println!("Status page on http://127.0.0.1:{metrics_port}/ (also /status.json and /metrics)");
    println!();
    println!("Try:");
    println!("  psql -h 127.0.0.1 -p {port} -U postgres postgres");
    println!(
        "  PCPPASSFILE={} {} pcp node-info -h 127.0.0.1 -p {pcp_port} -U {PCP_USER} -w",
        pcp.passfile.display(),
        corepool_command()
    );
    println!("  open http://127.0.0.1:{metrics_port}/ in a browser");
    println!();
    println!("Press Ctrl-C to stop corepool and the servers (their temp dirs are removed).");
    running.wait().map_err(Failure::unavailable)?;
    drop(cluster);
    Ok(())
}

/// The demo's pcp.conf and a PCPPASSFILE for the printed command.
struct PcpFiles {
    conf: PathBuf,
    passfile: PathBuf,
}

fn write_pcp_files(dir: &Path, password: &str) -> Result<PcpFiles, Failure> {
    let conf = dir.join("pcp.conf");
    let hash = PcpUsers::hash_password(password);
    std::fs::write(&conf, format!("{PCP_USER}:{hash}\n")).context("could not write pcp.conf")?;
    let passfile = dir.join("pcppass");
    std::fs::write(&passfile, format!("*:*:{PCP_USER}:{password}\n"))
        .context("could not write the PCP password file")?;
    // libpcp ignores a password file others can read.
    std::fs::set_permissions(&passfile, std::fs::Permissions::from_mode(0o600))
        .context("could not restrict the PCP password file")?;
    Ok(PcpFiles { conf, passfile })
}

/// Twelve random hex digits from the kernel.
fn fresh_password() -> Result<String, Failure> {
    let mut bytes = [0u8; 6];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .context("could not read /dev/urandom")?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// How to run this binary again: `corepool` when that is what PATH finds, else its path.
fn corepool_command() -> String {
    let me = std::env::current_exe().ok();
    let on_path = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|p| p.join("corepool"))
            .find(|p| p.exists())
    });
    match (me, on_path) {
        (Some(me), Some(found)) if found.canonicalize().ok() == me.canonicalize().ok() => {
            "corepool".into()
        }
        (Some(me), _) => me.display().to_string(),
        _ => "corepool".into(),
    }
}
