//! Every example of chapters 3 and 4 of the HighGo guide, translated as a DBA would by hand.
//!
//! The guide itself gives the standard statements for 3.2.

use super::{error, plan, steps};
use crate::ddl::catalog::remote_drop_notice;
use crate::ddl::{parse, CommandTag, DdlError, Step};

pub(super) struct Case {
    pub(super) section: &'static str,
    pub(super) sql: &'static str,
    tag: CommandTag,
    steps: &'static [&'static str],
}

pub(super) const CASES: &[Case] = &[
    Case {
        section: "3.2 partition by range",
        sql: include_str!("examples/range_partitions.sql"),
        tag: CommandTag::CreateTable,
        steps: &[
            "local: CREATE TABLE prt_com1 ( a INT ) PARTITION BY RANGE ( a )",
            "local: CREATE TABLE prt_com1_p1 PARTITION OF prt_com1 FOR VALUES FROM (1) TO (10)",
            "local: CREATE TABLE prt_com1_p2 PARTITION OF prt_com1 FOR VALUES FROM (10) TO (20)",
            "local: CREATE TABLE prt_com1_p3 PARTITION OF prt_com1 DEFAULT",
        ],
    },
    Case {
        section: "3.3 partition by list",
        sql: include_str!("examples/list_partitions.sql"),
        tag: CommandTag::CreateTable,
        steps: &[
            "local: CREATE TABLE prt_com2 ( a INT ) PARTITION BY LIST ( a )",
            "local: CREATE TABLE prt_com2_p1 PARTITION OF prt_com2 FOR VALUES IN (1, 3, 5 ,7 ,9)",
            "local: CREATE TABLE prt_com2_p2 PARTITION OF prt_com2 FOR VALUES IN (2, 4, 6, 8,10)",
            "local: CREATE TABLE prt_com2_p3 PARTITION OF prt_com2 DEFAULT",
        ],
    },
    Case {
        section: "3.4 partition by hash",
        sql: include_str!("examples/hash_partitions.sql"),
        tag: CommandTag::CreateTable,
        steps: &[
            "local: CREATE TABLE prt_com3 ( a INT ) PARTITION BY HASH ( a )",
            "local: CREATE TABLE prt_com3_p1 PARTITION OF prt_com3 FOR VALUES WITH ( MODULUS 3, REMAINDER 0)",
            "local: CREATE TABLE prt_com3_p2 PARTITION OF prt_com3 FOR VALUES WITH ( MODULUS 3, REMAINDER 1)",
            "local: CREATE TABLE prt_com3_p3 PARTITION OF prt_com3 FOR VALUES WITH ( MODULUS 3, REMAINDER 2)",
        ],
    },
    Case {
        section: "3.5 sub partition",
        sql: include_str!("examples/multilevel_partitions.sql"),
        tag: CommandTag::CreateTable,
        steps: &[
            "local: CREATE TABLE prt_com4(a int, b int, c int)\nPARTITION BY RANGE( a )",
            "local: CREATE TABLE prt_com4_p1 PARTITION OF prt_com4 FOR VALUES FROM (0) TO (100) PARTITION BY RANGE( a )",
            "local: CREATE TABLE prt_com4_p1_1 PARTITION OF prt_com4_p1 FOR VALUES FROM (0) TO (10)",
            "local: CREATE TABLE prt_com4_p1_2 PARTITION OF prt_com4_p1 FOR VALUES FROM (10) TO (20)",
            "local: CREATE TABLE prt_com4_p1_3 PARTITION OF prt_com4_p1 DEFAULT",
            "local: CREATE TABLE prt_com4_p2 PARTITION OF prt_com4 FOR VALUES FROM (100) TO (200) PARTITION BY LIST( b )",
            "local: CREATE TABLE prt_com4_p2_1 PARTITION OF prt_com4_p2 FOR VALUES IN (1,2,3,4)",
            "local: CREATE TABLE prt_com4_p2_2 PARTITION OF prt_com4_p2 FOR VALUES IN (5,6,7,8)",
            "local: CREATE TABLE prt_com4_p2_3 PARTITION OF prt_com4_p2 DEFAULT",
            "local: CREATE TABLE prt_com4_p3 PARTITION OF prt_com4 DEFAULT PARTITION BY HASH( c )",
            "local: CREATE TABLE prt_com4_p3_1 PARTITION OF prt_com4_p3 FOR VALUES WITH(MODULUS 3, REMAINDER 0)",
            "local: CREATE TABLE prt_com4_p3_2 PARTITION OF prt_com4_p3 FOR VALUES WITH(MODULUS 3, REMAINDER 1)",
            "local: CREATE TABLE prt_com4_p3_3 PARTITION OF prt_com4_p3 FOR VALUES WITH(MODULUS 3, REMAINDER 2)",
        ],
    },
    Case {
        section: "3.6 partition constraint",
        sql: include_str!("examples/partition_constraints.sql"),
        tag: CommandTag::CreateTable,
        steps: &[
            "local: CREATE TABLE f_prt_com5\n(\n  a int DEFAULT 10,\n  b int,\n  c VARCHAR NOT NULL DEFAULT 'def val parent'\n)\nPARTITION BY RANGE(a)",
            "local: CREATE TABLE f_prt_com5_p1 PARTITION OF f_prt_com5 (CONSTRAINT con_f_prt_com5_p1 CHECK ( a != 19 )) FOR VALUES FROM (0) TO (100) PARTITION BY RANGE(a)",
            "local: CREATE TABLE f_prt_com5_p1_1 PARTITION OF f_prt_com5_p1 (CONSTRAINT con_f_prt_com5_p1_1 CHECK ( a != 9 )) FOR VALUES FROM (0) TO (10)",
            "local: CREATE TABLE f_prt_com5_p1_2 PARTITION OF f_prt_com5_p1 FOR VALUES FROM (10) TO (20)",
            "local: CREATE TABLE f_prt_com5_p1_3 PARTITION OF f_prt_com5_p1 (CONSTRAINT con_f_prt_com5_p1_3 CHECK ( a != 90 )) DEFAULT",
            "local: CREATE TABLE f_prt_com5_p2 PARTITION OF f_prt_com5 FOR VALUES FROM (100) TO (200) PARTITION BY LIST(b)",
            "local: CREATE TABLE f_prt_com5_p2_1 PARTITION OF f_prt_com5_p2 (UNIQUE(a)) FOR VALUES IN (1,3,5,7)",
            "local: CREATE TABLE f_prt_com5_p2_2 PARTITION OF f_prt_com5_p2 (UNIQUE(b)) FOR VALUES IN (2,4,6,8)",
            "local: CREATE TABLE f_prt_com5_p2_3 PARTITION OF f_prt_com5_p2 (UNIQUE(c)) DEFAULT",
            "local: CREATE TABLE f_prt_com5_p3 PARTITION OF f_prt_com5 DEFAULT PARTITION BY HASH(c)",
            "local: CREATE TABLE f_prt_com5_p3_1 PARTITION OF f_prt_com5_p3 (CONSTRAINT PK_f_prt_com5_p3_1 PRIMARY KEY(a)) FOR VALUES WITH (MODULUS 3, REMAINDER 0)",
            "local: CREATE TABLE f_prt_com5_p3_2 PARTITION OF f_prt_com5_p3 (CONSTRAINT FK_f_prt_com5_p3_2 FOREIGN KEY(a)\n            REFERENCES f_prt_com5_p2_2(b)) FOR VALUES WITH (MODULUS 3, REMAINDER 1)",
            "local: CREATE TABLE f_prt_com5_p3_3 PARTITION OF f_prt_com5_p3 FOR VALUES WITH (MODULUS 3, REMAINDER 2)",
        ],
    },
    Case {
        section: "4.5 foreign table WITH PUSHDOWN",
        sql: include_str!("examples/foreign_table.sql"),
        tag: CommandTag::CreateForeignTable,
        steps: &[
            "remote s1: CREATE TABLE public.tf1_data (i INT, j VARCHAR)",
            "local: CREATE FOREIGN TABLE\n  tf1_f ( i INT, j VARCHAR ) SERVER S1\n  OPTIONS ( schema_name 'public', table_name 'tf1_data' )",
        ],
    },
    Case {
        section: "4.5 drop foreign table",
        sql: "DROP FOREIGN TABLE tf1_f INCLUDE REMOTE;",
        tag: CommandTag::DropForeignTable,
        steps: &[
            "drop remote under [\"tf1_f\"] cascade=false",
            "local: DROP FOREIGN TABLE tf1_f",
        ],
    },
    Case {
        section: "4.5 drop foreign table cascade",
        sql: "DROP FOREIGN TABLE tf1_f CASCADE INCLUDE REMOTE;",
        tag: CommandTag::DropForeignTable,
        steps: &[
            "drop remote under [\"tf1_f\"] cascade=true",
            "local: DROP FOREIGN TABLE tf1_f CASCADE",
        ],
    },
    Case {
        section: "4.6 foreign partitions without pushdown",
        sql: include_str!("examples/remote_partitions.sql"),
        tag: CommandTag::CreateTable,
        steps: &[
            "local: CREATE TABLE prt_com1_f ( a INT ) PARTITION BY RANGE ( a )",
            "local: CREATE FOREIGN TABLE prt_com1_p1_f PARTITION OF prt_com1_f FOR VALUES FROM (1) TO (10) SERVER S1",
            "local: CREATE FOREIGN TABLE prt_com1_p2_f PARTITION OF prt_com1_f FOR VALUES FROM (10) TO (20) SERVER S2",
            "local: CREATE TABLE prt_com1_p3 PARTITION OF prt_com1_f DEFAULT",
        ],
    },
    Case {
        section: "4.6 foreign partitions WITH PUSHDOWN",
        sql: include_str!("examples/remote_partitions_pushdown.sql"),
        tag: CommandTag::CreateTable,
        steps: &[
            "remote s1: CREATE TABLE public.prt_com1_p1_f (a INT)",
            "remote s2: CREATE TABLE public.prt_com1_p2_f (a INT)",
            "local: CREATE TABLE prt_com1_f ( a INT ) PARTITION BY RANGE ( a )",
            "local: CREATE FOREIGN TABLE prt_com1_p1_f PARTITION OF prt_com1_f FOR VALUES FROM (1) TO (10) SERVER S1",
            "local: CREATE FOREIGN TABLE prt_com1_p2_f PARTITION OF prt_com1_f FOR VALUES FROM (10) TO (20) SERVER S2",
            "local: CREATE TABLE prt_com1_p3 PARTITION OF prt_com1_f DEFAULT",
        ],
    },
    Case {
        section: "4.6 drop table",
        sql: "DROP TABLE prt_com1_f INCLUDE REMOTE;",
        tag: CommandTag::DropTable,
        steps: &[
            "drop remote under [\"prt_com1_f\"] cascade=false",
            "local: DROP TABLE prt_com1_f",
        ],
    },
    Case {
        section: "4.6 drop table cascade",
        sql: "DROP TABLE prt_com1_f CASCADE INCLUDE REMOTE;",
        tag: CommandTag::DropTable,
        steps: &[
            "drop remote under [\"prt_com1_f\"] cascade=true",
            "local: DROP TABLE prt_com1_f CASCADE",
        ],
    },
    Case {
        section: "4.7 foreign sub-partitions without pushdown",
        sql: include_str!("examples/multilevel_remote_partitions.sql"),
        tag: CommandTag::CreateTable,
        steps: &[
            "local: CREATE TABLE prt_com4(a INT, b INT, c INT)\nPARTITION BY RANGE( a )",
            "local: CREATE TABLE prt_com4_p1 PARTITION OF prt_com4 FOR VALUES FROM (0) TO (100) PARTITION BY RANGE( a )",
            "local: CREATE FOREIGN TABLE prt_com4_p1_1 PARTITION OF prt_com4_p1 FOR VALUES FROM (0) TO (10) SERVER S1",
            "local: CREATE FOREIGN TABLE prt_com4_p1_2 PARTITION OF prt_com4_p1 FOR VALUES FROM (10) TO (20) SERVER S2",
            "local: CREATE TABLE prt_com4_p1_3 PARTITION OF prt_com4_p1 DEFAULT",
        ],
    },
    Case {
        section: "4.7 foreign sub-partitions WITH PUSHDOWN",
        sql: include_str!("examples/multilevel_remote_partitions_pushdown.sql"),
        tag: CommandTag::CreateTable,
        steps: &[
            "remote s1: CREATE TABLE public.prt_com4_p1_1 (a INT, b INT, c INT)",
            "remote s2: CREATE TABLE public.prt_com4_p1_2 (a INT, b INT, c INT)",
            "local: CREATE TABLE prt_com4(a INT, b INT, c INT)\nPARTITION BY RANGE( a )",
            "local: CREATE TABLE prt_com4_p1 PARTITION OF prt_com4 FOR VALUES FROM (0) TO (100) PARTITION BY RANGE( a )",
            "local: CREATE FOREIGN TABLE prt_com4_p1_1 PARTITION OF prt_com4_p1 FOR VALUES FROM (0) TO (10) SERVER S1",
            "local: CREATE FOREIGN TABLE prt_com4_p1_2 PARTITION OF prt_com4_p1 FOR VALUES FROM (10) TO (20) SERVER S2",
            "local: CREATE TABLE prt_com4_p1_3 PARTITION OF prt_com4_p1 DEFAULT",
        ],
    },
    Case {
        section: "4.7 drop table",
        sql: "DROP TABLE prt_com4 INCLUDE REMOTE;",
        tag: CommandTag::DropTable,
        steps: &[
            "drop remote under [\"prt_com4\"] cascade=false",
            "local: DROP TABLE prt_com4",
        ],
    },
    Case {
        section: "4.7 drop table cascade",
        sql: "DROP TABLE prt_com4 CASCADE INCLUDE REMOTE;",
        tag: CommandTag::DropTable,
        steps: &[
            "drop remote under [\"prt_com4\"] cascade=true",
            "local: DROP TABLE prt_com4 CASCADE",
        ],
    },
    Case {
        section: "4.8.1 constraints stay local",
        sql: include_str!("examples/remote_partitions_pushdown_constraint.sql"),
        tag: CommandTag::CreateTable,
        steps: &[
            "remote s1: CREATE TABLE public.prt_com1_p1_f (a INT)",
            "remote s2: CREATE TABLE public.prt_com1_p2_f (a INT)",
            "local: CREATE TABLE prt_com1_f ( a INT ) PARTITION BY RANGE ( a )",
            "local: CREATE FOREIGN TABLE prt_com1_p1_f PARTITION OF prt_com1_f (CONSTRAINT con_prt_com1_p1 CHECK ( a != 19 )) FOR\n        VALUES FROM (1) TO (10) SERVER S1",
            "local: CREATE FOREIGN TABLE prt_com1_p2_f PARTITION OF prt_com1_f FOR VALUES FROM (10) TO (20) SERVER S2",
            "local: CREATE TABLE prt_com1_p3 PARTITION OF prt_com1_f DEFAULT",
        ],
    },
    Case {
        section: "4.8.3 pushdown twice (the second run fails remotely, not here)",
        sql: "CREATE TABLE prt_com1_f ( a INT ) PARTITION BY RANGE ( a )
(
  PARTITION prt_com1_p1_f FOR VALUES FROM (1) TO (10) SERVER S1 WITH PUSHDOWN,
  PARTITION prt_com1_p2_f FOR VALUES FROM (10) TO (20) SERVER S2 WITH PUSHDOWN
);",
        tag: CommandTag::CreateTable,
        steps: &[
            "remote s1: CREATE TABLE public.prt_com1_p1_f (a INT)",
            "remote s2: CREATE TABLE public.prt_com1_p2_f (a INT)",
            "local: CREATE TABLE prt_com1_f ( a INT ) PARTITION BY RANGE ( a )",
            "local: CREATE FOREIGN TABLE prt_com1_p1_f PARTITION OF prt_com1_f FOR VALUES FROM (1) TO (10) SERVER S1",
            "local: CREATE FOREIGN TABLE prt_com1_p2_f PARTITION OF prt_com1_f FOR VALUES FROM (10) TO (20) SERVER S2",
        ],
    },
];

#[test]
fn every_example_translates_as_written_by_hand() {
    for case in CASES {
        let plan = plan(case.sql);
        assert_eq!(plan.tag, case.tag, "{}", case.section);
        assert_eq!(steps(&plan), case.steps, "{}", case.section);
    }
}

#[test]
fn the_guides_standard_statements_for_3_2() {
    // Section 3.2 shows the four statements standard PostgreSQL needs; the translation is
    // exactly those.
    let plan = plan(CASES[0].sql);
    let standard = [
        "CREATE TABLE prt_com1 ( a INT ) PARTITION BY RANGE ( a )",
        "CREATE TABLE prt_com1_p1 PARTITION OF prt_com1 FOR VALUES FROM (1) TO (10)",
        "CREATE TABLE prt_com1_p2 PARTITION OF prt_com1 FOR VALUES FROM (10) TO (20)",
        "CREATE TABLE prt_com1_p3 PARTITION OF prt_com1 DEFAULT",
    ];
    assert!(plan.local_statements().eq(standard));
    assert!(plan.skip_if_exists.is_none());
}

#[test]
fn if_not_exists_is_decided_before_anything_runs() {
    let plan = plan(CASES[5].sql);
    let check = plan.skip_if_exists.expect("IF NOT EXISTS");
    assert_eq!(check.notice, "relation \"tf1_f\" already exists, skipping");
    assert_eq!(
        check.sql,
        "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_class AS c WHERE c.relname = 'tf1_f' AND \
         c.relnamespace = (SELECT n.oid FROM pg_catalog.pg_namespace AS n WHERE n.nspname = \
         pg_catalog.current_schema()))"
    );
}

#[test]
fn include_remote_drops_each_remote_table_with_the_guides_notice() {
    // 4.6: the catalog query returns (schema, table, server) rows newest first; each gets the
    // guide's NOTICE and a DROP on its server.
    for (sql, cascade) in [(CASES[10].sql, ""), (CASES[11].sql, " CASCADE")] {
        let plan = plan(sql);
        let Some(Step::RemoteDrop(drop)) = plan.steps.first() else {
            panic!("{plan:?}");
        };
        let rows = [
            ("public", "prt_com1_p2_f", "S2"),
            ("public", "prt_com1_p1_f", "S1"),
        ];
        let notices: Vec<String> = rows
            .iter()
            .map(|(schema, table, server)| remote_drop_notice(schema, table, server))
            .collect();
        assert_eq!(
            notices,
            [
                "Drop remote table 'public.prt_com1_p2_f' on foreign server 'S2'",
                "Drop remote table 'public.prt_com1_p1_f' on foreign server 'S1'",
            ]
        );
        assert_eq!(
            drop.drop_sql("public", "prt_com1_p2_f"),
            format!("DROP TABLE public.prt_com1_p2_f{cascade}")
        );
        assert!(drop.discovery_sql.contains("ARRAY['prt_com1_f']"));
        assert!(drop.discovery_sql.contains("pg_catalog.pg_inherits"));
    }
}

#[test]
fn setup_statements_of_4_4_and_plain_drops_are_not_ours() {
    for sql in [
        "CREATE EXTENSION postgres_fdw;",
        "CREATE SERVER S1 FOREIGN DATA WRAPPER postgres_fdw OPTIONS\n(\n  dbname 'postgres',\n  host '172.17.0.3',\n  port '5333'\n);",
        "CREATE USER MAPPING FOR highgo SERVER S1 OPTIONS ( user 'highgo' );",
        "CREATE FOREIGN TABLE\n  IF NOT EXISTS tf1_f ( i INT, j VARCHAR ) SERVER S1\n  OPTIONS ( schema_name 'public', table_name 'tf1_data' );",
        "DROP TABLE prt_com1_f;",
        "CREATE TABLE prt_com1 ( a INT ) PARTITION BY RANGE ( a );",
        "CREATE TABLE prt_com1_p1 PARTITION OF prt_com1 FOR VALUES FROM (1) TO (10);",
        "CREATE TABLE prt_com1_p3 PARTITION OF prt_com1 DEFAULT;",
    ] {
        assert_eq!(parse(sql), Ok(None), "{sql}");
    }
}

#[test]
fn temp_table_with_pushdown_4_8_2() {
    let sql = "CREATE TEMP TABLE prt_com5(a INT, b INT, c INT) PARTITION BY RANGE(a)
(
    PARTITION prt_com5_p1 FOR VALUES FROM (0) TO (100)
    PARTITION BY RANGE(a)
    (
        PARTITION prt_com5_p1_1 FOR VALUES FROM (0) TO (10) SERVER S1
        WITH PUSHDOWN
    )
);";
    let e = error(sql);
    assert_eq!(
        e.to_string(),
        "WITH PUSHDOWN is only allowed for permanent relations"
    );
    assert_eq!(
        e,
        DdlError::PushdownNotPermanent {
            position: sql.find("WITH PUSHDOWN").unwrap()
        }
    );
}

#[test]
fn foreign_and_partitioned_at_once_4_8_4() {
    let sql = "CREATE TABLE prt_com4(a int, b int, c int) PARTITION BY RANGE(a)
(
  PARTITION prt_com4_p1 FOR VALUES FROM (0) TO (100) SERVER S1
  PARTITION BY RANGE(a)
  (
    PARTITION prt_com4_p1_1 FOR VALUES FROM (0) TO (10) SERVER s1,
    PARTITION prt_com4_p1_2 FOR VALUES FROM (10) TO (20) SERVER s2,
    PARTITION prt_com4_p1_3 DEFAULT
  ),
  PARTITION prt_com4_p2 FOR VALUES FROM (100) TO (200) SERVER S2
PARTITION BY LIST(b)
(
    PARTITION prt_com4_p2_1 FOR VALUES IN (1,2,3,4) SERVER s1,
    PARTITION prt_com4_p2_2 FOR VALUES IN (5,6,7,8) SERVER s2,
    PARTITION prt_com4_p2_3 DEFAULT
),
PARTITION prt_com4_p3 DEFAULT SERVER S1
PARTITION BY HASH(c)
(
    PARTITION prt_com4_p3_1 FOR VALUES WITH (MODULUS 3, REMAINDER 0),
    PARTITION prt_com4_p3_2 FOR VALUES WITH (MODULUS 3, REMAINDER 1),
    PARTITION prt_com4_p3_3 FOR VALUES WITH (MODULUS 3, REMAINDER 2)
)
);";
    let e = error(sql);
    assert_eq!(e.to_string(), "Partition table can not be a foreign table");
    assert_eq!(
        e,
        DdlError::PartitionedForeign {
            position: sql.find("SERVER S1").unwrap()
        }
    );
}
