//! Translation details beyond the guide's examples.
//!
//! Schemas, persistence, constraint forms, what the remote table gets, `IF NOT EXISTS`,
//! multi-table drops and the catalog queries.

use super::{error, plan, steps};
use crate::ddl::catalog::{remote_tables_sql, server_sql};
use crate::ddl::{parse_with, DdlError, Step};
use crate::sql::SqlOptions;

#[test]
fn partitions_take_the_schema_of_their_parent() {
    let plan = plan(
        "CREATE TABLE sales.orders (a int) PARTITION BY LIST (a) (
           PARTITION o1 FOR VALUES IN (1) PARTITION BY LIST (a) (
             PARTITION o1a FOR VALUES IN (1) SERVER s1 WITH PUSHDOWN),
           PARTITION other.o2 DEFAULT PARTITION BY LIST (a) (
             PARTITION o2a DEFAULT SERVER \"S2\" WITH PUSHDOWN))",
    );
    assert_eq!(
        steps(&plan),
        [
            "remote s1: CREATE TABLE sales.o1a (a int)",
            "remote S2: CREATE TABLE other.o2a (a int)",
            "local: CREATE TABLE sales.orders (a int) PARTITION BY LIST (a)",
            "local: CREATE TABLE sales.o1 PARTITION OF sales.orders FOR VALUES IN (1) PARTITION BY LIST (a)",
            "local: CREATE FOREIGN TABLE sales.o1a PARTITION OF sales.o1 FOR VALUES IN (1) SERVER s1",
            "local: CREATE TABLE other.o2 PARTITION OF sales.orders DEFAULT PARTITION BY LIST (a)",
            "local: CREATE FOREIGN TABLE other.o2a PARTITION OF other.o2 DEFAULT SERVER \"S2\"",
        ]
    );
    let remote = plan.remote_creates().next().unwrap();
    assert_eq!(remote.remote_schema.as_deref(), Some("sales"));
    assert_eq!(remote.local_table, "sales.o1a");
}

#[test]
fn unqualified_remote_tables_go_to_the_current_schema() {
    let plan = plan(
        "CREATE TABLE t (a int) PARTITION BY LIST (a) (PARTITION \"P1\" DEFAULT SERVER s1 WITH PUSHDOWN)",
    );
    let remote = plan.remote_creates().next().unwrap();
    assert_eq!(remote.remote_schema, None);
    assert_eq!(remote.remote_table, "P1");
    assert_eq!(remote.create_sql("app"), "CREATE TABLE app.\"P1\" (a int)");
    assert_eq!(
        remote.drop_sql("My Schema"),
        "DROP TABLE \"My Schema\".\"P1\""
    );
}

#[test]
fn temporary_and_unlogged_partitions_keep_their_persistence() {
    let temp = plan(
        "create local temporary table t (a int) partition by list (a) (
           partition t1 for values in (1) partition by list (a) (partition t11 default),
           partition t2 default server s1) on commit drop",
    );
    assert_eq!(
        steps(&temp),
        [
            "local: create local temporary table t (a int) partition by list (a) on commit drop",
            "local: CREATE local temporary TABLE t1 PARTITION OF t for values in (1) partition by list (a)",
            "local: CREATE local temporary TABLE t11 PARTITION OF t1 default",
            // PostgreSQL refuses a permanent (foreign) partition of a temporary table itself.
            "local: CREATE FOREIGN TABLE t2 PARTITION OF t default server s1",
        ]
    );
    let sql = "CREATE UNLOGGED TABLE u (a int) PARTITION BY LIST (a) (PARTITION u1 DEFAULT SERVER s1 WITH PUSHDOWN)";
    assert_eq!(
        error(sql),
        DdlError::PushdownNotPermanent {
            position: sql.find("WITH").unwrap()
        }
    );
    let unlogged =
        plan("CREATE UNLOGGED TABLE u (a int) PARTITION BY LIST (a) (PARTITION u1 DEFAULT)");
    assert_eq!(
        unlogged.local_statements().nth(1),
        Some("CREATE UNLOGGED TABLE u1 PARTITION OF u DEFAULT")
    );
}

#[test]
fn storage_clauses_stay_with_the_partitioned_table() {
    let plan = plan(
        "CREATE TABLE t (a int) PARTITION BY RANGE (a) (PARTITION t1 DEFAULT) \
         USING heap WITH (fillfactor = 70) TABLESPACE ts;",
    );
    assert_eq!(
        plan.local_statements().next(),
        Some("CREATE TABLE t (a int) PARTITION BY RANGE (a) USING heap WITH (fillfactor = 70) TABLESPACE ts")
    );
}

#[test]
fn every_partition_constraint_form() {
    let plan = plan(
        "CREATE TABLE t (a int, b int, c text) PARTITION BY LIST (a) (
           PARTITION t1 (CONSTRAINT nn_b NOT NULL b, NOT NULL c, c NOT NULL,
                         b WITH OPTIONS CONSTRAINT b_pos CHECK (b > 0), CHECK (a <> 0) NO INHERIT,
                         UNIQUE (b) INCLUDE (c), CONSTRAINT pk PRIMARY KEY (a, b),
                         FOREIGN KEY (b) REFERENCES r (id) ON DELETE CASCADE,
                         EXCLUDE USING gist (b WITH =)) FOR VALUES IN (1))",
    );
    assert_eq!(
        plan.local_statements().nth(1),
        Some(
            "CREATE TABLE t1 PARTITION OF t (b CONSTRAINT nn_b NOT NULL, c NOT NULL, c NOT NULL, \
             b WITH OPTIONS CONSTRAINT b_pos CHECK (b > 0), CHECK (a <> 0) NO INHERIT, \
             UNIQUE (b) INCLUDE (c), CONSTRAINT pk PRIMARY KEY (a, b), \
             FOREIGN KEY (b) REFERENCES r (id) ON DELETE CASCADE, \
             EXCLUDE USING gist (b WITH =)) FOR VALUES IN (1)"
        )
    );
    let Some(crate::ddl::DdlKind::CreatePartitioned(c)) = crate::ddl::parse(
        "CREATE TABLE t (a int) PARTITION BY LIST (a) (PARTITION t1 (exclude NOT NULL) DEFAULT)",
    )
    .unwrap()
    .map(|s| s.kind().clone()) else {
        panic!()
    };
    let kind = c.spec.partitions[0].constraints[0].kind;
    assert_eq!(kind, crate::ddl::ast::ConstraintKind::Column);
}

#[test]
fn remote_tables_get_names_and_types_only() {
    let plan = plan(
        "CREATE TABLE t (
           id bigserial PRIMARY KEY,
           n serial,
           s smallserial,
           name character varying(20) COLLATE \"C\" NOT NULL DEFAULT 'x',
           amount numeric(10, 2)[] CHECK (amount IS NOT NULL),
           at timestamp(3) with time zone GENERATED ALWAYS AS (now()) STORED,
           \"Mixed\" pg_catalog.int4,
           CONSTRAINT c CHECK (n > 0),
           UNIQUE (id, n)
         ) PARTITION BY RANGE (id) (PARTITION t1 DEFAULT SERVER s1 WITH PUSHDOWN)",
    );
    assert_eq!(
        plan.remote_creates().next().unwrap().columns,
        "(id bigint, n integer, s smallint, name character varying(20) COLLATE \"C\", \
         amount numeric(10, 2)[], at timestamp(3) with time zone, \"Mixed\" pg_catalog.int4)"
    );
}

#[test]
fn foreign_table_options_name_the_remote_table_and_columns() {
    let plan = plan(
        "CREATE FOREIGN TABLE IF NOT EXISTS app.f (
           id int OPTIONS (column_name 'ID') NOT NULL,
           v text
         ) SERVER \"Shard 1\" OPTIONS (table_name E'Data\\\\Set', \"schema_name\" 'Remote') WITH PUSHDOWN",
    );
    assert_eq!(
        steps(&plan),
        [
            "remote Shard 1: CREATE TABLE \"Remote\".\"Data\\Set\" (\"ID\" int, v text)",
            "local: CREATE FOREIGN TABLE app.f (\n           id int OPTIONS (column_name 'ID') NOT NULL,\n           v text\n         ) SERVER \"Shard 1\" OPTIONS (table_name E'Data\\\\Set', \"schema_name\" 'Remote')",
        ]
    );
    let check = plan.skip_if_exists.unwrap();
    assert!(check.sql.contains("c.relname = 'f'"));
    assert!(check.sql.contains("n.nspname = 'app'"));
    let scs_off = plan_scs_off(
        "CREATE FOREIGN TABLE f (a int) SERVER s OPTIONS (table_name 'a\\'b') WITH PUSHDOWN",
    );
    assert_eq!(scs_off.remote_creates().next().unwrap().remote_table, "a'b");
}

fn plan_scs_off(sql: &str) -> crate::ddl::Plan {
    let options = SqlOptions::default().standard_conforming_strings(false);
    parse_with(sql, options).unwrap().unwrap().plan()
}

#[test]
fn if_not_exists_on_a_partitioned_table() {
    let plan = plan(
        "CREATE TEMP TABLE IF NOT EXISTS T (a int) PARTITION BY LIST (a) (PARTITION t1 DEFAULT)",
    );
    assert_eq!(
        plan.local_statements().next(),
        Some("CREATE TEMP TABLE T (a int) PARTITION BY LIST (a)")
    );
    let check = plan.skip_if_exists.unwrap();
    assert_eq!(
        check.sql,
        "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_class AS c WHERE c.relname = 't' AND \
         c.relnamespace = pg_catalog.pg_my_temp_schema())"
    );
    assert_eq!(check.notice, "relation \"t\" already exists, skipping");
}

#[test]
fn drop_of_several_tables() {
    let plan = plan("drop table if exists a, \"B\".\"it's\", c.d restrict include remote");
    let Some(Step::RemoteDrop(drop)) = plan.steps.first() else {
        panic!("{plan:?}")
    };
    assert_eq!(drop.relations, ["a", "\"B\".\"it's\"", "c.d"]);
    assert!(!drop.cascade);
    assert!(drop
        .discovery_sql
        .contains("ARRAY['a', '\"B\".\"it''s\"', 'c.d']::pg_catalog.text[]"));
    assert_eq!(
        plan.local_statements().collect::<Vec<_>>(),
        ["drop table if exists a, \"B\".\"it's\", c.d restrict"]
    );
    assert_eq!(
        drop.drop_sql("public", "Select"),
        "DROP TABLE public.\"Select\""
    );
    assert_eq!(
        drop.drop_sql("public", "select"),
        "DROP TABLE public.\"select\""
    );
}

#[test]
fn catalog_queries() {
    assert_eq!(
        remote_tables_sql(&["prt_com1_f".to_owned()]),
        "WITH RECURSIVE tree(relid) AS (
    SELECT r.oid
      FROM pg_catalog.unnest(ARRAY['prt_com1_f']::pg_catalog.text[]) AS d(name),
           LATERAL (SELECT pg_catalog.to_regclass(d.name) AS oid) AS r
     WHERE r.oid IS NOT NULL
    UNION
    SELECT i.inhrelid
      FROM pg_catalog.pg_inherits AS i
      JOIN tree AS t ON i.inhparent = t.relid
)
SELECT c.oid::pg_catalog.regclass::pg_catalog.text AS local_table,
       s.srvname AS server,
       w.fdwname AS wrapper,
       COALESCE((SELECT o.option_value
                   FROM pg_catalog.pg_options_to_table(ft.ftoptions) AS o
                  WHERE o.option_name = 'schema_name'), n.nspname) AS remote_schema,
       COALESCE((SELECT o.option_value
                   FROM pg_catalog.pg_options_to_table(ft.ftoptions) AS o
                  WHERE o.option_name = 'table_name'), c.relname) AS remote_table
  FROM tree AS t
  JOIN pg_catalog.pg_foreign_table AS ft ON ft.ftrelid = t.relid
  JOIN pg_catalog.pg_class AS c ON c.oid = ft.ftrelid
  JOIN pg_catalog.pg_namespace AS n ON n.oid = c.relnamespace
  JOIN pg_catalog.pg_foreign_server AS s ON s.oid = ft.ftserver
  JOIN pg_catalog.pg_foreign_data_wrapper AS w ON w.oid = s.srvfdw
 ORDER BY c.oid DESC"
    );
    let sql = server_sql("o'brien");
    assert!(sql.ends_with("WHERE s.srvname = 'o''brien'"), "{sql}");
    assert!(sql.contains("pg_catalog.pg_user_mappings"));
}
