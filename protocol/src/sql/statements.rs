//! Classification of each top-level command: transaction control, SET, COPY, PREPARE, EXPLAIN, DDL….

use super::cursor::{Cursor, Tok};
use super::ident::Ident;
use super::keywords::Kw;
use super::kinds::{
    Classification, DdlVerb, DiscardTarget, Isolation, LockMode, QueryKind, StatementKind as K,
    TransactionModes,
};
use super::lexer::{StringKind, TokenKind};
use super::query::scan_query;
use super::{Span, SqlError};

type Result<T> = std::result::Result<T, SqlError>;

/// Classifies the statement at the cursor (its first token not yet consumed).
pub(crate) fn classify_statement(cur: &mut Cursor<'_>, out: &mut Classification) -> Result<K> {
    let Some(first) = cur.peek()? else {
        return Ok(K::Empty);
    };
    if first.kind == TokenKind::LParen {
        return scan_query(cur, out, false);
    }
    let Some(kw) = first.kw else {
        return Ok(K::Other);
    };
    if is_query_start(kw) {
        return scan_query(cur, out, false);
    }
    cur.next()?;
    Ok(match kw {
        Kw::Begin => {
            let _ = cur.eat(Kw::Work)? || cur.eat(Kw::Transaction)?;
            K::TransactionBegin { modes: modes(cur)? }
        }
        Kw::Start if cur.eat(Kw::Transaction)? => K::TransactionBegin { modes: modes(cur)? },
        Kw::Commit if cur.eat(Kw::Prepared)? => K::CommitPrepared,
        Kw::Commit | Kw::End => K::Commit,
        Kw::Abort => K::Rollback,
        Kw::Rollback => {
            let _ = cur.eat(Kw::Work)? || cur.eat(Kw::Transaction)?;
            if cur.eat(Kw::Prepared)? {
                K::RollbackPrepared
            } else if cur.eat(Kw::To)? {
                K::RollbackTo
            } else {
                K::Rollback
            }
        }
        Kw::Savepoint => K::Savepoint,
        Kw::Release => K::Release,
        Kw::Prepare => prepare(cur, out)?,
        Kw::Set => set(cur)?,
        Kw::Reset => match cur.peek()? {
            Some(t) if t.is(Kw::All) => K::Reset { name: None },
            Some(_) => K::Reset { name: cur.rest()? },
            None => K::Other,
        },
        Kw::Show => match cur.rest()? {
            Some(name) => K::Show { name },
            None => K::Other,
        },
        Kw::Discard => discard(cur)?,
        Kw::Copy => copy(cur, out)?,
        Kw::Execute => match cur.next()? {
            Some(t) if t.is_word() => K::Execute { name: t.span },
            _ => K::Other,
        },
        Kw::Deallocate => {
            cur.eat(Kw::Prepare)?;
            match cur.next()? {
                Some(t) if t.is(Kw::All) => K::Deallocate { name: None },
                Some(t) if t.is_word() => K::Deallocate { name: Some(t.span) },
                _ => K::Other,
            }
        }
        Kw::Explain => explain(cur, out)?,
        Kw::Declare => {
            while let Some(t) = cur.next()? {
                if t.is(Kw::For) {
                    return Ok(K::Declare {
                        inner: inner_query(cur, out)?,
                    });
                }
            }
            K::Other
        }
        Kw::Fetch | Kw::Move => K::Fetch,
        Kw::Close => K::Close,
        Kw::Listen => K::Listen,
        Kw::Notify => K::Notify,
        Kw::Unlisten => K::Unlisten,
        Kw::Lock => lock(cur, out)?,
        Kw::Vacuum => {
            maintenance(cur, out)?;
            K::Vacuum
        }
        Kw::Analyze | Kw::Analyse => {
            maintenance(cur, out)?;
            K::Analyze
        }
        Kw::Call => {
            scan_query(cur, out, false)?;
            K::Call
        }
        Kw::Do => K::Do,
        _ => ddl(cur, out, kw)?,
    })
}

fn is_query_start(kw: Kw) -> bool {
    matches!(
        kw,
        Kw::Select
            | Kw::With
            | Kw::Values
            | Kw::Table
            | Kw::Insert
            | Kw::Update
            | Kw::Delete
            | Kw::Merge
    )
}

/// The statement inside PREPARE, EXPLAIN or DECLARE.
fn inner_query(cur: &mut Cursor<'_>, out: &mut Classification) -> Result<QueryKind> {
    let Some(first) = cur.peek()? else {
        return Ok(QueryKind::Other);
    };
    if first.kind == TokenKind::LParen || first.kw.is_some_and(is_query_start) {
        return Ok(QueryKind::of(scan_query(cur, out, false)?));
    }
    match first.kw {
        Some(Kw::Execute) => Ok(QueryKind::Execute),
        Some(Kw::Create) => {
            // CREATE TABLE … AS under EXPLAIN ANALYZE: keep the temp/unlogged flags.
            cur.next()?;
            ddl(cur, out, Kw::Create)?;
            Ok(QueryKind::Other)
        }
        _ => Ok(QueryKind::Other),
    }
}

/// `BEGIN` / `START TRANSACTION` / `SET TRANSACTION` modes, comma-separated or not.
fn modes(cur: &mut Cursor<'_>) -> Result<TransactionModes> {
    let mut modes = TransactionModes::default();
    while let Some(t) = cur.peek()? {
        match t.kw {
            Some(Kw::Isolation) => {
                cur.next()?;
                cur.eat(Kw::Level)?;
                modes.isolation = isolation(cur)?;
            }
            Some(Kw::Read) => {
                cur.next()?;
                if cur.eat(Kw::Only)? {
                    modes.read_only = Some(true);
                } else if cur.eat(Kw::Write)? {
                    modes.read_only = Some(false);
                }
            }
            Some(Kw::Not) => {
                cur.next()?;
                if cur.eat(Kw::Deferrable)? {
                    modes.deferrable = Some(false);
                }
            }
            Some(Kw::Deferrable) => {
                cur.next()?;
                modes.deferrable = Some(true);
            }
            _ if t.kind == TokenKind::Comma => {
                cur.next()?;
            }
            _ => break,
        }
    }
    Ok(modes)
}

fn isolation(cur: &mut Cursor<'_>) -> Result<Option<Isolation>> {
    Ok(if cur.eat(Kw::Serializable)? {
        Some(Isolation::Serializable)
    } else if cur.eat(Kw::Repeatable)? {
        cur.eat(Kw::Read)?;
        Some(Isolation::RepeatableRead)
    } else if cur.eat(Kw::Read)? {
        if cur.eat(Kw::Committed)? {
            Some(Isolation::ReadCommitted)
        } else if cur.eat(Kw::Uncommitted)? {
            Some(Isolation::ReadUncommitted)
        } else {
            None
        }
    } else {
        None
    })
}

fn set(cur: &mut Cursor<'_>) -> Result<K> {
    let local = cur.eat(Kw::Local)?;
    let mut name_start = None;
    if !local {
        if let Some(session) = cur.peek()?.filter(|t| t.is(Kw::Session)) {
            cur.next()?;
            if cur.eat(Kw::Characteristics)? {
                cur.eat(Kw::As)?;
                cur.eat(Kw::Transaction)?;
                return Ok(K::SetTransaction {
                    session: true,
                    modes: modes(cur)?,
                });
            }
            if cur.peek()?.is_some_and(|t| t.is(Kw::Authorization)) {
                name_start = Some(session.span.start);
            }
        }
    }
    if cur.eat(Kw::Transaction)? {
        let modes = if cur.eat(Kw::Snapshot)? {
            TransactionModes::default()
        } else {
            modes(cur)?
        };
        return Ok(K::SetTransaction {
            session: false,
            modes,
        });
    }
    let Some(first) = cur.next()? else {
        return Ok(K::Other);
    };
    let mut name = if first.is(Kw::Time) && cur.eat(Kw::Zone)? {
        Span::new(first.span.start, cur.last_end())
    } else if first.is_word() {
        cur.finish_name(first)?.0
    } else {
        return Ok(K::Other);
    };
    if let Some(start) = name_start {
        name.start = start;
    }
    match cur.peek()? {
        Some(t)
            if t.is(Kw::To)
                || (t.kind == TokenKind::Operator && t.span.text(cur.text()) == "=") =>
        {
            cur.next()?;
        }
        Some(t) if t.is(Kw::From) => {
            cur.drain()?;
            let modes = TransactionModes::default();
            return Ok(K::Set {
                local,
                name,
                value: None,
                modes,
            });
        }
        _ => {}
    }
    let value_first = cur.next()?;
    let single = if cur.peek()?.is_none() {
        value_first
    } else {
        None
    };
    cur.drain()?;
    let value = value_first.map(|t| Span::new(t.span.start, cur.last_end()));
    let modes = implied_modes(cur.text(), name, single);
    Ok(K::Set {
        local,
        name,
        value,
        modes,
    })
}

/// The transaction modes a `SET name = value` implies, for the parameters pgpool looks at.
fn implied_modes(text: &str, name: Span, value: Option<Tok>) -> TransactionModes {
    let mut modes = TransactionModes::default();
    let Some(value) = value else {
        return modes;
    };
    let name = Ident::new(name.text(text));
    let value = value_text(text, value);
    if name.matches("transaction_read_only") {
        modes.read_only = parse_bool(value);
    } else if name.matches("transaction_isolation") || name.matches("default_transaction_isolation")
    {
        modes.isolation = match value.to_ascii_lowercase().as_str() {
            "serializable" => Some(Isolation::Serializable),
            "repeatable read" => Some(Isolation::RepeatableRead),
            "read committed" => Some(Isolation::ReadCommitted),
            "read uncommitted" => Some(Isolation::ReadUncommitted),
            _ => None,
        };
    }
    modes
}

/// A one-token value's text: the contents of a quoted string, else the token as written.
fn value_text(text: &str, tok: Tok) -> &str {
    let raw = tok.span.text(text);
    let close = raw.len().saturating_sub(1);
    match tok.kind {
        TokenKind::String(StringKind::Standard) => raw.get(1..close),
        TokenKind::String(StringKind::Escape | StringKind::National) => raw.get(2..close),
        _ => Some(raw),
    }
    .unwrap_or_default()
}

/// PostgreSQL's `parse_bool`: unique prefixes of true/false/yes/no, `on`, `off`, `1`, `0`.
pub(crate) fn parse_bool(value: &str) -> Option<bool> {
    let prefix_of = |word: &str, min: usize| {
        value.len() >= min
            && value.len() <= word.len()
            && word[..value.len()].eq_ignore_ascii_case(value)
    };
    if prefix_of("true", 1) || prefix_of("yes", 1) || prefix_of("on", 2) || value == "1" {
        Some(true)
    } else if prefix_of("false", 1) || prefix_of("no", 1) || prefix_of("off", 2) || value == "0" {
        Some(false)
    } else {
        None
    }
}

fn discard(cur: &mut Cursor<'_>) -> Result<K> {
    let target = match cur.next()?.and_then(|t| t.kw) {
        Some(Kw::All) => DiscardTarget::All,
        Some(Kw::Plans) => DiscardTarget::Plans,
        Some(Kw::Sequences) => DiscardTarget::Sequences,
        Some(Kw::Temp | Kw::Temporary) => DiscardTarget::Temp,
        _ => return Ok(K::Other),
    };
    Ok(K::Discard(target))
}

fn prepare(cur: &mut Cursor<'_>, out: &mut Classification) -> Result<K> {
    let Some(name) = cur.next()?.filter(Tok::is_word) else {
        return Ok(K::Other);
    };
    let next = cur.peek()?;
    if name.is(Kw::Transaction) && next.is_some_and(|t| matches!(t.kind, TokenKind::String(_))) {
        return Ok(K::PrepareTransaction);
    }
    cur.skip_parens()?;
    if !cur.eat(Kw::As)? {
        return Ok(K::Other);
    }
    Ok(K::Prepare {
        name: name.span,
        inner: inner_query(cur, out)?,
    })
}

fn explain(cur: &mut Cursor<'_>, out: &mut Classification) -> Result<K> {
    let mut analyze = false;
    if cur.eat_kind(TokenKind::LParen)? {
        // `(option [value], …)`; ANALYZE's value defaults to true.
        let mut at_option = true;
        let mut in_analyze = false;
        while let Some(t) = cur.next()? {
            match t.kind {
                TokenKind::RParen => break,
                TokenKind::Comma => at_option = true,
                _ if at_option => {
                    in_analyze = t.is(Kw::Analyze) || t.is(Kw::Analyse);
                    analyze |= in_analyze;
                    at_option = false;
                }
                _ if in_analyze => analyze = parse_bool(value_text(cur.text(), t)).unwrap_or(true),
                _ => {}
            }
        }
    } else {
        while let Some(t) = cur.peek()? {
            match t.kw {
                Some(Kw::Analyze | Kw::Analyse) => analyze = true,
                Some(Kw::Verbose) => {}
                _ => break,
            }
            cur.next()?;
        }
    }
    Ok(K::Explain {
        analyze,
        inner: inner_query(cur, out)?,
    })
}

fn copy(cur: &mut Cursor<'_>, out: &mut Classification) -> Result<K> {
    cur.eat(Kw::Binary)?;
    let mut query = None;
    let mut table = None;
    match cur.peek()? {
        Some(t) if t.kind == TokenKind::LParen => {
            query = Some(QueryKind::of(scan_query(cur, out, true)?));
        }
        Some(t) if t.is_word() => {
            cur.next()?;
            table = Some(cur.finish_name(t)?.0);
            cur.skip_parens()?;
        }
        _ => return Ok(K::Other),
    }
    let is_from = match cur.next()? {
        Some(t) if t.is(Kw::From) => true,
        Some(t) if t.is(Kw::To) => false,
        _ => return Ok(K::Other),
    };
    let stdio = cur
        .next()?
        .is_some_and(|t| t.is(Kw::Stdin) || t.is(Kw::Stdout));
    if let Some(name) = table {
        out.push_relation(name, is_from);
    }
    Ok(K::Copy {
        is_from,
        stdio,
        query,
    })
}

fn lock(cur: &mut Cursor<'_>, out: &mut Classification) -> Result<K> {
    cur.eat(Kw::Table)?;
    name_list(cur, out, false)?;
    let mut mode = LockMode::AccessExclusive;
    if cur.eat(Kw::In)? {
        let word = |t: Option<Tok>| t.and_then(|t| t.kw);
        let first = word(cur.next()?);
        let second = word(cur.next()?);
        let third = word(cur.peek()?);
        mode = match (first, second, third) {
            (Some(Kw::Access), Some(Kw::Share), _) => LockMode::AccessShare,
            (Some(Kw::Row), Some(Kw::Share), _) => LockMode::RowShare,
            (Some(Kw::Row), Some(Kw::Exclusive), _) => LockMode::RowExclusive,
            (Some(Kw::Share), Some(Kw::Update), Some(Kw::Exclusive)) => {
                LockMode::ShareUpdateExclusive
            }
            (Some(Kw::Share), Some(Kw::Row), Some(Kw::Exclusive)) => LockMode::ShareRowExclusive,
            (Some(Kw::Share), Some(Kw::Mode), _) => LockMode::Share,
            (Some(Kw::Exclusive), Some(Kw::Mode), _) => LockMode::Exclusive,
            _ => LockMode::AccessExclusive,
        };
    }
    Ok(K::Lock { mode })
}

/// `VACUUM` / `ANALYZE` options, then the tables.
fn maintenance(cur: &mut Cursor<'_>, out: &mut Classification) -> Result<()> {
    cur.skip_parens()?;
    while cur.peek()?.is_some_and(|t| {
        matches!(
            t.kw,
            Some(Kw::Full | Kw::Freeze | Kw::Verbose | Kw::Analyze | Kw::Analyse)
        )
    }) {
        cur.next()?;
    }
    name_list(cur, out, false)
}

/// `[ONLY] name [*] [(columns)] [, …]`, recording each name.
fn name_list(cur: &mut Cursor<'_>, out: &mut Classification, written: bool) -> Result<()> {
    loop {
        cur.eat(Kw::Only)?;
        let Some(t) = cur.peek()? else {
            return Ok(());
        };
        if !t.is_word() || t.kw.is_some_and(|k| !k.can_be_name()) {
            return Ok(());
        }
        cur.next()?;
        let (name, _) = cur.finish_name(t)?;
        out.push_relation(name, written);
        if cur.peek()?.is_some_and(|t| t.span.text(cur.text()) == "*") {
            cur.next()?;
        }
        cur.skip_parens()?;
        if !cur.eat_kind(TokenKind::Comma)? {
            return Ok(());
        }
    }
}

/// The schema commands, which are only searched for the tables they create, alter or drop.
fn ddl(cur: &mut Cursor<'_>, out: &mut Classification, kw: Kw) -> Result<K> {
    let verb = match kw {
        Kw::Create => {
            create(cur, out)?;
            DdlVerb::Create
        }
        Kw::Alter => {
            if cur.eat(Kw::Table)? {
                if cur.eat(Kw::If)? {
                    cur.eat(Kw::Exists)?;
                }
                name_list(cur, out, true)?;
            }
            DdlVerb::Alter
        }
        Kw::Drop => {
            if cur.eat(Kw::Table)? {
                if cur.eat(Kw::If)? {
                    cur.eat(Kw::Exists)?;
                }
                name_list(cur, out, true)?;
            }
            DdlVerb::Drop
        }
        Kw::Truncate => {
            cur.eat(Kw::Table)?;
            name_list(cur, out, true)?;
            DdlVerb::Truncate
        }
        Kw::Grant => DdlVerb::Grant,
        Kw::Revoke => DdlVerb::Revoke,
        Kw::Comment => DdlVerb::Comment,
        Kw::Security if cur.eat(Kw::Label)? => DdlVerb::SecurityLabel,
        Kw::Reindex => DdlVerb::Reindex,
        Kw::Cluster => DdlVerb::Cluster,
        Kw::Refresh => DdlVerb::Refresh,
        Kw::Import => DdlVerb::Import,
        Kw::Reassign => DdlVerb::Reassign,
        _ => return Ok(K::Other),
    };
    Ok(K::Ddl(verb))
}

/// `CREATE [OR REPLACE] [GLOBAL|LOCAL] [TEMP|TEMPORARY|UNLOGGED] TABLE [IF NOT EXISTS] name`.
fn create(cur: &mut Cursor<'_>, out: &mut Classification) -> Result<()> {
    if cur.eat(Kw::Or)? {
        cur.eat(Kw::Replace)?;
    }
    let (mut temp, mut unlogged) = (false, false);
    while let Some(t) = cur.peek()? {
        match t.kw {
            Some(Kw::Global | Kw::Local) => {}
            Some(Kw::Temp | Kw::Temporary) => temp = true,
            Some(Kw::Unlogged) => unlogged = true,
            _ => break,
        }
        cur.next()?;
    }
    if !cur.eat(Kw::Table)? {
        return Ok(());
    }
    if cur.eat(Kw::If)? {
        cur.eat(Kw::Not)?;
        cur.eat(Kw::Exists)?;
    }
    if let Some(t) = cur.next()?.filter(Tok::is_word) {
        let (name, _) = cur.finish_name(t)?;
        out.push_relation(name, true);
        out.creates_temp_table |= temp;
        out.creates_unlogged_table |= unlogged;
    }
    Ok(())
}
