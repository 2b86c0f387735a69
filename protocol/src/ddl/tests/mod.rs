//! Tests: the guide's examples, syntax errors, statements that are not ours, properties.

mod errors;
mod guide;
mod not_ours;
mod props;
mod translate;

use super::{parse, DdlError, Plan, Step};

/// Parses `sql`, which must be one of ours, and plans it.
fn plan(sql: &str) -> Plan {
    match parse(sql) {
        Ok(Some(stmt)) => stmt.plan(),
        other => panic!("expected a plan for {sql:?}, got {other:?}"),
    }
}

/// Parses `sql`, which must fail.
fn error(sql: &str) -> DdlError {
    match parse(sql) {
        Err(e) => e,
        other => panic!("expected an error for {sql:?}, got {other:?}"),
    }
}

/// The steps of a plan as text: `local: …`, `remote s1: …` (creates, with `public` as the
/// current schema) and `drop remote under [...] cascade=…` for an `INCLUDE REMOTE` step.
fn steps(plan: &Plan) -> Vec<String> {
    plan.steps
        .iter()
        .map(|step| match step {
            Step::Local(sql) => format!("local: {sql}"),
            Step::RemoteCreate(r) => format!("remote {}: {}", r.server, r.create_sql("public")),
            Step::RemoteDrop(d) => {
                format!("drop remote under {:?} cascade={}", d.relations, d.cascade)
            }
        })
        .collect()
}
