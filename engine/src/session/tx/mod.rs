//! Transaction pooling (`pool_mode = transaction`): the session holds a backend only from the
//! start of a transaction to its end, and what the client relies on travels with it.
//!
//! Between transactions the session holds no backend. When the client's next request arrives
//! the session leases one from its shard's pool for the user, database and node (waiting in
//! arrival order when the pool is full, at most `query_wait_timeout`), replays the parameters
//! the client set whose values differ on that backend (pipelined ahead of the request, the
//! replies dropped), and relays; when the backend reports ReadyForQuery `I` with nothing owed,
//! the backend goes back to the pool. Plain `SET`s are tracked (and applied to the client's
//! state only when their transaction ends without an error); state that cannot move between
//! backends — `LISTEN`, temporary tables, session advisory locks, `WITH HOLD` cursors,
//! `SET ROLE`, SQL `PREPARE` — pins the client to its backend for the rest of its session, as in
//! session pooling. Protocol-level named statements move with the client (`rewrite`). Nothing
//! is ever silently wrong: when unsure, it pins.
//!
//! # Layout
//! - `track`: what a statement does to the carried state ([`track::Effect`]), pure.
//! - `rewrite`: named prepared statements mapped onto each backend's, message by message.
//! - this file: the session's side — leasing, replay, release, pinning, the end.

mod rewrite;
pub(crate) mod track;

use std::rc::Rc;

use corepool_protocol::message::frontend::Query;
use corepool_protocol::message::tags::{PARSE_TAG, QUERY_TAG};
use corepool_protocol::message::TransactionStatus;

use super::backends::{query_message, send_discarded};
use super::relay::End;
use super::Session;
use crate::backend::params::Params;
use crate::backend::prepared::BackendStatements;
use crate::backend::{self, internal_query, ConnectError, TxBackend};
use crate::pool::Got;
use crate::runtime;
use crate::shard::TxPoolEntry;
use track::Effect;

/// The transaction-pooling state of one session.
pub(super) struct TxSession {
    /// The client's start-up parameters (what RESET ALL goes back to).
    startup: Params,
    /// What the client relies on: start-up parameters and SETs whose transactions ended well.
    desired: Params,
    /// Effects of the open transaction, applied when it ends without an error.
    pending: Vec<Effect>,
    /// The backend's error count when the first pending effect was sent.
    errors_at_pending: u32,
    /// Why the client keeps its backend (state that cannot move), once it does.
    pub(super) pinned: Option<&'static str>,
    /// Per node: the pool, and while a backend is lent, its state.
    leases: Vec<Lease>,
    /// The client's named statements, once it used one (the relay then rewrites its stream).
    pub(super) statements: Option<rewrite::ClientStatements>,
}

#[derive(Default)]
struct Lease {
    pool: Option<Rc<TxPoolEntry>>,
    /// The lent backend's state while this client has it.
    lent: Option<Lent>,
}

/// What a lent backend carries besides its connection.
struct Lent {
    defaults: Params,
    applied: Params,
    statements: BackendStatements,
}

impl TxSession {
    /// State for a client that started with `pairs`.
    pub(super) fn new(pairs: &[(&str, &str)]) -> Self {
        let startup = Params::from_startup(pairs);
        Self {
            desired: startup.clone(),
            startup,
            pending: Vec::new(),
            errors_at_pending: 0,
            pinned: None,
            leases: Vec::new(),
            statements: None,
        }
    }

    /// The rewriter for a relay run on `node`, when the client uses named statements (and is
    /// not pinned: a pinned client's statements live on its backend under its own names).
    pub(super) fn rewriter(&mut self, node: usize, max: usize) -> Option<rewrite::Rewriter<'_>> {
        if self.pinned.is_some() {
            return None;
        }
        let client = self.statements.as_mut()?;
        let lent = self.leases.get_mut(node)?.lent.as_mut()?;
        Some(rewrite::Rewriter {
            client,
            backend: &mut lent.statements,
            max,
        })
    }

    fn lease(&mut self, node: usize) -> &mut Lease {
        if self.leases.len() <= node {
            // Exactly as many as needed: a Vec's first growth would make room for four.
            self.leases.reserve_exact(node + 1 - self.leases.len());
            self.leases.resize_with(node + 1, Lease::default);
        }
        &mut self.leases[node]
    }

    /// Applies `effects` of a statement sent to a backend whose error count is `errors`.
    fn note(&mut self, effects: Vec<Effect>, errors: u32) {
        for e in effects {
            match e {
                Effect::Pin(why) => {
                    self.pinned.get_or_insert(why);
                }
                Effect::Rollback => self.pending.clear(),
                Effect::RollbackToSavepoint if !self.pending.is_empty() => {
                    // Which SETs the savepoint undoes is not tracked: keep the backend.
                    self.pinned
                        .get_or_insert("a ROLLBACK TO SAVEPOINT after a SET");
                }
                Effect::RollbackToSavepoint => {}
                change => {
                    if self.pending.is_empty() {
                        self.errors_at_pending = errors;
                    }
                    self.pending.push(change);
                }
            }
        }
    }

    /// The transaction ended with `errors` on its backend: its effects hold when no error came
    /// since they were sent. Returns the effects that hold.
    fn settle(&mut self, errors: u32) -> Vec<Effect> {
        let pending = std::mem::take(&mut self.pending);
        if errors != self.errors_at_pending {
            return Vec::new();
        }
        for e in &pending {
            apply(&mut self.desired, &self.startup, e);
        }
        pending
    }
}

fn apply(params: &mut Params, startup: &Params, effect: &Effect) {
    match effect {
        Effect::Set(name, value) => params.set(name, value.clone()),
        Effect::Reset(name) => match startup.get(name) {
            Some(v) => params.set(name, v.clone()),
            None => params.reset(name),
        },
        Effect::ResetAll => *params = startup.clone(),
        _ => {}
    }
}

impl Session<'_> {
    /// Leases a backend of `node`'s pool, opening one when the pool has room, and queues the
    /// replay of the client's parameters on it.
    pub(super) async fn tx_acquire(&mut self, node: usize) -> Result<(), ConnectError> {
        let entry = self.tx_pool(node);
        let config = self.config.clone();
        let life = (!config.connection_life_time.is_zero()).then_some(config.connection_life_time);
        let waited = config.pooling.query_wait_timeout;
        let generation = self.shard.state.generation();
        let got = entry
            .pool
            .acquire(generation, life, waited, runtime::now())
            .await
            .map_err(|_| ConnectError::PoolTimeout { node, waited })?;
        let lent = match got {
            Got::Idle(b) => b,
            Got::Open => {
                // Moved out before the await, so that no TxBackend-sized value stays in the
                // future's state while the backend connects: it would size every idle
                // session's task.
                drop(got);
                match self.open_backend(node).await {
                    Ok(conn) => {
                        let defaults = Params::from_startup(&self.startup.param_pairs());
                        entry
                            .greeting
                            .borrow_mut()
                            .get_or_insert_with(|| conn.reply.clone());
                        TxBackend {
                            conn,
                            applied: defaults.clone(),
                            defaults,
                            statements: BackendStatements::default(),
                        }
                    }
                    Err(e) => {
                        entry.pool.discard();
                        return Err(e);
                    }
                }
            }
        };
        let TxBackend {
            mut conn,
            applied,
            defaults,
            statements,
        } = lent;
        let Some(tx) = self.tx.as_mut() else {
            return Err(ConnectError::Auth {
                node,
                why: "not a transaction-pooled session".into(),
            });
        };
        if let Some(sql) = tx.desired.replay_from(&applied, &defaults) {
            if let Err(e) = send_discarded(&mut conn, query_message(&sql).freeze(), 1) {
                entry.pool.discard();
                return Err(e);
            }
        }
        let applied = tx.desired.clone();
        tx.lease(node).lent = Some(Lent {
            defaults,
            applied,
            statements,
        });
        self.backends.insert(conn);
        Ok(())
    }

    /// The session's pool for `node`.
    fn tx_pool(&mut self, node: usize) -> Rc<TxPoolEntry> {
        let shard = self.shard;
        let (user, database) = (self.key.user(), self.key.database());
        let Some(tx) = self.tx.as_mut() else {
            return shard.tx_pool(user, database, node);
        };
        tx.lease(node)
            .pool
            .get_or_insert_with(|| shard.tx_pool(user, database, node))
            .clone()
    }

    /// What the request at the front does to the carried state (the relay stopped at it).
    pub(super) fn tx_track(&mut self) {
        let (errors, quiet) = self
            .backends
            .get_mut(self.router.current)
            .map_or((0, true), |c| (c.side.errors, c.side.is_quiet()));
        let Some(tx) = self.tx.as_mut() else {
            return;
        };
        let frame = self.side.front_message();
        let body = frame.get(5..).unwrap_or_default();
        let effects = match frame.first() {
            Some(&QUERY_TAG) => match Query::parse(body) {
                Ok(q) => track::effects(q.query()),
                Err(_) => Vec::new(),
            },
            Some(&PARSE_TAG) if body.first().is_some_and(|b| *b != 0) => {
                if tx.statements.is_none() {
                    // From now on the relay maps this client's statements onto the backends'.
                    // It can start only between requests: when something is owed, keep the
                    // backend instead.
                    if quiet {
                        tx.statements = Some(rewrite::ClientStatements::default());
                    } else {
                        tx.pinned
                            .get_or_insert("a named statement while replies were owed");
                    }
                }
                Vec::new()
            }
            Some(&PARSE_TAG) => match corepool_protocol::message::frontend::Parse::parse(body) {
                Ok(p) => track::effects(p.query()),
                Err(_) => Vec::new(),
            },
            _ => Vec::new(),
        };
        let was_pinned = tx.pinned.is_some();
        tx.note(effects, errors);
        if !was_pinned {
            if let Some(why) = tx.pinned {
                tracing::debug!(reason = why, "client pinned to its backend");
                self.shard.stats().pinned_clients.add(1);
            }
        }
    }

    /// The transaction ended: every lent backend goes back to its pool (its parameters are the
    /// client's now), unless the client is pinned.
    pub(super) fn tx_release(&mut self) {
        let Some(tx) = self.tx.as_mut() else {
            return;
        };
        if tx.pinned.is_some() {
            return;
        }
        let errors = self
            .backends
            .get_mut(self.router.current)
            .map_or(0, |c| c.side.errors);
        let held = tx.settle(errors);
        let now = runtime::now();
        for node in self.backends.nodes() {
            let Some(conn) = self.backends.remove(node) else {
                continue;
            };
            let lease = tx.lease(node);
            let (Some(pool), Some(lent)) = (lease.pool.clone(), lease.lent.take()) else {
                continue;
            };
            let Lent {
                defaults,
                mut applied,
                statements,
            } = lent;
            if !conn.side.is_quiet() || conn.status != TransactionStatus::Idle {
                // Not between transactions after all (a backend of another node still busy):
                // it cannot serve another client.
                pool.pool.discard();
                continue;
            }
            for e in &held {
                apply(&mut applied, &defaults, e);
            }
            pool.pool.release(
                TxBackend {
                    conn,
                    applied,
                    defaults,
                    statements,
                },
                now,
            );
        }
        self.shard.state.cancel.bind(self.slot, None);
        self.count_on(None);
    }

    /// The session ends: clean backends go back to their pools (a transaction left open is
    /// rolled back, a pinned client's backend is reset with DISCARD ALL), others are closed.
    pub(super) async fn tx_finish(&mut self) {
        let limits = self.shard.limits();
        let Some(mut tx) = self.tx.take() else {
            return;
        };
        let pinned = tx.pinned.is_some();
        for node in self.backends.nodes() {
            let Some(mut conn) = self.backends.remove(node) else {
                continue;
            };
            let lease = tx.lease(node);
            let (Some(pool), Some(lent)) = (lease.pool.clone(), lease.lent.take()) else {
                continue;
            };
            let Lent {
                defaults,
                applied,
                mut statements,
            } = lent;
            let clean = conn.side.is_quiet() && !conn.side.copy_both && conn.rbuf.is_empty();
            let mut ok = clean
                && super::backends::discard_owed(&mut conn, &limits)
                    .await
                    .is_ok();
            if ok && conn.status != TransactionStatus::Idle {
                ok = matches!(
                    internal_query(&mut conn, "ROLLBACK", &limits).await,
                    Ok(Some(_))
                );
            }
            let applied = if ok && pinned {
                ok = backend::reset(&mut conn, &["DISCARD ALL".to_owned()], &limits)
                    .await
                    .is_ok();
                statements.clear();
                defaults.clone()
            } else {
                applied
            };
            if ok && conn.status == TransactionStatus::Idle {
                pool.pool.release(
                    TxBackend {
                        conn,
                        applied,
                        defaults,
                        statements,
                    },
                    runtime::now(),
                );
            } else {
                pool.pool.discard();
            }
        }
        if pinned {
            self.shard.stats().pinned_clients.add(-1);
        }
    }

    /// Closes the connection to `node` (it broke); in transaction pooling its pool gets the
    /// place back.
    pub(super) fn drop_backend(&mut self, node: usize) {
        self.backends.remove(node);
        if let Some(tx) = self.tx.as_mut() {
            let lease = tx.lease(node);
            if lease.lent.take().is_some() {
                if let Some(pool) = &lease.pool {
                    pool.pool.discard();
                }
            }
        }
    }

    /// The pool's start-up reply, for greeting a new client without taking a backend.
    pub(super) fn tx_greeting(&mut self, node: usize) -> Option<crate::backend::StartupReply> {
        self.tx_pool(node).greeting.borrow().clone()
    }

    /// Between transactions: waits until the client sends something (no backend is held
    /// meanwhile). `Err` when it left or sent Terminate.
    pub(super) async fn wait_input(&mut self) -> Result<(), End> {
        let shard = self.shard;
        let slot = self.slot;
        let stop = |w: &std::task::Waker| shard.session_stop(slot, w, None).map(End::from);
        let stats = shard.stats();
        self.side.wait_input(&mut self.client, &stop, stats).await
    }
}

/// Why a transaction-pooled session could not get a backend, as the client hears it.
pub(super) fn refusal(e: &ConnectError) -> (&'static str, String) {
    match e {
        ConnectError::PoolTimeout { .. } => ("53300", e.to_string()),
        _ => ("08006", e.to_string()),
    }
}
