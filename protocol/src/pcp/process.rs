//! Child process records: the process count reply (`n`) and the process info record (`p`).

use bytes::{BufMut, BytesMut};

use super::codec::{parse_int, put_cstr, put_int, Reader};
use super::node::{named, parse_bool};
use super::tags::{COMMAND_COMPLETE, PROCESS_INFO};
use super::Error;

/// The process count reply: the PIDs of pgpool's child processes, one per
/// `num_init_children` slot. A view over the packet; the PIDs are read lazily.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProcessCount<'a> {
    /// How many PIDs follow.
    count: u32,
    /// The PIDs as sent: `count` canonical decimals, each with its NUL (checked by `parse`).
    pids: &'a [u8],
}

impl<'a> ProcessCount<'a> {
    /// Reads the payload: `CommandComplete`, the count, then exactly that many PIDs.
    pub(crate) fn parse(payload: &'a [u8]) -> Result<ProcessCount<'a>, Error> {
        let mut r = Reader::new("process count", payload);
        r.marker("marker", COMMAND_COMPLETE)?;
        let count = r.int::<u32>("count")?;
        let pids = r.rest();
        for _ in 0..count {
            r.int::<i32>("pid")?;
        }
        let used = pids.len() - r.rest().len();
        r.finish()?;
        Ok(ProcessCount {
            count,
            pids: pids.get(..used).unwrap_or_default(),
        })
    }

    /// How many PIDs the reply holds.
    pub fn count(&self) -> u32 {
        self.count
    }

    /// The PIDs, in slot order.
    pub fn pids(&self) -> impl Iterator<Item = i32> + 'a {
        self.pids
            .split(|&b| b == 0)
            .take(self.count as usize)
            .filter_map(parse_int)
    }

    /// Writes the payload (without type byte and length) of a reply holding the same PIDs:
    /// the view's bytes, which `parse` checked are canonical.
    pub(crate) fn write_payload(&self, buf: &mut BytesMut) -> Result<(), Error> {
        put_cstr(buf, "process count", "marker", COMMAND_COMPLETE)?;
        put_int(buf, self.count);
        buf.put_slice(self.pids);
        Ok(())
    }
}

/// Writes `CommandComplete`, the count and the PIDs.
pub(crate) fn write_process_count_payload(
    buf: &mut BytesMut,
    pids: impl ExactSizeIterator<Item = i32>,
) -> Result<(), Error> {
    const PACKET: &str = "process count";
    let count = i32::try_from(pids.len()).map_err(|_| Error::InvalidInput {
        packet: PACKET,
        field: "count",
        reason: "is over 2147483647",
    })?;
    put_cstr(buf, PACKET, "marker", COMMAND_COMPLETE)?;
    put_int(buf, count);
    for pid in pids {
        put_int(buf, pid);
    }
    Ok(())
}

/// One connection pool slot of one child process (× one backend): the `p` record's 17
/// fields in wire order (the tool prints them in another order).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProcessInfo<'a> {
    /// The child's PID.
    pub pool_pid: i32,
    /// When the child started, local time `YYYY-MM-DD HH:MM:SS`, possibly followed by
    /// ` (M:SS before process restarting)`.
    pub start_time: &'a str,
    /// How many client connections this child has served.
    pub client_connection_count: i32,
    /// The pool slot.
    pub pool_id: i32,
    /// The backend node.
    pub backend_id: i32,
    /// The database of the pooled connection, empty if none.
    pub database: &'a str,
    /// The user of the pooled connection, empty if none.
    pub username: &'a str,
    /// When the backend connection was made, empty if none.
    pub backend_connection_time: &'a str,
    /// When the current client connected, empty if none.
    pub client_connection_time: &'a str,
    /// When the last client disconnected, empty if none.
    pub client_disconnection_time: &'a str,
    /// Seconds the client has been idle, possibly followed by
    /// ` (M:SS before client disconnected)`.
    pub client_idle_duration: &'a str,
    /// Protocol major version of the pooled connection (`0` if none).
    pub major_version: i32,
    /// Protocol minor version of the pooled connection (`0` if none).
    pub minor_version: i32,
    /// How many times the pooled connection has been reused.
    pub pool_counter: i32,
    /// The PostgreSQL backend's PID.
    pub pool_backend_pid: i32,
    /// Whether a client is using the connection.
    pub pool_connected: bool,
    /// What the child is doing.
    pub status: ProcessStatus,
}

impl<'a> ProcessInfo<'a> {
    /// Reads a record's payload: `ProcessInfo` and the 17 fields.
    pub(crate) fn parse(payload: &'a [u8]) -> Result<ProcessInfo<'a>, Error> {
        let mut r = Reader::new("process info", payload);
        r.marker("marker", PROCESS_INFO)?;
        let info = ProcessInfo {
            pool_pid: r.int("pool_pid")?,
            start_time: r.cstr("start_time")?,
            client_connection_count: r.int("client_connection_count")?,
            pool_id: r.int("pool_id")?,
            backend_id: r.int("backend_id")?,
            database: r.cstr("database")?,
            username: r.cstr("username")?,
            backend_connection_time: r.cstr("backend_connection_time")?,
            client_connection_time: r.cstr("client_connection_time")?,
            client_disconnection_time: r.cstr("client_disconnection_time")?,
            client_idle_duration: r.cstr("client_idle_duration")?,
            major_version: r.int("majorversion")?,
            minor_version: r.int("minorversion")?,
            pool_counter: r.int("pool_counter")?,
            pool_backend_pid: r.int("pool_backendpid")?,
            pool_connected: r.parsed("pool_connected", parse_bool)?,
            status: r.parsed("status", ProcessStatus::from_name)?,
        };
        r.finish()?;
        Ok(info)
    }

    /// Writes the record's payload (without type byte and length).
    pub(crate) fn write_payload(&self, buf: &mut BytesMut) -> Result<(), Error> {
        const PACKET: &str = "process info";
        put_cstr(buf, PACKET, "marker", PROCESS_INFO)?;
        put_int(buf, self.pool_pid);
        put_cstr(buf, PACKET, "start_time", self.start_time)?;
        put_int(buf, self.client_connection_count);
        put_int(buf, self.pool_id);
        put_int(buf, self.backend_id);
        put_cstr(buf, PACKET, "database", self.database)?;
        put_cstr(buf, PACKET, "username", self.username)?;
        let backend_connection_time = self.backend_connection_time;
        put_cstr(
            buf,
            PACKET,
            "backend_connection_time",
            backend_connection_time,
        )?;
        put_cstr(
            buf,
            PACKET,
            "client_connection_time",
            self.client_connection_time,
        )?;
        let client_disconnection_time = self.client_disconnection_time;
        put_cstr(
            buf,
            PACKET,
            "client_disconnection_time",
            client_disconnection_time,
        )?;
        put_cstr(
            buf,
            PACKET,
            "client_idle_duration",
            self.client_idle_duration,
        )?;
        put_int(buf, self.major_version);
        put_int(buf, self.minor_version);
        put_int(buf, self.pool_counter);
        put_int(buf, self.pool_backend_pid);
        put_int(buf, u8::from(self.pool_connected));
        put_cstr(buf, PACKET, "status", self.status.name())
    }
}

/// What a child process is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ProcessStatus {
    /// `Wait for connection`: idle, no client.
    WaitForConnection,
    /// `Execute command`: running a query.
    ExecuteCommand,
    /// `Idle`: client connected, no transaction.
    Idle,
    /// `Idle in transaction`.
    IdleInTransaction,
    /// `Connecting`: sent by Pgpool-II 4.4 and later only.
    Connecting,
}

named!(ProcessStatus {
    WaitForConnection => "Wait for connection",
    ExecuteCommand => "Execute command",
    Idle => "Idle",
    IdleInTransaction => "Idle in transaction",
    Connecting => "Connecting",
});
