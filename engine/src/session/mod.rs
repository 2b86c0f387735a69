//! One client session: start-up, authentication, backends from the pool, the relay, clean-up.
//!
//! # Layout
//! - [`startup`]: SSL/GSS negotiation, CancelRequest, StartupMessage.
//! - [`client_auth`]: pool_hba methods run against the client.
//! - [`relay`]: the duplex forwarding loop over one backend; each run returns why it stopped.
//! - [`route`]: per-request routing decisions (streaming replication with load balancing).
//! - `act`: the session's step — carrying out a routing decision (switch, broadcast,
//!   re-parse, catalog lookup, in-band answer).
//! - `cache`: the query cache's step — answering a cached SELECT, arming the relay to capture
//!   one, telling it which tables a write writes.
//! - [`backends`]: the session's backend connections by node.
//! - [`inband`]: `SHOW pool_*` and `PGPOOL …`, answered by corepool.
//! - `ddl`: HighGo's sharding DDL, run by corepool-ddl on the primary.
//! - [`errors`]: the ErrorResponses corepool itself sends, with PostgreSQL's SQLSTATEs.
//! - `finish`: the end of a session — telling the client why, pooling what is clean.
//! - `tx`: transaction pooling — leasing a backend per transaction, carrying the client's
//!   parameters, pinning.
//!
//! A session is a loop of relay runs: [`relay::Relay::run`] forwards until it stops, and the
//! session acts on the [`relay::Stop`] it returned — decides a request, or ends.

mod act;
pub mod backends;
mod cache;
pub mod client_auth;
mod ddl;
pub mod errors;
mod finish;
pub mod inband;
mod inband_extended;
pub mod relay;
pub mod route;
pub mod startup;
mod tx;

use std::rc::Rc;
use std::sync::Arc;

use crate::backend::{self, BackendConn, ConnectError, Credentials};
use crate::cluster::{CancelTable, Secret};
use crate::config::{ClusteringMode, Config, PoolMode};
use crate::pool::PoolKey;
use crate::router::choose_session_node;
use crate::runtime::{self, ReadBuf, Stream};
use crate::shard::Shard;
use backends::Backends;
use client_auth::{AuthFailure, ClientIdent};
use errors::send_fatal;
use relay::{ClientSide, End, IdleWatch, Meter, Relay, Stop, Watch};
use route::SessionRouter;
use startup::{greeting, Opening, Startup};

/// Serves one accepted client connection to its end.
///
/// The caller keeps `client` (left closed once the session took it): a stream passed by
/// value would be kept among this future's arguments for the session's whole life.
pub async fn serve(shard: &Rc<Shard>, client: &mut Stream) {
    let Some(startup) = read_startup(shard, client).await else {
        return;
    };
    let Some(slot) = shard.claim_slot() else {
        let _ = send_fatal(client, "53300", "Sorry, too many clients already").await;
        return;
    };
    let config = shard.config();
    let host = client
        .peer_addr()
        .map(|a| a.ip().to_string())
        .unwrap_or_else(|| "[local]".into());
    let span = tracing::info_span!("session", shard = shard.id, user = %startup.user, database = %startup.database, client = %host);
    let _enter = span.enter();
    if config.log_connections {
        tracing::info!("new connection");
    }
    // Boxed: authentication and the first backend's start-up are done once, and their state
    // kept inline would size the task for the session's whole life (docs/performance.md,
    // memory per idle client).
    if let Some((mut session, greeted)) =
        Box::pin(open(shard, slot, &startup, client.take(), host)).await
    {
        let end = match greeted {
            true => session.serve_requests().await,
            false => End::ClientGone,
        };
        shard.forget_waker(slot);
        // Boxed for the same reason: it runs once, at the end.
        Box::pin(session.finish(end, &startup.database)).await;
        drop(session);
        if config.log_disconnections {
            tracing::info!("disconnected");
        }
    }
    shard.release_slot(slot);
    shard.state.registry.close(slot);
}

/// Reads the client's opening: its StartupMessage, or a CancelRequest (forwarded here).
/// `None` when there is no session to run (the client was told why when it can be).
///
/// A function of its own so that what the opening needs (the start-up packet's parse, the
/// outcome's error or cancel key) is not kept in the session's future once the session runs.
async fn read_startup(shard: &Rc<Shard>, client: &mut Stream) -> Option<Startup> {
    let config = shard.config();
    let opening = runtime::timeout(
        config.authentication_timeout,
        startup::read_opening(client, shard.tls().server.as_ref()),
    )
    .await;
    match opening {
        None => {
            let _ = send_fatal(client, "08006", "authentication timeout").await;
            None
        }
        Some(Err(e)) => {
            tracing::debug!(error = %e, "start-up failed");
            if let Some(code) = e.fatal_code() {
                let _ = send_fatal(client, code, &e.to_string()).await;
            }
            None
        }
        Some(Ok(Opening::Cancel {
            process_id,
            secret_key,
        })) => {
            // Boxed: a cancel connects to a backend, state a session does not need to carry.
            Box::pin(shard.forward_cancel(process_id, &secret_key)).await;
            None
        }
        Some(Ok(Opening::Session(s))) => Some(s),
    }
}

/// What a session without a secret logs in to backends with.
static NO_CREDENTIALS: Credentials = Credentials::None;

/// A running session: its client, its backends and what it decided so far.
pub(crate) struct Session<'s> {
    shard: &'s Rc<Shard>,
    config: Arc<Config>,
    /// The session's own copy once PGPOOL SET changed something (boxed: few sessions have
    /// one, and a `Config` inline would be most of an idle session's size).
    session_config: Option<Box<Config>>,
    /// The client's start-up packet: its user, database and parameters (a new backend is
    /// started with them).
    startup: &'s Startup,
    /// The secret that logs this client in to a backend; `None` when there is none (trust).
    /// Boxed: it is read only when a backend is opened.
    creds: Option<Box<Credentials>>,
    key: PoolKey,
    slot: usize,
    client: Stream,
    side: ClientSide,
    backends: Backends,
    router: SessionRouter,
    idle: IdleWatch,
    /// The node whose session gauge counts this session now.
    counted_on: Option<usize>,
    /// Transaction pooling's state, when the session is pooled per transaction.
    tx: Option<tx::TxSession>,
    /// The query cache's state, when the cache is on.
    cache: Option<Box<cache::CacheState>>,
}

/// Authenticates the client, builds its session, connects what the session starts with and
/// greets the client. `None` when the session ended before it began (the client was told why);
/// otherwise the session and whether the greeting reached the client.
async fn open<'s>(
    shard: &'s Rc<Shard>,
    slot: usize,
    startup: &'s Startup,
    mut client: Stream,
    host: String,
) -> Option<(Session<'s>, bool)> {
    let config = shard.config();
    // A client that asked for a newer minor version or for `_pq_.` options learns what it gets
    // before authentication, as PostgreSQL tells it.
    if let Some(negotiation) = &startup.negotiation {
        if client.write_all(negotiation).await.is_err() {
            return None;
        }
    }

    // Authenticate the client.
    let mut cbuf = ReadBuf::with_chunk(1024);
    let who = ClientIdent {
        host: &host,
        user: &startup.user,
        database: &startup.database,
    };
    let (method, secret) = shard.auth_rule(&who, client.is_local(), client.is_tls());
    let auth = runtime::timeout(
        config.authentication_timeout,
        client_auth::authenticate(&mut client, &mut cbuf, &who, method, secret.as_ref()),
    )
    .await;
    let creds = match auth {
        None => {
            let _ = send_fatal(&mut client, "08006", "authentication timeout").await;
            return None;
        }
        Some(Err(AuthFailure::Io(_))) => return None,
        Some(Err(e)) => {
            tracing::info!(error = %e, "authentication failed");
            let _ = send_fatal(&mut client, e.sqlstate(), &e.to_string()).await;
            return None;
        }
        Some(Ok(c)) => c,
    };
    // Whatever the client sent after its authentication reaches the relay.
    client.unread_buf(&mut cbuf);
    drop(cbuf);

    let Some(primary) = shard.write_node() else {
        let _ = send_fatal(&mut client, "08006", "no valid backend node is available").await;
        return None;
    };
    let params = startup.param_pairs();
    let key = PoolKey::new(&startup.user, &startup.database, &params);
    let (router, lb_node) = router_for(shard, &config, startup, primary);
    let transaction_pooled =
        config.pooling.mode_for(&startup.user, &startup.database) == PoolMode::Transaction;
    let tx = transaction_pooled.then(|| tx::TxSession::new(&params));
    let query_cache = cache::CacheState::for_session(shard, startup, &params);
    drop(params);
    let mut session = Session {
        shard,
        config: config.clone(),
        session_config: None,
        startup,
        creds: match creds {
            Credentials::None => None,
            some => Some(Box::new(some)),
        },
        key,
        slot,
        client,
        side: ClientSide::default(),
        backends: Backends::default(),
        router,
        idle: IdleWatch::default(),
        counted_on: None,
        tx,
        cache: query_cache,
    };

    // The primary first: its start-up reply is what the client sees. A transaction-pooled
    // client is greeted from its pool's first backend's reply when there is one.
    let cached = match session.tx.is_some() {
        true => session.tx_greeting(primary),
        false => None,
    };
    if cached.is_none() {
        if let Err(e) = session.ensure(primary).await {
            match e {
                ConnectError::Refused { raw, .. } => {
                    let _ = session.client.write_all(&raw).await;
                }
                e => {
                    let (code, msg) = tx::refusal(&e);
                    let _ = send_fatal(&mut session.client, code, &msg).await;
                }
            }
            session.tx_finish().await;
            return None;
        }
    }
    // Pgpool-II connects the load-balance node at session start too; corepool does so when
    // it differs from the primary (statement-level balancing connects on first use).
    if session.tx.is_none() && lb_node != primary && session.ensure(lb_node).await.is_err() {
        session.router.lb_node = primary;
    }

    // Greet the client as PostgreSQL would, with corepool's own cancel key: 32 bytes for a
    // protocol 3.2 client (as PostgreSQL 18 issues), 4 for 3.0.
    let secret = Secret::random(match startup.version.variable_secret_key() {
        true => Secret::MAX_LEN,
        false => 4,
    });
    shard.state.cancel.claim(slot, &secret);
    let out = {
        let (reply, backend_key) = match (&cached, session.backends.get_mut(primary)) {
            (Some(reply), _) => (reply.clone(), None),
            (None, Some(conn)) => (conn.reply.clone(), conn.cancel_key()),
            (None, None) => return None,
        };
        if session.tx.is_none() {
            shard.state.cancel.bind(slot, backend_key);
        }
        shard.state.registry.open(
            slot,
            &startup.user,
            &startup.database,
            primary,
            backend_key.map_or(0, |k| k.process_id),
        );
        let every = session.tx.is_some();
        greeting(
            &reply,
            startup,
            every,
            CancelTable::process_id(slot),
            &secret,
        )
    };
    if session.tx.is_some() {
        // The backend that gave the greeting goes back until the first transaction.
        session.tx_release();
    } else {
        session.count_on(Some(primary));
    }
    let greeted = session.client.write_all(&out).await.is_ok();
    Some((session, greeted))
}

/// The session's router and load-balance node: a routing one with streaming replication and
/// load balancing over more than one valid node, else one that only catches in-band commands.
fn router_for(
    shard: &Rc<Shard>,
    config: &Config,
    startup: &Startup,
    primary: usize,
) -> (SessionRouter, usize) {
    let routing = config.backend_clustering_mode == ClusteringMode::StreamingReplication
        && config.load_balance_mode
        && shard
            .state
            .nodes()
            .iter()
            .filter(|n| n.status().is_valid())
            .count()
            > 1;
    if !routing {
        let router = SessionRouter::passthrough(
            shard.rules(),
            shard.state.clone(),
            shard.catalog(),
            primary,
        )
        .on_shard(shard.id);
        return (router, primary);
    }
    let rules = shard.rules();
    let lb_node = choose_session_node(
        &shard.state,
        primary,
        &rules.app_redirect,
        &rules.db_redirect,
        startup.get("application_name"),
        &startup.database,
        rand::random::<f64>(),
        rand::random::<f64>(),
    )
    .unwrap_or(primary);
    let router = SessionRouter::new(
        rules,
        shard.state.clone(),
        shard.catalog(),
        primary,
        lb_node,
        config.statement_level_load_balance,
        // With delay_threshold_by_time the checks record delays in milliseconds.
        if config.delay_threshold_by_time.is_zero() {
            config.delay_threshold
        } else {
            config.delay_threshold_by_time.as_millis() as u64
        },
        config.prefer_lower_delay_standby,
    )
    // On by default with statement-level balancing, where consecutive statements of a session
    // may land on different standbys.
    .with_read_your_writes(config.corepool_read_your_writes || config.statement_level_load_balance)
    .on_shard(shard.id);
    (router, lb_node)
}

impl Session<'_> {
    /// Relays requests until the session ends: each relay run stops at a request the session
    /// decides, or at the end.
    async fn serve_requests(&mut self) -> End {
        loop {
            if self.tx.is_some() && !self.backends.has(self.router.current) {
                // Between transactions: nothing is held until the client sends its next
                // request, then a backend is leased for it.
                if let Err(end) = self.next_transaction().await {
                    return end;
                }
            }
            match self.relay_once().await {
                Stop::Request => {
                    if let Err(end) = self.decide().await {
                        return end;
                    }
                }
                Stop::Idle => self.tx_release(),
                Stop::Drained => {}
                Stop::End(end) => return end,
            }
        }
    }

    /// client_idle_limit in force: the session's own (PGPOOL SET) or the configured one.
    fn idle_limit(&self) -> std::time::Duration {
        self.session_config
            .as_deref()
            .unwrap_or(&self.config)
            .client_idle_limit
    }

    /// Waits for the client's next request and leases a backend of the current node for it.
    async fn next_transaction(&mut self) -> Result<(), End> {
        let idle_limit = self.idle_limit();
        if idle_limit.is_zero() {
            self.wait_input().await?;
        } else {
            let idle = IdleWatch::default();
            let limit = relay::idle_timeout(&idle, idle_limit);
            let wait = self.wait_input();
            futures_lite::future::or(wait, async { Err(limit.await) }).await?;
        }
        // After a failover the next transaction goes to the new primary: a transaction-pooled
        // client does not have to reconnect.
        let detached =
            |s: &Self, n: usize| !s.shard.state.node(n).is_some_and(|n| n.status().is_valid());
        if detached(self, self.router.primary) {
            if let Some(p) = self.shard.write_node() {
                self.router.primary = p;
                self.router.lb_node = p;
                self.router.current = p;
            }
        } else if detached(self, self.router.current) {
            self.router.current = self.router.primary;
        }
        let node = self.router.current;
        match self.ensure(node).await {
            Ok(()) => {
                if let Some(conn) = self.backends.get_mut(node) {
                    self.shard.state.cancel.bind(self.slot, conn.cancel_key());
                }
                self.count_on(Some(node));
                Ok(())
            }
            Err(e) => {
                let (code, msg) = tx::refusal(&e);
                tracing::info!(error = %e, "no backend for the transaction");
                let _ = send_fatal(&mut self.client, code, &msg).await;
                Err(End::ClientGone)
            }
        }
    }

    /// One relay run over the current backend.
    async fn relay_once(&mut self) -> Stop {
        let idle_limit = self.idle_limit();
        let shard = self.shard;
        let node = self.router.current;
        let limits = shard.limits();
        let slot = self.slot;
        let Some(conn) = self.backends.get_mut(node) else {
            return Stop::End(End::backend_lost(None));
        };
        let stop = |w: &std::task::Waker| shard.session_stop(slot, w, Some(node)).map(End::from);
        let tx_unpinned = self.tx.as_ref().map(|t| t.pinned.is_none());
        let watch = Watch {
            requests: self.router.is_routing() || self.cache.is_some(),
            binds: !self.router.in_band_statements.is_empty(),
            idle_backend: tx_unpinned == Some(true),
            session_state: tx_unpinned == Some(true),
        };
        let meter = Meter {
            shard: shard.stats(),
            node: shard.stats().node(node),
            count_statements: !self.router.is_routing(),
        };
        let max_statements = self.config.pooling.max_prepared_statements as usize;
        let mut rewriter = self
            .tx
            .as_mut()
            .and_then(|tx| tx.rewriter(node, max_statements));
        let mut relay = Relay::new(&mut self.client, &mut self.side, conn, &limits, &stop)
            .watching(watch)
            .watched(&self.idle)
            .metered(meter)
            .published(shard.state.registry.activity(slot));
        if let Some(r) = rewriter.as_mut() {
            relay = relay.rewriting(r);
        }
        relay = relay.caching(self.cache.as_deref_mut().map(|c| &mut c.track));
        let run = relay.run();
        if idle_limit.is_zero() {
            run.await
        } else {
            let timeout = async { Stop::End(relay::idle_timeout(&self.idle, idle_limit).await) };
            futures_lite::future::or(run, timeout).await
        }
    }

    /// Moves this session's count in the per-node session gauge to `node`.
    fn count_on(&mut self, node: Option<usize>) {
        if self.counted_on == node {
            return;
        }
        let stats = self.shard.stats();
        if let Some(n) = self.counted_on.and_then(|n| stats.node(n)) {
            n.sessions.add(-1);
        }
        if let Some(n) = node.and_then(|n| stats.node(n)) {
            n.sessions.add(1);
        }
        self.counted_on = node;
    }

    /// Opens a connection to `node` unless the session has one: from the shard's pool when
    /// connection_cache is on, else a new one.
    pub(crate) async fn ensure(&mut self, node: usize) -> Result<(), ConnectError> {
        if self.backends.has(node) {
            return Ok(());
        }
        if self.tx.is_some() {
            return self.tx_acquire(node).await;
        }
        let generation = self.shard.state.generation();
        if self.config.connection_cache {
            if let Some(c) = self
                .shard
                .pool
                .take(&self.key, node, generation, runtime::now())
            {
                self.backends.insert(c);
                return Ok(());
            }
        }
        let conn = self.open_backend(node).await?;
        self.backends.insert(conn);
        Ok(())
    }

    /// Opens a new connection to `node` with the client's parameters and credentials.
    pub(crate) async fn open_backend(&mut self, node: usize) -> Result<BackendConn, ConnectError> {
        let generation = self.shard.state.generation();
        let Some(n) = self.shard.state.node(node) else {
            return Err(ConnectError::Auth {
                node,
                why: "no such backend node".into(),
            });
        };
        let limit = self
            .config
            .health_check
            .connect_timeout
            .max(std::time::Duration::from_secs(10));
        // Boxed: connecting (TLS, SCRAM) needs several KiB of future state, and kept inline
        // it would size every session's task, idle ones included. A connect costs far more
        // than the allocation.
        let limits = self.shard.limits();
        let tls = self.shard.tls();
        let params = self.startup.param_pairs();
        let creds = self.creds.as_deref().unwrap_or(&NO_CREDENTIALS);
        let connect = Box::pin(backend::connect(
            node,
            &n.address,
            &params,
            creds,
            &limits,
            limit,
            generation,
            tls.client.as_ref(),
        ));
        match connect.await {
            Ok(c) => {
                n.mark_connected();
                Ok(c)
            }
            Err(e) => {
                tracing::warn!(error = %e, "backend connection failed");
                if e.is_node_failure() {
                    self.shard.report_node_failure(node);
                }
                Err(e)
            }
        }
    }
}
