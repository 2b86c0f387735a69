//! What `SHOW pool_*` and PCP both report: rows built from the shared cluster state, and the
//! local time format Pgpool-II prints. Below both the in-band commands (`session`) and the PCP
//! server (`pcp`), so neither imports the other.

pub mod pool_status;
mod time;
pub mod tx_pools;

pub use time::format_local;
