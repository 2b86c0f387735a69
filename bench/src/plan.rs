//! What a run measures and how it is sized: the [`Options`] from the command line, the
//! workloads they make, how many PostgreSQL backends each target may hold and so which
//! (workload, target) pairs fit `max_connections` ([`Plan`]), and each proxy's
//! [`ProxyConfig`].
//!
//! Every target stays up for the whole throughput phase (rounds are interleaved), so the
//! backends the poolers keep open add up: a session pooler keeps as many as the most clients it
//! served, a transaction pooler its pool. Direct and the pumps hold one per client only during
//! their own runs. The plan picks the largest client count a backend-per-client target can be
//! given within `--max-connections` and skips those targets above it, with the reason.

use std::time::Duration;

use anyhow::Result;
use corepool_testkit::Cluster;

use crate::conf::ProxyConfig;
use crate::kind::{Pooling, TargetKind};
use crate::pgbench::{QueryMode, Workload};
use crate::programs::Programs;
use crate::targets::{self, Proxy};

/// PgBouncer's `max_client_conn` in every phase (it allocates client slots lazily), and the
/// least `num_init_children` a transaction-pooling corepool gets: the same client capacity.
/// (With exactly 10,016 for 10,000 clients, corepool on 2 shards once answered a client's
/// SSLRequest with an error, turning it away.)
pub const PGBOUNCER_MAX_CLIENTS: u32 = 11_000;

/// Clients a pooler accepts beyond the workload's (the harness's readiness pings, stragglers).
const CLIENT_SLACK: u32 = 16;

/// Backends a session pooler may hold beyond its clients, and the connections the harness
/// makes itself (psql, pings).
const BACKEND_SLACK: u32 = 8;
const HARNESS_CONNECTIONS: u32 = 10;

/// What to run.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Rounds over every workload and target.
    pub rounds: usize,
    /// pgbench `-T`.
    pub duration: Duration,
    /// pgbench `-i -s`.
    pub scale: u32,
    /// Targets, in table order.
    pub targets: Vec<TargetKind>,
    /// Client counts of the steady workloads.
    pub clients: Vec<u32>,
    /// Query modes of the steady workloads.
    pub modes: Vec<QueryMode>,
    /// Client counts of the connection-per-transaction (`-C`, simple) workloads.
    pub connect_clients: Vec<u32>,
    /// Whether to run the pgbench phase.
    pub throughput: bool,
    /// Idle-client counts for the memory phase (empty: skip it).
    pub idle_clients: Vec<usize>,
    /// The most `max_connections` PostgreSQL may be given in the throughput phase.
    pub max_connections: u32,
    /// Backends per transaction-pooling target (PgBouncer's and PgDog's `default_pool_size`).
    pub pool_size: u32,
    /// Whether pgbench logs every transaction (`-l`) for the latency percentiles.
    pub latency_log: bool,
    /// corepool's `corepool_cores`.
    pub corepool_cores: Option<u32>,
    /// `--corepool-conf` settings for corepool's pgpool.conf.
    pub corepool_conf: Vec<(String, String)>,
    /// `--baseline-conf` settings: corepool-baseline's, over `corepool_conf`.
    pub baseline_conf: Vec<(String, String)>,
    /// PgDog's worker threads.
    pub pgdog_workers: u32,
    /// PgBouncer 1.25's `max_prepared_statements` in transaction mode.
    pub max_prepared_statements: u32,
    /// The epoll pump's `--trigger` (empty: its default, edge).
    pub pump_trigger: String,
    /// Where each target's program is.
    pub programs: Programs,
    /// Targets that cannot run at all (corepool's build failed), and why.
    pub unavailable: Vec<(TargetKind, String)>,
    /// Streaming standbys to add (0: the ordinary comparison). With standbys, Pgpool-II and
    /// corepool load-balance over every node, only [`LOAD_BALANCING_TARGETS`] run, the
    /// workloads are [`Workload::load_balancing`], each run reports how the transactions
    /// spread over the nodes, and there is no idle-client phase.
    pub standbys: usize,
    /// The command line the run was started with, for the report.
    pub command: String,
}

/// The targets of the load-balancing comparison: the primary alone for reference and the two
/// proxies that load-balance.
pub const LOAD_BALANCING_TARGETS: [TargetKind; 3] =
    [TargetKind::Direct, TargetKind::Pgpool, TargetKind::Corepool];

impl Options {
    /// How `kind` pools in this run (corepool after `--corepool-conf pool_mode=…`).
    pub fn pooling(&self, kind: TargetKind) -> Pooling {
        if !kind.is_corepool() {
            return kind.default_pooling();
        }
        let mode = self
            .corepool_conf
            .iter()
            .rev()
            .find(|(name, _)| name == "pool_mode")
            .map(|(_, value)| value.as_str());
        Pooling::for_corepool(mode)
    }

    /// The pgbench workloads, in run order: every client count in every mode, then the `-C`
    /// ones (or the load-balancing set with standbys).
    pub fn workloads(&self) -> Vec<Workload> {
        if self.standbys > 0 {
            return Workload::load_balancing();
        }
        let mut out = Vec::new();
        for &clients in &self.clients {
            for &mode in &self.modes {
                out.push(Workload::new(clients, mode, false));
            }
        }
        for &clients in &self.connect_clients {
            out.push(Workload::new(clients, QueryMode::Simple, true));
        }
        out
    }

    /// Why `kind` cannot run at all (its build failed), if so.
    pub fn unavailable(&self, kind: TargetKind) -> Option<&str> {
        self.unavailable
            .iter()
            .find(|(k, _)| *k == kind)
            .map(|(_, why)| why.as_str())
    }

    /// Why proxy `kind` cannot be started (failed build, absent program), if so.
    pub fn cannot_start(&self, kind: TargetKind) -> Option<String> {
        if let Some(why) = self.unavailable(kind) {
            return Some(why.to_string());
        }
        self.programs.locate(kind).err()
    }
}

/// How the throughput phase is sized.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// The most clients a backend-per-client target (direct, pumps, session poolers) is given;
    /// 0 when none fits.
    pub session_clients: u32,
    /// The most clients any workload has.
    pub max_clients: u32,
    /// PostgreSQL's `max_connections` for the phase.
    pub max_connections: u32,
    /// The `max_connections` each client count would need if backend-per-client targets were
    /// given it (client count, need), ascending.
    pub needs: Vec<(u32, u32)>,
}

impl Plan {
    /// The plan for `opts`' targets over `workloads`.
    pub fn new(opts: &Options, workloads: &[Workload]) -> Plan {
        let mut counts: Vec<u32> = workloads.iter().map(|w| w.clients).collect();
        counts.sort_unstable();
        counts.dedup();
        let max_clients = counts.last().copied().unwrap_or(0);
        let fits: Vec<u32> = counts
            .iter()
            .copied()
            .filter(|&c| need(opts, c) <= opts.max_connections)
            .collect();
        let session_clients = fits.last().copied().unwrap_or(0);
        Plan {
            session_clients,
            max_clients,
            max_connections: need(opts, session_clients).max(opts.pool_size + 20),
            needs: counts.iter().map(|&c| (c, need(opts, c))).collect(),
        }
    }

    /// Why `target` does not run `workload` in this plan, if it does not.
    pub fn skip(&self, opts: &Options, workload: &Workload, target: TargetKind) -> Option<String> {
        if let Some(why) = target.unsupported(workload) {
            return Some(why.to_string());
        }
        if opts.pooling(target).backend_per_client() && workload.clients > self.session_clients {
            let need = self
                .needs
                .iter()
                .find(|(c, _)| *c == workload.clients)
                .map_or_else(|| need(opts, workload.clients), |(_, n)| *n);
            return Some(format!(
                "{target} holds a PostgreSQL backend per client: {} clients, with the backends \
                 this run's other poolers keep open, need max_connections ≥ {need}, above \
                 --max-connections {}",
                workload.clients, opts.max_connections
            ));
        }
        None
    }

    /// The configuration `target` gets for the throughput phase.
    pub fn proxy_config(&self, opts: &Options, target: TargetKind) -> ProxyConfig {
        let (clients, pool) = match opts.pooling(target) {
            Pooling::Transaction => (self.max_clients + CLIENT_SLACK, opts.pool_size),
            _ => {
                let n = self.session_clients + BACKEND_SLACK;
                (n, n)
            }
        };
        config_for(opts, target, clients, pool)
    }
}

/// The configuration `target` gets to hold `clients` idle clients.
pub fn idle_config(opts: &Options, target: TargetKind, clients: usize) -> ProxyConfig {
    let clients = u32::try_from(clients).unwrap_or(u32::MAX - CLIENT_SLACK) + CLIENT_SLACK;
    let pool = match opts.pooling(target) {
        Pooling::Transaction => opts.pool_size,
        _ => clients,
    };
    config_for(opts, target, clients, pool)
}

/// corepool-baseline's settings: `--baseline-conf`, then the `--corepool-conf` ones it does not
/// name.
fn baseline_settings(opts: &Options) -> Vec<(String, String)> {
    let mut out = opts.baseline_conf.clone();
    out.extend(
        opts.corepool_conf
            .iter()
            .filter(|(k, _)| !opts.baseline_conf.iter().any(|(b, _)| b == k))
            .cloned(),
    );
    out
}

fn config_for(opts: &Options, target: TargetKind, clients: u32, pool: u32) -> ProxyConfig {
    let is_pgbouncer = matches!(
        target,
        TargetKind::Pgbouncer125Transaction
            | TargetKind::Pgbouncer125Session
            | TargetKind::Pgbouncer118Transaction
            | TargetKind::Pgbouncer118Session
    );
    let transaction_corepool = target.is_corepool() && opts.pooling(target) == Pooling::Transaction;
    ProxyConfig {
        max_clients: if is_pgbouncer || transaction_corepool {
            PGBOUNCER_MAX_CLIENTS.max(clients)
        } else {
            clients
        },
        pool_size: pool,
        corepool_cores: opts.corepool_cores,
        corepool_conf: if target == TargetKind::CorepoolBaseline {
            baseline_settings(opts)
        } else {
            opts.corepool_conf.clone()
        },
        pgpool_conf: Vec::new(),
        corepool_pool_size: transaction_corepool.then_some(opts.pool_size),
        load_balance: opts.standbys > 0,
        pgdog_workers: opts.pgdog_workers,
        max_prepared_statements: opts.max_prepared_statements,
        pump_trigger: opts.pump_trigger.clone(),
    }
}

/// PostgreSQL backends the run needs when backend-per-client targets get `clients` clients:
/// each session pooler's pool, each transaction pooler's pool, one client count for whichever
/// of direct and the pumps is running, and the harness's own connections.
fn need(opts: &Options, clients: u32) -> u32 {
    let mut pooled = 0;
    let mut transient = 0;
    for &target in &opts.targets {
        match opts.pooling(target) {
            Pooling::Session => pooled += clients + BACKEND_SLACK,
            Pooling::Transaction => pooled += opts.pool_size,
            Pooling::Direct | Pooling::Pump => transient = clients,
        }
    }
    pooled + transient + HARNESS_CONNECTIONS
}

/// Starts `target` with `config` (`None` for direct). A target that cannot run (absent
/// program, failed build) is an error with the reason.
pub fn start_proxy(
    cluster: &Cluster,
    opts: &Options,
    target: TargetKind,
    config: &ProxyConfig,
) -> Result<Option<Proxy>> {
    if target == TargetKind::Direct {
        return Ok(None);
    }
    if let Some(why) = opts.unavailable(target) {
        anyhow::bail!("{why}");
    }
    targets::start(cluster, target, config, &opts.programs).map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options(targets: &[TargetKind], clients: &[u32]) -> Options {
        Options {
            targets: targets.to_vec(),
            clients: clients.to_vec(),
            modes: vec![QueryMode::Simple],
            connect_clients: vec![8],
            max_connections: 1500,
            pool_size: 20,
            ..Options::default()
        }
    }

    #[test]
    fn session_targets_fit_up_to_what_max_connections_allows() {
        let opts = options(&TargetKind::ALL, &[1, 16, 64, 256, 1000, 10_000]);
        let workloads = opts.workloads();
        assert_eq!(workloads.len(), 7);
        assert!(workloads[6].connect_per_txn);
        let plan = Plan::new(&opts, &workloads);
        // 4 session poolers × 264 + 3 transaction pools × 20 + 256 + 10.
        assert_eq!(plan.session_clients, 256);
        assert_eq!(plan.max_connections, 4 * 264 + 60 + 256 + 10);
        assert_eq!(plan.max_clients, 10_000);
        let at = |c: u32| workloads.iter().find(|w| w.clients == c).unwrap();
        let why = plan.skip(&opts, at(1000), TargetKind::Pgpool).unwrap();
        assert!(why.contains("max_connections ≥ 5102"), "{why}");
        assert!(plan.skip(&opts, at(1000), TargetKind::PumpEpoll).is_some());
        assert_eq!(plan.skip(&opts, at(10_000), TargetKind::Pgdog), None);
        assert_eq!(plan.skip(&opts, at(256), TargetKind::Direct), None);
        let config = plan.proxy_config(&opts, TargetKind::Pgbouncer125Transaction);
        assert_eq!((config.pool_size, config.max_clients), (20, 11_000));
        let config = plan.proxy_config(&opts, TargetKind::Pgpool);
        assert_eq!((config.pool_size, config.max_clients), (264, 264));
    }

    #[test]
    fn corepool_in_transaction_mode_is_sized_as_a_transaction_pooler() {
        let mut opts = options(&[TargetKind::Corepool], &[16, 10_000]);
        let workloads = opts.workloads();
        let plan = Plan::new(&opts, &workloads);
        assert!(plan
            .skip(&opts, &workloads[1], TargetKind::Corepool)
            .is_some());
        opts.corepool_conf = vec![("pool_mode".into(), "'transaction'".into())];
        let plan = Plan::new(&opts, &workloads);
        assert_eq!(plan.skip(&opts, &workloads[1], TargetKind::Corepool), None);
        let config = plan.proxy_config(&opts, TargetKind::Corepool);
        assert_eq!(config.max_clients, 11_000);
        assert_eq!(config.corepool_pool_size, Some(20));
        let idle = |t| idle_config(&opts, t, 1000).max_clients;
        assert_eq!(idle(TargetKind::Corepool), 11_000);
        assert_eq!(idle(TargetKind::Pgdog), 1016);
    }
}
