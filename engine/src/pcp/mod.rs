//! The PCP server: Pgpool-II 4.3's administration protocol on `pcp_port` and
//! `<pcp_socket_dir>/.s.PGSQL.<pcp_port>`, for the `pcp_*` tools, pgpool_adm and `corepool pcp`.
//!
//! # Layout
//! - this file: [`PcpContext`] (what every request may touch) and [`start`] (listeners and
//!   accept threads).
//! - `conn`: one connection: read a packet, md5 login through the protocol crate's
//!   `ServerAuth`, dispatch, write the reply.
//! - `info`: read-only answers (node count and info, health check stats, processes, pool
//!   status, watchdog).
//! - `admin`: state-changing answers (detach, attach, promote, stop, reload, recovery, set
//!   parameter), through [`crate::failover`] and [`crate::recovery`].
//! - `pool_status`: the configuration rows; `time`: local-time formatting.
//!
//! The server runs on its own threads, not on a shard: PCP is rare admin traffic whose work
//! blocks by nature (failover commands, waiting for clients to leave, probing backends), and
//! Pgpool-II itself gives every PCP connection its own process. Keeping it off the executors
//! means a slow PCP request never stalls client traffic, with blocking std sockets and no
//! async machinery. Each accepted connection gets a thread; accept loops poll for shutdown.

mod admin;
mod conn;
mod info;
mod reply;

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener};
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::auth::files::{AuthFiles, AuthSource};
use crate::auth::pcp_conf::PcpUsers;
use crate::cluster::{ClusterState, ShutdownMode};
use crate::config::Config;
use crate::failover::Failover;

/// What the PCP server works with.
pub struct PcpContext {
    /// Failover machinery (and through it the cluster state and configuration).
    pub failover: Arc<Failover>,
    /// pcp.conf's path, re-read on reload.
    pub pcp_file: PathBuf,
    users: Mutex<Arc<PcpUsers>>,
    /// pool_passwd and the pool key in force, for online recovery's recovery_user.
    auth: AuthSource,
    /// Runs the server's reload (the same as SIGHUP).
    reload: Box<dyn Fn() + Send + Sync>,
}

impl std::fmt::Debug for PcpContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PcpContext")
            .field("pcp_file", &self.pcp_file)
            .finish_non_exhaustive()
    }
}

impl PcpContext {
    /// A context with the users of `pcp_file` (read now), the authentication files of `auth`
    /// and the server's `reload` action.
    pub fn new(
        failover: Arc<Failover>,
        pcp_file: PathBuf,
        auth: AuthSource,
        reload: Box<dyn Fn() + Send + Sync>,
    ) -> Result<Self, crate::auth::pcp_conf::PcpConfError> {
        let users = PcpUsers::load(&pcp_file)?;
        Ok(Self {
            failover,
            pcp_file,
            users: Mutex::new(Arc::new(users)),
            auth,
            reload,
        })
    }

    /// The authentication files in force (pool_passwd, the pool key, TLS).
    pub fn auth(&self) -> Arc<AuthFiles> {
        (self.auth)()
    }

    /// The cluster state.
    pub fn state(&self) -> &Arc<ClusterState> {
        self.failover.state()
    }

    /// The configuration in force.
    pub fn config(&self) -> Arc<Config> {
        self.failover.config()
    }

    /// The PCP users in force.
    pub fn users(&self) -> Arc<PcpUsers> {
        match self.users.lock() {
            Ok(g) => g.clone(),
            Err(p) => p.into_inner().clone(),
        }
    }

    /// Reloads the configuration (as SIGHUP does) and pcp.conf (a broken pcp.conf keeps the
    /// users in force).
    pub fn reload(&self) {
        (self.reload)();
        self.reload_users();
    }

    /// Re-reads pcp.conf.
    pub fn reload_users(&self) {
        match PcpUsers::load(&self.pcp_file) {
            Ok(u) => match self.users.lock() {
                Ok(mut g) => *g = Arc::new(u),
                Err(p) => *p.into_inner() = Arc::new(u),
            },
            Err(e) => {
                tracing::error!(error = %e, "pcp.conf reload failed; keeping the users in force")
            }
        }
    }
}

/// The running PCP server's listeners.
#[derive(Debug)]
pub struct PcpHandle {
    /// Bound TCP addresses (ports resolved).
    pub tcp: Vec<SocketAddr>,
    /// The UNIX socket file, if one was bound.
    pub unix: Option<PathBuf>,
    threads: Vec<JoinHandle<()>>,
}

impl PcpHandle {
    /// Waits for the accept threads (they end soon after a shutdown request).
    pub fn join(self) {
        for t in self.threads {
            let _ = t.join();
        }
    }
}

/// Binds pcp_listen_addresses:pcp_port and the UNIX socket and starts the accept threads.
/// A TCP bind failure is an error; a UNIX socket that cannot be bound is logged.
pub fn start(ctx: Arc<PcpContext>, config: &Config) -> io::Result<PcpHandle> {
    let mut tcp = Vec::new();
    let mut listeners = Vec::new();
    let mut port = config.pcp_port;
    for addr in listen_addrs(&config.pcp_listen_addresses, port)? {
        let addr = SocketAddr::new(addr.ip(), port);
        let l = TcpListener::bind(addr)
            .map_err(|e| io::Error::new(e.kind(), format!("PCP: could not bind {addr}: {e}")))?;
        let local = l.local_addr()?;
        // With port 0, every further address uses the port the kernel chose first.
        port = local.port();
        l.set_nonblocking(true)?;
        tcp.push(local);
        listeners.push(l);
    }
    let mut threads = Vec::new();
    for l in listeners {
        let ctx = ctx.clone();
        threads.push(spawn("corepool-pcp-accept", move || accept_tcp(ctx, l))?);
    }
    let mut unix = None;
    if let Some(dir) = config
        .pcp_unix_socket_directories
        .first()
        .filter(|d| !d.is_empty())
    {
        let path = Path::new(dir).join(format!(".s.PGSQL.{port}"));
        let _ = std::fs::remove_file(&path);
        match UnixListener::bind(&path).and_then(|l| l.set_nonblocking(true).map(|()| l)) {
            Ok(l) => {
                let ctx = ctx.clone();
                let p = path.clone();
                threads.push(spawn("corepool-pcp-accept", move || {
                    accept_unix(ctx, l, p)
                })?);
                unix = Some(path);
            }
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "PCP: could not listen on UNIX socket")
            }
        }
    }
    tracing::info!(addresses = ?tcp, unix = ?unix, "PCP server listening");
    Ok(PcpHandle { tcp, unix, threads })
}

fn spawn(name: &str, f: impl FnOnce() + Send + 'static) -> io::Result<JoinHandle<()>> {
    std::thread::Builder::new().name(name.into()).spawn(f)
}

/// How often accept loops look at the shutdown flag.
const POLL: Duration = Duration::from_millis(50);

fn accept_tcp(ctx: Arc<PcpContext>, l: TcpListener) {
    while ctx.state().shutdown() == ShutdownMode::None {
        match l.accept() {
            Ok((s, _)) => {
                let _ = s.set_nodelay(true);
                let _ = s.set_nonblocking(false);
                let ctx = ctx.clone();
                if let Err(e) = spawn("corepool-pcp", move || conn::serve(ctx, s)) {
                    tracing::error!(error = %e, "PCP: could not start a connection thread");
                }
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => std::thread::sleep(POLL),
            Err(e) => {
                tracing::warn!(error = %e, "PCP: accept failed");
                std::thread::sleep(POLL);
            }
        }
    }
}

fn accept_unix(ctx: Arc<PcpContext>, l: UnixListener, path: PathBuf) {
    while ctx.state().shutdown() == ShutdownMode::None {
        match l.accept() {
            Ok((s, _)) => {
                let _ = s.set_nonblocking(false);
                let ctx = ctx.clone();
                if let Err(e) = spawn("corepool-pcp", move || conn::serve(ctx, s)) {
                    tracing::error!(error = %e, "PCP: could not start a connection thread");
                }
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => std::thread::sleep(POLL),
            Err(e) => {
                tracing::warn!(error = %e, "PCP: accept failed");
                std::thread::sleep(POLL);
            }
        }
    }
    let _ = std::fs::remove_file(path);
}

/// pcp_listen_addresses → addresses: `*` all IPv4, `localhost` the loopback, IPs as given,
/// other names resolved (first address).
fn listen_addrs(list: &[String], port: u16) -> io::Result<Vec<SocketAddr>> {
    let mut out = Vec::new();
    for a in list.iter().map(|a| a.trim()) {
        let ip = match a {
            "" => continue,
            "*" => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            "localhost" => IpAddr::V4(Ipv4Addr::LOCALHOST),
            "::" => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
            other => match other.parse::<IpAddr>() {
                Ok(ip) => ip,
                Err(_) => {
                    use std::net::ToSocketAddrs;
                    match (other, port).to_socket_addrs()?.next() {
                        Some(s) => s.ip(),
                        None => continue,
                    }
                }
            },
        };
        let s = SocketAddr::new(ip, port);
        if !out.contains(&s) {
            out.push(s);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listen_addresses_resolve_like_pgpool() {
        let list = [
            "localhost".to_owned(),
            "*".to_owned(),
            "10.1.2.3".to_owned(),
        ];
        let got = listen_addrs(&list, 9898).unwrap();
        assert_eq!(got[0], "127.0.0.1:9898".parse().unwrap());
        assert_eq!(got[1], "0.0.0.0:9898".parse().unwrap());
        assert_eq!(got[2], "10.1.2.3:9898".parse().unwrap());
        assert!(listen_addrs(&[String::new()], 1).unwrap().is_empty());
    }
}
