//! The classifier's entry points: [`classify`] reads the first statement of a query string and
//! returns its [`Classification`]; [`call_arguments`] finds a call's argument list.

use super::cursor::Cursor;
use super::kinds::{Classification, StatementKind};
use super::lexer::{Lexer, TokenKind};
use super::{statements, Span, SqlError, SqlErrorKind, SqlOptions};

/// The text between the parentheses of a call found by [`classify`]: `function` is one of
/// [`Classification::functions`] and `sql` the text classified. For `pg_terminate_backend(1234)`
/// it is `1234`, which the router needs to send the call to the node owning that backend
/// (behaviour spec 3.10). `None` if no balanced `( … )` follows the name.
pub fn call_arguments(sql: &str, function: Span) -> Option<Span> {
    let offset = function.end;
    let mut tokens = Lexer::new(sql.get(offset as usize..)?)
        .filter_map(Result::ok)
        .filter(|t| !t.is_trivia());
    let open = tokens.next().filter(|t| t.kind == TokenKind::LParen)?;
    let mut depth = 1u32;
    for t in tokens {
        match t.kind {
            TokenKind::LParen => depth = depth.saturating_add(1),
            TokenKind::RParen => {
                depth -= 1;
                if depth == 0 {
                    return Some(Span::new(offset + open.span.end, offset + t.span.start));
                }
            }
            _ => {}
        }
    }
    None
}

/// Classifies the first statement of `sql`; see [`classify_with`].
pub fn classify(sql: &str) -> Result<Classification, SqlError> {
    classify_with(sql, SqlOptions::default())
}

/// Classifies the first statement of the query string `sql`, read as `options` say.
///
/// Leading empty statements (`;`) are skipped. Text after the statement's terminating `;` is
/// lexed only as far as needed to set [`Classification::multi_statement`], so a lexical error
/// further on is not reported. To classify every statement, [`split`](super::split()) and
/// classify each span's text.
///
/// Errors are lexical only (see [`SqlError`]); the router treats them as writes, as pgpool
/// does with text it cannot parse.
pub fn classify_with(sql: &str, options: SqlOptions) -> Result<Classification, SqlError> {
    if u32::try_from(sql.len()).is_err() {
        return Err(SqlError::new(SqlErrorKind::TooLong, 0));
    }
    let mut cur = Cursor::new(sql, options);
    let first = loop {
        match cur.peek()? {
            Some(tok) => break tok,
            None if cur.ended_by_semicolon() => cur.restart(),
            None => {
                let mut out = Classification::new(StatementKind::Empty);
                out.leading_comment = cur.comment_seen();
                return Ok(out);
            }
        }
    };
    let mut out = Classification::new(StatementKind::Other);
    out.leading_comment = cur.comment_seen();
    out.kind = statements::classify_statement(&mut cur, &mut out)?;
    cur.drain()?;
    out.span = Span::new(first.span.start, cur.last_end());
    out.multi_statement = cur.another_statement_follows()?;
    Ok(out)
}
