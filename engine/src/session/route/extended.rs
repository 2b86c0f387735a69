//! Routing an extended-protocol request (Parse, Bind, Describe, Execute … Sync): the node a
//! run goes to from its statements, named statements and portals, and the Parse to re-send when
//! a statement prepared on a standby must run on the primary.

use super::*;

impl SessionRouter {
    /// Decides an extended-protocol request from the messages buffered up to its Sync.
    pub(super) fn route_extended(&mut self, buf: &[u8]) -> Option<Action> {
        let mut pos = 0;
        let mut target: Option<usize> = None;
        let mut must_primary = false;
        let mut named_parses: Vec<(String, Bytes, bool)> = Vec::new();
        // Borrowed from the client buffer: no allocation per Bind.
        let mut bound: smallvec::SmallVec<[&str; 2]> = smallvec::SmallVec::new();
        while let Ok(Some(h)) = Header::parse(&buf[pos..]) {
            let Some(body) = buf.get(pos + 5..pos + h.frame_len()) else {
                break;
            };
            match h.tag {
                PARSE_TAG => {
                    let Ok(p) = Parse::parse(body) else { break };
                    let sql = p.query();
                    let (classified, decision) = self.classify_and_decide(sql);
                    let read = match decision {
                        Decision::Balance(checks) => match self.resolve(&checks) {
                            None => return Some(Action::Catalog(Box::new(checks))),
                            Some(w) => !w,
                        },
                        _ => false,
                    };
                    if !read {
                        must_primary = true;
                    }
                    let c = classified.as_ref().ok();
                    self.predict(c, sql, !read && writes(c.map(|c| c.kind)));
                    if !p.name().is_empty() {
                        let bytes = Bytes::copy_from_slice(&buf[pos..pos + h.frame_len()]);
                        named_parses.push((p.name().to_owned(), bytes, !read));
                    }
                    target.get_or_insert(if read { self.read_node() } else { self.primary });
                }
                BIND_TAG => {
                    if let Ok(b) = Bind::parse(body) {
                        if !b.statement().is_empty()
                            && !named_parses.iter().any(|(n, _, _)| n == b.statement())
                        {
                            bound.push(b.statement());
                        }
                    }
                }
                SYNC_TAG => break,
                _ => {}
            }
            pos += h.frame_len();
        }
        // Statements prepared earlier run where they were prepared, unless this request must
        // now go to the primary (a write happened in the transaction): then re-send the Parse.
        // A bound statement that writes counts as a write now (its Parse was routed earlier).
        let bound_writes = bound
            .iter()
            .any(|n| self.prepared.get(*n).is_some_and(|p| p.writes));
        if bound_writes {
            must_primary = true;
            self.predict(None, "", true);
        }
        // Every bound statement the primary lacks is re-parsed there (a request may bind
        // several); only those are then marked as present on it.
        let mut reparse: Vec<(&str, Bytes)> = Vec::new();
        for name in &bound {
            if let Some(p) = self.prepared.get(*name) {
                if must_primary
                    || (self.flags.writing && self.primary_status != TransactionStatus::Idle)
                {
                    must_primary = true;
                    if p.on & bit(self.primary) == 0 {
                        if let Some(parse) = &p.parse {
                            reparse.push((name, parse.clone()));
                        }
                    }
                } else {
                    target.get_or_insert(p.node);
                }
            }
        }
        let node = if must_primary {
            self.primary
        } else {
            target.unwrap_or(self.current)
        };
        self.count(
            node,
            Some(if must_primary {
                StatementKind::Other
            } else {
                StatementKind::Select
            }),
        );
        for (name, parse, writes) in named_parses {
            self.prepared.insert(
                name,
                Prepared {
                    node,
                    on: bit(node),
                    parse: Some(parse),
                    writes,
                },
            );
        }
        if !reparse.is_empty() {
            let primary = bit(self.primary);
            let mut parses = Vec::with_capacity(reparse.len());
            for (name, parse) in reparse {
                if let Some(p) = self.prepared.get_mut(name) {
                    p.on |= primary;
                }
                parses.push(parse);
            }
            return Some(Action::Reparse {
                node: self.primary,
                parses,
            });
        }
        if let Some(fence) = self.fenced(node) {
            return Some(fence);
        }
        self.to_node(node)
    }
}
