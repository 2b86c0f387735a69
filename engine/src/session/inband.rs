//! Pgpool-II's in-band commands, answered by corepool itself: `SHOW pool_*` and
//! `PGPOOL SHOW | SET | RESET` (behaviour spec §6).
//!
//! Replies follow pgpool: one RowDescription of text-format columns, DataRows of text,
//! CommandComplete, and ReadyForQuery — always `I`, as pgpool sends it. The column type is
//! `text` (OID 25) where pgpool sends 0, so drivers that look types up can read the rows.

use bytes::BytesMut;
use corepool_protocol::message::backend::FieldDescription;
use corepool_protocol::message::write;
use corepool_protocol::message::{Format, TransactionStatus};

use super::errors::error_then_ready;
use crate::cluster::{ClusterState, NodeRole};
use crate::config::Config;

/// Pgpool-II version string corepool reports (the release whose behaviour it follows).
pub const POOL_VERSION: &str = "4.3.5 (tamahomeboshi)";

/// True when a Query body (`sql\0`) is a corepool command.
pub fn is_in_band(body: &[u8]) -> bool {
    let text = body.strip_suffix(b"\0").unwrap_or(body);
    let start = text
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(text.len());
    let text = &text[start..];
    let starts = |prefix: &[u8]| {
        text.len() >= prefix.len() && text[..prefix.len()].eq_ignore_ascii_case(prefix)
    };
    if starts(b"show") {
        let rest = &text[4..];
        let ws = rest.iter().take_while(|b| b.is_ascii_whitespace()).count();
        return ws > 0 && rest[ws..].len() >= 5 && rest[ws..ws + 5].eq_ignore_ascii_case(b"pool_");
    }
    starts(b"pgpool") && text.get(6).is_some_and(|b| b.is_ascii_whitespace())
}

/// What answering needs to read.
pub struct Context<'a> {
    /// Shared cluster state.
    pub state: &'a ClusterState,
    /// The configuration the shard runs with.
    pub configured: &'a Config,
    /// The session's own configuration (PGPOOL SET changes it).
    pub session: &'a mut Config,
    /// The session's load-balance node.
    pub lb_node: usize,
}

/// Builds the full reply to one in-band command.
pub fn answer(sql: &str, ctx: Context<'_>) -> BytesMut {
    let words: Vec<&str> = sql
        .trim()
        .trim_end_matches(';')
        .split_whitespace()
        .collect();
    let lower: Vec<String> = words.iter().map(|w| w.to_ascii_lowercase()).collect();
    match lower
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        ["show", "pool_nodes"] => table(&NODE_COLUMNS, node_rows(&ctx)),
        ["show", "pool_version"] => table(&["pool_version"], vec![vec![POOL_VERSION.to_owned()]]),
        ["show", "pool_backend_stats"] => table(&BACKEND_STATS_COLUMNS, backend_stats_rows(&ctx)),
        ["show", "pool_health_check_stats"] => table(&HEALTH_COLUMNS, health_rows(&ctx)),
        ["show", "pool_status"] => {
            // The same rows, values and descriptions pcp_pool_status prints.
            let rows = crate::report::pool_status::rows(ctx.session, ctx.state)
                .into_iter()
                .map(|r| vec![r.name, r.value, r.description])
                .collect();
            table(&["item", "value", "description"], rows)
        }
        ["show", "pool_processes"] => table(&PROCESS_COLUMNS, process_rows(&ctx)),
        ["show", "pool_pools"] => table(&POOL_COLUMNS, pool_rows(&ctx)),
        ["show", "pool_transaction_pools"] => table(
            &crate::report::tx_pools::COLUMNS,
            crate::report::tx_pools::rows(ctx.state),
        ),
        ["show", "pool_cache"] => table(&CACHE_COLUMNS, vec![cache_row(ctx.state)]),
        ["pgpool", "show", "all"] => {
            let rows = Config::parameters()
                .filter_map(|(name, _)| {
                    ctx.session
                        .show(name)
                        .map(|v| vec![name.to_owned(), v, String::new()])
                })
                .collect();
            table(&["item", "value", "description"], rows)
        }
        ["pgpool", "show", _] => {
            let name = words[2];
            match ctx.session.show(name) {
                Some(v) => table(&[name], vec![vec![v]]),
                None => error_then_ready(
                    "42704",
                    &format!("config variable \"{name}\" not found"),
                    TransactionStatus::Idle,
                ),
            }
        }
        ["pgpool", "set", ..] => pgpool_set(&words[2..], ctx.session),
        ["pgpool", "reset", "all"] => {
            ctx.session.reset_all_session(ctx.configured);
            complete("RESET")
        }
        ["pgpool", "reset", _] => match ctx.session.reset_session(words[2], ctx.configured) {
            Ok(()) => complete("SET"),
            Err(e) => error_then_ready("42704", &e.to_string(), TransactionStatus::Idle),
        },
        _ => error_then_ready(
            "0A000",
            &format!(
                "corepool does not support the command \"{}\"",
                words.join(" ")
            ),
            TransactionStatus::Idle,
        ),
    }
}

/// `PGPOOL SET name = value` / `PGPOOL SET name TO value`.
fn pgpool_set(words: &[&str], session: &mut Config) -> BytesMut {
    let (name, value) = match words {
        [name, "=" | "to" | "TO" | "To", value @ ..] if !value.is_empty() => {
            (*name, value.join(" "))
        }
        [assign] if assign.contains('=') => match assign.split_once('=') {
            Some((n, v)) => (n, v.to_owned()),
            None => {
                return error_then_ready(
                    "42601",
                    "syntax error in PGPOOL SET",
                    TransactionStatus::Idle,
                )
            }
        },
        _ => {
            return error_then_ready(
                "42601",
                "syntax error in PGPOOL SET",
                TransactionStatus::Idle,
            )
        }
    };
    let value = value.trim().trim_matches('\'');
    match session.set_session(name, value) {
        Ok(()) => complete("SET"),
        Err(e) => error_then_ready("42704", &e.to_string(), TransactionStatus::Idle),
    }
}

const NODE_COLUMNS: [&str; 14] = [
    "node_id",
    "hostname",
    "port",
    "status",
    "pg_status",
    "lb_weight",
    "role",
    "pg_role",
    "select_cnt",
    "load_balance_node",
    "replication_delay",
    "replication_state",
    "replication_sync_state",
    "last_status_change",
];

const BACKEND_STATS_COLUMNS: [&str; 14] = [
    "node_id",
    "hostname",
    "port",
    "status",
    "role",
    "select_cnt",
    "insert_cnt",
    "update_cnt",
    "delete_cnt",
    "ddl_cnt",
    "other_cnt",
    "panic_cnt",
    "fatal_cnt",
    "error_cnt",
];

/// In corepool a "process" is a client session (sessions are tasks, not forked children).
const PROCESS_COLUMNS: [&str; 8] = [
    "pool_pid",
    "start_time",
    "client_connection_count",
    "database",
    "username",
    "backend_connection_time",
    "pool_counter",
    "status",
];

const POOL_COLUMNS: [&str; 17] = [
    "pool_pid",
    "start_time",
    "client_connection_count",
    "pool_id",
    "backend_id",
    "database",
    "username",
    "backend_connection_time",
    "client_connection_time",
    "client_disconnection_time",
    "client_idle_duration",
    "majorversion",
    "minorversion",
    "pool_counter",
    "pool_backendpid",
    "pool_connected",
    "status",
];

fn process_rows(ctx: &Context<'_>) -> Vec<Vec<String>> {
    ctx.state
        .registry
        .snapshot()
        .into_iter()
        .map(|s| {
            vec![
                s.process_id.to_string(),
                crate::report::format_local(s.connected_at),
                "1".into(),
                s.database,
                s.user,
                crate::report::format_local(s.backend_connected_at),
                "1".into(),
                s.activity.pgpool_name().into(),
            ]
        })
        .collect()
}

fn pool_rows(ctx: &Context<'_>) -> Vec<Vec<String>> {
    ctx.state
        .registry
        .snapshot()
        .into_iter()
        .map(|s| {
            vec![
                s.process_id.to_string(),
                crate::report::format_local(s.connected_at),
                "1".into(),
                "0".into(),
                s.node.to_string(),
                s.database,
                s.user,
                crate::report::format_local(s.backend_connected_at),
                crate::report::format_local(s.connected_at),
                String::new(),
                "0".into(),
                "3".into(),
                "0".into(),
                "1".into(),
                s.backend_pid.to_string(),
                "1".into(),
                s.activity.pgpool_name().into(),
            ]
        })
        .collect()
}

const HEALTH_COLUMNS: [&str; 20] = [
    "node_id",
    "hostname",
    "port",
    "status",
    "role",
    "last_status_change",
    "total_count",
    "success_count",
    "fail_count",
    "skip_count",
    "retry_count",
    "average_retry_count",
    "max_retry_count",
    "max_duration",
    "min_duration",
    "average_duration",
    "last_health_check",
    "last_successful_health_check",
    "last_skip_health_check",
    "last_failed_health_check",
];

const CACHE_COLUMNS: [&str; 9] = [
    "num_cache_hits",
    "num_selects",
    "cache_hit_ratio",
    "num_hash_entries",
    "used_hash_entries",
    "num_cache_entries",
    "used_cache_entries_size",
    "free_cache_entries_size",
    "fragment_cache_entries_size",
];

fn node_rows(ctx: &Context<'_>) -> Vec<Vec<String>> {
    let total: f64 = ctx.state.nodes().iter().map(|n| n.weight()).sum();
    ctx.state
        .nodes()
        .iter()
        .map(|n| {
            let health = ctx.state.health.node(n.id);
            let weight = if total > 0.0 { n.weight() / total } else { 0.0 };
            let role = n.role().name();
            let pg_status = match ctx.state.recovering() {
                Some(r) if r == n.id => "recovering",
                _ if n.status().is_valid() => "up",
                _ => "down",
            };
            vec![
                n.id.to_string(),
                n.address.host().to_owned(),
                n.address.port().to_string(),
                n.status().name().to_owned(),
                pg_status.to_owned(),
                format!("{weight:.6}"),
                role.to_owned(),
                role.to_owned(),
                ctx.state.stats.node_totals(n.id).select.to_string(),
                (n.id == ctx.lb_node).to_string(),
                if n.role() == NodeRole::Primary {
                    "0".into()
                } else {
                    n.replication_delay().to_string()
                },
                health
                    .map(|h| h.replication_state().name().to_owned())
                    .unwrap_or_default(),
                health
                    .map(|h| h.sync_state().name().to_owned())
                    .unwrap_or_default(),
                crate::report::format_local(n.last_status_change()),
            ]
        })
        .collect()
}

fn backend_stats_rows(ctx: &Context<'_>) -> Vec<Vec<String>> {
    ctx.state
        .nodes()
        .iter()
        .map(|n| {
            let c = ctx.state.stats.node_totals(n.id);
            vec![
                n.id.to_string(),
                n.address.host().to_owned(),
                n.address.port().to_string(),
                n.status().name().to_owned(),
                n.role().name().to_owned(),
                c.select.to_string(),
                c.insert.to_string(),
                c.update.to_string(),
                c.delete.to_string(),
                c.ddl.to_string(),
                c.other.to_string(),
                c.panics.to_string(),
                c.fatals.to_string(),
                c.errors.to_string(),
            ]
        })
        .collect()
}

fn health_rows(ctx: &Context<'_>) -> Vec<Vec<String>> {
    let when = |t: Option<u64>| t.map(crate::report::format_local).unwrap_or_default();
    ctx.state
        .nodes()
        .iter()
        .map(|n| {
            let s = ctx
                .state
                .health
                .node(n.id)
                .map(|h| h.snapshot())
                .unwrap_or_default();
            vec![
                n.id.to_string(),
                n.address.host().to_owned(),
                n.address.port().to_string(),
                n.status().name().to_owned(),
                n.role().name().to_owned(),
                crate::report::format_local(n.last_status_change()),
                s.total_count.to_string(),
                s.success_count.to_string(),
                s.fail_count.to_string(),
                s.skip_count.to_string(),
                s.retry_count.to_string(),
                format!("{:.6}", s.average_retry_count),
                s.max_retry_count.to_string(),
                s.max_duration_ms.to_string(),
                s.min_duration_ms.to_string(),
                format!("{:.6}", s.average_duration_ms),
                when(s.last_check),
                when(s.last_success),
                when(s.last_skip),
                when(s.last_fail),
            ]
        })
        .collect()
}

/// RowDescription + DataRows + `SELECT n` + ReadyForQuery(I).
fn table<S: AsRef<str>>(columns: &[S], rows: Vec<Vec<String>>) -> BytesMut {
    let mut out = BytesMut::with_capacity(256 + rows.len() * 64);
    let fields = columns
        .iter()
        .enumerate()
        .map(|(i, name)| FieldDescription {
            name: name.as_ref(),
            table_oid: 0,
            column_id: i as i16,
            // pgpool sends type OID 0; text (25) lets drivers that resolve column types
            // (tokio-postgres, JDBC) read the rows, and psql shows the same.
            type_oid: 25,
            type_size: -1,
            type_modifier: 0,
            format: Format::Text,
        });
    if write::backend::row_description(fields, &mut out).is_err() {
        return error_then_ready("XX000", "could not encode reply", TransactionStatus::Idle);
    }
    for row in &rows {
        if write::backend::data_row(row.iter().map(|v| Some(v.as_bytes())), &mut out).is_err() {
            return error_then_ready("XX000", "could not encode reply", TransactionStatus::Idle);
        }
    }
    let _ = write::backend::command_complete(&format!("SELECT {}", rows.len()), &mut out);
    write::backend::ready_for_query(TransactionStatus::Idle, &mut out);
    out
}

/// SHOW pool_cache's one row, as Pgpool-II 4.3 prints it (zeros with the cache off).
pub fn cache_row(state: &ClusterState) -> Vec<String> {
    let s = state
        .query_cache
        .as_ref()
        .map(|c| c.stats())
        .unwrap_or_default();
    vec![
        s.hits.to_string(),
        s.selects.to_string(),
        format!("{:.2}", s.hit_ratio()),
        s.hash_entries.to_string(),
        s.entries.to_string(),
        s.entries.to_string(),
        s.used_bytes.to_string(),
        s.free_bytes.to_string(),
        "0".to_owned(),
    ]
}

/// `NOTICE:  message`, then CommandComplete `tag` and ReadyForQuery.
pub fn notice_then_complete(message: &str, tag: &str, status: TransactionStatus) -> BytesMut {
    let mut out = BytesMut::with_capacity(64 + message.len());
    let notice = write::backend::ErrorData::new(write::backend::Severity::Notice, "00000", message);
    let _ = write::backend::notice_response(&notice, &mut out);
    let _ = write::backend::command_complete(tag, &mut out);
    write::backend::ready_for_query(status, &mut out);
    out
}

fn complete(tag: &str) -> BytesMut {
    let mut out = BytesMut::with_capacity(32);
    let _ = write::backend::command_complete(tag, &mut out);
    write::backend::ready_for_query(TransactionStatus::Idle, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_corepool_commands_only() {
        for yes in [
            &b"SHOW pool_nodes\0"[..],
            b"  show   POOL_version;\0",
            b"PGPOOL SHOW ALL\0",
            b"pgpool\tset a = 1\0",
        ] {
            assert!(is_in_band(yes), "{:?}", std::str::from_utf8(yes));
        }
        for no in [
            &b"SHOW work_mem\0"[..],
            b"SELECT 'show pool_nodes'\0",
            b"pgpoolx\0",
            b"show\0",
            b"\0",
        ] {
            assert!(!is_in_band(no), "{:?}", std::str::from_utf8(no));
        }
    }
}
