//! A backend connection as a transaction pool keeps it: with the parameters it has now and
//! those it was started with, so that the next client's can be replayed on it.

use std::time::Instant;

use super::params::Params;
use super::prepared::BackendStatements;
use super::BackendConn;
use crate::pool::Pooled;

/// A pooled backend of a transaction pool.
pub struct TxBackend {
    /// The connection.
    pub conn: BackendConn,
    /// The session parameters it has now (as far as corepool knows: its start-up values and
    /// every SET that ran on it since).
    pub applied: Params,
    /// The start-up values it was opened with: its session defaults.
    pub defaults: Params,
    /// The named statements prepared on it.
    pub statements: BackendStatements,
}

impl Pooled for TxBackend {
    fn created(&self) -> Instant {
        self.conn.created()
    }
    fn generation(&self) -> u64 {
        self.conn.generation()
    }
    fn alive(&self) -> bool {
        self.conn.alive()
    }
}
