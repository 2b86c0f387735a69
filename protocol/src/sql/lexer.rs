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

    /// Skips whitespace without producing a token (for callers that drop whitespace anyway).
    #[inline]
    pub(crate) fn skip_whitespace(&mut self) {
        self.pos = self.scan_while(self.pos, is_space);
    }

    #[inline]
    fn at(&self, i: usize) -> u8 {
        self.bytes.get(i).copied().unwrap_or(0)
    }

    fn lex(&mut self) -> Result<(TokenKind, usize), SqlError> {
        let p = self.pos;
        let b = self.bytes[p];
        let next = self.at(p + 1);
        Ok(match CLASS[usize::from(b)] {
            Class::Space => (TokenKind::Whitespace, self.scan_while(p + 1, is_space)),
            Class::Ident => (TokenKind::Ident, self.scan_while(p + 1, is_ident_cont)),
            Class::Prefix => self.prefixed(p, b, next)?,
            Class::Digit => self.number(p),
            Class::Quote => {
                let escapes = self.backslash_quotes;
                (
                    TokenKind::String(StringKind::Standard),
                    self.quoted(p, p, b'\'', escapes)?,
                )
            }
            Class::DoubleQuote => (TokenKind::QuotedIdent, self.quoted_ident(p, p)?),
            Class::Dollar => self.dollar(p)?,
            Class::Dot if next.is_ascii_digit() => self.number(p),
            Class::Dot if next == b'.' => (TokenKind::DotDot, p + 2),
            Class::Dot => (TokenKind::Dot, p + 1),
            Class::Colon if next == b':' => (TokenKind::TypeCast, p + 2),
            Class::Colon if next == b'=' => (TokenKind::ColonEquals, p + 2),
            Class::Colon => (TokenKind::Colon, p + 1),
            Class::Op if b == b'-' && next == b'-' => {
                let end = memchr::memchr2(b'\n', b'\r', &self.bytes[p..])
                    .map_or(self.bytes.len(), |i| p + i);
                (TokenKind::LineComment, end)
            }
            Class::Op if b == b'/' && next == b'*' => {
                (TokenKind::BlockComment, self.block_comment(p)?)
            }
            Class::Op => (TokenKind::Operator, self.operator(p)),
            Class::Punct(kind) => (kind, p + 1),
            Class::Other => (TokenKind::Other, p + 1),
        })
    }

    /// An identifier starting with `e`, `n`, `b`, `x` or `u`: maybe a prefixed string.
    fn prefixed(&self, p: usize, b: u8, next: u8) -> Result<(TokenKind, usize), SqlError> {
        let third = self.at(p + 2);
        Ok(match b | 0x20 {
            b'e' if next == b'\'' => (
                TokenKind::String(StringKind::Escape),
                self.quoted(p, p + 1, b'\'', true)?,
            ),
            b'n' if next == b'\'' => {
                let escapes = self.backslash_quotes;
                (
                    TokenKind::String(StringKind::National),
                    self.quoted(p, p + 1, b'\'', escapes)?,
                )
            }
            b'b' if next == b'\'' => (
                TokenKind::String(StringKind::Bit),
                self.bit_string(p, SqlErrorKind::UnterminatedBitString)?,
            ),
            b'x' if next == b'\'' => (
                TokenKind::String(StringKind::Hex),
                self.bit_string(p, SqlErrorKind::UnterminatedHexString)?,
            ),
            b'u' if next == b'&' && third == b'\'' => (
                TokenKind::String(StringKind::Unicode),
                self.quoted(p, p + 2, b'\'', false)?,
            ),
            b'u' if next == b'&' && third == b'"' => {
                (TokenKind::UnicodeIdent, self.quoted_ident(p, p + 2)?)
            }
            _ => (TokenKind::Ident, self.scan_while(p + 1, is_ident_cont)),
        })
    }

    #[inline]
    fn scan_while(&self, i: usize, pred: fn(u8) -> bool) -> usize {
        let rest = self.bytes.get(i..).unwrap_or_default();
        i + rest.iter().position(|&b| !pred(b)).unwrap_or(rest.len())
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
    fn quoted(
        &self,
        start: usize,
        open: usize,
        quote: u8,
        escapes: bool,
    ) -> Result<usize, SqlError> {
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
            // A backslash escapes the next byte; a doubled quote stands for one quote.
            if self.bytes[j] == b'\\' || self.at(j + 1) == quote {
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
            return Ok((
                TokenKind::Param,
                self.scan_while(p + 1, |b| b.is_ascii_digit()),
            ));
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
            Some(off) => Ok((
                TokenKind::String(StringKind::Dollar),
                tag_end + 1 + off + delimiter.len(),
            )),
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
            let non_standard = run[..n - 1].iter().any(|c| {
                matches!(
                    c,
                    b'~' | b'!' | b'@' | b'#' | b'^' | b'&' | b'|' | b'`' | b'?' | b'%'
                )
            });
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

    #[inline]
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

/// What a token starting with a given byte can be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Class {
    Space,
    Ident,
    /// `e`, `n`, `b`, `x`, `u` in either case: a string prefix or an identifier.
    Prefix,
    Digit,
    Quote,
    DoubleQuote,
    Dollar,
    Dot,
    Colon,
    Op,
    Punct(TokenKind),
    Other,
}

static CLASS: [Class; 256] = {
    let mut table = [Class::Other; 256];
    let mut b = 0;
    while b < 256 {
        let byte = b as u8;
        table[b] = match byte {
            b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c => Class::Space,
            b'e' | b'E' | b'n' | b'N' | b'b' | b'B' | b'x' | b'X' | b'u' | b'U' => Class::Prefix,
            b'a'..=b'z' | b'A'..=b'Z' | b'_' | 0x80..=0xff => Class::Ident,
            b'0'..=b'9' => Class::Digit,
            b'\'' => Class::Quote,
            b'"' => Class::DoubleQuote,
            b'$' => Class::Dollar,
            b'.' => Class::Dot,
            b':' => Class::Colon,
            b'(' => Class::Punct(TokenKind::LParen),
            b')' => Class::Punct(TokenKind::RParen),
            b'[' => Class::Punct(TokenKind::LBracket),
            b']' => Class::Punct(TokenKind::RBracket),
            b',' => Class::Punct(TokenKind::Comma),
            b';' => Class::Punct(TokenKind::Semicolon),
            _ if is_op_char(byte) => Class::Op,
            _ => Class::Other,
        };
        b += 1;
    }
    table
};

/// Bit 0: identifier continuation byte; bit 1: whitespace.
static BYTE_FLAGS: [u8; 256] = {
    let mut table = [0u8; 256];
    let mut b = 0;
    while b < 256 {
        let byte = b as u8;
        if byte.is_ascii_alphanumeric() || byte == b'_' || byte == b'$' || byte >= 0x80 {
            table[b] |= 1;
        }
        if matches!(byte, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c) {
            table[b] |= 2;
        }
        b += 1;
    }
    table
};

#[inline]
fn is_space(b: u8) -> bool {
    BYTE_FLAGS[usize::from(b)] & 2 != 0
}

pub(crate) fn is_ident_start(b: u8) -> bool {
    b.is_ascii_alphabetic() || b == b'_' || b >= 0x80
}

#[inline]
fn is_ident_cont(b: u8) -> bool {
    BYTE_FLAGS[usize::from(b)] & 1 != 0
}

fn is_dollar_tag_cont(b: u8) -> bool {
    is_ident_start(b) || b.is_ascii_digit()
}

const fn is_op_char(b: u8) -> bool {
    matches!(
        b,
        b'~' | b'!'
            | b'@'
            | b'#'
            | b'^'
            | b'&'
            | b'|'
            | b'`'
            | b'?'
            | b'+'
            | b'-'
            | b'*'
            | b'/'
            | b'%'
            | b'<'
            | b'>'
            | b'='
    )
}
