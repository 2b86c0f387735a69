//! [`dry_run`]: the standard SQL a statement would run, where, without changing anything.

use std::fmt::Write as _;

use corepool_protocol::ddl::catalog::{remote_drop_notice, CURRENT_SCHEMA_SQL};
use corepool_protocol::ddl::{DdlStatement, Step};

use crate::error::{DdlExecError, ErrorKind};
use crate::remote::{local_error, lookup, ServerInfo};
use crate::server::SqlServer;

/// Writes, as an SQL script with `--` comments, what [`execute`](crate::execute) would run for
/// `stmt`: each remote statement under the server it goes to, then the local transaction.
///
/// Only catalog queries run on `local` (the `IF NOT EXISTS` check, `current_schema()`, the
/// servers and user mappings, the foreign tables an `INCLUDE REMOTE` would drop); no foreign
/// server is contacted.
///
/// # Errors
/// The lookups' errors, as `execute` would report them.
pub async fn dry_run<L: SqlServer>(
    local: &mut L,
    stmt: &DdlStatement<'_>,
) -> Result<String, DdlExecError> {
    let plan = stmt.plan();
    let mut notices = Vec::new();
    let mut out = format!("-- {} (the command tag)\n", plan.tag.as_str());
    if let Some(check) = &plan.skip_if_exists {
        let reply = local
            .query(&check.sql, &mut notices)
            .await
            .map_err(|e| local_error(e, ErrorKind::Lookup))?;
        if first(&reply.rows).as_deref() == Some("t") {
            let _ = writeln!(out, "-- NOTICE:  {}\n-- nothing to run", check.notice);
            return Ok(out);
        }
    }
    let mut servers: Vec<ServerInfo> = Vec::new();
    let mut locals = String::new();
    for step in &plan.steps {
        match step {
            Step::Local(sql) => {
                let _ = writeln!(locals, "{sql};");
            }
            Step::RemoteCreate(r) => {
                let schema = match &r.remote_schema {
                    Some(s) => s.clone(),
                    None => {
                        let reply = local
                            .query(CURRENT_SCHEMA_SQL, &mut notices)
                            .await
                            .map_err(|e| local_error(e, ErrorKind::Lookup))?;
                        first(&reply.rows).unwrap_or_default()
                    }
                };
                let server =
                    server(local, &mut servers, &r.server, ErrorKind::RemoteCreate).await?;
                let _ = writeln!(out, "{server}{};", r.create_sql(&schema));
            }
            Step::RemoteDrop(d) => {
                let reply = local
                    .query(&d.discovery_sql, &mut notices)
                    .await
                    .map_err(|e| local_error(e, ErrorKind::Lookup))?;
                for row in reply.rows {
                    let col = |i: usize| row.get(i).cloned().flatten().unwrap_or_default();
                    let (name, schema, table) = (col(1), col(3), col(4));
                    let notice = remote_drop_notice(&schema, &table, &name);
                    let server = server(local, &mut servers, &name, ErrorKind::RemoteDrop).await?;
                    let _ = writeln!(
                        out,
                        "-- NOTICE:  {notice}\n{server}{};",
                        d.drop_sql(&schema, &table)
                    );
                }
            }
            _ => {}
        }
    }
    let _ = write!(
        out,
        "-- on the local server, in one transaction:\nBEGIN;\n{locals}COMMIT;\n"
    );
    Ok(out)
}

/// The `-- on foreign server …` header for `name`, looked up once.
async fn server<L: SqlServer>(
    local: &mut L,
    servers: &mut Vec<ServerInfo>,
    name: &str,
    kind: ErrorKind,
) -> Result<String, DdlExecError> {
    if !servers.iter().any(|s| s.name == name) {
        let mut notices = Vec::new();
        servers.push(lookup(local, name, kind, &mut notices).await?);
    }
    let info = servers
        .iter()
        .find(|s| s.name == name)
        .map(ServerInfo::describe);
    Ok(format!(
        "-- on foreign server \"{name}\" ({}):\n",
        info.unwrap_or_default()
    ))
}

fn first(rows: &[Vec<Option<String>>]) -> Option<String> {
    rows.first()?.first()?.clone()
}
