//! Connections from corepool to PostgreSQL servers: connect, start up, authenticate, reset.
//!
//! corepool authenticates to a backend itself, with the secret it holds for the user (from
//! pool_passwd, or the clear-text password the client gave), so that a cached connection can be
//! handed to a later client who authenticated to corepool instead.

mod connect;
mod ddl_bridge;
pub mod expect;
pub mod params;
pub mod prepared;
mod query;
mod reset;
mod side;
mod tx;

pub use connect::{
    connect, io_error, next_message, BackendConn, ConnectError, Credentials, StartupReply,
};
/// SQL literals for internal queries: `E'…'` with doubled backslashes whenever needed, so they
/// read the same whatever the client set `standard_conforming_strings` to.
pub use corepool_protocol::ddl::quote_literal;
pub use ddl_bridge::BackendServer;
pub use query::{internal_query, Rows};
pub use reset::{reset, ResetError};
pub use side::BackendSide;
pub use tx::TxBackend;
