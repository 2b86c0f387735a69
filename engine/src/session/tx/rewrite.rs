//! Named prepared statements across backends: the client's names are mapped onto statements
//! each backend prepared under corepool's own names, message by message, on the way to the
//! backend.
//!
//! - Parse of a named statement: remembered (name → definition). When the backend already has
//!   the definition, nothing is sent and corepool makes up the ParseComplete; otherwise it is
//!   prepared there under a new name (closing the least recently used past
//!   `max_prepared_statements`).
//! - Bind and Describe of a named statement: prepared on the backend first if it lacks it (the
//!   ParseComplete hidden from the client), then sent with the backend's name.
//! - Close of a named statement: forgotten by the client's map and answered by corepool; the
//!   backend keeps it for other clients.
//! - Everything else goes on as it came; every message is queued in the backend's
//!   [`Expected`] so that hidden and made-up replies land where the server would put them.

use std::collections::HashMap;
use std::rc::Rc;

use corepool_protocol::message::tags::{
    BIND_TAG, CLOSE_TAG, DESCRIBE_TAG, EXECUTE_TAG, FUNCTION_CALL_TAG, PARSE_TAG, QUERY_TAG,
    SYNC_TAG,
};

use crate::backend::expect::{Expected, Kind};
use crate::backend::prepared::{BackendStatements, Definition};
use crate::session::relay::{Rewrite, Rewritten};

/// ParseComplete, as corepool makes it up.
const PARSE_COMPLETE: &[u8] = b"1\0\0\0\x04";
/// CloseComplete, as corepool makes it up.
const CLOSE_COMPLETE: &[u8] = b"3\0\0\0\x04";

/// The client's named statements: its name → what the statement is.
#[derive(Debug, Default)]
pub struct ClientStatements {
    by_name: HashMap<Vec<u8>, Definition>,
}

/// The rewriter of one relay run: the client's statements and the lent backend's.
pub struct Rewriter<'a> {
    /// The client's statements.
    pub client: &'a mut ClientStatements,
    /// The backend's statements.
    pub backend: &'a mut BackendStatements,
    /// `max_prepared_statements`.
    pub max: usize,
}

impl Rewrite for Rewriter<'_> {
    fn client_message(&mut self, tag: u8, frame: &[u8], expect: &mut Expected) -> Rewritten {
        let body = frame.get(5..).unwrap_or_default();
        match tag {
            PARSE_TAG => self.parse(body, expect),
            BIND_TAG => {
                let Some((portal, rest)) = split_cstr(body) else {
                    return pass(expect, Kind::Bind);
                };
                let Some((statement, rest)) = split_cstr(rest) else {
                    return pass(expect, Kind::Bind);
                };
                let Some(def) = self.known(statement) else {
                    return pass(expect, Kind::Bind);
                };
                let mut out = Vec::with_capacity(frame.len() + 16);
                let name = self.ensure(&def, &mut out, expect);
                write_message(
                    BIND_TAG,
                    &[portal, b"\0", name.as_bytes(), b"\0", rest],
                    &mut out,
                );
                expect.sent(Kind::Bind, false, None);
                Rewritten::Replace(out)
            }
            DESCRIBE_TAG => {
                let (target, rest) = body.split_first().unwrap_or((&b'P', &[]));
                let kind = if *target == b'S' {
                    Kind::DescribeStatement
                } else {
                    Kind::DescribePortal
                };
                let name = split_cstr(rest).map(|(n, _)| n).unwrap_or_default();
                let def = (*target == b'S').then(|| self.known(name)).flatten();
                let Some(def) = def else {
                    return pass(expect, kind);
                };
                let mut out = Vec::with_capacity(32);
                let backend_name = self.ensure(&def, &mut out, expect);
                write_message(
                    DESCRIBE_TAG,
                    &[b"S", backend_name.as_bytes(), b"\0"],
                    &mut out,
                );
                expect.sent(kind, false, None);
                Rewritten::Replace(out)
            }
            CLOSE_TAG => {
                let (target, rest) = body.split_first().unwrap_or((&b'P', &[]));
                let name = split_cstr(rest).map(|(n, _)| n).unwrap_or_default();
                if *target == b'S' && !name.is_empty() {
                    // The backend keeps it for other clients (or evicts it in its turn).
                    self.client.by_name.remove(name);
                    expect.made_up(CLOSE_COMPLETE);
                    return Rewritten::Drop;
                }
                pass(expect, Kind::Close)
            }
            EXECUTE_TAG => pass(expect, Kind::Execute),
            SYNC_TAG => pass(expect, Kind::Sync),
            QUERY_TAG => pass(expect, Kind::Query),
            FUNCTION_CALL_TAG => pass(expect, Kind::FunctionCall),
            // Flush asks for no reply; COPY data belongs to the request in progress.
            _ => Rewritten::Forward,
        }
    }

    fn statement_failed(&mut self, def: &Definition) {
        self.backend.forget(def);
    }
}

impl Rewriter<'_> {
    fn parse(&mut self, body: &[u8], expect: &mut Expected) -> Rewritten {
        let Some((name, rest)) = split_cstr(body) else {
            return pass(expect, Kind::Parse);
        };
        if name.is_empty() {
            return pass(expect, Kind::Parse);
        }
        let def: Definition = Rc::from(rest);
        self.client.by_name.insert(name.to_vec(), def.clone());
        if self.backend.lookup(&def).is_some() {
            // Prepared here already (by this client or another): the client's ParseComplete
            // is made up, in its place.
            expect.made_up(PARSE_COMPLETE);
            return Rewritten::Drop;
        }
        let mut out = Vec::with_capacity(body.len() + 32);
        let (backend_name, evicted) = self.backend.add(def.clone(), self.max);
        if let Some(old) = evicted {
            close_statement(&old, &mut out, expect);
        }
        write_message(PARSE_TAG, &[backend_name.as_bytes(), b"\0", rest], &mut out);
        expect.sent(Kind::Parse, false, Some(def));
        Rewritten::Replace(out)
    }

    /// The definition of the client's statement `name`, if the client prepared it.
    fn known(&self, name: &[u8]) -> Option<Definition> {
        if name.is_empty() {
            return None;
        }
        self.client.by_name.get(name).cloned()
    }

    /// The backend's name for `def`, preparing it there first (hidden) when it lacks it.
    fn ensure(&mut self, def: &Definition, out: &mut Vec<u8>, expect: &mut Expected) -> String {
        if let Some(name) = self.backend.lookup(def) {
            return name.to_owned();
        }
        self.backend.re_prepared += 1;
        let (name, evicted) = self.backend.add(def.clone(), self.max);
        if let Some(old) = evicted {
            close_statement(&old, out, expect);
        }
        write_message(PARSE_TAG, &[name.as_bytes(), b"\0", def], out);
        expect.sent(Kind::Parse, true, Some(def.clone()));
        name
    }
}

/// A message passed on unchanged, its reply owed in order.
fn pass(expect: &mut Expected, kind: Kind) -> Rewritten {
    expect.sent(kind, false, None);
    Rewritten::Forward
}

/// Closes backend statement `name` (evicted), its CloseComplete hidden.
fn close_statement(name: &str, out: &mut Vec<u8>, expect: &mut Expected) {
    write_message(CLOSE_TAG, &[b"S", name.as_bytes(), b"\0"], out);
    expect.sent(Kind::Close, true, None);
}

/// The C string at the front of `bytes` and what follows it.
fn split_cstr(bytes: &[u8]) -> Option<(&[u8], &[u8])> {
    let end = memchr::memchr(0, bytes)?;
    Some((&bytes[..end], &bytes[end + 1..]))
}

/// Appends a message of `tag` whose body is `parts` in order.
fn write_message(tag: u8, parts: &[&[u8]], out: &mut Vec<u8>) {
    let len: usize = parts.iter().map(|p| p.len()).sum::<usize>() + 4;
    out.push(tag);
    out.extend_from_slice(&(len as u32).to_be_bytes());
    for p in parts {
        out.extend_from_slice(p);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(tag: u8, parts: &[&[u8]]) -> Vec<u8> {
        let mut v = Vec::new();
        write_message(tag, parts, &mut v);
        v
    }

    #[test]
    fn names_map_onto_the_backends_statements_and_replies_stay_in_place() {
        let mut client = ClientStatements::default();
        let mut backend = BackendStatements::default();
        let mut expect = Expected::default();
        let mut r = Rewriter {
            client: &mut client,
            backend: &mut backend,
            max: 10,
        };
        let parse = msg(PARSE_TAG, &[b"s1\0SELECT $1\0", &[0, 0]]);
        let Rewritten::Replace(out) = r.client_message(PARSE_TAG, &parse, &mut expect) else {
            panic!("a new statement is prepared under corepool's name");
        };
        assert_eq!(out, msg(PARSE_TAG, &[b"__cp1\0SELECT $1\0", &[0, 0]]));
        let bind = msg(BIND_TAG, &[b"\0s1\0", &[0, 0, 0, 0, 0, 0]]);
        let Rewritten::Replace(out) = r.client_message(BIND_TAG, &bind, &mut expect) else {
            panic!("the Bind names the backend's statement");
        };
        assert_eq!(out, msg(BIND_TAG, &[b"\0__cp1\0", &[0, 0, 0, 0, 0, 0]]));
        // Another client's Parse of the same text finds it: its ParseComplete is made up.
        let mut other = ClientStatements::default();
        let mut r2 = Rewriter {
            client: &mut other,
            backend: r.backend,
            max: 10,
        };
        let parse2 = msg(PARSE_TAG, &[b"mine\0SELECT $1\0", &[0, 0]]);
        assert_eq!(
            r2.client_message(PARSE_TAG, &parse2, &mut expect),
            Rewritten::Drop
        );
        // A Close is answered by corepool; the statement stays on the backend.
        let close = msg(CLOSE_TAG, &[b"Smine\0"]);
        assert_eq!(
            r2.client_message(CLOSE_TAG, &close, &mut expect),
            Rewritten::Drop
        );
        assert!(other.by_name.is_empty());
        assert_eq!(backend.len(), 1);
    }

    #[test]
    fn a_backend_without_the_statement_prepares_it_hidden_and_evicts_past_the_limit() {
        let mut client = ClientStatements::default();
        let mut first = BackendStatements::default();
        let mut expect = Expected::default();
        let parse = |name: &[u8], text: &[u8]| msg(PARSE_TAG, &[name, b"\0", text, b"\0", &[0, 0]]);
        {
            let mut r = Rewriter {
                client: &mut client,
                backend: &mut first,
                max: 1,
            };
            r.client_message(PARSE_TAG, &parse(b"a", b"SELECT 1"), &mut expect);
            r.client_message(PARSE_TAG, &parse(b"b", b"SELECT 2"), &mut expect);
        }
        assert_eq!(first.len(), 1, "evicted past max_prepared_statements");
        // On another backend, binding `a` prepares it there first.
        let mut second = BackendStatements::default();
        let mut r = Rewriter {
            client: &mut client,
            backend: &mut second,
            max: 5,
        };
        let bind = msg(BIND_TAG, &[b"\0a\0", &[0, 0, 0, 0, 0, 0]]);
        let Rewritten::Replace(out) = r.client_message(BIND_TAG, &bind, &mut expect) else {
            panic!("replaced");
        };
        let mut want = parse(b"__cp1", b"SELECT 1");
        want.extend(msg(BIND_TAG, &[b"\0__cp1\0", &[0, 0, 0, 0, 0, 0]]));
        assert_eq!(out, want);
        assert_eq!(second.re_prepared, 1);
    }
}
