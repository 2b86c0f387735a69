//! Replies (server to client): the typed [`Response`] of one packet, its parser and writers.
//!
//! Node info, process info and pool status answer with a run of packets under one type
//! byte: an `ArraySize` packet, that many records, then a bare `CommandComplete`. Each packet
//! opens with a marker string, so [`Response::parse`] tells them apart without context.

use bytes::{BufMut, BytesMut};

use super::codec::{put_cstr, put_int, write_packet, Reader, MAX_RESPONSE_LEN};
use super::node::{HealthCheckStats, NodeInfo};
use super::notice::{write_error_response, ErrorResponse};
use super::process::{write_process_count_payload, ProcessCount, ProcessInfo};
use super::tags::*;
use super::Error;

/// One reply packet, borrowing its text from the packet.
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub enum Response<'a> {
    /// `m`: the 4 salt bytes for the md5 exchange.
    Salt([u8; 4]),
    /// `r`: `AuthenticationOK`.
    AuthenticationOk,
    /// `l`: how many backends are configured.
    NodeCount(u32),
    /// `i`, `p` or `b`: how many records follow. Text for `i` and `p`; a binary big-endian
    /// `int32` for `b`, the one binary number in PCP.
    ArraySize {
        /// The type byte of the run.
        tag: u8,
        /// How many records follow.
        count: u32,
    },
    /// `i`: one node's record.
    NodeInfo(NodeInfo<'a>),
    /// `h`: one node's health check statistics.
    HealthCheckStats(HealthCheckStats<'a>),
    /// `n`: the child PIDs.
    ProcessCount(ProcessCount<'a>),
    /// `p`: one pool slot of one child.
    ProcessInfo(ProcessInfo<'a>),
    /// `b`: one configuration row.
    ConfigRow(ConfigRow<'a>),
    /// `w`: the watchdog state as JSON.
    WatchdogInfo {
        /// The JSON text (pgpool's `get_node_list_json`).
        json: &'a str,
    },
    /// A bare `CommandComplete`: ends an `i`/`p`/`b` run, or is the whole answer to
    /// detach and promote (`d`), attach and recovery (`c`), stop (`t`), reload (`z`) and set
    /// parameter (`a`).
    CommandComplete {
        /// The type byte.
        tag: u8,
    },
    /// `E`: the request failed (ERROR) or the session is over (FATAL).
    Error(ErrorResponse<'a>),
    /// `N`: a notice; more packets follow.
    Notice(ErrorResponse<'a>),
}

/// One row of the pool status dump: `ProcessConfig`, name, value, description. The tool
/// reads at most 64, 512 and 80 bytes of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConfigRow<'a> {
    /// The parameter name, e.g. `backend_hostname0`.
    pub name: &'a str,
    /// Its value as text (booleans and enums as `%d`, lists comma-joined).
    pub value: &'a str,
    /// What it means.
    pub description: &'a str,
}

/// The type bytes whose bare `CommandComplete` packet [`Response::parse`] accepts.
const COMMAND_COMPLETE_TAGS: &[u8] = b"ipbdctzag";

impl<'a> Response<'a> {
    /// Parses the payload of a reply packet with type byte `tag`.
    pub fn parse(tag: u8, payload: &'a [u8]) -> Result<Response<'a>, Error> {
        let response = match tag {
            SALT_TAG => {
                let mut r = Reader::new("salt", payload);
                let salt = r.bytes::<4>("salt")?;
                r.finish()?;
                Response::Salt(salt)
            }
            AUTHENTICATION_OK_TAG => {
                let mut r = Reader::new("authentication ok", payload);
                r.marker("marker", AUTHENTICATION_OK)?;
                r.finish()?;
                Response::AuthenticationOk
            }
            NODE_COUNT_REPLY_TAG => {
                let mut r = Reader::new("node count", payload);
                r.marker("marker", COMMAND_COMPLETE)?;
                let count = r.parsed("count", parse_count)?;
                r.finish()?;
                Response::NodeCount(count)
            }
            NODE_INFO_REPLY_TAG => parse_run(tag, payload, NODE_INFO, |p| {
                NodeInfo::parse(p).map(Response::NodeInfo)
            })?,
            PROCESS_INFO_REPLY_TAG => parse_run(tag, payload, PROCESS_INFO, |p| {
                ProcessInfo::parse(p).map(Response::ProcessInfo)
            })?,
            POOL_STATUS_REPLY_TAG => parse_pool_status(payload)?,
            HEALTH_CHECK_STATS_REPLY_TAG => {
                Response::HealthCheckStats(HealthCheckStats::parse(payload)?)
            }
            PROCESS_COUNT_REPLY_TAG => Response::ProcessCount(ProcessCount::parse(payload)?),
            WATCHDOG_INFO_REPLY_TAG => {
                let mut r = Reader::new("watchdog info", payload);
                r.marker("marker", COMMAND_COMPLETE)?;
                let json = r.cstr("json")?;
                r.finish()?;
                Response::WatchdogInfo { json }
            }
            DETACH_NODE_REPLY_TAG
            | ATTACH_NODE_REPLY_TAG
            | STOP_PGPOOL_REPLY_TAG
            | RELOAD_CONFIG_REPLY_TAG
            | INVALIDATE_QUERY_CACHE_REPLY_TAG
            | SET_PARAMETER_REPLY_TAG => parse_command_complete(tag, payload)?,
            ERROR_TAG => Response::Error(ErrorResponse::parse(payload)?),
            NOTICE_TAG => Response::Notice(ErrorResponse::parse(payload)?),
            _ => {
                return Err(Error::UnknownTag {
                    tag,
                    sender: "response",
                })
            }
        };
        Ok(response)
    }

    /// The type byte this reply is sent with.
    pub fn tag(&self) -> u8 {
        match self {
            Response::Salt(_) => SALT_TAG,
            Response::AuthenticationOk => AUTHENTICATION_OK_TAG,
            Response::NodeCount(_) => NODE_COUNT_REPLY_TAG,
            Response::ArraySize { tag, .. } | Response::CommandComplete { tag } => *tag,
            Response::NodeInfo(_) => NODE_INFO_REPLY_TAG,
            Response::HealthCheckStats(_) => HEALTH_CHECK_STATS_REPLY_TAG,
            Response::ProcessCount(_) => PROCESS_COUNT_REPLY_TAG,
            Response::ProcessInfo(_) => PROCESS_INFO_REPLY_TAG,
            Response::ConfigRow(_) => POOL_STATUS_REPLY_TAG,
            Response::WatchdogInfo { .. } => WATCHDOG_INFO_REPLY_TAG,
            Response::Error(e) | Response::Notice(e) => e.tag(),
        }
    }

    /// Appends this reply to `buf` with the matching `write_*` function. An `Error` or
    /// `Notice` goes out under the type byte its severity calls for.
    pub fn write(&self, buf: &mut BytesMut) -> Result<(), Error> {
        match self {
            Response::Salt(salt) => {
                write_salt(buf, *salt);
                Ok(())
            }
            Response::AuthenticationOk => {
                write_authentication_ok(buf);
                Ok(())
            }
            Response::NodeCount(count) => write_node_count(buf, *count),
            Response::ArraySize { tag, count } => write_array_size(buf, *tag, *count),
            Response::NodeInfo(info) => write_node_info(buf, info),
            Response::HealthCheckStats(stats) => write_health_check_stats(buf, stats),
            Response::ProcessCount(view) => write_packet(
                buf,
                PROCESS_COUNT_REPLY_TAG,
                "process count",
                MAX_RESPONSE_LEN,
                |buf| view.write_payload(buf),
            ),
            Response::ProcessInfo(info) => write_process_info(buf, info),
            Response::ConfigRow(row) => write_config_row(buf, row),
            Response::WatchdogInfo { json } => write_watchdog_info(buf, json),
            Response::CommandComplete { tag } => write_command_complete(buf, *tag),
            Response::Error(e) | Response::Notice(e) => write_error_response(buf, e),
        }
    }
}

/// Reads a count sent as `%d`: 0 to `i32::MAX`.
fn parse_count(text: &[u8]) -> Option<u32> {
    super::codec::parse_int::<i32>(text).and_then(|n| u32::try_from(n).ok())
}

/// Reads one packet of an `ArraySize` / record / `CommandComplete` run with text counts.
fn parse_run<'a>(
    tag: u8,
    payload: &'a [u8],
    record_marker: &str,
    record: impl FnOnce(&'a [u8]) -> Result<Response<'a>, Error>,
) -> Result<Response<'a>, Error> {
    let mut r = Reader::new("array", payload);
    let marker = r.cstr_bytes("marker")?;
    if marker == ARRAY_SIZE.as_bytes() {
        let count = r.parsed("count", parse_count)?;
        r.finish()?;
        Ok(Response::ArraySize { tag, count })
    } else if marker == COMMAND_COMPLETE.as_bytes() {
        r.finish()?;
        Ok(Response::CommandComplete { tag })
    } else if marker == record_marker.as_bytes() {
        record(payload)
    } else {
        Err(Error::invalid_value("array", "marker", marker))
    }
}

/// Reads one `b` packet: binary `ArraySize`, a `ProcessConfig` row or `CommandComplete`.
fn parse_pool_status(payload: &[u8]) -> Result<Response<'_>, Error> {
    const PACKET: &str = "pool status";
    let mut r = Reader::new(PACKET, payload);
    let marker = r.cstr_bytes("marker")?;
    let response = if marker == ARRAY_SIZE.as_bytes() {
        let count = i32::from_be_bytes(r.bytes::<4>("count")?);
        let count = u32::try_from(count)
            .map_err(|_| Error::invalid_value(PACKET, "count", &count.to_be_bytes()))?;
        Response::ArraySize {
            tag: POOL_STATUS_REPLY_TAG,
            count,
        }
    } else if marker == COMMAND_COMPLETE.as_bytes() {
        Response::CommandComplete {
            tag: POOL_STATUS_REPLY_TAG,
        }
    } else if marker == PROCESS_CONFIG.as_bytes() {
        Response::ConfigRow(ConfigRow {
            name: r.cstr("name")?,
            value: r.cstr("value")?,
            description: r.cstr("description")?,
        })
    } else {
        return Err(Error::invalid_value(PACKET, "marker", marker));
    };
    r.finish()?;
    Ok(response)
}

/// Reads a payload that is exactly `CommandComplete`.
fn parse_command_complete(tag: u8, payload: &[u8]) -> Result<Response<'_>, Error> {
    let mut r = Reader::new("command complete", payload);
    r.marker("marker", COMMAND_COMPLETE)?;
    r.finish()?;
    Ok(Response::CommandComplete { tag })
}

/// Writes `m` with the 4 salt bytes (binary, may contain NUL).
pub fn write_salt(buf: &mut BytesMut, salt: [u8; 4]) {
    buf.put_slice(&[SALT_TAG, 0, 0, 0, 8]);
    buf.put_slice(&salt);
}

/// Writes `r` `AuthenticationOK`.
pub fn write_authentication_ok(buf: &mut BytesMut) {
    buf.put_slice(&[AUTHENTICATION_OK_TAG, 0, 0, 0, 21]);
    buf.put_slice(AUTHENTICATION_OK.as_bytes());
    buf.put_u8(0);
}

/// Writes `l`: `CommandComplete` and the number of configured backends.
pub fn write_node_count(buf: &mut BytesMut, count: u32) -> Result<(), Error> {
    let count = check_count("node count", count)?;
    write_reply(buf, NODE_COUNT_REPLY_TAG, "node count", |buf| {
        put_cstr(buf, "node count", "marker", COMMAND_COMPLETE)?;
        put_int(buf, count);
        Ok(())
    })
}

/// Writes the `ArraySize` packet that opens an `i`, `p` or `b` run: text for `i` and `p`,
/// a binary `int32` for `b`.
pub fn write_array_size(buf: &mut BytesMut, tag: u8, count: u32) -> Result<(), Error> {
    const PACKET: &str = "array size";
    let count = check_count(PACKET, count)?;
    if ![
        NODE_INFO_REPLY_TAG,
        PROCESS_INFO_REPLY_TAG,
        POOL_STATUS_REPLY_TAG,
    ]
    .contains(&tag)
    {
        return Err(Error::InvalidInput {
            packet: PACKET,
            field: "tag",
            reason: "is not one of i, p, b",
        });
    }
    write_reply(buf, tag, PACKET, |buf| {
        put_cstr(buf, PACKET, "marker", ARRAY_SIZE)?;
        if tag == POOL_STATUS_REPLY_TAG {
            buf.put_i32(count);
        } else {
            put_int(buf, count);
        }
        Ok(())
    })
}

/// Writes one `i` node info record.
pub fn write_node_info(buf: &mut BytesMut, info: &NodeInfo<'_>) -> Result<(), Error> {
    write_reply(buf, NODE_INFO_REPLY_TAG, "node info", |buf| {
        info.write_payload(buf)
    })
}

/// Writes the `h` reply.
pub fn write_health_check_stats(
    buf: &mut BytesMut,
    stats: &HealthCheckStats<'_>,
) -> Result<(), Error> {
    write_reply(
        buf,
        HEALTH_CHECK_STATS_REPLY_TAG,
        "health check stats",
        |buf| stats.write_payload(buf),
    )
}

/// Writes the `n` reply: `CommandComplete`, the count, then each PID.
pub fn write_process_count(buf: &mut BytesMut, pids: &[i32]) -> Result<(), Error> {
    write_reply(buf, PROCESS_COUNT_REPLY_TAG, "process count", |buf| {
        write_process_count_payload(buf, pids.iter().copied())
    })
}

/// Writes one `p` process info record.
pub fn write_process_info(buf: &mut BytesMut, info: &ProcessInfo<'_>) -> Result<(), Error> {
    write_reply(buf, PROCESS_INFO_REPLY_TAG, "process info", |buf| {
        info.write_payload(buf)
    })
}

/// Writes one `b` configuration row.
pub fn write_config_row(buf: &mut BytesMut, row: &ConfigRow<'_>) -> Result<(), Error> {
    const PACKET: &str = "pool status";
    write_reply(buf, POOL_STATUS_REPLY_TAG, PACKET, |buf| {
        put_cstr(buf, PACKET, "marker", PROCESS_CONFIG)?;
        put_cstr(buf, PACKET, "name", row.name)?;
        put_cstr(buf, PACKET, "value", row.value)?;
        put_cstr(buf, PACKET, "description", row.description)
    })
}

/// Writes the `w` reply: `CommandComplete` and the JSON text.
pub fn write_watchdog_info(buf: &mut BytesMut, json: &str) -> Result<(), Error> {
    write_reply(buf, WATCHDOG_INFO_REPLY_TAG, "watchdog info", |buf| {
        put_cstr(buf, "watchdog info", "marker", COMMAND_COMPLETE)?;
        put_cstr(buf, "watchdog info", "json", json)
    })
}

/// Writes a bare `CommandComplete` under `tag`, one of `i p b d c t z a g`.
pub fn write_command_complete(buf: &mut BytesMut, tag: u8) -> Result<(), Error> {
    if !COMMAND_COMPLETE_TAGS.contains(&tag) {
        return Err(Error::InvalidInput {
            packet: "command complete",
            field: "tag",
            reason: "is not one of i, p, b, d, c, t, z, a, g",
        });
    }
    buf.put_slice(&[tag, 0, 0, 0, 20]);
    buf.put_slice(COMMAND_COMPLETE.as_bytes());
    buf.put_u8(0);
    Ok(())
}

/// Writes a reply packet, whose length only the `int32` bounds.
fn write_reply<F>(buf: &mut BytesMut, tag: u8, packet: &'static str, body: F) -> Result<(), Error>
where
    F: FnOnce(&mut BytesMut) -> Result<(), Error>,
{
    write_packet(buf, tag, packet, MAX_RESPONSE_LEN, body)
}

/// Checks that a count fits pgpool's `int`.
fn check_count(packet: &'static str, count: u32) -> Result<i32, Error> {
    i32::try_from(count).map_err(|_| Error::InvalidInput {
        packet,
        field: "count",
        reason: "is over 2147483647",
    })
}
