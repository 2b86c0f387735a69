//! [`Tokens`]: the significant tokens of one statement, with lookahead and syntax errors.

use super::error::DdlError;
use super::keywords;
use crate::sql::{Lexer, Span, SqlOptions, StringKind, Token, TokenKind};

/// The statement's tokens without whitespace and comments, and a read position.
///
/// Built only once [`detect`](super::detect) has said the statement is ours, so the `Vec` is
/// paid for by enhanced DDL alone.
pub(crate) struct Tokens<'a> {
    sql: &'a str,
    tokens: Vec<Token>,
    pos: usize,
    backslash_escapes: bool,
}

impl<'a> Tokens<'a> {
    /// Tokenises `sql`, turning a lexical error into PostgreSQL's message for it.
    pub(crate) fn new(sql: &'a str, options: SqlOptions) -> Result<Self, DdlError> {
        let mut tokens = Vec::new();
        for token in Lexer::with_options(sql, options) {
            let token = token.map_err(|e| {
                let position = e.position() as usize;
                DdlError::Lexical {
                    kind: e.kind(),
                    near: sql.get(position..).unwrap_or_default().to_owned(),
                    position,
                }
            })?;
            if !token.is_trivia() {
                tokens.push(token);
            }
        }
        Ok(Tokens {
            sql,
            tokens,
            pos: 0,
            backslash_escapes: !options.standard_conforming_strings,
        })
    }

    /// Whether plain `'…'` strings take backslash escapes (`standard_conforming_strings = off`).
    pub(crate) fn backslash_escapes(&self) -> bool {
        self.backslash_escapes
    }

    /// The next token, without consuming it.
    pub(crate) fn peek(&self) -> Option<Token> {
        self.tokens.get(self.pos).copied()
    }

    /// The token `n` places after the next one.
    pub(crate) fn peek_nth(&self, n: usize) -> Option<Token> {
        self.tokens.get(self.pos + n).copied()
    }

    /// Consumes and returns the next token.
    pub(crate) fn bump(&mut self) -> Option<Token> {
        let token = self.peek()?;
        self.pos += 1;
        Some(token)
    }

    /// The end of the last consumed token (0 before the first).
    pub(crate) fn last_end(&self) -> u32 {
        self.pos
            .checked_sub(1)
            .and_then(|i| self.tokens.get(i))
            .map_or(0, |t| t.span.end)
    }

    /// Whether `token` is the bare word `keyword` (given in lower case).
    pub(crate) fn is_kw(&self, token: Option<Token>, keyword: &str) -> bool {
        token.is_some_and(|t| {
            t.kind == TokenKind::Ident && t.text(self.sql).eq_ignore_ascii_case(keyword)
        })
    }

    /// Whether the next token is the bare word `keyword`.
    pub(crate) fn peek_kw(&self, keyword: &str) -> bool {
        self.is_kw(self.peek(), keyword)
    }

    /// Whether the next token is of kind `kind`.
    pub(crate) fn peek_is(&self, kind: TokenKind) -> bool {
        self.peek().is_some_and(|t| t.kind == kind)
    }

    /// Consumes the next token if it is the bare word `keyword`.
    pub(crate) fn eat_kw(&mut self, keyword: &str) -> Option<Token> {
        if self.peek_kw(keyword) {
            self.bump()
        } else {
            None
        }
    }

    /// Consumes the next token if it is of kind `kind`.
    pub(crate) fn eat(&mut self, kind: TokenKind) -> Option<Token> {
        if self.peek_is(kind) {
            self.bump()
        } else {
            None
        }
    }

    /// Consumes the bare word `keyword` or fails at the next token.
    pub(crate) fn expect_kw(&mut self, keyword: &str) -> Result<Token, DdlError> {
        self.eat_kw(keyword).ok_or_else(|| self.error())
    }

    /// Consumes a token of kind `kind` or fails at the next token.
    pub(crate) fn expect(&mut self, kind: TokenKind) -> Result<Token, DdlError> {
        self.eat(kind).ok_or_else(|| self.error())
    }

    /// A syntax error at the next token, or at the end of the input.
    pub(crate) fn error(&self) -> DdlError {
        self.error_at(self.peek())
    }

    /// A syntax error at `token`, or at the end of the input for `None`.
    pub(crate) fn error_at(&self, token: Option<Token>) -> DdlError {
        match token {
            // PostgreSQL reads `N'…'` as the keyword NCHAR (spelt `N`) and a string.
            Some(t) if t.kind == TokenKind::String(StringKind::National) => DdlError::Syntax {
                near: t.text(self.sql).get(..1).unwrap_or_default().to_owned(),
                position: t.span.start as usize,
            },
            Some(t) => DdlError::Syntax {
                near: t.text(self.sql).to_owned(),
                position: t.span.start as usize,
            },
            None => DdlError::SyntaxAtEnd {
                position: self.sql.len(),
            },
        }
    }

    /// Consumes a name that may stand bare where PostgreSQL wants a `ColId`: an identifier
    /// that is not a reserved or type_func_name keyword, or a quoted identifier.
    pub(crate) fn col_id(&mut self) -> Result<Token, DdlError> {
        match self.peek() {
            Some(t) if t.kind == TokenKind::Ident && !keywords::is_not_colid(t.text(self.sql)) => {
                self.pos += 1;
                Ok(t)
            }
            Some(t) if matches!(t.kind, TokenKind::QuotedIdent | TokenKind::UnicodeIdent) => {
                self.pos += 1;
                Ok(t)
            }
            _ => Err(self.error()),
        }
    }

    /// Consumes any word or quoted identifier (a `ColLabel`: keywords allowed).
    pub(crate) fn col_label(&mut self) -> Result<Token, DdlError> {
        match self.peek() {
            Some(t)
                if matches!(
                    t.kind,
                    TokenKind::Ident | TokenKind::QuotedIdent | TokenKind::UnicodeIdent
                ) =>
            {
                self.pos += 1;
                Ok(t)
            }
            _ => Err(self.error()),
        }
    }

    /// Consumes a parenthesised group, nested brackets included; returns its span, parentheses
    /// included. With `non_empty`, `()` is a syntax error at the `)`.
    pub(crate) fn group(&mut self, non_empty: bool) -> Result<Span, DdlError> {
        let open = self.expect(TokenKind::LParen)?;
        if non_empty && self.peek_is(TokenKind::RParen) {
            return Err(self.error());
        }
        self.skip_to_close()?;
        let close = self.expect(TokenKind::RParen)?;
        Ok(Span::new(open.span.start, close.span.end))
    }

    /// Skips tokens up to (not including) the `)` that closes the current group, or a `,` at
    /// the current depth when `stop_at_comma`. Fails at the end of input or on a stray `]`.
    fn skip_until(&mut self, stop_at_comma: bool) -> Result<(), DdlError> {
        let mut depth = 0usize;
        loop {
            let Some(t) = self.peek() else {
                return Err(self.error());
            };
            match t.kind {
                TokenKind::LParen | TokenKind::LBracket => depth += 1,
                TokenKind::RParen | TokenKind::RBracket if depth == 0 => {
                    return match t.kind {
                        TokenKind::RParen => Ok(()),
                        _ => Err(self.error()),
                    };
                }
                TokenKind::RParen | TokenKind::RBracket => depth -= 1,
                TokenKind::Comma if depth == 0 && stop_at_comma => return Ok(()),
                TokenKind::Semicolon => return Err(self.error()),
                _ => {}
            }
            self.pos += 1;
        }
    }

    /// Skips to the `)` closing the current group.
    pub(crate) fn skip_to_close(&mut self) -> Result<(), DdlError> {
        self.skip_until(false)
    }

    /// Skips to the `,` or `)` ending the current list element.
    pub(crate) fn skip_to_element_end(&mut self) -> Result<(), DdlError> {
        self.skip_until(true)
    }

    /// Accepts the end of the statement: an optional `;`, then nothing.
    pub(crate) fn finish(&mut self) -> Result<(), DdlError> {
        if self.eat(TokenKind::Semicolon).is_some() {
            return match self.peek() {
                Some(t) => Err(DdlError::TrailingStatement {
                    position: t.span.start as usize,
                }),
                None => Ok(()),
            };
        }
        match self.peek() {
            Some(_) => Err(self.error()),
            None => Ok(()),
        }
    }
}
