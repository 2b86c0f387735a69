//! The session's step: deciding the request the relay stopped at and carrying the decision out
//! — switch backend, run on every backend, re-send a Parse, ask the catalog, or answer an
//! in-band command — before the relay runs again.

use bytes::{Bytes, BytesMut};
use corepool_protocol::message::TransactionStatus;

use super::backends::{discard_owed, send_discarded};
use super::inband;
use super::relay::{End, Observed, Relay, Stop};
use super::route::Action;
use super::Session;
use crate::backend::{internal_query, quote_literal, ConnectError};

impl Session<'_> {
    /// Decides the request at the front of the client's input. `Err` ends the session.
    pub(super) async fn decide(&mut self) -> Result<(), End> {
        if self.tx.is_some() {
            self.tx_track();
        }
        if self.cache.is_some() {
            if self.cache_step().await? {
                return Ok(());
            }
            // The relay stopped here only for the cache: a session that does not route
            // forwards the request unless corepool may answer it itself.
            if !self.router.is_routing()
                && self.router.in_band_statements.is_empty()
                && !self.side.front_maybe_ours()
            {
                self.side.mark_routed();
                return Ok(());
            }
        }
        let observed = match self.backends.get_mut(self.router.current) {
            Some(conn) => Observed::of(conn),
            None => return Err(End::backend_lost(None)),
        };
        let done = match self.router.decide(self.side.front_bytes(), observed) {
            None => {
                self.side.mark_routed();
                Ok(())
            }
            Some(action) => self.act(action).await,
        };
        if let Some(c) = self.cache.as_mut() {
            // Only the primary's results are stored: a standby may not have replayed the
            // write that invalidated the entry yet.
            if self.router.current != self.router.primary {
                c.track.capture = None;
            }
        }
        done
    }

    /// Carries out `action` for the request at the front.
    async fn act(&mut self, action: Action) -> Result<(), End> {
        match action {
            Action::Switch(node) => {
                self.switch_to(node).await?;
                self.side.mark_routed();
            }
            Action::Broadcast(standby_text) => self.broadcast(standby_text).await?,
            Action::Reparse { node, parses } => {
                self.switch_to(node).await?;
                if let Some(conn) = self.backends.get_mut(node) {
                    for parse in parses {
                        if conn.stream.send(parse).is_err() {
                            return Err(End::backend_lost(None));
                        }
                        conn.side.swallow_parse_complete += 1;
                    }
                }
                self.side.mark_routed();
            }
            // The rare actions' futures are boxed so that their state (an internal query's,
            // enhanced DDL's) does not size every session's task.
            Action::Catalog(checks) => {
                let primary = self.router.primary;
                self.switch_to(primary).await?;
                let ok = Box::pin(self.look_up(&checks)).await?;
                // A failed lookup (an aborted transaction) routes this request to the primary.
                self.router.assume_writes_once = !ok;
            }
            Action::Ddl => Box::pin(self.run_ddl()).await?,
            Action::Fence(node) => {
                // Boxed too: a fence check queries the primary or the standby.
                let target = Box::pin(self.fence(node)).await?;
                self.switch_to(target).await?;
                self.side.mark_routed();
            }
            Action::InBand => Box::pin(self.answer_in_band()).await?,
        }
        Ok(())
    }

    /// Runs the simple Query at the front on the primary (which answers the client) and on
    /// every other connected backend, whose replies are dropped; standbys get `standby_text`
    /// instead when set.
    async fn broadcast(&mut self, standby_text: Option<&'static str>) -> Result<(), End> {
        let primary = self.router.primary;
        self.switch_to(primary).await?;
        let standbys: Vec<usize> = self
            .backends
            .nodes()
            .into_iter()
            .filter(|n| *n != primary)
            .collect();
        if !standbys.is_empty() {
            // One shared copy of the statement for every standby.
            let message: Bytes = match standby_text {
                Some(text) => super::backends::query_message(text).freeze(),
                None => Bytes::copy_from_slice(self.side.front_message()),
            };
            let limits = self.shard.limits();
            for node in standbys {
                let Some(conn) = self.backends.get_mut(node) else {
                    continue;
                };
                let sent = match discard_owed(conn, &limits).await {
                    Ok(_) => send_discarded(conn, message.clone(), 1),
                    Err(e) => Err(e),
                };
                if let Err(e) = sent {
                    tracing::warn!(node, error = %e, "standby connection lost; using the primary only");
                    self.drop_backend(node);
                    if self.router.lb_node == node {
                        self.router.lb_node = primary;
                    }
                }
            }
        }
        self.side.mark_routed();
        Ok(())
    }

    /// Asks the primary about the functions' volatility and the relations' persistence the
    /// router needs; false when a lookup failed (the transaction is aborted).
    async fn look_up(&mut self, checks: &crate::router::ReadChecks) -> Result<bool, End> {
        let primary = self.router.primary;
        let limits = self.shard.limits();
        let cache = self.shard.catalog();
        let Some(conn) = self.backends.get_mut(primary) else {
            return Err(End::backend_lost(None));
        };
        let mut ok = true;
        if !checks.functions.is_empty() {
            let names: Vec<String> = checks.functions.iter().map(|f| quote_literal(f)).collect();
            let sql = format!(
                "SELECT proname, bool_or(provolatile = 'v') FROM pg_catalog.pg_proc WHERE proname IN ({}) GROUP BY proname",
                names.join(", ")
            );
            match internal_query(conn, &sql, &limits).await {
                Ok(Some(rows)) => {
                    for f in &checks.functions {
                        // Names not in pg_proc are SQL syntax, not functions: they write nothing.
                        cache.set_volatile(f, false);
                    }
                    for row in rows {
                        if let [Some(name), Some(v)] = row.as_slice() {
                            cache.set_volatile(name, v == "t");
                        }
                    }
                }
                Ok(None) => ok = false,
                Err(e) => return Err(lost(e)),
            }
        }
        if !checks.relations.is_empty() {
            let names: Vec<String> = checks.relations.iter().map(|r| quote_literal(r)).collect();
            let sql = format!(
                "SELECT relname, bool_or(relpersistence = 'u') FROM pg_catalog.pg_class WHERE relname IN ({}) GROUP BY relname",
                names.join(", ")
            );
            match internal_query(conn, &sql, &limits).await {
                Ok(Some(rows)) => {
                    for r in &checks.relations {
                        cache.set_unlogged(r, false);
                    }
                    for row in rows {
                        if let [Some(name), Some(v)] = row.as_slice() {
                            cache.set_unlogged(name, v == "t");
                        }
                    }
                }
                Ok(None) => ok = false,
                Err(e) => return Err(lost(e)),
            }
        }
        Ok(ok)
    }

    /// Answers the in-band command (or enhanced DDL of an extended run) at the front.
    async fn answer_in_band(&mut self) -> Result<(), End> {
        let extended = super::inband_extended::in_band_run(
            self.side.front_bytes(),
            &self.router.in_band_statements,
        );
        if let Some(run) = extended.as_ref().filter(|r| r.ddl) {
            // Enhanced DDL in an extended run: executed on the primary only when the run
            // executes it (a prepare-only run just describes it).
            let primary = self.router.primary;
            self.switch_to(primary).await?;
            let reply = if run.executes {
                self.execute_ddl(&run.sql).await?
            } else {
                let mut z = BytesMut::with_capacity(6);
                let status = self.router.primary_status;
                corepool_protocol::message::write::backend::ready_for_query(status, &mut z);
                z
            };
            let reply = super::inband_extended::answer(&self.side.front_bytes()[..run.len], &reply);
            self.side.consume_front(run.len);
            return self.reply(reply).await;
        }
        self.drain_current().await?;
        let (len, sql) = match &extended {
            Some(run) => (run.len, run.sql.clone()),
            None => self.side.front_query(),
        };
        if extended.is_none() {
            let status = self
                .backends
                .get_mut(self.router.current)
                .map_or(TransactionStatus::Idle, |c| c.status);
            if let Some(reply) = self.cache_command(&sql, status) {
                self.side.consume_front(len);
                return self.reply(reply).await;
            }
        }
        let configured = self.config.clone();
        let session = self
            .session_config
            .get_or_insert_with(|| Box::new((*configured).clone()));
        let reply = inband::answer(
            &sql,
            inband::Context {
                state: &self.shard.state,
                configured: &configured,
                session,
                lb_node: self.router.lb_node,
            },
        );
        let reply = match extended {
            Some(_) => super::inband_extended::answer(&self.side.front_bytes()[..len], &reply),
            None => reply,
        };
        self.side.consume_front(len);
        self.reply(reply).await
    }

    /// Sends corepool's own reply to the client.
    pub(super) async fn reply(&mut self, reply: BytesMut) -> Result<(), End> {
        self.client.send(reply).map_err(|_| End::ClientGone)
    }

    /// Read-your-writes: `node` if it has replayed the session's last committed write, else the
    /// primary. Fetches the primary's WAL position first when a write has not been fenced yet.
    async fn fence(&mut self, node: usize) -> Result<usize, End> {
        let primary = self.router.primary;
        let limits = self.shard.limits();
        self.drain_current().await?;
        if self.router.unfenced_write {
            let Some(conn) = self.backends.get_mut(primary) else {
                return Err(End::backend_lost(None));
            };
            if let Err(e) = discard_owed(conn, &limits).await {
                return Err(lost(e));
            }
            match internal_query(conn, "SELECT pg_catalog.pg_current_wal_lsn()", &limits).await {
                Ok(Some(rows)) => {
                    self.router.fence = rows.first().and_then(|r| r.first().cloned().flatten());
                    self.router.unfenced_write = false;
                }
                Ok(None) => return Ok(primary),
                Err(e) => return Err(lost(e)),
            }
        }
        let Some(fence) = self.router.fence.clone() else {
            return Ok(node);
        };
        if self.ensure(node).await.is_err() {
            return Ok(primary);
        }
        let Some(conn) = self.backends.get_mut(node) else {
            return Ok(primary);
        };
        if !conn.side.is_quiet() || discard_owed(conn, &limits).await.is_err() {
            return Ok(primary);
        }
        let sql = format!(
            "SELECT pg_catalog.pg_last_wal_replay_lsn() >= {}::pg_catalog.pg_lsn",
            quote_literal(&fence)
        );
        match internal_query(conn, &sql, &limits).await {
            Ok(Some(rows))
                if rows
                    .first()
                    .and_then(|r| r.first())
                    .is_some_and(|v| v.as_deref() == Some("t")) =>
            {
                self.router.verified |= super::route::SessionRouter::node_bit(node);
                Ok(node)
            }
            Ok(_) => Ok(primary),
            Err(_) => {
                self.drop_backend(node);
                Ok(primary)
            }
        }
    }

    /// Makes `node` the current backend: the current one is drained first (its replies reach
    /// the client in order), `node` is connected if needed and cleared of replies owed to
    /// corepool.
    pub(super) async fn switch_to(&mut self, node: usize) -> Result<(), End> {
        self.drain_current().await?;
        if self.router.current == node {
            return Ok(());
        }
        if let Err(e) = self.ensure(node).await {
            tracing::warn!(node, error = %e, "cannot use node; sending the request to the primary");
            if node == self.router.primary {
                return Err(lost(e));
            }
            return Box::pin(self.switch_to(self.router.primary)).await;
        }
        let limits = self.shard.limits();
        let Some(conn) = self.backends.get_mut(node) else {
            return Err(End::backend_lost(None));
        };
        if let Err(e) = discard_owed(conn, &limits).await {
            return Err(lost(e));
        }
        self.shard.state.cancel.bind(self.slot, conn.cancel_key());
        self.router.current = node;
        self.count_on(Some(node));
        Ok(())
    }

    /// Forwards everything the current backend still owes the client.
    pub(super) async fn drain_current(&mut self) -> Result<(), End> {
        let node = self.router.current;
        let limits = self.shard.limits();
        let Some(conn) = self.backends.get_mut(node) else {
            return Err(End::backend_lost(None));
        };
        if conn.side.is_quiet() {
            return Ok(());
        }
        let never = |_: &std::task::Waker| None;
        let meter = super::relay::Meter {
            shard: self.shard.stats(),
            node: self.shard.stats().node(node),
            count_statements: false,
        };
        let end = Relay::new(&mut self.client, &mut self.side, conn, &limits, &never)
            .metered(meter)
            .caching(self.cache.as_deref_mut().map(|c| &mut c.track))
            .draining()
            .run()
            .await;
        match end {
            Stop::Drained => Ok(()),
            Stop::End(e) => Err(e),
            Stop::Request | Stop::Idle => Ok(()),
        }
    }
}

fn lost(e: ConnectError) -> End {
    match e {
        ConnectError::Io { source, .. } => End::backend_lost(Some(source)),
        _ => End::backend_lost(None),
    }
}
