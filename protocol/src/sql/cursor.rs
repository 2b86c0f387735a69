//! The classifier's view of one statement: significant tokens with their keyword, one-token lookahead.

use super::boundary::Boundary;
use super::keywords::Kw;
use super::lexer::{Lexer, TokenKind};
use super::{Span, SqlError, SqlOptions};

/// A significant token (not whitespace or comment) and, for identifiers, its keyword.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Tok {
    pub(crate) kind: TokenKind,
    pub(crate) span: Span,
    pub(crate) kw: Option<Kw>,
}

impl Tok {
    /// Whether the token is the keyword `kw`.
    pub(crate) fn is(&self, kw: Kw) -> bool {
        self.kw == Some(kw)
    }

    /// Whether the token can be (part of) a name: identifier, quoted or keyword.
    pub(crate) fn is_word(&self) -> bool {
        matches!(
            self.kind,
            TokenKind::Ident | TokenKind::QuotedIdent | TokenKind::UnicodeIdent
        )
    }
}

/// Significant tokens of the current statement, ending at its terminating `;` or the text's end.
pub(crate) struct Cursor<'a> {
    text: &'a str,
    lexer: Lexer<'a>,
    boundary: Boundary,
    peeked: Option<Tok>,
    ended: bool,
    ended_by_semicolon: bool,
    last_end: u32,
    comment_seen: bool,
}

impl<'a> Cursor<'a> {
    pub(crate) fn new(text: &'a str, options: SqlOptions) -> Self {
        Cursor {
            text,
            lexer: Lexer::with_options(text, options),
            boundary: Boundary::new(),
            peeked: None,
            ended: false,
            ended_by_semicolon: false,
            last_end: 0,
            comment_seen: false,
        }
    }

    pub(crate) fn text(&self) -> &'a str {
        self.text
    }

    /// End offset of the last significant token returned.
    pub(crate) fn last_end(&self) -> u32 {
        self.last_end
    }

    /// Whether a comment has been lexed so far.
    pub(crate) fn comment_seen(&self) -> bool {
        self.comment_seen
    }

    /// Whether the statement ended at a top-level `;` (rather than at the end of the text).
    pub(crate) fn ended_by_semicolon(&self) -> bool {
        self.ended && self.ended_by_semicolon
    }

    /// Starts the next statement, after [`Self::next`] returned `None` at a `;`.
    pub(crate) fn restart(&mut self) {
        self.boundary = Boundary::new();
        self.ended = false;
        self.ended_by_semicolon = false;
    }

    pub(crate) fn next(&mut self) -> Result<Option<Tok>, SqlError> {
        let tok = match self.peeked.take() {
            Some(tok) => Some(tok),
            None => self.fetch()?,
        };
        if let Some(tok) = tok {
            self.last_end = tok.span.end;
        }
        Ok(tok)
    }

    pub(crate) fn peek(&mut self) -> Result<Option<Tok>, SqlError> {
        if self.peeked.is_none() {
            self.peeked = self.fetch()?;
        }
        Ok(self.peeked)
    }

    /// Consumes the next token if it is the keyword `kw`.
    pub(crate) fn eat(&mut self, kw: Kw) -> Result<bool, SqlError> {
        if self.peek()?.is_some_and(|t| t.is(kw)) {
            self.next()?;
            return Ok(true);
        }
        Ok(false)
    }

    /// Consumes the next token if it has kind `kind`.
    pub(crate) fn eat_kind(&mut self, kind: TokenKind) -> Result<bool, SqlError> {
        if self.peek()?.is_some_and(|t| t.kind == kind) {
            self.next()?;
            return Ok(true);
        }
        Ok(false)
    }

    /// Consumes the rest of the statement.
    pub(crate) fn drain(&mut self) -> Result<(), SqlError> {
        while self.next()?.is_some() {}
        Ok(())
    }

    /// Consumes the rest of the statement and returns its span, if any token was left.
    pub(crate) fn rest(&mut self) -> Result<Option<Span>, SqlError> {
        let Some(first) = self.next()? else {
            return Ok(None);
        };
        self.drain()?;
        Ok(Some(Span::new(first.span.start, self.last_end)))
    }

    /// Completes a name whose first part `first` was just consumed: `.part` repeats and a final
    /// `.*`. Returns the whole span and whether it is qualified.
    pub(crate) fn finish_name(&mut self, first: Tok) -> Result<(Span, bool), SqlError> {
        let mut end = first.span.end;
        while self.peek()?.is_some_and(|t| t.kind == TokenKind::Dot) {
            self.next()?;
            match self.peek()? {
                Some(t) if t.is_word() || t.span.text(self.text) == "*" => {
                    self.next()?;
                    end = t.span.end;
                }
                _ => break,
            }
        }
        Ok((Span::new(first.span.start, end), end != first.span.end))
    }

    /// Consumes a balanced `( … )` group if one comes next.
    pub(crate) fn skip_parens(&mut self) -> Result<(), SqlError> {
        if !self.eat_kind(TokenKind::LParen)? {
            return Ok(());
        }
        let mut depth = 1u32;
        while let Some(t) = self.next()? {
            match t.kind {
                TokenKind::LParen => depth = depth.saturating_add(1),
                TokenKind::RParen => {
                    depth -= 1;
                    if depth == 0 {
                        break;
                    }
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// After the statement ended at a `;`: whether another non-empty statement follows.
    /// Only lexes as far as the first significant token after it.
    pub(crate) fn another_statement_follows(&mut self) -> Result<bool, SqlError> {
        if !self.ended_by_semicolon() {
            return Ok(false);
        }
        for token in self.lexer.by_ref() {
            let token = token?;
            if !token.is_trivia() && token.kind != TokenKind::Semicolon {
                return Ok(true);
            }
        }
        Ok(false)
    }

    fn fetch(&mut self) -> Result<Option<Tok>, SqlError> {
        if self.ended {
            return Ok(None);
        }
        loop {
            self.lexer.skip_whitespace();
            let Some(token) = self.lexer.next().transpose()? else {
                self.ended = true;
                return Ok(None);
            };
            let kind = token.kind;
            match kind {
                TokenKind::Whitespace => continue,
                TokenKind::LineComment | TokenKind::BlockComment => {
                    self.comment_seen = true;
                    continue;
                }
                TokenKind::Semicolon if self.boundary.at_top() => {
                    self.ended = true;
                    self.ended_by_semicolon = true;
                    return Ok(None);
                }
                _ => {}
            }
            let kw = if kind == TokenKind::Ident {
                Kw::lookup_in(
                    self.text.as_bytes(),
                    token.span.start as usize,
                    token.span.len(),
                )
            } else {
                None
            };
            self.boundary.feed(kind, || kw);
            return Ok(Some(Tok {
                kind,
                span: token.span,
                kw,
            }));
        }
    }
}
