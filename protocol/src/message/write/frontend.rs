//! Writers for frontend messages: what a client, or the proxy towards a server, sends.

use bytes::{BufMut, BytesMut};

use super::{
    write_body, write_counted, write_cstr, write_empty, write_formats, write_length_prefixed,
    write_value,
};
use crate::framing::MAX_STARTUP_PACKET_LEN;
use crate::message::frontend::ProtocolVersion;
use crate::message::tags::*;
use crate::message::{Format, Oid, Target};
use crate::Error;

pub use super::copy::{copy_data, copy_done, copy_fail};

/// StartupMessage for protocol 3.0 with the given `(name, value)` parameters (`user` is
/// required by PostgreSQL). Names must be non-empty; the packet must fit
/// [`MAX_STARTUP_PACKET_LEN`].
pub fn startup_message<'a, I>(parameters: I, buf: &mut BytesMut) -> Result<(), Error>
where
    I: IntoIterator<Item = (&'a str, &'a str)>,
{
    startup_message_for(ProtocolVersion::V3_0, parameters, buf)
}

/// StartupMessage asking for `version` (a server that speaks less answers
/// NegotiateProtocolVersion), otherwise as [`startup_message`].
pub fn startup_message_for<'a, I>(
    version: ProtocolVersion,
    parameters: I,
    buf: &mut BytesMut,
) -> Result<(), Error>
where
    I: IntoIterator<Item = (&'a str, &'a str)>,
{
    const MESSAGE: &str = "StartupMessage";
    write_length_prefixed(buf, MESSAGE, MAX_STARTUP_PACKET_LEN, |buf| {
        buf.put_i32(version.code());
        for (name, value) in parameters {
            if name.is_empty() {
                return Err(Error::InvalidInput {
                    message: MESSAGE,
                    field: "parameter name",
                    reason: "is empty",
                });
            }
            write_cstr(name.as_bytes(), buf, MESSAGE, "parameter name")?;
            write_cstr(value.as_bytes(), buf, MESSAGE, "parameter value")?;
        }
        buf.put_u8(0);
        Ok(())
    })
}

/// SSLRequest: asks the server to switch to TLS.
pub fn ssl_request(buf: &mut BytesMut) {
    buf.put_i32(8);
    buf.put_i32(SSL_REQUEST_CODE);
}

/// GSSENCRequest: asks the server to switch to GSSAPI encryption.
pub fn gssenc_request(buf: &mut BytesMut) {
    buf.put_i32(8);
    buf.put_i32(GSSENC_REQUEST_CODE);
}

/// CancelRequest: asks the server to cancel the query running in the session identified by the
/// BackendKeyData it sent, quoting its secret key whole (4 bytes in protocol 3.0, up to
/// [`MAX_SECRET_KEY_LEN`] in 3.2): the packet is 12 bytes plus the key.
pub fn cancel_request(process_id: i32, secret_key: &[u8], buf: &mut BytesMut) -> Result<(), Error> {
    if !(1..=MAX_SECRET_KEY_LEN).contains(&secret_key.len()) {
        return Err(Error::InvalidInput {
            message: "CancelRequest",
            field: "secret key",
            reason: "is not 1 to 256 bytes long",
        });
    }
    // 12 + at most 256 fits an i32.
    buf.put_i32(12 + secret_key.len() as i32);
    buf.put_i32(CANCEL_REQUEST_CODE);
    buf.put_i32(process_id);
    buf.put_slice(secret_key);
    Ok(())
}

/// Query (`'Q'`): a simple-protocol query.
pub fn query(query: &str, buf: &mut BytesMut) -> Result<(), Error> {
    write_body(QUERY_TAG, "Query", buf, |buf| {
        write_cstr(query.as_bytes(), buf, "Query", "query")
    })
}

/// Parse (`'P'`): prepares `query` as statement `name` (empty for the unnamed statement), with
/// the parameter types the client fixes (0 leaves one to the server).
pub fn parse<I>(name: &str, query: &str, param_types: I, buf: &mut BytesMut) -> Result<(), Error>
where
    I: IntoIterator<Item = Oid>,
{
    write_body(PARSE_TAG, "Parse", buf, |buf| {
        write_cstr(name.as_bytes(), buf, "Parse", "name")?;
        write_cstr(query.as_bytes(), buf, "Parse", "query")?;
        write_counted(param_types, buf, "Parse", "parameter types", |oid, buf| {
            buf.put_u32(oid);
            Ok(())
        })
    })
}

/// Bind (`'B'`): binds `parameters` (`None` is NULL) to `statement`, creating `portal`.
///
/// The iterators match [`Bind`](crate::message::frontend::Bind)'s accessors, so a proxy can
/// rewrite one field of a Bind it received (say, the statement name) and copy the rest.
pub fn bind<'a, F, P, R>(
    portal: &str,
    statement: &str,
    param_formats: F,
    parameters: P,
    result_formats: R,
    buf: &mut BytesMut,
) -> Result<(), Error>
where
    F: IntoIterator<Item = Format>,
    P: IntoIterator<Item = Option<&'a [u8]>>,
    R: IntoIterator<Item = Format>,
{
    write_body(BIND_TAG, "Bind", buf, |buf| {
        write_cstr(portal.as_bytes(), buf, "Bind", "portal")?;
        write_cstr(statement.as_bytes(), buf, "Bind", "statement")?;
        write_formats(param_formats, buf, "Bind", "parameter formats")?;
        write_counted(parameters, buf, "Bind", "parameters", |value, buf| {
            write_value(value, buf, "Bind")
        })?;
        write_formats(result_formats, buf, "Bind", "result formats")
    })
}

/// Describe (`'D'`): asks for the description of a prepared statement or portal.
pub fn describe(target: Target, name: &str, buf: &mut BytesMut) -> Result<(), Error> {
    write_body(DESCRIBE_TAG, "Describe", buf, |buf| {
        buf.put_u8(target.to_byte());
        write_cstr(name.as_bytes(), buf, "Describe", "name")
    })
}

/// Execute (`'E'`): runs `portal`, returning at most `max_rows` rows (0 for all).
pub fn execute(portal: &str, max_rows: i32, buf: &mut BytesMut) -> Result<(), Error> {
    write_body(EXECUTE_TAG, "Execute", buf, |buf| {
        write_cstr(portal.as_bytes(), buf, "Execute", "portal")?;
        buf.put_i32(max_rows);
        Ok(())
    })
}

/// Sync (`'S'`): ends an extended-query batch.
pub fn sync(buf: &mut BytesMut) {
    write_empty(SYNC_TAG, buf);
}

/// Flush (`'H'`): asks the server to send its pending output.
pub fn flush(buf: &mut BytesMut) {
    write_empty(FLUSH_TAG, buf);
}

/// Close (`'C'`): closes a prepared statement or portal.
pub fn close(target: Target, name: &str, buf: &mut BytesMut) -> Result<(), Error> {
    write_body(CLOSE_TAG, "Close", buf, |buf| {
        buf.put_u8(target.to_byte());
        write_cstr(name.as_bytes(), buf, "Close", "name")
    })
}

/// Terminate (`'X'`): the client is leaving.
pub fn terminate(buf: &mut BytesMut) {
    write_empty(TERMINATE_TAG, buf);
}

/// PasswordMessage (`'p'`): a cleartext password or an `md5...` hash.
pub fn password_message(password: &[u8], buf: &mut BytesMut) -> Result<(), Error> {
    write_body(PASSWORD_MESSAGE_TAG, "PasswordMessage", buf, |buf| {
        write_cstr(password, buf, "PasswordMessage", "password")
    })
}

/// SASLInitialResponse (`'p'`): the chosen mechanism and its initial response, e.g. SCRAM's
/// client-first-message. (The wire also allows no response, length -1; no mechanism corepool
/// speaks uses it.)
pub fn sasl_initial_response(
    mechanism: &str,
    data: &[u8],
    buf: &mut BytesMut,
) -> Result<(), Error> {
    const MESSAGE: &str = "SASLInitialResponse";
    write_body(SASL_INITIAL_RESPONSE_TAG, MESSAGE, buf, |buf| {
        write_cstr(mechanism.as_bytes(), buf, MESSAGE, "mechanism")?;
        write_value(Some(data), buf, MESSAGE)
    })
}

/// SASLResponse (`'p'`): a later SASL message. Fails only if `data` is too long.
pub fn sasl_response(data: &[u8], buf: &mut BytesMut) -> Result<(), Error> {
    write_body(SASL_RESPONSE_TAG, "SASLResponse", buf, |buf| {
        buf.put_slice(data);
        Ok(())
    })
}
