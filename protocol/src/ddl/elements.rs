//! Parsers for what the three forms share: names, column lists, constraints, `OPTIONS (…)`.

use smallvec::SmallVec;

use super::ast::{
    ColumnDef, ConstraintKind, GenericOption, GenericOptions, PartitionConstraint, QualifiedName,
    TableElement, TableElements,
};
use super::error::DdlError;
use super::tokens::Tokens;
use crate::sql::{Span, StringKind, Token, TokenKind};

/// Words that end a column's type: the column options and constraints that may follow it.
const AFTER_TYPE: &[&str] = &[
    "check",
    "collate",
    "compression",
    "constraint",
    "default",
    "generated",
    "not",
    "null",
    "options",
    "primary",
    "references",
    "storage",
    "unique",
];

/// `ColId [. ColLabel [. ColLabel]]`.
pub(crate) fn qualified_name(t: &mut Tokens<'_>) -> Result<QualifiedName, DdlError> {
    let first = t.col_id()?;
    let mut parts: SmallVec<[Token; 3]> = SmallVec::new();
    parts.push(first);
    while t.peek_is(TokenKind::Dot) {
        if parts.len() == 3 {
            return Err(t.error());
        }
        t.bump();
        parts.push(t.col_label()?);
    }
    Ok(QualifiedName {
        span: Span::new(first.span.start, t.last_end()),
        parts,
    })
}

/// `( [element [, …]] )`: a table's column list.
pub(crate) fn table_elements(t: &mut Tokens<'_>) -> Result<TableElements, DdlError> {
    let open = t.expect(TokenKind::LParen)?;
    let mut items = Vec::new();
    if !t.peek_is(TokenKind::RParen) {
        loop {
            items.push(table_element(t)?);
            if t.eat(TokenKind::Comma).is_none() {
                break;
            }
        }
    }
    let close = t.expect(TokenKind::RParen)?;
    Ok(TableElements {
        span: Span::new(open.span.start, close.span.end),
        items,
    })
}

fn table_element(t: &mut Tokens<'_>) -> Result<TableElement, DdlError> {
    let start = t.peek().ok_or_else(|| t.error())?;
    if t.peek_kw("like") {
        t.bump();
        qualified_name(t)?;
        t.skip_to_element_end()?;
        return Ok(TableElement::Like(element_span(t, start)));
    }
    if starts_table_constraint(t) {
        t.skip_to_element_end()?;
        return Ok(TableElement::Constraint(element_span(t, start)));
    }
    let name = t.col_id()?;
    let type_start = match t.peek() {
        Some(tok) if matches!(tok.kind, TokenKind::Ident | TokenKind::QuotedIdent) => tok,
        _ => return Err(t.error()),
    };
    if AFTER_TYPE.iter().any(|w| t.is_kw(Some(type_start), w)) {
        return Err(t.error());
    }
    skip_type(t)?;
    let type_name = Span::new(type_start.span.start, t.last_end());
    let mut collate = None;
    let mut options = None;
    while let Some(tok) = t.peek() {
        if t.is_kw(Some(tok), "collate") {
            t.bump();
            qualified_name(t)?;
            collate = Some(Span::new(tok.span.start, t.last_end()));
        } else if t.is_kw(Some(tok), "options") && options.is_none() {
            options = Some(generic_options(t)?);
        } else if matches!(tok.kind, TokenKind::Comma | TokenKind::RParen) {
            break;
        } else if matches!(tok.kind, TokenKind::LParen | TokenKind::LBracket) {
            skip_bracketed(t)?;
        } else if tok.kind == TokenKind::Semicolon || tok.kind == TokenKind::RBracket {
            return Err(t.error());
        } else {
            t.bump();
        }
    }
    Ok(TableElement::Column(ColumnDef {
        span: element_span(t, start),
        name,
        type_name,
        collate,
        options,
    }))
}

/// Whether the next tokens open a table constraint.
fn starts_table_constraint(t: &Tokens<'_>) -> bool {
    ["constraint", "check", "unique", "primary", "foreign"]
        .iter()
        .any(|w| t.peek_kw(w))
        || (t.peek_kw("exclude")
            && (t.is_kw(t.peek_nth(1), "using") || t.peek_nth(1).is_some_and(is_lparen)))
}

fn is_lparen(token: Token) -> bool {
    token.kind == TokenKind::LParen
}

/// Skips a type name: words, dots, `(…)` modifiers and `[…]` array bounds, up to a column
/// option keyword or the end of the element.
fn skip_type(t: &mut Tokens<'_>) -> Result<(), DdlError> {
    while let Some(tok) = t.peek() {
        match tok.kind {
            TokenKind::Comma | TokenKind::RParen => break,
            TokenKind::LParen | TokenKind::LBracket => skip_bracketed(t)?,
            TokenKind::Ident if AFTER_TYPE.iter().any(|w| t.is_kw(Some(tok), w)) => break,
            TokenKind::Ident | TokenKind::QuotedIdent | TokenKind::Dot | TokenKind::Integer => {
                t.bump();
            }
            _ => return Err(t.error()),
        }
    }
    Ok(())
}

/// Skips a `(…)` or `[…]` group, nesting included.
fn skip_bracketed(t: &mut Tokens<'_>) -> Result<(), DdlError> {
    let mut depth = 0usize;
    while let Some(tok) = t.peek() {
        match tok.kind {
            TokenKind::LParen | TokenKind::LBracket => depth += 1,
            TokenKind::RParen | TokenKind::RBracket => depth = depth.saturating_sub(1),
            TokenKind::Semicolon => return Err(t.error()),
            _ => {}
        }
        t.bump();
        if depth == 0 {
            return Ok(());
        }
    }
    Err(t.error())
}

fn element_span(t: &Tokens<'_>, start: Token) -> Span {
    Span::new(start.span.start, t.last_end())
}

/// `( constraint [, …] )` after a partition's name.
pub(crate) fn partition_constraints(
    t: &mut Tokens<'_>,
) -> Result<Vec<PartitionConstraint>, DdlError> {
    t.expect(TokenKind::LParen)?;
    let mut items = Vec::new();
    loop {
        items.push(partition_constraint(t)?);
        if t.eat(TokenKind::Comma).is_none() {
            break;
        }
    }
    t.expect(TokenKind::RParen)?;
    Ok(items)
}

fn partition_constraint(t: &mut Tokens<'_>) -> Result<PartitionConstraint, DdlError> {
    let start = t.peek().ok_or_else(|| t.error())?;
    let mut name = None;
    if t.eat_kw("constraint").is_some() {
        name = Some(t.col_id()?);
    }
    let head = t.peek();
    let (kind, column) = if t.eat_kw("check").is_some() {
        t.group(true)?;
        (ConstraintKind::Check, None)
    } else if t.eat_kw("unique").is_some() {
        (ConstraintKind::Unique, None)
    } else if t.eat_kw("primary").is_some() {
        t.expect_kw("key")?;
        (ConstraintKind::PrimaryKey, None)
    } else if t.eat_kw("foreign").is_some() {
        t.expect_kw("key")?;
        t.group(true)?;
        t.expect_kw("references")?;
        (ConstraintKind::ForeignKey, None)
    } else if t.peek_kw("exclude")
        && (name.is_some()
            || t.is_kw(t.peek_nth(1), "using")
            || t.peek_nth(1).is_some_and(is_lparen))
    {
        t.bump();
        (ConstraintKind::Exclude, None)
    } else if t.eat_kw("not").is_some() {
        t.expect_kw("null")?;
        let column = t.col_id()?;
        if !matches!(
            t.peek().map(|k| k.kind),
            Some(TokenKind::Comma | TokenKind::RParen)
        ) {
            return Err(t.error());
        }
        (ConstraintKind::NotNull, Some(column))
    } else if name.is_none() {
        let column = t.col_id()?;
        (ConstraintKind::Column, Some(column))
    } else {
        return Err(t.error_at(head));
    };
    t.skip_to_element_end()?;
    Ok(PartitionConstraint {
        span: element_span(t, start),
        name,
        kind,
        column,
    })
}

/// `OPTIONS ( name 'value' [, …] )`.
pub(crate) fn generic_options(t: &mut Tokens<'_>) -> Result<GenericOptions, DdlError> {
    let keyword = t.expect_kw("options")?;
    t.expect(TokenKind::LParen)?;
    let mut items = Vec::new();
    loop {
        let name = t.col_label()?;
        let value = match t.peek() {
            Some(v) if is_sconst(v) => v,
            _ => return Err(t.error()),
        };
        t.bump();
        items.push(GenericOption { name, value });
        if t.eat(TokenKind::Comma).is_none() {
            break;
        }
    }
    let close = t.expect(TokenKind::RParen)?;
    Ok(GenericOptions {
        span: Span::new(keyword.span.start, close.span.end),
        items,
    })
}

/// Whether `token` is a string constant PostgreSQL's grammar calls `Sconst`.
fn is_sconst(token: Token) -> bool {
    matches!(
        token.kind,
        TokenKind::String(
            StringKind::Standard | StringKind::Escape | StringKind::Dollar | StringKind::Unicode
        )
    )
}
