//! Unit tests of the lexer: token kinds, PostgreSQL's operator rules, literals, errors.

use super::lexer::*;
use super::{SqlErrorKind, SqlOptions};

fn kinds(sql: &str) -> Vec<(TokenKind, &str)> {
    Lexer::new(sql)
        .map(|t| t.unwrap())
        .filter(|t| t.kind != TokenKind::Whitespace)
        .map(|t| (t.kind, t.text(sql)))
        .collect()
}

fn err(sql: &str) -> (SqlErrorKind, u32) {
    let e = Lexer::new(sql).find_map(|t| t.err()).expect("an error");
    (e.kind(), e.position())
}

#[test]
fn operators_follow_postgres_rules() {
    use TokenKind::*;
    assert_eq!(
        kinds("a+-b"),
        vec![(Ident, "a"), (Operator, "+"), (Operator, "-"), (Ident, "b")]
    );
    assert_eq!(kinds("a@-b")[1], (Operator, "@-"));
    assert_eq!(kinds("a<=b")[1], (Operator, "<="));
    assert_eq!(kinds("a<>b")[1], (Operator, "<>"));
    assert_eq!(kinds("a!=b")[1], (Operator, "!="));
    assert_eq!(kinds("f(a=>1)")[3], (Operator, "=>"));
    assert_eq!(kinds("a::int")[1], (TypeCast, "::"));
    assert_eq!(kinds("x:=1")[1], (ColonEquals, ":="));
    assert_eq!(kinds("a[1:2]")[3], (Colon, ":"));
    assert_eq!(kinds("a||b")[1], (Operator, "||"));
    assert_eq!(kinds("j->>'k'")[1], (Operator, "->>"));
    assert_eq!(
        kinds("a*/*c*/b"),
        vec![
            (Ident, "a"),
            (Operator, "*"),
            (BlockComment, "/*c*/"),
            (Ident, "b")
        ]
    );
    assert_eq!(kinds("1--c\n"), vec![(Integer, "1"), (LineComment, "--c")]);
    assert_eq!(kinds("a=-1")[1], (Operator, "="));
}

#[test]
fn strings_and_identifiers() {
    use StringKind::*;
    use TokenKind::*;
    assert_eq!(kinds("'it''s'"), vec![(String(Standard), "'it''s'")]);
    assert_eq!(kinds(r"E'it\'s\\'"), vec![(String(Escape), r"E'it\'s\\'")]);
    assert_eq!(kinds("B'0101' X'1F' N'x'")[1], (String(Hex), "X'1F'"));
    assert_eq!(
        kinds("U&'d\\0061t' U&\"d\"\"x\"")[1],
        (UnicodeIdent, "U&\"d\"\"x\"")
    );
    assert_eq!(
        kinds("\"a\"\"b\".c"),
        vec![(QuotedIdent, "\"a\"\"b\""), (Dot, "."), (Ident, "c")]
    );
    assert_eq!(kinds("$$a;b$$"), vec![(String(Dollar), "$$a;b$$")]);
    assert_eq!(
        kinds("$f$ $$ $g$ $f$"),
        vec![(String(Dollar), "$f$ $$ $g$ $f$")]
    );
    assert_eq!(kinds("$1 $12"), vec![(Param, "$1"), (Param, "$12")]);
    assert_eq!(kinds("a$b$$c"), vec![(Ident, "a$b$$c")]);
    assert_eq!(kinds("таблица_1"), vec![(Ident, "таблица_1")]);
    assert_eq!(kinds("$ x"), vec![(Other, "$"), (Ident, "x")]);
    assert_eq!(kinds("e 'x'")[0], (Ident, "e"));
    let scs_off = SqlOptions::default().standard_conforming_strings(false);
    let toks: Vec<_> = Lexer::with_options(r"'a\'b'", scs_off).collect();
    assert_eq!(toks.len(), 1);
}

#[test]
fn numbers() {
    use TokenKind::*;
    assert_eq!(
        kinds("1 1.5 .5 1e10 1.e-3 2E+4"),
        vec![
            (Integer, "1"),
            (Numeric, "1.5"),
            (Numeric, ".5"),
            (Numeric, "1e10"),
            (Numeric, "1.e-3"),
            (Numeric, "2E+4"),
        ]
    );
    assert_eq!(
        kinds("0x1F 0o17 0b101 1_000_000 0x_FF"),
        vec![
            (Integer, "0x1F"),
            (Integer, "0o17"),
            (Integer, "0b101"),
            (Integer, "1_000_000"),
            (Integer, "0x_FF"),
        ]
    );
    assert_eq!(
        kinds("1..2"),
        vec![(Integer, "1"), (DotDot, ".."), (Integer, "2")]
    );
    assert_eq!(kinds("1e"), vec![(Integer, "1"), (Ident, "e")]);
    assert_eq!(kinds("0x"), vec![(Integer, "0"), (Ident, "x")]);
}

#[test]
fn comments_nest() {
    use TokenKind::*;
    assert_eq!(
        kinds("/* a /* b */ c */x"),
        vec![(BlockComment, "/* a /* b */ c */"), (Ident, "x")]
    );
    assert_eq!(kinds("/**/x"), vec![(BlockComment, "/**/"), (Ident, "x")]);
    assert_eq!(
        kinds("-- x\r\ny"),
        vec![(LineComment, "-- x"), (Ident, "y")]
    );
}

#[test]
fn unterminated_constructs_report_their_start() {
    use SqlErrorKind::*;
    assert_eq!(err("SELECT 'abc"), (UnterminatedQuotedString, 7));
    assert_eq!(err("SELECT E'abc\\'"), (UnterminatedQuotedString, 7));
    assert_eq!(err("x /* /* */"), (UnterminatedBlockComment, 2));
    assert_eq!(err("SELECT $a$ x $b$"), (UnterminatedDollarQuote, 7));
    assert_eq!(err("SELECT \"abc"), (UnterminatedQuotedIdentifier, 7));
    assert_eq!(err("SELECT B'01"), (UnterminatedBitString, 7));
    assert_eq!(err("SELECT x'01"), (UnterminatedHexString, 7));
    assert_eq!(err("SELECT \"\""), (ZeroLengthIdentifier, 7));
    assert_eq!(err("SELECT U&'x"), (UnterminatedQuotedString, 7));
    assert_eq!(err("E'\\"), (UnterminatedQuotedString, 0));
}
