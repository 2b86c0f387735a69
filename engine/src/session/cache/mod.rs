//! The session's query-cache step (docs/query-cache.md): at every request, before it goes to
//! a backend, tell the relay which tables it writes; answer a cacheable SELECT from the cache,
//! or arm the relay to capture its reply.
//!
//! What is cached follows Pgpool-II 4.3's `pool_memqcache.c`: one SELECT (also `WITH …
//! SELECT` without writes) outside a transaction that wrote; not one calling a function that
//! is not immutable, nor one reading a temporary or unlogged table, a view or a system catalog
//! (unless in cache_safe_memqcache_table_list), nor a table in
//! cache_unsafe_memqcache_table_list; `FOR UPDATE`/`FOR SHARE` never. Results are stored only
//! from statements run outside a transaction block; before a hit is served, or a capture
//! armed, whatever the backend still owes the client is forwarded (a hit never overtakes an
//! earlier reply).
//!
//! The key is the session's start-up parameters (user, database, options…), every `SET`
//! it made (search_path, role…), then the request's own bytes: the Query text, or for an
//! extended run its Parse, Bind (parameters and result formats), Describe and Execute.
//!
//! # Layout
//! - `analyze`: what a query string means for the cache, from its text (pure).
//! - `lookup`: the catalog facts the rules need (immutable functions, uncacheable relations).
//! - `tests`: keys, settings, extended-protocol shapes.
//! - this file: [`CacheState`], the session's part, and the step itself.

pub(crate) mod analyze;

mod lookup;
#[cfg(test)]
mod tests;

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use bytes::BytesMut;
use corepool_protocol::framing::Header;
use corepool_protocol::message::frontend::{Bind, Execute, Parse};
use corepool_protocol::message::tags::{
    BIND_TAG, CLOSE_TAG, DESCRIBE_TAG, EXECUTE_TAG, FUNCTION_CALL_TAG, PARSE_TAG, QUERY_TAG,
    SYNC_TAG,
};
use corepool_protocol::message::write;
use corepool_protocol::message::TransactionStatus;

use super::relay::{CacheTrack, Capture, End};
use super::Session;
use crate::query_cache::{QueryCache, TableGen};
use analyze::{analyze, Analysis, Effect, Read};

/// Table generations a session remembers before it starts over.
const MAX_SESSION_TABLES: usize = 1024;

/// A session's query-cache state (only sessions of a proxy with the cache on have one).
#[derive(Debug)]
pub(crate) struct CacheState {
    /// What the relay captures and invalidates.
    pub track: CacheTrack,
    database: String,
    /// user, database and start-up parameters, as key bytes.
    startup: Vec<u8>,
    /// `startup` and the session's SETs: every key starts with it.
    base: Vec<u8>,
    sets: Vec<(String, String)>,
    /// The session changed its settings in a way corepool cannot follow: no caching.
    off: bool,
    /// `SET LOCAL` in the open transaction: no caching until it ends.
    local_off: bool,
    temp_tables: Vec<String>,
    /// Tables that running a prepared statement writes, by name (`sql:` prefix for SQL
    /// PREPARE), with "writes what cannot be named".
    statements: HashMap<String, (Vec<TableGen>, bool)>,
    /// The generation counters this session used, by table: the shared table is not locked
    /// again for them.
    gens: RefCell<HashMap<String, TableGen>>,
    /// Named statements' Parse bodies (text and parameter types) and what they read, for the
    /// keys of runs that bind them.
    prepared: HashMap<String, (Vec<u8>, Option<Read>)>,
}

impl CacheState {
    /// The state of a new session of `user` on `database`.
    pub fn new(
        cache: Arc<QueryCache>,
        user: &str,
        database: &str,
        params: &[(&str, &str)],
    ) -> Self {
        let mut startup = Vec::with_capacity(64);
        for part in [user, database] {
            startup.extend_from_slice(part.as_bytes());
            startup.push(0);
        }
        let mut sorted: Vec<_> = params
            .iter()
            .filter(|(k, _)| !matches!(*k, "user" | "database" | "application_name"))
            .collect();
        sorted.sort_unstable();
        for (k, v) in sorted {
            startup.extend_from_slice(k.as_bytes());
            startup.push(b'=');
            startup.extend_from_slice(v.as_bytes());
            startup.push(0);
        }
        let mut s = Self {
            track: CacheTrack::new(cache),
            database: database.to_owned(),
            startup,
            base: Vec::new(),
            sets: Vec::new(),
            off: false,
            local_off: false,
            temp_tables: Vec::new(),
            statements: HashMap::new(),
            gens: RefCell::new(HashMap::new()),
            prepared: HashMap::new(),
        };
        s.rebuild_base();
        s
    }

    /// The state of a session starting with `startup`, when the shard's proxy caches.
    pub fn for_session(
        shard: &crate::shard::Shard,
        startup: &super::startup::Startup,
        params: &[(&str, &str)],
    ) -> Option<Box<Self>> {
        let cache = shard.state.query_cache.clone()?;
        let state = Self::new(cache, &startup.user, &startup.database, params);
        Some(Box::new(state))
    }

    fn rebuild_base(&mut self) {
        self.base.clear();
        self.base.extend_from_slice(&self.startup);
        self.base.push(1);
        for (k, v) in &self.sets {
            self.base.extend_from_slice(k.as_bytes());
            self.base.push(b'=');
            self.base.extend_from_slice(v.as_bytes());
            self.base.push(0);
        }
        self.base.push(1);
    }

    /// The key of a request: the session's part, the message tag, the request's bytes.
    pub fn key(&self, tag: u8, bytes: &[u8]) -> Box<[u8]> {
        let mut k = Vec::with_capacity(self.base.len() + 1 + bytes.len());
        k.extend_from_slice(&self.base);
        k.push(tag);
        k.extend_from_slice(bytes);
        k.into_boxed_slice()
    }

    fn cache(&self) -> &Arc<QueryCache> {
        &self.track.cache
    }

    fn gen(&self, table: &str) -> TableGen {
        if let Some(g) = self.gens.borrow().get(table) {
            return g.clone();
        }
        let g = self.cache().table(&format!("{}.{}", self.database, table));
        let mut gens = self.gens.borrow_mut();
        if gens.len() >= MAX_SESSION_TABLES {
            gens.clear();
        }
        gens.insert(table.to_owned(), g.clone());
        g
    }

    /// Tells the relay that the request about to go writes `tables` (or everything).
    fn wrote(&mut self, tables: &[String], all: bool) {
        if !self.cache().settings().auto_invalidation {
            return;
        }
        let mut gens: Vec<TableGen> = tables.iter().map(|t| self.gen(t)).collect();
        if all {
            gens.push(self.cache().everything().clone());
        }
        self.track.wrote(gens);
    }

    fn wrote_gens(&mut self, gens: Vec<TableGen>) {
        if self.cache().settings().auto_invalidation {
            self.track.wrote(gens);
        }
    }

    /// Applies what a query string does to the session's state and the relay's invalidation.
    /// `settled`: a setting it changes stays changed if it succeeds (it runs alone, outside a
    /// transaction block, which a ROLLBACK or a later error could undo).
    fn apply(&mut self, a: &Analysis, settled: bool) {
        let mut rebuild = false;
        for e in &a.effects {
            let setting = matches!(
                e,
                Effect::Set { .. } | Effect::Reset(_) | Effect::DiscardAll
            );
            if setting && !settled {
                // What the settings will be is not known: no more caching in this session.
                self.off = true;
                continue;
            }
            if setting {
                self.track.settings_in_flight = true;
            }
            match e {
                Effect::Set { name, value } => {
                    self.sets.retain(|(n, _)| n != name);
                    self.sets.push((name.clone(), value.clone()));
                    self.sets.sort_unstable();
                    rebuild = true;
                }
                Effect::SetLocal => self.local_off = true,
                Effect::Reset(Some(name)) => {
                    self.sets.retain(|(n, _)| n != name);
                    rebuild = true;
                }
                Effect::Reset(None) => {
                    self.sets.clear();
                    rebuild = true;
                }
                Effect::DiscardAll => {
                    self.sets.clear();
                    self.temp_tables.clear();
                    self.prepared.clear();
                    rebuild = true;
                }
                Effect::Deallocate(Some(name)) => {
                    self.prepared.remove(name);
                }
                Effect::Deallocate(None) => self.prepared.clear(),
                Effect::TempTable(t) => self.temp_tables.push(t.clone()),
                Effect::Untrackable => self.off = true,
                Effect::Prepare { name, writes, all } => {
                    let gens = writes.iter().map(|t| self.gen(t)).collect();
                    self.statements.insert(format!("sql:{name}"), (gens, *all));
                }
                Effect::Execute(name) => {
                    if let Some((gens, all)) = self.statements.get(&format!("sql:{name}")) {
                        let mut gens = gens.clone();
                        if *all {
                            gens.push(self.cache().everything().clone());
                        }
                        self.wrote_gens(gens);
                    }
                }
            }
        }
        if rebuild {
            self.rebuild_base();
        }
        self.wrote(&a.writes, a.writes_all);
    }

    /// Follows an extended-protocol request (as far as it is in `bytes`): the writes of its
    /// Parses and of the statements its Binds run. Returns the run's length and its one
    /// statement when it is a shape the cache serves — an unnamed Parse, Bind of the unnamed
    /// portal, an optional Describe, Execute without a row limit, Sync; or the same without the
    /// Parse, binding a named statement whose Parse this session sent (then with that Parse's
    /// body, which the key must include).
    fn extended(&mut self, bytes: &[u8]) -> Option<(usize, Read, Option<Vec<u8>>)> {
        let mut pos = 0;
        let mut shape: Vec<u8> = Vec::with_capacity(5);
        let mut simple = true;
        let mut read = None;
        let mut named: Option<Vec<u8>> = None;
        let mut synced = None;
        while let Ok(Some(h)) = Header::parse(&bytes[pos..]) {
            let Some(body) = bytes.get(pos + 5..pos + h.frame_len()) else {
                break;
            };
            shape.push(h.tag);
            match h.tag {
                PARSE_TAG => match Parse::parse(body) {
                    Ok(p) => {
                        let a = analyze(p.query());
                        let mut gens: Vec<TableGen> =
                            a.writes.iter().map(|t| self.gen(t)).collect();
                        if a.writes_all {
                            gens.push(self.cache().everything().clone());
                        }
                        self.statements
                            .insert(p.name().to_owned(), (gens.clone(), a.writes_all));
                        let effects = Analysis {
                            read: None,
                            writes: Vec::new(),
                            ..a.clone()
                        };
                        self.apply(&effects, false);
                        self.wrote_gens(gens);
                        simple &= p.name().is_empty();
                        if !p.name().is_empty() {
                            let entry = (body.to_vec(), a.read.clone());
                            self.prepared.insert(p.name().to_owned(), entry);
                        }
                        read = a.read;
                    }
                    Err(_) => simple = false,
                },
                BIND_TAG => match Bind::parse(body) {
                    Ok(b) => {
                        if let Some((gens, _)) = self.statements.get(b.statement()) {
                            let gens = gens.clone();
                            self.wrote_gens(gens);
                        }
                        simple &= b.portal().is_empty();
                        if !b.statement().is_empty() {
                            match self.prepared.get(b.statement()) {
                                Some((parse, r)) if shape.len() == 1 => {
                                    named = Some(parse.clone());
                                    read = r.clone();
                                }
                                _ => simple = false,
                            }
                        }
                    }
                    Err(_) => simple = false,
                },
                EXECUTE_TAG => match Execute::parse(body) {
                    Ok(e) => simple &= e.portal().is_empty() && e.max_rows() <= 0,
                    Err(_) => simple = false,
                },
                SYNC_TAG => {
                    synced = Some(pos + h.frame_len());
                    break;
                }
                CLOSE_TAG if body.first() == Some(&b'S') => {
                    let name = body
                        .get(1..body.len().saturating_sub(1))
                        .unwrap_or_default();
                    if let Ok(name) = std::str::from_utf8(name) {
                        self.prepared.remove(name);
                    }
                    simple = false;
                }
                _ => {}
            }
            pos += h.frame_len();
        }
        let Some(len) = synced else {
            // A Parse further on may redefine a statement this session knows.
            self.prepared.clear();
            // The rest of the run is in a later chunk: whatever it binds may write.
            let all: Vec<TableGen> = self
                .statements
                .values()
                .flat_map(|(g, _)| g.iter().cloned())
                .collect();
            self.wrote_gens(all);
            return None;
        };
        let shaped = match named {
            None => matches!(
                shape.as_slice(),
                [PARSE_TAG, BIND_TAG, EXECUTE_TAG, SYNC_TAG]
                    | [PARSE_TAG, BIND_TAG, DESCRIBE_TAG, EXECUTE_TAG, SYNC_TAG]
            ),
            Some(_) => matches!(
                shape.as_slice(),
                [BIND_TAG, EXECUTE_TAG, SYNC_TAG] | [BIND_TAG, DESCRIBE_TAG, EXECUTE_TAG, SYNC_TAG]
            ),
        };
        match (simple && shaped, read) {
            (true, Some(r)) => Some((len, r, named)),
            _ => None,
        }
    }
}

/// Why a SELECT of the right shape is still not cached, once the catalog is known.
enum Verdict {
    Cache(Vec<TableGen>),
    No,
    /// Ask the catalog about these functions and relations first.
    LookUp(Vec<String>, Vec<String>),
}

impl Session<'_> {
    /// The cache's step for the request at the front; true when it answered it.
    pub(super) async fn cache_step(&mut self) -> Result<bool, End> {
        let Some(front) = self.side.front() else {
            return Ok(false);
        };
        let node = self.router.current;
        let (quiet, status) = match self.backends.get_mut(node) {
            Some(c) => (c.side.is_quiet(), c.status),
            None => return Err(End::backend_lost(None)),
        };
        let Some(state) = self.cache.as_mut() else {
            return Ok(false);
        };
        if quiet && status == TransactionStatus::Idle {
            state.local_off = false;
        }
        if std::mem::take(&mut state.track.settings_uncertain) {
            // A SET (RESET, DISCARD) failed: the settings are not what the key says.
            state.off = true;
        }
        let candidate = match front.tag {
            QUERY_TAG => {
                let (len, sql) = self.side.front_query();
                if len == 0 {
                    return Ok(false);
                }
                let a = analyze(&sql);
                let settled = quiet && status == TransactionStatus::Idle && !a.multi;
                state.apply(&a, settled);
                a.read.map(|r| (len, r, None))
            }
            PARSE_TAG | BIND_TAG => state.extended(self.side.front_bytes()),
            FUNCTION_CALL_TAG => {
                state.wrote(&[], true);
                None
            }
            _ => None,
        };
        let Some((len, read, named)) = candidate else {
            return Ok(false);
        };
        if state.off || state.local_off {
            state.cache().count_select();
            return Ok(false);
        }
        // A hit must not overtake replies still owed (a pipelining client, tokio-postgres's
        // Close of a dropped statement): they go to the client first.
        let status = if quiet {
            status
        } else {
            self.drain_current().await?;
            match self.backends.get_mut(node) {
                Some(c) => c.status,
                None => return Err(End::backend_lost(None)),
            }
        };
        let Some(state) = self.cache.as_mut() else {
            return Ok(false);
        };
        // A transaction that wrote sees its own changes, not the cache's.
        let tx_wrote = !state.track.tx_written.is_empty() || !state.track.pending.is_empty();
        if status == TransactionStatus::Failed || (status != TransactionStatus::Idle && tx_wrote) {
            state.cache().count_select();
            return Ok(false);
        }
        let mut verdict = self.cache_verdict(&read);
        if let Verdict::LookUp(functions, relations) = verdict {
            // Boxed: a catalog query is rare, and its state inline would size every session.
            if !Box::pin(self.cache_look_up(&functions, &relations)).await? {
                if let Some(s) = self.cache.as_ref() {
                    s.cache().count_select();
                }
                return Ok(false);
            }
            verdict = self.cache_verdict(&read);
        }
        let Some(state) = self.cache.as_mut() else {
            return Ok(false);
        };
        let Verdict::Cache(reads) = verdict else {
            state.cache().count_select();
            return Ok(false);
        };
        let request = &self.side.front_bytes()[..len.min(self.side.front_bytes().len())];
        let key = match (front.tag, named) {
            (QUERY_TAG, _) => state.key(QUERY_TAG, request.get(5..).unwrap_or_default()),
            (_, None) => state.key(PARSE_TAG, request),
            (_, Some(mut parse)) => {
                parse.extend_from_slice(request);
                state.key(BIND_TAG, &parse)
            }
        };
        if let Some(reply) = state.cache().get(&key, crate::runtime::now()) {
            self.side.consume_front(len);
            let mut z = BytesMut::with_capacity(6);
            write::backend::ready_for_query(status, &mut z);
            self.client.send(reply).map_err(|_| End::ClientGone)?;
            self.reply(z).await?;
            return Ok(true);
        }
        state.cache().count_select();
        if status == TransactionStatus::Idle {
            let snapshot = state.cache().snapshot(&reads);
            state.track.capture = Some(Capture {
                key,
                snapshot,
                bytes: Vec::new(),
                failed: false,
            });
        }
        Ok(false)
    }

    /// Whether `read` may be cached by what is known; the generations it reads when it may.
    fn cache_verdict(&self, read: &Read) -> Verdict {
        let Some(state) = self.cache.as_ref() else {
            return Verdict::No;
        };
        let rules = self.shard.rules();
        let catalog = self.shard.catalog();
        // DDL bumps the all-tables generation at its reply: what this core learnt from the
        // catalog before may be wrong now (a table dropped and re-created as a view).
        let now = state.cache().everything().load(Ordering::Acquire);
        if catalog.cache_facts_gen() != now {
            catalog.forget_cache_facts(now);
        }
        let mut gens = Vec::with_capacity(read.relations.len());
        let (mut functions, mut relations) = (Vec::new(), Vec::new());
        for r in &read.relations {
            let qualified = match &r.schema {
                Some(s) => format!("{s}.{}", r.table),
                None => r.table.clone(),
            };
            let listed = |l: &crate::router::patterns::PatternList| {
                l.matches(&r.table) || l.matches(&qualified)
            };
            if listed(&rules.cache_unsafe) {
                return Verdict::No;
            }
            let safe = listed(&rules.cache_safe);
            let schema = r.schema.as_deref();
            let system = matches!(schema, Some("pg_catalog" | "information_schema"))
                || (schema.is_none() && r.table.starts_with("pg_"));
            let temp = schema.is_some_and(|s| s.starts_with("pg_temp"))
                || state.temp_tables.contains(&r.table);
            if temp || (system && !safe) {
                return Verdict::No;
            }
            if !safe {
                match catalog.uncacheable(&r.table) {
                    Some(true) => return Verdict::No,
                    Some(false) => {}
                    None => relations.push(r.table.clone()),
                }
            }
            gens.push(state.gen(&r.table));
        }
        for f in &read.functions {
            match catalog.immutable(f) {
                Some(false) => return Verdict::No,
                Some(true) => {}
                None => functions.push(f.clone()),
            }
        }
        if functions.is_empty() && relations.is_empty() {
            Verdict::Cache(gens)
        } else {
            Verdict::LookUp(functions, relations)
        }
    }

    /// Answers the cache's in-band commands: Pgpool-II 4.6's `PGPOOL SET CACHE DELETE
    /// 'query'` (this session's entry for that exact Query text) and corepool's `PGPOOL
    /// INVALIDATE QUERY CACHE` (every entry, as pcp_invalidate_query_cache). `None` for other
    /// commands.
    pub(super) fn cache_command(&self, sql: &str, status: TransactionStatus) -> Option<BytesMut> {
        let trimmed = sql.trim().trim_end_matches(';');
        let words: Vec<String> = trimmed
            .split_whitespace()
            .take(4)
            .map(str::to_ascii_lowercase)
            .collect();
        let cache = self.cache.as_ref();
        if words == ["pgpool", "invalidate", "query", "cache"] {
            if let Some(c) = cache {
                c.cache().clear();
            }
            return Some(super::inband::notice_then_complete(
                "query cache invalidated",
                "SET",
                status,
            ));
        }
        if words != ["pgpool", "set", "cache", "delete"] {
            return None;
        }
        let rest = sql.trim().splitn(5, char::is_whitespace).nth(4)?;
        let rest = rest.trim().trim_end_matches(';').trim();
        let query = rest
            .strip_prefix('\'')
            .and_then(|r| r.strip_suffix('\''))
            .map(|q| q.replace("''", "'"))?;
        let mut body = query.as_bytes().to_vec();
        body.push(0);
        let deleted = cache.is_some_and(|c| c.cache().remove(&c.key(QUERY_TAG, &body)));
        let message = if deleted {
            format!("query cache deleted. query: \"{query}\"")
        } else {
            format!("query cache does not exist for query: \"{query}\"")
        };
        Some(super::inband::notice_then_complete(&message, "SET", status))
    }
}
