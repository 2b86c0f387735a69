//! `corepool demo`: a local primary + streaming standby in temp dirs, corepool in front.

use anyhow::Context;
use clap::Args;
use corepool_engine::config::Config;
use corepool_engine::server::{self, ServeOptions};
use corepool_testkit::Cluster;

use super::Failure;

/// What the demo starts.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Port for corepool (0 picks a free one).
    #[arg(short, long, default_value_t = 0)]
    port: u16,
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
    let port = if args.port == 0 {
        corepool_testkit::free_port()
    } else {
        args.port
    };

    let backends: Vec<(String, u16)> = cluster
        .nodes()
        .iter()
        .map(|n| (n.host().to_owned(), n.port()))
        .collect();
    let mut config = Config::local(port, &backends, "postgres");
    // The demo cluster trusts local connections: health checks can log in as the superuser.
    config.health_check.user = "postgres".into();
    config.health_check.period = std::time::Duration::from_secs(5);
    config.logdir = std::env::temp_dir().display().to_string();
    let running = server::start(config, ServeOptions::default()).map_err(Failure::unavailable)?;

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
    println!();
    println!("Connect with:");
    println!("  psql -h 127.0.0.1 -p {port} -U postgres postgres");
    println!();
    println!("Press Ctrl-C to stop corepool and the servers (their temp dirs are removed).");
    running.wait().map_err(Failure::unavailable)?;
    drop(cluster);
    Ok(())
}
