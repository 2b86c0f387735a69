//! Backend node records: the node info record (`i`, 4.3 layout) and the health check
//! statistics record (`h`), with the status and role enums they carry.

use bytes::BytesMut;

use super::codec::{parse_c_double, parse_int, put_cstr, put_double, put_int, Reader};
use super::tags::{COMMAND_COMPLETE, NODE_INFO};
use super::Error;

/// glibc's `RAND_MAX`: node info carries each backend's normalized weight multiplied by it.
pub const RAND_MAX: f64 = 2_147_483_647.0;

/// One node info record, in the field order of Pgpool-II 4.3 (what Debian 12's
/// `pcp_node_info` reads). 4.4 inserts `standby_delay_by_time` after `pg_role`; this type does
/// not read that layout.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NodeInfo<'a> {
    /// `backend_hostnameN` as configured.
    pub hostname: &'a str,
    /// `backend_portN`.
    pub port: i32,
    /// The status pgpool keeps for the node.
    pub status: BackendStatus,
    /// Whether the node is down only because it is quarantined (`%d` of a bool).
    pub quarantine: bool,
    /// The live check made while answering: `up`, `down` or `unknown`.
    pub pg_status: PgStatus,
    /// The weight as pgpool keeps it: normalized weight × [`RAND_MAX`] (e.g. two equal nodes
    /// give `1073741823.500000`); the tool divides by `RAND_MAX` before printing.
    pub weight: f64,
    /// The role pgpool assigns (a number on the wire).
    pub role: Role,
    /// The role PostgreSQL reports (a name on the wire).
    pub pg_role: PgRole,
    /// Replication delay in bytes.
    pub standby_delay: u64,
    /// `pg_stat_replication.state`, may be empty.
    pub replication_state: &'a str,
    /// `pg_stat_replication.sync_state`, may be empty.
    pub replication_sync_state: &'a str,
    /// When the status last changed, in Unix epoch seconds.
    pub status_changed_time: u64,
}

impl<'a> NodeInfo<'a> {
    /// Reads a record's payload: `NodeInfo` and the 12 fields.
    pub(crate) fn parse(payload: &'a [u8]) -> Result<NodeInfo<'a>, Error> {
        const PACKET: &str = "node info";
        let mut r = Reader::new(PACKET, payload);
        r.marker("marker", NODE_INFO)?;
        let info = NodeInfo {
            hostname: r.cstr("hostname")?,
            port: r.int("port")?,
            status: r.parsed("status", |t| {
                parse_int(t).and_then(BackendStatus::from_code)
            })?,
            quarantine: r.parsed("quarantine", parse_bool)?,
            pg_status: r.parsed("pg_status", PgStatus::from_name)?,
            weight: r.parsed("weight", |t| parse_c_double(t).filter(|w| w.is_finite()))?,
            role: r.parsed("role", |t| parse_int(t).and_then(Role::from_code))?,
            pg_role: r.parsed("pg_role", PgRole::from_name)?,
            standby_delay: r.int("standby_delay")?,
            replication_state: r.cstr("replication_state")?,
            replication_sync_state: r.cstr("replication_sync_state")?,
            status_changed_time: r.int("status_changed_time")?,
        };
        r.finish()?;
        Ok(info)
    }

    /// Writes the record's payload (without type byte and length).
    pub(crate) fn write_payload(&self, buf: &mut BytesMut) -> Result<(), Error> {
        const PACKET: &str = "node info";
        if !self.weight.is_finite() {
            return Err(Error::InvalidInput {
                packet: PACKET,
                field: "weight",
                reason: "is not finite",
            });
        }
        put_cstr(buf, PACKET, "marker", NODE_INFO)?;
        put_cstr(buf, PACKET, "hostname", self.hostname)?;
        put_int(buf, self.port);
        put_int(buf, self.status.code());
        put_int(buf, u8::from(self.quarantine));
        put_cstr(buf, PACKET, "pg_status", self.pg_status.name())?;
        put_double(buf, self.weight);
        put_int(buf, self.role.code());
        put_cstr(buf, PACKET, "pg_role", self.pg_role.name())?;
        put_int(buf, self.standby_delay);
        put_cstr(buf, PACKET, "replication_state", self.replication_state)?;
        put_cstr(
            buf,
            PACKET,
            "replication_sync_state",
            self.replication_sync_state,
        )?;
        put_int(buf, self.status_changed_time);
        Ok(())
    }

    /// The weight as configured-and-normalized (what the tool prints): `weight / RAND_MAX`.
    pub fn normalized_weight(&self) -> f64 {
        self.weight / RAND_MAX
    }
}

/// The health check statistics of one node: the `h` reply's 20 fields, in order.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HealthCheckStats<'a> {
    /// The node id.
    pub node_id: i32,
    /// `backend_hostnameN`.
    pub hostname: &'a str,
    /// `backend_portN`.
    pub port: i32,
    /// The status, by name.
    pub status: StatusName,
    /// The role, by name.
    pub role: Role,
    /// When the status last changed: local time `YYYY-MM-DD HH:MM:SS`.
    pub last_status_change: &'a str,
    /// Health checks run.
    pub total_count: u64,
    /// Health checks that succeeded.
    pub success_count: u64,
    /// Health checks that failed.
    pub fail_count: u64,
    /// Health checks skipped (node down or being recovered).
    pub skip_count: u64,
    /// Retries made.
    pub retry_count: u64,
    /// Retries per non-skipped check (`%f`; 0 when health checking is off).
    pub average_retry_count: f64,
    /// Most retries in one check.
    pub max_retry_count: i32,
    /// Longest check, in milliseconds.
    pub max_health_check_duration: i32,
    /// Shortest check, in milliseconds.
    pub min_health_check_duration: i32,
    /// Mean check duration in milliseconds (`%f`).
    pub average_health_check_duration: f64,
    /// Local time of the last check, empty if none.
    pub last_health_check: &'a str,
    /// Local time of the last successful check, empty if none.
    pub last_successful_health_check: &'a str,
    /// Local time of the last skipped check, empty if none.
    pub last_skip_health_check: &'a str,
    /// Local time of the last failed check, empty if none.
    pub last_failed_health_check: &'a str,
}

impl<'a> HealthCheckStats<'a> {
    /// Reads the payload: `CommandComplete` and the 20 fields.
    pub(crate) fn parse(payload: &'a [u8]) -> Result<HealthCheckStats<'a>, Error> {
        let mut r = Reader::new("health check stats", payload);
        r.marker("marker", COMMAND_COMPLETE)?;
        let stats = HealthCheckStats {
            node_id: r.int("node_id")?,
            hostname: r.cstr("hostname")?,
            port: r.int("port")?,
            status: r.parsed("status", StatusName::from_name)?,
            role: r.parsed("role", Role::from_name)?,
            last_status_change: r.cstr("last_status_change")?,
            total_count: r.int("total_count")?,
            success_count: r.int("success_count")?,
            fail_count: r.int("fail_count")?,
            skip_count: r.int("skip_count")?,
            retry_count: r.int("retry_count")?,
            average_retry_count: r.double("average_retry_count")?,
            max_retry_count: r.int("max_retry_count")?,
            max_health_check_duration: r.int("max_health_check_duration")?,
            min_health_check_duration: r.int("min_health_check_duration")?,
            average_health_check_duration: r.double("average_health_check_duration")?,
            last_health_check: r.cstr("last_health_check")?,
            last_successful_health_check: r.cstr("last_successful_health_check")?,
            last_skip_health_check: r.cstr("last_skip_health_check")?,
            last_failed_health_check: r.cstr("last_failed_health_check")?,
        };
        r.finish()?;
        Ok(stats)
    }

    /// Writes the payload (without type byte and length). The averages may be `nan`, which
    /// pgpool prints as `-nan` when a period is set but no check has run yet.
    pub(crate) fn write_payload(&self, buf: &mut BytesMut) -> Result<(), Error> {
        const PACKET: &str = "health check stats";
        put_cstr(buf, PACKET, "marker", COMMAND_COMPLETE)?;
        put_int(buf, self.node_id);
        put_cstr(buf, PACKET, "hostname", self.hostname)?;
        put_int(buf, self.port);
        put_cstr(buf, PACKET, "status", self.status.name())?;
        put_cstr(buf, PACKET, "role", self.role.name())?;
        put_cstr(buf, PACKET, "last_status_change", self.last_status_change)?;
        put_int(buf, self.total_count);
        put_int(buf, self.success_count);
        put_int(buf, self.fail_count);
        put_int(buf, self.skip_count);
        put_int(buf, self.retry_count);
        put_double(buf, self.average_retry_count);
        put_int(buf, self.max_retry_count);
        put_int(buf, self.max_health_check_duration);
        put_int(buf, self.min_health_check_duration);
        put_double(buf, self.average_health_check_duration);
        put_cstr(buf, PACKET, "last_health_check", self.last_health_check)?;
        let last_successful = self.last_successful_health_check;
        put_cstr(buf, PACKET, "last_successful_health_check", last_successful)?;
        put_cstr(
            buf,
            PACKET,
            "last_skip_health_check",
            self.last_skip_health_check,
        )?;
        put_cstr(
            buf,
            PACKET,
            "last_failed_health_check",
            self.last_failed_health_check,
        )
    }
}

/// A backend's status as pgpool keeps it (`BACKEND_STATUS`), sent as its number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BackendStatus {
    /// 0, `CON_UNUSED`: not configured.
    Unused,
    /// 1, `CON_CONNECT_WAIT`: up, no connection made yet ("waiting").
    ConnectWait,
    /// 2, `CON_UP`.
    Up,
    /// 3, `CON_DOWN`.
    Down,
}

impl BackendStatus {
    /// The number on the wire.
    pub fn code(self) -> u8 {
        match self {
            BackendStatus::Unused => 0,
            BackendStatus::ConnectWait => 1,
            BackendStatus::Up => 2,
            BackendStatus::Down => 3,
        }
    }

    /// Reads the number on the wire.
    pub fn from_code(code: u8) -> Option<BackendStatus> {
        match code {
            0 => Some(BackendStatus::Unused),
            1 => Some(BackendStatus::ConnectWait),
            2 => Some(BackendStatus::Up),
            3 => Some(BackendStatus::Down),
            _ => None,
        }
    }

    /// The status name the tools print and health check stats carry (`down` + quarantine is
    /// `quarantine`).
    pub fn name(self, quarantine: bool) -> StatusName {
        match self {
            BackendStatus::Unused => StatusName::Unused,
            BackendStatus::ConnectWait => StatusName::Waiting,
            BackendStatus::Up => StatusName::Up,
            BackendStatus::Down if quarantine => StatusName::Quarantine,
            BackendStatus::Down => StatusName::Down,
        }
    }
}

/// A backend status by name, as health check stats and pool status carry it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StatusName {
    /// `unused`.
    Unused,
    /// `waiting`.
    Waiting,
    /// `up`.
    Up,
    /// `down`.
    Down,
    /// `quarantine`: down because of a quarantine.
    Quarantine,
}

/// Generates `name()` and `from_name()` for an enum sent as a fixed word.
macro_rules! named {
    ($ty:ident { $($variant:ident => $name:literal),+ $(,)? }) => {
        impl $ty {
            /// The word on the wire.
            pub fn name(self) -> &'static str {
                match self {
                    $($ty::$variant => $name),+
                }
            }

            /// Reads the word on the wire.
            pub fn from_name(name: &[u8]) -> Option<$ty> {
                match name {
                    $(n if n == $name.as_bytes() => Some($ty::$variant),)+
                    _ => None,
                }
            }
        }
    };
}
pub(crate) use named;

named!(StatusName {
    Unused => "unused",
    Waiting => "waiting",
    Up => "up",
    Down => "down",
    Quarantine => "quarantine",
});

/// The role pgpool gives a node: in streaming replication the primary and standbys, in the
/// other modes the main node and replicas. Node info sends it as a number, health check stats
/// as a name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// 0, `main`.
    Main,
    /// 1, `replica`.
    Replica,
    /// 2, `primary`.
    Primary,
    /// 3, `standby`.
    Standby,
}

named!(Role {
    Main => "main",
    Replica => "replica",
    Primary => "primary",
    Standby => "standby",
});

impl Role {
    /// The number node info carries (`SERVER_ROLE`).
    pub fn code(self) -> u8 {
        match self {
            Role::Main => 0,
            Role::Replica => 1,
            Role::Primary => 2,
            Role::Standby => 3,
        }
    }

    /// Reads the number node info carries.
    pub fn from_code(code: u8) -> Option<Role> {
        match code {
            0 => Some(Role::Main),
            1 => Some(Role::Replica),
            2 => Some(Role::Primary),
            3 => Some(Role::Standby),
            _ => None,
        }
    }
}

/// The live status of a node, checked while answering node info.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PgStatus {
    /// `up`: the ping succeeded.
    Up,
    /// `down`: the ping failed.
    Down,
    /// `unknown`: health checking is off for the node.
    Unknown,
    /// `recovering`: corepool is rebuilding the node with online recovery
    /// (`pcp_recovery_node`). Pgpool-II never sends it; its tools print the name as given.
    Recovering,
}

named!(PgStatus {
    Up => "up",
    Down => "down",
    Unknown => "unknown",
    Recovering => "recovering",
});

/// The role PostgreSQL itself reports for a node (`pg_is_in_recovery()` in streaming mode, the
/// pgpool role name in the others).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PgRole {
    /// `primary`.
    Primary,
    /// `standby`.
    Standby,
    /// `main` (modes other than streaming).
    Main,
    /// `replica` (modes other than streaming).
    Replica,
    /// `unknown`: sr_check_period is 0 or the node is unreachable.
    Unknown,
}

named!(PgRole {
    Primary => "primary",
    Standby => "standby",
    Main => "main",
    Replica => "replica",
    Unknown => "unknown",
});

/// Reads `%d` of a bool: `0` or `1`.
pub(crate) fn parse_bool(text: &[u8]) -> Option<bool> {
    match text {
        b"0" => Some(false),
        b"1" => Some(true),
        _ => None,
    }
}
