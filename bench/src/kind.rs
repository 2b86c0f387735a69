//! What a comparison can be pointed at ([`TargetKind`]) and how each target pools PostgreSQL
//! connections ([`Pooling`]): the facts the planner, the tables and the idle phase decide by.

use std::fmt;

use anyhow::{anyhow, Result};

use crate::pgbench::{QueryMode, Workload};

/// One thing to benchmark.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TargetKind {
    /// The PostgreSQL primary, no proxy.
    Direct,
    /// The floor: the protocol-blind byte pump on epoll (`pump --mode epoll`).
    PumpEpoll,
    /// The floor: the protocol-blind byte pump on io_uring (`pump --mode uring`).
    PumpUring,
    /// PgBouncer 1.25 built from source, `pool_mode = transaction` with
    /// `max_prepared_statements`.
    Pgbouncer125Transaction,
    /// PgBouncer 1.25 built from source, `pool_mode = session`.
    Pgbouncer125Session,
    /// Debian's PgBouncer 1.18, `pool_mode = transaction` (no prepared statements).
    Pgbouncer118Transaction,
    /// Debian's PgBouncer 1.18, `pool_mode = session`.
    Pgbouncer118Session,
    /// PgDog built from source, `pooler_mode = "transaction"`.
    Pgdog,
    /// Debian's Pgpool-II 4.3 in raw mode with the one backend.
    Pgpool,
    /// `corepool serve` with the same pgpool.conf dialect.
    Corepool,
    /// A second corepool for an A/B in the same run: `--corepool-baseline-bin` (default: the
    /// same binary) with `--baseline-conf` settings over corepool's. Only run when named.
    CorepoolBaseline,
}

/// Names `--only` also takes: a group of targets, or an older name.
const ALIASES: [(&str, &[TargetKind]); 7] = [
    ("pumps", &[TargetKind::PumpEpoll, TargetKind::PumpUring]),
    (
        "pgbouncer-1.25",
        &[
            TargetKind::Pgbouncer125Transaction,
            TargetKind::Pgbouncer125Session,
        ],
    ),
    (
        "pgbouncer-1.18",
        &[
            TargetKind::Pgbouncer118Transaction,
            TargetKind::Pgbouncer118Session,
        ],
    ),
    ("pgbouncer-session", &[TargetKind::Pgbouncer118Session]),
    (
        "pgbouncer-transaction",
        &[TargetKind::Pgbouncer118Transaction],
    ),
    ("peers", &PEERS),
    ("all", &TargetKind::ALL),
];

/// The poolers corepool is measured against.
const PEERS: [TargetKind; 6] = [
    TargetKind::Pgbouncer125Transaction,
    TargetKind::Pgbouncer125Session,
    TargetKind::Pgbouncer118Transaction,
    TargetKind::Pgbouncer118Session,
    TargetKind::Pgdog,
    TargetKind::Pgpool,
];

impl TargetKind {
    /// Every target, in table order.
    pub const ALL: [TargetKind; 10] = [
        TargetKind::Direct,
        TargetKind::PumpEpoll,
        TargetKind::PumpUring,
        TargetKind::Pgbouncer125Transaction,
        TargetKind::Pgbouncer125Session,
        TargetKind::Pgbouncer118Transaction,
        TargetKind::Pgbouncer118Session,
        TargetKind::Pgdog,
        TargetKind::Pgpool,
        TargetKind::Corepool,
    ];

    /// The floor targets.
    pub const PUMPS: [TargetKind; 2] = [TargetKind::PumpEpoll, TargetKind::PumpUring];

    /// The name used on the command line and in tables.
    pub fn name(self) -> &'static str {
        match self {
            TargetKind::Direct => "direct",
            TargetKind::PumpEpoll => "pump-epoll",
            TargetKind::PumpUring => "pump-uring",
            TargetKind::Pgbouncer125Transaction => "pgbouncer-1.25-transaction",
            TargetKind::Pgbouncer125Session => "pgbouncer-1.25-session",
            TargetKind::Pgbouncer118Transaction => "pgbouncer-1.18-transaction",
            TargetKind::Pgbouncer118Session => "pgbouncer-1.18-session",
            TargetKind::Pgdog => "pgdog",
            TargetKind::Pgpool => "pgpool",
            TargetKind::Corepool => "corepool",
            TargetKind::CorepoolBaseline => "corepool-baseline",
        }
    }

    /// Parses a [`TargetKind::name`] or a group (`pumps`, `pgbouncer-1.25`, `peers`, `all`, and
    /// the older `pgbouncer-session`/`pgbouncer-transaction` for Debian's 1.18).
    pub fn parse(name: &str) -> Result<Vec<TargetKind>> {
        let name = name.trim();
        if let Some(kind) = TargetKind::ALL
            .into_iter()
            .chain([TargetKind::CorepoolBaseline])
            .find(|k| k.name() == name)
        {
            return Ok(vec![kind]);
        }
        if let Some((_, kinds)) = ALIASES.iter().find(|(alias, _)| *alias == name) {
            return Ok(kinds.to_vec());
        }
        let names: Vec<&str> = TargetKind::ALL
            .iter()
            .map(|k| k.name())
            .chain([TargetKind::CorepoolBaseline.name()])
            .chain(ALIASES.iter().map(|(a, _)| *a))
            .collect();
        Err(anyhow!(
            "unknown target {name:?}; expected one of {}",
            names.join(", ")
        ))
    }

    /// How the target pools when nothing overrides it (corepool: see
    /// [`Pooling::for_corepool`]).
    pub fn default_pooling(self) -> Pooling {
        match self {
            TargetKind::Direct => Pooling::Direct,
            TargetKind::PumpEpoll | TargetKind::PumpUring => Pooling::Pump,
            TargetKind::Pgbouncer125Transaction
            | TargetKind::Pgbouncer118Transaction
            | TargetKind::Pgdog => Pooling::Transaction,
            TargetKind::Pgbouncer125Session
            | TargetKind::Pgbouncer118Session
            | TargetKind::Pgpool
            | TargetKind::Corepool
            | TargetKind::CorepoolBaseline => Pooling::Session,
        }
    }

    /// Why `workload` cannot run against this target at all, if it cannot.
    pub fn unsupported(self, workload: &Workload) -> Option<&'static str> {
        (self == TargetKind::Pgbouncer118Transaction && workload.mode == QueryMode::Prepared)
            .then_some(
                "PgBouncer 1.18 transaction pooling cannot carry named prepared statements \
                 (max_prepared_statements arrived in 1.21)",
            )
    }

    /// Whether this is corepool (either side of an A/B).
    pub fn is_corepool(self) -> bool {
        matches!(self, TargetKind::Corepool | TargetKind::CorepoolBaseline)
    }

    /// Whether this is one of the floor pumps.
    pub fn is_pump(self) -> bool {
        TargetKind::PUMPS.contains(&self)
    }
}

impl fmt::Display for TargetKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// How a target maps clients onto PostgreSQL backends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pooling {
    /// No proxy: each client is a backend.
    Direct,
    /// A byte pump: each client gets its own backend for its whole connection.
    Pump,
    /// Session pooling: a client holds a backend from start-up (or first query) to its end,
    /// and the pooler keeps the backends open for the next client.
    Session,
    /// Transaction pooling: a client holds a backend for one transaction; a fixed pool serves
    /// any number of clients.
    Transaction,
}

impl Pooling {
    /// corepool's pooling under `pool_mode` as given with `--corepool-conf` (quotes allowed):
    /// `transaction` means transaction pooling, anything else (or nothing) session pooling.
    pub fn for_corepool(pool_mode: Option<&str>) -> Pooling {
        let mode = pool_mode.map(|m| m.trim().trim_matches(|c| c == '\'' || c == '"'));
        match mode {
            Some(m) if m.eq_ignore_ascii_case("transaction") => Pooling::Transaction,
            _ => Pooling::Session,
        }
    }

    /// Whether each connected client costs a PostgreSQL backend.
    pub fn backend_per_client(self) -> bool {
        !matches!(self, Pooling::Transaction)
    }

    /// Whether the pooler keeps backends open between clients (they count against
    /// `max_connections` for the whole run, not only during the target's own runs).
    pub fn keeps_backends(self) -> bool {
        matches!(self, Pooling::Session | Pooling::Transaction)
    }

    /// A short label for tables.
    pub fn label(self) -> &'static str {
        match self {
            Pooling::Direct => "—",
            Pooling::Pump => "none (1:1)",
            Pooling::Session => "session",
            Pooling::Transaction => "transaction",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_groups_parse() {
        for kind in TargetKind::ALL {
            assert_eq!(TargetKind::parse(kind.name()).unwrap(), vec![kind]);
        }
        assert_eq!(TargetKind::parse("pumps").unwrap(), TargetKind::PUMPS);
        assert_eq!(
            TargetKind::parse("pgbouncer-session").unwrap(),
            [TargetKind::Pgbouncer118Session]
        );
        assert_eq!(TargetKind::parse("all").unwrap(), TargetKind::ALL);
        let err = TargetKind::parse("odyssey").unwrap_err().to_string();
        assert!(err.contains("pump-uring") && err.contains("peers"), "{err}");
    }

    #[test]
    fn prepared_is_not_applicable_to_old_transaction_pooling() {
        let prepared = Workload::new(16, QueryMode::Prepared, false);
        assert!(TargetKind::Pgbouncer118Transaction
            .unsupported(&prepared)
            .is_some());
        assert!(TargetKind::Pgbouncer125Transaction
            .unsupported(&prepared)
            .is_none());
        assert!(TargetKind::Pgdog.unsupported(&prepared).is_none());
    }

    #[test]
    fn corepool_pooling_follows_pool_mode() {
        assert_eq!(Pooling::for_corepool(None), Pooling::Session);
        assert_eq!(
            Pooling::for_corepool(Some("'transaction'")),
            Pooling::Transaction
        );
        assert_eq!(Pooling::for_corepool(Some("session")), Pooling::Session);
        assert!(!Pooling::Transaction.backend_per_client());
        assert!(Pooling::Pump.backend_per_client() && !Pooling::Pump.keeps_backends());
    }
}
