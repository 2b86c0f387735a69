//! The parser for `DROP [FOREIGN] TABLE … [CASCADE | RESTRICT] INCLUDE REMOTE`.

use super::ast::{DropBehavior, DropRemote};
use super::elements::qualified_name;
use super::error::DdlError;
use super::tokens::Tokens;
use crate::sql::{Span, TokenKind};

/// Parses the statement from `DROP` up to (not including) its `;`.
pub(crate) fn parse(t: &mut Tokens<'_>) -> Result<DropRemote, DdlError> {
    let drop = t.expect_kw("drop")?;
    let foreign = t.eat_kw("foreign").is_some();
    t.expect_kw("table")?;
    let if_exists = match t.eat_kw("if") {
        Some(start) => {
            let end = t.expect_kw("exists")?;
            Some(Span::new(start.span.start, end.span.end))
        }
        None => None,
    };
    let mut names = vec![qualified_name(t)?];
    while t.eat(TokenKind::Comma).is_some() {
        names.push(qualified_name(t)?);
    }
    let behavior = if let Some(k) = t.eat_kw("cascade") {
        Some((DropBehavior::Cascade, k.span))
    } else {
        t.eat_kw("restrict")
            .map(|k| (DropBehavior::Restrict, k.span))
    };
    let include = t.expect_kw("include")?;
    let remote = t.expect_kw("remote")?;
    Ok(DropRemote {
        span: Span::new(drop.span.start, remote.span.end),
        foreign,
        if_exists,
        names,
        behavior,
        include_remote: Span::new(include.span.start, remote.span.end),
    })
}
