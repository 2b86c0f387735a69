//! Health checks, streaming-replication checks and backend-error failover, run on shard 0.
//!
//! # Layout
//! - this file: the [`Context`] the checks share, the supervisor task that schedules them and
//!   serves the requests shards post in [`crate::cluster::health_stats`], and the hand-off of
//!   detach/attach to [`crate::failover`] on a thread (failover runs commands and blocks).
//! - [`check`]: one health check of a node (PGB-5.2) with its retries and statistics, and the
//!   quick "is it really gone?" check after a backend connection broke.
//! - [`sr`]: one replication check (PGB-2.4): who is primary, replication delay and state,
//!   detach_false_primary and auto_failback (PGB-2.6.4, 2.6.5).
//! - [`query`]: connection options and the queries, over `corepool-client`.
//! - [`primary`]: finding the primary at start-up, before the shards run (blocking).
//!
//! Data moves: shards post requests on a node's atomics → the supervisor (100 ms tick) takes
//! them, starts due checks as local tasks → results go to the node's atomics in
//! [`crate::cluster::ClusterState`] (status through failover, delay, role, statistics) → the
//! query path reads them without locks.

pub mod check;
pub mod primary;
pub mod probe;
pub mod query;
pub mod sr;

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::auth::files::AuthFiles;
use crate::cluster::{ClusterState, ShutdownMode};
use crate::config::{ClusteringMode, Config};
use crate::failover::coordinator::AdminOp;
use crate::failover::Failover;
use crate::runtime;

/// Where the checks read the configuration and authentication files in force (reload-aware).
pub type SettingsSource = Box<dyn Fn() -> (Arc<Config>, Arc<AuthFiles>)>;

/// What the checks share on shard 0.
pub struct Context {
    /// The shared cluster state.
    pub state: Arc<ClusterState>,
    /// Failover, used for detach and attach.
    pub failover: Arc<Failover>,
    /// The configuration in force.
    pub settings: SettingsSource,
    /// Per node: a detach or attach thread is running (no second one is started meanwhile).
    in_flight: Arc<[AtomicBool]>,
}

impl Context {
    /// A context over `state`.
    pub fn new(
        state: Arc<ClusterState>,
        failover: Arc<Failover>,
        settings: SettingsSource,
    ) -> Self {
        let in_flight = (0..state.nodes().len())
            .map(|_| AtomicBool::new(false))
            .collect();
        Self {
            state,
            failover,
            settings,
            in_flight,
        }
    }

    /// Detaches `node` through failover on a new thread, unless it is not attached, failover is
    /// not allowed for it, or a request for it is already running.
    pub fn detach(&self, node: usize, reason: &'static str) {
        if let Err(e) = self.failover.check_detach(node as i64) {
            tracing::debug!(node, reason, error = %e, "no failover");
            return;
        }
        if let Some(c) = self.failover.coordinator() {
            // The watchdog's leader decides: this instance only votes.
            c.node_failed(node, reason);
            return;
        }
        self.on_thread(node, "corepool-failover", move |f| {
            if let Err(e) = f.detach(node as i64, reason) {
                tracing::warn!(node, error = %e, "failover request refused");
            }
        });
    }

    /// Attaches `node` through failover on a new thread (failback); with the watchdog, asks
    /// its leader to.
    pub fn attach(&self, node: usize) {
        self.on_thread(node, "corepool-failback", move |f| {
            let result = match f.coordinator() {
                Some(c) => c
                    .request(AdminOp::Attach { node }, false)
                    .map_err(|e| e.to_string()),
                None => f.attach(node as i64).map_err(|e| e.to_string()),
            };
            if let Err(e) = result {
                tracing::warn!(node, error = %e, "failback request refused");
            }
        });
    }

    /// This instance's check reached `node`: the watchdog withdraws its vote, if any.
    pub fn node_ok(&self, node: usize) {
        if let Some(c) = self.failover.coordinator() {
            c.node_ok(node);
        }
    }

    fn on_thread(&self, node: usize, name: &str, job: impl FnOnce(&Failover) + Send + 'static) {
        let Some(flag) = self.in_flight.get(node) else {
            return;
        };
        if flag.swap(true, Ordering::AcqRel) {
            return;
        }
        let failover = self.failover.clone();
        let in_flight = self.in_flight.clone();
        let spawned = std::thread::Builder::new()
            .name(name.into())
            .spawn(move || {
                job(&failover);
                in_flight[node].store(false, Ordering::Release);
            });
        if let Err(e) = spawned {
            flag.store(false, Ordering::Release);
            tracing::error!(node, error = %e, "could not start a failover thread");
        }
    }
}

/// How often the supervisor looks at requests and schedules.
const TICK: Duration = Duration::from_millis(100);
/// How often to look for the primary while none is known.
const PRIMARY_SEARCH_INTERVAL: Duration = Duration::from_secs(1);

/// Starts the supervisor on the current shard (shard 0). It ends when a shutdown is requested.
pub fn spawn(ctx: Context) {
    runtime::spawn(supervise(Rc::new(ctx)));
}

async fn supervise(ctx: Rc<Context>) {
    let mut schedule = Schedule::new(ctx.state.nodes().len());
    while ctx.state.shutdown() == ShutdownMode::None {
        let (config, _) = (ctx.settings)();
        let now = Instant::now();
        for id in 0..schedule.last_check.len() {
            schedule.node(&ctx, &config, id, now);
        }
        if config.backend_clustering_mode == ClusteringMode::StreamingReplication {
            schedule.replication(&ctx, &config, now);
        }
        runtime::sleep(TICK).await;
    }
}

/// What the supervisor keeps between ticks: which checks run and when they last started.
struct Schedule {
    /// Per node: a health check or verification is running.
    checking: Rc<[Cell<bool>]>,
    last_check: Vec<Option<Instant>>,
    sr_running: Rc<Cell<bool>>,
    sr_memory: Rc<RefCell<sr::Memory>>,
    last_sr: Option<Instant>,
}

impl Schedule {
    fn new(count: usize) -> Self {
        Self {
            checking: (0..count).map(|_| Cell::new(false)).collect(),
            last_check: vec![None; count],
            sr_running: Rc::new(Cell::new(false)),
            sr_memory: Rc::new(RefCell::new(sr::Memory::new(count))),
            last_sr: None,
        }
    }

    /// Serves node `id`'s requests and starts its health check when due.
    fn node(&mut self, ctx: &Rc<Context>, config: &Config, id: usize, now: Instant) {
        let requests = ctx.state.health.nodes()[id].take_requests();
        if requests.detach {
            ctx.detach(id, "connection to backend failed");
        }
        let period = config.health_check_for(id).period;
        let due = !period.is_zero() && is_due(self.last_check[id], now, period);
        if !(due || requests.verify) || self.checking[id].get() {
            return;
        }
        self.checking[id].set(true);
        let (ctx, checking) = (ctx.clone(), self.checking.clone());
        if due {
            self.last_check[id] = Some(now);
        }
        runtime::spawn(async move {
            if due {
                check::run(&ctx, id).await;
            } else {
                check::verify(&ctx, id).await;
            }
            checking[id].set(false);
        });
    }

    /// Starts a replication check when due and none is running.
    fn replication(&mut self, ctx: &Rc<Context>, config: &Config, now: Instant) {
        if self.sr_running.get() {
            return;
        }
        let interval = sr_interval(config, &ctx.state);
        if !interval.is_some_and(|i| is_due(self.last_sr, now, i)) {
            return;
        }
        self.last_sr = Some(now);
        self.sr_running.set(true);
        let (ctx, running) = (ctx.clone(), self.sr_running.clone());
        let memory = self.sr_memory.clone();
        runtime::spawn(async move {
            sr::run(&ctx, &memory).await;
            running.set(false);
        });
    }
}

/// When the next replication check is due: every sr_check_period, and every second while no
/// live primary is known (sr_check_period 0 still searches for the primary).
fn sr_interval(config: &Config, state: &ClusterState) -> Option<Duration> {
    let primary_ok = state
        .primary()
        .and_then(|p| state.node(p))
        .is_some_and(|n| n.status().is_valid());
    let period = (!config.sr_check_period.is_zero()).then_some(config.sr_check_period);
    if primary_ok {
        period
    } else {
        Some(period.map_or(PRIMARY_SEARCH_INTERVAL, |p| p.min(PRIMARY_SEARCH_INTERVAL)))
    }
}

/// True when nothing ran yet or `every` has passed since `last`.
fn is_due(last: Option<Instant>, now: Instant, every: Duration) -> bool {
    match last {
        None => true,
        Some(t) => now >= t + every,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::{Node, NodeAddress, NodeStatus};

    #[test]
    fn the_primary_is_searched_every_second_while_unknown() {
        let address = NodeAddress::Tcp {
            host: "h".into(),
            port: 1,
        };
        let state = ClusterState::new(vec![Node::new(0, address, 1.0, NodeStatus::Waiting)], 1, 1);
        let mut config = Config {
            sr_check_period: Duration::ZERO,
            ..Config::default()
        };
        assert_eq!(sr_interval(&config, &state), Some(PRIMARY_SEARCH_INTERVAL));
        state.adopt_primary(Some(0));
        assert_eq!(sr_interval(&config, &state), None);
        config.sr_check_period = Duration::from_secs(10);
        assert_eq!(sr_interval(&config, &state), Some(Duration::from_secs(10)));
        state.nodes()[0].set_status(NodeStatus::Down);
        assert_eq!(sr_interval(&config, &state), Some(PRIMARY_SEARCH_INTERVAL));
        let now = Instant::now();
        assert!(is_due(None, now, Duration::from_secs(1)));
        assert!(!is_due(Some(now), now, Duration::from_secs(1)));
    }
}
