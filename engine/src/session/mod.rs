//! One client session: start-up, authentication, a backend from the pool, the relay, clean-up.
//!
//! # Layout
//! - [`startup`]: SSL/GSS refusal, CancelRequest, StartupMessage.
//! - [`client_auth`]: pool_hba methods run against the client.
//! - [`walker`]: header walking that decides how many bytes may be forwarded.
//! - [`relay`]: the duplex forwarding loop.
//! - [`errors`]: the ErrorResponses corepool itself sends, with PostgreSQL's SQLSTATEs.

pub mod client_auth;
pub mod errors;
pub mod relay;
pub mod startup;
pub mod walker;

use std::rc::Rc;
use std::time::Instant;

use bytes::BytesMut;
use corepool_protocol::message::write;
use corepool_protocol::message::TransactionStatus;

use crate::backend::{self, ConnectError};
use crate::cluster::CancelTable;
use crate::pool::PoolKey;
use crate::runtime::{self, ReadBuf, Stream};
use crate::server::Shard;
use client_auth::{AuthFailure, ClientIdent};
use errors::{fatal, send_fatal};
use relay::{Relay, RelayEnd};
use startup::{Opening, Startup};

/// Databases whose connections Pgpool-II never caches.
const UNCACHED_DATABASES: [&str; 4] = ["template0", "template1", "postgres", "regression"];

/// Serves one accepted client connection to its end.
pub async fn serve(shard: Rc<Shard>, mut client: Stream) {
    let config = shard.config();
    let opening = runtime::timeout(
        config.authentication_timeout,
        startup::read_opening(&mut client),
    )
    .await;
    let startup = match opening {
        None => {
            let _ = send_fatal(&mut client, "08006", "authentication timeout").await;
            return;
        }
        Some(Err(e)) => {
            tracing::debug!(error = %e, "start-up failed");
            if let startup::StartupError::Protocol(_) | startup::StartupError::NoUser = e {
                let _ = send_fatal(&mut client, "08P01", &e.to_string()).await;
            }
            return;
        }
        Some(Ok(Opening::Cancel {
            process_id,
            secret_key,
        })) => {
            shard.forward_cancel(process_id, secret_key).await;
            return;
        }
        Some(Ok(Opening::Session(s))) => s,
    };

    let Some(slot) = shard.claim_slot() else {
        let _ = send_fatal(&mut client, "53300", "Sorry, too many clients already").await;
        return;
    };
    let session = Session {
        shard: shard.clone(),
        slot,
        startup,
    };
    session.run(client).await;
    shard.release_slot(slot);
}

struct Session {
    shard: Rc<Shard>,
    slot: usize,
    startup: Startup,
}

impl Session {
    async fn run(self, mut client: Stream) {
        let shard = &self.shard;
        let config = shard.config();
        let host = client
            .peer_addr()
            .map(|a| a.ip().to_string())
            .unwrap_or_else(|| "[local]".into());
        let span = tracing::info_span!("session", shard = shard.id, user = %self.startup.user, database = %self.startup.database, client = %host);
        let _enter = span.enter();
        if config.log_connections {
            tracing::info!("new connection");
        }

        // Authenticate the client.
        let mut cbuf = ReadBuf::with_chunk(8 * 1024);
        let who = ClientIdent {
            host: &host,
            user: &self.startup.user,
            database: &self.startup.database,
        };
        let (method, secret) = shard.auth_rule(&who, client.is_local());
        let auth = runtime::timeout(
            config.authentication_timeout,
            client_auth::authenticate(&mut client, &mut cbuf, &who, method, secret.as_ref()),
        )
        .await;
        let creds = match auth {
            None => {
                let _ = send_fatal(&mut client, "08006", "authentication timeout").await;
                return;
            }
            Some(Err(AuthFailure::Io(_))) => return,
            Some(Err(e)) => {
                tracing::info!(error = %e, "authentication failed");
                let _ = send_fatal(&mut client, e.sqlstate(), &e.to_string()).await;
                return;
            }
            Some(Ok(c)) => c,
        };

        // A backend: cached, or new.
        let params = self.startup.param_pairs();
        let key = PoolKey::new(&self.startup.user, &self.startup.database, &params);
        let generation = shard.state.generation();
        let Some(node) = shard.write_node() else {
            let _ = send_fatal(&mut client, "08006", "no valid backend node is available").await;
            return;
        };
        let cached = if config.connection_cache {
            shard.pool.take(&key, generation, Instant::now())
        } else {
            None
        };
        let mut conn = match cached {
            Some(c) => c,
            None => {
                let Some(n) = shard.state.node(node) else {
                    return;
                };
                let limits = shard.limits();
                match backend::connect(
                    node,
                    &n.address,
                    &params,
                    &creds,
                    &limits,
                    config
                        .health_check
                        .connect_timeout
                        .max(std::time::Duration::from_secs(10)),
                    generation,
                )
                .await
                {
                    Ok(c) => {
                        n.mark_connected();
                        c
                    }
                    Err(ConnectError::Refused { raw, .. }) => {
                        let _ = client.write_all(&raw).await;
                        return;
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "backend connection failed");
                        if e.is_node_failure() {
                            shard.report_node_failure(node);
                        }
                        let _ = send_fatal(&mut client, "08006", &e.to_string()).await;
                        return;
                    }
                }
            }
        };

        // Greet the client as PostgreSQL would, with corepool's own cancel key.
        let secret: u32 = rand::random::<u32>().max(1);
        shard.state.cancel.claim(self.slot, secret);
        shard.state.cancel.bind(self.slot, Some(conn.cancel_key()));
        let mut out = BytesMut::with_capacity(512);
        write::backend::authentication_ok(&mut out);
        for (name, value) in &conn.reply.parameters {
            let value = if name == "application_name" {
                self.startup.get("application_name").unwrap_or(value)
            } else {
                value
            };
            let _ = write::backend::parameter_status(name, value, &mut out);
        }
        write::backend::backend_key_data(
            CancelTable::process_id(self.slot),
            secret as i32,
            &mut out,
        );
        write::backend::ready_for_query(TransactionStatus::Idle, &mut out);
        if client.write_all(&out).await.is_err() {
            shard.state.cancel.release(self.slot);
            return;
        }

        let node_state = shard.state.node(conn.node);
        if let Some(n) = node_state {
            n.in_flight
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        let limits = shard.limits();
        let slot = self.slot;
        let end;
        let tally;
        {
            let stop = |w: &std::task::Waker| shard.session_should_stop(slot, w);
            let mut relay = Relay::new(&mut client, &mut cbuf, &mut conn, &limits, stop);
            end = relay.run().await;
            tally = relay.tally;
        }
        if let Some(n) = node_state {
            n.in_flight
                .fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
        }
        shard.state.cancel.release(self.slot);
        shard.forget_waker(slot);

        match end {
            RelayEnd::ClientTerminated => {
                let reusable = config.connection_cache
                    && tally.in_flight == 0
                    && !tally.copy_both
                    && conn.rbuf.is_empty()
                    && !UNCACHED_DATABASES.contains(&self.startup.database.as_str());
                if reusable {
                    match backend::reset(&mut conn, &config.reset_query_list, &limits).await {
                        Ok(()) if conn.status == TransactionStatus::Idle => {
                            shard.pool.put(key, conn)
                        }
                        Ok(()) => {}
                        Err(e) => {
                            tracing::debug!(error = %e, "reset failed; closing backend connection")
                        }
                    }
                }
            }
            RelayEnd::ClientGone => {}
            RelayEnd::ClientProtocol(e) => {
                let _ = send_fatal(
                    &mut client,
                    "08P01",
                    &format!("invalid frontend message: {e}"),
                )
                .await;
            }
            RelayEnd::BackendGone { error, fatal_seen } => {
                tracing::warn!(node = conn.node, error = ?error, "backend connection lost");
                if !fatal_seen {
                    let msg = format!(
                        "backend node {} closed the connection unexpectedly",
                        conn.node
                    );
                    let _ = client.write_all(&fatal("57P01", &msg)).await;
                }
                shard.report_backend_lost(conn.node);
            }
            RelayEnd::BackendProtocol(e) => {
                let msg = format!("invalid message from backend node {}: {e}", conn.node);
                let _ = client.write_all(&fatal("08P01", &msg)).await;
            }
            RelayEnd::Stopped => {
                let _ = client
                    .write_all(&fatal(
                        "57P01",
                        "terminating connection due to administrator command",
                    ))
                    .await;
            }
        }
        if config.log_disconnections {
            tracing::info!("disconnected");
        }
    }
}
