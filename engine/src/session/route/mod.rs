//! Per-session routing: which backend runs each request, decided at the request's first message.
//!
//! When the relay stops at a request (a Query, or an extended Parse … Sync run) the session
//! asks [`SessionRouter::decide`] about it. Most answers are "forward to the current backend"
//! (`None`) and cost one classification; otherwise the answer is an [`Action`] that the session
//! carries out (switch backend, run the statement on every backend, re-send a Parse, look up
//! the catalog, answer an in-band command).

use std::collections::HashMap;
use std::rc::Rc;

use bytes::Bytes;
use corepool_protocol::ddl;
use corepool_protocol::framing::Header;
use corepool_protocol::message::frontend::{Bind, Parse, Query};
use corepool_protocol::message::tags::{BIND_TAG, PARSE_TAG, QUERY_TAG, SYNC_TAG};
use corepool_protocol::message::TransactionStatus;
use corepool_protocol::sql::{classify, Classification, SqlError, StatementKind};

mod extended;

use super::relay::Observed;
use crate::cluster::stats::StatementClass;
use crate::cluster::ClusterState;
use crate::router::{choose_node, decide, Decision, ReadChecks, Rules, SessionFlags};
use crate::shard::CatalogCache;

/// What the session must do before the request at the front of the client buffer can go on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Run the request on `node` (connect to it if needed, after the current backend is drained).
    Switch(usize),
    /// Run a simple Query on every connected backend; the primary answers the client. Standbys
    /// get `standby_text` instead when set.
    Broadcast(Option<&'static str>),
    /// Send the Parses of named statements the primary lacks to it first (their
    /// ParseCompletes are dropped), then run the request there.
    Reparse {
        /// The primary.
        node: usize,
        /// The original Parse messages, one per statement the request binds.
        parses: Vec<Bytes>,
    },
    /// Look these up in the catalog (on the primary), then decide again. Boxed: rare, and
    /// inline it would make every action (and the session step holding one) larger.
    Catalog(Box<ReadChecks>),
    /// Answer a corepool command (SHOW pool_*, PGPOOL …) locally.
    InBand,
    /// Read-your-writes: run the read on this standby only if it has replayed the session's
    /// last committed write (fetch the primary's WAL position first if needed), else on the
    /// primary.
    Fence(usize),
    /// Run HighGo's sharding DDL on the primary with corepool-ddl (session/ddl.rs).
    Ddl,
}

/// A named prepared statement the session created.
#[derive(Debug, Clone)]
struct Prepared {
    /// Where it was first parsed: where it runs unless it must run on the primary.
    node: usize,
    /// Every node it exists on (bit per node id; ids above 63 share the top bit's fate and are
    /// re-parsed when needed).
    on: u64,
    parse: Option<Bytes>,
    writes: bool,
}

fn bit(node: usize) -> u64 {
    1u64 << node.min(63)
}

/// Routing state of one session.
pub struct SessionRouter {
    rules: Rc<Rules>,
    state: std::sync::Arc<ClusterState>,
    cache: Rc<CatalogCache>,
    /// Routing flags (writing transaction, serializable, temp tables…).
    pub flags: SessionFlags,
    /// The primary's node id.
    pub primary: usize,
    /// The session's load-balance node.
    pub lb_node: usize,
    /// statement_level_load_balance.
    statement_level: bool,
    /// Each named prepared statement (extended Parse, or SQL PREPARE): where it lives, its Parse
    /// message (to re-send it elsewhere), and whether running it writes.
    prepared: HashMap<String, Prepared>,
    /// The node running requests now.
    pub current: usize,
    /// Predicted transaction status on the primary (updated at each request, corrected by the
    /// session from ReadyForQuery when the primary is quiet).
    pub primary_status: TransactionStatus,
    /// Nodes other than the primary the session may use (statement-level balancing picks among
    /// valid nodes; session-level uses `lb_node`).
    delay_threshold: u64,
    prefer_lower_delay: bool,
    /// Route statements (streaming replication with load balancing); otherwise only in-band
    /// commands are caught and everything else goes to the current backend.
    routing: bool,
    /// A catalog lookup failed: treat unknown facts as writes for the next decision.
    pub assume_writes_once: bool,
    /// Read-your-writes is on for this session.
    read_your_writes: bool,
    /// A write committed whose WAL position has not been fetched yet.
    pub unfenced_write: bool,
    /// The current explicit transaction wrote.
    tx_wrote: bool,
    /// WAL position (pg_lsn text) a standby must have replayed to serve this session's reads.
    pub fence: Option<String>,
    /// Standbys known to have replayed past `fence` (bit per node id).
    pub verified: u64,
    /// Named statements whose Parse was an in-band command (name → text): their Binds are
    /// answered by corepool too.
    pub in_band_statements: HashMap<String, String>,
    /// The shard whose statistics count this session's statements.
    shard: usize,
}

impl SessionRouter {
    /// A router for a session whose primary and load-balance node are known.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        rules: Rc<Rules>,
        state: std::sync::Arc<ClusterState>,
        cache: Rc<CatalogCache>,
        primary: usize,
        lb_node: usize,
        statement_level: bool,
        delay_threshold: u64,
        prefer_lower_delay: bool,
    ) -> Self {
        Self {
            rules,
            state,
            cache,
            flags: SessionFlags::default(),
            primary,
            lb_node,
            statement_level,
            prepared: HashMap::new(),
            current: primary,
            primary_status: TransactionStatus::Idle,
            delay_threshold,
            prefer_lower_delay,
            routing: true,
            assume_writes_once: false,
            read_your_writes: false,
            unfenced_write: false,
            tx_wrote: false,
            fence: None,
            verified: 0,
            in_band_statements: HashMap::new(),
            shard: 0,
        }
    }

    /// Counts statements into shard `id`'s statistics.
    pub fn on_shard(mut self, id: usize) -> Self {
        self.shard = id;
        self
    }

    /// Turns read-your-writes on or off.
    pub fn with_read_your_writes(mut self, on: bool) -> Self {
        self.read_your_writes = on;
        self
    }

    /// The bit of `node` in [`Self::verified`].
    pub fn node_bit(node: usize) -> u64 {
        bit(node)
    }

    /// A read for `target`: first make sure `target` has seen this session's writes.
    fn fenced(&self, target: usize) -> Option<Action> {
        let pending = self.unfenced_write || self.fence.is_some();
        if self.read_your_writes
            && target != self.primary
            && pending
            && self.verified & bit(target) == 0
        {
            return Some(Action::Fence(target));
        }
        None
    }

    /// A router that routes nothing: one backend, in-band commands only.
    pub fn passthrough(
        rules: Rc<Rules>,
        state: std::sync::Arc<ClusterState>,
        cache: Rc<CatalogCache>,
        node: usize,
    ) -> Self {
        let mut r = Self::new(rules, state, cache, node, node, false, 0, false);
        r.routing = false;
        r
    }

    /// True when statements are routed across backends.
    pub fn is_routing(&self) -> bool {
        self.routing
    }

    /// Decides the request whose first message starts `buf`: `None` forwards it to the
    /// current backend.
    pub fn decide(&mut self, buf: &[u8], observed: Observed) -> Option<Action> {
        if observed.quiet && observed.node == self.primary {
            // Every earlier request has finished: the primary's own status replaces the guess.
            self.primary_status = observed.status;
        }
        let Ok(Some(h)) = Header::parse(buf) else {
            return None;
        };
        let body = buf.get(5..h.frame_len())?;
        if h.tag == QUERY_TAG && super::inband::is_in_band(body) {
            return Some(Action::InBand);
        }
        // Cheap prefilter: only a Parse whose text starts like SHOW/PGPOOL, or a Bind when some
        // in-band statement was prepared, is looked at closely (the full parse happens once).
        let maybe_in_band = match h.tag {
            PARSE_TAG => parse_text_might_be_in_band(body) || parse_text_might_be_ddl(body),
            BIND_TAG => !self.in_band_statements.is_empty(),
            _ => false,
        };
        if maybe_in_band {
            if let Some(run) = super::inband_extended::in_band_run(buf, &self.in_band_statements) {
                if self.routing && run.executes && run.ddl {
                    // Routing flags and transaction status as for any write on the primary.
                    self.route_query(&run.sql);
                }
                if let Some(name) = run.parsed_name {
                    self.in_band_statements.insert(name, run.sql);
                }
                return Some(Action::InBand);
            }
        }
        // A Query's text is parsed (and checked as UTF-8) once, here.
        let query = if h.tag == QUERY_TAG {
            Query::parse(body).ok()
        } else {
            None
        };
        if let Some(q) = query
            .as_ref()
            .filter(|q| ddl::is_enhanced(q.query()) || ddl::among_other_statements(q.query()))
        {
            if self.routing {
                // Routing flags and transaction status as for any write on the primary.
                self.route_query(q.query());
            }
            return Some(Action::Ddl);
        }
        if !self.routing {
            // Statement counters (SHOW pool_backend_stats) are kept in every mode.
            if let Some(q) = &query {
                let kind = classify(q.query()).ok().map(|c| c.kind);
                self.count(self.current, kind);
            }
            return None;
        }
        match h.tag {
            QUERY_TAG => query.and_then(|q| self.route_query(q.query())),
            PARSE_TAG | BIND_TAG | b'D' | b'E' | b'C' => self.route_extended(buf),
            SYNC_TAG | b'H' => None,
            _ => self.to_node(self.primary),
        }
    }

    fn to_node(&self, node: usize) -> Option<Action> {
        (node != self.current).then_some(Action::Switch(node))
    }

    /// The classifier's view of `sql` and where Pgpool-II's rules send it, for this session.
    fn classify_and_decide(&self, sql: &str) -> (Result<Classification, SqlError>, Decision) {
        let classified = classify(sql);
        let decision = decide(
            &self.rules,
            &self.flags,
            sql,
            &classified,
            self.primary_status,
        );
        (classified, decision)
    }

    fn route_query(&mut self, sql: &str) -> Option<Action> {
        let (classified, decision) = self.classify_and_decide(sql);
        let c = classified.as_ref().ok();
        let mut writing_read = false;
        let (target, action) = match decision {
            Decision::Primary => (self.primary, None),
            Decision::All { standby_text } => (self.primary, Some(Action::Broadcast(standby_text))),
            Decision::Balance(checks) => match self.resolve(&checks) {
                None => return Some(Action::Catalog(Box::new(checks))),
                Some(true) => {
                    writing_read = true;
                    (self.primary, None)
                }
                Some(false) => (self.read_node(), None),
            },
        };
        // SQL-level PREPARE / EXECUTE / DEALLOCATE stay with the node that prepared.
        let target = match c.map(|c| c.kind) {
            Some(StatementKind::Prepare { name, inner }) => {
                let p = Prepared {
                    node: target,
                    on: bit(target),
                    parse: None,
                    writes: !inner.is_read_only(),
                };
                self.prepared.insert(name.text(sql).to_ascii_lowercase(), p);
                target
            }
            Some(StatementKind::Execute { name })
            | Some(StatementKind::Deallocate { name: Some(name) }) => self
                .prepared
                .get(&name.text(sql).to_ascii_lowercase())
                .map(|p| p.node)
                .unwrap_or(self.primary),
            _ => target,
        };
        let wrote = writing_read
            || (target == self.primary
                && !matches!(action, Some(Action::Broadcast(_)))
                && writes(c.map(|c| c.kind)));
        self.count(target, c.map(|c| c.kind));
        self.predict(c, sql, wrote);
        if action.is_some() {
            return action;
        }
        if let Some(fence) = self.fenced(target) {
            return Some(fence);
        }
        self.to_node(target)
    }

    /// Some(true) when a check says the read writes (volatile function, unlogged table);
    /// None when the catalog must be asked first.
    fn resolve(&mut self, checks: &ReadChecks) -> Option<bool> {
        let assume = std::mem::take(&mut self.assume_writes_once);
        for f in &checks.functions {
            match self.cache.volatile(f) {
                Some(true) => return Some(true),
                Some(false) => {}
                None if assume => return Some(true),
                None => return None,
            }
        }
        for r in &checks.relations {
            match self.cache.unlogged(r) {
                Some(true) => return Some(true),
                Some(false) => {}
                None if assume => return Some(true),
                None => return None,
            }
        }
        Some(false)
    }

    /// The node a balanced read goes to: the session's load-balance node (re-drawn per statement
    /// with statement_level_load_balance), unless it lags past delay_threshold.
    fn read_node(&self) -> usize {
        let mut node = self.lb_node;
        if self.statement_level {
            node = choose_node(&self.state, rand::random::<f64>(), None).unwrap_or(self.primary);
        }
        if self.delay_threshold > 0 && node != self.primary {
            let lagging = |id: usize| {
                self.state
                    .node(id)
                    .is_some_and(|n| n.replication_delay() > self.delay_threshold)
            };
            if lagging(node) {
                let better = self.prefer_lower_delay.then(|| {
                    self.state
                        .nodes()
                        .iter()
                        .filter(|n| {
                            n.id != self.primary && n.status().is_valid() && n.weight() > 0.0
                        })
                        .min_by_key(|n| n.replication_delay())
                        .filter(|n| n.replication_delay() <= self.delay_threshold)
                        .map(|n| n.id)
                });
                node = better.flatten().unwrap_or(self.primary);
            }
        }
        if self.state.node(node).is_some_and(|n| n.status().is_valid()) {
            node
        } else {
            self.primary
        }
    }

    /// Counts a statement sent to `node` for SHOW pool_nodes / pool_backend_stats.
    fn count(&self, node: usize, kind: Option<StatementKind>) {
        let Some(n) = self.state.stats.shard(self.shard).node(node) else {
            return;
        };
        n.count(match kind {
            Some(
                StatementKind::Select
                | StatementKind::SelectLocking
                | StatementKind::SelectInto
                | StatementKind::Table,
            ) => StatementClass::Select,
            Some(StatementKind::Insert) => StatementClass::Insert,
            Some(StatementKind::Update) => StatementClass::Update,
            Some(StatementKind::Delete) => StatementClass::Delete,
            Some(StatementKind::Ddl(_)) => StatementClass::Ddl,
            _ => StatementClass::Other,
        });
    }

    /// Updates the flags as if the statement succeeds (pipelined requests are routed before the
    /// earlier ones finish), and predicts the primary's transaction status.
    fn predict(
        &mut self,
        c: Option<&corepool_protocol::sql::Classification>,
        sql: &str,
        wrote: bool,
    ) {
        let status = match c.map(|c| c.kind) {
            Some(StatementKind::TransactionBegin { .. }) => TransactionStatus::InTransaction,
            Some(StatementKind::Commit | StatementKind::Rollback) => TransactionStatus::Idle,
            _ => self.primary_status,
        };
        self.primary_status = status;
        self.flags.after(&self.rules, c, sql, wrote, true, status);
        // Read-your-writes: a write is committed when it ran outside a transaction, or when the
        // transaction that made it commits.
        let committed_write = match c.map(|c| c.kind) {
            Some(StatementKind::Commit) => std::mem::take(&mut self.tx_wrote),
            Some(StatementKind::Rollback) => {
                self.tx_wrote = false;
                false
            }
            _ if wrote && status == TransactionStatus::Idle => true,
            _ => {
                self.tx_wrote |= wrote;
                false
            }
        };
        if committed_write {
            self.unfenced_write = true;
            self.verified = 0;
        }
    }
}

/// The first six bytes of a Parse body's query text after its leading whitespace (fewer when
/// the text is shorter; empty for a body without a statement name): enough to tell the
/// statements corepool may answer itself from the rest without parsing.
fn parse_text_head(body: &[u8]) -> &[u8] {
    let Some(name_end) = memchr::memchr(0, body) else {
        return &[];
    };
    let text = &body[name_end + 1..];
    let start = text
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(text.len());
    &text[start..text.len().min(start + 6)]
}

/// Whether a Parse body's query text (after the statement name) starts like an in-band command,
/// without validating it.
fn parse_text_might_be_in_band(body: &[u8]) -> bool {
    let head = parse_text_head(body);
    head.len() >= 4
        && (head[..4].eq_ignore_ascii_case(b"show")
            || (head.len() == 6 && head.eq_ignore_ascii_case(b"pgpool")))
}

/// Whether a Parse body's query text could be enhanced DDL (`CREATE` or `DROP` first).
fn parse_text_might_be_ddl(body: &[u8]) -> bool {
    let head = parse_text_head(body);
    head.eq_ignore_ascii_case(b"create")
        || head
            .get(..4)
            .is_some_and(|h| h.eq_ignore_ascii_case(b"drop"))
}

/// Statements that count as writes for the writing-transaction flag.
fn writes(kind: Option<StatementKind>) -> bool {
    !matches!(
        kind,
        Some(
            StatementKind::Select
                | StatementKind::Empty
                | StatementKind::Show { .. }
                | StatementKind::Set { .. }
                | StatementKind::SetTransaction { .. }
                | StatementKind::Reset { .. }
                | StatementKind::Discard(_)
                | StatementKind::Explain { analyze: false, .. }
                | StatementKind::Table
                | StatementKind::Values
        )
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_in_band_prefilter_reads_the_text_after_the_name() {
        use super::parse_text_might_be_in_band as f;
        assert!(f(b"s0\0SHOW pool_nodes\0\0\0"));
        assert!(f(b"\0  pgpool set a = 1\0\0\0"));
        assert!(!f(b"show\0SELECT 1\0\0\0"), "the name is not the text");
        assert!(!f(b"\0SELECT 1\0\0\0"));
        assert!(!f(b"no terminator"));
    }
}
