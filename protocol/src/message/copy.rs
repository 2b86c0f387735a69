//! The COPY sub-protocol's messages: CopyData, CopyFail and the Copy{In,Out,Both}Response bodies.
//!
//! CopyDone has no body; it appears as a variant of
//! [`FrontendMessage`](super::frontend::FrontendMessage) and
//! [`BackendMessage`](super::backend::BackendMessage).

use super::reader::Reader;
use super::{Format, Formats};
use crate::Error;

/// CopyData (`'d'`, either direction): one chunk of the COPY stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CopyData<'a> {
    /// The chunk; its rows need not align with message boundaries.
    data: &'a [u8],
}

impl<'a> CopyData<'a> {
    /// Parses a CopyData body; every body is valid.
    pub fn parse(body: &'a [u8]) -> Result<CopyData<'a>, Error> {
        Ok(CopyData { data: body })
    }

    /// The chunk of COPY data.
    pub fn data(&self) -> &'a [u8] {
        self.data
    }
}

/// CopyFail (`'f'`, frontend): the client aborts COPY FROM STDIN.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CopyFail<'a> {
    /// Why the client gave up; the server puts it in its ErrorResponse.
    message: &'a str,
}

impl<'a> CopyFail<'a> {
    /// Parses a CopyFail body.
    pub fn parse(body: &'a [u8]) -> Result<CopyFail<'a>, Error> {
        let mut r = Reader::new(body, "CopyFail");
        let message = r.cstr("message")?;
        r.finish()?;
        Ok(CopyFail { message })
    }

    /// The reason the client gave.
    pub fn message(&self) -> &'a str {
        self.message
    }
}

/// The body shared by CopyInResponse (`'G'`), CopyOutResponse (`'H'`) and CopyBothResponse
/// (`'W'`): the overall format and one format code per column.
#[derive(Debug, Clone)]
pub struct CopyResponse<'a> {
    /// Text (0) or binary (1) COPY.
    format: Format,
    /// One checked format code per column.
    column_formats: Formats<'a>,
}

impl<'a> CopyResponse<'a> {
    /// Parses the body of any of the three Copy*Response messages.
    pub fn parse(body: &'a [u8]) -> Result<CopyResponse<'a>, Error> {
        let mut r = Reader::new(body, "CopyResponse");
        let code = r.u8("format")?;
        let format =
            Format::from_code(code.into()).ok_or_else(|| r.invalid("format", code.into()))?;
        let count = r.u16("column count")?;
        let column_formats = Formats::read(&mut r, count, "column formats")?;
        r.finish()?;
        Ok(CopyResponse {
            format,
            column_formats,
        })
    }

    /// Whether the COPY stream is text or binary.
    pub fn format(&self) -> Format {
        self.format
    }

    /// The format of each column.
    pub fn column_formats(&self) -> Formats<'a> {
        self.column_formats.clone()
    }
}
