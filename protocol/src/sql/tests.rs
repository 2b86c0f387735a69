//! Table tests of the classifier over real statements (pgbench, psql, ORMs, CTEs, DDL…).

use super::*;

/// One-line summary: kind, then ` f=` calls, ` r=` relations (`+` = written), then flags.
fn summary(sql: &str) -> String {
    let c = classify(sql).unwrap_or_else(|e| panic!("{sql:?}: {e}"));
    let mut s = kind_label(sql, c.kind);
    let join = |items: Vec<String>| items.join(",");
    if !c.functions.is_empty() {
        s += " f=";
        s += &join(c.functions.iter().map(|f| f.text(sql).to_owned()).collect());
    }
    if !c.relations.is_empty() {
        s += " r=";
        let rels = c
            .relations
            .iter()
            .map(|r| format!("{}{}", if r.written { "+" } else { "" }, r.name.text(sql)));
        s += &join(rels.collect());
    }
    for (on, flag) in [
        (c.data_modifying_cte, " dml-cte"),
        (c.creates_temp_table, " temp"),
        (c.creates_unlogged_table, " unlogged"),
        (c.leading_comment, " comment"),
        (c.multi_statement, " multi"),
    ] {
        if on {
            s += flag;
        }
    }
    s
}

fn modes_label(m: TransactionModes) -> String {
    let mut s = String::new();
    match m.read_only {
        Some(true) => s += " ro",
        Some(false) => s += " rw",
        None => {}
    }
    if let Some(iso) = m.isolation {
        s += &format!(" iso={iso:?}");
    }
    match m.deferrable {
        Some(true) => s += " deferrable",
        Some(false) => s += " not-deferrable",
        None => {}
    }
    s
}

fn kind_label(sql: &str, kind: StatementKind) -> String {
    use StatementKind as K;
    let text = |s: Span| s.text(sql).to_owned();
    match kind {
        K::Ddl(v) => format!("Ddl:{v:?}"),
        K::TransactionBegin { modes } => format!("Begin{}", modes_label(modes)),
        K::SetTransaction { session, modes } => {
            format!(
                "SetTransaction{}{}",
                if session { " session" } else { "" },
                modes_label(modes)
            )
        }
        K::Set {
            local,
            name,
            value,
            modes,
        } => format!(
            "Set{} {}={}{}",
            if local { "(local)" } else { "" },
            text(name),
            value.map_or("<current>".into(), text),
            modes_label(modes)
        ),
        K::Reset { name } => format!("Reset {}", name.map_or("ALL".into(), text)),
        K::Show { name } => format!("Show {}", text(name)),
        K::Discard(t) => format!("Discard:{t:?}"),
        K::Copy {
            is_from,
            stdio,
            query,
        } => format!(
            "Copy {} {}{}",
            if is_from { "from" } else { "to" },
            if stdio { "stdio" } else { "file" },
            query.map_or(String::new(), |q| format!(":{q:?}"))
        ),
        K::Prepare { name, inner } => format!("Prepare {}:{inner:?}", text(name)),
        K::Execute { name } => format!("Execute {}", text(name)),
        K::Deallocate { name } => format!("Deallocate {}", name.map_or("ALL".into(), text)),
        K::Explain { analyze, inner } => {
            format!("Explain{}:{inner:?}", if analyze { " analyze" } else { "" })
        }
        K::Declare { inner } => format!("Declare:{inner:?}"),
        K::Lock { mode } => format!("Lock:{mode:?}"),
        other => format!("{other:?}"),
    }
}

const PSQL_DESCRIBE_LOOKUP: &str = r#"SELECT c.oid,
  n.nspname,
  c.relname
FROM pg_catalog.pg_class c
     LEFT JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
WHERE c.relname OPERATOR(pg_catalog.~) '^(pgbench_accounts)$' COLLATE pg_catalog.default
  AND pg_catalog.pg_table_is_visible(c.oid)
ORDER BY 2, 3;"#;

const PSQL_DESCRIBE_COLUMNS: &str = r#"SELECT a.attname,
  pg_catalog.format_type(a.atttypid, a.atttypmod),
  (SELECT pg_catalog.pg_get_expr(d.adbin, d.adrelid, true)
   FROM pg_catalog.pg_attrdef d
   WHERE d.adrelid = a.attrelid AND d.adnum = a.attnum AND a.atthasdef),
  a.attnotnull,
  (SELECT c.collname FROM pg_catalog.pg_collation c, pg_catalog.pg_type t
   WHERE c.oid = a.attcollation AND t.oid = a.atttypid AND a.attcollation <> t.typcollation) AS attcollation,
  a.attidentity,
  a.attgenerated
FROM pg_catalog.pg_attribute a
WHERE a.attrelid = '16384' AND a.attnum > 0 AND NOT a.attisdropped
ORDER BY a.attnum;"#;

const PSQL_LIST_TABLES: &str = r#"SELECT n.nspname as "Schema",
  c.relname as "Name",
  CASE c.relkind WHEN 'r' THEN 'table' WHEN 'v' THEN 'view' WHEN 'm' THEN 'materialized view' WHEN 'i' THEN 'index' WHEN 'S' THEN 'sequence' WHEN 't' THEN 'TOAST table' WHEN 'f' THEN 'foreign table' WHEN 'p' THEN 'partitioned table' WHEN 'I' THEN 'partitioned index' END as "Type",
  pg_catalog.pg_get_userbyid(c.relowner) as "Owner"
FROM pg_catalog.pg_class c
     LEFT JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
     LEFT JOIN pg_catalog.pg_am am ON am.oid = c.relam
WHERE c.relkind IN ('r','p','')
      AND n.nspname <> 'pg_catalog'
      AND n.nspname !~ '^pg_toast'
      AND n.nspname <> 'information_schema'
  AND pg_catalog.pg_table_is_visible(c.oid)
ORDER BY 1,2;"#;

const PSQL_LIST_DATABASES: &str = r#"SELECT
  d.datname as "Name",
  pg_catalog.pg_get_userbyid(d.datdba) as "Owner",
  pg_catalog.pg_encoding_to_char(d.encoding) as "Encoding",
  pg_catalog.array_to_string(d.datacl, E'\n') AS "Access privileges"
FROM pg_catalog.pg_database d
ORDER BY 1;"#;

const PSQL_INDEXES: &str = r#"SELECT c2.relname, i.indisprimary, pg_catalog.pg_get_indexdef(i.indexrelid, 0, true),
  pg_catalog.pg_get_constraintdef(con.oid, true), contype, condeferrable
FROM pg_catalog.pg_class c, pg_catalog.pg_class c2, pg_catalog.pg_index i
  LEFT JOIN pg_catalog.pg_constraint con ON (conrelid = i.indrelid AND conindid = i.indexrelid AND contype IN ('p','u','x'))
WHERE c.oid = '16384' AND c.oid = i.indrelid AND i.indexrelid = c2.oid
ORDER BY i.indisprimary DESC, c2.relname;"#;

const PGBENCH_PARTITIONS: &str = "select o.n, p.partstrat, pg_catalog.count(i.inhparent) from pg_catalog.pg_class as c join pg_catalog.pg_namespace as n on (n.oid = c.relnamespace) cross join lateral (select pg_catalog.array_position(pg_catalog.current_schemas(true), n.nspname)) as o(n) left join pg_catalog.pg_partitioned_table as p on (p.partrelid = c.oid) left join pg_catalog.pg_inherits as i on (c.oid = i.inhparent) where c.relname = 'pgbench_accounts' and o.n is not null group by 1, 2 order by 1 asc limit 1";

const RAILS_COLUMNS: &str = r#"SELECT a.attname, format_type(a.atttypid, a.atttypmod), pg_get_expr(d.adbin, d.adrelid), a.attnotnull, c.collname, col_description(a.attrelid, a.attnum) AS comment FROM pg_attribute a LEFT JOIN pg_attrdef d ON a.attrelid = d.adrelid AND a.attnum = d.adnum LEFT JOIN pg_type t ON a.atttypid = t.oid LEFT JOIN pg_collation c ON a.attcollation = c.oid AND a.attcollation <> t.typcollation WHERE a.attrelid = '"users"'::regclass AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum"#;

const CTE_REGIONAL: &str = "WITH regional_sales AS (SELECT region, SUM(amount) AS total_sales FROM orders GROUP BY region), top_regions AS (SELECT region FROM regional_sales WHERE total_sales > (SELECT SUM(total_sales)/10 FROM regional_sales)) SELECT region, product, SUM(quantity) AS product_units FROM orders WHERE region IN (SELECT region FROM top_regions) GROUP BY region, product";

const MERGE_ACCOUNTS: &str = "MERGE INTO customer_account ca USING recent_transactions t ON t.customer_id = ca.customer_id WHEN MATCHED THEN UPDATE SET balance = balance + transaction_value, last = now() WHEN NOT MATCHED THEN INSERT (customer_id, balance) VALUES (t.customer_id, t.transaction_value)";

const CASES: &[(&str, &str)] = &[
    // pgbench (TPC-B, -S, initialisation).
    ("SELECT abalance FROM pgbench_accounts WHERE aid = $1", "Select r=pgbench_accounts"),
    ("UPDATE pgbench_accounts SET abalance = abalance + $1 WHERE aid = $2;", "Update r=+pgbench_accounts"),
    ("UPDATE pgbench_tellers SET tbalance = tbalance + 5 WHERE tid = 3", "Update r=+pgbench_tellers"),
    ("INSERT INTO pgbench_history (tid, bid, aid, delta, mtime) VALUES ($1, $2, $3, $4, CURRENT_TIMESTAMP);", "Insert r=+pgbench_history"),
    ("BEGIN;", "Begin"),
    ("END;", "Commit"),
    ("select count(*) from pgbench_branches", "Select f=count r=pgbench_branches"),
    ("drop table if exists pgbench_accounts, pgbench_branches, pgbench_history, pgbench_tellers", "Ddl:Drop r=+pgbench_accounts,+pgbench_branches,+pgbench_history,+pgbench_tellers"),
    ("create table pgbench_history(tid int,bid int,aid    int,delta int,mtime timestamp,filler char(22))", "Ddl:Create r=+pgbench_history"),
    ("create unlogged table pgbench_accounts(aid int not null,bid int,abalance int,filler char(84)) with (fillfactor=100)", "Ddl:Create r=+pgbench_accounts unlogged"),
    ("insert into pgbench_branches(bid,bbalance) values(1,0)", "Insert r=+pgbench_branches"),
    ("copy pgbench_accounts from stdin with (freeze on)", "Copy from stdio r=+pgbench_accounts"),
    ("vacuum analyze pgbench_branches", "Vacuum r=pgbench_branches"),
    ("alter table pgbench_branches add primary key (bid)", "Ddl:Alter r=+pgbench_branches"),
    ("truncate table pgbench_accounts, pgbench_branches", "Ddl:Truncate r=+pgbench_accounts,+pgbench_branches"),
    (PGBENCH_PARTITIONS, "Select f=pg_catalog.count,pg_catalog.array_position,pg_catalog.current_schemas r=pg_catalog.pg_class,pg_catalog.pg_namespace,pg_catalog.pg_partitioned_table,pg_catalog.pg_inherits"),
    // psql's catalog queries.
    (PSQL_DESCRIBE_LOOKUP, "Select f=pg_catalog.pg_table_is_visible r=pg_catalog.pg_class,pg_catalog.pg_namespace"),
    (PSQL_DESCRIBE_COLUMNS, "Select f=pg_catalog.format_type,pg_catalog.pg_get_expr r=pg_catalog.pg_attrdef,pg_catalog.pg_collation,pg_catalog.pg_type,pg_catalog.pg_attribute"),
    (PSQL_LIST_TABLES, "Select f=pg_catalog.pg_get_userbyid,pg_catalog.pg_table_is_visible r=pg_catalog.pg_class,pg_catalog.pg_namespace,pg_catalog.pg_am"),
    (PSQL_LIST_DATABASES, "Select f=pg_catalog.pg_get_userbyid,pg_catalog.pg_encoding_to_char,pg_catalog.array_to_string r=pg_catalog.pg_database"),
    (PSQL_INDEXES, "Select f=pg_catalog.pg_get_indexdef,pg_catalog.pg_get_constraintdef r=pg_catalog.pg_class,pg_catalog.pg_class,pg_catalog.pg_index,pg_catalog.pg_constraint"),
    ("SELECT pg_catalog.set_config('search_path', '', false);", "Select f=pg_catalog.set_config"),
    ("SELECT * FROM pg_catalog.pg_stat_activity, pg_locks", "Select r=pg_catalog.pg_stat_activity,pg_locks"),
    // ORMs and drivers.
    (r#"SELECT "auth_user"."id", "auth_user"."username" FROM "auth_user" WHERE "auth_user"."username" = $1 LIMIT 21"#, r#"Select r="auth_user""#),
    (r#"SELECT "users".* FROM "users" WHERE "users"."id" = $1 LIMIT $2"#, r#"Select r="users""#),
    (r#"INSERT INTO "users" ("name", "created_at", "updated_at") VALUES ($1, $2, $3) RETURNING "id""#, r#"Insert r=+"users""#),
    ("select u1_0.id,u1_0.name from users u1_0 where u1_0.id=?", "Select r=users"),
    ("select nextval('hibernate_sequence')", "Select f=nextval"),
    ("SELECT users.id AS users_id, users.name AS users_name FROM users WHERE users.name = %(name_1)s", "Select r=users"),
    (r#"SELECT "app_job"."id" FROM "app_job" WHERE "app_job"."state" = 'queued' ORDER BY "app_job"."id" ASC LIMIT 1 FOR UPDATE SKIP LOCKED"#, r#"SelectLocking r="app_job""#),
    ("SELECT * FROM accounts WHERE id = 1 FOR NO KEY UPDATE", "SelectLocking r=accounts"),
    ("SELECT * FROM a JOIN b USING (id) FOR SHARE OF a NOWAIT", "SelectLocking r=a,b"),
    ("SELECT * FROM t FOR KEY SHARE", "SelectLocking r=t"),
    (r#"SELECT "public"."User"."id", "public"."User"."email" FROM "public"."User" WHERE 1=1 OFFSET $1"#, r#"Select r="public"."User""#),
    (r#"SELECT count(*) AS "count" FROM "items" AS "items";"#, r#"Select f=count r="items""#),
    ("SELECT pg_try_advisory_lock(1234)", "Select f=pg_try_advisory_lock"),
    (RAILS_COLUMNS, "Select f=format_type,pg_get_expr,col_description r=pg_attribute,pg_attrdef,pg_type,pg_collation"),
    ("select typname, oid from pg_type where typname = any($1)", "Select r=pg_type"),
    ("SELECT 1", "Select"),
    ("SHOW TRANSACTION ISOLATION LEVEL", "Show TRANSACTION ISOLATION LEVEL"),
    ("SET extra_float_digits = 3", "Set extra_float_digits=3"),
    ("SET application_name = 'PostgreSQL JDBC Driver'", "Set application_name='PostgreSQL JDBC Driver'"),
    // Functions the router must see, and syntax it must not mistake for calls.
    ("SELECT setval('s', 10, false)", "Select f=setval"),
    ("SELECT lo_creat(-1)", "Select f=lo_creat"),
    ("SELECT lo_import('/tmp/x')", "Select f=lo_import"),
    ("SELECT pg_terminate_backend(1234)", "Select f=pg_terminate_backend"),
    (r#"SELECT now(), random(), lower(name), left(name, 2), "MyFunc"(1), s.f(2) FROM t"#, r#"Select f=now,random,lower,left,"MyFunc",s.f r=t"#),
    ("SELECT coalesce(a, 0), nullif(b, 1), greatest(1, 2), cast(c AS int), extract(year FROM d), substring(e FROM 1 FOR 2), trim(both 'x' FROM f), position('a' IN g), exists(SELECT 1), row(1, 2) FROM t", "Select r=t"),
    ("SELECT x::numeric(10,2), y::varchar(20), z::character varying(5), w::timestamp(3) with time zone FROM t", "Select r=t"),
    ("SELECT a FROM t WHERE b IN (1, 2, 3) AND c = ANY(ARRAY[1,2]) AND d = ALL(SELECT e FROM u) AND f IS DISTINCT FROM g", "Select r=t,u"),
    ("SELECT count(*) FILTER (WHERE a > 0) OVER (PARTITION BY b ORDER BY c ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) FROM t", "Select f=count r=t"),
    ("SELECT 1 FROM t WHERE a = (SELECT max(b) FROM u)", "Select f=max r=t,u"),
    ("SELECT * FROM t WHERE id = 1", "Select r=t"),
    // FROM lists.
    ("SELECT * FROM generate_series(1, 10) AS g(i) JOIN t ON t.id = g.i", "Select f=generate_series r=t"),
    ("SELECT * FROM generate_series(1, 10) g(i), t", "Select f=generate_series r=t"),
    ("SELECT * FROM unnest($1::int[]) WITH ORDINALITY AS u(v, n)", "Select f=unnest"),
    ("SELECT * FROM ROWS FROM (generate_series(1, 3), unnest(ARRAY[1, 2])) AS x(a, b)", "Select f=generate_series,unnest"),
    ("SELECT * FROM t TABLESAMPLE SYSTEM (10) REPEATABLE (42)", "Select r=t"),
    ("SELECT * FROM ONLY parent WHERE x = 1", "Select r=parent"),
    ("SELECT * FROM (SELECT a FROM t1) s, LATERAL (SELECT b FROM t2 WHERE t2.a = s.a) l, t3", "Select r=t1,t2,t3"),
    ("SELECT * FROM (t1 JOIN t2 ON t1.id = t2.id) LEFT JOIN t3 USING (id)", "Select r=t1,t2,t3"),
    ("SELECT * FROM t1 NATURAL JOIN t2 CROSS JOIN t3 FULL OUTER JOIN t4 ON true", "Select r=t1,t2,t3,t4"),
    ("SELECT * FROM a JOIN b ON a.x = b.x, c WHERE c.y = 1", "Select r=a,b,c"),
    ("(SELECT a FROM t1) UNION ALL (SELECT a FROM t2) ORDER BY 1", "Select r=t1,t2"),
    ("SELECT a FROM t1 UNION SELECT a FROM t2 EXCEPT SELECT a FROM t3", "Select r=t1,t2,t3"),
    ("TABLE pgbench_branches", "Table r=pgbench_branches"),
    ("VALUES (1, 'a'), (2, 'b')", "Values"),
    ("VALUES (nextval('s'))", "Values f=nextval"),
    ("SELECT * FROM (VALUES (1), (2)) AS v(x)", "Select"),
    ("SELECT a INTO TEMP TABLE t2 FROM t", "SelectInto r=+t2,t temp"),
    ("SELECT * INTO new_table FROM old_table", "SelectInto r=+new_table,old_table"),
    ("SELECT * INTO UNLOGGED u FROM t", "SelectInto r=+u,t unlogged"),
    // CTEs, plain and data-modifying.
    ("WITH RECURSIVE t(n) AS (VALUES (1) UNION ALL SELECT n + 1 FROM t WHERE n < 100) SELECT sum(n) FROM t", "Select f=sum"),
    (CTE_REGIONAL, "Select f=SUM,SUM,SUM r=orders,orders"),
    (r#"WITH moved_rows AS (DELETE FROM products WHERE "date" >= '2010-10-01' RETURNING *) INSERT INTO products_log SELECT * FROM moved_rows"#, "Insert r=+products,+products_log dml-cte"),
    ("WITH t AS (UPDATE products SET price = price * 1.05 RETURNING *) SELECT * FROM t", "Select r=+products dml-cte"),
    ("WITH ins AS (INSERT INTO t (a) VALUES (1) RETURNING id) SELECT id FROM ins", "Select r=+t dml-cte"),
    ("WITH m AS MATERIALIZED (SELECT * FROM big) SELECT * FROM m WHERE x = 1", "Select r=big"),
    ("WITH m AS NOT MATERIALIZED (SELECT * FROM big) SELECT * FROM m", "Select r=big"),
    ("WITH d AS (DELETE FROM q WHERE id IN (SELECT id FROM q ORDER BY id LIMIT 10 FOR UPDATE SKIP LOCKED) RETURNING *) SELECT * FROM d", "SelectLocking r=+q,q dml-cte"),
    ("WITH x AS (SELECT 1), y (a) AS (SELECT 2) SELECT * FROM x, y, z", "Select r=z"),
    ("WITH m AS (MERGE INTO t USING s ON t.id = s.id WHEN MATCHED THEN DELETE RETURNING t.*) SELECT * FROM m", "Select r=+t,s dml-cte"),
    // MERGE, INSERT, UPDATE, DELETE.
    (MERGE_ACCOUNTS, "Merge f=now r=+customer_account,recent_transactions"),
    ("MERGE INTO t USING (SELECT * FROM s) AS src ON t.id = src.id WHEN MATCHED THEN DELETE", "Merge r=+t,s"),
    ("INSERT INTO t SELECT * FROM s WHERE s.x > 0 ON CONFLICT (id) DO UPDATE SET a = excluded.a, b = excluded.b", "Insert r=+t,s"),
    ("INSERT INTO t AS x (a) VALUES (1) ON CONFLICT ON CONSTRAINT t_pkey DO NOTHING", "Insert r=+t"),
    ("INSERT INTO t DEFAULT VALUES RETURNING *", "Insert r=+t"),
    ("INSERT INTO t (a, b) OVERRIDING SYSTEM VALUE VALUES (1, 2)", "Insert r=+t"),
    ("INSERT INTO s.t(a) SELECT x FROM generate_series(1,3) x", "Insert f=generate_series r=+s.t"),
    ("UPDATE t SET (a, b) = (SELECT x, y FROM u WHERE u.id = t.id) WHERE id = 1", "Update r=+t,u"),
    ("UPDATE ONLY t AS x SET a = 1 FROM u, v WHERE x.id = u.id RETURNING x.*", "Update r=+t,u,v"),
    ("DELETE FROM t USING u, v WHERE t.id = u.id AND u.x = v.x", "Delete r=+t,u,v"),
    ("DELETE FROM ONLY t WHERE ctid = ANY(ARRAY(SELECT ctid FROM t LIMIT 10))", "Delete r=+t,t"),
    ("DELETE FROM t WHERE CURRENT OF c", "Delete r=+t"),
    // Transaction control.
    ("BEGIN ISOLATION LEVEL SERIALIZABLE READ ONLY DEFERRABLE", "Begin ro iso=Serializable deferrable"),
    ("START TRANSACTION READ WRITE, ISOLATION LEVEL REPEATABLE READ", "Begin rw iso=RepeatableRead"),
    ("begin work", "Begin"),
    ("BEGIN TRANSACTION ISOLATION LEVEL READ COMMITTED, NOT DEFERRABLE", "Begin iso=ReadCommitted not-deferrable"),
    ("COMMIT AND CHAIN", "Commit"),
    ("ROLLBACK", "Rollback"),
    ("ABORT", "Rollback"),
    ("ROLLBACK TO SAVEPOINT sp1", "RollbackTo"),
    ("ROLLBACK WORK TO sp1", "RollbackTo"),
    ("SAVEPOINT sp1", "Savepoint"),
    ("RELEASE SAVEPOINT sp1", "Release"),
    ("PREPARE TRANSACTION 'tx1'", "PrepareTransaction"),
    ("COMMIT PREPARED 'tx1'", "CommitPrepared"),
    ("ROLLBACK PREPARED 'tx1'", "RollbackPrepared"),
    // SET and friends.
    ("SET transaction_read_only = off", "Set transaction_read_only=off rw"),
    ("SET TRANSACTION_READ_ONLY TO 0", "Set TRANSACTION_READ_ONLY=0 rw"),
    ("SET transaction_read_only = on", "Set transaction_read_only=on ro"),
    ("SET TRANSACTION ISOLATION LEVEL SERIALIZABLE", "SetTransaction iso=Serializable"),
    ("SET TRANSACTION READ WRITE", "SetTransaction rw"),
    ("SET SESSION CHARACTERISTICS AS TRANSACTION ISOLATION LEVEL SERIALIZABLE", "SetTransaction session iso=Serializable"),
    ("SET SESSION CHARACTERISTICS AS TRANSACTION READ WRITE", "SetTransaction session rw"),
    ("SET default_transaction_isolation = 'serializable'", "Set default_transaction_isolation='serializable' iso=Serializable"),
    ("SET transaction_isolation TO 'repeatable read'", "Set transaction_isolation='repeatable read' iso=RepeatableRead"),
    (r#"SET search_path TO public, "$user""#, r#"Set search_path=public, "$user""#),
    ("SET LOCAL statement_timeout = '5s'", "Set(local) statement_timeout='5s'"),
    ("SET SESSION work_mem = '64MB'", "Set work_mem='64MB'"),
    ("SET TIME ZONE 'UTC'", "Set TIME ZONE='UTC'"),
    ("SET SESSION AUTHORIZATION DEFAULT", "Set SESSION AUTHORIZATION=DEFAULT"),
    ("SET ROLE admin", "Set ROLE=admin"),
    ("SET search_path FROM CURRENT", "Set search_path=<current>"),
    ("SET TRANSACTION SNAPSHOT '00000003-0000001B-1'", "SetTransaction"),
    ("SET myext.setting = 1", "Set myext.setting=1"),
    ("RESET ALL", "Reset ALL"),
    ("RESET search_path", "Reset search_path"),
    ("SHOW pool_nodes", "Show pool_nodes"),
    ("SHOW ALL", "Show ALL"),
    ("DISCARD ALL", "Discard:All"),
    ("DISCARD TEMP", "Discard:Temp"),
    // COPY.
    ("COPY t (a, b) TO STDOUT WITH (FORMAT csv)", "Copy to stdio r=t"),
    ("COPY (SELECT * FROM t WHERE x > 0) TO STDOUT", "Copy to stdio:Select r=t"),
    ("COPY (INSERT INTO t VALUES (1) RETURNING *) TO STDOUT", "Copy to stdio:Insert r=+t"),
    ("COPY t FROM '/tmp/data.csv' CSV HEADER", "Copy from file r=+t"),
    ("COPY t TO PROGRAM 'gzip > /tmp/t.gz'", "Copy to file r=t"),
    ("COPY BINARY t FROM STDIN", "Copy from stdio r=+t"),
    // PREPARE / EXECUTE / EXPLAIN / DECLARE.
    ("PREPARE q1 (int) AS SELECT * FROM t WHERE id = $1", "Prepare q1:Select r=t"),
    ("PREPARE q2 AS UPDATE t SET a = $1", "Prepare q2:Update r=+t"),
    ("PREPARE q3 AS SELECT * FROM t FOR UPDATE", "Prepare q3:SelectLocking r=t"),
    ("EXECUTE q1(5)", "Execute q1"),
    ("DEALLOCATE q1", "Deallocate q1"),
    ("DEALLOCATE PREPARE ALL", "Deallocate ALL"),
    ("EXPLAIN SELECT * FROM t", "Explain:Select r=t"),
    ("EXPLAIN ANALYZE VERBOSE SELECT * FROM t", "Explain analyze:Select r=t"),
    ("EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) UPDATE t SET a = 1", "Explain analyze:Update r=+t"),
    ("EXPLAIN (ANALYZE false, COSTS off) DELETE FROM t", "Explain:Delete r=+t"),
    ("EXPLAIN (ANALYZE on) WITH x AS (SELECT 1) SELECT * FROM x", "Explain analyze:Select"),
    ("EXPLAIN EXECUTE q1(1)", "Explain:Execute"),
    ("EXPLAIN ANALYZE CREATE TEMP TABLE t AS SELECT 1", "Explain analyze:Other r=+t temp"),
    ("DECLARE c CURSOR WITH HOLD FOR SELECT * FROM t", "Declare:Select r=t"),
    ("FETCH 10 FROM c", "Fetch"),
    ("MOVE NEXT IN c", "Fetch"),
    ("CLOSE ALL", "Close"),
    ("LISTEN channel", "Listen"),
    ("NOTIFY channel, 'payload'", "Notify"),
    ("UNLISTEN *", "Unlisten"),
    // LOCK, maintenance, CALL, DO.
    ("LOCK TABLE t IN ACCESS SHARE MODE", "Lock:AccessShare r=t"),
    ("LOCK t, u IN ROW EXCLUSIVE MODE NOWAIT", "Lock:RowExclusive r=t,u"),
    ("LOCK TABLE ONLY t IN SHARE UPDATE EXCLUSIVE MODE", "Lock:ShareUpdateExclusive r=t"),
    ("LOCK t", "Lock:AccessExclusive r=t"),
    ("LOCK t IN SHARE MODE", "Lock:Share r=t"),
    ("LOCK t IN SHARE ROW EXCLUSIVE MODE", "Lock:ShareRowExclusive r=t"),
    ("LOCK t IN EXCLUSIVE MODE", "Lock:Exclusive r=t"),
    ("LOCK t IN ROW SHARE MODE", "Lock:RowShare r=t"),
    ("VACUUM (VERBOSE, ANALYZE) t1, t2 (a, b)", "Vacuum r=t1,t2"),
    ("VACUUM FULL", "Vacuum"),
    ("ANALYZE VERBOSE t", "Analyze r=t"),
    ("CALL do_db_maintenance()", "Call f=do_db_maintenance"),
    ("CALL s.transfer(1, 2, nextval('s'))", "Call f=s.transfer,nextval"),
    ("DO $$BEGIN PERFORM pg_sleep(1); END$$", "Do"),
    ("DO LANGUAGE plpgsql $body$ BEGIN NULL; END $body$", "Do"),
    // DDL.
    ("CREATE TEMP TABLE tmp_x (id int PRIMARY KEY)", "Ddl:Create r=+tmp_x temp"),
    ("CREATE TEMPORARY TABLE IF NOT EXISTS tmp_y AS SELECT * FROM t", "Ddl:Create r=+tmp_y temp"),
    ("CREATE GLOBAL TEMPORARY TABLE g (a int)", "Ddl:Create r=+g temp"),
    ("CREATE UNLOGGED TABLE u (a int)", "Ddl:Create r=+u unlogged"),
    ("CREATE TABLE public.t (a int DEFAULT nextval('s'))", "Ddl:Create r=+public.t"),
    ("CREATE INDEX CONCURRENTLY i ON t (a)", "Ddl:Create"),
    ("CREATE OR REPLACE FUNCTION add(integer, integer) RETURNS integer AS $$ select $1 + $2; $$ LANGUAGE SQL IMMUTABLE", "Ddl:Create"),
    ("CREATE FUNCTION f(a int) RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT a + 1; SELECT 2; END;", "Ddl:Create"),
    ("CREATE OR REPLACE FUNCTION trg() RETURNS trigger AS $body$ BEGIN NEW.ts := now(); RETURN NEW; END; $body$ LANGUAGE plpgsql", "Ddl:Create"),
    ("ALTER TABLE IF EXISTS ONLY t ADD COLUMN b int", "Ddl:Alter r=+t"),
    ("DROP TABLE tmp_x", "Ddl:Drop r=+tmp_x"),
    ("DROP INDEX i", "Ddl:Drop"),
    ("GRANT SELECT ON t TO u", "Ddl:Grant"),
    ("REVOKE ALL ON t FROM u", "Ddl:Revoke"),
    ("COMMENT ON TABLE t IS 'x'", "Ddl:Comment"),
    ("SECURITY LABEL ON TABLE t IS 'x'", "Ddl:SecurityLabel"),
    ("REINDEX TABLE t", "Ddl:Reindex"),
    ("CLUSTER t USING i", "Ddl:Cluster"),
    ("REFRESH MATERIALIZED VIEW CONCURRENTLY mv", "Ddl:Refresh"),
    ("TRUNCATE t RESTART IDENTITY CASCADE", "Ddl:Truncate r=+t"),
    // Comments, literals, unicode.
    ("/* outer /* inner */ still comment */ SELECT 1", "Select comment"),
    ("-- leading\nSELECT * FROM t", "Select r=t comment"),
    ("/*REPLICATION*/ SELECT * FROM t", "Select r=t comment"),
    ("SELECT /* not leading */ 1", "Select"),
    (r"SELECT E'it\'s', 'a''b', $$x$$, $tag$y$tag$, B'101', X'FF', U&'d\0061t' FROM t", "Select r=t"),
    (r#"SELECT * FROM "Ünïcödé" WHERE "ß" = 1"#, r#"Select r="Ünïcödé""#),
    ("SELECT * FROM таблица WHERE поле = функция(1)", "Select f=функция r=таблица"),
    (r#"SELECT U&"d\0061t\+000061"(1) FROM t"#, r#"Select f=U&"d\0061t\+000061" r=t"#),
    // Harder corners.
    ("select * from t1 inner join t2 on t1.a = t2.a left outer join lateral f(t2.b) as x on true", "Select f=f r=t1,t2"),
    ("INSERT INTO t VALUES (1) RETURNING nextval('s')", "Insert f=nextval r=+t"),
    ("SELECT * FROM t1, t2 AS x (a, b), t3", "Select r=t1,t2,t3"),
    ("SELECT EXTRACT(EPOCH FROM now())", "Select f=now"),
    ("SELECT sum(x) OVER w FROM t WINDOW w AS (PARTITION BY y)", "Select f=sum r=t"),
    ("SELECT * FROM xmltable('/a' PASSING x COLUMNS b int PATH 'b') AS xt, t", "Select r=t"),
    (r#"SELECT x::pg_catalog.int4, y::"Custom"(3) FROM t"#, "Select r=t"),
    ("SELECT count(DISTINCT x), array_agg(y ORDER BY z), string_agg(a, ',' ORDER BY b) FROM t", "Select f=count,array_agg,string_agg r=t"),
    ("DELETE FROM t USING u JOIN v USING (id) WHERE t.id = u.id", "Delete r=+t,u,v"),
    ("SELECT * FROM t WHERE a IS NOT DISTINCT FROM b AND c BETWEEN SYMMETRIC 1 AND 2", "Select r=t"),
    ("SELECT format('%s', VARIADIC ARRAY['a']), current_schema(), set_config('a','b',false)", "Select f=format,current_schema,set_config"),
    ("SELECT 1 FROM t GROUP BY GROUPING SETS ((a), (b)), CUBE (c), ROLLUP (d)", "Select r=t"),
    ("SELECT * FROM public.f(1) WITH ORDINALITY", "Select f=public.f"),
    ("UPDATE t SET a = DEFAULT, b = (SELECT max(c) FROM u) FROM v WHERE t.id = v.id", "Update f=max r=+t,u,v"),
    ("WITH a AS (SELECT 1), b AS (INSERT INTO log VALUES (1)) SELECT * FROM a", "Select r=+log dml-cte"),
    ("WITH RECURSIVE sg(id, link) AS (SELECT g.id, g.link FROM graph g UNION ALL SELECT g.id, g.link FROM graph g, sg WHERE g.id = sg.link) SEARCH DEPTH FIRST BY id SET ordercol SELECT * FROM sg ORDER BY ordercol", "Select r=graph,graph"),
    ("SELECT * FROM t1 WHERE EXISTS (SELECT 1 FROM t2 WHERE t2.id = t1.id FOR SHARE)", "SelectLocking r=t1,t2"),
    (r#"select "left"(x, 1), "select"() from "from""#, r#"Select f="left","select" r="from""#),
    ("SELECT a FROM t WHERE b = $1 FOR UPDATE NOWAIT; COMMIT", "SelectLocking r=t multi"),
    ("COPY (WITH d AS (DELETE FROM t RETURNING *) SELECT * FROM d) TO STDOUT", "Copy to stdio:Select r=+t dml-cte"),
    ("SELECT * FROM ONLY (t) x", "Select r=t"),
    ("SELECT * FROM t1 LEFT JOIN (t2 CROSS JOIN t3) ON true", "Select r=t1,t2,t3"),
    ("SELECT * FROM unnest(ARRAY[1,2]) u, LATERAL generate_series(1, u) g", "Select f=unnest,generate_series"),
    ("INSERT INTO t (SELECT * FROM s)", "Insert r=+t,s"),
    (r#"SELECT * FROM "Sch"."Tab" "T" WHERE "T".id = 1"#, r#"Select r="Sch"."Tab""#),
    ("select * from t where (a, b) overlaps (c, d)", "Select r=t"),
    ("select * from t tablesample bernoulli (1)", "Select r=t"),
    // Empty, multi-statement, other.
    ("", "Empty"),
    (";", "Empty"),
    ("  -- c\n ; /* x */ ;", "Empty comment"),
    ("; SELECT 1", "Select"),
    ("SELECT 1; SELECT 2", "Select multi"),
    ("SELECT 1;  ; -- x\n", "Select"),
    ("BEGIN; INSERT INTO t VALUES (1); COMMIT", "Begin multi"),
    ("CHECKPOINT", "Other"),
    ("LOAD 'auto_explain'", "Other"),
    ("PGPOOL SHOW port", "Other"),
    ("frobnicate the database", "Other"),
    ("42", "Other"),
];

#[test]
fn classifies_real_statements() {
    let mut failures = Vec::new();
    for (sql, want) in CASES {
        let got = summary(sql);
        if got != *want {
            failures.push(format!("{sql}\n   want: {want}\n    got: {got}"));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        CASES.len(),
        failures.join("\n")
    );
    assert!(CASES.len() >= 200, "{} cases", CASES.len());
}

#[test]
fn read_only_approximation() {
    let read_only = |sql: &str| classify(sql).unwrap().is_read_only();
    for sql in [
        "SELECT 1",
        "",
        "VALUES (1)",
        "TABLE t",
        "SHOW ALL",
        "EXPLAIN SELECT 1",
        "EXPLAIN ANALYZE SELECT 1",
        "COPY t TO STDOUT",
        "COPY (SELECT 1) TO STDOUT",
    ] {
        assert!(read_only(sql), "{sql}");
    }
    for sql in [
        "SELECT 1; SELECT 2",
        "SELECT * FROM t FOR UPDATE",
        "SELECT 1 INTO t",
        "WITH d AS (DELETE FROM t RETURNING *) SELECT * FROM d",
        "EXPLAIN ANALYZE DELETE FROM t",
        "COPY t FROM STDIN",
        "COPY (DELETE FROM t RETURNING *) TO STDOUT",
        "BEGIN",
        "SET x = 1",
        "PREPARE p AS SELECT 1",
    ] {
        assert!(!read_only(sql), "{sql}");
    }
}

#[test]
fn spans_point_into_the_whole_query_string() {
    let sql = " ; /* c */ SELECT f(x) FROM s.t ; SELECT 2";
    let c = classify(sql).unwrap();
    assert_eq!(c.span.text(sql), "SELECT f(x) FROM s.t");
    assert_eq!(c.functions[0].text(sql), "f");
    assert_eq!(c.relations[0].name.text(sql), "s.t");
    assert!(c.multi_statement && c.leading_comment);
}

#[test]
fn lexical_errors_are_reported_with_positions() {
    let e = classify("SELECT 'abc").unwrap_err();
    assert_eq!(
        (e.kind(), e.position()),
        (SqlErrorKind::UnterminatedQuotedString, 7)
    );
    assert_eq!(e.to_string(), "unterminated quoted string at byte 7");
    let e = classify("SELECT 1; /* x").unwrap_err();
    assert_eq!(e.kind(), SqlErrorKind::UnterminatedBlockComment);
    let deep = format!("SELECT {}1{}", "(".repeat(5000), ")".repeat(5000));
    assert_eq!(classify(&deep).unwrap_err().kind(), SqlErrorKind::TooDeep);
}

#[test]
fn backslash_quotes_follow_standard_conforming_strings() {
    let sql = r"SELECT 'it\'s' FROM t";
    assert!(classify(sql).is_err());
    let off = SqlOptions::default().standard_conforming_strings(false);
    let c = classify_with(sql, off).unwrap();
    assert_eq!(c.relations[0].name.text(sql), "t");
}

#[test]
fn splitting_then_classifying_each_statement() {
    let sql = "BEGIN; UPDATE t SET a = 1; SELECT * FROM t FOR UPDATE; COMMIT;";
    let kinds: Vec<StatementKind> = split(sql)
        .map(|s| classify(s.unwrap().text(sql)).unwrap().kind)
        .collect();
    use StatementKind as K;
    assert_eq!(
        kinds,
        [
            K::TransactionBegin {
                modes: TransactionModes::default()
            },
            K::Update,
            K::SelectLocking,
            K::Commit
        ]
    );
}

#[test]
fn call_arguments_for_pg_terminate_backend() {
    let sql = "SELECT pg_catalog.pg_terminate_backend ( 1234 ), f((1), 2), g";
    let c = classify(sql).unwrap();
    let args: Vec<_> = c
        .functions
        .iter()
        .map(|f| call_arguments(sql, *f).map(|a| a.text(sql)))
        .collect();
    assert_eq!(args, [Some(" 1234 "), Some("(1), 2")]);
    assert_eq!(call_arguments("f(1", Span::new(0, 1)), None);
}
