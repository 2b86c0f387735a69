//! The PostgreSQL and Pgpool-II protocols as pure code: no I/O, no runtime, no logging.
//!
//! corepool's engine, backup and cli crates do the I/O; this crate only turns bytes into typed,
//! borrowed views and typed values back into bytes, and runs authentication exchanges as state
//! machines.
//!
//! # Layout
//! - [`framing`]: cuts complete messages off a read buffer (`BytesMut::split_to(..).freeze()`,
//!   no payload copy) and peeks headers so the engine can forward whole runs untouched.
//! - [`message`]: tag constants, typed views over one message body (`frontend`, `backend`) and
//!   writers that append messages to a caller-owned `BytesMut` (`write`).
//! - [`auth`]: md5 and SCRAM-SHA-256 exchanges, client side (proxy to server) and server side
//!   (client to proxy), and PostgreSQL's stored verifier formats.
//! - [`sql`]: a lexer for PostgreSQL's SQL text, a statement splitter and the read/write
//!   classifier the router uses.
//! - [`ddl`]: HighGo's sharding DDL (inline partitions, `WITH PUSHDOWN`, `INCLUDE REMOTE`)
//!   parsed from [`sql`] tokens and planned as standard PostgreSQL 15 + `postgres_fdw` steps.
//! - [`sqlstate`]: SQLSTATE error codes as named constants.
//! - [`pcp`]: Pgpool-II's PCP admin protocol (framing, typed requests and replies, md5 login).
//! - [`error`]: the crate's error type for wire decoding.
//!
//! Data moves one way: the engine reads socket bytes into a `BytesMut`, [`framing`] splits off a
//! frame, [`message`] gives a view of it when the engine must look inside, and the frame's
//! original bytes are forwarded unless the engine rewrites them with [`message::write`].
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod auth;
pub mod ddl;
pub mod error;
pub mod framing;
pub mod message;
pub mod pcp;
pub mod sql;
pub mod sqlstate;

pub use error::Error;
