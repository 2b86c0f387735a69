//! The protocol crate against real PostgreSQL 15 servers: logins, verifiers and real traffic.
//!
//! Every test starts its own small cluster with `corepool-testkit` and talks to it through a
//! tiny blocking client ([`client`]) built only from this crate's framing, views, writers and
//! authentication state machines; the I/O lives here, never in the crate.
//!
//! # Layout
//! - [`client`]: `Conn`, the blocking client (startup, md5 and SCRAM logins, simple queries),
//!   with tiny or large socket reads, keeping every byte received.
//! - [`scan`]: checks that `scan_run` walks a real byte stream exactly as `split_frame` cuts it.
//! - [`auth`]: SCRAM and md5 logins, wrong passwords, SASLprep'd passwords.
//! - [`verifier`]: the SCRAM verifier PostgreSQL 15 stored, parsed and served by the crate, and
//!   a crate-built verifier accepted by PostgreSQL.
//! - [`simple`]: a 10,000-row simple query through tiny and large reads, errors, notices, and
//!   text in a non-UTF-8 client encoding.
//! - [`extended`]: Parse/Bind/Describe/Execute/Sync with parameters, NULL and binary results.
//! - [`copy`]: COPY TO STDOUT (text and binary), COPY FROM STDIN with the copy writers, and
//!   CopyBothResponse on a replication connection.
//! - [`notify`]: NotificationResponse after LISTEN/NOTIFY and ParameterStatus after SET.
//! - [`startup`]: SSLRequest, GSSENCRequest, CancelRequest and NegotiateProtocolVersion.
//! - [`libpq`]: the other direction: `psql` logs into the crate acting as the server (SCRAM
//!   and md5), reading what the backend writers wrote.

/// Parses a frame with `BackendMessage::parse` and matches it against a pattern, failing the
/// test with a description of what arrived instead.
macro_rules! expect {
    ($frame:expr, $pat:pat => $out:expr) => {
        match $crate::client::parse(&$frame)? {
            $pat => $out,
            #[allow(unreachable_patterns)]
            other => return Err($crate::client::unexpected(stringify!($pat), &other)),
        }
    };
    ($frame:expr, $pat:pat) => {
        expect!($frame, $pat => ())
    };
}

#[path = "real_server/auth.rs"]
mod auth;
#[path = "real_server/client.rs"]
mod client;
#[path = "real_server/copy.rs"]
mod copy;
#[path = "real_server/extended.rs"]
mod extended;
#[path = "real_server/libpq.rs"]
mod libpq;
#[path = "real_server/notify.rs"]
mod notify;
#[path = "real_server/scan.rs"]
mod scan;
#[path = "real_server/simple.rs"]
mod simple;
#[path = "real_server/startup.rs"]
mod startup;
#[path = "real_server/verifier.rs"]
mod verifier;
