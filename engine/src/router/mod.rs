//! Read/write routing in streaming-replication mode: which node runs each statement.
//!
//! # Layout
//! - [`rules`]: Pgpool-II's per-statement rules as a pure function of the text, its
//!   classification and the session's flags.
//! - [`patterns`]: the regex lists of pgpool.conf.
//! - [`redirect`]: database / application-name redirect preferences for the session's node.
//! - [`balance`]: the weighted choice of a load-balance node from the shared node atomics.

pub mod balance;
pub mod patterns;
pub mod redirect;
pub mod rules;

pub use balance::choose_node;
pub use redirect::{choose_session_node, RedirectList};
pub use rules::{decide, Decision, ReadChecks, Rules, SessionFlags};
