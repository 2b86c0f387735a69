//! Runs HighGo's sharding DDL on stock PostgreSQL 15 with `postgres_fdw`.
//!
//! `corepool_protocol::ddl` parses the enhanced forms (inline partitions, `WITH PUSHDOWN`,
//! `INCLUDE REMOTE`) and plans them as standard statements; this crate runs a plan: the
//! local statements in one transaction on the local server, the remote `CREATE TABLE` /
//! `DROP TABLE` on the foreign servers (reached with corepool-client, host/port/dbname from the
//! server's options and user/password from the current user's mapping), remote transactions
//! committed before the local one, and everything undone when a step fails. Both
//! `corepool ddl` and the proxy use it: the local server is anything implementing
//! [`SqlServer`] ([`ClientSession`] here; the engine implements it over its own backend
//! connection).
//!
//! It does not parse (that is `corepool_protocol::ddl`), does not speak TLS to foreign servers
//! (a `sslmode` that requires it is refused), and does not do two-phase commit: the window
//! between the remote and local `COMMIT`s is covered by dropping remote tables again, and the
//! error names what could not be put back.
//!
//! # Layout
//! - [`server`]: the [`SqlServer`] trait, [`ClientSession`] (its impl over
//!   `corepool_client::Connection`), [`Notice`] and [`QueryError`].
//! - [`remote`]: foreign servers: their options and user mappings read from the local
//!   catalog ([`remote::lookup`]), the connections a run keeps open.
//! - `exec` (private): [`execute`], the algorithm of `corepool_protocol::ddl::plan`, with the
//!   rollback and undo.
//! - `dry_run` (private): [`dry_run`], the same plan written out as SQL.
//! - [`error`]: [`DdlExecError`], the ErrorResponse fields to send, and what was left behind.
//!
//! Data moves one way: text → `ddl::parse` → `DdlStatement::plan` → [`execute`] → notices to
//! the caller's sink, then a command tag or a [`DdlExecError`].
//!
//! # Example
//! ```no_run
//! use corepool_client::{ConnectOptions, Host};
//! use corepool_ddl::{execute, ClientSession};
//!
//! corepool_runtime::block_on(async {
//!     let opts = ConnectOptions::new(Host::parse("127.0.0.1"), 5432, "postgres");
//!     let mut local = ClientSession::connect(&opts).await.unwrap();
//!     let sql = "DROP TABLE prt_com1_f INCLUDE REMOTE";
//!     let stmt = corepool_protocol::ddl::parse(sql).unwrap().unwrap();
//!     let tag = execute(&mut local, &stmt, &mut |n| eprintln!("{}:  {}", n.severity, n.message))
//!         .await
//!         .unwrap();
//!     assert_eq!(tag.as_str(), "DROP TABLE");
//! }).unwrap();
//! ```
#![warn(missing_docs)]
#![forbid(unsafe_code)]

mod dry_run;
pub mod error;
mod exec;
pub mod remote;
pub mod server;

/// The client the executor reaches servers with, for callers that build [`ConnectOptions`](client::ConnectOptions).
pub use corepool_client as client;
pub use dry_run::dry_run;
pub use error::{DdlExecError, ErrorKind, Leftover, LeftoverState};
pub use exec::execute;
pub use server::{ClientSession, Notice, QueryError, Reply, Rows, SqlServer};
