//! The first keyword of SQL text, found without lexing the rest.
//!
//! A proxy that does not route statements still has to notice the few it answers itself
//! (`SHOW pool_*`, `PGPOOL …`, HighGo's enhanced `CREATE`/`DROP`) and counts statements by
//! kind. The first keyword says enough for that: [`head`] skips whitespace and comments, reads
//! one word and looks it up — a few dozen byte operations for a typical query, no allocation,
//! and the text need not be UTF-8. Everything else is [`classify`](super::classify)'s job, run
//! only when a session routes.

/// A statement's first keyword, as far as a proxy cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Head {
    /// Nothing but whitespace, comments and semicolons.
    Empty,
    /// `SELECT`, or a parenthesised query.
    Select,
    /// `WITH` (a CTE; its main command is further on).
    With,
    /// `VALUES`.
    Values,
    /// `TABLE`.
    Table,
    /// `INSERT`.
    Insert,
    /// `UPDATE`.
    Update,
    /// `DELETE`.
    Delete,
    /// `MERGE`.
    Merge,
    /// `CREATE`.
    Create,
    /// `ALTER`.
    Alter,
    /// `DROP`.
    Drop,
    /// `TRUNCATE`, `GRANT`, `REVOKE`, `COMMENT`, `REINDEX`, `CLUSTER`, `SECURITY`: the rest of
    /// what Pgpool-II counts as DDL.
    OtherDdl,
    /// `SHOW`.
    Show,
    /// `PGPOOL` (Pgpool-II's in-band commands).
    Pgpool,
    /// `BEGIN` or `START`.
    Begin,
    /// `COMMIT` or `END`.
    Commit,
    /// `ROLLBACK` or `ABORT`.
    Rollback,
    /// `SET`.
    Set,
    /// `RESET`.
    Reset,
    /// `DISCARD`.
    Discard,
    /// `LISTEN` or `UNLISTEN`.
    Listen,
    /// `PREPARE`, `EXECUTE` or `DEALLOCATE` (SQL-level prepared statements).
    Prepared,
    /// `DECLARE` (a cursor).
    Declare,
    /// `LOAD` (a shared library into the session).
    Load,
    /// Any other word (or text that does not start with one).
    Other,
}

impl Head {
    /// Pgpool-II's `SHOW pool_backend_stats` column this statement is counted in: select,
    /// insert, update, delete, ddl or other.
    pub fn count_column(self) -> &'static str {
        match self {
            Head::Select | Head::With | Head::Values | Head::Table => "select",
            Head::Insert => "insert",
            Head::Update => "update",
            Head::Delete => "delete",
            Head::Create | Head::Alter | Head::Drop | Head::OtherDdl => "ddl",
            _ => "other",
        }
    }
}

/// The first keyword of `text` (whitespace, `--` and nested `/* */` comments, leading
/// semicolons skipped; a `(` counts as a SELECT).
pub fn head(text: &[u8]) -> Head {
    let start = skip_space_and_comments(text);
    let rest = &text[start..];
    match rest.first() {
        None => return Head::Empty,
        Some(b'(') => return Head::Select,
        _ => {}
    }
    let len = rest
        .iter()
        .position(|b| !(b.is_ascii_alphabetic() || *b == b'_'))
        .unwrap_or(rest.len());
    let mut word = [0u8; 10];
    if len == 0 || len > word.len() {
        return Head::Other;
    }
    for (w, b) in word.iter_mut().zip(&rest[..len]) {
        *w = b.to_ascii_lowercase();
    }
    match &word[..len] {
        b"select" => Head::Select,
        b"with" => Head::With,
        b"values" => Head::Values,
        b"table" => Head::Table,
        b"insert" => Head::Insert,
        b"update" => Head::Update,
        b"delete" => Head::Delete,
        b"merge" => Head::Merge,
        b"create" => Head::Create,
        b"alter" => Head::Alter,
        b"drop" => Head::Drop,
        b"truncate" | b"grant" | b"revoke" | b"comment" | b"reindex" | b"cluster" | b"security" => {
            Head::OtherDdl
        }
        b"show" => Head::Show,
        b"pgpool" => Head::Pgpool,
        b"begin" | b"start" => Head::Begin,
        b"commit" | b"end" => Head::Commit,
        b"rollback" | b"abort" => Head::Rollback,
        b"set" => Head::Set,
        b"reset" => Head::Reset,
        b"discard" => Head::Discard,
        b"listen" | b"unlisten" => Head::Listen,
        b"prepare" | b"execute" | b"deallocate" => Head::Prepared,
        b"declare" => Head::Declare,
        b"load" => Head::Load,
        _ => Head::Other,
    }
}

/// Offset of the first byte that is not whitespace, a `;` or inside a comment.
fn skip_space_and_comments(text: &[u8]) -> usize {
    let mut i = 0;
    loop {
        while i < text.len() && (text[i].is_ascii_whitespace() || text[i] == b';') {
            i += 1;
        }
        if text[i..].starts_with(b"--") {
            i = match memchr::memchr(b'\n', &text[i..]) {
                Some(n) => i + n + 1,
                None => text.len(),
            };
        } else if text[i..].starts_with(b"/*") {
            // Nested, as PostgreSQL's are.
            let mut depth = 1;
            i += 2;
            while i < text.len() && depth > 0 {
                if text[i..].starts_with(b"/*") {
                    depth += 1;
                    i += 2;
                } else if text[i..].starts_with(b"*/") {
                    depth -= 1;
                    i += 2;
                } else {
                    i += 1;
                }
            }
        } else {
            return i;
        }
    }
}

/// Whether `text` may hold more than one statement: something other than white space or `;`
/// follows its first `;`. Conservative without lexing: a `;` inside a literal or a comment, or
/// a trailing comment, counts as more; `SELECT 1;` and `SELECT 1 ; ;` do not.
pub fn may_hold_several(text: &[u8]) -> bool {
    match memchr::memchr(b';', text) {
        None => false,
        Some(at) => text[at + 1..]
            .iter()
            .any(|b| !matches!(b, b';' | b' ' | b'\t' | b'\n' | b'\r' | b'\x0c')),
    }
}

/// Whether `needle` (lower-case ASCII, not empty) occurs in `text` in any letter case: a
/// cheap filter before lexing.
pub fn contains_ignore_case(text: &[u8], needle: &[u8]) -> bool {
    let Some(&first) = needle.first() else {
        return true;
    };
    memchr::memchr2_iter(first, first.to_ascii_uppercase(), text).any(|at| {
        text[at..]
            .get(..needle.len())
            .is_some_and(|w| w.eq_ignore_ascii_case(needle))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_a_word_in_any_case() {
        let cases: &[(&[u8], &[u8], bool)] = &[
            (b"select 1; DROP table t", b"drop", true),
            (b"Create table", b"create", true),
            (b"crea te", b"create", false),
            (b"dro", b"drop", false),
            (b"", b"drop", false),
            (b"anything", b"", true),
        ];
        for (text, needle, expected) in cases {
            assert_eq!(
                contains_ignore_case(text, needle),
                *expected,
                "{text:?} {needle:?}"
            );
        }
    }

    #[test]
    fn several_statements_only_when_text_follows_a_semicolon() {
        let cases: &[(&[u8], bool)] = &[
            (
                b"SELECT abalance FROM pgbench_accounts WHERE aid = 1;",
                false,
            ),
            (b"SELECT 1", false),
            (b"SELECT 1 ; ;\n ", false),
            (b"", false),
            (b"SELECT 1; SELECT 2", true),
            (b"BEGIN;DROP TABLE t include remote;COMMIT", true),
            (b"SELECT ';' ", true),
            (b"SELECT 1; -- done", true),
        ];
        for (text, want) in cases {
            assert_eq!(may_hold_several(text), *want, "{}", text.escape_ascii());
        }
    }

    #[test]
    fn first_keywords_through_space_comments_and_case() {
        let cases: &[(&[u8], Head)] = &[
            (
                b"SELECT abalance FROM pgbench_accounts WHERE aid = $1",
                Head::Select,
            ),
            (b"  \n\tselect 1", Head::Select),
            (b"(SELECT 1) UNION (SELECT 2)", Head::Select),
            (b"-- a comment\nINSERT INTO t VALUES (1)", Head::Insert),
            (
                b"/* outer /* inner */ still */ UPDATE t SET a = 1",
                Head::Update,
            ),
            (b";; DELETE FROM t", Head::Delete),
            (
                b"WITH x AS (DELETE FROM t RETURNING *) SELECT * FROM x",
                Head::With,
            ),
            (b"show pool_nodes", Head::Show),
            (b"PGPOOL SET client_idle_limit = 10", Head::Pgpool),
            (b"Create table t (a int)", Head::Create),
            (b"drop table t include remote", Head::Drop),
            (b"TRUNCATE t", Head::OtherDdl),
            (b"begin isolation level serializable", Head::Begin),
            (b"START TRANSACTION", Head::Begin),
            (b"END", Head::Commit),
            (b"abort", Head::Rollback),
            (b"SET search_path = a", Head::Set),
            (b"reset all", Head::Reset),
            (b"LISTEN ch", Head::Listen),
            (b"unlisten *", Head::Listen),
            (b"PREPARE p AS SELECT 1", Head::Prepared),
            (b"deallocate all", Head::Prepared),
            (b"DECLARE c CURSOR WITH HOLD FOR SELECT 1", Head::Declare),
            (b"VACUUM", Head::Other),
            (b"selectx", Head::Other),
            (b"$1", Head::Other),
            (b"averyveryverylongword", Head::Other),
            (b"", Head::Empty),
            (b" ; -- only a comment", Head::Empty),
            (b"/* unterminated", Head::Empty),
            (b"\xff\xfe select", Head::Other),
        ];
        for (text, want) in cases {
            assert_eq!(head(text), *want, "{:?}", text.escape_ascii().to_string());
        }
    }

    #[test]
    fn statements_count_in_pgpool_columns() {
        assert_eq!(head(b"TABLE t").count_column(), "select");
        assert_eq!(head(b"alter table t add b int").count_column(), "ddl");
        assert_eq!(head(b"COPY t FROM STDIN").count_column(), "other");
    }
}
