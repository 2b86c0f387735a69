//! The catalog facts the query cache's rules need, asked of the session's backend once per
//! name and core: which functions are immutable, which relations are views, temporary,
//! unlogged or catalogs.

use std::sync::atomic::Ordering;

use super::super::relay::End;
use super::super::Session;
use crate::backend::{internal_query, quote_literal};

impl Session<'_> {
    /// Asks the current backend which functions are immutable and which relations are views,
    /// temporary, unlogged or catalogs; false when a lookup failed (an aborted transaction).
    pub(super) async fn cache_look_up(
        &mut self,
        functions: &[String],
        relations: &[String],
    ) -> Result<bool, End> {
        let limits = self.shard.limits();
        let catalog = self.shard.catalog();
        let everything = match self.cache.as_ref() {
            Some(s) => s.cache().everything().clone(),
            None => return Ok(false),
        };
        let gen = catalog.cache_facts_gen();
        // Facts learnt while DDL ran are not kept: the next statement asks again.
        let unchanged =
            || everything.load(Ordering::Acquire) == gen && catalog.cache_facts_gen() == gen;
        let Some(conn) = self.backends.get_mut(self.router.current) else {
            return Err(End::backend_lost(None));
        };
        let list = |names: &[String]| {
            names
                .iter()
                .map(|n| quote_literal(n))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let lost = |e: crate::backend::ConnectError| match e {
            crate::backend::ConnectError::Io { source, .. } => End::backend_lost(Some(source)),
            _ => End::backend_lost(None),
        };
        if !functions.is_empty() {
            let sql = format!(
                "SELECT proname, bool_and(provolatile = 'i') FROM pg_catalog.pg_proc WHERE proname IN ({}) GROUP BY proname",
                list(functions)
            );
            match internal_query(conn, &sql, &limits).await.map_err(lost)? {
                Some(_) if !unchanged() => return Ok(false),
                Some(rows) => {
                    // Names not in pg_proc are SQL syntax (COALESCE, CASE…), not functions.
                    for f in functions {
                        catalog.set_immutable(f, true);
                    }
                    for row in rows {
                        if let [Some(name), Some(v)] = row.as_slice() {
                            catalog.set_immutable(name, v == "t");
                        }
                    }
                }
                None => return Ok(false),
            }
        }
        if !relations.is_empty() {
            let sql = format!(
                "SELECT c.relname, bool_or(c.relkind IN ('v', 'm') OR c.relpersistence <> 'p' OR n.nspname IN ('pg_catalog', 'information_schema')) FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace WHERE c.relname IN ({}) GROUP BY c.relname",
                list(relations)
            );
            match internal_query(conn, &sql, &limits).await.map_err(lost)? {
                Some(_) if !unchanged() => return Ok(false),
                Some(rows) => {
                    for r in relations {
                        catalog.set_uncacheable(r, false);
                    }
                    for row in rows {
                        if let [Some(name), Some(v)] = row.as_slice() {
                            catalog.set_uncacheable(name, v == "t");
                        }
                    }
                }
                None => return Ok(false),
            }
        }
        Ok(true)
    }
}
