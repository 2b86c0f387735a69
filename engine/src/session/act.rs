//! Carrying out a routing decision: switch backend, run on every backend, re-send a Parse, ask
//! the catalog, or answer an in-band command.

use bytes::Bytes;
use corepool_protocol::framing::Header;
use corepool_protocol::message::frontend::Query;

use super::backends::{discard_owed, query_message, send_discarded};
use super::inband;
use super::relay::{ClientSide, Relay, RelayEnd};
use super::route::Action;
use super::Live;
use crate::backend::{internal_query, quote_literal, ConnectError};
use crate::runtime::{ReadBuf, Stream};

impl Live<'_> {
    /// Handles the router's pending action for the request at the front of `cbuf`. `Err` ends
    /// the session with that reason.
    pub(crate) async fn act(
        &mut self,
        client: &mut Stream,
        cbuf: &mut ReadBuf,
        side: &mut ClientSide,
    ) -> Result<(), RelayEnd> {
        let Some(action) = self.router.pending.take() else {
            side.mark_routed();
            return Ok(());
        };
        match action {
            Action::Switch(node) => {
                self.switch_to(node, client, cbuf, side).await?;
                side.mark_routed();
            }
            Action::Broadcast(standby_text) => {
                let primary = self.router.primary;
                self.switch_to(primary, client, cbuf, side).await?;
                let (msg_len, sql) = front_query(cbuf);
                let original = Bytes::copy_from_slice(&cbuf.pending()[..msg_len]);
                let rewritten = standby_text.map(query_message);
                for node in self.backends.nodes().into_iter().filter(|n| *n != primary) {
                    let limits = self.shard.limits();
                    let Some(conn) = self.backends.get_mut(node) else {
                        continue;
                    };
                    let sent = match discard_owed(conn, &limits).await {
                        Ok(_) => {
                            send_discarded(conn, rewritten.as_deref().unwrap_or(&original), 1).await
                        }
                        Err(e) => Err(e),
                    };
                    if let Err(e) = sent {
                        tracing::warn!(node, error = %e, statement = %sql, "standby connection lost; using the primary only");
                        self.backends.remove(node);
                        if self.router.lb_node == node {
                            self.router.lb_node = primary;
                        }
                    }
                }
                side.mark_routed();
            }
            Action::Reparse { node, parses } => {
                self.switch_to(node, client, cbuf, side).await?;
                if let Some(conn) = self.backends.get_mut(node) {
                    for parse in &parses {
                        if conn.stream.write_all(parse).await.is_err() {
                            return Err(RelayEnd::BackendGone {
                                error: None,
                                fatal_seen: false,
                            });
                        }
                        conn.side.swallow_parse_complete += 1;
                    }
                }
                side.mark_routed();
            }
            Action::Catalog(checks) => {
                let primary = self.router.primary;
                self.switch_to(primary, client, cbuf, side).await?;
                let limits = self.shard.limits();
                let cache = self.shard.catalog();
                let Some(conn) = self.backends.get_mut(primary) else {
                    return Err(gone());
                };
                let mut ok = true;
                if !checks.functions.is_empty() {
                    let names: Vec<String> =
                        checks.functions.iter().map(|f| quote_literal(f)).collect();
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
                    let names: Vec<String> =
                        checks.relations.iter().map(|r| quote_literal(r)).collect();
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
                // A failed lookup (an aborted transaction) routes this request to the primary.
                self.router.assume_writes_once = !ok;
            }
            Action::Ddl => self.run_ddl(client, cbuf, side).await?,
            Action::Fence(node) => {
                let target = self.fence(node, client, cbuf, side).await?;
                self.switch_to(target, client, cbuf, side).await?;
                side.mark_routed();
            }
            Action::InBand => {
                let extended = super::inband_extended::in_band_run(
                    cbuf.pending(),
                    &self.router.in_band_statements,
                );
                if let Some(run) = extended.as_ref().filter(|r| r.ddl) {
                    // Enhanced DDL in an extended run: executed on the primary only when the
                    // run executes it (a prepare-only run just describes it).
                    let primary = self.router.primary;
                    self.switch_to(primary, client, cbuf, side).await?;
                    let reply = if run.executes {
                        self.execute_ddl(&run.sql).await?
                    } else {
                        let mut z = bytes::BytesMut::with_capacity(6);
                        let status = self.router.primary_status;
                        corepool_protocol::message::write::backend::ready_for_query(status, &mut z);
                        z
                    };
                    let reply = super::inband_extended::answer(&cbuf.pending()[..run.len], &reply);
                    cbuf.consume(run.len);
                    return client
                        .write_all(&reply)
                        .await
                        .map_err(|_| RelayEnd::ClientGone);
                }
                self.drain_current(client, cbuf, side).await?;
                let (msg_len, sql) = match &extended {
                    Some(run) => (run.len, run.sql.clone()),
                    None => front_query(cbuf),
                };
                let configured = self.config.clone();
                let session = self
                    .session_config
                    .get_or_insert_with(|| (*configured).clone());
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
                    Some(_) => super::inband_extended::answer(&cbuf.pending()[..msg_len], &reply),
                    None => reply,
                };
                cbuf.consume(msg_len);
                if client.write_all(&reply).await.is_err() {
                    return Err(RelayEnd::ClientGone);
                }
            }
        }
        Ok(())
    }

    /// Read-your-writes: `node` if it has replayed the session's last committed write, else the
    /// primary. Fetches the primary's WAL position first when a write has not been fenced yet.
    async fn fence(
        &mut self,
        node: usize,
        client: &mut Stream,
        cbuf: &mut ReadBuf,
        side: &mut ClientSide,
    ) -> Result<usize, RelayEnd> {
        let primary = self.router.primary;
        let limits = self.shard.limits();
        self.drain_current(client, cbuf, side).await?;
        if self.router.unfenced_write {
            let Some(conn) = self.backends.get_mut(primary) else {
                return Err(gone());
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
                self.backends.remove(node);
                Ok(primary)
            }
        }
    }

    /// Makes `node` the current backend: the current one is drained first (its replies reach
    /// the client in order), `node` is connected if needed and cleared of replies owed to
    /// corepool.
    pub(super) async fn switch_to(
        &mut self,
        node: usize,
        client: &mut Stream,
        cbuf: &mut ReadBuf,
        side: &mut ClientSide,
    ) -> Result<(), RelayEnd> {
        self.drain_current(client, cbuf, side).await?;
        if self.router.current == node {
            return Ok(());
        }
        if let Err(e) = self.ensure(node).await {
            tracing::warn!(node, error = %e, "cannot use node; sending the request to the primary");
            if node == self.router.primary {
                return Err(lost(e));
            }
            return Box::pin(self.switch_to(self.router.primary, client, cbuf, side)).await;
        }
        let limits = self.shard.limits();
        let Some(conn) = self.backends.get_mut(node) else {
            return Err(gone());
        };
        if let Err(e) = discard_owed(conn, &limits).await {
            return Err(lost(e));
        }
        self.shard
            .state
            .cancel
            .bind(self.slot, Some(conn.cancel_key()));
        self.router.current = node;
        Ok(())
    }

    /// Forwards everything the current backend still owes the client.
    async fn drain_current(
        &mut self,
        client: &mut Stream,
        cbuf: &mut ReadBuf,
        side: &mut ClientSide,
    ) -> Result<(), RelayEnd> {
        let node = self.router.current;
        let limits = self.shard.limits();
        let Some(conn) = self.backends.get_mut(node) else {
            return Err(gone());
        };
        if conn.side.is_quiet() {
            return Ok(());
        }
        let stop = |_: &std::task::Waker| false;
        let end = Relay::new(
            client,
            cbuf,
            side,
            conn,
            &limits,
            stop,
            None::<fn(&[u8], super::relay::Observed) -> super::relay::HookAnswer>,
        )
        .draining()
        .run()
        .await;
        match end {
            RelayEnd::Drained => Ok(()),
            other => Err(other),
        }
    }
}

/// The length and text of the Query message at the front of `cbuf` (the relay stopped there).
fn front_query(cbuf: &ReadBuf) -> (usize, String) {
    let buf = cbuf.pending();
    let Ok(Some(h)) = Header::parse(buf) else {
        return (0, String::new());
    };
    let len = h.frame_len().min(buf.len());
    let sql = buf
        .get(5..len)
        .and_then(|b| Query::parse(b).ok())
        .map(|q| q.query().to_owned())
        .unwrap_or_default();
    (len, sql)
}

fn gone() -> RelayEnd {
    RelayEnd::BackendGone {
        error: None,
        fatal_seen: false,
    }
}

fn lost(e: ConnectError) -> RelayEnd {
    match e {
        ConnectError::Io { source, .. } => RelayEnd::BackendGone {
            error: Some(source),
            fatal_seen: false,
        },
        _ => gone(),
    }
}
