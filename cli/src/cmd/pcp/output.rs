//! Replies as text: a readable table by default, the pcp_* tools' verbose layout with `-v`,
//! or JSON with `--json`.

use std::fmt::Write as _;

use corepool_engine::report::format_local;
use corepool_protocol::pcp::node::{HealthCheckStats, NodeInfo};
use corepool_protocol::pcp::process::ProcessInfo;
use corepool_protocol::pcp::{self, Packet, Request, Response};
use serde_json::{json, Value};

/// How to print.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Tables and short lines.
    Human,
    /// The pcp_* tools' `-v` layout.
    Verbose,
    /// One JSON document.
    Json,
}

/// Renders the reply `packets` to `request`. `all` keeps records the tools hide by default
/// (nodes without a host name, processes without a database).
pub fn render(
    request: &Request<'_>,
    packets: &[Packet],
    format: Format,
    all: bool,
) -> Result<String, pcp::Error> {
    let responses = packets
        .iter()
        .map(|p| p.response())
        .collect::<Result<Vec<_>, _>>()?;
    let mut out = String::new();
    match request {
        Request::NodeCount => {
            let n = responses.iter().find_map(|r| match r {
                Response::NodeCount(n) => Some(*n),
                _ => None,
            });
            let n = n.unwrap_or(0);
            match format {
                Format::Json => out = json!({ "node_count": n }).to_string() + "\n",
                Format::Verbose => out = format!("Node Count\n____________\n {n}\n"),
                Format::Human => out = format!("{n}\n"),
            }
        }
        Request::NodeInfo { node_id } => {
            let nodes: Vec<(i32, NodeInfo<'_>)> = responses
                .iter()
                .filter_map(|r| match r {
                    Response::NodeInfo(n) => Some(*n),
                    _ => None,
                })
                .enumerate()
                .map(|(i, n)| (if *node_id < 0 { i as i32 } else { *node_id }, n))
                .filter(|(_, n)| all || !n.hostname.is_empty())
                .collect();
            node_info(&mut out, &nodes, format);
        }
        Request::HealthCheckStats { .. } => {
            for r in &responses {
                if let Response::HealthCheckStats(s) = r {
                    health_check_stats(&mut out, s, format);
                }
            }
        }
        Request::WatchdogInfo { .. } => {
            for r in &responses {
                if let Response::WatchdogInfo { json } = r {
                    let value: Value = serde_json::from_str(json).unwrap_or(Value::Null);
                    out = match format {
                        Format::Json => value.to_string() + "\n",
                        Format::Human => watchdog_info(&value, false),
                        Format::Verbose => watchdog_info(&value, true),
                    };
                }
            }
        }
        Request::ProcessCount => {
            for r in &responses {
                if let Response::ProcessCount(c) = r {
                    let pids: Vec<i32> = c.pids().collect();
                    out = match format {
                        Format::Json => {
                            json!({ "count": pids.len(), "pids": pids }).to_string() + "\n"
                        }
                        Format::Verbose => {
                            let mut s = String::from("No \t | \t PID\n_____________________\n");
                            for (i, p) in pids.iter().enumerate() {
                                let _ = writeln!(s, "{i} \t | \t {p}");
                            }
                            let _ = write!(s, "\nTotal Processes:{}\n", pids.len());
                            s
                        }
                        Format::Human => pids.iter().map(|p| format!("{p}\n")).collect(),
                    };
                }
            }
        }
        Request::ProcessInfo { .. } => {
            let procs: Vec<ProcessInfo<'_>> = responses
                .iter()
                .filter_map(|r| match r {
                    Response::ProcessInfo(p) => Some(*p),
                    _ => None,
                })
                .filter(|p| all || !p.database.is_empty())
                .collect();
            process_info(&mut out, &procs, format);
        }
        Request::PoolStatus => {
            let rows: Vec<_> = responses
                .iter()
                .filter_map(|r| match r {
                    Response::ConfigRow(c) => Some(*c),
                    _ => None,
                })
                .collect();
            match format {
                Format::Json => {
                    let v: Vec<Value> = rows
                        .iter()
                        .map(|r| json!({"name": r.name, "value": r.value, "description": r.description}))
                        .collect();
                    out = Value::Array(v).to_string() + "\n";
                }
                Format::Verbose => {
                    for (i, r) in rows.iter().enumerate() {
                        let _ = write!(
                            out,
                            "Name [{i:3}]:\t{}\nValue:      \t{}\nDescription:\t{}\n\n",
                            r.name, r.value, r.description
                        );
                    }
                }
                Format::Human => {
                    let width = rows.iter().map(|r| r.name.len()).max().unwrap_or(0);
                    for r in &rows {
                        let _ = writeln!(out, "{:width$} = {}", r.name, r.value);
                    }
                }
            }
        }
        other => {
            let what = done_message(other);
            out = match format {
                Format::Json => json!({ "ok": true, "command": what }).to_string() + "\n",
                _ => format!("{what}: command successful\n"),
            };
        }
    }
    Ok(out)
}

fn done_message(request: &Request<'_>) -> &'static str {
    match request {
        Request::DetachNode { .. } => "detach-node",
        Request::AttachNode { .. } => "attach-node",
        Request::PromoteNode { .. } => "promote-node",
        Request::StopPgpool { .. } => "stop-pgpool",
        Request::ReloadConfig { .. } => "reload-config",
        Request::RecoveryNode { .. } => "recovery-node",
        Request::SetParameter { .. } => "set-parameter",
        Request::InvalidateQueryCache => "invalidate-query-cache",
        _ => "command",
    }
}

/// Lines `title : value`, titles padded to the longest, then a blank line.
fn verbose_block(out: &mut String, pairs: &[(&str, String)]) {
    let width = pairs.iter().map(|(t, _)| t.len()).max().unwrap_or(0);
    for (t, v) in pairs {
        let _ = writeln!(out, "{t:width$} : {v}");
    }
    out.push('\n');
}

fn or_none(s: &str) -> &str {
    if s.is_empty() {
        "none"
    } else {
        s
    }
}

fn node_info(out: &mut String, nodes: &[(i32, NodeInfo<'_>)], format: Format) {
    match format {
        Format::Json => {
            let v: Vec<Value> = nodes
                .iter()
                .map(|(id, n)| {
                    json!({
                        "node_id": id,
                        "hostname": n.hostname,
                        "port": n.port,
                        "status": n.status.name(n.quarantine).name(),
                        "status_code": n.status.code(),
                        "pg_status": n.pg_status.name(),
                        "weight": n.normalized_weight(),
                        "role": n.role.name(),
                        "pg_role": n.pg_role.name(),
                        "replication_delay": n.standby_delay,
                        "replication_state": n.replication_state,
                        "replication_sync_state": n.replication_sync_state,
                        "last_status_change": format_local(n.status_changed_time),
                    })
                })
                .collect();
            *out = Value::Array(v).to_string() + "\n";
        }
        Format::Verbose => {
            for (_, n) in nodes {
                verbose_block(
                    out,
                    &[
                        ("Hostname", n.hostname.to_owned()),
                        ("Port", n.port.to_string()),
                        ("Status", n.status.code().to_string()),
                        ("Weight", format!("{:.6}", n.normalized_weight())),
                        ("Status Name", n.status.name(n.quarantine).name().to_owned()),
                        ("Backend Status Name", n.pg_status.name().to_owned()),
                        ("Role", n.role.name().to_owned()),
                        ("Backend Role", n.pg_role.name().to_owned()),
                        ("Replication Delay", n.standby_delay.to_string()),
                        ("Replication State", or_none(n.replication_state).to_owned()),
                        (
                            "Replication Sync State",
                            or_none(n.replication_sync_state).to_owned(),
                        ),
                        ("Last Status Change", format_local(n.status_changed_time)),
                    ],
                );
            }
        }
        Format::Human => {
            let mut rows = vec![[
                "node",
                "host",
                "port",
                "status",
                "pg_status",
                "weight",
                "role",
                "pg_role",
                "delay",
                "last_status_change",
            ]
            .map(str::to_owned)];
            for (id, n) in nodes {
                rows.push([
                    id.to_string(),
                    n.hostname.to_owned(),
                    n.port.to_string(),
                    n.status.name(n.quarantine).name().to_owned(),
                    n.pg_status.name().to_owned(),
                    format!("{:.6}", n.normalized_weight()),
                    n.role.name().to_owned(),
                    n.pg_role.name().to_owned(),
                    n.standby_delay.to_string(),
                    format_local(n.status_changed_time),
                ]);
            }
            table(out, &rows);
        }
    }
}

fn health_check_stats(out: &mut String, s: &HealthCheckStats<'_>, format: Format) {
    let pairs = [
        ("Node Id", s.node_id.to_string()),
        ("Host Name", s.hostname.to_owned()),
        ("Port", s.port.to_string()),
        ("Status", s.status.name().to_owned()),
        ("Role", s.role.name().to_owned()),
        ("Last Status Change", s.last_status_change.to_owned()),
        ("Total Count", s.total_count.to_string()),
        ("Success Count", s.success_count.to_string()),
        ("Fail Count", s.fail_count.to_string()),
        ("Skip Count", s.skip_count.to_string()),
        ("Retry Count", s.retry_count.to_string()),
        (
            "Average Retry Count",
            format!("{:.6}", s.average_retry_count),
        ),
        ("Max Retry Count", s.max_retry_count.to_string()),
        (
            "Max Health Check Duration",
            s.max_health_check_duration.to_string(),
        ),
        (
            "Minimum Health Check Duration",
            s.min_health_check_duration.to_string(),
        ),
        (
            "Average Health Check Duration",
            format!("{:.6}", s.average_health_check_duration),
        ),
        ("Last Health Check", s.last_health_check.to_owned()),
        (
            "Last Successful Health Check",
            s.last_successful_health_check.to_owned(),
        ),
        (
            "Last Skip Health Check",
            s.last_skip_health_check.to_owned(),
        ),
        (
            "Last Failed Health Check",
            s.last_failed_health_check.to_owned(),
        ),
    ];
    match format {
        Format::Json => {
            let map: serde_json::Map<String, Value> = pairs
                .iter()
                .map(|(t, v)| {
                    (
                        t.to_ascii_lowercase().replace(' ', "_"),
                        Value::String(v.clone()),
                    )
                })
                .collect();
            *out = Value::Object(map).to_string() + "\n";
        }
        _ => verbose_block(out, &pairs),
    }
}

fn process_info(out: &mut String, procs: &[ProcessInfo<'_>], format: Format) {
    match format {
        Format::Json => {
            let v: Vec<Value> = procs
                .iter()
                .map(|p| {
                    json!({
                        "pid": p.pool_pid,
                        "database": p.database,
                        "username": p.username,
                        "start_time": p.start_time,
                        "client_connection_time": p.client_connection_time,
                        "backend_connection_time": p.backend_connection_time,
                        "backend_id": p.backend_id,
                        "backend_pid": p.pool_backend_pid,
                        "connected": p.pool_connected,
                        "status": p.status.name(),
                    })
                })
                .collect();
            *out = Value::Array(v).to_string() + "\n";
        }
        Format::Verbose => {
            for p in procs {
                verbose_block(
                    out,
                    &[
                        ("Database", p.database.to_owned()),
                        ("Username", p.username.to_owned()),
                        ("Start time", p.start_time.to_owned()),
                        (
                            "Client connection count",
                            p.client_connection_count.to_string(),
                        ),
                        ("Major", p.major_version.to_string()),
                        ("Minor", p.minor_version.to_string()),
                        (
                            "Backend connection time",
                            p.backend_connection_time.to_owned(),
                        ),
                        (
                            "Client connection time",
                            p.client_connection_time.to_owned(),
                        ),
                        ("Client idle duration", p.client_idle_duration.to_owned()),
                        (
                            "Client disconnection time",
                            p.client_disconnection_time.to_owned(),
                        ),
                        ("Pool Counter", p.pool_counter.to_string()),
                        ("Backend PID", p.pool_backend_pid.to_string()),
                        ("Connected", u8::from(p.pool_connected).to_string()),
                        ("PID", p.pool_pid.to_string()),
                        ("Backend ID", p.backend_id.to_string()),
                        ("Status", p.status.name().to_owned()),
                    ],
                );
            }
        }
        Format::Human => {
            if procs.is_empty() {
                out.push_str("no client sessions\n");
                return;
            }
            let mut rows = vec![[
                "pid",
                "database",
                "user",
                "connected_at",
                "node",
                "backend_pid",
                "status",
            ]
            .map(str::to_owned)];
            for p in procs {
                rows.push([
                    p.pool_pid.to_string(),
                    p.database.to_owned(),
                    p.username.to_owned(),
                    p.client_connection_time.to_owned(),
                    p.backend_id.to_string(),
                    p.pool_backend_pid.to_string(),
                    p.status.name().to_owned(),
                ]);
            }
            table(out, &rows);
        }
    }
}

/// Left-aligned columns separated by two spaces; the first row is the header.
fn table<const N: usize>(out: &mut String, rows: &[[String; N]]) {
    let mut widths = [0usize; N];
    for r in rows {
        for (w, c) in widths.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count());
        }
    }
    for r in rows {
        let mut line = String::new();
        for (i, (c, w)) in r.iter().zip(widths).enumerate() {
            if i + 1 == N {
                line.push_str(c);
            } else {
                let _ = write!(line, "{c:w$}  ");
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
}

/// `pcp_watchdog_info`'s text, as Pgpool-II 4.3 prints it (`-v`: the labelled layout).
fn watchdog_info(v: &Value, verbose: bool) -> String {
    let int = |v: &Value, k: &str| v.get(k).and_then(Value::as_i64).unwrap_or(0);
    let text = |v: &Value, k: &str| v.get(k).and_then(Value::as_str).unwrap_or("").to_owned();
    let remote = int(v, "RemoteNodeCount");
    let member_remote = v
        .get("MemberRemoteNodeCount")
        .and_then(Value::as_i64)
        .unwrap_or(-1);
    let escalated = if int(v, "Escalated") != 0 {
        "YES"
    } else {
        "NO"
    };
    let nodes = v
        .get("WatchdogNodes")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let mut out = String::new();
    if verbose {
        let quorum = match int(v, "QuorumStatus") {
            0 => "QUORUM IS ON THE EDGE",
            1 => "QUORUM EXIST",
            -1 => "QUORUM ABSENT",
            -2 => "NO LEADER NODE",
            _ => "UNKNOWN",
        };
        let required = v
            .get("NodesRequireForQuorum")
            .and_then(Value::as_i64)
            .unwrap_or(-1);
        let _ = write!(
            out,
            "Watchdog Cluster Information \nTotal Nodes              : {}\nRemote Nodes             : {remote}\n\
             Member Remote Nodes      : {member_remote}\nAlive Remote Nodes       : {}\n\
             Nodes required for quorum: {required}\nQuorum state             : {quorum}\n\
             Local node escalation    : {escalated}\nLeader Node Name         : {}\n\
             Leader Host Name         : {}\n\nWatchdog Node Information \n",
            remote + 1,
            int(v, "AliveNodeCount"),
            text(v, "LeaderNodeName"),
            text(v, "LeaderHostName"),
        );
        for n in &nodes {
            let _ = write!(
                out,
                "Node Name         : {}\nHost Name         : {}\nDelegate IP       : {}\n\
                 Pgpool port       : {}\nWatchdog port     : {}\nNode priority     : {}\n\
                 Status            : {}\nStatus Name       : {}\nMembership Status : {}\n\n",
                text(n, "NodeName"),
                text(n, "HostName"),
                text(n, "DelegateIP"),
                int(n, "PgpoolPort"),
                int(n, "WdPort"),
                int(n, "Priority"),
                int(n, "State"),
                text(n, "StateName"),
                text(n, "MembershipString"),
            );
        }
    } else {
        let _ = write!(
            out,
            "{} {} {escalated} {} {}\n\n",
            remote + 1,
            member_remote + 1,
            text(v, "LeaderNodeName"),
            text(v, "LeaderHostName"),
        );
        for n in &nodes {
            let _ = writeln!(
                out,
                "{} {} {} {} {} {} {} {}",
                text(n, "NodeName"),
                text(n, "HostName"),
                int(n, "PgpoolPort"),
                int(n, "WdPort"),
                int(n, "State"),
                text(n, "StateName"),
                int(n, "Membership"),
                text(n, "MembershipString"),
            );
        }
    }
    out
}
