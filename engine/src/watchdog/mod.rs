//! The watchdog: several corepool instances in front of one PostgreSQL cluster agree on node
//! state and failover through etcd (`use_watchdog = on`; docs/ha.md).
//!
//! # Layout
//! - this file: [`Watchdog`], started by the server, installed on [`Failover`] as its
//!   [`Coordinator`]: health checks vote through it, PCP asks its leader through it.
//! - [`agent`]: the watchdog thread's loop: lease, one range read per tick, leadership,
//!   applying the agreed state, the leader's decisions.
//! - [`leader`]: the leader's executor thread, which runs [`Failover`] (and its commands).
//! - [`keys`]: the key layout and records; [`rules`]: quorum and consensus; [`info`]:
//!   `pcp_watchdog_info`'s JSON; [`apply`]: agreed state ↔ [`crate::cluster::ClusterState`];
//!   [`escalation`]: escalation commands and the virtual IP.
//! - [`etcd`] over [`http`]: etcd's v3 JSON gateway, blocking.
//!
//! Data moves: health checks → vote counters here (atomics) → the agent publishes them under
//! the instance's lease → the leader reads every instance's votes, decides, runs failover,
//! writes `state` guarded by its election key → every agent reads `state` (≤ 250 ms) and
//! applies it to the shared cluster state, which the shards read without locks as before.

pub mod agent;
pub mod apply;
pub mod escalation;
pub mod etcd;
pub mod fence;
pub mod http;
pub mod info;
pub mod keys;
pub mod leader;
pub mod rules;

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::config::{Config, WatchdogSettings};
use crate::failover::coordinator::{AdminOp, Coordinator, CoordinatorError};
use crate::failover::Failover;
use etcd::{Credentials, Etcd};
use http::{Endpoint, Limits};
use info::WdState;
use keys::{Layout, Member, Request, Snapshot};

/// Why the watchdog could not start.
#[derive(Debug, thiserror::Error)]
pub enum WatchdogError {
    /// A setting is wrong.
    #[error("watchdog: {0}")]
    Config(String),
    /// A file could not be read.
    #[error("watchdog: {what} {path}: {source}")]
    File {
        /// Which setting.
        what: &'static str,
        /// The path.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// The watchdog thread could not start.
    #[error("watchdog: could not start its thread: {0}")]
    Thread(std::io::Error),
}

/// What the agent shares with the PCP and health threads.
pub(crate) struct Shared {
    pub(crate) failover: Arc<Failover>,
    pub(crate) layout: Layout,
    pub(crate) etcd: Etcd,
    pub(crate) me: Member,
    /// Per backend node: this instance's failed checks in a row.
    pub(crate) votes: Box<[AtomicU32]>,
    pub(crate) votes_dirty: AtomicBool,
    pub(crate) view: Mutex<View>,
    request_seq: AtomicU64,
}

/// The agent's latest view, for PCP and requests.
#[derive(Debug, Clone)]
pub(crate) struct View {
    pub(crate) snapshot: Snapshot,
    pub(crate) state: WdState,
    pub(crate) escalated: bool,
    /// The lease while this instance holds one that is not about to expire.
    pub(crate) lease: Option<i64>,
}

impl Shared {
    pub(crate) fn settings(&self) -> WatchdogSettings {
        self.failover.config().watchdog.clone()
    }

    pub(crate) fn view(&self) -> View {
        match self.view.lock() {
            Ok(v) => v.clone(),
            Err(p) => p.into_inner().clone(),
        }
    }

    pub(crate) fn set_view(&self, f: impl FnOnce(&mut View)) {
        match self.view.lock() {
            Ok(mut v) => f(&mut v),
            Err(p) => f(&mut p.into_inner()),
        }
    }
}

/// The running watchdog.
pub struct Watchdog {
    shared: Arc<Shared>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl std::fmt::Debug for Watchdog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Watchdog")
            .field("name", &self.shared.me.name)
            .finish_non_exhaustive()
    }
}

impl Watchdog {
    /// Starts the watchdog thread for `config` and installs it on `failover`. Nothing waits
    /// for etcd: the instance serves on its own state until it has joined.
    pub fn start(failover: &Arc<Failover>, config: &Config) -> Result<Arc<Self>, WatchdogError> {
        let s = &config.watchdog;
        let endpoints = s
            .etcd_endpoints
            .iter()
            .map(|e| Endpoint::parse(e).map_err(|e| WatchdogError::Config(e.to_string())))
            .collect::<Result<Vec<_>, _>>()?;
        if endpoints.is_empty() {
            return Err(WatchdogError::Config("etcd_endpoints is empty".into()));
        }
        if s.lease_ttl < Duration::from_secs(2) {
            return Err(WatchdogError::Config(
                "etcd_lease_ttl must be at least 2 s".into(),
            ));
        }
        let tls = if endpoints.iter().any(|e| e.tls) {
            Some(tls_config(s)?)
        } else {
            None
        };
        let credentials = credentials(s)?;
        let limits = Limits {
            connect: Duration::from_millis(500),
            io: (s.lease_ttl / 4).clamp(Duration::from_millis(500), Duration::from_secs(2)),
        };
        let me = Member {
            name: instance_name(config),
            host: advertised_host(config),
            port: config.port,
            pcp_port: config.pcp_port,
            priority: s.priority,
            delegate_ip: s.delegate_ip.trim().to_owned(),
            shutdown: false,
        };
        let nodes = failover.state().nodes().len();
        let shared = Arc::new(Shared {
            failover: failover.clone(),
            layout: Layout::new(&s.etcd_prefix),
            etcd: Etcd::new(endpoints, tls, credentials, limits),
            me,
            votes: (0..nodes).map(|_| AtomicU32::new(0)).collect(),
            votes_dirty: AtomicBool::new(true),
            view: Mutex::new(View {
                snapshot: Snapshot::default(),
                state: WdState::Initializing,
                escalated: false,
                lease: None,
            }),
            request_seq: AtomicU64::new(0),
        });
        tracing::info!(name = %shared.me.name, prefix = %shared.layout.all(), "watchdog: starting");
        let agent_shared = shared.clone();
        let thread = std::thread::Builder::new()
            .name("corepool-watchdog".into())
            .spawn(move || agent::run(agent_shared))
            .map_err(WatchdogError::Thread)?;
        let wd = Arc::new(Self {
            shared,
            thread: Mutex::new(Some(thread)),
        });
        failover.set_coordinator(wd.clone());
        Ok(wd)
    }

    /// This instance's name among the others.
    pub fn name(&self) -> &str {
        &self.shared.me.name
    }

    /// Waits for the watchdog thread, which ends after a shutdown request once it has
    /// de-escalated and left etcd.
    pub fn join(&self) {
        let handle = match self.thread.lock() {
            Ok(mut g) => g.take(),
            Err(p) => p.into_inner().take(),
        };
        if let Some(h) = handle {
            let _ = h.join();
        }
    }
}

impl Coordinator for Watchdog {
    fn node_failed(&self, node: usize, reason: &str) {
        if let Some(v) = self.shared.votes.get(node) {
            let n = v.fetch_add(1, Ordering::AcqRel) + 1;
            tracing::warn!(node, reason, failures = n, "watchdog: voting for failover");
            self.shared.votes_dirty.store(true, Ordering::Release);
        }
    }

    fn node_ok(&self, node: usize) {
        if let Some(v) = self.shared.votes.get(node) {
            if v.swap(0, Ordering::AcqRel) != 0 {
                tracing::info!(node, "watchdog: node reachable again; vote withdrawn");
                self.shared.votes_dirty.store(true, Ordering::Release);
            }
        }
    }

    fn request(&self, op: AdminOp, wait: bool) -> Result<(), CoordinatorError> {
        let view = self.shared.view();
        let Some(lease) = view.lease else {
            return Err(CoordinatorError::NoEtcd("no lease".into()));
        };
        if view.snapshot.leader().is_none() {
            return Err(CoordinatorError::NoLeader);
        }
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0);
        let id = nanos.wrapping_add(self.shared.request_seq.fetch_add(1, Ordering::Relaxed));
        let key = self.shared.layout.request(&self.shared.me.name, id);
        let body = serde_json::to_vec(&Request::from(op)).unwrap_or_default();
        self.shared
            .etcd
            .put(&key, &body, lease)
            .map_err(|e| CoordinatorError::NoEtcd(e.to_string()))?;
        tracing::info!(?op, key, "watchdog: request sent to the leader");
        if !wait {
            return Ok(());
        }
        const WAIT: Duration = Duration::from_secs(120);
        let until = Instant::now() + WAIT;
        while Instant::now() < until {
            std::thread::sleep(Duration::from_millis(100));
            match self.shared.etcd.range_prefix(&key) {
                Ok(kvs) if kvs.iter().all(|kv| kv.key != key) => return Ok(()),
                Ok(_) => {}
                Err(e) => return Err(CoordinatorError::NoEtcd(e.to_string())),
            }
        }
        Err(CoordinatorError::Timeout(WAIT.as_secs()))
    }

    fn watchdog_info(&self, id: i32) -> Option<String> {
        let view = self.shared.view();
        let local = info::LocalView {
            me: &self.shared.me,
            state: view.state,
            escalated: view.escalated,
            half_votes: self.shared.settings().enable_consensus_with_half_votes,
        };
        info::to_json(&local, &view.snapshot, id)
    }
}

/// `etcd_instance_name`, else `hostname:port`.
fn instance_name(config: &Config) -> String {
    let name = config.watchdog.instance_name.trim();
    if !name.is_empty() {
        return name.replace('/', "_");
    }
    format!("{}:{}", system_hostname(), config.port)
}

/// The host clients use: the first listen address unless it is a wildcard, else the host name.
fn advertised_host(config: &Config) -> String {
    match config.listen_addresses.first().map(|s| s.trim()) {
        Some(a) if !a.is_empty() && a != "*" && a != "0.0.0.0" && a != "::" => a.to_owned(),
        _ => system_hostname(),
    }
}

fn system_hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".into())
}

/// The etcd user and its password from `etcd_password_file` or `COREPOOL_ETCD_PASSWORD`.
fn credentials(s: &WatchdogSettings) -> Result<Option<Credentials>, WatchdogError> {
    if s.etcd_username.trim().is_empty() {
        return Ok(None);
    }
    let password = if s.etcd_password_file.trim().is_empty() {
        std::env::var("COREPOOL_ETCD_PASSWORD").map_err(|_| {
            WatchdogError::Config(
                "etcd_username is set but neither etcd_password_file nor COREPOOL_ETCD_PASSWORD"
                    .into(),
            )
        })?
    } else {
        let path = s.etcd_password_file.trim();
        std::fs::read_to_string(path)
            .map_err(|source| WatchdogError::File {
                what: "etcd_password_file",
                path: path.to_owned(),
                source,
            })?
            .lines()
            .next()
            .unwrap_or_default()
            .to_owned()
    };
    Ok(Some(Credentials {
        user: s.etcd_username.trim().to_owned(),
        password,
    }))
}

/// TLS to etcd: the members' certificates checked against `etcd_cacert` (host names too),
/// a client certificate with `etcd_cert` and `etcd_key`.
fn tls_config(s: &WatchdogSettings) -> Result<Arc<rustls::ClientConfig>, WatchdogError> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let file_err = |what: &'static str, path: &str| {
        let path = path.to_owned();
        move |e: rustls::pki_types::pem::Error| WatchdogError::File {
            what,
            path,
            source: std::io::Error::other(e.to_string()),
        }
    };
    if s.etcd_cacert.trim().is_empty() {
        return Err(WatchdogError::Config(
            "https etcd endpoints need etcd_cacert".into(),
        ));
    }
    let mut roots = rustls::RootCertStore::empty();
    let ca = s.etcd_cacert.trim();
    for cert in CertificateDer::pem_file_iter(ca).map_err(file_err("etcd_cacert", ca))? {
        let cert = cert.map_err(file_err("etcd_cacert", ca))?;
        roots
            .add(cert)
            .map_err(|e| WatchdogError::Config(format!("etcd_cacert {ca}: {e}")))?;
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| WatchdogError::Config(e.to_string()))?
        .with_root_certificates(roots);
    let config = match (s.etcd_cert.trim(), s.etcd_key.trim()) {
        ("", "") => builder.with_no_client_auth(),
        ("", _) | (_, "") => {
            return Err(WatchdogError::Config(
                "etcd_cert and etcd_key go together".into(),
            ))
        }
        (cert, key) => {
            let chain = CertificateDer::pem_file_iter(cert)
                .map_err(file_err("etcd_cert", cert))?
                .collect::<Result<Vec<_>, _>>()
                .map_err(file_err("etcd_cert", cert))?;
            let key_der = PrivateKeyDer::from_pem_file(key).map_err(file_err("etcd_key", key))?;
            builder
                .with_client_auth_cert(chain, key_der)
                .map_err(|e| WatchdogError::Config(format!("etcd_cert/etcd_key: {e}")))?
        }
    };
    Ok(Arc::new(config))
}
