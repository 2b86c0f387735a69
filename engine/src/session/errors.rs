//! ErrorResponses corepool itself sends to clients, with PostgreSQL's SQLSTATEs and wording.

use std::io;

use bytes::BytesMut;
use corepool_protocol::message::write;
use corepool_protocol::message::write::backend::{ErrorData, Severity};

use crate::runtime::Stream;

/// A FATAL ErrorResponse as bytes. `code` must be a five-character SQLSTATE.
pub fn fatal(code: &str, message: &str) -> BytesMut {
    let mut out = BytesMut::with_capacity(64 + message.len());
    if write::backend::error_response(&ErrorData::new(Severity::Fatal, code, message), &mut out)
        .is_err()
    {
        // Only an invalid code or a NUL in the text can fail; fall back to a safe generic error.
        out.clear();
        let _ = write::backend::error_response(
            &ErrorData::new(Severity::Fatal, "XX000", "internal error in corepool"),
            &mut out,
        );
    }
    out
}

/// An ERROR ErrorResponse followed by ReadyForQuery, for in-band command failures.
pub fn error_then_ready(
    code: &str,
    message: &str,
    status: corepool_protocol::message::TransactionStatus,
) -> BytesMut {
    let mut out = BytesMut::with_capacity(64 + message.len());
    if write::backend::error_response(&ErrorData::new(Severity::Error, code, message), &mut out)
        .is_err()
    {
        out.clear();
        let _ = write::backend::error_response(
            &ErrorData::new(Severity::Error, "XX000", "internal error"),
            &mut out,
        );
    }
    write::backend::ready_for_query(status, &mut out);
    out
}

/// Sends a FATAL and lets the caller close the connection.
pub async fn send_fatal(client: &mut Stream, code: &str, message: &str) -> io::Result<()> {
    client.write_all(&fatal(code, message)).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use corepool_protocol::framing::{split_frame, Limits};
    use corepool_protocol::message::backend::ErrorResponse;

    #[test]
    fn fatal_carries_code_and_message() {
        let mut b = fatal("28P01", "password authentication failed for user \"bob\"");
        let f = split_frame(&mut b, &Limits::default()).unwrap().unwrap();
        assert_eq!(f.tag(), b'E');
        let e = ErrorResponse::parse(f.body()).unwrap();
        assert_eq!(e.code(), Some("28P01"));
        assert_eq!(e.severity(), Some("FATAL"));
        assert_eq!(
            e.message(),
            Some("password authentication failed for user \"bob\"")
        );
    }

    #[test]
    fn a_bad_code_falls_back_to_internal_error() {
        let mut b = fatal("bad", "x");
        let f = split_frame(&mut b, &Limits::default()).unwrap().unwrap();
        assert_eq!(
            ErrorResponse::parse(f.body()).unwrap().code(),
            Some("XX000")
        );
    }
}
