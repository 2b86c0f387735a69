//! Real PostgreSQL clusters (a primary plus streaming standbys) on 127.0.0.1 for tests.
//!
//! corepool's integration tests, benches and `corepool demo` need real servers: this crate runs
//! the installed PostgreSQL's own `initdb`, `pg_ctl`, `pg_basebackup` and `psql`, each node in
//! a temporary directory on a free port, and tears everything down on drop, even when a test
//! panics (printing the end of each server log first). It does not speak the wire protocol
//! itself (tests bring their own client, or use [`Node::psql`]) and it does not manage
//! long-lived installations.
//!
//! ```no_run
//! use corepool_testkit::Cluster;
//!
//! let cluster = Cluster::builder().standbys(1).start()?;
//! let (primary, standby) = (cluster.primary(), &cluster.standbys()[0]);
//! primary.psql("postgres", "CREATE TABLE t (x int); INSERT INTO t VALUES (1)")?;
//! standby.wait_caught_up(primary)?;
//! assert_eq!(standby.psql("postgres", "SELECT x FROM t")?, "1");
//! # Ok::<(), corepool_testkit::Error>(())
//! ```
//!
//! # Running as root
//! PostgreSQL refuses to run as root, and CI does. When the effective uid is 0, every
//! PostgreSQL program runs as `postgres` if that user exists, otherwise as `corepool` (created
//! with `useradd --system --no-create-home`), through `CommandExt::uid`/`gid`; the temporary
//! directories are `chown`ed to it. [`Cluster::command`] prepares other programs (`pgbench`,
//! `pg_verifybackup`) the same way.
//!
//! # Layout
//! - [`cluster`]: [`ClusterBuilder`] and [`Cluster`]: `initdb` the primary, write its
//!   postgresql.conf and pg_hba.conf ([`conf`]), clone standbys with `pg_basebackup`, and tear
//!   down on drop.
//! - [`node`]: one server: addresses, `psql`, start/stop/kill/promote, replay waits ([`Lsn`]).
//! - [`install`]: finds the binaries and the user to run them as ([`PgInstall`]).
//! - `exec`: runs child programs with a deadline and polls conditions with a timeout; every
//!   wait in the crate goes through it, so nothing waits forever.
//! - `sys`: the only `unsafe` (effective uid, SIGKILL).
//! - [`error`]: the crate's [`Error`].
//!
//! Data moves one way: the builder's settings become files in the data directory, the node
//! runs programs from [`PgInstall`] through `exec`, and their output comes back as `String`s or
//! typed values ([`Lsn`], `bool`).
#![deny(unsafe_code)]
#![warn(missing_docs)]

pub mod cluster;
pub mod conf;
pub mod error;
pub mod etcd;
mod exec;
pub mod install;
pub mod lsn;
pub mod netns;
pub mod node;
mod sys;

pub use cluster::{psql_result, quiet_psql_args, Cluster, ClusterBuilder};
pub use conf::AuthMethod;
pub use error::Error;
pub use etcd::EtcdCluster;
pub use install::{PgInstall, RunAs};
pub use lsn::Lsn;
pub use netns::Netns;
pub use node::Node;

use std::net::{Ipv4Addr, TcpListener};

/// A TCP port on 127.0.0.1 that was free a moment ago (found by binding port 0). Another
/// process may take it before you bind it; the testkit retries server starts on a new port
/// when that happens.
///
/// # Panics
/// If binding 127.0.0.1:0 fails, which means the loopback interface is unusable.
pub fn free_port() -> u16 {
    // Ports below the kernel's ephemeral range: a port the kernel handed out for `:0` and took
    // back is soon the local port of some outgoing connection (pgbench, psql, our own clients),
    // and a server binding it then fails with "address in use". Picked at random (other test
    // processes pick too) and checked free by binding it.
    let low = ephemeral_low().unwrap_or(32768).clamp(12000, 65000);
    let mut seed = std::process::id() as u64 ^ nanos();
    for _ in 0..200 {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let port = 10000 + (seed >> 33) as u16 % (low - 10000);
        // Never the same port twice in one process: tests running side by side (the HA
        // harness takes a score of ports per test) would otherwise pick a port another has
        // been given but not bound yet.
        if TcpListener::bind((Ipv4Addr::LOCALHOST, port)).is_ok() && claim(port) {
            return port;
        }
    }
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .expect("bind 127.0.0.1:0")
}

/// Records `port` as handed out by this process; false when it already was.
fn claim(port: u16) -> bool {
    static GIVEN: std::sync::Mutex<Vec<u16>> = std::sync::Mutex::new(Vec::new());
    let mut given = GIVEN
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if given.contains(&port) {
        return false;
    }
    given.push(port);
    true
}

/// The first port of the kernel's ephemeral range (`ip_local_port_range`).
fn ephemeral_low() -> Option<u16> {
    let text = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range").ok()?;
    text.split_whitespace().next()?.parse().ok()
}

fn nanos() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    #[test]
    fn free_port_is_nonzero() {
        assert_ne!(super::free_port(), 0);
    }

    #[test]
    fn free_port_never_repeats_in_one_process() {
        let ports: Vec<u16> = (0..200).map(|_| super::free_port()).collect();
        let distinct: std::collections::HashSet<_> = ports.iter().collect();
        assert_eq!(distinct.len(), ports.len());
    }
}
