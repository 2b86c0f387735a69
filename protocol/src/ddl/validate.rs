//! The checks made after parsing that need no catalog.
//!
//! HighGo's: a foreign partition cannot be sub-partitioned, `WITH PUSHDOWN` needs a permanent
//! table. corepool's: names and option strings the translation reads by value must be
//! readable (no `U&` forms), and a pushed-down table must spell its columns out.

use super::ast::{
    CreateForeign, CreatePartitioned, DropRemote, GenericOptions, PartitionSpec, Persistence,
    QualifiedName, TableElement, TableElements,
};
use super::error::DdlError;
use super::quote::string_value;
use crate::sql::{StringKind, Token, TokenKind};

/// Checks a parsed `CREATE TABLE … ( PARTITION … )`, failing at the first problem in text
/// order.
pub(crate) fn partitioned(c: &CreatePartitioned, sql: &str, esc: bool) -> Result<(), DdlError> {
    names(&c.name)?;
    let mut pushdown = false;
    check_spec(&c.spec, c.persistence, sql, esc, &mut pushdown)?;
    if pushdown {
        columns(&c.elements, sql, esc)?;
    }
    Ok(())
}

fn check_spec(
    spec: &PartitionSpec,
    persistence: Persistence,
    sql: &str,
    esc: bool,
    pushdown: &mut bool,
) -> Result<(), DdlError> {
    for p in &spec.partitions {
        names(&p.name)?;
        if let Some(f) = &p.foreign {
            name(f.server)?;
            if p.sub.is_some() {
                return Err(DdlError::PartitionedForeign {
                    position: f.span.start as usize,
                });
            }
            if let Some(with) = f.pushdown {
                if persistence != Persistence::Permanent {
                    return Err(DdlError::PushdownNotPermanent {
                        position: with.start as usize,
                    });
                }
                *pushdown = true;
                options(f.options.as_ref(), sql, esc)?;
            }
        }
        if let Some(sub) = &p.sub {
            check_spec(sub, persistence, sql, esc, pushdown)?;
        }
    }
    Ok(())
}

/// Checks a parsed `CREATE FOREIGN TABLE … WITH PUSHDOWN`.
pub(crate) fn foreign(c: &CreateForeign, sql: &str, esc: bool) -> Result<(), DdlError> {
    names(&c.name)?;
    name(c.server)?;
    options(c.options.as_ref(), sql, esc)?;
    columns(&c.elements, sql, esc)
}

/// Checks a parsed `DROP … INCLUDE REMOTE`.
pub(crate) fn drop(d: &DropRemote) -> Result<(), DdlError> {
    d.names.iter().try_for_each(names)
}

fn names(n: &QualifiedName) -> Result<(), DdlError> {
    n.parts.iter().try_for_each(|&part| name(part))
}

fn name(token: Token) -> Result<(), DdlError> {
    if token.kind == TokenKind::UnicodeIdent {
        return Err(DdlError::Unsupported {
            what: "a U&\"…\" identifier in WITH PUSHDOWN or INCLUDE REMOTE",
            position: token.span.start as usize,
        });
    }
    Ok(())
}

fn options(options: Option<&GenericOptions>, sql: &str, esc: bool) -> Result<(), DdlError> {
    for option in options.iter().flat_map(|o| o.items.iter()) {
        name(option.name)?;
        let readable = option.value.kind != TokenKind::String(StringKind::Unicode)
            && string_value(option.value, sql, esc).is_some();
        if !readable {
            return Err(DdlError::Unsupported {
                what: "this string constant in OPTIONS with WITH PUSHDOWN",
                position: option.value.span.start as usize,
            });
        }
    }
    Ok(())
}

/// The column list the remote table is made from must spell its columns out.
fn columns(elements: &TableElements, sql: &str, esc: bool) -> Result<(), DdlError> {
    for element in &elements.items {
        match element {
            TableElement::Like(span) => {
                return Err(DdlError::Unsupported {
                    what: "LIKE in the column list of a table with WITH PUSHDOWN",
                    position: span.start as usize,
                })
            }
            TableElement::Column(c) => options(c.options.as_ref(), sql, esc)?,
            TableElement::Constraint(_) => {}
        }
    }
    Ok(())
}
