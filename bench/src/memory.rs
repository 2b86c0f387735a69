//! The idle-client phase: for each proxy and client count, a freshly started proxy, its memory
//! before and after that many idle clients complete start-up, and how many PostgreSQL backends
//! it held for them.
//!
//! A proxy that holds a backend per client (the pumps and Pgpool-II by design; corepool in
//! session pooling, as it authenticates each client against its own backend) cannot be given
//! 10,000 idle clients on this machine: that would be 10,000 PostgreSQL processes. Those are
//! skipped above [`BACKEND_PER_CLIENT_LIMIT`] outright; any other proxy (PgBouncer even in
//! session mode connects a server only for a client's first query) is skipped there only if at
//! a smaller count it really held about one backend per client.

use std::collections::HashMap;
use std::thread;
use std::time::Duration;

use anyhow::{Context, Result};
use corepool_testkit::Cluster;

use crate::idle;
use crate::kind::{Pooling, TargetKind};
use crate::pgbench::{DATABASE, USER};
use crate::plan::{idle_config, start_proxy, Options};
use crate::results::{IdleOutcome, IdleRow};
use crate::stop::Stop;

/// The most idle clients tried against a proxy that holds a backend per client; the primary's
/// `max_connections` is raised to this plus headroom for the phase.
pub const BACKEND_PER_CLIENT_LIMIT: usize = 1_000;

/// How long memory is left to settle after the proxy starts and after the clients connect.
const SETTLE: Duration = Duration::from_secs(1);

/// Runs the phase for every proxy in `opts.targets` and every count in `opts.idle_clients`
/// (ascending); PostgreSQL is restarted with at least `max_connections` if more are needed.
pub fn run(
    cluster: &Cluster,
    opts: &Options,
    max_connections: u32,
    stop: &Stop,
) -> Result<Vec<IdleRow>> {
    let proxies: Vec<TargetKind> = opts
        .targets
        .iter()
        .copied()
        .filter(|&t| t != TargetKind::Direct)
        .collect();
    let mut counts = opts.idle_clients.clone();
    counts.sort_unstable();
    counts.dedup();
    let needs_backends = counts
        .iter()
        .copied()
        .filter(|&n| n <= BACKEND_PER_CLIENT_LIMIT)
        .max()
        .filter(|_| {
            proxies
                .iter()
                .any(|&t| opts.pooling(t).backend_per_client() && opts.cannot_start(t).is_none())
        });
    if let Some(n) = needs_backends.filter(|&n| n + 100 > max_connections as usize) {
        raise_max_connections(cluster, n + 100)?;
    }
    // Per proxy: (idle clients, extra backends) at the largest count measured so far.
    let mut held: HashMap<TargetKind, (usize, i64)> = HashMap::new();
    let mut rows = Vec::new();
    for &clients in &counts {
        for &target in &proxies {
            stop.check()?;
            let expected = expects_backend_per_client(opts, target);
            let skip = opts
                .cannot_start(target)
                .or_else(|| skip_reason(target, expected, clients, held.get(&target).copied()));
            let outcome = match skip {
                Some(why) => IdleOutcome::NotApplicable(why),
                None => measure(cluster, target, clients, opts, stop)?,
            };
            if let IdleOutcome::Measured {
                backends: Some(b), ..
            } = outcome
            {
                held.insert(target, (clients, b));
            }
            eprintln!("compare: {clients} idle clients → {target}: {outcome:?}");
            rows.push(IdleRow {
                target,
                clients,
                outcome,
            });
        }
    }
    Ok(rows)
}

fn raise_max_connections(cluster: &Cluster, max_connections: usize) -> Result<()> {
    eprintln!("compare: restarting PostgreSQL with max_connections {max_connections}");
    let primary = cluster.primary();
    primary
        .psql(
            DATABASE,
            &format!("ALTER SYSTEM SET max_connections = {max_connections}"),
        )
        .and_then(|_| primary.restart())
        .context("raise max_connections for the idle-client phase")?;
    Ok(())
}

/// Whether `target` connects a PostgreSQL backend for every idle client: the pumps, Pgpool-II
/// and corepool in session pooling do (PgBouncer's session mode does not until a query).
fn expects_backend_per_client(opts: &Options, target: TargetKind) -> bool {
    match opts.pooling(target) {
        Pooling::Pump => true,
        Pooling::Session => target == TargetKind::Pgpool || target.is_corepool(),
        Pooling::Direct | Pooling::Transaction => false,
    }
}

/// Why `target` is not given `clients` idle clients, given whether it is `expected` to hold a
/// backend per client and what it held at a smaller count.
fn skip_reason(
    target: TargetKind,
    expected: bool,
    clients: usize,
    held: Option<(usize, i64)>,
) -> Option<String> {
    if clients <= BACKEND_PER_CLIENT_LIMIT {
        return None;
    }
    let cost = format!(
        "{clients} idle clients would need max_connections ≥ {clients} and as many PostgreSQL \
         processes on a 2-core machine"
    );
    if target == TargetKind::Pgpool {
        return Some(format!(
            "Pgpool-II serves one client per forked child (num_init_children = {clients} \
             processes) and each child holds its own backend; {cost}"
        ));
    }
    match held {
        Some((n, backends)) if backends * 2 >= n as i64 => Some(format!(
            "it held {backends} PostgreSQL backends for {n} idle clients (one per client); {cost}"
        )),
        Some(_) => None,
        None if expected => Some(format!(
            "it connects a PostgreSQL backend for each client's start-up; {cost}"
        )),
        None => None,
    }
}

/// Starts a fresh proxy sized for `clients`, samples, opens the idle clients, samples again. A
/// failure to start or to open every client is an [`IdleOutcome::Failed`], not an error.
fn measure(
    cluster: &Cluster,
    target: TargetKind,
    clients: usize,
    opts: &Options,
    stop: &Stop,
) -> Result<IdleOutcome> {
    let config = idle_config(opts, target, clients);
    let mut proxy = match start_proxy(cluster, opts, target, &config) {
        Ok(Some(proxy)) => proxy,
        Ok(None) => return Ok(IdleOutcome::NotApplicable("no proxy".into())),
        Err(e) => return Ok(IdleOutcome::Failed(format!("start: {e:#}"))),
    };
    thread::sleep(SETTLE);
    let processes = proxy.processes();
    let before = processes.memory()?;
    let backends_before = client_backends(cluster);
    let sockets = match idle::open_idle(proxy.port(), USER, DATABASE, clients, stop) {
        Ok(sockets) => sockets,
        Err(e) => {
            stop.check()?;
            let died = proxy.check_alive().err().map(|e| format!("; {e:#}"));
            return Ok(IdleOutcome::Failed(format!(
                "{e:#}{}",
                died.unwrap_or_default()
            )));
        }
    };
    thread::sleep(SETTLE);
    let after = processes.memory()?;
    let backends = backends_before
        .zip(client_backends(cluster))
        .map(|(b, a)| a - b);
    drop(sockets);
    Ok(IdleOutcome::Measured {
        before,
        after,
        backends,
    })
}

/// Client backends PostgreSQL has now (the query's own included), if it answers.
fn client_backends(cluster: &Cluster) -> Option<i64> {
    cluster
        .primary()
        .psql(
            DATABASE,
            "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend'",
        )
        .ok()?
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn skips_only_above_the_limit_and_on_evidence() {
        assert_eq!(skip_reason(TargetKind::Pgpool, true, 1000, None), None);
        assert!(skip_reason(TargetKind::Pgpool, true, 10_000, None).is_some());
        let pgbouncer = TargetKind::Pgbouncer125Session;
        assert_eq!(skip_reason(pgbouncer, false, 10_000, Some((1000, 1))), None);
        assert_eq!(skip_reason(pgbouncer, false, 10_000, None), None);
        let corepool = TargetKind::Corepool;
        assert!(skip_reason(corepool, true, 10_000, Some((1000, 1000)))
            .unwrap()
            .contains("held 1000"));
        assert_eq!(skip_reason(corepool, true, 10_000, Some((1000, 2))), None);
        assert!(skip_reason(corepool, true, 10_000, None).is_some());
        assert!(skip_reason(TargetKind::PumpEpoll, true, 10_000, None).is_some());
    }

    #[test]
    fn who_is_expected_to_hold_backends() {
        let mut opts = Options::default();
        assert!(expects_backend_per_client(&opts, TargetKind::PumpUring));
        assert!(expects_backend_per_client(&opts, TargetKind::Corepool));
        assert!(!expects_backend_per_client(
            &opts,
            TargetKind::Pgbouncer118Session
        ));
        assert!(!expects_backend_per_client(&opts, TargetKind::Pgdog));
        opts.corepool_conf = vec![("pool_mode".into(), "transaction".into())];
        assert!(!expects_backend_per_client(&opts, TargetKind::Corepool));
    }
}
