//! Property tests: no input panics, lexer spans tile the text, splitting covers every statement token.

use proptest::prelude::*;

use super::ident::{name_parts, Ident};
use super::keywords::Kw;
use super::*;

/// Pieces that exercise every lexer state and the classifier's keywords when glued together.
const FRAGMENTS: &[&str] = &[
    " ",
    "\n",
    "\t",
    "'",
    "''",
    "\"",
    "\"\"",
    "$$",
    "$a$",
    "$1",
    "$",
    "/*",
    "*/",
    "--",
    "-",
    "+",
    "*",
    "/",
    ";",
    "(",
    ")",
    "[",
    "]",
    ",",
    ".",
    "..",
    ":",
    "::",
    ":=",
    "=",
    "<>",
    "!=",
    "@",
    "~",
    "%",
    "E'",
    "e'",
    "\\",
    "\\'",
    "B'",
    "X'",
    "N'",
    "U&'",
    "U&\"",
    "0x1F",
    "1_000",
    "1.5e3",
    ".5",
    "1",
    "x",
    "t",
    "s.t",
    "SELECT",
    "select",
    "FROM",
    "WHERE",
    "WITH",
    "RECURSIVE",
    "AS",
    "MATERIALIZED",
    "NOT",
    "INSERT",
    "INTO",
    "UPDATE",
    "SET",
    "DELETE",
    "MERGE",
    "USING",
    "ON",
    "JOIN",
    "LEFT",
    "LATERAL",
    "ONLY",
    "VALUES",
    "TABLE",
    "FOR",
    "SHARE",
    "KEY",
    "NO",
    "BEGIN",
    "ATOMIC",
    "END",
    "CASE",
    "CREATE",
    "OR",
    "REPLACE",
    "FUNCTION",
    "PROCEDURE",
    "TEMP",
    "UNLOGGED",
    "COPY",
    "TO",
    "STDIN",
    "PREPARE",
    "EXPLAIN",
    "ANALYZE",
    "LOCK",
    "IN",
    "MODE",
    "TRANSACTION",
    "ISOLATION",
    "LEVEL",
    "SERIALIZABLE",
    "READ",
    "ONLY",
    "EXECUTE",
    "nextval",
    "count",
    "coalesce",
    "é",
    "таблица",
    "\u{1F600}",
    "DISTINCT",
    "ROWS",
    "TABLESAMPLE",
    "DO",
    "CALL",
];

/// Keyword spellings in mixed case, near-misses and bytes that fold onto letters under `| 0x20`.
const KEYWORDISH: &[&str] = &[
    "select",
    "SELECT",
    "SeLeCt",
    "current_timestamp",
    "CURRENT_TIMESTAMP",
    "from",
    "FROM_",
    "_",
    "a",
    "Z",
    "\u{7f}",
    "@",
    "`",
    "[",
    "{",
    "0",
    "$",
    "é",
    "\u{c0}",
    " ",
    "json_objectagg",
    "in",
    "x",
    "characteristics",
    "serializable",
    "t",
    "e",
    "nd",
    "END",
];

fn sqlish() -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(FRAGMENTS), 0..48).prop_map(|parts| parts.concat())
}

fn any_text() -> impl Strategy<Value = String> {
    prop_oneof![sqlish(), any::<String>(), "[ -~]{0,64}"]
}

/// Lexes `sql`, checking that tokens tile it from 0 up to the end or to the error position.
fn check_tiling(sql: &str) -> Result<(), TestCaseError> {
    let mut at = 0u32;
    for token in Lexer::new(sql) {
        match token {
            Ok(t) => {
                prop_assert_eq!(t.span.start, at, "gap or overlap in {:?}", sql);
                prop_assert!(t.span.end > t.span.start);
                prop_assert!(
                    sql.get(t.span.range()).is_some(),
                    "span off a char boundary"
                );
                at = t.span.end;
            }
            Err(e) => {
                prop_assert_eq!(
                    e.position(),
                    at,
                    "error not at the failing token in {:?}",
                    sql
                );
                return Ok(());
            }
        }
    }
    prop_assert_eq!(at as usize, sql.len());
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2048))]

    #[test]
    fn lexer_spans_tile_the_input(sql in any_text()) {
        check_tiling(&sql)?;
    }

    #[test]
    fn classify_never_panics_and_spans_stay_inside(sql in any_text(), scs in any::<bool>()) {
        let options = SqlOptions::default().standard_conforming_strings(scs);
        if let Ok(c) = classify_with(&sql, options) {
            let inside = |s: Span| s.end as usize <= sql.len() && s.start <= s.end && sql.get(s.range()).is_some();
            prop_assert!(inside(c.span));
            for f in &c.functions {
                prop_assert!(inside(*f) && !f.is_empty());
            }
            for r in &c.relations {
                prop_assert!(inside(r.name) && !r.name.is_empty());
                prop_assert!(name_parts(r.name.text(&sql)).count() >= 1);
            }
            let _ = c.is_read_only();
        }
    }

    #[test]
    fn split_covers_every_statement_token(sql in any_text()) {
        let mut spans = Vec::new();
        let mut failed = false;
        for part in split(&sql) {
            match part {
                Ok(span) => spans.push(span),
                Err(_) => failed = true,
            }
        }
        // Spans are ordered, disjoint, and start at a token.
        for pair in spans.windows(2) {
            prop_assert!(pair[0].end <= pair[1].start);
        }
        for span in &spans {
            let text = span.text(&sql);
            let pg_space = |c: char| matches!(c, ' ' | '\t' | '\n' | '\r' | '\x0b' | '\x0c');
            // The end may be a `-- comment  ` whose trailing spaces belong to the comment.
            prop_assert!(!text.is_empty() && !text.starts_with(pg_space));
            prop_assert!(!text.ends_with(pg_space) || text.contains("--"));
        }
        if failed {
            return Ok(());
        }
        // Every token outside comments and whitespace lies in a span, except the `;` between them.
        for token in Lexer::new(&sql).map(Result::unwrap).filter(|t| !t.is_trivia()) {
            let covered = spans.iter().any(|s| s.start <= token.span.start && token.span.end <= s.end);
            prop_assert!(covered || token.kind == TokenKind::Semicolon, "{:?} not covered in {:?}", token, sql);
        }
        // The classifier agrees on statement boundaries.
        let c = classify(&sql).expect("split found no lexical error");
        prop_assert_eq!(c.multi_statement, spans.len() > 1);
        prop_assert_eq!(c.kind == StatementKind::Empty, spans.is_empty());
        if let Some(first) = spans.first() {
            prop_assert!(first.start <= c.span.start && c.span.end <= first.end);
        }
        // Each statement classifies on its own.
        for span in &spans {
            prop_assert!(classify(span.text(&sql)).is_ok());
        }
    }

    #[test]
    fn keyword_lookup_matches_a_naive_scan(
        text in prop::collection::vec(prop::sample::select(KEYWORDISH), 0..12).prop_map(|p| p.concat()),
        start in 0usize..64,
        len in 0usize..24,
    ) {
        let bytes = text.as_bytes();
        let start = start.min(bytes.len());
        let len = len.min(bytes.len() - start);
        let want = Kw::lookup_naive(&bytes[start..start + len]);
        prop_assert_eq!(Kw::lookup_in(bytes, start, len), want);
    }

    #[test]
    fn ident_helpers_never_panic(text in any_text(), other in "[a-z_\"]{0,8}") {
        for part in name_parts(&text) {
            let _ = (part.normalized(), part.matches(&other), part.starts_with("pg_"), part.is_quoted());
        }
        let ident = Ident::new(&text);
        let _ = (ident.normalized(), ident.matches(&other));
    }
}
