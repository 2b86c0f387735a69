//! Splits a multi-statement query string into statement spans at top-level `;`.
//!
//! A statement's span runs from its first to its last non-whitespace token (comments included,
//! so optimizer hints stay attached) and excludes the terminating `;`. Statements holding only
//! comments and whitespace are skipped, as PostgreSQL does. `;` inside strings, comments,
//! dollar quotes, parentheses and `CREATE FUNCTION … BEGIN ATOMIC … END` bodies does not split.

use std::iter::FusedIterator;

use super::boundary::Boundary;
use super::keywords::Kw;
use super::lexer::{Lexer, TokenKind};
use super::{Span, SqlError, SqlOptions};

/// Splits `sql` into statements; see the [module docs](self).
///
/// ```
/// use corepool_protocol::sql::split;
///
/// let sql = "BEGIN; SELECT ';' /* ; */; ; COMMIT";
/// let parts: Vec<&str> = split(sql).map(|s| s.unwrap().text(sql)).collect();
/// assert_eq!(parts, ["BEGIN", "SELECT ';' /* ; */", "COMMIT"]);
/// ```
pub fn split(sql: &str) -> Split<'_> {
    split_with(sql, SqlOptions::default())
}

/// [`split`] reading the text as `options` say.
pub fn split_with(sql: &str, options: SqlOptions) -> Split<'_> {
    Split {
        sql,
        lexer: Lexer::with_options(sql, options),
        done: false,
    }
}

/// Iterator over the statement spans of a query string, from [`split`].
///
/// Yields `Err` once on a lexical error and then stops.
#[derive(Debug, Clone)]
pub struct Split<'a> {
    sql: &'a str,
    lexer: Lexer<'a>,
    done: bool,
}

impl Iterator for Split<'_> {
    type Item = Result<Span, SqlError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let mut boundary = Boundary::new();
        let mut span: Option<Span> = None;
        let mut significant = false;
        loop {
            let token = match self.lexer.next() {
                None => {
                    self.done = true;
                    return span.filter(|_| significant).map(Ok);
                }
                Some(Err(e)) => {
                    self.done = true;
                    return Some(Err(e));
                }
                Some(Ok(token)) => token,
            };
            match token.kind {
                TokenKind::Whitespace => continue,
                TokenKind::Semicolon if boundary.at_top() => {
                    if significant {
                        return span.map(Ok);
                    }
                    span = None;
                    continue;
                }
                TokenKind::LineComment | TokenKind::BlockComment => {}
                kind => {
                    significant = true;
                    let sql = self.sql;
                    boundary.feed(kind, || {
                        Kw::lookup_in(sql.as_bytes(), token.span.start as usize, token.span.len())
                    });
                }
            }
            let start = span.map_or(token.span.start, |s| s.start);
            span = Some(Span::new(start, token.span.end));
        }
    }
}

impl FusedIterator for Split<'_> {}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(sql: &str) -> Vec<&str> {
        split(sql).map(|s| s.unwrap().text(sql)).collect()
    }

    #[test]
    fn splits_at_top_level_semicolons_only() {
        assert_eq!(parts("SELECT 1; SELECT 2;"), ["SELECT 1", "SELECT 2"]);
        assert_eq!(parts("  ;; ; "), Vec::<&str>::new());
        assert_eq!(parts(""), Vec::<&str>::new());
        assert_eq!(
            parts("SELECT 'a;b'; SELECT \"x;\""),
            ["SELECT 'a;b'", "SELECT \"x;\""]
        );
        assert_eq!(
            parts("SELECT $$;$$; SELECT $t$ $$; $t$"),
            ["SELECT $$;$$", "SELECT $t$ $$; $t$"]
        );
        assert_eq!(parts("SELECT 1 -- ;\n; /* ; */"), ["SELECT 1 -- ;"]);
        assert_eq!(parts("CREATE RULE r AS ON INSERT TO t DO ALSO (INSERT INTO a VALUES (1); INSERT INTO b VALUES (2)); SELECT 1"), [
            "CREATE RULE r AS ON INSERT TO t DO ALSO (INSERT INTO a VALUES (1); INSERT INTO b VALUES (2))",
            "SELECT 1",
        ]);
        assert_eq!(
            parts("/*+ SeqScan(t) */ SELECT 1"),
            ["/*+ SeqScan(t) */ SELECT 1"]
        );
        assert_eq!(
            parts("SELECT E'\\';'; SELECT 2"),
            ["SELECT E'\\';'", "SELECT 2"]
        );
    }

    #[test]
    fn begin_atomic_bodies_do_not_split() {
        let sql = "CREATE FUNCTION f(a int) RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT a + 1; SELECT CASE WHEN a > 0 THEN 1 ELSE 2 END; END; SELECT f(1)";
        assert_eq!(parts(sql), [
            "CREATE FUNCTION f(a int) RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT a + 1; SELECT CASE WHEN a > 0 THEN 1 ELSE 2 END; END",
            "SELECT f(1)",
        ]);
        let sql =
            "create or replace procedure p() begin atomic insert into t values (1); end; call p()";
        assert_eq!(parts(sql).len(), 2);
        // BEGIN as a transaction statement is not a body.
        assert_eq!(
            parts("BEGIN; CREATE TABLE t (a int); END;"),
            ["BEGIN", "CREATE TABLE t (a int)", "END"]
        );
        assert_eq!(
            parts("CREATE FUNCTION f() RETURNS int AS $$ BEGIN; $$ LANGUAGE sql; SELECT 1").len(),
            2
        );
    }

    #[test]
    fn reports_lexical_errors_once() {
        let out: Vec<_> = split("SELECT 1; SELECT 'x").collect();
        assert_eq!(out.len(), 2);
        assert!(out[0].is_ok());
        assert_eq!(out[1].unwrap_err().position(), 17);
    }
}
