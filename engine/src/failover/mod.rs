//! Failover, failback and promotion: the node state changes Pgpool-II makes when a node dies,
//! comes back or is promoted, driven alike by PCP and by the health check.
//!
//! # Layout
//! - [`placeholders`]: the `%` placeholders of the three commands (pure, tested).
//! - [`status_file`]: `pgpool_status` in `logdir`, read at start and written on every change.
//! - [`command`]: runs a command through `sh -c` and waits (blocking).
//! - [`probe`]: asks nodes `SELECT pg_is_in_recovery()` to find the primary.
//! - [`coordinator`]: the seam to the watchdog; with one installed, health checks vote and
//!   PCP asks the leader instead of failing over alone.
//!
//! Every operation here blocks (commands, probes, waits): call it from a PCP worker thread, or
//! from a shard through `health::Context::detach`, which moves it to a thread.
//! Operations are serialized by one lock, as Pgpool-II processes one failover at a time.

pub mod command;
pub mod coordinator;
pub mod placeholders;
pub mod probe;
pub mod status_file;

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use crate::cluster::events::EventKind;
use crate::cluster::{ClusterState, NodeRole, NodeStatus};
use crate::config::{ClusteringMode, Config};
use placeholders::Placeholders;
use probe::{NodeProbe, ProbeResult};

/// Where failover reads the configuration in force (it changes on reload).
pub type ConfigSource = Arc<dyn Fn() -> Arc<Config> + Send + Sync>;

/// Why a failover, failback or promotion request was refused. The texts are Pgpool-II's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FailoverError {
    /// No such node.
    #[error("invalid degenerate backend request, node id: {node} is out of range. node id must be between [0 and {max}]")]
    OutOfRange {
        /// The id asked for.
        node: i64,
        /// The largest valid id.
        max: i64,
    },
    /// The node is not up or waiting.
    #[error("invalid degenerate backend request, node id : {node} status: [{status}] is not valid for failover")]
    NotValidForFailover {
        /// The node.
        node: usize,
        /// Its status number.
        status: u8,
    },
    /// The node has `DISALLOW_TO_FAILOVER`.
    #[error("degenerate backend request for node_id: {node} is canceled because failover is disallowed on the node")]
    Disallowed {
        /// The node.
        node: usize,
    },
    /// Attach of a node that is not down (or no such node).
    #[error(
        "invalid failback request, node id: {node} status: [{status}] is not valid for failback"
    )]
    NotValidForFailback {
        /// The node.
        node: i64,
        /// Its status number (0 when there is no such node).
        status: u8,
    },
    /// Promote of a node id that does not exist.
    #[error("node id {node} is not valid")]
    InvalidPromoteNode {
        /// The id asked for.
        node: i64,
    },
    /// Promote outside streaming replication.
    #[error("invalid pgpool mode for process promote request")]
    NotStreaming,
    /// Promote of the current primary.
    #[error("specified node is already primary node, can't promote node id {node}")]
    AlreadyPrimary {
        /// The node.
        node: usize,
    },
}

/// What is being processed now, for requests refused meanwhile (PCP stop and recovery).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Busy {
    /// Nothing.
    Idle = 0,
    /// A failover (node down).
    Failover = 1,
    /// A failback (node up).
    Failback = 2,
    /// A promotion.
    Promote = 3,
}

/// The failover machinery over the shared cluster state.
pub struct Failover {
    state: Arc<ClusterState>,
    config: ConfigSource,
    probe: Arc<dyn NodeProbe>,
    lock: Mutex<()>,
    busy: AtomicU8,
    coordinator: OnceLock<Arc<dyn coordinator::Coordinator>>,
}

impl std::fmt::Debug for Failover {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Failover")
            .field("busy", &self.busy())
            .finish_non_exhaustive()
    }
}

/// Marks an operation as in progress until dropped.
struct BusyGuard<'a>(&'a AtomicU8);

impl Drop for BusyGuard<'_> {
    fn drop(&mut self) {
        self.0.store(Busy::Idle as u8, Ordering::Release);
    }
}

impl Failover {
    /// Failover over `state`, reading the configuration from `config`, probing with `probe`.
    pub fn new(state: Arc<ClusterState>, config: ConfigSource, probe: Arc<dyn NodeProbe>) -> Self {
        Self {
            state,
            config,
            probe,
            lock: Mutex::new(()),
            busy: AtomicU8::new(Busy::Idle as u8),
            coordinator: OnceLock::new(),
        }
    }

    /// Installs the watchdog (once, at start): from then on health checks and PCP go
    /// through it.
    pub fn set_coordinator(&self, c: Arc<dyn coordinator::Coordinator>) {
        let _ = self.coordinator.set(c);
    }

    /// The watchdog, when `use_watchdog = on`.
    pub fn coordinator(&self) -> Option<&Arc<dyn coordinator::Coordinator>> {
        self.coordinator.get()
    }

    /// The shared state.
    pub fn state(&self) -> &Arc<ClusterState> {
        &self.state
    }

    /// The configuration in force.
    pub fn config(&self) -> Arc<Config> {
        (self.config)()
    }

    /// The probe in use.
    pub fn probe(&self) -> &dyn NodeProbe {
        &*self.probe
    }

    /// What is in progress now.
    pub fn busy(&self) -> Busy {
        match self.busy.load(Ordering::Acquire) {
            1 => Busy::Failover,
            2 => Busy::Failback,
            3 => Busy::Promote,
            _ => Busy::Idle,
        }
    }

    fn mark(&self, what: Busy) -> BusyGuard<'_> {
        self.busy.store(what as u8, Ordering::Release);
        BusyGuard(&self.busy)
    }

    /// Checks that `node` may be detached.
    pub fn check_detach(&self, node: i64) -> Result<usize, FailoverError> {
        let config = self.config();
        let id = self.node_index(node)?;
        let n = &self.state.nodes()[id];
        if !n.status().is_valid() {
            return Err(FailoverError::NotValidForFailover {
                node: id,
                status: n.status() as u8,
            });
        }
        if config
            .backends
            .get(id)
            .is_some_and(|b| !b.flags.allow_to_failover)
        {
            return Err(FailoverError::Disallowed { node: id });
        }
        Ok(id)
    }

    /// Detaches `node` (failover): marks it down, drops pooled connections, saves the status
    /// file, runs failover_command; if it was the primary, finds the new one and runs
    /// follow_primary_command for the other standbys.
    pub fn detach(&self, node: i64, reason: &str) -> Result<(), FailoverError> {
        let id = self.check_detach(node)?;
        let _lock = self.lock.lock().unwrap_or_else(|p| p.into_inner());
        let _busy = self.mark(Busy::Failover);
        self.detach_locked(id, reason, None);
        Ok(())
    }

    fn detach_locked(&self, id: usize, reason: &str, promote_to: Option<usize>) {
        let config = self.config();
        let state = &*self.state;
        let old_main = main_node(state);
        let old_primary = state.primary();
        tracing::warn!(node = id, reason, "failover: detaching node");
        state.nodes()[id].set_status(NodeStatus::Down);
        state
            .events
            .record(EventKind::NodeDetached, Some(id), reason);
        state
            .stats
            .failovers
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        state.bump_generation();
        self.save_status(&config);
        let new_main = promote_to.or_else(|| main_node(state));
        let values = self.placeholders(&config, id, new_main, old_main, old_primary);
        command::run("failover_command", &config.failover_command, &values);

        if config.backend_clustering_mode != ClusteringMode::StreamingReplication {
            state.set_primary(main_node(state));
            return;
        }
        if old_primary != Some(id) {
            return;
        }
        let found = self.search_primary(&config, promote_to);
        self.state.adopt_primary(found);
        record_primary(state, found, "failover");
        if let Some(p) = found {
            tracing::info!(primary = p, "failover: new primary node");
            self.follow_primary(&config, p, old_main, old_primary);
        } else {
            tracing::warn!("failover: no primary node found");
        }
    }

    /// Checks that `node` may be attached.
    pub fn check_attach(&self, node: i64) -> Result<usize, FailoverError> {
        let status = usize::try_from(node)
            .ok()
            .and_then(|i| self.state.node(i))
            .map(|n| n.status());
        match status {
            Some(NodeStatus::Down) => Ok(node as usize),
            other => Err(FailoverError::NotValidForFailback {
                node,
                status: other.map_or(0, |s| s as u8),
            }),
        }
    }

    /// Attaches `node` (failback): marks it waiting, saves the status file, runs
    /// failback_command, and looks for the primary if none is known.
    pub fn attach(&self, node: i64) -> Result<(), FailoverError> {
        let id = self.check_attach(node)?;
        let _lock = self.lock.lock().unwrap_or_else(|p| p.into_inner());
        let _busy = self.mark(Busy::Failback);
        let config = self.config();
        let state = &*self.state;
        let old_main = main_node(state);
        let old_primary = state.primary();
        tracing::info!(node = id, "failback: attaching node");
        let n = &state.nodes()[id];
        n.set_status(NodeStatus::Waiting);
        state
            .events
            .record(EventKind::NodeAttached, Some(id), "failback");
        if old_primary != Some(id) {
            n.set_role(NodeRole::Standby);
        }
        state.bump_generation();
        self.save_status(&config);
        let values = self.placeholders(&config, id, main_node(state), old_main, old_primary);
        command::run("failback_command", &config.failback_command, &values);
        if config.backend_clustering_mode == ClusteringMode::StreamingReplication {
            let primary_ok = old_primary
                .and_then(|p| state.node(p))
                .is_some_and(|p| p.status().is_valid());
            if !primary_ok {
                let found = self.search_primary(&config, None);
                self.state.adopt_primary(found);
                record_primary(state, found, "failback");
            }
        } else {
            state.set_primary(main_node(state));
        }
        Ok(())
    }

    /// Promotes `node`. With `switchover`, the current primary is detached and failover_command
    /// runs with `%m` set to `node` (the script is expected to promote it); otherwise corepool
    /// only records `node` as the primary and detaches the old one. follow_primary_command then
    /// runs for the other standbys.
    pub fn promote(&self, node: i64, switchover: bool) -> Result<(), FailoverError> {
        let config = self.config();
        let id = usize::try_from(node)
            .ok()
            .filter(|i| *i < self.state.nodes().len())
            .ok_or(FailoverError::InvalidPromoteNode { node })?;
        if config.backend_clustering_mode != ClusteringMode::StreamingReplication {
            return Err(FailoverError::NotStreaming);
        }
        if self.state.primary() == Some(id) {
            return Err(FailoverError::AlreadyPrimary { node: id });
        }
        if !self.state.nodes()[id].status().is_valid() {
            return Err(FailoverError::NotValidForFailover {
                node: id,
                status: self.state.nodes()[id].status() as u8,
            });
        }
        let _lock = self.lock.lock().unwrap_or_else(|p| p.into_inner());
        let _busy = self.mark(Busy::Promote);
        let state = &*self.state;
        let old_primary = state.primary();
        let live_old_primary = old_primary.filter(|p| state.nodes()[*p].status().is_valid());
        let how = if switchover { "switchover" } else { "promote" };
        state.events.record(EventKind::NodePromoted, Some(id), how);
        match (switchover, live_old_primary) {
            (true, Some(p)) => self.detach_locked(p, "promote (switchover)", Some(id)),
            _ => {
                let old_main = main_node(state);
                if let Some(p) = live_old_primary {
                    state.nodes()[p].set_status(NodeStatus::Down);
                    state
                        .events
                        .record(EventKind::NodeDetached, Some(p), "promote");
                }
                self.state.adopt_primary(Some(id));
                record_primary(state, Some(id), "promote");
                state.bump_generation();
                self.save_status(&config);
                self.follow_primary(&config, id, old_main, old_primary);
            }
        }
        Ok(())
    }

    /// Marks every other live standby down and runs follow_primary_command for each on a
    /// background thread (the script usually re-attaches the node through PCP, which needs
    /// the failover lock this thread holds). Nothing happens without a follow_primary_command.
    fn follow_primary(
        &self,
        config: &Arc<Config>,
        primary: usize,
        old_main: Option<usize>,
        old_primary: Option<usize>,
    ) {
        if config.follow_primary_command.trim().is_empty() {
            return;
        }
        let state = &*self.state;
        let mut jobs = Vec::new();
        for n in state.nodes() {
            if n.id != primary && n.status().is_valid() {
                n.set_status(NodeStatus::Down);
                state
                    .events
                    .record(EventKind::NodeDetached, Some(n.id), "follow_primary");
                jobs.push(self.placeholders(config, n.id, Some(primary), old_main, old_primary));
            }
        }
        state.bump_generation();
        self.save_status(config);
        let template = config.follow_primary_command.clone();
        let spawned = std::thread::Builder::new()
            .name("corepool-follow-primary".into())
            .spawn(move || {
                for values in jobs {
                    command::run("follow_primary_command", &template, &values);
                }
            });
        if let Err(e) = spawned {
            tracing::error!(error = %e, "could not start follow_primary_command thread");
        }
    }

    /// Finds the primary among the live nodes: an `ALWAYS_PRIMARY` node at once, else the node
    /// whose `pg_is_in_recovery()` is false, asking again every second until
    /// search_primary_node_timeout (0: forever). `prefer` is asked first.
    pub fn search_primary(&self, config: &Config, prefer: Option<usize>) -> Option<usize> {
        let state = &*self.state;
        let live = |i: usize| state.node(i).is_some_and(|n| n.status().is_valid());
        if let Some(i) = (0..state.nodes().len()).find(|i| {
            live(*i)
                && config
                    .backends
                    .get(*i)
                    .is_some_and(|b| b.flags.always_primary)
        }) {
            return Some(i);
        }
        let deadline = (!config.search_primary_node_timeout.is_zero())
            .then(|| Instant::now() + config.search_primary_node_timeout);
        loop {
            let mut order: Vec<usize> = (0..state.nodes().len()).filter(|i| live(*i)).collect();
            if order.is_empty() {
                return None;
            }
            if let Some(p) = prefer.filter(|p| order.contains(p)) {
                order.retain(|i| *i != p);
                order.insert(0, p);
            }
            let targets: Vec<_> = order
                .iter()
                .map(|i| (*i, state.nodes()[*i].address.clone()))
                .collect();
            let results = self.probe.probe(config, &targets);
            if let Some((i, _)) = order
                .iter()
                .zip(&results)
                .find(|(_, r)| **r == ProbeResult::Primary)
            {
                return Some(*i);
            }
            if deadline.is_some_and(|d| Instant::now() >= d) {
                return None;
            }
            std::thread::sleep(Duration::from_secs(1));
        }
    }

    fn save_status(&self, config: &Config) {
        let path = status_file::path_in(&config.logdir);
        if let Err(e) = status_file::write(&path, &self.state) {
            tracing::warn!(path = %path.display(), error = %e, "could not write pgpool_status");
        }
    }

    fn node_index(&self, node: i64) -> Result<usize, FailoverError> {
        let count = self.state.nodes().len();
        usize::try_from(node)
            .ok()
            .filter(|i| *i < count)
            .ok_or(FailoverError::OutOfRange {
                node,
                max: count as i64 - 1,
            })
    }

    fn placeholders(
        &self,
        config: &Config,
        node: usize,
        new_main: Option<usize>,
        old_main: Option<usize>,
        old_primary: Option<usize>,
    ) -> Placeholders {
        let state = &*self.state;
        let host = |i: usize| {
            state
                .node(i)
                .map(|n| n.address.host().to_owned())
                .unwrap_or_default()
        };
        let port = |i: usize| state.node(i).map(|n| n.address.port());
        let data_dir = |i: usize| {
            config
                .backends
                .get(i)
                .map(|b| b.data_directory.clone())
                .unwrap_or_default()
        };
        let id = |o: Option<usize>| o.map_or(-1, |i| i as i32);
        Placeholders {
            node_id: node as i32,
            host: host(node),
            port: port(node).unwrap_or(0),
            data_dir: data_dir(node),
            new_main_id: id(new_main),
            new_main_host: new_main.map(host).unwrap_or_default(),
            new_main_port: new_main.and_then(port),
            new_main_data_dir: new_main.map(data_dir).unwrap_or_default(),
            old_main_id: id(old_main),
            old_primary_id: id(old_primary),
            old_primary_host: old_primary.map(host).unwrap_or_default(),
            old_primary_port: old_primary.and_then(port),
        }
    }
}

/// Records which node is now the primary (or that none is), for the status page.
fn record_primary(state: &ClusterState, primary: Option<usize>, after: &str) {
    match primary {
        Some(p) => state
            .events
            .record(EventKind::PrimaryChanged, Some(p), after),
        None => state.events.record(EventKind::NoPrimary, None, after),
    }
}

/// The main node: the live node with the smallest id.
pub fn main_node(state: &ClusterState) -> Option<usize> {
    state
        .nodes()
        .iter()
        .find(|n| n.status().is_valid())
        .map(|n| n.id)
}

#[cfg(test)]
mod tests;
