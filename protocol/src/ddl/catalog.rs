//! The catalog queries the executor runs on the local server, and the NOTICE it sends.
//!
//! Every query is complete SQL with its values quoted in (no parameters), so it runs over the
//! simple query protocol as well as the extended one. Catalog names are schema-qualified
//! (`pg_catalog.`) so a hostile `search_path` cannot redirect them.

use super::quote::quote_literal;

/// Returns the schema an unqualified `CREATE` puts a table in: the first existing schema of
/// `search_path`. `NULL` when there is none (PostgreSQL then refuses the `CREATE` with "no
/// schema has been selected to create in").
pub const CURRENT_SCHEMA_SQL: &str = "SELECT pg_catalog.current_schema()";

/// The query that finds every foreign table at or under `relations` (as written in the `DROP`,
/// quotes included) through `pg_inherits`, at any depth.
///
/// One row per foreign table, in the order the guide prints them (newest first):
/// `local_table` (text), `server` (name), `wrapper` (name: only `postgres_fdw` servers can be
/// reached), `remote_schema`, `remote_table` (the `schema_name` / `table_name` options, or the
/// local schema and name, as `postgres_fdw` resolves them). A relation that does not exist
/// contributes no row (`to_regclass`), so `IF EXISTS` keeps working: the local `DROP` then
/// says what it always says.
pub fn remote_tables_sql(relations: &[String]) -> String {
    let mut names = String::new();
    for (i, relation) in relations.iter().enumerate() {
        if i > 0 {
            names.push_str(", ");
        }
        names.push_str(&quote_literal(relation));
    }
    format!(
        "WITH RECURSIVE tree(relid) AS (\n\
         \x20   SELECT r.oid\n\
         \x20     FROM pg_catalog.unnest(ARRAY[{names}]::pg_catalog.text[]) AS d(name),\n\
         \x20          LATERAL (SELECT pg_catalog.to_regclass(d.name) AS oid) AS r\n\
         \x20    WHERE r.oid IS NOT NULL\n\
         \x20   UNION\n\
         \x20   SELECT i.inhrelid\n\
         \x20     FROM pg_catalog.pg_inherits AS i\n\
         \x20     JOIN tree AS t ON i.inhparent = t.relid\n\
         )\n\
         SELECT c.oid::pg_catalog.regclass::pg_catalog.text AS local_table,\n\
         \x20      s.srvname AS server,\n\
         \x20      w.fdwname AS wrapper,\n\
         \x20      COALESCE((SELECT o.option_value\n\
         \x20                  FROM pg_catalog.pg_options_to_table(ft.ftoptions) AS o\n\
         \x20                 WHERE o.option_name = 'schema_name'), n.nspname) AS remote_schema,\n\
         \x20      COALESCE((SELECT o.option_value\n\
         \x20                  FROM pg_catalog.pg_options_to_table(ft.ftoptions) AS o\n\
         \x20                 WHERE o.option_name = 'table_name'), c.relname) AS remote_table\n\
         \x20 FROM tree AS t\n\
         \x20 JOIN pg_catalog.pg_foreign_table AS ft ON ft.ftrelid = t.relid\n\
         \x20 JOIN pg_catalog.pg_class AS c ON c.oid = ft.ftrelid\n\
         \x20 JOIN pg_catalog.pg_namespace AS n ON n.oid = c.relnamespace\n\
         \x20 JOIN pg_catalog.pg_foreign_server AS s ON s.oid = ft.ftserver\n\
         \x20 JOIN pg_catalog.pg_foreign_data_wrapper AS w ON w.oid = s.srvfdw\n\
         \x20ORDER BY c.oid DESC"
    )
}

/// The query for how to reach foreign server `server` (its catalog name, already folded):
/// one row with `server`, `wrapper`, `server_options` (text[] of `key=value`: `host`, `port`,
/// `dbname` and the other libpq options) and `user_options` (the user mapping of
/// `CURRENT_USER`, else `PUBLIC`'s: `user`, `password`; NULL when there is none). No row when
/// the server does not exist.
pub fn server_sql(server: &str) -> String {
    format!(
        "SELECT s.srvname AS server, w.fdwname AS wrapper, s.srvoptions AS server_options,\n\
         \x20      um.umoptions AS user_options\n\
         \x20 FROM pg_catalog.pg_foreign_server AS s\n\
         \x20 JOIN pg_catalog.pg_foreign_data_wrapper AS w ON w.oid = s.srvfdw\n\
         \x20 LEFT JOIN LATERAL (SELECT u.umoptions\n\
         \x20                      FROM pg_catalog.pg_user_mappings AS u\n\
         \x20                     WHERE u.srvid = s.oid\n\
         \x20                       AND (u.umuser = 0 OR u.usename = CURRENT_USER)\n\
         \x20                     ORDER BY u.umuser = 0\n\
         \x20                     LIMIT 1) AS um ON true\n\
         \x20WHERE s.srvname = {}",
        quote_literal(server)
    )
}

/// The NOTICE sent before each remote table is dropped, in the guide's words:
/// `Drop remote table 'public.tf1_data' on foreign server 's1'`.
///
/// `server` is the catalog name: the guide prints `'S1'` for a server created as `S1`, which
/// PostgreSQL folds to `s1`; corepool prints what the catalog holds.
pub fn remote_drop_notice(remote_schema: &str, remote_table: &str, server: &str) -> String {
    format!("Drop remote table '{remote_schema}.{remote_table}' on foreign server '{server}'")
}
