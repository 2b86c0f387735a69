//! The parser for `CREATE TABLE … PARTITION BY … ( PARTITION … )`, nested to any depth.

use super::ast::{
    Bound, BoundKind, CreatePartitioned, ForeignClause, Partition, PartitionSpec, Persistence,
    Strategy,
};
use super::elements::{generic_options, partition_constraints, qualified_name, table_elements};
use super::error::DdlError;
use super::tokens::Tokens;
use super::MAX_DEPTH;
use crate::sql::{Span, Token, TokenKind};

/// Parses the statement from `CREATE` up to (not including) its `;`.
pub(crate) fn parse(t: &mut Tokens<'_>) -> Result<CreatePartitioned, DdlError> {
    let create = t.expect_kw("create")?;
    let (persistence, persistence_span) = persistence(t)?;
    t.expect_kw("table")?;
    let if_not_exists = if_not_exists(t)?;
    let name = qualified_name(t)?;
    let elements = table_elements(t)?;
    if t.peek_kw("inherits") {
        // PostgreSQL refuses INHERITS on a partitioned table; let it say so in its own words.
        t.bump();
        t.group(true)?;
    }
    let spec = partition_spec(t, 0)?;
    let tail = tail(t)?;
    Ok(CreatePartitioned {
        span: Span::new(create.span.start, t.last_end()),
        persistence,
        persistence_span,
        if_not_exists,
        name,
        elements,
        spec,
        tail,
    })
}

/// `[GLOBAL | LOCAL] {TEMP | TEMPORARY}` or `UNLOGGED`, or nothing.
fn persistence(t: &mut Tokens<'_>) -> Result<(Persistence, Option<Span>), DdlError> {
    let Some(first) = t.peek() else {
        return Err(t.error());
    };
    if t.eat_kw("unlogged").is_some() {
        return Ok((Persistence::Unlogged, Some(first.span)));
    }
    let scoped = t.eat_kw("global").or_else(|| t.eat_kw("local")).is_some();
    if t.eat_kw("temp").or_else(|| t.eat_kw("temporary")).is_some() {
        let span = Span::new(first.span.start, t.last_end());
        return Ok((Persistence::Temporary, Some(span)));
    }
    if scoped {
        return Err(t.error());
    }
    Ok((Persistence::Permanent, None))
}

/// `IF NOT EXISTS`, or nothing.
pub(crate) fn if_not_exists(t: &mut Tokens<'_>) -> Result<Option<Span>, DdlError> {
    let Some(start) = t.eat_kw("if") else {
        return Ok(None);
    };
    t.expect_kw("not")?;
    let end = t.expect_kw("exists")?;
    Ok(Some(Span::new(start.span.start, end.span.end)))
}

/// `PARTITION BY strategy ( key ) ( partition [, …] )`.
fn partition_spec(t: &mut Tokens<'_>, depth: usize) -> Result<PartitionSpec, DdlError> {
    let partition = t.expect_kw("partition")?;
    if depth >= MAX_DEPTH {
        return Err(DdlError::TooDeep {
            position: partition.span.start as usize,
        });
    }
    t.expect_kw("by")?;
    let strategy = if t.eat_kw("range").is_some() {
        Strategy::Range
    } else if t.eat_kw("list").is_some() {
        Strategy::List
    } else if t.eat_kw("hash").is_some() {
        Strategy::Hash
    } else {
        return Err(t.error());
    };
    let key = t.group(true)?;
    let head = Span::new(partition.span.start, key.end);
    t.expect(TokenKind::LParen)?;
    let mut partitions = Vec::new();
    loop {
        partitions.push(partition_def(t, depth)?);
        if t.eat(TokenKind::Comma).is_none() {
            break;
        }
    }
    t.expect(TokenKind::RParen)?;
    Ok(PartitionSpec {
        head,
        strategy,
        key,
        partitions,
    })
}

/// `PARTITION name [( constraints )] bound [SERVER …] [PARTITION BY …]`.
fn partition_def(t: &mut Tokens<'_>, depth: usize) -> Result<Partition, DdlError> {
    let start = t.expect_kw("partition")?;
    let name = qualified_name(t)?;
    let constraints = if t.peek_is(TokenKind::LParen) {
        partition_constraints(t)?
    } else {
        Vec::new()
    };
    let bound = bound(t)?;
    let foreign = if t.peek_kw("server") {
        Some(foreign_clause(t)?)
    } else {
        None
    };
    let sub = if t.peek_kw("partition") {
        Some(partition_spec(t, depth + 1)?)
    } else {
        None
    };
    Ok(Partition {
        span: Span::new(start.span.start, t.last_end()),
        name,
        constraints,
        bound,
        foreign,
        sub,
    })
}

/// `FOR VALUES FROM (…) TO (…)`, `FOR VALUES IN (…)`, `FOR VALUES WITH (…)` or `DEFAULT`.
fn bound(t: &mut Tokens<'_>) -> Result<Bound, DdlError> {
    if let Some(default) = t.eat_kw("default") {
        return Ok(Bound {
            span: default.span,
            kind: BoundKind::Default,
        });
    }
    let start = t.expect_kw("for")?;
    t.expect_kw("values")?;
    let kind = if t.eat_kw("from").is_some() {
        t.group(true)?;
        t.expect_kw("to")?;
        t.group(true)?;
        BoundKind::Range
    } else if t.eat_kw("in").is_some() {
        t.group(true)?;
        BoundKind::List
    } else if t.eat_kw("with").is_some() {
        hash_bound(t)?;
        BoundKind::Hash
    } else {
        return Err(t.error());
    };
    Ok(Bound {
        span: Span::new(start.span.start, t.last_end()),
        kind,
    })
}

/// `( word integer [, …] )`: PostgreSQL's `hash_partbound` (it checks the words later).
fn hash_bound(t: &mut Tokens<'_>) -> Result<(), DdlError> {
    t.expect(TokenKind::LParen)?;
    loop {
        t.col_id()?;
        t.expect(TokenKind::Integer)?;
        if t.eat(TokenKind::Comma).is_none() {
            break;
        }
    }
    t.expect(TokenKind::RParen)?;
    Ok(())
}

/// `SERVER name [OPTIONS (…)] [WITH PUSHDOWN]`.
fn foreign_clause(t: &mut Tokens<'_>) -> Result<ForeignClause, DdlError> {
    let keyword = t.expect_kw("server")?;
    let server = t.col_id()?;
    let options = if t.peek_kw("options") {
        Some(generic_options(t)?)
    } else {
        None
    };
    let span = Span::new(keyword.span.start, t.last_end());
    let pushdown = with_pushdown(t)?;
    Ok(ForeignClause {
        span,
        server,
        options,
        pushdown,
    })
}

/// `WITH PUSHDOWN`, or nothing.
pub(crate) fn with_pushdown(t: &mut Tokens<'_>) -> Result<Option<Span>, DdlError> {
    let Some(with) = t.eat_kw("with") else {
        return Ok(None);
    };
    let pushdown = t.expect_kw("pushdown")?;
    Ok(Some(Span::new(with.span.start, pushdown.span.end)))
}

/// The storage clauses PostgreSQL allows after `PARTITION BY`, in its order: `USING method`,
/// `WITH (…)` or `WITHOUT OIDS`, `ON COMMIT …`, `TABLESPACE name`.
fn tail(t: &mut Tokens<'_>) -> Result<Option<Span>, DdlError> {
    let Some(first) = t.peek() else {
        return Ok(None);
    };
    if t.eat_kw("using").is_some() {
        t.col_id()?;
    }
    if t.eat_kw("with").is_some() {
        t.group(true)?;
    } else if t.eat_kw("without").is_some() {
        t.expect_kw("oids")?;
    }
    if t.eat_kw("on").is_some() {
        t.expect_kw("commit")?;
        if t.eat_kw("drop").is_none() {
            if t.eat_kw("delete")
                .or_else(|| t.eat_kw("preserve"))
                .is_none()
            {
                return Err(t.error());
            }
            t.expect_kw("rows")?;
        }
    }
    if t.eat_kw("tablespace").is_some() {
        t.col_id()?;
    }
    Ok(tail_span(t, first))
}

fn tail_span(t: &Tokens<'_>, first: Token) -> Option<Span> {
    let end = t.last_end();
    (end > first.span.start).then(|| Span::new(first.span.start, end))
}
