//! The catalog facts the query cache's rules need, asked of the session's backend once per
//! name and core: which functions are immutable, which relations are views, temporary,
//! unlogged or catalogs.

use std::sync::atomic::Ordering;

use super::super::relay::End;
use super::super::Session;
use crate::backend::{internal_query, quote_literal};
use crate::shard::CatalogCache;

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
        let checks = [
            (
                functions,
                "SELECT proname, bool_and(provolatile = 'i') FROM pg_catalog.pg_proc WHERE proname IN ({}) GROUP BY proname",
                Fact::Immutable,
            ),
            (
                relations,
                "SELECT c.relname, bool_or(c.relkind IN ('v', 'm') OR c.relpersistence <> 'p' OR n.nspname IN ('pg_catalog', 'information_schema')) FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace WHERE c.relname IN ({}) GROUP BY c.relname",
                Fact::Uncacheable,
            ),
        ];
        for (names, query, fact) in checks {
            if names.is_empty() {
                continue;
            }
            let list: Vec<String> = names.iter().map(|n| quote_literal(n)).collect();
            let sql = query.replace("{}", &list.join(", "));
            let rows = match internal_query(conn, &sql, &limits).await {
                Ok(Some(_)) if !unchanged() => return Ok(false),
                Ok(Some(rows)) => rows,
                Ok(None) => return Ok(false),
                Err(crate::backend::ConnectError::Io { source, .. }) => {
                    return Err(End::backend_lost(Some(source)))
                }
                Err(_) => return Err(End::backend_lost(None)),
            };
            // A name the catalog does not list: for functions, SQL syntax (COALESCE, CASE…)
            // that is no function at all; for relations, nothing that stops caching.
            for n in names {
                fact.set(&catalog, n, fact.unlisted());
            }
            for row in rows {
                if let [Some(name), Some(v)] = row.as_slice() {
                    fact.set(&catalog, name, v == "t");
                }
            }
        }
        Ok(true)
    }
}

/// Which catalog fact a lookup answers.
#[derive(Clone, Copy)]
enum Fact {
    /// A function is immutable.
    Immutable,
    /// A relation is a view, temporary, unlogged or a catalog.
    Uncacheable,
}

impl Fact {
    /// What a name absent from the lookup's rows is taken to be.
    fn unlisted(self) -> bool {
        matches!(self, Fact::Immutable)
    }

    fn set(self, catalog: &CatalogCache, name: &str, value: bool) {
        match self {
            Fact::Immutable => catalog.set_immutable(name, value),
            Fact::Uncacheable => catalog.set_uncacheable(name, value),
        }
    }
}
