//! Pgpool-II's routing rules for one statement (behaviour spec §3), as a pure function.
//!
//! [`decide`] says where a statement goes from its text, its classification and the session's
//! flags. Facts that need the catalog (function volatility, unlogged tables) come back as
//! [`ReadChecks`] for the caller to resolve; [`SessionFlags::after`] updates the flags once the
//! statement has run.

use corepool_protocol::message::TransactionStatus;
use corepool_protocol::sql::{
    ident, Classification, Isolation, LockMode, QueryKind, StatementKind,
};
use smallvec::SmallVec;

use super::patterns::{function_writes, PatternList};
use crate::config::{CheckTempTable, Config, DisableLoadBalanceOnWrite};

/// The routing parameters of pgpool.conf, compiled once per (re)load.
#[derive(Debug, Clone)]
pub struct Rules {
    /// load_balance_mode.
    pub load_balance: bool,
    /// allow_sql_comments.
    pub allow_sql_comments: bool,
    /// ignore_leading_white_space.
    pub ignore_leading_white_space: bool,
    /// disable_load_balance_on_write.
    pub disable_on_write: DisableLoadBalanceOnWrite,
    /// write_function_list.
    pub write_functions: PatternList,
    /// read_only_function_list.
    pub read_only_functions: PatternList,
    /// primary_routing_query_pattern_list.
    pub primary_patterns: PatternList,
    /// check_temp_table ≠ none.
    pub check_temp: bool,
    /// check_unlogged_table.
    pub check_unlogged: bool,
    /// app_name_redirect_preference_list.
    pub app_redirect: super::RedirectList,
    /// database_redirect_preference_list.
    pub db_redirect: super::RedirectList,
    /// cache_safe_memqcache_table_list: tables cached even when views, unlogged or catalogs.
    pub cache_safe: PatternList,
    /// cache_unsafe_memqcache_table_list: tables never cached.
    pub cache_unsafe: PatternList,
}

impl Rules {
    /// Compiles the routing parameters of `config`.
    pub fn from_config(config: &Config) -> Self {
        let primary_patterns: Vec<String> = config
            .primary_routing_query_pattern_list
            .iter()
            .flat_map(|p| p.split(';'))
            .map(str::to_owned)
            .collect();
        Self {
            load_balance: config.load_balance_mode,
            allow_sql_comments: config.allow_sql_comments,
            ignore_leading_white_space: config.ignore_leading_white_space,
            disable_on_write: config.disable_load_balance_on_write,
            write_functions: PatternList::compile(&config.write_function_list),
            read_only_functions: PatternList::compile(&config.read_only_function_list),
            primary_patterns: PatternList::compile(&primary_patterns),
            check_temp: config.check_temp_table != CheckTempTable::None,
            check_unlogged: config.check_unlogged_table,
            app_redirect: super::RedirectList::parse(&config.app_name_redirect_preference_list),
            db_redirect: super::RedirectList::parse(&config.database_redirect_preference_list),
            cache_safe: PatternList::compile(&config.cache_safe_memqcache_table_list),
            cache_unsafe: PatternList::compile(&config.cache_unsafe_memqcache_table_list),
        }
    }
}

/// Where a statement goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// The primary only.
    Primary,
    /// Every node the session uses (transaction control, SET, DISCARD…). `standby_text` is what
    /// the standbys get instead when the statement cannot run there as written (a READ WRITE
    /// or SERIALIZABLE BEGIN becomes a plain `BEGIN`).
    All {
        /// Replacement text for standbys, if any.
        standby_text: Option<&'static str>,
    },
    /// A read that may be load-balanced once the catalog facts in `checks` say so.
    Balance(ReadChecks),
}

/// Catalog facts a balanced read still depends on.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReadChecks {
    /// Functions whose `pg_proc` volatility decides (both function lists empty).
    pub functions: SmallVec<[String; 2]>,
    /// Tables that must not be unlogged (check_unlogged_table).
    pub relations: SmallVec<[String; 2]>,
}

/// Per-session routing state (spec 3.5), reset when the session ends.
#[derive(Debug, Clone, Default)]
pub struct SessionFlags {
    /// A write happened in the current explicit transaction (or, per mode, earlier).
    pub writing: bool,
    /// A write happened at any time in this session (`always` mode).
    pub wrote: bool,
    /// The current transaction is SERIALIZABLE.
    pub tx_serializable: bool,
    /// `SET SESSION CHARACTERISTICS … SERIALIZABLE` / default_transaction_isolation.
    pub session_serializable: bool,
    /// Temporary tables this session created (check_temp_table trace).
    pub temp_tables: Vec<String>,
    /// Tables written in the current transaction (dml_adaptive).
    pub written_tables: Vec<String>,
}

/// Decides where one statement goes. `classified` is the classifier's result (an error means
/// corepool could not lex the text: it goes to the primary, as Pgpool-II does with text its
/// parser rejects). `primary_status` is the primary connection's transaction status.
pub fn decide<E>(
    rules: &Rules,
    flags: &SessionFlags,
    sql: &str,
    classified: &Result<Classification, E>,
    primary_status: TransactionStatus,
) -> Decision {
    let Ok(c) = classified else {
        return Decision::Primary;
    };
    if c.multi_statement {
        return Decision::Primary;
    }
    match c.kind {
        StatementKind::Empty | StatementKind::Table | StatementKind::Show { .. } => {}
        StatementKind::Select if !c.data_modifying_cte => {}
        StatementKind::Copy {
            is_from: false,
            query,
            ..
        } if query.map_or(true, QueryKind::is_read_only) => {}
        StatementKind::Prepare { inner, .. } if inner.is_read_only() => {}
        StatementKind::TransactionBegin { modes } => {
            let rewrite =
                modes.read_only == Some(false) || modes.isolation == Some(Isolation::Serializable);
            return Decision::All {
                standby_text: rewrite.then_some("BEGIN"),
            };
        }
        StatementKind::Commit
        | StatementKind::Rollback
        | StatementKind::Savepoint
        | StatementKind::Release
        | StatementKind::RollbackTo
        | StatementKind::Reset { .. }
        | StatementKind::Discard(_)
        | StatementKind::Deallocate { name: None } => return Decision::All { standby_text: None },
        StatementKind::SetTransaction { modes, .. } | StatementKind::Set { modes, .. } => {
            if modes.read_only == Some(false) || modes.isolation == Some(Isolation::Serializable) {
                return Decision::Primary;
            }
            return Decision::All { standby_text: None };
        }
        StatementKind::Lock { mode } if mode < LockMode::RowExclusive => {
            return Decision::All { standby_text: None }
        }
        _ => return Decision::Primary,
    }

    // A read candidate: the conditions of spec 3.4, in order.
    if !rules.load_balance || !starts_like_a_select(rules, sql) {
        return Decision::Primary;
    }
    if rules.disable_on_write == DisableLoadBalanceOnWrite::Always && flags.wrote {
        return Decision::Primary;
    }
    if primary_status != TransactionStatus::Idle
        && (flags.writing
            || primary_status == TransactionStatus::Failed
            || flags.tx_serializable
            || flags.session_serializable)
    {
        return Decision::Primary;
    }
    let mut checks = ReadChecks::default();
    for r in &c.relations {
        let name = r.name.text(sql);
        let parts: SmallVec<[String; 2]> = ident::name_parts(name)
            .map(|p| p.normalized().into_owned())
            .collect();
        let (schema, table) = match parts.as_slice() {
            [t] => (None, t.as_str()),
            [s, t] => (Some(s.as_str()), t.as_str()),
            [_, s, t] => (Some(s.as_str()), t.as_str()),
            _ => continue,
        };
        let catalog =
            schema == Some("pg_catalog") || (schema.is_none() && table.starts_with("pg_"));
        if catalog {
            return Decision::Primary;
        }
        if rules.check_temp
            && (schema.is_some_and(|s| s.starts_with("pg_temp"))
                || flags.temp_tables.iter().any(|t| t == table))
        {
            return Decision::Primary;
        }
        if rules.disable_on_write == DisableLoadBalanceOnWrite::DmlAdaptive
            && flags.written_tables.iter().any(|t| t == table)
        {
            return Decision::Primary;
        }
        if rules.check_unlogged {
            checks.relations.push(table.to_owned());
        }
    }
    if rules.primary_patterns.matches(sql.trim()) {
        return Decision::Primary;
    }
    for f in &c.functions {
        let Some(name) = ident::unqualified(f.text(sql)) else {
            continue;
        };
        let name = name.normalized();
        match function_writes(&rules.write_functions, &rules.read_only_functions, &name) {
            Some(true) => return Decision::Primary,
            Some(false) => {}
            None => checks.functions.push(name.into_owned()),
        }
    }
    Decision::Balance(checks)
}

/// Spec 3.4.1: without allow_sql_comments, only text that starts like a SELECT is balanced.
fn starts_like_a_select(rules: &Rules, sql: &str) -> bool {
    if rules.allow_sql_comments {
        return true;
    }
    let text = if rules.ignore_leading_white_space {
        sql.trim_start()
    } else {
        sql
    };
    match text.as_bytes().first() {
        None | Some(b';') => true,
        Some(b) => matches!(b.to_ascii_lowercase(), b's' | b'(' | b'w' | b't'),
    }
}

impl SessionFlags {
    /// Updates the flags after a statement ran. `wrote` says it was routed as a write (or was a
    /// read calling a writing function); `ok` that it succeeded; `status` is the primary's
    /// transaction status afterwards.
    pub fn after(
        &mut self,
        rules: &Rules,
        c: Option<&Classification>,
        sql: &str,
        wrote: bool,
        ok: bool,
        status: TransactionStatus,
    ) {
        let mode = rules.disable_on_write;
        let kind = c.map(|c| c.kind);
        match kind {
            Some(StatementKind::TransactionBegin { modes }) => {
                self.tx_serializable = modes.isolation == Some(Isolation::Serializable);
                if mode == DisableLoadBalanceOnWrite::Transaction {
                    self.writing = false;
                }
                self.written_tables.clear();
            }
            Some(StatementKind::Commit | StatementKind::Rollback) => {
                self.tx_serializable = false;
                if mode == DisableLoadBalanceOnWrite::Transaction {
                    self.writing = false;
                }
                self.written_tables.clear();
            }
            Some(StatementKind::SetTransaction { session, modes }) => {
                if modes.isolation == Some(Isolation::Serializable) {
                    if session {
                        self.session_serializable = true;
                    } else {
                        self.tx_serializable = true;
                    }
                }
            }
            Some(StatementKind::Set { modes, .. }) => {
                if let Some(i) = modes.isolation {
                    self.session_serializable = i == Isolation::Serializable;
                }
            }
            _ => {
                if ok && wrote {
                    let in_tx = status != TransactionStatus::Idle;
                    self.wrote = true;
                    let sets = match mode {
                        DisableLoadBalanceOnWrite::Off | DisableLoadBalanceOnWrite::DmlAdaptive => {
                            false
                        }
                        DisableLoadBalanceOnWrite::Always => true,
                        _ => in_tx,
                    };
                    if sets {
                        self.writing = true;
                    }
                    if let Some(c) = c {
                        if in_tx && mode == DisableLoadBalanceOnWrite::DmlAdaptive {
                            for r in c.relations.iter().filter(|r| r.written) {
                                if let Some(t) = ident::unqualified(r.name.text(sql)) {
                                    self.written_tables.push(t.normalized().into_owned());
                                }
                            }
                        }
                        if c.creates_temp_table {
                            if let Some(t) = c
                                .relations
                                .first()
                                .and_then(|r| ident::unqualified(r.name.text(sql)))
                            {
                                self.temp_tables.push(t.normalized().into_owned());
                            }
                        }
                    }
                }
            }
        }
        if status == TransactionStatus::Idle && mode == DisableLoadBalanceOnWrite::Transaction {
            self.writing = false;
        }
    }
}

#[cfg(test)]
#[path = "rules_tests.rs"]
mod tests;
