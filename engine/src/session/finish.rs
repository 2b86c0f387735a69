//! The end of a session: the client is told why when corepool ends it, and the backends that
//! are clean go back to the shard's pool (or, transaction-pooled, to their transaction pool).

use corepool_protocol::message::TransactionStatus;

use super::errors::{fatal, send_fatal};
use super::relay::End;
use super::{backends, Session};
use crate::backend::{self, BackendConn};

/// Databases whose connections Pgpool-II never caches.
const UNCACHED_DATABASES: [&str; 4] = ["template0", "template1", "postgres", "regression"];

impl Session<'_> {
    /// Ends the session: tells the client why when corepool must, then pools what is clean.
    pub(super) async fn finish(&mut self, end: End, database: &str) {
        let shard = self.shard;
        if let Some(c) = self.cache.as_mut() {
            // A write whose reply never reached the client may still have committed.
            c.track.flush();
        }
        shard.state.cancel.release(self.slot);
        self.count_on(None);
        let clean_exit = matches!(end, End::ClientTerminated | End::IdleTimeout(_));
        let client = &mut self.client;
        match end {
            End::ClientProtocol(e) => {
                let _ =
                    send_fatal(client, "08P01", &format!("invalid frontend message: {e}")).await;
            }
            End::BackendGone { error, fatal_seen } => {
                let node = self.router.current;
                tracing::warn!(node, error = ?error, "backend connection lost");
                if !fatal_seen {
                    let msg = format!("backend node {node} closed the connection unexpectedly");
                    let _ = client.write_all(&fatal("57P01", &msg)).await;
                }
                self.drop_backend(node);
                shard.report_backend_lost(node);
            }
            End::BackendProtocol(e) => {
                let node = self.router.current;
                let msg = format!("invalid message from backend node {node}: {e}");
                let _ = client.write_all(&fatal("08P01", &msg)).await;
                self.drop_backend(node);
            }
            End::IdleTimeout(limit) => {
                tracing::info!(seconds = limit.as_secs(), "client_idle_limit reached");
                let msg = format!(
                    "terminating connection due to client_idle_limit ({} seconds)",
                    limit.as_secs()
                );
                let _ = client.write_all(&fatal("57P05", &msg)).await;
            }
            End::Stopped => {
                let _ = client
                    .write_all(&fatal(
                        "57P01",
                        "terminating connection due to administrator command",
                    ))
                    .await;
            }
            End::NodeDetached(node) => {
                tracing::info!(node, "backend node detached; ending the session");
                let msg = format!(
                    "terminating connection because backend node {node} was detached (failover)"
                );
                let _ = client.write_all(&fatal("57P01", &msg)).await;
                self.drop_backend(node);
            }
            End::ClientTerminated | End::ClientGone => {
                // Replies still queued for a client that is leaving are of no use.
            }
        }
        if self.tx.is_some() {
            // Transaction pools keep their backends whatever the database.
            if !clean_exit {
                for node in self.backends.nodes() {
                    if !self
                        .backends
                        .get_mut(node)
                        .is_some_and(|c| c.side.is_quiet())
                    {
                        self.drop_backend(node);
                    }
                }
            }
            self.tx_finish().await;
            return;
        }
        let cacheable =
            clean_exit && self.config.connection_cache && !UNCACHED_DATABASES.contains(&database);
        let limits = shard.limits();
        let conns: Vec<BackendConn> = self.backends.drain().collect();
        for mut conn in conns {
            if !cacheable || !conn.side.is_quiet() || conn.side.copy_both || !conn.rbuf.is_empty() {
                continue;
            }
            if backends::discard_owed(&mut conn, &limits).await.is_err() {
                continue;
            }
            match backend::reset(&mut conn, &self.config.reset_query_list, &limits).await {
                Ok(()) if conn.status == TransactionStatus::Idle => {
                    let node = conn.node;
                    shard.pool.put(self.key.clone(), node, conn);
                }
                Ok(()) => {}
                Err(e) => tracing::debug!(error = %e, "reset failed; closing backend connection"),
            }
        }
    }
}
