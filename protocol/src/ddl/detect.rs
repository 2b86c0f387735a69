//! The cheap first look: is this statement one of the three enhanced forms at all?
//!
//! Runs on every statement the proxy sees, so it streams tokens (no allocation) and gives up
//! as early as it can: after one token for anything not starting with `CREATE` or `DROP`,
//! after three for any other `CREATE`/`DROP` than a table's. Only a statement that carries an
//! enhanced clause goes on to the parser.

use crate::sql::{
    contains_ignore_case, may_hold_several, split, Lexer, SqlOptions, Token, TokenKind,
};

/// Which enhanced form a statement has the shape of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Form {
    /// `CREATE … TABLE … PARTITION BY s (key) (` — a partition list follows the key.
    CreatePartitioned,
    /// `CREATE FOREIGN TABLE … WITH PUSHDOWN …`.
    CreateForeign,
    /// `DROP [FOREIGN] TABLE … INCLUDE REMOTE …`.
    DropRemote,
}

/// Significant tokens of the first statement; stops at a top-level `;` or a lexical error.
struct Scan<'a> {
    sql: &'a str,
    lexer: Lexer<'a>,
    depth: usize,
}

impl Scan<'_> {
    fn next(&mut self) -> Option<Token> {
        loop {
            let token = self.lexer.next()?.ok()?;
            match token.kind {
                _ if token.is_trivia() => continue,
                TokenKind::Semicolon if self.depth == 0 => return None,
                TokenKind::LParen | TokenKind::LBracket => self.depth += 1,
                TokenKind::RParen | TokenKind::RBracket => {
                    self.depth = self.depth.saturating_sub(1);
                }
                _ => {}
            }
            return Some(token);
        }
    }

    fn is(&self, token: Token, word: &str) -> bool {
        token.kind == TokenKind::Ident && token.text(self.sql).eq_ignore_ascii_case(word)
    }

    /// Whether `first` then `second` occur as consecutive top-level words.
    fn find_pair(&mut self, first: &str, second: &str) -> bool {
        let mut previous_matched = false;
        while let Some(token) = self.next() {
            let top = self.depth == 0;
            if previous_matched && top && self.is(token, second) {
                return true;
            }
            previous_matched = top && self.is(token, first);
        }
        false
    }
}

/// Says which enhanced form `sql` has the shape of, or `None` for everything else (including
/// text with a lexical error: PostgreSQL will report that itself).
pub(crate) fn detect(sql: &str, options: SqlOptions) -> Option<Form> {
    let mut scan = Scan {
        sql,
        lexer: Lexer::with_options(sql, options),
        depth: 0,
    };
    let first = scan.next()?;
    if scan.is(first, "drop") {
        let mut token = scan.next()?;
        if scan.is(token, "foreign") {
            token = scan.next()?;
        }
        return (scan.is(token, "table") && scan.find_pair("include", "remote"))
            .then_some(Form::DropRemote);
    }
    if !scan.is(first, "create") {
        return None;
    }
    let mut token = scan.next()?;
    if scan.is(token, "foreign") {
        let table = scan.next()?;
        return (scan.is(table, "table") && scan.find_pair("with", "pushdown"))
            .then_some(Form::CreateForeign);
    }
    if scan.is(token, "global") || scan.is(token, "local") {
        token = scan.next()?;
    }
    if ["temp", "temporary", "unlogged"]
        .iter()
        .any(|w| scan.is(token, w))
    {
        token = scan.next()?;
    }
    if !scan.is(token, "table") || !scan.find_pair("partition", "by") {
        return None;
    }
    // The strategy, the key list, then `(`: the inline partition list.
    scan.next()?;
    let open = scan.next()?;
    if open.kind != TokenKind::LParen {
        return None;
    }
    while scan.depth > 0 {
        scan.next()?;
    }
    let list = scan.next()?;
    (list.kind == TokenKind::LParen).then_some(Form::CreatePartitioned)
}

/// Whether `sql` is one of the enhanced forms, or malformed in a way [`super::parse`] should
/// answer: exactly when `parse` would not return `Ok(None)`, at the cost of the first look.
pub fn is_enhanced(sql: &str) -> bool {
    detect(sql, SqlOptions::default()).is_some()
}

/// Whether a query string of several statements holds an enhanced one. The proxy runs
/// enhanced statements itself, one per query, so such a string is refused rather than sent to
/// a server that would call the enhanced syntax an error somewhere in the middle. Strings
/// without text after their first `;`, or without `CREATE`/`DROP`, are passed over without
/// lexing; a lexical error leaves the string to the server, which reports it.
pub fn among_other_statements(sql: &str) -> bool {
    let bytes = sql.as_bytes();
    if !may_hold_several(bytes)
        || !(contains_ignore_case(bytes, b"create") || contains_ignore_case(bytes, b"drop"))
    {
        return false;
    }
    let mut statements = 0;
    let mut enhanced = false;
    for span in split(sql) {
        let Ok(span) = span else {
            return false;
        };
        statements += 1;
        enhanced |= is_enhanced(span.text(sql));
    }
    statements > 1 && enhanced
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(sql: &str) -> Option<Form> {
        detect(sql, SqlOptions::default())
    }

    #[test]
    fn shapes() {
        use Form::*;
        let p = "CREATE TABLE t (a int) PARTITION BY RANGE (a) (PARTITION p DEFAULT)";
        assert_eq!(form(p), Some(CreatePartitioned));
        assert_eq!(
            form("create global temp table t (a int) partition by list(a) ("),
            Some(CreatePartitioned)
        );
        assert_eq!(form("CREATE TABLE t (a int) PARTITION BY RANGE (a)"), None);
        assert_eq!(
            form("CREATE TABLE t (a int) PARTITION BY RANGE (a); (PARTITION"),
            None
        );
        assert_eq!(
            form("CREATE TABLE p PARTITION OF t FOR VALUES IN (1)"),
            None
        );
        assert_eq!(
            form("CREATE FOREIGN TABLE f (a int) SERVER s WITH PUSHDOWN"),
            Some(CreateForeign)
        );
        assert_eq!(form("CREATE FOREIGN TABLE f (a int) SERVER s"), None);
        assert_eq!(
            form("CREATE FOREIGN TABLE f (\"with\" int, pushdown int) SERVER s"),
            None
        );
        assert_eq!(form("DROP TABLE t INCLUDE REMOTE"), Some(DropRemote));
        assert_eq!(
            form("/* c */ drop foreign table t cascade include remote;"),
            Some(DropRemote)
        );
        assert_eq!(form("DROP TABLE include, remote"), None);
        assert_eq!(form("DROP VIEW v INCLUDE REMOTE"), None);
        assert_eq!(form("SELECT 'DROP TABLE t INCLUDE REMOTE'"), None);
        assert_eq!(form("DROP TABLE t; DROP TABLE u INCLUDE REMOTE"), None);
        assert_eq!(form("DROP TABLE 'x"), None);
        assert_eq!(form(""), None);
    }

    #[test]
    fn finds_enhanced_statements_among_others() {
        let enhanced = "CREATE TABLE t (a int) PARTITION BY RANGE (a) (PARTITION t1 DEFAULT)";
        let cases: &[(String, bool)] = &[
            (format!("BEGIN; {enhanced}; COMMIT"), true),
            (format!("{enhanced}; SELECT 1"), true),
            ("select 1;\ndrop table t include remote".to_owned(), true),
            // One statement, with or without its `;`: the usual enhanced path takes it.
            (enhanced.to_owned(), false),
            (format!("{enhanced};  ;\n"), false),
            // Several standard statements, whatever words their strings hold.
            ("CREATE TABLE a (x int); DROP TABLE a".to_owned(), false),
            (
                "SELECT 'PARTITION BY RANGE (a) (PARTITION x DEFAULT)'; SELECT 2".to_owned(),
                false,
            ),
            ("SELECT 1; SELECT 2".to_owned(), false),
            ("SELECT ';'".to_owned(), false),
            // A lexical error: left to the server, which reports it.
            (format!("{enhanced}; SELECT 'unterminated"), false),
        ];
        for (sql, expected) in cases {
            assert_eq!(super::among_other_statements(sql), *expected, "{sql}");
        }
    }

    #[test]
    fn enhanced_exactly_when_parse_does_not_pass_it_over() {
        for sql in [
            "CREATE TABLE t (a int) PARTITION BY RANGE (a) (PARTITION t1 DEFAULT)",
            "CREATE TABLE t (a int) PARTITION BY RANGE (a) (",
            "DROP TABLE t INCLUDE REMOTE",
            "DROP TABLE t",
            "SELECT 1",
            "",
        ] {
            let parsed = !matches!(crate::ddl::parse(sql), Ok(None));
            assert_eq!(super::is_enhanced(sql), parsed, "{sql}");
        }
    }
}
