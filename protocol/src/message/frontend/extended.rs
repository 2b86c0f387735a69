//! The extended-query messages that carry lists: Parse and Bind.

use crate::message::reader::Reader;
use crate::message::{Format, Formats, Oids, Values};
use crate::Error;

/// Parse (`'P'`): creates a prepared statement.
#[derive(Debug, Clone)]
pub struct Parse<'a> {
    /// The statement's name; empty for the unnamed statement.
    name: &'a str,
    /// The SQL text: one statement.
    query: &'a str,
    /// The parameter types the client fixed; 0 leaves a type to the server.
    param_types: Oids<'a>,
}

impl<'a> Parse<'a> {
    /// Parses a Parse body.
    // Every view's constructor is `parse`; the message happens to share the name.
    #[allow(clippy::self_named_constructors)]
    pub fn parse(body: &'a [u8]) -> Result<Parse<'a>, Error> {
        let mut r = Reader::new(body, "Parse");
        let name = r.cstr("name")?;
        let query = r.cstr("query")?;
        let count = r.u16("parameter type count")?;
        let param_types = Oids::read(&mut r, count, "parameter types")?;
        r.finish()?;
        Ok(Parse {
            name,
            query,
            param_types,
        })
    }

    /// The prepared statement's name; empty for the unnamed statement.
    pub fn name(&self) -> &'a str {
        self.name
    }

    /// The SQL text.
    pub fn query(&self) -> &'a str {
        self.query
    }

    /// The parameter type OIDs the client specified, in order; 0 means unspecified.
    pub fn param_types(&self) -> Oids<'a> {
        self.param_types.clone()
    }
}

/// Bind (`'B'`): binds parameter values to a prepared statement, creating a portal.
#[derive(Debug, Clone)]
pub struct Bind<'a> {
    /// The portal to create; empty for the unnamed portal.
    portal: &'a str,
    /// The prepared statement to bind; empty for the unnamed statement.
    statement: &'a str,
    /// Parameter format codes: none (all text), one (for all) or one per parameter.
    param_formats: Formats<'a>,
    /// The parameter values.
    parameters: Values<'a>,
    /// Result column format codes: none (all text), one (for all) or one per column.
    result_formats: Formats<'a>,
}

impl<'a> Bind<'a> {
    /// Parses a Bind body.
    pub fn parse(body: &'a [u8]) -> Result<Bind<'a>, Error> {
        let mut r = Reader::new(body, "Bind");
        let portal = r.cstr("portal")?;
        let statement = r.cstr("statement")?;
        let count = r.u16("parameter format count")?;
        let param_formats = Formats::read(&mut r, count, "parameter formats")?;
        let count = r.u16("parameter count")?;
        let parameters = Values::read(&mut r, count, "parameter", "Bind")?;
        let count = r.u16("result format count")?;
        let result_formats = Formats::read(&mut r, count, "result formats")?;
        r.finish()?;
        Ok(Bind {
            portal,
            statement,
            param_formats,
            parameters,
            result_formats,
        })
    }

    /// The portal's name; empty for the unnamed portal.
    pub fn portal(&self) -> &'a str {
        self.portal
    }

    /// The prepared statement's name; empty for the unnamed statement.
    pub fn statement(&self) -> &'a str {
        self.statement
    }

    /// The parameter format codes as sent: none, one for all, or one per parameter.
    pub fn param_formats(&self) -> Formats<'a> {
        self.param_formats.clone()
    }

    /// The format of parameter `index`, applying the none/one/each rule; `None` when the message
    /// gives one code per parameter and `index` is past them.
    pub fn param_format(&self, index: usize) -> Option<Format> {
        resolve_format(&self.param_formats, index)
    }

    /// The parameter values in order; `None` is SQL NULL.
    pub fn parameters(&self) -> Values<'a> {
        self.parameters.clone()
    }

    /// The result column format codes as sent: none, one for all, or one per column.
    pub fn result_formats(&self) -> Formats<'a> {
        self.result_formats.clone()
    }

    /// The format of result column `index`, applying the none/one/each rule.
    pub fn result_format(&self, index: usize) -> Option<Format> {
        resolve_format(&self.result_formats, index)
    }
}

/// Applies Bind's format rule: no codes means text, one code applies to all, otherwise one each.
fn resolve_format(formats: &Formats<'_>, index: usize) -> Option<Format> {
    match formats.len() {
        0 => Some(Format::Text),
        1 => formats.clone().next(),
        _ => formats.clone().nth(index),
    }
}
