//! Requests (client to server): the typed [`Request`], its parser and one writer per request.
//!
//! Payloads as libpcp 4.3 sends them: decimal text with a NUL for ids, one bare byte (no NUL)
//! for a stop mode or reload scope, `"<id> \0<option>"` for promote, nothing for the
//! parameterless requests. Every writer keeps the length field under 260, the limit the
//! server enforces.

use bytes::{BufMut, BytesMut};

use super::codec::{
    parse_int, put_cstr, put_decimal, put_int, write_packet, Reader, MAX_REQUEST_LEN,
};
use super::tags::*;
use super::Error;

/// The longest user name pgpool reads: `MAX_USER_PASSWD_LEN` (128) minus its NUL.
pub const MAX_USER_LEN: usize = 127;

/// One request, borrowing its text from the packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Request<'a> {
    /// `M`: send me a salt.
    SaltRequest,
    /// `R`: log in.
    Authenticate {
        /// The user name, as in pcp.conf. pgpool cannot read one over [`MAX_USER_LEN`] bytes;
        /// the parser leaves that check to [`ServerAuth`](super::auth::ServerAuth), which
        /// makes it in pgpool's order.
        user: &'a str,
        /// The md5 response: 32 lower-case hex digits (see [`super::auth`]).
        response: &'a str,
    },
    /// `L`: how many backends are configured.
    NodeCount,
    /// `I`: the node info records of one node, or of all with `-1`.
    NodeInfo {
        /// The node id, `-1` for all.
        node_id: i32,
    },
    /// `H`: the health check statistics of one node.
    HealthCheckStats {
        /// The node id.
        node_id: i32,
    },
    /// `N`: the PIDs of the child processes.
    ProcessCount,
    /// `P`: the connection pool records of one child process, or of all with `0`.
    ProcessInfo {
        /// The child's PID, `0` for all.
        pid: i32,
    },
    /// `B`: the configuration dump.
    PoolStatus,
    /// `W`: the watchdog state.
    WatchdogInfo {
        /// The watchdog node id: `-1` all (the tool's default), `0` the local node.
        watchdog_id: i32,
    },
    /// `D` (now) or `d` (gracefully): detach a node.
    DetachNode {
        /// The node id.
        node_id: i32,
        /// `d`: wait for the clients to leave first.
        gracefully: bool,
    },
    /// `C`: attach a node.
    AttachNode {
        /// The node id.
        node_id: i32,
    },
    /// `J` or `j` (gracefully): promote a node.
    PromoteNode {
        /// The node id.
        node_id: i32,
        /// `j`: wait for the clients to leave first.
        gracefully: bool,
        /// Option byte `s`: detach the current primary and let failover_command promote this
        /// node; `n`: only mark this node as the primary.
        switchover: bool,
    },
    /// `O`: online recovery of a node.
    RecoveryNode {
        /// The node id.
        node_id: i32,
    },
    /// `T` (this pgpool) or `t` (the cluster): shut down.
    StopPgpool {
        /// How to shut down.
        mode: ShutdownMode,
        /// `t`: all watchdog members.
        scope: Scope,
    },
    /// `Z`: reload the configuration.
    ReloadConfig {
        /// Local, or propagated to the watchdog cluster.
        scope: Scope,
    },
    /// `A`: set a parameter of this PCP session (pgpool accepts only `client_min_messages`).
    SetParameter {
        /// The parameter name.
        name: &'a str,
        /// The value.
        value: &'a str,
    },
    /// `G`: clear the query cache (Pgpool-II 4.6's `pcp_invalidate_query_cache`). Empty
    /// payload; answered with `g` CommandComplete.
    InvalidateQueryCache,
    /// `F`: stop online recovery. Never answered.
    StopRecovery,
    /// `X`: disconnect. Never answered.
    Disconnect,
}

/// The shutdown mode byte of a stop request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ShutdownMode {
    /// `s`: wait for clients to disconnect.
    Smart,
    /// `f`: disconnect clients now.
    Fast,
    /// `i`: like fast (pgpool treats them the same).
    Immediate,
}

impl ShutdownMode {
    /// The byte on the wire.
    pub fn as_byte(self) -> u8 {
        match self {
            ShutdownMode::Smart => b's',
            ShutdownMode::Fast => b'f',
            ShutdownMode::Immediate => b'i',
        }
    }

    /// Reads the byte on the wire.
    pub fn from_byte(byte: u8) -> Option<ShutdownMode> {
        match byte {
            b's' => Some(ShutdownMode::Smart),
            b'f' => Some(ShutdownMode::Fast),
            b'i' => Some(ShutdownMode::Immediate),
            _ => None,
        }
    }
}

/// Whether a stop or reload acts on this pgpool only or on the whole watchdog cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scope {
    /// This pgpool (`T`; reload byte `l`).
    Local,
    /// Every watchdog member (`t`; reload byte `c`). Same as local with the watchdog off.
    Cluster,
}

impl<'a> Request<'a> {
    /// Parses the payload of a packet with type byte `tag`.
    ///
    /// Strict: numbers must be canonical decimal, the payload must end where the request
    /// does, and the stop mode, reload scope and promote option must be one of the bytes
    /// libpcp sends. Where pgpool is more lenient (it reads ids with `atoi` and any reload
    /// byte other than `c` as local) this rejects what pgpool would accept.
    pub fn parse(tag: u8, payload: &'a [u8]) -> Result<Request<'a>, Error> {
        let request = match tag {
            SALT_REQUEST_TAG => empty(payload, "salt request", Request::SaltRequest)?,
            AUTHENTICATE_TAG => parse_authenticate(payload)?,
            NODE_COUNT_TAG => empty(payload, "node count", Request::NodeCount)?,
            NODE_INFO_TAG => Request::NodeInfo {
                node_id: id(payload, "node info", "node id")?,
            },
            HEALTH_CHECK_STATS_TAG => Request::HealthCheckStats {
                node_id: id(payload, "health check stats", "node id")?,
            },
            PROCESS_COUNT_TAG => empty(payload, "process count", Request::ProcessCount)?,
            PROCESS_INFO_TAG => Request::ProcessInfo {
                pid: id(payload, "process info", "pid")?,
            },
            POOL_STATUS_TAG => empty(payload, "pool status", Request::PoolStatus)?,
            WATCHDOG_INFO_TAG => Request::WatchdogInfo {
                watchdog_id: id(payload, "watchdog info", "watchdog id")?,
            },
            DETACH_NODE_TAG | DETACH_NODE_GRACEFULLY_TAG => Request::DetachNode {
                node_id: id(payload, "detach node", "node id")?,
                gracefully: tag == DETACH_NODE_GRACEFULLY_TAG,
            },
            ATTACH_NODE_TAG => Request::AttachNode {
                node_id: id(payload, "attach node", "node id")?,
            },
            PROMOTE_NODE_TAG | PROMOTE_NODE_GRACEFULLY_TAG => {
                parse_promote(payload, tag == PROMOTE_NODE_GRACEFULLY_TAG)?
            }
            RECOVERY_NODE_TAG => Request::RecoveryNode {
                node_id: id(payload, "recovery node", "node id")?,
            },
            STOP_PGPOOL_TAG | STOP_PGPOOL_CLUSTER_TAG => {
                let mode = one_byte(payload, "stop pgpool", "mode")?;
                Request::StopPgpool {
                    mode: ShutdownMode::from_byte(mode)
                        .ok_or(Error::InvalidShutdownMode { mode })?,
                    scope: if tag == STOP_PGPOOL_CLUSTER_TAG {
                        Scope::Cluster
                    } else {
                        Scope::Local
                    },
                }
            }
            RELOAD_CONFIG_TAG => Request::ReloadConfig {
                scope: match one_byte(payload, "reload config", "scope")? {
                    b'l' => Scope::Local,
                    b'c' => Scope::Cluster,
                    other => return Err(Error::invalid_value("reload config", "scope", &[other])),
                },
            },
            SET_PARAMETER_TAG => {
                let mut reader = Reader::new("set parameter", payload);
                let name = reader.cstr("name")?;
                let value = reader.cstr("value")?;
                reader.finish()?;
                Request::SetParameter { name, value }
            }
            STOP_RECOVERY_TAG => empty(payload, "stop recovery", Request::StopRecovery)?,
            INVALIDATE_QUERY_CACHE_TAG => empty(
                payload,
                "invalidate query cache",
                Request::InvalidateQueryCache,
            )?,
            DISCONNECT_TAG => empty(payload, "disconnect", Request::Disconnect)?,
            _ => {
                return Err(Error::UnknownTag {
                    tag,
                    sender: "request",
                })
            }
        };
        Ok(request)
    }

    /// The type byte this request is sent with.
    pub fn tag(&self) -> u8 {
        match *self {
            Request::SaltRequest => SALT_REQUEST_TAG,
            Request::Authenticate { .. } => AUTHENTICATE_TAG,
            Request::NodeCount => NODE_COUNT_TAG,
            Request::NodeInfo { .. } => NODE_INFO_TAG,
            Request::HealthCheckStats { .. } => HEALTH_CHECK_STATS_TAG,
            Request::ProcessCount => PROCESS_COUNT_TAG,
            Request::ProcessInfo { .. } => PROCESS_INFO_TAG,
            Request::PoolStatus => POOL_STATUS_TAG,
            Request::WatchdogInfo { .. } => WATCHDOG_INFO_TAG,
            Request::DetachNode {
                gracefully: false, ..
            } => DETACH_NODE_TAG,
            Request::DetachNode { .. } => DETACH_NODE_GRACEFULLY_TAG,
            Request::AttachNode { .. } => ATTACH_NODE_TAG,
            Request::PromoteNode {
                gracefully: false, ..
            } => PROMOTE_NODE_TAG,
            Request::PromoteNode { .. } => PROMOTE_NODE_GRACEFULLY_TAG,
            Request::RecoveryNode { .. } => RECOVERY_NODE_TAG,
            Request::StopPgpool {
                scope: Scope::Local,
                ..
            } => STOP_PGPOOL_TAG,
            Request::StopPgpool { .. } => STOP_PGPOOL_CLUSTER_TAG,
            Request::ReloadConfig { .. } => RELOAD_CONFIG_TAG,
            Request::SetParameter { .. } => SET_PARAMETER_TAG,
            Request::StopRecovery => STOP_RECOVERY_TAG,
            Request::InvalidateQueryCache => INVALIDATE_QUERY_CACHE_TAG,
            Request::Disconnect => DISCONNECT_TAG,
        }
    }

    /// Appends this request to `buf` with the matching `write_*` function.
    pub fn write(&self, buf: &mut BytesMut) -> Result<(), Error> {
        match *self {
            Request::Authenticate { user, response } => write_authenticate(buf, user, response),
            Request::NodeInfo { node_id }
            | Request::HealthCheckStats { node_id }
            | Request::AttachNode { node_id }
            | Request::RecoveryNode { node_id }
            | Request::DetachNode { node_id, .. } => write_id(buf, self.tag(), node_id),
            Request::ProcessInfo { pid } => write_id(buf, self.tag(), pid),
            Request::WatchdogInfo { watchdog_id } => write_id(buf, self.tag(), watchdog_id),
            Request::PromoteNode {
                node_id,
                gracefully,
                switchover,
            } => write_promote_node(buf, node_id, gracefully, switchover),
            Request::StopPgpool { mode, scope } => {
                write_stop_pgpool(buf, mode, scope);
                Ok(())
            }
            Request::ReloadConfig { scope } => {
                write_reload_config(buf, scope);
                Ok(())
            }
            Request::SetParameter { name, value } => write_set_parameter(buf, name, value),
            Request::SaltRequest
            | Request::NodeCount
            | Request::ProcessCount
            | Request::PoolStatus
            | Request::StopRecovery
            | Request::InvalidateQueryCache
            | Request::Disconnect => {
                write_empty(buf, self.tag());
                Ok(())
            }
        }
    }
}

/// Returns `request` if `payload` is empty.
fn empty<'a>(
    payload: &[u8],
    packet: &'static str,
    request: Request<'a>,
) -> Result<Request<'a>, Error> {
    Reader::new(packet, payload).finish().map(|()| request)
}

/// Reads a payload that is one decimal id and its NUL.
fn id(payload: &[u8], packet: &'static str, field: &'static str) -> Result<i32, Error> {
    let mut reader = Reader::new(packet, payload);
    let id = reader.int(field)?;
    reader.finish()?;
    Ok(id)
}

/// Reads a payload that is exactly one byte (no NUL).
fn one_byte(payload: &[u8], packet: &'static str, field: &'static str) -> Result<u8, Error> {
    let mut reader = Reader::new(packet, payload);
    let [byte] = reader.bytes::<1>(field)?;
    reader.finish()?;
    Ok(byte)
}

/// Reads `user\0response\0`.
fn parse_authenticate(payload: &[u8]) -> Result<Request<'_>, Error> {
    let mut reader = Reader::new("authenticate", payload);
    let user = reader.cstr("user")?;
    let response = reader.cstr("response")?;
    reader.finish()?;
    Ok(Request::Authenticate { user, response })
}

/// Reads `"<id> \0<option>"`.
fn parse_promote(payload: &[u8], gracefully: bool) -> Result<Request<'_>, Error> {
    let mut reader = Reader::new("promote node", payload);
    let text = reader.cstr_bytes("node id")?;
    let node_id = text
        .strip_suffix(b" ")
        .and_then(parse_int)
        .ok_or_else(|| Error::invalid_value("promote node", "node id", text))?;
    let switchover = match reader.bytes::<1>("option")? {
        [b's'] => true,
        [b'n'] => false,
        other => return Err(Error::invalid_value("promote node", "option", &other)),
    };
    reader.finish()?;
    Ok(Request::PromoteNode {
        node_id,
        gracefully,
        switchover,
    })
}

/// Writes a request with an empty payload (`M`, `L`, `N`, `B`, `F`, `X`).
pub fn write_empty(buf: &mut BytesMut, tag: u8) {
    buf.put_slice(&[tag, 0, 0, 0, 4]);
}

/// Writes `M`, the salt request.
pub fn write_salt_request(buf: &mut BytesMut) {
    write_empty(buf, SALT_REQUEST_TAG);
}

/// Writes `R`: `user` (at most [`MAX_USER_LEN`] bytes) and the md5 `response`.
pub fn write_authenticate(buf: &mut BytesMut, user: &str, response: &str) -> Result<(), Error> {
    if user.len() > MAX_USER_LEN {
        return Err(Error::UserTooLong { len: user.len() });
    }
    write_packet(
        buf,
        AUTHENTICATE_TAG,
        "authenticate",
        MAX_REQUEST_LEN,
        |buf| {
            put_cstr(buf, "authenticate", "user", user)?;
            put_cstr(buf, "authenticate", "response", response)
        },
    )
}

/// Writes a request whose payload is one decimal id: `I`, `H`, `P`, `W`, `D`, `d`, `C`, `O`.
pub fn write_id(buf: &mut BytesMut, tag: u8, id: i32) -> Result<(), Error> {
    write_packet(buf, tag, "id", MAX_REQUEST_LEN, |buf| {
        put_int(buf, id);
        Ok(())
    })
}

/// Writes `I` for one node, or for all with `-1`.
pub fn write_node_info(buf: &mut BytesMut, node_id: i32) -> Result<(), Error> {
    write_id(buf, NODE_INFO_TAG, node_id)
}

/// Writes `H` for one node.
pub fn write_health_check_stats(buf: &mut BytesMut, node_id: i32) -> Result<(), Error> {
    write_id(buf, HEALTH_CHECK_STATS_TAG, node_id)
}

/// Writes `P` for one child, or for all with `0`.
pub fn write_process_info(buf: &mut BytesMut, pid: i32) -> Result<(), Error> {
    write_id(buf, PROCESS_INFO_TAG, pid)
}

/// Writes `W` for one watchdog node, or for all with `-1`.
pub fn write_watchdog_info(buf: &mut BytesMut, watchdog_id: i32) -> Result<(), Error> {
    write_id(buf, WATCHDOG_INFO_TAG, watchdog_id)
}

/// Writes `D`, or `d` when `gracefully`.
pub fn write_detach_node(buf: &mut BytesMut, node_id: i32, gracefully: bool) -> Result<(), Error> {
    let tag = if gracefully {
        DETACH_NODE_GRACEFULLY_TAG
    } else {
        DETACH_NODE_TAG
    };
    write_id(buf, tag, node_id)
}

/// Writes `C`.
pub fn write_attach_node(buf: &mut BytesMut, node_id: i32) -> Result<(), Error> {
    write_id(buf, ATTACH_NODE_TAG, node_id)
}

/// Writes `O`.
pub fn write_recovery_node(buf: &mut BytesMut, node_id: i32) -> Result<(), Error> {
    write_id(buf, RECOVERY_NODE_TAG, node_id)
}

/// Writes `J`, or `j` when `gracefully`: the id, a space, a NUL, then `s` (switchover) or
/// `n`, as libpcp 4.3 does.
pub fn write_promote_node(
    buf: &mut BytesMut,
    node_id: i32,
    gracefully: bool,
    switchover: bool,
) -> Result<(), Error> {
    let tag = if gracefully {
        PROMOTE_NODE_GRACEFULLY_TAG
    } else {
        PROMOTE_NODE_TAG
    };
    write_packet(buf, tag, "promote node", MAX_REQUEST_LEN, |buf| {
        put_decimal(buf, node_id);
        buf.put_slice(b" \0");
        buf.put_u8(if switchover { b's' } else { b'n' });
        Ok(())
    })
}

/// Writes `T` (local) or `t` (cluster) with the mode byte.
pub fn write_stop_pgpool(buf: &mut BytesMut, mode: ShutdownMode, scope: Scope) {
    let tag = match scope {
        Scope::Local => STOP_PGPOOL_TAG,
        Scope::Cluster => STOP_PGPOOL_CLUSTER_TAG,
    };
    buf.put_slice(&[tag, 0, 0, 0, 5, mode.as_byte()]);
}

/// Writes `Z` with the scope byte `l` or `c`.
pub fn write_reload_config(buf: &mut BytesMut, scope: Scope) {
    let byte = match scope {
        Scope::Local => b'l',
        Scope::Cluster => b'c',
    };
    buf.put_slice(&[RELOAD_CONFIG_TAG, 0, 0, 0, 5, byte]);
}

/// Writes `A`: `name\0value\0`.
pub fn write_set_parameter(buf: &mut BytesMut, name: &str, value: &str) -> Result<(), Error> {
    write_packet(
        buf,
        SET_PARAMETER_TAG,
        "set parameter",
        MAX_REQUEST_LEN,
        |buf| {
            put_cstr(buf, "set parameter", "name", name)?;
            put_cstr(buf, "set parameter", "value", value)
        },
    )
}

/// Writes `X`, the disconnect request.
pub fn write_disconnect(buf: &mut BytesMut) {
    write_empty(buf, DISCONNECT_TAG);
}
