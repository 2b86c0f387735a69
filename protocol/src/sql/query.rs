//! The token-level scanner for queries: verbs, FROM lists, CTEs, locking clauses, calls and relations.
//!
//! It walks SELECT / VALUES / TABLE / INSERT / UPDATE / DELETE / MERGE text (with WITH lists and
//! subqueries) once, keeping one [`Frame`] per open parenthesis. A frame knows whether it holds
//! a query (where `FROM`, `INTO`, `FOR UPDATE` have their clause meaning) or an expression or
//! argument list (where `extract(year FROM x)` does not start a FROM list), and whether it is
//! inside a FROM list, so that `, name` and `JOIN name` are read as table references.

use smallvec::SmallVec;

use super::cursor::{Cursor, Tok};
use super::ident::same_ident;
use super::keywords::Kw;
use super::kinds::{Classification, StatementKind};
use super::lexer::TokenKind;
use super::{Span, SqlError, SqlErrorKind};

/// Deepest parenthesis nesting tracked; beyond it the statement is refused ([`SqlErrorKind::TooDeep`]).
const MAX_DEPTH: usize = 1000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verb {
    None,
    Select,
    Values,
    Table,
    Insert,
    Update,
    Delete,
    Merge,
}

impl Verb {
    fn of(kw: Kw) -> Option<Verb> {
        Some(match kw {
            Kw::Select => Verb::Select,
            Kw::Values => Verb::Values,
            Kw::Table => Verb::Table,
            Kw::Insert => Verb::Insert,
            Kw::Update => Verb::Update,
            Kw::Delete => Verb::Delete,
            Kw::Merge => Verb::Merge,
            _ => return None,
        })
    }

    fn writes(self) -> bool {
        matches!(
            self,
            Verb::Insert | Verb::Update | Verb::Delete | Verb::Merge
        )
    }
}

/// What is known about one parenthesised group (frame 0 is the statement itself).
#[derive(Debug, Clone, Copy)]
struct Frame {
    /// The query command of the group, once seen.
    verb: Verb,
    /// An expression or argument list rather than a query.
    expr: bool,
    /// No token has been seen in the group yet.
    first: bool,
    /// Inside a FROM (or DELETE … USING, MERGE … USING) list.
    in_from: bool,
    /// Inside a WITH list, before the main command.
    in_with: bool,
    /// The group is a CTE's body.
    cte_body: bool,
    /// An alias may follow the closing parenthesis (subquery or function in FROM).
    alias_after: bool,
}

impl Frame {
    fn new(expr: bool) -> Self {
        Frame {
            verb: Verb::None,
            expr,
            first: true,
            in_from: false,
            in_with: false,
            cte_body: false,
            alias_after: false,
        }
    }
}

/// What the previous tokens say about the next one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    Nothing,
    /// A FROM item: table, function call, subquery or parenthesised join.
    FromItem,
    /// A table name after INTO / UPDATE / DELETE FROM / TABLE; `into` allows SELECT INTO's
    /// `TEMP` / `UNLOGGED` / `TABLE` modifiers.
    Target {
        write: bool,
        into: bool,
    },
    /// A bare alias may come (after a table or a FROM subquery).
    Alias,
    /// A type or alias name: never a call (`::numeric(10,2)`, `AS x(a, b)`).
    NotCallable,
    CteName,
    /// The next `(` opens a CTE body.
    CteBody,
    /// The next `(` opens the argument list of a recorded call.
    CallParen {
        alias_after: bool,
    },
}

struct Scanner<'o> {
    out: &'o mut Classification,
    /// The innermost open group; kept out of `outer` so the common path does no SmallVec access.
    frame: Frame,
    /// The groups enclosing `frame`, outermost first; its length is `frame`'s depth.
    outer: SmallVec<[Frame; 8]>,
    expect: Expect,
    prev_kw: Option<Kw>,
    /// Depth of the main command's group (after any leading parentheses).
    main: Option<usize>,
    main_verb: Verb,
    /// Only `(` tokens seen so far.
    leading: bool,
    select_into: bool,
    locking: bool,
    ctes: SmallVec<[Span; 4]>,
}

/// Scans the query starting at the cursor and returns its kind, recording calls, relations and
/// flags into `out`. With `until_close` (for `COPY (query) TO`), the query starts with `(` and
/// the scan stops after the matching `)`; otherwise it runs to the end of the statement.
pub(crate) fn scan_query(
    cur: &mut Cursor<'_>,
    out: &mut Classification,
    until_close: bool,
) -> Result<StatementKind, SqlError> {
    let mut s = Scanner {
        out,
        frame: Frame::new(false),
        outer: SmallVec::new(),
        expect: Expect::Nothing,
        prev_kw: None,
        main: None,
        main_verb: Verb::None,
        leading: true,
        select_into: false,
        locking: false,
        ctes: SmallVec::new(),
    };
    while let Some(tok) = cur.next()? {
        let mut used_kw = None;
        match tok.kind {
            TokenKind::LParen => {
                s.open(tok)?;
                continue;
            }
            TokenKind::RParen => {
                if s.close() && until_close {
                    break;
                }
            }
            TokenKind::Comma => s.comma(),
            TokenKind::Ident | TokenKind::QuotedIdent | TokenKind::UnicodeIdent => {
                used_kw = s.word(cur, tok)?;
            }
            TokenKind::TypeCast => s.expect = Expect::NotCallable,
            _ => s.expect = Expect::Nothing,
        }
        s.touch();
        s.prev_kw = used_kw;
    }
    Ok(match s.main_verb {
        Verb::Select if s.select_into => StatementKind::SelectInto,
        Verb::Select if s.locking => StatementKind::SelectLocking,
        Verb::Select => StatementKind::Select,
        Verb::Values => StatementKind::Values,
        Verb::Table => StatementKind::Table,
        Verb::Insert => StatementKind::Insert,
        Verb::Update => StatementKind::Update,
        Verb::Delete => StatementKind::Delete,
        Verb::Merge => StatementKind::Merge,
        Verb::None => StatementKind::Other,
    })
}

impl Scanner<'_> {
    fn depth(&self) -> usize {
        self.outer.len()
    }

    /// Whether the current group holds the main command.
    fn is_main(&self) -> bool {
        self.leading || self.main == Some(self.depth())
    }

    /// Marks the current frame as having seen a token.
    fn touch(&mut self) {
        self.frame.first = false;
        if self.leading {
            self.leading = false;
            self.main = Some(self.depth());
        }
    }

    fn open(&mut self, tok: Tok) -> Result<(), SqlError> {
        if self.depth() >= MAX_DEPTH {
            return Err(SqlError::new(
                SqlErrorKind::TooDeep,
                tok.span.start as usize,
            ));
        }
        if self.leading {
            self.frame.first = false;
        } else {
            self.touch();
        }
        let mut frame = Frame::new(true);
        match self.expect {
            Expect::FromItem => {
                frame.expr = false;
                frame.in_from = true;
                frame.alias_after = true;
            }
            Expect::CteBody => frame.cte_body = true,
            Expect::CallParen { alias_after } => frame.alias_after = alias_after,
            _ => {}
        }
        self.expect = if frame.in_from {
            Expect::FromItem
        } else {
            Expect::Nothing
        };
        let parent = std::mem::replace(&mut self.frame, frame);
        self.outer.push(parent);
        self.prev_kw = None;
        Ok(())
    }

    /// Closes a frame; true when that returns to the statement's own frame.
    fn close(&mut self) -> bool {
        let Some(parent) = self.outer.pop() else {
            self.expect = Expect::Nothing;
            return false;
        };
        let closed = std::mem::replace(&mut self.frame, parent);
        self.expect = if closed.alias_after {
            Expect::Alias
        } else {
            Expect::Nothing
        };
        self.outer.is_empty()
    }

    fn comma(&mut self) {
        let f = self.frame;
        self.expect = if f.in_with {
            Expect::CteName
        } else if f.in_from {
            Expect::FromItem
        } else {
            Expect::Nothing
        };
    }

    /// An identifier: a keyword with a meaning here, or the start of a name. Returns the keyword
    /// if it was taken as one.
    fn word(&mut self, cur: &mut Cursor<'_>, tok: Tok) -> Result<Option<Kw>, SqlError> {
        let dotted = cur.peek()?.is_some_and(|t| t.kind == TokenKind::Dot);
        if let (Some(kw), false) = (tok.kw, dotted) {
            if self.keyword(cur, kw)? {
                return Ok(Some(kw));
            }
        }
        self.name(cur, tok)?;
        Ok(None)
    }

    fn name(&mut self, cur: &mut Cursor<'_>, tok: Tok) -> Result<(), SqlError> {
        let (name, qualified) = cur.finish_name(tok)?;
        let paren = cur.peek()?.is_some_and(|t| t.kind == TokenKind::LParen);
        let callable = paren && (qualified || !tok.kw.is_some_and(Kw::is_not_callable));
        let text = cur.text();
        self.expect = match self.expect {
            Expect::FromItem if paren => {
                if callable {
                    self.out.push_function(name);
                }
                Expect::CallParen { alias_after: true }
            }
            Expect::FromItem => {
                self.relation(text, name, qualified, false);
                Expect::Alias
            }
            Expect::Target { write, .. } => {
                self.relation(text, name, qualified, write);
                Expect::Alias
            }
            Expect::CteName => {
                self.ctes.push(name);
                Expect::Nothing
            }
            Expect::Alias | Expect::NotCallable => Expect::Nothing,
            _ if callable => {
                self.out.push_function(name);
                Expect::CallParen { alias_after: false }
            }
            _ => Expect::Nothing,
        };
        Ok(())
    }

    fn relation(&mut self, text: &str, name: Span, qualified: bool, written: bool) {
        let is_cte = || {
            self.ctes
                .iter()
                .any(|c| same_ident(c.text(text), name.text(text)))
        };
        if written || qualified || !is_cte() {
            self.out.push_relation(name, written);
        }
    }

    /// Applies `kw`'s meaning; false if it is used as a name here instead.
    fn keyword(&mut self, cur: &mut Cursor<'_>, kw: Kw) -> Result<bool, SqlError> {
        let f = self.frame;
        if f.first || f.in_with {
            if let Some(verb) = Verb::of(kw) {
                self.set_verb(verb);
                return Ok(true);
            }
            if kw == Kw::With && f.first {
                self.frame.in_with = true;
                cur.eat(Kw::Recursive)?;
                self.expect = Expect::CteName;
                return Ok(true);
            }
        }
        match self.expect {
            Expect::FromItem => match kw {
                Kw::Only | Kw::Lateral => return Ok(true),
                Kw::Rows if cur.peek()?.is_some_and(|t| t.is(Kw::From)) => {
                    cur.next()?;
                    return Ok(true);
                }
                _ if kw.can_be_name() => return Ok(false),
                _ => {}
            },
            Expect::Target { into, .. } => match kw {
                Kw::Only => return Ok(true),
                Kw::Temp | Kw::Temporary if into => {
                    self.out.creates_temp_table = true;
                    return Ok(true);
                }
                Kw::Unlogged if into => {
                    self.out.creates_unlogged_table = true;
                    return Ok(true);
                }
                Kw::Local | Kw::Global | Kw::Table if into => return Ok(true),
                _ if kw.can_be_name() => return Ok(false),
                _ => {}
            },
            Expect::Alias if kw.can_be_alias() => return Ok(false),
            Expect::NotCallable | Expect::CteName if kw.can_be_name() => return Ok(false),
            Expect::CteBody if matches!(kw, Kw::Materialized | Kw::Not) => return Ok(true),
            _ => {}
        }
        self.expect = Expect::Nothing;
        self.clause(cur, kw, f)
    }

    /// Keywords with a meaning in the middle of a query.
    fn clause(&mut self, cur: &mut Cursor<'_>, kw: Kw, f: Frame) -> Result<bool, SqlError> {
        let query = !f.expr;
        match kw {
            Kw::As => {
                self.expect = if f.in_with {
                    Expect::CteBody
                } else {
                    Expect::NotCallable
                };
            }
            Kw::From => match self.prev_kw {
                Some(Kw::Delete) => {
                    self.expect = Expect::Target {
                        write: true,
                        into: false,
                    }
                }
                Some(Kw::Distinct) => {}
                _ if query => {
                    self.frame.in_from = true;
                    self.expect = Expect::FromItem;
                }
                _ => {}
            },
            Kw::Join if f.in_from => self.expect = Expect::FromItem,
            Kw::Using if query && !f.in_from && matches!(f.verb, Verb::Delete | Verb::Merge) => {
                self.frame.in_from = true;
                self.expect = Expect::FromItem;
            }
            Kw::Into => {
                if matches!(self.prev_kw, Some(Kw::Insert | Kw::Merge)) {
                    self.expect = Expect::Target {
                        write: true,
                        into: false,
                    };
                } else if query && f.verb == Verb::Select && self.is_main() {
                    self.select_into = true;
                    self.expect = Expect::Target {
                        write: true,
                        into: true,
                    };
                }
            }
            Kw::For if query => {
                let strength = cur.peek()?.and_then(|t| t.kw);
                if matches!(strength, Some(Kw::Update | Kw::Share | Kw::No | Kw::Key)) {
                    self.locking = true;
                }
                self.frame.in_from = false;
            }
            Kw::Table => {
                self.expect = Expect::Target {
                    write: false,
                    into: false,
                }
            }
            Kw::Tablesample => self.expect = Expect::NotCallable,
            Kw::Where
            | Kw::Group
            | Kw::Having
            | Kw::Window
            | Kw::Order
            | Kw::Limit
            | Kw::Offset
            | Kw::Fetch
            | Kw::Union
            | Kw::Intersect
            | Kw::Except
            | Kw::Returning
            | Kw::Set
            | Kw::Do
            | Kw::Conflict => self.frame.in_from = false,
            Kw::When if f.verb == Verb::Merge => self.frame.in_from = false,
            _ if Verb::of(kw).is_some() => {}
            // Reserved words and syntax like JOIN/IS/LIKE; LEFT(…), REPLACE(…) are calls.
            _ if kw.is_not_callable() && !kw.can_be_name() => {}
            _ => return Ok(false),
        }
        Ok(true)
    }

    fn set_verb(&mut self, verb: Verb) {
        let is_main = self.is_main();
        let f = &mut self.frame;
        if f.cte_body && verb.writes() {
            self.out.data_modifying_cte = true;
        }
        f.verb = verb;
        f.expr = false;
        f.in_from = false;
        f.in_with = false;
        if is_main && self.main_verb == Verb::None {
            self.main_verb = verb;
        }
        self.expect = match verb {
            Verb::Update => Expect::Target {
                write: true,
                into: false,
            },
            Verb::Table => Expect::Target {
                write: false,
                into: false,
            },
            _ => Expect::Nothing,
        };
    }
}
