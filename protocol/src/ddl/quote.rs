//! Names and literals: folding identifiers, reading string constants, quoting both back.

use std::borrow::Cow;

use super::keywords;
use crate::sql::ident::Ident;
use crate::sql::{StringKind, Token, TokenKind};

/// PostgreSQL's NAMEDATALEN - 1: longer identifiers are truncated to this many bytes.
const MAX_IDENT_BYTES: usize = 63;

/// The name an identifier token stands for: a bare word folded to lower case (ASCII only, as
/// PostgreSQL does in a UTF-8 database), a quoted one unquoted; both truncated to 63 bytes.
/// `None` for a `U&"…"` identifier, which corepool does not decode.
pub(crate) fn ident_value(token: Token, sql: &str) -> Option<Cow<'_, str>> {
    match token.kind {
        TokenKind::Ident | TokenKind::QuotedIdent => {
            Some(truncate(Ident::new(token.text(sql)).normalized()))
        }
        _ => None,
    }
}

fn truncate(value: Cow<'_, str>) -> Cow<'_, str> {
    if value.len() <= MAX_IDENT_BYTES {
        return value;
    }
    let mut end = MAX_IDENT_BYTES;
    while !value.is_char_boundary(end) {
        end -= 1;
    }
    match value {
        Cow::Borrowed(s) => Cow::Borrowed(&s[..end]),
        Cow::Owned(mut s) => {
            s.truncate(end);
            Cow::Owned(s)
        }
    }
}

/// The value of a string constant token: `'…'` (with `''` and, when `backslash_escapes`, the
/// backslash escapes of `standard_conforming_strings = off`), `E'…'` and `$tag$…$tag$`.
/// `None` for the other kinds (`U&'…'`, `B'…'`, `X'…'`, `N'…'`) and for escapes that do not
/// make valid UTF-8.
pub(crate) fn string_value(token: Token, sql: &str, backslash_escapes: bool) -> Option<String> {
    let text = token.text(sql);
    match token.kind {
        TokenKind::String(StringKind::Standard) if backslash_escapes => unescape(inner(text, 1)?),
        TokenKind::String(StringKind::Standard) => Some(inner(text, 1)?.replace("''", "'")),
        TokenKind::String(StringKind::Escape) => unescape(inner(text, 2)?),
        TokenKind::String(StringKind::Dollar) => {
            let tag_len = text.get(1..)?.find('$')? + 2;
            text.get(tag_len..text.len().checked_sub(tag_len)?)
                .map(str::to_owned)
        }
        _ => None,
    }
}

/// The text between an opening quote ending at byte `open` and the closing quote.
fn inner(text: &str, open: usize) -> Option<&str> {
    text.get(open..text.len().checked_sub(1)?)
}

/// Decodes the body of an `E'…'` string.
fn unescape(body: &str) -> Option<String> {
    let bytes = body.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        i += 1;
        match b {
            b'\'' => i += usize::from(bytes.get(i) == Some(&b'\'')),
            b'\\' => {
                let Some(&c) = bytes.get(i) else { break };
                i += 1;
                match c {
                    b'b' => out.push(8),
                    b'f' => out.push(12),
                    b'n' => out.push(b'\n'),
                    b'r' => out.push(b'\r'),
                    b't' => out.push(b'\t'),
                    b'0'..=b'7' => {
                        let (value, used) = number(&bytes[i - 1..], 8, 3);
                        out.push(u8::try_from(value & 0xff).ok()?);
                        i += used - 1;
                    }
                    b'x' if bytes.get(i).is_some_and(u8::is_ascii_hexdigit) => {
                        let (value, used) = number(&bytes[i..], 16, 2);
                        out.push(u8::try_from(value).ok()?);
                        i += used;
                    }
                    b'u' | b'U' => {
                        let digits = if c == b'u' { 4 } else { 8 };
                        let (value, used) = number(bytes.get(i..)?, 16, digits);
                        if used != digits {
                            return None;
                        }
                        let ch = char::from_u32(value)?;
                        out.extend_from_slice(ch.encode_utf8(&mut [0; 4]).as_bytes());
                        i += used;
                    }
                    other => out.push(other),
                }
                continue;
            }
            _ => {}
        }
        out.push(b);
    }
    String::from_utf8(out).ok()
}

/// Reads up to `max` digits of `radix` from the start of `bytes`: (value, digits read).
fn number(bytes: &[u8], radix: u32, max: usize) -> (u32, usize) {
    let mut value = 0u32;
    let mut used = 0;
    for &b in bytes.iter().take(max) {
        let Some(d) = char::from(b).to_digit(radix) else {
            break;
        };
        value = value.wrapping_mul(radix).wrapping_add(d);
        used += 1;
    }
    (value, used)
}

/// Writes `name` as an identifier, quoting it only when PostgreSQL's `quote_ident` would.
pub fn quote_ident(name: &str) -> Cow<'_, str> {
    let plain = name
        .bytes()
        .next()
        .is_some_and(|b| b.is_ascii_lowercase() || b == b'_')
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        && !keywords::needs_quote(name);
    if plain {
        Cow::Borrowed(name)
    } else {
        Cow::Owned(format!("\"{}\"", name.replace('"', "\"\"")))
    }
}

/// Writes `value` as a string constant, as PostgreSQL's `quote_literal` does: `'…'` with
/// quotes doubled, or `E'…'` with backslashes doubled too when there is a backslash, so the
/// constant reads the same whatever `standard_conforming_strings` is.
pub fn quote_literal(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 3);
    if value.contains('\\') {
        out.push('E');
    }
    out.push('\'');
    for c in value.chars() {
        if c == '\'' || c == '\\' {
            out.push(c);
        }
        out.push(c);
    }
    out.push('\'');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sql::Lexer;

    fn first(sql: &str) -> Token {
        Lexer::new(sql).next().unwrap().unwrap()
    }

    #[test]
    fn identifiers_fold_and_unquote() {
        for (sql, want) in [
            ("S1", Some("s1")),
            ("tf1_data", Some("tf1_data")),
            ("\"S1\"", Some("S1")),
            ("\"a\"\"b\"", Some("a\"b")),
            ("ÄbC", Some("Äbc")),
            ("U&\"x\"", None),
        ] {
            assert_eq!(ident_value(first(sql), sql).as_deref(), want, "{sql}");
        }
        let long = "x".repeat(70);
        assert_eq!(ident_value(first(&long), &long).unwrap().len(), 63);
        let multibyte = format!("\"{}\"", "é".repeat(40));
        assert_eq!(
            ident_value(first(&multibyte), &multibyte).unwrap().len(),
            62
        );
    }

    #[test]
    fn string_constants() {
        for (sql, want) in [
            ("'public'", Some("public")),
            ("'it''s'", Some("it's")),
            (r"E'a\'b\\c\n'", Some("a'b\\c\n")),
            (r"E'\x41\101\u00e9'", Some("AAé")),
            ("$$x'y$$", Some("x'y")),
            ("$t$a$$b$t$", Some("a$$b")),
            ("U&'x'", None),
            ("B'01'", None),
            (r"E'\xff'", None),
        ] {
            assert_eq!(
                string_value(first(sql), sql, false).as_deref(),
                want,
                "{sql}"
            );
        }
        let sql = r"'a\'b'";
        let token = crate::sql::Lexer::with_options(
            sql,
            crate::sql::SqlOptions::default().standard_conforming_strings(false),
        )
        .next()
        .unwrap()
        .unwrap();
        assert_eq!(string_value(token, sql, true).as_deref(), Some("a'b"));
    }

    #[test]
    fn quoting() {
        assert_eq!(quote_ident("tf1_data"), "tf1_data");
        assert_eq!(quote_ident("S1"), "\"S1\"");
        assert_eq!(quote_ident("user"), "\"user\"");
        assert_eq!(quote_ident("a\"b"), "\"a\"\"b\"");
        assert_eq!(quote_ident(""), "\"\"");
        assert_eq!(quote_ident("1a"), "\"1a\"");
        assert_eq!(quote_literal("it's"), "'it''s'");
        assert_eq!(quote_literal(r"a\b"), r"E'a\\b'");
    }
}
