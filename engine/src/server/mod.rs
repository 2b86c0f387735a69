//! Starting and stopping the proxy: shards, listeners, signals, reload, the pid file.
//!
//! `serve` runs on the main thread: it checks the ports, builds the shared cluster state, starts
//! one shard per core, waits until every shard has bound its listener, then waits for a stop
//! signal. Each shard accepts on the same port (SO_REUSEPORT) and serves its own clients.

mod accept;
mod signals;

pub use signals::{action_for, SignalAction};

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::auth::files::AuthFiles;
use crate::cluster::{ClusterState, Node, NodeAddress, NodeStatus, ShutdownMode};
use crate::config::Config;
use crate::failover::Failover;
use crate::runtime::{self, ExecutorSettings, Listener, StartGate, UnixListener};
use crate::shard::Shard;
use accept::{accept_loop, AnyListener};

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// A listen address could not be bound (in use, or not an address of this host).
    #[error("{0}")]
    Bind(io::Error),
    /// A shard failed to start.
    #[error("could not start shard: {0}")]
    Shard(String),
    /// The configuration cannot be served (e.g. no backend).
    #[error("invalid configuration: {0}")]
    Config(String),
    /// Files (pid file, pool_passwd, pool_hba.conf) could not be read or written.
    #[error("{0}")]
    Io(io::Error),
}

/// What `serve` needs besides the configuration.
#[derive(Debug, Clone, Default)]
pub struct ServeOptions {
    /// The pgpool.conf path, re-read on SIGHUP. `None`: reload keeps the current settings.
    pub config_path: Option<PathBuf>,
    /// pool_hba.conf; default `pool_hba.conf` beside pgpool.conf.
    pub hba_file: Option<PathBuf>,
    /// pcp.conf; default `pcp.conf` beside pgpool.conf.
    pub pcp_file: Option<PathBuf>,
    /// Ignore (and delete) the pgpool_status file: every node starts up.
    pub discard_status: bool,
    /// Told when a reload (SIGHUP, pcp_reload_config) starts and ends, e.g. to tell systemd.
    pub on_reload: Option<ReloadHook>,
    /// Receive buffers per shard (a power of two) instead of the runtime's 1,024: for tests
    /// and benchmarks that make them scarce.
    pub receive_buffers: Option<usize>,
}

/// Where a reload is, for [`ReloadHook`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReloadPhase {
    /// The files are about to be read again.
    Started,
    /// The reload is done (applied, or refused and the running configuration kept).
    Finished,
}

/// A callback run on the reloading thread at each [`ReloadPhase`].
#[derive(Clone)]
pub struct ReloadHook(pub Arc<dyn Fn(ReloadPhase) + Send + Sync>);

impl std::fmt::Debug for ReloadHook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ReloadHook(..)")
    }
}

/// Where the running server listens (ports resolved, e.g. when port 0 was asked for in tests).
#[derive(Debug, Clone)]
pub struct Bound {
    /// TCP listen addresses.
    pub tcp: Vec<SocketAddr>,
    /// PCP TCP addresses (empty when PCP is off: no pcp.conf).
    pub pcp: Vec<SocketAddr>,
    /// The PCP UNIX socket file, if bound.
    pub pcp_unix: Option<PathBuf>,
    /// The metrics endpoint, when `corepool_metrics_address` is set.
    pub metrics: Option<SocketAddr>,
}

/// Runs the proxy until a stop signal (or `state.request_shutdown`). Blocks the calling thread.
pub fn serve(config: Config, options: ServeOptions) -> Result<(), ServeError> {
    let started = start(config, options)?;
    started.wait()
}

/// A started server: its shared state and shard threads.
pub struct Running {
    /// State shared by all shards; request_shutdown on it stops the server.
    pub state: Arc<ClusterState>,
    /// Bound addresses.
    pub bound: Bound,
    /// Failover, failback and promotion over `state` (PCP and the health check use it).
    pub failover: Arc<crate::failover::Failover>,
    pcp: Option<crate::pcp::PcpHandle>,
    shards: Vec<runtime::ShardHandle>,
    pid_file: Option<PathBuf>,
    watchdog: Option<Arc<crate::watchdog::Watchdog>>,
}

impl Running {
    /// Waits for every shard to end, then removes the pid file.
    pub fn wait(self) -> Result<(), ServeError> {
        let mut first_err = None;
        for s in self.shards {
            if let Err(e) = s.join() {
                first_err.get_or_insert(ServeError::Shard(e.to_string()));
            }
        }
        if let Some(pcp) = self.pcp {
            pcp.join();
        }
        // The watchdog de-escalates and leaves etcd before the process ends.
        if let Some(w) = &self.watchdog {
            w.join();
        }
        if let Some(p) = self.pid_file {
            let _ = std::fs::remove_file(p);
        }
        match first_err {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}

/// Starts the proxy and returns once every shard listens.
pub fn start(config: Config, options: ServeOptions) -> Result<Running, ServeError> {
    if config.backends.is_empty() {
        return Err(ServeError::Config(
            "no backend node is configured (set backend_hostname0 and backend_port0)".into(),
        ));
    }
    let addrs = listen_socket_addrs(&config)?;
    for a in &addrs {
        runtime::check_port_free(*a).map_err(ServeError::Bind)?;
    }
    match runtime::raise_fd_limit() {
        Ok(n) => tracing::debug!(rlimit.nofile = n, "file descriptor limit"),
        Err(e) => tracing::warn!(error = %e, "could not raise the file descriptor limit"),
    }
    let auth =
        Arc::new(AuthFiles::load(&config, options.hba_file.as_deref()).map_err(ServeError::Io)?);
    let signals = signals::SignalCatcher::catch().map_err(ServeError::Io)?;
    let mut settings = ExecutorSettings {
        shards: config.corepool_cores as usize,
        ..ExecutorSettings::default()
    };
    if let Some(n) = options.receive_buffers {
        settings.ring.buffers = n;
    }
    let shards = settings.shard_count();
    let nodes = build_nodes(&config);
    if config.memory_cache_enabled
        && config.memqcache_method == crate::config::MemqcacheMethod::Memcached
    {
        tracing::warn!(
            "memqcache_method = memcached is not supported; the query cache is off (use shmem)"
        );
    }
    let state = Arc::new(
        ClusterState::new(nodes, shards, config.num_init_children.max(1) as usize)
            .with_query_cache(config.query_cache()),
    );
    crate::failover::status_file::load_at_start(&state, &config.logdir, options.discard_status);

    let config = Arc::new(config);
    let reload_box: Arc<Mutex<(Arc<Config>, Arc<AuthFiles>)>> =
        Arc::new(Mutex::new((config.clone(), auth.clone())));
    let failover = build_failover(&state, &reload_box);
    crate::health::primary::mark_at_start(&state, &config, failover.probe());
    let watchdog = if config.use_watchdog {
        let w = crate::watchdog::Watchdog::start(&failover, &config)
            .map_err(|e| ServeError::Config(e.to_string()))?;
        Some(w)
    } else {
        None
    };
    let (gate, reports) = StartGate::new();
    let unix_dir = config
        .unix_socket_directories
        .first()
        .cloned()
        .filter(|d| !d.is_empty());

    let handles = {
        let state = state.clone();
        let gate = gate.clone();
        let reload_box = reload_box.clone();
        let addrs = addrs.clone();
        let failover = failover.clone();
        runtime::start_shards(&settings, move |id| {
            let state = state.clone();
            let gate = gate.clone();
            let reload_box = reload_box.clone();
            let addrs = addrs.clone();
            let unix_dir = unix_dir.clone();
            let failover = failover.clone();
            async move { run_shard(id, state, gate, reload_box, addrs, unix_dir, failover).await }
        })
        .map_err(|e| ServeError::Shard(e.to_string()))?
    };

    // Wait for every shard's bind report, then open or close the gate.
    let mut failure = None;
    for _ in 0..shards {
        match reports.recv_timeout(Duration::from_secs(30)) {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                failure.get_or_insert(e);
            }
            Err(_) => {
                failure.get_or_insert("a shard did not report within 30 s".into());
                break;
            }
        }
    }
    gate.decide(failure.is_none());
    if let Some(e) = failure {
        state.request_shutdown(ShutdownMode::Immediate);
        for h in handles {
            let _ = h.join();
        }
        return Err(ServeError::Bind(io::Error::other(e)));
    }

    let pid_file = (!config.pid_file_name.is_empty()).then(|| PathBuf::from(&config.pid_file_name));
    if let Some(p) = &pid_file {
        if let Err(e) = std::fs::write(p, format!("{}\n", std::process::id())) {
            tracing::warn!(path = %p.display(), error = %e, "could not write pid file");
        }
    }
    let path = options.config_path.clone();
    let hba_path = options.hba_file.clone();
    let state_for_signals = state.clone();
    let reload_target = reload_box.clone();
    let reload_state = state.clone();
    let hook = options.on_reload.clone();
    let reload_now: Arc<dyn Fn() + Send + Sync> = Arc::new(move || {
        let tell = |phase| hook.as_ref().map(|h| (h.0)(phase));
        tell(ReloadPhase::Started);
        reload(
            path.as_deref(),
            hba_path.as_deref(),
            &reload_target,
            &reload_state,
        );
        tell(ReloadPhase::Finished);
    });
    let pcp = match start_admin(&failover, &reload_box, &options, &config, &reload_now) {
        Ok(started) => started,
        Err(e) => {
            state.request_shutdown(ShutdownMode::Immediate);
            for h in handles {
                let _ = h.join();
            }
            return Err(e);
        }
    };
    let metrics = match start_metrics(&config, &state) {
        Ok(m) => m,
        Err(e) => {
            state.request_shutdown(ShutdownMode::Immediate);
            for h in handles {
                let _ = h.join();
            }
            return Err(e);
        }
    };
    let on_signal = reload_now.clone();
    signals
        .spawn(state_for_signals, move || on_signal())
        .map_err(ServeError::Io)?;
    tracing::info!(shards, addresses = ?addrs, "corepool is accepting connections");
    let (pcp_tcp, pcp_unix) = pcp
        .as_ref()
        .map(|p| (p.tcp.clone(), p.unix.clone()))
        .unwrap_or_default();
    Ok(Running {
        state,
        bound: Bound {
            tcp: addrs,
            pcp: pcp_tcp,
            pcp_unix,
            metrics,
        },
        failover,
        pcp,
        shards: handles,
        pid_file,
        watchdog,
    })
}

/// Starts the Prometheus endpoint when `corepool_metrics_address` (`host:port`) is set.
fn start_metrics(
    config: &Config,
    state: &Arc<ClusterState>,
) -> Result<Option<SocketAddr>, ServeError> {
    let address = config.corepool_metrics_address.trim();
    if address.is_empty() {
        return Ok(None);
    }
    use std::net::ToSocketAddrs;
    let addr = address
        .to_socket_addrs()
        .ok()
        .and_then(|mut a| a.next())
        .ok_or_else(|| {
            ServeError::Config(format!(
                "corepool_metrics_address: cannot resolve \"{address}\""
            ))
        })?;
    let (bound, _thread) = crate::metrics::serve_metrics(addr, state.clone()).map_err(|e| {
        ServeError::Bind(io::Error::new(
            e.kind(),
            format!("metrics endpoint {addr}: {e}"),
        ))
    })?;
    tracing::info!(address = %bound, "metrics endpoint listening");
    Ok(Some(bound))
}

type ReloadBox = Arc<Mutex<(Arc<Config>, Arc<AuthFiles>)>>;

/// The failover machinery over `state`, reading the configuration in force from `reload_box`.
fn build_failover(state: &Arc<ClusterState>, reload_box: &ReloadBox) -> Arc<Failover> {
    let source = reload_box.clone();
    let config_source: crate::failover::ConfigSource = Arc::new(move || match source.lock() {
        Ok(g) => g.0.clone(),
        Err(p) => p.into_inner().0.clone(),
    });
    Arc::new(Failover::new(
        state.clone(),
        config_source,
        Arc::new(crate::health::probe::ClientProbe::new(auth_source(
            reload_box,
        ))),
    ))
}

/// The authentication files in force, read from `reload_box`.
fn auth_source(reload_box: &ReloadBox) -> crate::auth::files::AuthSource {
    let source = reload_box.clone();
    Arc::new(move || match source.lock() {
        Ok(g) => g.1.clone(),
        Err(p) => p.into_inner().1.clone(),
    })
}

/// Starts the PCP server (when a pcp.conf exists: `options.pcp_file`, else `pcp.conf` beside
/// pgpool.conf).
fn start_admin(
    failover: &Arc<Failover>,
    reload_box: &ReloadBox,
    options: &ServeOptions,
    config: &Config,
    reload_now: &Arc<dyn Fn() + Send + Sync>,
) -> Result<Option<crate::pcp::PcpHandle>, ServeError> {
    let pcp_file = options.pcp_file.clone().or_else(|| {
        let dir = options
            .config_path
            .as_deref()
            .or(config.source_file.as_deref())?
            .parent()?;
        Some(dir.join("pcp.conf"))
    });
    let Some(pcp_file) = pcp_file.filter(|p| p.exists()) else {
        tracing::info!("no pcp.conf: the PCP server is off");
        return Ok(None);
    };
    let reload = reload_now.clone();
    let ctx = crate::pcp::PcpContext::new(
        failover.clone(),
        pcp_file,
        auth_source(reload_box),
        Box::new(move || reload()),
    )
    .map_err(|e| ServeError::Config(e.to_string()))?;
    let handle = crate::pcp::start(Arc::new(ctx), config).map_err(ServeError::Bind)?;
    Ok(Some(handle))
}

fn reload(path: Option<&Path>, hba_path: Option<&Path>, target: &ReloadBox, state: &ClusterState) {
    let Some(path) = path else {
        tracing::info!("no configuration file to reload");
        return;
    };
    match Config::load(path) {
        Ok(loaded) => {
            for w in &loaded.warnings {
                tracing::warn!("{w}");
            }
            let config = loaded.config;
            let auth = match AuthFiles::load(&config, hba_path) {
                Ok(a) => Arc::new(a),
                Err(e) => {
                    tracing::error!(error = %e, "reload failed: authentication files could not be read");
                    return;
                }
            };
            for (node, b) in state.nodes().iter().zip(&config.backends) {
                node.set_weight(b.weight);
            }
            if let Ok(mut slot) = target.lock() {
                *slot = (Arc::new(config), auth);
            }
            state.announce_reload();
            tracing::info!("configuration reloaded");
        }
        Err(e) => tracing::error!(error = %e, "reload failed; keeping the running configuration"),
    }
}

async fn run_shard(
    id: usize,
    state: Arc<ClusterState>,
    gate: Arc<StartGate>,
    reload_box: ReloadBox,
    addrs: Vec<SocketAddr>,
    unix_dir: Option<String>,
    failover: Arc<Failover>,
) {
    let (config, auth) = match reload_box.lock() {
        Ok(g) => g.clone(),
        Err(_) => {
            gate.report(Err("configuration lock poisoned".into()));
            return;
        }
    };
    let mut listeners = Vec::new();
    for a in &addrs {
        match Listener::bind(*a) {
            Ok(l) => listeners.push(l),
            Err(e) => {
                gate.report(Err(format!("shard {id}: could not bind {a}: {e}")));
                return;
            }
        }
    }
    let mut unix = None;
    if id == 0 {
        if let Some(dir) = &unix_dir {
            let path = Path::new(dir).join(format!(".s.PGSQL.{}", config.port));
            match UnixListener::bind(&path) {
                Ok(l) => unix = Some((l, path)),
                Err(e) => {
                    tracing::warn!(path = %path.display(), error = %e, "could not listen on UNIX socket")
                }
            }
        }
    }
    gate.report(Ok(()));
    if !gate.wait().await {
        return;
    }
    let shard = Rc::new(Shard::new(id, state.clone(), config, auth));
    let reserved = shard.config().reserved_connections > 0;
    for l in listeners {
        let shard = shard.clone();
        runtime::spawn(accept_loop(shard, AnyListener::Tcp(l), reserved));
    }
    if let Some((l, path)) = unix {
        let shard = shard.clone();
        runtime::spawn(async move {
            accept_loop(shard, AnyListener::Unix(l), reserved).await;
            let _ = std::fs::remove_file(path);
        });
    }
    if id == 0 {
        // The checks run as tasks of shard 0: corepool-client's sockets are this shard's.
        let source = reload_box.clone();
        let settings: crate::health::SettingsSource = Box::new(move || match source.lock() {
            Ok(g) => g.clone(),
            Err(p) => p.into_inner().clone(),
        });
        crate::health::spawn(crate::health::Context::new(
            state.clone(),
            failover,
            settings,
        ));
    }

    // Housekeeping until shutdown.
    let mut reload_seen = state.reload_epoch();
    loop {
        runtime::sleep(Duration::from_millis(100)).await;
        shard.tick();
        let epoch = state.reload_epoch();
        if epoch != reload_seen {
            reload_seen = epoch;
            if let Ok(g) = reload_box.lock() {
                shard.apply_reload(g.0.clone(), g.1.clone());
            }
        }
        match state.shutdown() {
            ShutdownMode::None => {}
            ShutdownMode::Smart => {
                if state.sessions() == 0 {
                    break;
                }
            }
            ShutdownMode::Fast | ShutdownMode::Immediate => {
                shard.stop_sessions();
                if state.sessions() == 0 {
                    break;
                }
            }
        }
    }
    shard.pool.clear();
}

fn build_nodes(config: &Config) -> Vec<Node> {
    config
        .backends
        .iter()
        .enumerate()
        .map(|(id, b)| {
            let address = if b.hostname.is_empty() {
                NodeAddress::Unix {
                    dir: "/tmp".into(),
                    port: b.port,
                }
            } else if b.hostname.starts_with('/') {
                NodeAddress::Unix {
                    dir: b.hostname.clone(),
                    port: b.port,
                }
            } else {
                NodeAddress::Tcp {
                    host: b.hostname.clone(),
                    port: b.port,
                }
            };
            Node::new(id, address, b.weight, NodeStatus::Waiting)
        })
        .collect()
}

/// listen_addresses → socket addresses: `*` is every IPv4 and IPv6 address, `localhost` the
/// loopback, anything else an IP (host names are resolved).
fn listen_socket_addrs(config: &Config) -> Result<Vec<SocketAddr>, ServeError> {
    let mut out = Vec::new();
    for a in &config.listen_addresses {
        let a = a.trim();
        match a {
            "" => {}
            "*" => out.push(SocketAddr::new(
                IpAddr::V4(Ipv4Addr::UNSPECIFIED),
                config.port,
            )),
            "localhost" => out.push(SocketAddr::new(
                IpAddr::V4(Ipv4Addr::LOCALHOST),
                config.port,
            )),
            "::" => out.push(SocketAddr::new(
                IpAddr::V6(Ipv6Addr::UNSPECIFIED),
                config.port,
            )),
            other => match other.parse::<IpAddr>() {
                Ok(ip) => out.push(SocketAddr::new(ip, config.port)),
                Err(_) => {
                    use std::net::ToSocketAddrs;
                    let resolved = (other, config.port).to_socket_addrs().map_err(|e| {
                        ServeError::Config(format!(
                            "listen_addresses: could not resolve \"{other}\": {e}"
                        ))
                    })?;
                    out.extend(resolved.take(1));
                }
            },
        }
    }
    out.dedup();
    Ok(out)
}
