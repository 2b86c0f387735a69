//! The comparison itself: one cluster sized by the [`Plan`], the throughput phase, the
//! idle-client phase, and the [`Report`] that renders them with the command that made them.

use std::path::Path;
use std::process::Command;
use std::thread;

use anyhow::{Context, Result};
use corepool_testkit::Cluster;

use crate::kind::TargetKind;
use crate::memory;
use crate::pgbench::{self, DATABASE};
use crate::plan::{Options, Plan};
use crate::results::{IdleRow, Throughput};
use crate::stop::Stop;
use crate::sys;
use crate::tables;
use crate::throughput;

/// Everything measured, ready to render.
#[derive(Debug, Clone)]
pub struct Report {
    /// The command line of the run.
    pub command: String,
    /// What was run, on what.
    pub setup: Vec<String>,
    /// pgbench results.
    pub throughput: Throughput,
    /// Idle-client memory.
    pub idle: Vec<IdleRow>,
    /// Streaming standbys load-balanced over (0: the ordinary comparison).
    pub standbys: usize,
}

impl Report {
    /// The whole report as markdown.
    pub fn to_markdown(&self) -> String {
        let mut out = if self.standbys > 0 {
            format!(
                "# corepool vs Pgpool-II: load balancing over 1 primary + {} standby(s)\n\n",
                self.standbys
            )
        } else {
            "# corepool vs PgBouncer, PgDog, Pgpool-II and the byte-pump floor\n\n".to_string()
        };
        out.push_str(&format!("```sh\n{}\n```\n\n## Setup\n\n", self.command));
        for line in &self.setup {
            out.push_str(&format!("- {line}\n"));
        }
        if !self.throughput.workloads.is_empty() {
            out.push_str("\n## Throughput and latency (pgbench -S, select-only)\n\n");
            out.push_str(&self.columns_note());
            for warning in &self.throughput.warnings {
                out.push_str(&format!("- {warning}\n"));
            }
            if !self.throughput.warnings.is_empty() {
                out.push('\n');
            }
            out.push_str(&tables::render_throughput(&self.throughput));
            let added = tables::render_added_latency(&self.throughput);
            if !added.is_empty() {
                out.push_str("## Latency added at 1 client (target − direct)\n\n");
                out.push_str(
                    "Medians over the rounds of each percentile of the target minus direct's, \
                     in µs.\n\n",
                );
                out.push_str(&added);
            }
        }
        if !self.idle.is_empty() {
            out.push_str("\n## Memory per idle client\n\n");
            out.push_str(
                "(RSS after − RSS before) / clients, over the proxy's processes; PSS splits \
                 pages shared between Pgpool-II's forked children. \"PG backends\" is how many \
                 more client backends PostgreSQL had with the idle clients open.\n\n",
            );
            out.push_str(&tables::render_idle(&self.idle));
        }
        out
    }

    fn columns_note(&self) -> String {
        if self.standbys > 0 {
            return format!(
                "\"reads per node\" is each node's share ({}) of the transactions committed in \
                 the benchmark database during the runs: `pg_stat_database.xact_commit` read on \
                 each node directly before and after every run, summed over the rounds. It \
                 includes whatever a proxy itself runs there (e.g. Pgpool-II's catalog look-ups \
                 on the primary), not only pgbench's SELECTs.\n\n",
                self.throughput.nodes.join(" / ")
            );
        }
        "Medians of the rounds. \"vs PgBouncer 1.25\": transaction-pooling targets against \
         pgbouncer-1.25-transaction, every other target against pgbouncer-1.25-session. \"floor\": \
         the byte pump with the lower CPU per transaction in that workload (named under the \
         table). CPU ratios below 1 are cheaper than the reference, TPS ratios above 1 \
         faster.\n\n"
            .into()
    }
}

/// Runs the whole comparison. Everything started is stopped before this returns, also on error.
pub fn run(opts: &Options, stop: &Stop) -> Result<Report> {
    let nofile = sys::raise_nofile_limit().context("raise RLIMIT_NOFILE")?;
    let plan = Plan::new(opts, &opts.workloads());
    eprintln!(
        "compare: starting PostgreSQL (max_connections {}{})",
        plan.max_connections,
        if opts.standbys > 0 {
            format!(", {} streaming standby(s)", opts.standbys)
        } else {
            String::new()
        }
    );
    let cluster = Cluster::builder()
        .standbys(opts.standbys)
        .setting("max_connections", plan.max_connections.to_string())
        .setting("shared_buffers", "256MB")
        .setting("fsync", "off")
        .setting("synchronous_commit", "off")
        .setting("full_page_writes", "off")
        .start()
        .context("start the PostgreSQL primary")?;
    let primary = cluster.primary();
    eprintln!("compare: pgbench -i -s {}", opts.scale);
    pgbench::initialize(&cluster, primary.port(), opts.scale)?;
    for standby in cluster.standbys() {
        eprintln!("compare: waiting for {} to catch up", standby.name());
        standby
            .wait_caught_up(primary)
            .with_context(|| format!("wait for {} to replay pgbench -i", standby.name()))?;
    }
    let setup = describe_setup(&cluster, opts, &plan, nofile);
    let throughput = if opts.throughput {
        throughput::run(&cluster, opts, &plan, stop)?
    } else {
        let mut empty = throughput::empty_results(opts);
        empty.workloads.clear();
        empty
    };
    let idle = if opts.standbys > 0 {
        // The idle phase restarts the primary with a larger max_connections, which standbys
        // would have to follow; it measures nothing about load balancing anyway.
        if !opts.idle_clients.is_empty() {
            eprintln!("compare: no idle-client phase with standbys");
        }
        Vec::new()
    } else {
        memory::run(&cluster, opts, plan.max_connections, stop)?
    };
    Ok(Report {
        command: opts.command.clone(),
        setup,
        throughput,
        idle,
        standbys: opts.standbys,
    })
}

/// The first line a program prints for `--version` (some print it on stderr).
fn version(program: &Path) -> String {
    Command::new(program)
        .arg("--version")
        .output()
        .ok()
        .and_then(|o| String::from_utf8([o.stdout, o.stderr].concat()).ok())
        .and_then(|s| s.lines().next().map(|l| l.trim().to_owned()))
        .unwrap_or_else(|| format!("{}: unknown version", program.display()))
}

/// One line per program: its version and path, or why its targets are skipped.
fn describe_programs(opts: &Options) -> Vec<String> {
    let mut seen: Vec<std::path::PathBuf> = Vec::new();
    let mut lines = Vec::new();
    for &target in &opts.targets {
        if target == TargetKind::Direct {
            continue;
        }
        match opts.programs.locate(target) {
            Ok(path) if seen.contains(&path) => {}
            Ok(path) => {
                let what = if target.is_pump() {
                    let trigger = match opts.pump_trigger.as_str() {
                        "" => "edge",
                        t => t,
                    };
                    format!(
                        "corepool-bench's byte pump (one thread; `--mode epoll`: {trigger}-\
                         triggered epoll, one recv and one send per event; `--mode uring`: \
                         corepool-runtime, multishot receive into provided buffers, zero-copy \
                         forwarding)"
                    )
                } else {
                    version(&path)
                };
                lines.push(format!("{what}: `{}`", path.display()));
                seen.push(path);
            }
            Err(why) => lines.push(format!("**{target}: skipped** — {why}")),
        }
    }
    lines
}

fn describe_setup(cluster: &Cluster, opts: &Options, plan: &Plan, nofile: u64) -> Vec<String> {
    let server = cluster
        .primary()
        .psql(DATABASE, "SHOW server_version")
        .unwrap_or_else(|_| "?".into());
    let cores = thread::available_parallelism().map_or(0, |n| n.get());
    let load = std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "?".into());
    let nodes = if opts.standbys > 0 {
        let ports: Vec<String> = cluster
            .nodes()
            .iter()
            .zip(throughput::node_labels(cluster))
            .map(|(node, label)| format!("{label} {}", node.port()))
            .collect();
        format!(
            "1 primary + {} streaming standby(s) (testkit, `pg_basebackup -R -X stream`, hot \
             standby; {}), Pgpool-II and corepool load-balancing over every node with weight 1",
            opts.standbys,
            ports.join(", ")
        )
    } else {
        "primary".to_string()
    };
    let mut lines = vec![
        format!(
            "PostgreSQL {server} {nodes} on 127.0.0.1: max_connections {} (what the poolers' \
             kept backends and the largest backend-per-client run need), shared_buffers 256MB, \
             **fsync off, synchronous_commit off, full_page_writes off** (select-only \
             workloads do not write, but say so)",
            plan.max_connections
        ),
        format!(
            "pgbench -i -s {}; each run `-T {}` with `-j` = min(clients, cores){}, {} round(s), \
             targets rotated each round",
            opts.scale,
            opts.duration.as_secs(),
            if opts.latency_log {
                ", `-l` (percentiles over every thread's per-transaction log)"
            } else {
                ", no per-transaction log (no percentiles)"
            },
            opts.rounds
        ),
        format!(
            "trust auth, one backend; transaction poolers get a pool of {} backends (PgBouncer's, \
             PgDog's and a transaction-pooling corepool's `default_pool_size`; PgBouncer 1.25 \
             `max_prepared_statements = {}` in transaction mode); session poolers and the pumps up to {} clients (PgBouncer \
             `default_pool_size`, Pgpool-II and corepool `num_init_children`, `max_pool 1`), \
             PgBouncer `max_client_conn` and a transaction-pooling corepool's \
             `num_init_children` ≥ 11,000; PgDog `workers = {}`",
            opts.pool_size,
            opts.max_prepared_statements,
            plan.session_clients + 8,
            opts.pgdog_workers
        ),
    ];
    lines.extend(describe_programs(opts));
    let conf: Vec<String> = opts
        .corepool_conf
        .iter()
        .map(|(k, v)| format!("`{k} = {v}`"))
        .collect();
    lines.push(format!(
        "corepool: corepool_cores {}{}",
        opts.corepool_cores.map_or("all".into(), |c| c.to_string()),
        if conf.is_empty() {
            String::new()
        } else {
            format!(", from --corepool-conf: {}", conf.join(", "))
        }
    ));
    lines.push(format!(
        "{cores} CPU cores shared by PostgreSQL, the proxy and pgbench; load average at start \
         {load}; RLIMIT_NOFILE {nofile}"
    ));
    lines.push(
        "proxy CPU = utime+stime from /proc (all threads; Pgpool-II: summed over its process \
         tree, each child's exact `se.sum_exec_runtime`), sampled around each run, divided by \
         the transactions pgbench counted"
            .into(),
    );
    lines
}
