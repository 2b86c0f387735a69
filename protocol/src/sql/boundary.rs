//! Decides which `;` ends a statement, with psql's rules (`psqlscan.l`).
//!
//! A `;` ends the statement unless it is inside parentheses or inside the `BEGIN ATOMIC … END`
//! body of a `CREATE [OR REPLACE] FUNCTION|PROCEDURE`. Like psql, the body is tracked by counting
//! `BEGIN ATOMIC`/`CASE` against `END` at parenthesis depth zero.

use super::keywords::Kw;
use super::lexer::TokenKind;

/// Where the statement's leading words have got to in matching `CREATE [OR REPLACE] FUNCTION`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Head {
    Start,
    Create,
    CreateOr,
    CreateOrReplace,
    Routine,
    Other,
}

/// Statement-boundary state, fed every non-trivia token of one statement.
#[derive(Debug, Clone)]
pub(crate) struct Boundary {
    depth: u32,
    head: Head,
    atomic: u32,
    after_begin: bool,
}

impl Boundary {
    pub(crate) fn new() -> Self {
        Boundary {
            depth: 0,
            head: Head::Start,
            atomic: 0,
            after_begin: false,
        }
    }

    /// Whether a `;` seen now ends the statement.
    pub(crate) fn at_top(&self) -> bool {
        self.depth == 0 && self.atomic == 0
    }

    /// Takes one non-trivia token that does not end the statement. `kw` is the token's keyword
    /// if it is an identifier; it is only called while the statement could still be a
    /// `CREATE FUNCTION`, so most statements skip the lookup.
    pub(crate) fn feed(&mut self, kind: TokenKind, kw: impl FnOnce() -> Option<Kw>) {
        let after_begin = std::mem::take(&mut self.after_begin);
        match kind {
            TokenKind::LParen => self.depth = self.depth.saturating_add(1),
            TokenKind::RParen => self.depth = self.depth.saturating_sub(1),
            TokenKind::Ident if self.head != Head::Other => self.word(kw(), after_begin),
            _ => {}
        }
    }

    fn word(&mut self, kw: Option<Kw>, after_begin: bool) {
        self.head = match (self.head, kw) {
            (Head::Start, Some(Kw::Create)) => Head::Create,
            (Head::Create, Some(Kw::Or)) => Head::CreateOr,
            (Head::CreateOr, Some(Kw::Replace)) => Head::CreateOrReplace,
            (Head::Create | Head::CreateOrReplace, Some(Kw::Function | Kw::Procedure)) => {
                Head::Routine
            }
            (Head::Routine, _) => Head::Routine,
            _ => Head::Other,
        };
        if self.head != Head::Routine || self.depth != 0 {
            return;
        }
        match kw {
            Some(Kw::Begin) if self.atomic == 0 => self.after_begin = true,
            Some(Kw::Atomic) if after_begin => self.atomic = 1,
            Some(Kw::Case) if self.atomic > 0 => self.atomic = self.atomic.saturating_add(1),
            Some(Kw::End) if self.atomic > 0 => self.atomic -= 1,
            _ => {}
        }
    }
}
