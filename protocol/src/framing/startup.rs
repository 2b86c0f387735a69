//! The untagged startup phase: StartupMessage, SSLRequest, GSSENCRequest and CancelRequest.

use bytes::{Bytes, BytesMut};

use super::MAX_STARTUP_PACKET_LEN;
use crate::message::frontend::ProtocolVersion;
use crate::message::tags::{
    CANCEL_REQUEST_CODE, GSSENC_REQUEST_CODE, MAX_SECRET_KEY_LEN, SSL_REQUEST_CODE,
};
use crate::Error;

/// The major version PostgreSQL uses to mark special requests instead of a protocol version.
const REQUEST_MAJOR: u16 = 1234;

/// One packet of the untagged startup phase.
///
/// Deliberately exhaustive, unlike the message enums: protocol 3 defines exactly these four
/// packets, and the engine must answer each one, so a new one should fail its build.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StartupFrame {
    /// A protocol 3 StartupMessage, whole packet with its length word; parse it with
    /// [`StartupMessage::parse`](crate::message::frontend::StartupMessage::parse).
    Startup(Bytes),
    /// SSLRequest: answer `S` and start TLS, or `N`.
    SslRequest,
    /// GSSENCRequest: answer `G` and start GSSAPI encryption, or `N`.
    GssEncRequest,
    /// CancelRequest for the session a BackendKeyData named.
    Cancel {
        /// The target backend's process id.
        process_id: i32,
        /// The secret key from its BackendKeyData, a slice of the packet: 4 bytes from a
        /// protocol 3.0 session, up to [`MAX_SECRET_KEY_LEN`] from a 3.2 one (PostgreSQL 18
        /// sends 32). The packet itself does not say which version its session speaks.
        secret_key: Bytes,
    },
}

/// Cuts the first startup-phase packet off `buf`.
///
/// `Ok(None)` means the packet is not whole yet; `buf` is left as it was. The length must be
/// `8..=`[`MAX_STARTUP_PACKET_LEN`]; SSLRequest and GSSENCRequest must be 8 bytes and
/// CancelRequest 12 plus a secret key of 1 to [`MAX_SECRET_KEY_LEN`] bytes (PostgreSQL 18's
/// bounds: 16 bytes in protocol 3.0, 44 for 18's 32-byte keys). A StartupMessage must ask for major version 3 (any minor). The request code
/// is checked as soon as it is in, before the rest of the packet is waited for.
pub fn split_startup(buf: &mut BytesMut) -> Result<Option<StartupFrame>, Error> {
    let Some(&[a, b, c, d]) = buf.first_chunk::<4>() else {
        return Ok(None);
    };
    let wire_len = i32::from_be_bytes([a, b, c, d]);
    let len = match usize::try_from(wire_len) {
        Ok(len) if len >= 8 => len,
        _ => return Err(Error::StartupTooShort { len: wire_len }),
    };
    if len > MAX_STARTUP_PACKET_LEN {
        return Err(Error::StartupTooLarge {
            len,
            max: MAX_STARTUP_PACKET_LEN,
        });
    }
    let Some(&[e, f, g, h]) = buf.get(4..).and_then(|rest| rest.first_chunk::<4>()) else {
        return Ok(None);
    };
    let code = i32::from_be_bytes([e, f, g, h]);
    let expect = |expected: usize| {
        if len == expected {
            Ok(())
        } else {
            Err(Error::BadRequestLength {
                code,
                len,
                expected,
            })
        }
    };
    match code {
        SSL_REQUEST_CODE | GSSENC_REQUEST_CODE => expect(8)?,
        CANCEL_REQUEST_CODE if !(13..=12 + MAX_SECRET_KEY_LEN).contains(&len) => {
            return Err(Error::BadCancelRequestLength { len });
        }
        CANCEL_REQUEST_CODE => {}
        _ => {
            let version = ProtocolVersion::from_code(code);
            if version.major == REQUEST_MAJOR {
                return Err(Error::UnknownRequestCode { code });
            }
            if version.major != 3 {
                return Err(Error::UnsupportedProtocolVersion {
                    major: version.major,
                    minor: version.minor,
                });
            }
        }
    }
    if buf.len() < len {
        return Ok(None);
    }
    let packet = buf.split_to(len).freeze();
    let frame = match code {
        SSL_REQUEST_CODE => StartupFrame::SslRequest,
        GSSENC_REQUEST_CODE => StartupFrame::GssEncRequest,
        CANCEL_REQUEST_CODE => {
            let process_id = packet
                .get(8..12)
                .and_then(|w| <[u8; 4]>::try_from(w).ok())
                .map_or(0, i32::from_be_bytes);
            StartupFrame::Cancel {
                process_id,
                secret_key: packet.slice(12..),
            }
        }
        _ => StartupFrame::Startup(packet),
    };
    Ok(Some(frame))
}
