//! A small PostgreSQL client on corepool's shard runtime, or on any transport.
//!
//! Made for corepool's own needs — `corepool basebackup` now; the engine's health checks,
//! primary probe and replication-lag checks and `corepool ddl` later — so it does little:
//! connect (TCP or UNIX socket) and authenticate (cleartext, md5, SCRAM-SHA-256 through the
//! protocol crate's state machines), simple queries with text results, one-value binary queries
//! over the extended protocol (`pg_read_binary_file`), COPY OUT streaming (`BASE_BACKUP`), and
//! the replication commands with WAL streaming in COPY BOTH mode, in clear or over TLS
//! ([`tls`]: libpq's `sslmode`s). No pipelining API
//! beyond [`Connection::send_binary`]/[`Connection::recv_binary`], no type conversions beyond
//! text. Futures run on a `corepool-runtime` shard unless the options name another
//! [`transport::Connector`].
//!
//! # Layout
//! - [`conn`]: [`ConnectOptions`], [`Connection::connect`], startup and authentication, reading
//!   whole messages off a read buffer that is zero-filled once (`socket`).
//! - [`query`]: [`Connection::simple_query`] → [`Row`]s, the streaming [`Response`] reader,
//!   [`Connection::copy_data`], [`Connection::query_binary`].
//! - [`prepared`]: named statements executed with binary results streamed row by row.
//! - [`replication`]: IDENTIFY_SYSTEM, slots, START_REPLICATION / standby status / end of COPY
//!   BOTH; `replication/messages.rs` parses XLogData and keepalives and writes status updates
//!   (pure code).
//! - [`pgpass`]: `.pgpass` lookup.
//! - [`transport`]: what connections run over — the calling shard's sockets, or the
//!   [`transport::Connector`] the options name (the backup's glommio executors).
//! - [`tls`]: [`tls::SslMode`] and the rustls configurations that check certificates as each
//!   mode says.
//! - [`error`]: [`ClientError`], with [`ClientError::Server`] carrying the SQLSTATE.
//!
//! Bytes move one way: the socket fills the read buffer, a complete message is split off as
//! `Bytes` and its values (rows, COPY payloads, binary results) are slices of it, never copies.
//!
//! # Example
//! ```no_run
//! use corepool_client::{ConnectOptions, Connection, Host};
//! corepool_runtime::block_on(async {
//!     let opts = ConnectOptions::new(Host::parse("127.0.0.1"), 5432, "postgres");
//!     let mut conn = Connection::connect(&opts).await?;
//!     let rows = conn.simple_query("SELECT 1").await?;
//!     assert_eq!(rows[0].text(0)?, Some("1"));
//!     Ok::<(), corepool_client::ClientError>(())
//! }).unwrap().unwrap();
//! ```
#![warn(missing_docs)]
#![forbid(unsafe_code)]

pub mod conn;
pub mod error;
pub mod pgpass;
pub mod prepared;
pub mod query;
pub mod replication;
mod socket;
pub mod tls;
pub mod transport;

pub use conn::{ConnectOptions, Connection, Host, Notice, RawMessage, Replication};
pub use error::ClientError;
pub use prepared::{Fetched, Placed};
pub use query::{Response, Row};
pub use replication::SystemInfo;
