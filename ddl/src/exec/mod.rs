//! [`execute`]: runs a [`Plan`] as `corepool_protocol::ddl::plan` describes, with the undo.

use corepool_protocol::ddl::catalog::{remote_drop_notice, CURRENT_SCHEMA_SQL};
use corepool_protocol::ddl::error::REMOTE_CREATE_FAILED;
use corepool_protocol::ddl::{quote_ident, CommandTag, DdlStatement, Plan, RemoteDrop, Step};
use corepool_protocol::message::TransactionStatus;
use corepool_protocol::sqlstate;

use crate::error::{DdlExecError, ErrorKind, Leftover, LeftoverState};
use crate::remote::{local_error, lookup, Remote};
use crate::server::{Notice, QueryError, Reply, SqlServer};

#[cfg(test)]
mod tests;

/// Runs `stmt` on `local` (and its foreign servers), sending every notice to `sink` in the
/// order the client should see them. Returns the tag to answer with.
///
/// Outside a transaction block the local statements run in one transaction of their own.
/// Inside one, a plan with only local statements runs in the client's transaction, as
/// PostgreSQL would run them; a plan with remote steps is refused (`25001`), since its remote
/// work could not follow the client's `ROLLBACK`.
///
/// # Errors
/// A [`DdlExecError`] with the ErrorResponse fields to send. Nothing is left half-done: on
/// failure the local transaction and every remote one roll back, and remote tables whose
/// servers had already committed are dropped again; DETAIL says what was undone and
/// [`DdlExecError::left_behind`] what could not be.
pub async fn execute<L: SqlServer>(
    local: &mut L,
    stmt: &DdlStatement<'_>,
    sink: &mut dyn FnMut(Notice),
) -> Result<CommandTag, DdlExecError> {
    let plan = stmt.plan();
    let mut run = Run {
        local,
        sink,
        remotes: Vec::new(),
        created: Vec::new(),
        dropped: Vec::new(),
        current_schema: None,
        notices: Vec::new(),
    };
    let result = run.plan(&plan).await;
    for remote in run.remotes.drain(..) {
        remote.close().await;
    }
    result
}

/// A remote table the run created or dropped.
struct Change {
    /// Index into `Run::remotes`.
    remote: usize,
    /// `schema.table`.
    table: String,
    /// The statement that drops it again (for creations).
    undo: Option<String>,
}

/// The state of one run.
struct Run<'a, L> {
    local: &'a mut L,
    sink: &'a mut dyn FnMut(Notice),
    remotes: Vec<Remote>,
    created: Vec<Change>,
    dropped: Vec<Change>,
    current_schema: Option<String>,
    notices: Vec<Notice>,
}

impl<L: SqlServer> Run<'_, L> {
    async fn plan(&mut self, plan: &Plan) -> Result<CommandTag, DdlExecError> {
        let remote_work = plan.steps.iter().any(|s| !matches!(s, Step::Local(_)));
        let status = self.local.transaction_status();
        match status {
            TransactionStatus::Failed => return Err(DdlExecError::new(
                ErrorKind::State,
                sqlstate::IN_FAILED_SQL_TRANSACTION,
                "current transaction is aborted, commands ignored until end of transaction block",
            )),
            TransactionStatus::InTransaction if remote_work => {
                let clause = match plan.tag {
                    CommandTag::DropTable | CommandTag::DropForeignTable => "INCLUDE REMOTE",
                    _ => "WITH PUSHDOWN",
                };
                return Err(DdlExecError::new(
                    ErrorKind::State,
                    sqlstate::ACTIVE_SQL_TRANSACTION,
                    format!("{clause} cannot run inside a transaction block"),
                ));
            }
            _ => {}
        }
        if let Some(check) = &plan.skip_if_exists {
            let reply = self.local(&check.sql, ErrorKind::Lookup).await?;
            if first_value(&reply).as_deref() == Some("t") {
                (self.sink)(Notice::info("42P07", check.notice.clone()));
                return Ok(plan.tag);
            }
        }
        let own = status == TransactionStatus::Idle;
        if own {
            self.local("BEGIN", ErrorKind::Local).await?;
        }
        if let Err(mut e) = self.steps(plan).await {
            self.roll_back(own).await;
            self.describe_undone(&mut e);
            return Err(e);
        }
        if own {
            self.commit().await?;
        }
        Ok(plan.tag)
    }

    async fn steps(&mut self, plan: &Plan) -> Result<(), DdlExecError> {
        for step in &plan.steps {
            match step {
                Step::Local(sql) => {
                    self.local(sql, ErrorKind::Local).await?;
                }
                Step::RemoteCreate(r) => {
                    let schema = match &r.remote_schema {
                        Some(s) => s.clone(),
                        None => self.current_schema().await?,
                    };
                    let i = self.remote(&r.server, ErrorKind::RemoteCreate).await?;
                    let table =
                        format!("{}.{}", quote_ident(&schema), quote_ident(&r.remote_table));
                    if let Err(e) = self.remote_run(i, &r.create_sql(&schema)).await {
                        let (code, why) = match e {
                            QueryError::Server(n) => (n.code, n.message),
                            QueryError::Broken(why) => ("08006".to_owned(), why),
                        };
                        let server = &self.remotes[i].info.name;
                        return Err(server_error(
                            ErrorKind::RemoteCreate,
                            code,
                            REMOTE_CREATE_FAILED,
                            format!("{why} (CREATE TABLE {table} on foreign server \"{server}\")"),
                        ));
                    }
                    let undo = Some(r.drop_sql(&schema));
                    self.created.push(Change {
                        remote: i,
                        table,
                        undo,
                    });
                }
                Step::RemoteDrop(d) => self.remote_drops(d).await?,
                _ => {
                    return Err(DdlExecError::new(
                        ErrorKind::Local,
                        sqlstate::FEATURE_NOT_SUPPORTED,
                        "this statement needs a newer corepool-ddl",
                    ))
                }
            }
        }
        Ok(())
    }

    /// `INCLUDE REMOTE`: every foreign table under the dropped tables, dropped on its server.
    async fn remote_drops(&mut self, d: &RemoteDrop) -> Result<(), DdlExecError> {
        let reply = self.local(&d.discovery_sql, ErrorKind::Lookup).await?;
        let mut targets = Vec::with_capacity(reply.rows.len());
        for row in reply.rows {
            let mut cols = row.into_iter().map(Option::unwrap_or_default);
            let mut next = || cols.next().unwrap_or_default();
            let (local, server, wrapper, schema, table) = (next(), next(), next(), next(), next());
            if wrapper != "postgres_fdw" {
                return Err(DdlExecError::new(
                    ErrorKind::RemoteDrop,
                    sqlstate::FEATURE_NOT_SUPPORTED,
                    format!("cannot drop the remote table of foreign table \"{local}\""),
                )
                .with_detail(format!(
                    "Its server \"{server}\" uses foreign-data wrapper \"{wrapper}\"; \
                     INCLUDE REMOTE reaches postgres_fdw servers only."
                )));
            }
            targets.push((server, schema, table));
        }
        for (server, schema, table) in targets {
            (self.sink)(Notice::info(
                "00000",
                remote_drop_notice(&schema, &table, &server),
            ));
            let i = self.remote(&server, ErrorKind::RemoteDrop).await?;
            let sql = d.drop_sql(&schema, &table);
            let context = format!("remote SQL command on foreign server \"{server}\": {sql}");
            match self.remote_run(i, &sql).await {
                Ok(()) => {}
                Err(QueryError::Server(n)) => {
                    let mut e = DdlExecError::from_server(ErrorKind::RemoteDrop, n);
                    e.add_detail(&context);
                    return Err(e);
                }
                Err(QueryError::Broken(why)) => {
                    let mut e = DdlExecError::new(
                        ErrorKind::RemoteDrop,
                        sqlstate::CONNECTION_FAILURE,
                        format!("lost the connection to foreign server \"{server}\""),
                    )
                    .with_detail(why);
                    e.add_detail(&context);
                    return Err(e);
                }
            }
            let table = format!("{}.{}", quote_ident(&schema), quote_ident(&table));
            self.dropped.push(Change {
                remote: i,
                table,
                undo: None,
            });
        }
        Ok(())
    }

    /// Step 6: `COMMIT` each remote transaction, then the local one; undo on failure.
    async fn commit(&mut self) -> Result<(), DdlExecError> {
        let open: Vec<usize> = (0..self.remotes.len())
            .filter(|&i| self.remotes[i].in_transaction)
            .collect();
        let mut committed = Vec::with_capacity(open.len());
        for &i in &open {
            let result = self.remote_run(i, "COMMIT").await;
            self.remotes[i].in_transaction = false;
            let (code, why, unknown) = match result {
                Ok(()) => {
                    committed.push(i);
                    continue;
                }
                Err(QueryError::Server(n)) => (n.code, n.message, None),
                Err(QueryError::Broken(why)) => ("08007".to_owned(), why, Some(i)),
            };
            let server = self.remotes[i].info.name.clone();
            let mut e = server_error(
                ErrorKind::Commit,
                code,
                &format!("could not commit on foreign server \"{server}\""),
                why,
            );
            self.roll_back(true).await;
            self.undo(&committed, unknown, &mut e).await;
            return Err(e);
        }
        let failure = match self.local.query("COMMIT", &mut self.notices).await {
            Ok(reply) if reply.tags.last().map(String::as_str) == Some("COMMIT") => None,
            Ok(_) => Some(DdlExecError::new(
                ErrorKind::Commit,
                sqlstate::TRANSACTION_ROLLBACK,
                "the local transaction rolled back at COMMIT",
            )),
            Err(QueryError::Server(n)) => Some(DdlExecError::from_server(ErrorKind::Commit, n)),
            Err(QueryError::Broken(why)) => {
                self.flush();
                // The local COMMIT may have happened: keep the remote tables it refers to.
                let mut e = DdlExecError::new(
                    ErrorKind::Commit,
                    sqlstate::TRANSACTION_RESOLUTION_UNKNOWN,
                    "lost the connection to the local server during COMMIT",
                )
                .with_detail(why);
                let left = self.changes(&committed);
                for l in &left {
                    e.add_detail(&format!(
                        "Kept: table {} on foreign server \"{}\" (the local COMMIT's outcome is unknown).",
                        l.table, l.server
                    ));
                }
                e.set_left_behind(left);
                return Err(e);
            }
        };
        self.flush();
        match failure {
            None => Ok(()),
            Some(mut e) => {
                self.undo(&committed, None, &mut e).await;
                Err(e)
            }
        }
    }

    /// After a failed commit: drop again the tables created on `committed` servers, and say
    /// in `e` what was undone and what is left.
    async fn undo(&mut self, committed: &[usize], unknown: Option<usize>, e: &mut DdlExecError) {
        let mut left = Vec::new();
        let mut lines = Vec::new();
        for c in &self.created {
            let server = self.remotes[c.remote].info.name.clone();
            if Some(c.remote) == unknown {
                lines.push(format!(
                    "Left behind: table {} may exist on foreign server \"{server}\" (its COMMIT broke off).",
                    c.table
                ));
                left.push(leftover(&server, &c.table, LeftoverState::Unknown));
            } else if committed.contains(&c.remote) {
                let sql = c.undo.clone().unwrap_or_default();
                let mut notices = Vec::new();
                match self.remotes[c.remote].run_again(&sql, &mut notices).await {
                    Ok(()) => lines.push(format!(
                        "Undone: dropped table {} again on foreign server \"{server}\".",
                        c.table
                    )),
                    Err(why) => {
                        lines.push(format!(
                            "Left behind: table {} on foreign server \"{server}\" (dropping it again failed: {why}).",
                            c.table
                        ));
                        left.push(leftover(&server, &c.table, LeftoverState::Created));
                    }
                }
            } else {
                lines.push(format!(
                    "Undone: CREATE TABLE {} on foreign server \"{server}\" rolled back.",
                    c.table
                ));
            }
        }
        for c in &self.dropped {
            let server = &self.remotes[c.remote].info.name;
            let state = if committed.contains(&c.remote) {
                LeftoverState::Dropped
            } else if Some(c.remote) == unknown {
                LeftoverState::Unknown
            } else {
                lines.push(format!(
                    "Undone: DROP TABLE {} on foreign server \"{server}\" rolled back.",
                    c.table
                ));
                continue;
            };
            lines.push(format!(
                "Left behind: table {} on foreign server \"{server}\" {}.",
                c.table,
                if state == LeftoverState::Dropped {
                    "is already dropped"
                } else {
                    "may be dropped"
                }
            ));
            left.push(leftover(server, &c.table, state));
        }
        for line in &lines {
            e.add_detail(line);
        }
        e.set_left_behind(left);
    }

    /// After a failure before step 6: every transaction rolled back; says so in `e`.
    fn describe_undone(&self, e: &mut DdlExecError) {
        for (what, list) in [("CREATE", &self.created), ("DROP", &self.dropped)] {
            for c in list {
                e.add_detail(&format!(
                    "Undone: {what} TABLE {} on foreign server \"{}\" rolled back.",
                    c.table, self.remotes[c.remote].info.name
                ));
            }
        }
    }

    /// The changes on servers that committed, whose fate now hangs on the local COMMIT.
    fn changes(&self, on: &[usize]) -> Vec<Leftover> {
        self.created
            .iter()
            .chain(&self.dropped)
            .filter(|c| on.contains(&c.remote))
            .map(|c| {
                leftover(
                    &self.remotes[c.remote].info.name,
                    &c.table,
                    LeftoverState::Unknown,
                )
            })
            .collect()
    }

    /// Rolls back every open remote transaction, and the local one when the run began it.
    async fn roll_back(&mut self, own: bool) {
        for i in 0..self.remotes.len() {
            if self.remotes[i].in_transaction {
                let mut ignored = Vec::new();
                let _ = self.remotes[i].run("ROLLBACK", &mut ignored).await;
                self.remotes[i].in_transaction = false;
            }
        }
        if own {
            let _ = self.local.query("ROLLBACK", &mut self.notices).await;
            self.flush();
        }
    }

    /// The connection to `server` with a transaction open on it, opened on first use.
    async fn remote(&mut self, server: &str, kind: ErrorKind) -> Result<usize, DdlExecError> {
        let i = match self.remotes.iter().position(|r| r.info.name == server) {
            Some(i) => i,
            None => {
                let info = lookup(self.local, server, kind, &mut self.notices).await;
                self.flush();
                self.remotes.push(Remote::open(info?, kind).await?);
                self.remotes.len() - 1
            }
        };
        if !self.remotes[i].in_transaction {
            if let Err(e) = self.remote_run(i, "BEGIN").await {
                return Err(server_error(
                    kind,
                    "08006".to_owned(),
                    &format!("could not start a transaction on foreign server \"{server}\""),
                    e.to_string(),
                ));
            }
            self.remotes[i].in_transaction = true;
        }
        Ok(i)
    }

    async fn remote_run(&mut self, i: usize, sql: &str) -> Result<(), QueryError> {
        let mut notices = Vec::new();
        let result = self.remotes[i].run(sql, &mut notices).await;
        for n in notices {
            (self.sink)(n);
        }
        result
    }

    /// Runs `sql` locally; an error becomes the run's error of `kind`.
    async fn local(&mut self, sql: &str, kind: ErrorKind) -> Result<Reply, DdlExecError> {
        let result = self.local.query(sql, &mut self.notices).await;
        self.flush();
        result.map_err(|e| local_error(e, kind))
    }

    async fn current_schema(&mut self) -> Result<String, DdlExecError> {
        if let Some(s) = &self.current_schema {
            return Ok(s.clone());
        }
        let reply = self.local(CURRENT_SCHEMA_SQL, ErrorKind::Lookup).await?;
        let schema = first_value(&reply).ok_or_else(|| {
            DdlExecError::new(
                ErrorKind::Lookup,
                sqlstate::INVALID_SCHEMA_NAME,
                "no schema has been selected to create in",
            )
        })?;
        self.current_schema = Some(schema.clone());
        Ok(schema)
    }

    fn flush(&mut self) {
        for n in self.notices.drain(..) {
            (self.sink)(n);
        }
    }
}

fn first_value(reply: &Reply) -> Option<String> {
    reply.rows.first()?.first()?.clone()
}

fn leftover(server: &str, table: &str, state: LeftoverState) -> Leftover {
    Leftover {
        server: server.to_owned(),
        table: table.to_owned(),
        state,
    }
}

/// An error with a code that came from a server.
fn server_error(kind: ErrorKind, code: String, message: &str, detail: String) -> DdlExecError {
    DdlExecError::from_server(
        kind,
        Notice {
            severity: "ERROR".to_owned(),
            code,
            message: message.to_owned(),
            detail: Some(detail),
            hint: None,
        },
    )
}
