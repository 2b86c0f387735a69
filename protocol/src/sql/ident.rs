//! Identifier comparison and normalisation for names found through classifier spans.
//!
//! PostgreSQL folds unquoted identifiers to lower case (ASCII only, as it does for UTF-8
//! databases) and keeps quoted ones as written, with `""` standing for `"`. These helpers apply
//! the same rules without allocating, so the router can match `Relation::name` and function
//! spans against `pg_catalog`, `nextval` or its configured lists.
//!
//! ```
//! use corepool_protocol::sql::ident::{name_parts, unqualified};
//!
//! let parts: Vec<_> = name_parts("PG_CATALOG . \"pg_class\"").collect();
//! assert!(parts[0].matches("pg_catalog") && parts[1].matches("pg_class"));
//! assert!(unqualified("public.NextVal").unwrap().matches("nextval"));
//! ```

use std::borrow::Cow;

use super::lexer::{Lexer, TokenKind};

/// One identifier as written: `foo`, `FOO`, `"Foo"`, `U&"…"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ident<'a> {
    raw: &'a str,
}

impl<'a> Ident<'a> {
    /// Wraps the text of one identifier token.
    pub fn new(raw: &'a str) -> Self {
        Ident { raw }
    }

    /// The identifier as written.
    pub fn raw(&self) -> &'a str {
        self.raw
    }

    /// Whether it is a quoted identifier (`"…"` or `U&"…"`).
    pub fn is_quoted(&self) -> bool {
        self.raw.ends_with('"') && self.raw.len() >= 2
    }

    /// The text between the quotes, for a quoted identifier.
    fn inner(&self) -> Option<&'a str> {
        if !self.is_quoted() {
            return None;
        }
        let open = self.raw.find('"')?;
        self.raw.get(open + 1..self.raw.len() - 1)
    }

    fn bytes(&self) -> NormBytes<'a> {
        match self.inner() {
            Some(inner) => NormBytes {
                bytes: inner.as_bytes(),
                pos: 0,
                quoted: true,
            },
            None => NormBytes {
                bytes: self.raw.as_bytes(),
                pos: 0,
                quoted: false,
            },
        }
    }

    /// The name PostgreSQL resolves it to. Borrowed unless folding or un-doubling is needed.
    /// `U&"…"` escapes are not decoded.
    pub fn normalized(&self) -> Cow<'a, str> {
        match self.inner() {
            Some(inner) if !inner.contains("\"\"") => Cow::Borrowed(inner),
            Some(inner) => Cow::Owned(inner.replace("\"\"", "\"")),
            None if !self.raw.bytes().any(|b| b.is_ascii_uppercase()) => Cow::Borrowed(self.raw),
            None => Cow::Owned(self.raw.to_ascii_lowercase()),
        }
    }

    /// Whether it resolves to `name`, given in resolved form (`"nextval"`, `"My Table"`).
    pub fn matches(&self, name: &str) -> bool {
        self.bytes().eq(name.bytes())
    }

    /// Whether the resolved name starts with `prefix` (`"pg_"` for system catalogs).
    pub fn starts_with(&self, prefix: &str) -> bool {
        let mut mine = self.bytes();
        prefix.bytes().all(|b| mine.next() == Some(b))
    }
}

/// The resolved bytes of an identifier: lower-cased, or with `""` un-doubled.
struct NormBytes<'a> {
    bytes: &'a [u8],
    pos: usize,
    quoted: bool,
}

impl Iterator for NormBytes<'_> {
    type Item = u8;

    fn next(&mut self) -> Option<u8> {
        let b = *self.bytes.get(self.pos)?;
        self.pos += 1;
        if !self.quoted {
            return Some(b.to_ascii_lowercase());
        }
        if b == b'"' && self.bytes.get(self.pos) == Some(&b'"') {
            self.pos += 1;
        }
        Some(b)
    }
}

/// The identifiers of a possibly qualified name such as `pg_catalog . "Pg_Class"`, in order.
/// Stops at the first token that is neither an identifier, a `.` nor trivia.
pub fn name_parts(text: &str) -> NameParts<'_> {
    NameParts {
        text,
        lexer: Lexer::new(text),
    }
}

/// The last part of a possibly qualified name: `nextval` for `pg_catalog.nextval`.
pub fn unqualified(text: &str) -> Option<Ident<'_>> {
    name_parts(text).last()
}

/// Iterator from [`name_parts`].
#[derive(Debug, Clone)]
pub struct NameParts<'a> {
    text: &'a str,
    lexer: Lexer<'a>,
}

impl<'a> Iterator for NameParts<'a> {
    type Item = Ident<'a>;

    fn next(&mut self) -> Option<Ident<'a>> {
        loop {
            let token = self.lexer.next()?.ok()?;
            match token.kind {
                TokenKind::Ident | TokenKind::QuotedIdent | TokenKind::UnicodeIdent => {
                    return Some(Ident::new(token.text(self.text)));
                }
                TokenKind::Dot
                | TokenKind::Whitespace
                | TokenKind::LineComment
                | TokenKind::BlockComment => {}
                _ => return None,
            }
        }
    }
}

/// Whether two identifiers as written resolve to the same name.
pub(crate) fn same_ident(a: &str, b: &str) -> bool {
    Ident::new(a).bytes().eq(Ident::new(b).bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_like_postgres() {
        assert!(Ident::new("NextVal").matches("nextval"));
        assert!(!Ident::new("\"NextVal\"").matches("nextval"));
        assert!(Ident::new("\"a\"\"b\"").matches("a\"b"));
        assert_eq!(Ident::new("\"a\"\"b\"").normalized(), "a\"b");
        assert_eq!(Ident::new("Таблица").normalized(), "Таблица");
        assert_eq!(Ident::new("ABC").normalized(), "abc");
        assert!(Ident::new("PG_Class").starts_with("pg_"));
        assert!(!Ident::new("p").starts_with("pg_"));
        assert!(same_ident("Foo", "\"foo\""));
        assert!(!same_ident("Foo", "\"Foo\""));
    }

    #[test]
    fn splits_qualified_names() {
        let parts: Vec<_> = name_parts("a /* c */ . \"B\".c*")
            .map(|p| p.normalized().into_owned())
            .collect();
        assert_eq!(parts, ["a", "B", "c"]);
        assert_eq!(unqualified("").map(|i| i.raw()), None);
    }
}
