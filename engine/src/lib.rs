//! corepool's proxy engine: a Pgpool-II-compatible PostgreSQL proxy, shard per core.
//!
//! # Layout
//! - [`config`]: pgpool.conf → a typed [`config::Config`]. Reading (with `include`), parsing and
//!   validation are separate steps; unknown parameters come back as warnings beside the config.
//! - [`auth`]: the files that decide who may connect — pool_hba.conf rules, pool_passwd
//!   secrets (md5, AES, SCRAM verifiers, clear text) and pcp.conf users.
//! - [`runtime`]: the seam over `corepool-runtime` (listeners, streams, timers, shard threads).
//! - [`cluster`]: state every shard shares, lock-free: nodes, primary, cancel keys, shutdown;
//!   and a small bounded log of recent failover and health events.
//! - [`query_cache`]: the in-memory query cache (memory_cache_enabled) every shard shares:
//!   results by key, per-table generations, bounded memory with clock eviction.
//! - [`pool`]: a shard's idle backend connections, keyed by user, database and parameters.
//! - [`backend`]: opening and authenticating backend connections, resetting them for reuse.
//! - [`session`]: one client from start-up to Terminate: auth, a backend, the relay.
//! - [`metrics`]: the Prometheus endpoint, the status page and `/status.json`, read from the
//!   shared state at request time.
//! - [`server`]: start-up, shards and their accept loops, signals, reload, stop modes.
//! - [`failover`]: node down/up/promote as state changes over [`cluster::ClusterState`], the
//!   failover/follow_primary/failback commands and the `pgpool_status` file.
//! - [`health`]: on shard 0, health checks, replication checks (primary, delay, replication
//!   state, false primaries, auto_failback) and the failover requests shards post; it changes
//!   node status only through `failover`.
//! - [`recovery`]: online recovery (`pcp_recovery_node`): the pgpool_recovery extension's
//!   scripts, or corepool's own base backup into a local data directory; then attach.
//! - [`pcp`]: the PCP admin server on its own threads; reads `cluster`, changes it through
//!   `failover` and `recovery`, stops and reloads through the same paths as signals.
//! - [`watchdog`]: with `use_watchdog = on`, several instances agree on node state and
//!   failover through etcd; it sits behind `failover`'s coordinator seam.
//!
//! Data moves: `server` accepts a client on some shard → `session` reads its start-up and
//! authenticates it → `pool` or `backend` provides a backend connection → the session's relay
//! forwards the received chunks both ways → on Terminate (or, in transaction pooling, at each
//! transaction's end) the backend is reset or handed back and pooled.
//!
//! Unsafe code is denied here except in two small modules with a `// SAFETY:` line per block:
//! `runtime/sys.rs` (CPU affinity, resource limits, the effective uid) and `report/time.rs`
//! (`localtime_r`).
#![warn(missing_docs)]
#![deny(unsafe_code)]

pub mod auth;
pub mod backend;
pub mod cluster;
pub mod config;
pub mod failover;
pub mod health;
pub mod metrics;
pub mod pcp;
pub mod pool;
pub mod query_cache;
pub mod recovery;
pub mod report;
pub mod router;
pub mod runtime;
pub mod server;
pub mod session;
pub mod shard;
pub mod watchdog;
