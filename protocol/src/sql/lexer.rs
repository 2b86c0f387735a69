//! A zero-allocation lexer for PostgreSQL SQL text, following `src/backend/parser/scan.l`.
//!
//! Every byte of the input belongs to exactly one token, whitespace and comments included, so
//! consecutive token spans tile the text. Token boundaries always fall on ASCII bytes (bytes
//! `0x80..` are identifier characters, as in PostgreSQL), so every span is valid UTF-8.
//!
//! Differences from the server's lexer, none of which changes statement boundaries:
//! - `123abc` lexes as a number then an identifier (PostgreSQL 15 and older; 16 rejects it).
//! - Adjacent string literals separated by a newline stay separate tokens.

use std::iter::FusedIterator;

use super::{Span, SqlError, SqlErrorKind, SqlOptions};

/// What a [`Token`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TokenKind {
    /// Spaces, tabs, newlines, carriage returns, form and vertical feeds.
    Whitespace,
    /// `-- …` up to (not including) the end of the line.
    LineComment,
    /// `/* … */`, nested comments included.
    BlockComment,
    /// An identifier or keyword: `[A-Za-z_\x80-\xff][A-Za-z_0-9$\x80-\xff]*`.
    Ident,
    /// `"…"` with `""` standing for one quote.
    QuotedIdent,
    /// `U&"…"`.
    UnicodeIdent,
    /// A string constant.
    String(StringKind),
    /// An integer: decimal, or `0x`/`0o`/`0b` with optional `_` separators (PostgreSQL 16).
    Integer,
    /// A number with a decimal point or an exponent.
    Numeric,
    /// A positional parameter: `$1`.
    Param,
    /// An operator: `+`, `=`, `<>`, `->>`, `@@`… (PostgreSQL's trailing `+`/`-` rule applied).
    Operator,
    /// `::`.
    TypeCast,
    /// `:=`.
    ColonEquals,
    /// `:` (array slices).
    Colon,
    /// `(`.
    LParen,
    /// `)`.
    RParen,
    /// `[`.
    LBracket,
    /// `]`.
    RBracket,
    /// `,`.
    Comma,
    /// `;`.
    Semicolon,
    /// `.`.
    Dot,
    /// `..` (PL/pgSQL ranges).
    DotDot,
    /// Any other single byte (`\`, `{`, a lone `$`…); the server's grammar would reject it.
    Other,
}

/// The flavours of string constant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum StringKind {
    /// `'…'` with `''` doubling.
    Standard,
    /// `E'…'` with backslash escapes.
    Escape,
    /// `N'…'`.
    National,
    /// `B'…'`.
    Bit,
    /// `X'…'`.
    Hex,
    /// `U&'…'`.
    Unicode,
    /// `$tag$…$tag$` (the tag may be empty).
    Dollar,
}

/// One token: what it is and where it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Token {
    /// What the token is.
    pub kind: TokenKind,
    /// Where it is in the text.
    pub span: Span,
}

impl Token {
    /// Whether the token is whitespace or a comment.
    pub fn is_trivia(&self) -> bool {
        matches!(
            self.kind,
            TokenKind::Whitespace | TokenKind::LineComment | TokenKind::BlockComment
        )
    }

    /// The token's text in `sql` (the text it was lexed from).
    pub fn text(self, sql: &str) -> &str {
        self.span.text(sql)
    }
}

/// An iterator over the tokens of SQL text.
///
/// It yields `Err` once, for the first unterminated construct, and then stops.
#[derive(Debug, Clone)]
pub struct Lexer<'a> {
    bytes: &'a [u8],
    pos: usize,
    backslash_quotes: bool,
    done: bool,
}

impl<'a> Lexer<'a> {
    /// A lexer over `sql` with default options.
    pub fn new(sql: &'a str) -> Self {
        Self::with_options(sql, SqlOptions::default())
    }

    /// A lexer over `sql` reading it as `options` say.
    pub fn with_options(sql: &'a str, options: SqlOptions) -> Self {
        Lexer {
            bytes: sql.as_bytes(),
            pos: 0,
            backslash_quotes: !options.standard_conforming_strings,
            done: false,
        }
    }

    /// Byte offset of the next token.
    pub fn offset(&self) -> usize {
        self.pos
    }

    fn at(&self, i: usize) -> u8 {
        self.bytes.get(i).copied().unwrap_or(0)
    }

    fn lex(&mut self) -> Result<(TokenKind, usize), SqlError> {
        let p = self.pos;
        let b = self.bytes[p];
        let next = self.at(p + 1);
        let kind_end = match b {
            b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c => {
                (TokenKind::Whitespace, self.scan_while(p + 1, is_space))
            }
            b'-' if next == b'-' => {
                let end = memchr::memchr2(b'\n', b'\r', &self.bytes[p..]).map_or(self.bytes.len(), |i| p + i);
                (TokenKind::LineComment, end)
            }
            b'/' if next == b'*' => (TokenKind::BlockComment, self.block_comment(p)?),
            b'\'' => {
                let escapes = self.backslash_quotes;
                (TokenKind::String(StringKind::Standard), self.quoted(p, p, b'\'', escapes)?)
            }
            b'"' => (TokenKind::QuotedIdent, self.quoted_ident(p, p)?),
            b'$' => self.dollar(p)?,
            b'0'..=b'9' => self.number(p),
            b'.' if next.is_ascii_digit() => self.number(p),
            b'.' if next == b'.' => (TokenKind::DotDot, p + 2),
            b'.' => (TokenKind::Dot, p + 1),
            b'(' => (TokenKind::LParen, p + 1),
            b')' => (TokenKind::RParen, p + 1),
            b'[' => (TokenKind::LBracket, p + 1),
            b']' => (TokenKind::RBracket, p + 1),
            b',' => (TokenKind::Comma, p + 1),
            b';' => (TokenKind::Semicolon, p + 1),
            b':' if next == b':' => (TokenKind::TypeCast, p + 2),
            b':' if next == b'=' => (TokenKind::ColonEquals, p + 2),
            b':' => (TokenKind::Colon, p + 1),
            b'e' | b'E' if next == b'\'' => {
                (TokenKind::String(StringKind::Escape), self.quoted(p, p + 1, b'\'', true)?)
            }
            b'n' | b'N' if next == b'\'' => {
                let escapes = self.backslash_quotes;
                (TokenKind::String(StringKind::National), self.quoted(p, p + 1, b'\'', escapes)?)
            }
            b'b' | b'B' if next == b'\'' => (TokenKind::String(StringKind::Bit), self.bit_string(p, SqlErrorKind::UnterminatedBitString)?),
            b'x' | b'X' if next == b'\'' => (TokenKind::String(StringKind::Hex), self.bit_string(p, SqlErrorKind::UnterminatedHexString)?),
            b'u' | b'U' if next == b'&' && self.at(p + 2) == b'\'' => {
                (TokenKind::String(StringKind::Unicode), self.quoted(p, p + 2, b'\'', false)?)
            }
            b'u' | b'U' if next == b'&' && self.at(p + 2) == b'"' => {
                (TokenKind::UnicodeIdent, self.quoted_ident(p, p + 2)?)
            }
            _ if is_ident_start(b) => (TokenKind::Ident, self.scan_while(p + 1, is_ident_cont)),
            _ if is_op_char(b) => (TokenKind::Operator, self.operator(p)),
            _ => (TokenKind::Other, p + 1),
        };
        Ok(kind_end)
    }

    fn scan_while(&self, mut i: usize, pred: fn(u8) -> bool) -> usize {
        while i < self.bytes.len() && pred(self.bytes[i]) {
            i += 1;
        }
        i
    }

    /// A nested `/* */` comment starting at `p`; returns its end.
    fn block_comment(&self, p: usize) -> Result<usize, SqlError> {
        let mut depth = 1u32;
        let mut i = p + 2;
        loop {
            let rest = self.bytes.get(i..).unwrap_or_default();
            let Some(off) = memchr::memchr2(b'*', b'/', rest) else {
                return Err(SqlError::new(SqlErrorKind::UnterminatedBlockComment, p));
            };
            let j = i + off;
            let after = self.at(j + 1);
            if self.bytes[j] == b'*' && after == b'/' {
                depth -= 1;
                i = j + 2;
                if depth == 0 {
                    return Ok(i);
                }
            } else if self.bytes[j] == b'/' && after == b'*' {
                depth = depth.saturating_add(1);
                i = j + 2;
            } else {
                i = j + 1;
            }
        }
    }

    /// A quoted literal whose opening `quote` is at `open` and whose token starts at `start`.
    /// `''` always stands for one quote; with `escapes`, a backslash escapes the next byte.
    fn quoted(&self, start: usize, open: usize, quote: u8, escapes: bool) -> Result<usize, SqlError> {
        let mut i = open + 1;
        loop {
            let rest = self.bytes.get(i..).unwrap_or_default();
            let found = if escapes {
                memchr::memchr2(quote, b'\\', rest)
            } else {
                memchr::memchr(quote, rest)
            };
            let Some(off) = found else {
                let kind = if quote == b'"' {
                    SqlErrorKind::UnterminatedQuotedIdentifier
                } else {
                    SqlErrorKind::UnterminatedQuotedString
                };
                return Err(SqlError::new(kind, start));
            };
            let j = i + off;
            if self.bytes[j] == b'\\' {
                i = j + 2;
            } else if self.at(j + 1) == quote {
                i = j + 2;
            } else {
                return Ok(j + 1);
            }
        }
    }

    fn quoted_ident(&self, start: usize, open: usize) -> Result<usize, SqlError> {
        let end = self.quoted(start, open, b'"', false)?;
        if end == open + 2 {
            return Err(SqlError::new(SqlErrorKind::ZeroLengthIdentifier, start));
        }
        Ok(end)
    }

    /// `B'…'` / `X'…'`: no doubling, no escapes.
    fn bit_string(&self, p: usize, unterminated: SqlErrorKind) -> Result<usize, SqlError> {
        match memchr::memchr(b'\'', &self.bytes[p + 2..]) {
            Some(off) => Ok(p + 2 + off + 1),
            None => Err(SqlError::new(unterminated, p)),
        }
    }

    /// `$1`, `$tag$…$tag$`, or a lone `$`.
    fn dollar(&self, p: usize) -> Result<(TokenKind, usize), SqlError> {
        let next = self.at(p + 1);
        if next.is_ascii_digit() {
            return Ok((TokenKind::Param, self.scan_while(p + 1, |b| b.is_ascii_digit())));
        }
        let tag_end = if next == b'$' {
            p + 1
        } else if is_ident_start(next) {
            self.scan_while(p + 2, is_dollar_tag_cont)
        } else {
            return Ok((TokenKind::Other, p + 1));
        };
        if self.at(tag_end) != b'$' {
            return Ok((TokenKind::Other, p + 1));
        }
        let delimiter = &self.bytes[p..=tag_end];
        match memchr::memmem::find(&self.bytes[tag_end + 1..], delimiter) {
            Some(off) => Ok((TokenKind::String(StringKind::Dollar), tag_end + 1 + off + delimiter.len())),
            None => Err(SqlError::new(SqlErrorKind::UnterminatedDollarQuote, p)),
        }
    }

    /// A number starting at `p` (a digit, or `.` followed by a digit).
    fn number(&self, p: usize) -> (TokenKind, usize) {
        if self.bytes[p] == b'0' {
            let digit: Option<fn(u8) -> bool> = match self.at(p + 1) {
                b'x' | b'X' => Some(|b| b.is_ascii_hexdigit()),
                b'o' | b'O' => Some(|b| matches!(b, b'0'..=b'7')),
                b'b' | b'B' => Some(|b| matches!(b, b'0' | b'1')),
                _ => None,
            };
            if let Some(digit) = digit {
                // One underscore may follow the base prefix: 0x_1F.
                let mut start = p + 2;
                if self.at(start) == b'_' && digit(self.at(start + 1)) {
                    start += 1;
                }
                let end = self.digits(start, digit);
                if end > start {
                    return (TokenKind::Integer, end);
                }
            }
        }
        let mut kind = TokenKind::Integer;
        let mut i = self.digits(p, |b| b.is_ascii_digit());
        if self.at(i) == b'.' && self.at(i + 1) != b'.' {
            kind = TokenKind::Numeric;
            i = self.digits(i + 1, |b| b.is_ascii_digit());
        }
        if matches!(self.at(i), b'e' | b'E') {
            let mut j = i + 1;
            if matches!(self.at(j), b'+' | b'-') {
                j += 1;
            }
            if self.at(j).is_ascii_digit() {
                kind = TokenKind::Numeric;
                i = self.digits(j, |b| b.is_ascii_digit());
            }
        }
        (kind, i)
    }

    /// `digit(_?digit)*` starting at `i`, or `i` itself if there is no digit there.
    fn digits(&self, mut i: usize, digit: fn(u8) -> bool) -> usize {
        if !digit(self.at(i)) {
            return i;
        }
        i += 1;
        loop {
            let b = self.at(i);
            if digit(b) {
                i += 1;
            } else if b == b'_' && digit(self.at(i + 1)) {
                i += 2;
            } else {
                return i;
            }
        }
    }

    /// An operator run starting at `p`, cut PostgreSQL's way.
    fn operator(&self, p: usize) -> usize {
        let mut i = p + 1;
        while i < self.bytes.len() && is_op_char(self.bytes[i]) {
            let pair = (self.bytes[i], self.at(i + 1));
            if pair == (b'-', b'-') || pair == (b'/', b'*') {
                break;
            }
            i += 1;
        }
        let run = &self.bytes[p..i];
        let mut n = run.len();
        if n > 1 && matches!(run[n - 1], b'+' | b'-') {
            let non_standard = run[..n - 1]
                .iter()
                .any(|c| matches!(c, b'~' | b'!' | b'@' | b'#' | b'^' | b'&' | b'|' | b'`' | b'?' | b'%'));
            if !non_standard {
                while n > 1 && matches!(run[n - 1], b'+' | b'-') {
                    n -= 1;
                }
            }
        }
        p + n
    }
}

impl Iterator for Lexer<'_> {
    type Item = Result<Token, SqlError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done || self.pos >= self.bytes.len() {
            return None;
        }
        if self.pos == 0 && u32::try_from(self.bytes.len()).is_err() {
            self.done = true;
            return Some(Err(SqlError::new(SqlErrorKind::TooLong, 0)));
        }
        match self.lex() {
            Ok((kind, end)) => {
                // Both offsets fit in u32: the length was checked above.
                let span = Span::new(self.pos as u32, end as u32);
                self.pos = end;
                Some(Ok(Token { kind, span }))
            }
            Err(e) => {
                self.done = true;
                Some(Err(e))
            }
        }
    }
}

impl FusedIterator for Lexer<'_> {}

fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c)
}

pub(crate) fn is_ident_start(b: u8) -> bool {
    b.is_ascii_alphabetic() || b == b'_' || b >= 0x80
}

fn is_ident_cont(b: u8) -> bool {
    is_ident_start(b) || b.is_ascii_digit() || b == b'$'
}

fn is_dollar_tag_cont(b: u8) -> bool {
    is_ident_start(b) || b.is_ascii_digit()
}

fn is_op_char(b: u8) -> bool {
    matches!(
        b,
        b'~' | b'!' | b'@' | b'#' | b'^' | b'&' | b'|' | b'`' | b'?' | b'+' | b'-' | b'*' | b'/' | b'%' | b'<' | b'>' | b'='
    )
}

#[cfg(test)]
mod tests {
    use super::*;

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
        assert_eq!(kinds("a+-b"), vec![(Ident, "a"), (Operator, "+"), (Operator, "-"), (Ident, "b")]);
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
        assert_eq!(kinds("a*/*c*/b"), vec![(Ident, "a"), (Operator, "*"), (BlockComment, "/*c*/"), (Ident, "b")]);
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
        assert_eq!(kinds("U&'d\\0061t' U&\"d\"\"x\"")[1], (UnicodeIdent, "U&\"d\"\"x\""));
        assert_eq!(kinds("\"a\"\"b\".c"), vec![(QuotedIdent, "\"a\"\"b\""), (Dot, "."), (Ident, "c")]);
        assert_eq!(kinds("$$a;b$$"), vec![(String(Dollar), "$$a;b$$")]);
        assert_eq!(kinds("$f$ $$ $g$ $f$"), vec![(String(Dollar), "$f$ $$ $g$ $f$")]);
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
        assert_eq!(kinds("1 1.5 .5 1e10 1.e-3 2E+4"), vec![
            (Integer, "1"), (Numeric, "1.5"), (Numeric, ".5"), (Numeric, "1e10"), (Numeric, "1.e-3"), (Numeric, "2E+4"),
        ]);
        assert_eq!(kinds("0x1F 0o17 0b101 1_000_000 0x_FF"), vec![
            (Integer, "0x1F"), (Integer, "0o17"), (Integer, "0b101"), (Integer, "1_000_000"), (Integer, "0x_FF"),
        ]);
        assert_eq!(kinds("1..2"), vec![(Integer, "1"), (DotDot, ".."), (Integer, "2")]);
        assert_eq!(kinds("1e"), vec![(Integer, "1"), (Ident, "e")]);
        assert_eq!(kinds("0x"), vec![(Integer, "0"), (Ident, "x")]);
    }

    #[test]
    fn comments_nest() {
        use TokenKind::*;
        assert_eq!(kinds("/* a /* b */ c */x"), vec![(BlockComment, "/* a /* b */ c */"), (Ident, "x")]);
        assert_eq!(kinds("/**/x"), vec![(BlockComment, "/**/"), (Ident, "x")]);
        assert_eq!(kinds("-- x\r\ny"), vec![(LineComment, "-- x"), (Ident, "y")]);
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
}
