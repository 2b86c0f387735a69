//! Borrowed views of frontend (client to server) messages.
//!
//! Each view's `parse` takes a frame body (everything after the tag and length) and checks it
//! completely. [`FrontendMessage::parse`] dispatches on the tag. The `'p'` messages
//! (PasswordMessage, SASLInitialResponse, SASLResponse, GSSResponse) share a tag and can only be
//! told apart by the authentication request the server sent last, so they come out as
//! [`FrontendMessage::AuthenticationResponse`] for the caller to parse with the right view.
//! The untagged StartupMessage is parsed from a whole packet by [`StartupMessage::parse`].

mod auth;
mod extended;
mod startup;
#[cfg(test)]
mod tests;

pub use self::auth::{PasswordMessage, SaslInitialResponse, SaslResponse};
pub use self::extended::{Bind, Parse};
pub use self::startup::{
    ProtocolVersion, StartupMessage, StartupParameters, PROTOCOL_OPTION_PREFIX,
};
pub use super::copy::{CopyData, CopyFail};

use super::reader::{expect_empty, Reader};
use super::tags::*;
use super::Target;
use crate::Error;

/// A frontend message, by tag.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum FrontendMessage<'a> {
    /// Bind (`'B'`).
    Bind(Bind<'a>),
    /// Close (`'C'`).
    Close(Close<'a>),
    /// CopyData (`'d'`).
    CopyData(CopyData<'a>),
    /// CopyDone (`'c'`).
    CopyDone,
    /// CopyFail (`'f'`).
    CopyFail(CopyFail<'a>),
    /// Describe (`'D'`).
    Describe(Describe<'a>),
    /// Execute (`'E'`).
    Execute(Execute<'a>),
    /// Flush (`'H'`).
    Flush,
    /// FunctionCall (`'F'`), left raw: a proxy only forwards it.
    FunctionCall(&'a [u8]),
    /// Parse (`'P'`).
    Parse(Parse<'a>),
    /// A `'p'` message: PasswordMessage, SASLInitialResponse, SASLResponse or GSSResponse,
    /// depending on the authentication request it answers. Parse the body with
    /// [`PasswordMessage::parse`], [`SaslInitialResponse::parse`] or [`SaslResponse::parse`].
    AuthenticationResponse(&'a [u8]),
    /// Query (`'Q'`).
    Query(Query<'a>),
    /// Sync (`'S'`).
    Sync,
    /// Terminate (`'X'`).
    Terminate,
}

impl<'a> FrontendMessage<'a> {
    /// Parses the body of the message tagged `tag`.
    pub fn parse(tag: u8, body: &'a [u8]) -> Result<FrontendMessage<'a>, Error> {
        let message = match tag {
            BIND_TAG => FrontendMessage::Bind(Bind::parse(body)?),
            CLOSE_TAG => FrontendMessage::Close(Close::parse(body)?),
            COPY_DATA_TAG => FrontendMessage::CopyData(CopyData::parse(body)?),
            COPY_DONE_TAG => {
                expect_empty(body, "CopyDone")?;
                FrontendMessage::CopyDone
            }
            COPY_FAIL_TAG => FrontendMessage::CopyFail(CopyFail::parse(body)?),
            DESCRIBE_TAG => FrontendMessage::Describe(Describe::parse(body)?),
            EXECUTE_TAG => FrontendMessage::Execute(Execute::parse(body)?),
            FLUSH_TAG => {
                expect_empty(body, "Flush")?;
                FrontendMessage::Flush
            }
            FUNCTION_CALL_TAG => FrontendMessage::FunctionCall(body),
            PARSE_TAG => FrontendMessage::Parse(Parse::parse(body)?),
            PASSWORD_MESSAGE_TAG => FrontendMessage::AuthenticationResponse(body),
            QUERY_TAG => FrontendMessage::Query(Query::parse(body)?),
            SYNC_TAG => {
                expect_empty(body, "Sync")?;
                FrontendMessage::Sync
            }
            TERMINATE_TAG => {
                expect_empty(body, "Terminate")?;
                FrontendMessage::Terminate
            }
            tag => {
                return Err(Error::UnknownTag {
                    tag,
                    sender: "frontend",
                })
            }
        };
        Ok(message)
    }
}

/// Query (`'Q'`): a simple-protocol query string, possibly several statements.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Query<'a> {
    /// The SQL text.
    query: &'a str,
}

impl<'a> Query<'a> {
    /// Parses a Query body.
    pub fn parse(body: &'a [u8]) -> Result<Query<'a>, Error> {
        let mut r = Reader::new(body, "Query");
        let query = r.cstr("query")?;
        r.finish()?;
        Ok(Query { query })
    }

    /// The SQL text.
    pub fn query(&self) -> &'a str {
        self.query
    }
}

/// Reads the target byte and name shared by Describe and Close.
fn read_target<'a>(r: &mut Reader<'a>) -> Result<(Target, &'a str), Error> {
    let byte = r.u8("target")?;
    let target = Target::from_byte(byte).ok_or_else(|| r.invalid("target", byte.into()))?;
    let name = r.cstr("name")?;
    Ok((target, name))
}

/// Describe (`'D'`): asks for a prepared statement's or portal's description.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Describe<'a> {
    /// Statement or portal.
    target: Target,
    /// Its name; empty for the unnamed one.
    name: &'a str,
}

impl<'a> Describe<'a> {
    /// Parses a Describe body.
    pub fn parse(body: &'a [u8]) -> Result<Describe<'a>, Error> {
        let mut r = Reader::new(body, "Describe");
        let (target, name) = read_target(&mut r)?;
        r.finish()?;
        Ok(Describe { target, name })
    }

    /// Whether a prepared statement or a portal is described.
    pub fn target(&self) -> Target {
        self.target
    }

    /// The statement's or portal's name; empty for the unnamed one.
    pub fn name(&self) -> &'a str {
        self.name
    }
}

/// Close (`'C'`): closes a prepared statement or portal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Close<'a> {
    /// Statement or portal.
    target: Target,
    /// Its name; empty for the unnamed one.
    name: &'a str,
}

impl<'a> Close<'a> {
    /// Parses a Close body.
    pub fn parse(body: &'a [u8]) -> Result<Close<'a>, Error> {
        let mut r = Reader::new(body, "Close");
        let (target, name) = read_target(&mut r)?;
        r.finish()?;
        Ok(Close { target, name })
    }

    /// Whether a prepared statement or a portal is closed.
    pub fn target(&self) -> Target {
        self.target
    }

    /// The statement's or portal's name; empty for the unnamed one.
    pub fn name(&self) -> &'a str {
        self.name
    }
}

/// Execute (`'E'`): runs a portal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Execute<'a> {
    /// The portal's name; empty for the unnamed one.
    portal: &'a str,
    /// Row limit; zero (or negative) means no limit.
    max_rows: i32,
}

impl<'a> Execute<'a> {
    /// Parses an Execute body.
    pub fn parse(body: &'a [u8]) -> Result<Execute<'a>, Error> {
        let mut r = Reader::new(body, "Execute");
        let portal = r.cstr("portal")?;
        let max_rows = r.i32("max rows")?;
        r.finish()?;
        Ok(Execute { portal, max_rows })
    }

    /// The portal's name; empty for the unnamed one.
    pub fn portal(&self) -> &'a str {
        self.portal
    }

    /// The most rows to return before PortalSuspended; zero (or negative) means no limit.
    pub fn max_rows(&self) -> i32 {
        self.max_rows
    }
}
