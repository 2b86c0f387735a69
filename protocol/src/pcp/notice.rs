//! Error and notice packets (`E` / `N`) as pgpool's `elog` puts them on a PCP socket.
//!
//! The payload is a run of fields, each a code byte, text and a NUL, ended by one more NUL.
//! pgpool writes `S` severity, `C` code (always `XX000` in practice), `M` message, `D` detail
//! and `H` hint when present, `F` source file and `L` line, in that order, each cut to 255
//! bytes including its code byte. The text is kept as bytes: pgpool cuts it without regard for
//! characters and formats raw bytes into it (`unknown PCP packet type "\xff"`), so insisting on
//! UTF-8 would reject packets a real server sends.

use bytes::{BufMut, BytesMut};

use super::codec::{parse_int, put_int, write_packet, Reader, MAX_RESPONSE_LEN};
use super::tags::{ERROR_TAG, NOTICE_TAG};
use super::Error;

/// The longest text pgpool sends in one field: its 256-byte buffer minus the code byte and
/// the NUL. (A longer text also makes pgpool copy one stray byte after the NUL, which a
/// reader sees as a field with an unknown code.)
pub const MAX_FIELD_TEXT_LEN: usize = 254;

/// The code pgpool sends when an error has none of its own.
pub const DEFAULT_CODE: &[u8] = b"XX000";

/// An error (`E`) or notice (`N`) packet. Which of the two follows from the severity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ErrorResponse<'a> {
    /// `S`: how bad it is; decides `E` or `N` and whether the server hangs up.
    pub severity: Severity,
    /// `C`: the SQLSTATE-like code, [`DEFAULT_CODE`] in practice.
    pub code: &'a [u8],
    /// `M`: the message (the tools print `<severity>:  <message>`).
    pub message: &'a [u8],
    /// `D`: the detail, if any (the tools print `DETAIL:  <detail>`).
    pub detail: Option<&'a [u8]>,
    /// `H`: the hint, if any (the tools do not print it).
    pub hint: Option<&'a [u8]>,
    /// `F`: the pgpool source file that raised it.
    pub file: Option<&'a [u8]>,
    /// `L`: the line in that file.
    pub line: Option<i32>,
}

impl<'a> ErrorResponse<'a> {
    /// Reads the payload of an `E` or `N` packet. Fields with codes other than
    /// `S C M D H F L` are skipped; `S`, `C` and `M` must be present.
    pub(crate) fn parse(payload: &'a [u8]) -> Result<ErrorResponse<'a>, Error> {
        const PACKET: &str = "error";
        let mut r = Reader::new(PACKET, payload);
        let (mut severity, mut code, mut message) = (None, None, None);
        let mut response = ErrorResponse {
            severity: Severity::Error,
            code: b"",
            message: b"",
            detail: None,
            hint: None,
            file: None,
            line: None,
        };
        loop {
            let [field] = r.bytes::<1>("field code")?;
            match field {
                0 => break,
                b'S' => severity = Some(r.parsed("S", Severity::from_name)?),
                b'C' => code = Some(r.cstr_bytes("C")?),
                b'M' => message = Some(r.cstr_bytes("M")?),
                b'D' => response.detail = Some(r.cstr_bytes("D")?),
                b'H' => response.hint = Some(r.cstr_bytes("H")?),
                b'F' => response.file = Some(r.cstr_bytes("F")?),
                b'L' => response.line = Some(r.parsed("L", parse_int)?),
                _ => {
                    r.cstr_bytes("unknown field")?;
                }
            }
        }
        r.finish()?;
        let missing = |field| Error::MissingField {
            packet: PACKET,
            field,
        };
        response.severity = severity.ok_or(missing("S"))?;
        response.code = code.ok_or(missing("C"))?;
        response.message = message.ok_or(missing("M"))?;
        Ok(response)
    }

    /// The type byte: `E` for ERROR and worse, `N` below.
    pub fn tag(&self) -> u8 {
        if self.severity >= Severity::Error {
            ERROR_TAG
        } else {
            NOTICE_TAG
        }
    }

    /// Whether pgpool closes the connection after sending this (FATAL and PANIC).
    pub fn closes_connection(&self) -> bool {
        self.severity >= Severity::Fatal
    }
}

/// Writes `response` as an `E` or `N` packet, cutting each text to [`MAX_FIELD_TEXT_LEN`]
/// bytes as pgpool does (without the stray byte). Fails only on a NUL inside a text.
pub fn write_error_response(buf: &mut BytesMut, response: &ErrorResponse<'_>) -> Result<(), Error> {
    write_packet(buf, response.tag(), "error", MAX_RESPONSE_LEN, |buf| {
        put_field(buf, b'S', "S", response.severity.name().as_bytes())?;
        put_field(buf, b'C', "C", response.code)?;
        put_field(buf, b'M', "M", response.message)?;
        if let Some(detail) = response.detail {
            put_field(buf, b'D', "D", detail)?;
        }
        if let Some(hint) = response.hint {
            put_field(buf, b'H', "H", hint)?;
        }
        if let Some(file) = response.file {
            put_field(buf, b'F', "F", file)?;
        }
        if let Some(line) = response.line {
            buf.put_u8(b'L');
            put_int(buf, line);
        }
        buf.put_u8(0);
        Ok(())
    })
}

/// Appends one field: code byte, text cut to [`MAX_FIELD_TEXT_LEN`], NUL.
fn put_field(buf: &mut BytesMut, code: u8, field: &'static str, text: &[u8]) -> Result<(), Error> {
    if memchr::memchr(0, text).is_some() {
        return Err(Error::ContainsNul {
            packet: "error",
            field,
        });
    }
    buf.put_u8(code);
    buf.put_slice(text.get(..MAX_FIELD_TEXT_LEN).unwrap_or(text));
    buf.put_u8(0);
    Ok(())
}

/// An `elog` level as pgpool names it in the `S` field. Ordered from least to most severe,
/// as pgpool compares them (ERROR and worse go out as `E`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    /// `DEBUG` (DEBUG1 to DEBUG5).
    Debug,
    /// `LOG` (LOG and COMMERROR).
    Log,
    /// `INFO`.
    Info,
    /// `NOTICE`.
    Notice,
    /// `WARNING`.
    Warning,
    /// `ERROR`: the request failed, the session goes on.
    Error,
    /// `FATAL`: the server closes the connection after the packet.
    Fatal,
    /// `PANIC`.
    Panic,
}

super::node::named!(Severity {
    Debug => "DEBUG",
    Log => "LOG",
    Info => "INFO",
    Notice => "NOTICE",
    Warning => "WARNING",
    Error => "ERROR",
    Fatal => "FATAL",
    Panic => "PANIC",
});
