//! Properties: no input panics; generated trees give one statement per table, right parents.

use proptest::prelude::*;

use super::guide::CASES;
use crate::ddl::{parse, Step};

/// Parses and, when it is ours, plans; checks the error position is inside the text.
fn exercise(sql: &str) {
    match parse(sql) {
        Ok(Some(stmt)) => {
            let plan = stmt.plan();
            for step in &plan.steps {
                if let Step::RemoteCreate(r) = step {
                    let _ = r.create_sql("public");
                }
            }
        }
        Ok(None) => {}
        Err(e) => {
            assert!(e.position() <= sql.len(), "{e:?} for {sql:?}");
            assert!(e.pg_position(sql) >= 1);
        }
    }
}

const WORDS: &[&str] = &[
    "PARTITION",
    "BY",
    "RANGE",
    "LIST",
    "HASH",
    "FOR",
    "VALUES",
    "FROM",
    "TO",
    "IN",
    "WITH",
    "PUSHDOWN",
    "SERVER",
    "OPTIONS",
    "DEFAULT",
    "INCLUDE",
    "REMOTE",
    "CASCADE",
    "(",
    ")",
    ",",
    ";",
    "'x'",
    "\"q\"",
    "U&\"u\"",
    "CONSTRAINT",
    "CHECK",
    "NOT",
    "NULL",
    "1",
    "$$",
    "--",
    "/*",
    "'",
    "\"",
    "MODULUS",
    "REMAINDER",
    "TEMP",
    "IF",
    "EXISTS",
    "é",
];

fn mutated() -> impl Strategy<Value = String> {
    (
        0..CASES.len(),
        proptest::collection::vec(
            (any::<prop::sample::Index>(), 0usize..8, 0..WORDS.len()),
            1..6,
        ),
    )
        .prop_map(|(case, edits)| {
            let mut sql = CASES[case].sql.to_owned();
            for (at, cut, word) in edits {
                let mut start = at.index(sql.len() + 1);
                while !sql.is_char_boundary(start) {
                    start -= 1;
                }
                let mut end = (start + cut).min(sql.len());
                while !sql.is_char_boundary(end) {
                    end += 1;
                }
                sql.replace_range(start..end, &format!(" {} ", WORDS[word]));
            }
            sql
        })
}

/// A partition tree: each node is a leaf (maybe foreign, maybe pushed down) or has children.
#[derive(Debug, Clone)]
enum Node {
    Leaf { server: Option<bool> },
    Branch(Vec<Node>),
}

fn tree() -> impl Strategy<Value = Vec<Node>> {
    let leaf = prop_oneof![Just(None), Just(Some(false)), Just(Some(true))]
        .prop_map(|server| Node::Leaf { server });
    let node = leaf.prop_recursive(3, 24, 3, |inner| {
        proptest::collection::vec(inner, 1..4).prop_map(Node::Branch)
    });
    proptest::collection::vec(node, 1..4)
}

/// Writes the HighGo statement for `nodes` under table `parent`; returns (tables, pushdowns).
fn render(nodes: &[Node], parent: &str, sql: &mut String, counts: &mut (usize, usize)) {
    sql.push_str("PARTITION BY LIST (a) (");
    for (i, node) in nodes.iter().enumerate() {
        let name = format!("{parent}_{i}");
        if i > 0 {
            sql.push_str(",\n");
        }
        counts.0 += 1;
        sql.push_str(&format!("PARTITION {name} FOR VALUES IN ({i}) "));
        match node {
            Node::Leaf { server: None } => {}
            Node::Leaf {
                server: Some(pushdown),
            } => {
                sql.push_str("SERVER s1 OPTIONS (fetch_size '10')");
                if *pushdown {
                    sql.push_str(" WITH PUSHDOWN");
                    counts.1 += 1;
                }
            }
            Node::Branch(children) => render(children, &name, sql, counts),
        }
    }
    sql.push(')');
}

proptest! {
    #[test]
    fn arbitrary_text_never_panics(s in "\\PC*") {
        exercise(&s);
        exercise(&format!("CREATE TABLE p (a int) PARTITION BY RANGE (a) ({s}"));
        exercise(&format!("CREATE TABLE p (a int) PARTITION BY LIST (a) (PARTITION x {s}"));
        exercise(&format!("CREATE FOREIGN TABLE f {s} WITH PUSHDOWN"));
        exercise(&format!("DROP TABLE {s} INCLUDE REMOTE"));
    }

    #[test]
    fn mutated_guide_examples_never_panic(sql in mutated()) {
        exercise(&sql);
    }

    #[test]
    fn trees_give_one_statement_per_table(nodes in tree()) {
        let mut sql = String::from("CREATE TABLE t (a int, b text) ");
        let mut counts = (0, 0);
        render(&nodes, "t", &mut sql, &mut counts);
        let plan = parse(&sql).unwrap().unwrap().plan();
        let locals: Vec<&str> = plan.local_statements().collect();
        prop_assert_eq!(locals.len(), 1 + counts.0);
        prop_assert_eq!(plan.remote_creates().count(), counts.1);
        prop_assert_eq!(locals[0], "CREATE TABLE t (a int, b text) PARTITION BY LIST (a)");
        for local in &locals[1..] {
            // t_0_2 is a partition of t_0.
            let name = local.split_whitespace().find(|w| w.starts_with("t_")).unwrap();
            let parent = &name[..name.rfind('_').unwrap()];
            let of = format!(" PARTITION OF {parent} FOR VALUES IN (");
            prop_assert!(local.contains(&of), "{}", local);
        }
        for remote in plan.remote_creates() {
            prop_assert_eq!(remote.create_sql("public"),
                format!("CREATE TABLE public.{} (a int, b text)", remote.local_table));
        }
    }
}
