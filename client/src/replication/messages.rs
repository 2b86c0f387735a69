//! Pure encoding and decoding of the streaming-replication messages carried in CopyData:
//! XLogData (`w`), primary keepalive (`k`) and the standby status update (`r`).
//!
//! They belong in the protocol crate conceptually (no I/O here); they live in the client for now.

use bytes::{BufMut, Bytes, BytesMut};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Seconds from the Unix epoch to the PostgreSQL epoch (2000-01-01 00:00:00 UTC).
const PG_EPOCH_OFFSET_SECS: u64 = 946_684_800;

/// A server → client message of START_REPLICATION.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ReplicationMessage {
    /// `w`: WAL bytes.
    XLogData(XLogData),
    /// `k`: keepalive.
    Keepalive(Keepalive),
}

/// XLogData: WAL starting at `start`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct XLogData {
    /// LSN of the first byte of `data`.
    pub start: u64,
    /// The server's current end of WAL.
    pub server_end: u64,
    /// Send time, microseconds since 2000-01-01 UTC.
    pub send_time: i64,
    /// The WAL bytes (a slice of the message, not a copy).
    pub data: Bytes,
}

/// Primary keepalive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Keepalive {
    /// The server's current end of WAL.
    pub server_end: u64,
    /// Send time, microseconds since 2000-01-01 UTC.
    pub send_time: i64,
    /// The server wants a status update now.
    pub reply_requested: bool,
}

/// A malformed replication message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed replication message: {0}")]
pub struct ReplicationParseError(pub &'static str);

fn be_u64(b: &[u8], at: usize) -> Option<u64> {
    let s = b.get(at..at + 8)?;
    Some(u64::from_be_bytes(s.try_into().ok()?))
}

/// Parses one CopyData payload of a physical replication stream.
pub fn parse_replication_message(
    payload: &Bytes,
) -> Result<ReplicationMessage, ReplicationParseError> {
    match payload.first() {
        Some(b'w') => {
            let (Some(start), Some(end), Some(time)) =
                (be_u64(payload, 1), be_u64(payload, 9), be_u64(payload, 17))
            else {
                return Err(ReplicationParseError("XLogData header truncated"));
            };
            Ok(ReplicationMessage::XLogData(XLogData {
                start,
                server_end: end,
                send_time: time as i64,
                data: payload.slice(25..),
            }))
        }
        Some(b'k') => {
            if payload.len() != 18 {
                return Err(ReplicationParseError("keepalive has the wrong length"));
            }
            let (Some(end), Some(time)) = (be_u64(payload, 1), be_u64(payload, 9)) else {
                return Err(ReplicationParseError("keepalive truncated"));
            };
            Ok(ReplicationMessage::Keepalive(Keepalive {
                server_end: end,
                send_time: time as i64,
                reply_requested: payload[17] != 0,
            }))
        }
        Some(_) => Err(ReplicationParseError("unknown message type")),
        None => Err(ReplicationParseError("empty message")),
    }
}

/// A standby status update (`r`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StandbyStatus {
    /// Last WAL byte + 1 received and written.
    pub write: u64,
    /// Last WAL byte + 1 flushed (advances a slot's restart_lsn).
    pub flush: u64,
    /// Last WAL byte + 1 applied (0 for a backup).
    pub apply: u64,
    /// Client time, microseconds since 2000-01-01 UTC.
    pub time: i64,
    /// Ask the server to answer with a keepalive.
    pub reply_requested: bool,
}

/// Appends the 34-byte payload of a standby status update (to be wrapped in CopyData).
pub fn write_standby_status(status: &StandbyStatus, buf: &mut BytesMut) {
    buf.put_u8(b'r');
    buf.put_u64(status.write);
    buf.put_u64(status.flush);
    buf.put_u64(status.apply);
    buf.put_i64(status.time);
    buf.put_u8(u8::from(status.reply_requested));
}

/// Now, in microseconds since the PostgreSQL epoch.
pub fn pg_now() -> i64 {
    let since_unix = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO);
    let micros = since_unix.as_micros() as i64;
    micros - (PG_EPOCH_OFFSET_SECS as i64) * 1_000_000
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xlogdata_and_keepalive() {
        let mut b = BytesMut::new();
        b.put_u8(b'w');
        b.put_u64(0x300_0000);
        b.put_u64(0x300_0100);
        b.put_i64(42);
        b.put_slice(b"wal!");
        let msg = parse_replication_message(&b.freeze()).unwrap();
        assert_eq!(
            msg,
            ReplicationMessage::XLogData(XLogData {
                start: 0x300_0000,
                server_end: 0x300_0100,
                send_time: 42,
                data: Bytes::from_static(b"wal!"),
            })
        );
        let mut k = BytesMut::new();
        k.put_u8(b'k');
        k.put_u64(7);
        k.put_i64(9);
        k.put_u8(1);
        let msg = parse_replication_message(&k.freeze()).unwrap();
        assert_eq!(
            msg,
            ReplicationMessage::Keepalive(Keepalive {
                server_end: 7,
                send_time: 9,
                reply_requested: true
            })
        );
    }

    #[test]
    fn rejects_truncated() {
        for bad in [&b""[..], b"w1234", b"k123", b"x", &[b'k'; 19]] {
            assert!(parse_replication_message(&Bytes::copy_from_slice(bad)).is_err());
        }
    }

    #[test]
    fn status_update_is_34_bytes() {
        let mut b = BytesMut::new();
        let s = StandbyStatus {
            write: 1,
            flush: 2,
            apply: 0,
            time: 3,
            reply_requested: false,
        };
        write_standby_status(&s, &mut b);
        assert_eq!(b.len(), 34);
        assert_eq!(b[0], b'r');
        assert_eq!(&b[1..9], &1u64.to_be_bytes());
        assert_eq!(&b[9..17], &2u64.to_be_bytes());
        assert_eq!(b[33], 0);
        assert!(pg_now() > 700_000_000_000_000);
    }
}
