//! PCP type bytes and the marker strings that open reply payloads, as named constants.
//!
//! Requests use upper-case letters (plus `d`, `j`, `t` for the "gracefully"/"cluster"
//! variants); replies mostly use the lower-case letter of their request. A few letters are
//! both a request and a reply (`N`, `d`, `t`): the direction tells them apart.

/// `M`: asks for an md5 salt. Empty payload.
pub const SALT_REQUEST_TAG: u8 = b'M';
/// `R`: user name and md5 response.
pub const AUTHENTICATE_TAG: u8 = b'R';
/// `L`: node count (`pcp_node_count`).
pub const NODE_COUNT_TAG: u8 = b'L';
/// `I`: node info (`pcp_node_info`).
pub const NODE_INFO_TAG: u8 = b'I';
/// `H`: health check statistics (`pcp_health_check_stats`).
pub const HEALTH_CHECK_STATS_TAG: u8 = b'H';
/// `N`: process count (`pcp_proc_count`). Also [`NOTICE_TAG`] in the other direction.
pub const PROCESS_COUNT_TAG: u8 = b'N';
/// `P`: process info (`pcp_proc_info`).
pub const PROCESS_INFO_TAG: u8 = b'P';
/// `B`: pool status, the configuration dump (`pcp_pool_status`).
pub const POOL_STATUS_TAG: u8 = b'B';
/// `W`: watchdog info (`pcp_watchdog_info`).
pub const WATCHDOG_INFO_TAG: u8 = b'W';
/// `D`: detach a node now (`pcp_detach_node`).
pub const DETACH_NODE_TAG: u8 = b'D';
/// `d`: detach a node after the clients leave (`pcp_detach_node -g`).
pub const DETACH_NODE_GRACEFULLY_TAG: u8 = b'd';
/// `C`: attach a node (`pcp_attach_node`).
pub const ATTACH_NODE_TAG: u8 = b'C';
/// `J`: promote a node (`pcp_promote_node`).
pub const PROMOTE_NODE_TAG: u8 = b'J';
/// `j`: promote a node after the clients leave (`pcp_promote_node -g`).
pub const PROMOTE_NODE_GRACEFULLY_TAG: u8 = b'j';
/// `O`: online recovery of a node (`pcp_recovery_node`).
pub const RECOVERY_NODE_TAG: u8 = b'O';
/// `T`: stop this pgpool (`pcp_stop_pgpool`).
pub const STOP_PGPOOL_TAG: u8 = b'T';
/// `t`: stop the whole watchdog cluster (`pcp_stop_pgpool -s cluster`).
pub const STOP_PGPOOL_CLUSTER_TAG: u8 = b't';
/// `Z`: reload the configuration (`pcp_reload_config`).
pub const RELOAD_CONFIG_TAG: u8 = b'Z';
/// `A`: set a parameter (libpcp's `pcp_set_backend_parameter`; no tool sends it).
pub const SET_PARAMETER_TAG: u8 = b'A';
/// `G`: invalidate the query cache (`pcp_invalidate_query_cache`, Pgpool-II 4.6).
pub const INVALIDATE_QUERY_CACHE_TAG: u8 = b'G';
/// `F`: stop online recovery. Empty payload, never answered.
pub const STOP_RECOVERY_TAG: u8 = b'F';
/// `X`: disconnect. Empty payload, never answered; the server closes the connection.
pub const DISCONNECT_TAG: u8 = b'X';

/// `m`: the 4 salt bytes.
pub const SALT_TAG: u8 = b'm';
/// `r`: `AuthenticationOK`.
pub const AUTHENTICATION_OK_TAG: u8 = b'r';
/// `l`: the node count.
pub const NODE_COUNT_REPLY_TAG: u8 = b'l';
/// `i`: array size, node records, end of node info.
pub const NODE_INFO_REPLY_TAG: u8 = b'i';
/// `h`: one health check statistics record.
pub const HEALTH_CHECK_STATS_REPLY_TAG: u8 = b'h';
/// `n`: the process count and PIDs.
pub const PROCESS_COUNT_REPLY_TAG: u8 = b'n';
/// `p`: array size, process records, end of process info.
pub const PROCESS_INFO_REPLY_TAG: u8 = b'p';
/// `b`: binary array size, configuration rows, end of pool status.
pub const POOL_STATUS_REPLY_TAG: u8 = b'b';
/// `w`: the watchdog JSON.
pub const WATCHDOG_INFO_REPLY_TAG: u8 = b'w';
/// `d`: detach done, and also promote done (`J`/`j` are answered with `d`).
pub const DETACH_NODE_REPLY_TAG: u8 = b'd';
/// `c`: attach done, and also online recovery done (`O` is answered with `c`).
pub const ATTACH_NODE_REPLY_TAG: u8 = b'c';
/// `t`: stop accepted (sent before pgpool starts to shut down).
pub const STOP_PGPOOL_REPLY_TAG: u8 = b't';
/// `z`: reload done.
pub const RELOAD_CONFIG_REPLY_TAG: u8 = b'z';
/// `g`: query cache invalidated.
pub const INVALIDATE_QUERY_CACHE_REPLY_TAG: u8 = b'g';
/// `a`: parameter set.
pub const SET_PARAMETER_REPLY_TAG: u8 = b'a';
/// `E`: an error (severity ERROR or worse).
pub const ERROR_TAG: u8 = b'E';
/// `N`: a notice (severity below ERROR). Also [`PROCESS_COUNT_TAG`] in the other direction.
pub const NOTICE_TAG: u8 = b'N';

/// Opens most replies, and alone is the whole payload of a bare acknowledgement.
pub const COMMAND_COMPLETE: &str = "CommandComplete";
/// Opens the packet that announces how many records follow.
pub const ARRAY_SIZE: &str = "ArraySize";
/// Opens each node info record.
pub const NODE_INFO: &str = "NodeInfo";
/// Opens each process info record.
pub const PROCESS_INFO: &str = "ProcessInfo";
/// Opens each pool status row.
pub const PROCESS_CONFIG: &str = "ProcessConfig";
/// The whole payload of a successful authentication reply.
pub const AUTHENTICATION_OK: &str = "AuthenticationOK";
