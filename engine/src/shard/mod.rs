//! One shard: a core's listener, its pool, its sessions and their bookkeeping.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::Arc;
use std::task::Waker;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use corepool_protocol::auth::StoredPassword;
use corepool_protocol::framing::Limits;
use corepool_protocol::message::write;

mod catalog_cache;
mod tx_pools;

pub use catalog_cache::CatalogCache;
pub use tx_pools::{TxPoolEntry, TxPools};

use crate::auth::files::AuthFiles;
use crate::auth::hba::Method;
use crate::auth::ClientIdent;
use crate::backend::BackendConn;
use crate::cluster::health_stats::NodeRequest;
use crate::cluster::{ClusterState, NodeAddress};
use crate::config::{ClusteringMode, Config};
use crate::pool::{Pool, PoolLimits};
use crate::router::Rules;
use crate::runtime::tls::TlsSettings;
use crate::runtime::{self, Stream};

/// Why the shard wants a session to end now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopReason {
    /// A fast shutdown.
    Shutdown,
    /// Its backend node was detached (failover).
    NodeDetached(usize),
}

/// A core's share of the proxy. Owned by one executor thread; only `state` is shared.
pub struct Shard {
    /// Shard number.
    pub id: usize,
    /// Cluster state shared with every shard.
    pub state: Arc<ClusterState>,
    config: RefCell<Arc<Config>>,
    auth: RefCell<Arc<AuthFiles>>,
    /// Idle backend connections of this shard.
    pub pool: Pool<BackendConn>,
    /// Transaction pools (pool_mode = transaction), by user, database and node.
    pub tx_pools: TxPools,
    /// The topology generation the shard's sessions were last woken for.
    seen_generation: Cell<u64>,
    free_slots: RefCell<Vec<usize>>,
    slot_base: usize,
    wakers: RefCell<Vec<Option<Waker>>>,
    stopping: Cell<bool>,
    rules: RefCell<Rc<Rules>>,
    catalog: Rc<CatalogCache>,
    /// Clients accepted while every session slot was taken, waiting in arrival order.
    /// Clients waiting for a session slot, oldest first, each under its own id.
    slot_waiters: RefCell<std::collections::VecDeque<(u64, Waker)>>,
    next_waiter: std::cell::Cell<u64>,
}

impl Shard {
    /// A shard with its slice of the cancel table.
    pub fn new(
        id: usize,
        state: Arc<ClusterState>,
        config: Arc<Config>,
        auth: Arc<AuthFiles>,
    ) -> Self {
        let range = state.cancel.shard_range(id);
        let slot_base = range.start;
        let free_slots: Vec<usize> = range.clone().rev().collect();
        let wakers = vec![None; range.len()];
        let pool = Pool::new(pool_limits(&config));
        let rules = Rc::new(Rules::from_config(&config));
        Self {
            id,
            state,
            config: RefCell::new(config),
            auth: RefCell::new(auth),
            pool,
            free_slots: RefCell::new(free_slots),
            slot_base,
            wakers: RefCell::new(wakers),
            stopping: Cell::new(false),
            rules: RefCell::new(rules),
            catalog: Rc::new(CatalogCache::default()),
            tx_pools: TxPools::default(),
            seen_generation: Cell::new(0),
            slot_waiters: RefCell::new(std::collections::VecDeque::new()),
            next_waiter: std::cell::Cell::new(0),
        }
    }

    /// This shard's own statistics (only this shard writes them).
    pub fn stats(&self) -> &crate::cluster::stats::ShardStats {
        self.state.stats.shard(self.id)
    }

    /// The configuration in force on this shard.
    pub fn config(&self) -> Arc<Config> {
        self.config.borrow().clone()
    }

    /// Installs a reloaded configuration (new sessions see it; running ones keep theirs).
    pub fn apply_reload(&self, config: Arc<Config>, auth: Arc<AuthFiles>) {
        self.pool.set_limits(pool_limits(&config));
        self.tx_pools.resize(self.tx_pool_size(&config));
        *self.rules.borrow_mut() = Rc::new(Rules::from_config(&config));
        self.catalog.clear();
        *self.config.borrow_mut() = config;
        *self.auth.borrow_mut() = auth;
    }

    /// The routing rules compiled from the configuration in force.
    pub fn rules(&self) -> Rc<Rules> {
        self.rules.borrow().clone()
    }

    /// This shard's catalog facts (function volatility, unlogged tables).
    pub fn catalog(&self) -> Rc<CatalogCache> {
        self.catalog.clone()
    }

    /// Message size limits for this shard's sessions.
    pub fn limits(&self) -> Limits {
        Limits {
            max_message_len: self.config.borrow().corepool_max_message_size,
        }
    }

    /// Waits until a session of this shard ends, or `at_most`. The wait's entry leaves the
    /// queue with it, woken or timed out, so clients retrying in a loop never pile up wakers.
    pub async fn wait_for_slot(&self, at_most: Duration) {
        let id = self.next_waiter.get();
        self.next_waiter.set(id.wrapping_add(1));
        let _leave = WaiterGuard { shard: self, id };
        let mut registered = false;
        let wait = futures_lite::future::poll_fn(|cx| {
            if registered {
                return std::task::Poll::Ready(());
            }
            registered = true;
            self.slot_waiters
                .borrow_mut()
                .push_back((id, cx.waker().clone()));
            std::task::Poll::Pending
        });
        runtime::timeout(at_most, wait).await;
    }

    /// A session of this shard ended: the longest-waiting client may try again.
    pub fn slot_freed(&self) {
        let next = self.slot_waiters.borrow_mut().pop_front();
        if let Some((_, w)) = next {
            w.wake();
        }
    }

    /// Takes a cancel slot for a new session.
    pub fn claim_slot(&self) -> Option<usize> {
        self.free_slots.borrow_mut().pop()
    }

    /// Returns a session's cancel slot.
    pub fn release_slot(&self, slot: usize) {
        self.state.cancel.release(slot);
        self.free_slots.borrow_mut().push(slot);
    }

    /// Called by a session's relay on every wake-up: remembers its waker (so a fast shutdown can
    /// wake it) and says whether it must stop.
    pub fn session_should_stop(&self, slot: usize, waker: &Waker) -> bool {
        if let Some(w) = self.wakers.borrow_mut().get_mut(slot - self.slot_base) {
            match w {
                Some(old) if old.will_wake(waker) => {}
                _ => *w = Some(waker.clone()),
            }
        }
        self.stopping.get()
    }

    /// [`Self::session_should_stop`] as the relay asks it: the end a session must come to now
    /// — a fast shutdown, or its backend `node` detached by a failover — if any.
    pub fn session_stop(
        &self,
        slot: usize,
        waker: &Waker,
        node: Option<usize>,
    ) -> Option<StopReason> {
        if self.session_should_stop(slot, waker) {
            return Some(StopReason::Shutdown);
        }
        let node = node?;
        let up = self.state.node(node).is_some_and(|n| n.status().is_valid());
        (!up).then_some(StopReason::NodeDetached(node))
    }

    /// Wakes every session of this shard so it looks at the cluster again (the topology
    /// changed: a session on a detached node ends).
    fn wake_sessions(&self) {
        for w in self.wakers.borrow().iter().flatten() {
            w.wake_by_ref();
        }
    }

    /// Drops a finished session's waker.
    pub fn forget_waker(&self, slot: usize) {
        if let Some(w) = self.wakers.borrow_mut().get_mut(slot - self.slot_base) {
            *w = None;
        }
    }

    /// Ends every session of this shard (fast shutdown).
    pub fn stop_sessions(&self) {
        self.stopping.set(true);
        for w in self.wakers.borrow_mut().iter_mut() {
            if let Some(w) = w.take() {
                w.wake();
            }
        }
    }

    /// The node writes go to: node 0's successor rules in raw mode (the first valid node), the
    /// primary in streaming-replication mode.
    pub fn write_node(&self) -> Option<usize> {
        let mode = self.config.borrow().backend_clustering_mode;
        match mode {
            ClusteringMode::StreamingReplication => self
                .state
                .primary()
                .filter(|p| self.state.node(*p).is_some_and(|n| n.status().is_valid())),
            _ => self
                .state
                .nodes()
                .iter()
                .find(|n| n.status().is_valid())
                .map(|n| n.id),
        }
    }

    /// The TLS configurations in force (client side and backend side).
    pub fn tls(&self) -> TlsSettings {
        self.auth.borrow().tls().clone()
    }

    /// Which method authenticates this client, and the user's pool_passwd secret. `ssl`: the
    /// client connection runs over TLS (pool_hba's `hostssl`/`hostnossl`).
    pub fn auth_rule(
        &self,
        who: &ClientIdent<'_>,
        local: bool,
        ssl: bool,
    ) -> (Method, Option<StoredPassword>) {
        let config = self.config.borrow();
        let auth = self.auth.borrow();
        let secret = auth.secret(who.user);
        if config.enable_pool_hba {
            let method = auth.hba_method(who, local, ssl).unwrap_or(Method::Reject);
            return (method, secret);
        }
        // Without pool_hba, Pgpool-II follows the backend's method using pool_passwd: corepool
        // asks for what the stored secret can verify, and trusts the backend otherwise.
        let method = match &secret {
            Some(StoredPassword::Md5(_)) => Method::Md5,
            Some(_) => Method::ScramSha256,
            None if config.allow_clear_text_frontend_auth => Method::Password,
            None => Method::Trust,
        };
        (method, secret)
    }

    /// Sends a client's CancelRequest to the backend serving it, wherever its session runs.
    /// The client's key may be 4 bytes (protocol 3.0) or 32 (3.2); the request sent on quotes
    /// the backend's own key at the length the backend issued it.
    pub async fn forward_cancel(&self, process_id: i32, secret_key: &[u8]) {
        let Some(key) = self.state.cancel.lookup(process_id, secret_key) else {
            tracing::debug!(process_id, "cancel request for an unknown key ignored");
            return;
        };
        let Some(node) = self.state.node(key.node as usize) else {
            return;
        };
        let mut out = BytesMut::with_capacity(44);
        if write::frontend::cancel_request(key.process_id, key.secret.as_bytes(), &mut out).is_err()
        {
            return;
        }
        let limit = Duration::from_secs(5);
        let stream = match &node.address {
            NodeAddress::Tcp { host, port } => match (host.as_str(), *port).to_socket_addrs_first()
            {
                Some(addr) => Stream::connect_tcp(addr, limit).await,
                None => return,
            },
            NodeAddress::Unix { dir, port } => {
                Stream::connect_unix(
                    &std::path::Path::new(dir).join(format!(".s.PGSQL.{port}")),
                    limit,
                )
                .await
            }
        };
        match stream {
            Ok(mut s) => {
                let _ = s.write_all(&out).await;
                // The server closes the connection after reading the request.
                let mut scratch = [0u8; 1];
                let _ = runtime::timeout(
                    limit,
                    futures_lite::AsyncReadExt::read(&mut s, &mut scratch),
                )
                .await;
            }
            Err(e) => {
                tracing::warn!(node = key.node, error = %e, "could not forward cancel request")
            }
        }
    }

    /// A connection attempt to `node` failed as if the node were down: with
    /// failover_on_backend_error, shard 0's health supervisor detaches it (on a failover thread).
    pub fn report_node_failure(&self, node: usize) {
        if !self.config.borrow().failover_on_backend_error {
            return;
        }
        if let Some(h) = self.state.health.node(node) {
            tracing::warn!(node, "connection to backend failed; requesting failover");
            h.request(NodeRequest::Detach);
        }
    }

    /// A session's backend connection broke (EOF, socket error, or FATAL such as 57P01). With
    /// failover_on_backend_error or failover_on_backend_shutdown, shard 0 checks the node at once
    /// and detaches it if it does not answer or is shutting down; a node that still answers
    /// (a `pg_terminate_backend`) stays attached.
    pub fn report_backend_lost(&self, node: usize) {
        let config = self.config.borrow();
        if !(config.failover_on_backend_error || config.failover_on_backend_shutdown) {
            tracing::debug!(node, "backend connection lost");
            return;
        }
        if let Some(h) = self.state.health.node(node) {
            tracing::debug!(node, "backend connection lost; checking the node");
            h.request(NodeRequest::Verify);
        }
    }

    /// Periodic housekeeping: pool expiry.
    pub fn tick(&self) {
        let now = Instant::now();
        let generation = self.state.generation();
        if self.seen_generation.replace(generation) != generation {
            self.wake_sessions();
            self.tx_pools
                .node_gone(|node| self.state.node(node).is_some_and(|n| n.status().is_valid()));
        }
        let closed = self.pool.prune(generation, now);
        let (life, idle_limit) = {
            let c = self.config.borrow();
            let life = (!c.connection_life_time.is_zero()).then_some(c.connection_life_time);
            let idle = c.pooling.server_idle_timeout;
            (life, (!idle.is_zero()).then_some(idle))
        };
        let (tx_closed, tx_idle) = self.tx_pools.prune(generation, life, idle_limit, now);
        self.state
            .pools
            .publish(self.id, self.tx_pools.report(self.id, now));
        let idle = (self.pool.idle_total() + tx_idle) as i64;
        self.stats().idle_connections.set(idle);
        if closed + tx_closed > 0 {
            tracing::debug!(
                shard = self.id,
                closed,
                tx_closed,
                "closed expired pooled connections"
            );
        }
    }

    /// Backends each transaction pool of this shard may hold.
    pub fn tx_pool_size(&self, config: &Config) -> usize {
        config.pooling.per_shard(self.state.stats.shards().len())
    }

    /// The transaction pool of `user` on `database` at `node`.
    pub fn tx_pool(&self, user: &str, database: &str, node: usize) -> Rc<TxPoolEntry> {
        let size = self.tx_pool_size(&self.config.borrow());
        self.tx_pools.get(user, database, node, size)
    }
}

fn pool_limits(config: &Config) -> PoolLimits {
    let sessions = config.num_init_children.max(1) as usize;
    PoolLimits {
        max_per_key: if config.connection_cache { sessions } else { 0 },
        max_total: sessions.saturating_mul(config.max_pool.max(1) as usize),
        life_time: (!config.connection_life_time.is_zero()).then_some(config.connection_life_time),
    }
}

/// Resolves a host and port to its first address (IP literals need no lookup).
trait FirstAddr {
    fn to_socket_addrs_first(self) -> Option<std::net::SocketAddr>;
}

impl FirstAddr for (&str, u16) {
    fn to_socket_addrs_first(self) -> Option<std::net::SocketAddr> {
        use std::net::ToSocketAddrs;
        self.to_socket_addrs().ok()?.next()
    }
}

/// Removes a finished wait's entry from the shard's slot queue (if no freed slot took it).
struct WaiterGuard<'a> {
    shard: &'a Shard,
    id: u64,
}

impl Drop for WaiterGuard<'_> {
    fn drop(&mut self) {
        self.shard
            .slot_waiters
            .borrow_mut()
            .retain(|(id, _)| *id != self.id);
    }
}
