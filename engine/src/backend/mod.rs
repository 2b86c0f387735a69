//! Connections from corepool to PostgreSQL servers: connect, start up, authenticate, reset.
//!
//! corepool authenticates to a backend itself, with the secret it holds for the user (from
//! pool_passwd, or the clear-text password the client gave), so that a cached connection can be
//! handed to a later client who authenticated to corepool instead.

mod connect;
mod ddl_bridge;
mod query;
mod reset;

pub use connect::{connect, next_message, BackendConn, ConnectError, Credentials, StartupReply};
pub use ddl_bridge::BackendServer;
pub use query::{internal_query, quote_literal, Rows};
pub use reset::{reset, ResetError};
