//! The PostgreSQL keywords the classifier cares about, looked up case-insensitively without allocating.
//!
//! Categories follow `src/include/parser/kwlist.h` (PostgreSQL 16): every reserved,
//! type-or-function-name and column-name keyword is listed, because those decide whether
//! `word(` is a function call and whether a bare word after a table name is an alias. Unreserved
//! keywords are listed only when the classifier gives them a meaning; the others behave like
//! plain identifiers, which is what PostgreSQL does with them too.

/// Reserved keyword: never a bare name, alias or function name.
pub(crate) const RESERVED: u8 = 1;
/// Type-or-function-name keyword (`LEFT`, `JOIN`, `ILIKE`…): never a bare table name or alias.
pub(crate) const TYPE_FUNC: u8 = 2;
/// `word(` is syntax, not a call of a `pg_proc` function named `word`.
pub(crate) const NO_CALL: u8 = 4;
/// Never taken as a bare alias after a table name (`UPDATE t SET`, `TRUNCATE t CASCADE`).
pub(crate) const NO_ALIAS: u8 = 8;

const R: u8 = RESERVED | NO_CALL | NO_ALIAS;
const T: u8 = TYPE_FUNC | NO_CALL | NO_ALIAS;
const TF: u8 = TYPE_FUNC | NO_ALIAS;
const C: u8 = NO_CALL;
const CA: u8 = NO_CALL | NO_ALIAS;
const U: u8 = 0;
const UA: u8 = NO_ALIAS;

macro_rules! keywords {
    ($($variant:ident $text:literal $flags:expr,)*) => {
        /// A keyword, by its lower-case spelling.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub(crate) enum Kw { $($variant,)* }
        const ENTRIES: &[(&str, u8)] = &[$(($text, $flags),)*];
        const KWS: &[Kw] = &[$(Kw::$variant,)*];
    };
}

keywords! {
    // Reserved.
    All "all" R, Analyse "analyse" R, Analyze "analyze" R, And "and" R, Any "any" R,
    Array "array" R, As "as" R, Asc "asc" R, Asymmetric "asymmetric" R, Both "both" R,
    Case "case" R, Cast "cast" R, Check "check" R, Collate "collate" R, Column "column" R,
    Constraint "constraint" R, Create "create" R, CurrentCatalog "current_catalog" R,
    CurrentDate "current_date" R, CurrentRole "current_role" R, CurrentTime "current_time" R,
    CurrentTimestamp "current_timestamp" R, CurrentUser "current_user" R, Default "default" R,
    Deferrable "deferrable" R, Desc "desc" R, Distinct "distinct" R, Do "do" R, Else "else" R,
    End "end" R, Except "except" R, False "false" R, Fetch "fetch" R, For "for" R,
    Foreign "foreign" R, From "from" R, Grant "grant" R, Group "group" R, Having "having" R,
    In "in" R, Initially "initially" R, Intersect "intersect" R, Into "into" R,
    Lateral "lateral" R, Leading "leading" R, Limit "limit" R, Localtime "localtime" R,
    Localtimestamp "localtimestamp" R, Not "not" R, Null "null" R, Offset "offset" R, On "on" R,
    Only "only" R, Or "or" R, Order "order" R, Placing "placing" R, Primary "primary" R,
    References "references" R, Returning "returning" R, Select "select" R,
    SessionUser "session_user" R, SomeKw "some" R, Symmetric "symmetric" R,
    SystemUser "system_user" R, Table "table" R, Then "then" R, To "to" R, Trailing "trailing" R,
    True "true" R, Union "union" R, Unique "unique" R, User "user" R, Using "using" R,
    Variadic "variadic" R, When "when" R, Where "where" R, Window "window" R, With "with" R,
    // Type-or-function-name: `left(…)`, `right(…)` and `current_schema()` are real calls.
    Authorization "authorization" T, Binary "binary" T, Collation "collation" T,
    Concurrently "concurrently" T, Cross "cross" T, CurrentSchema "current_schema" TF,
    Freeze "freeze" T, Full "full" T, Ilike "ilike" T, Inner "inner" T, Is "is" T,
    Isnull "isnull" T, Join "join" T, Left "left" TF, Like "like" T, Natural "natural" T,
    Notnull "notnull" T, Outer "outer" T, Overlaps "overlaps" T, Right "right" TF,
    Similar "similar" T, Tablesample "tablesample" T, Verbose "verbose" T,
    // Column-name keywords: `coalesce(…)`, `exists(…)`, `substring(… FROM …)` are syntax.
    Between "between" C, Bigint "bigint" C, Bit "bit" C, Boolean "boolean" C, Char "char" C,
    Character "character" C, Coalesce "coalesce" C, Dec "dec" C, Decimal "decimal" C,
    Exists "exists" C, Extract "extract" C, Float "float" C, Greatest "greatest" C,
    Grouping "grouping" C, Inout "inout" C, Int "int" C, Integer "integer" C,
    Interval "interval" C, Json "json" C, JsonArray "json_array" C,
    JsonArrayagg "json_arrayagg" C, JsonExists "json_exists" C, JsonObject "json_object" C,
    JsonObjectagg "json_objectagg" C, JsonQuery "json_query" C, JsonScalar "json_scalar" C,
    JsonSerialize "json_serialize" C, JsonTable "json_table" C, JsonValue "json_value" C,
    Least "least" C, MergeAction "merge_action" C, National "national" C, Nchar "nchar" C,
    NoneKw "none" C, Normalize "normalize" C, Nullif "nullif" C, Numeric "numeric" C, Out "out" C,
    Overlay "overlay" C, Position "position" C, Precision "precision" C, Real "real" C,
    Row "row" C, Setof "setof" C, Smallint "smallint" C, Substring "substring" C, Time "time" C,
    Timestamp "timestamp" C, Treat "treat" C, Trim "trim" C, Values "values" CA,
    Varchar "varchar" C, Xmlattributes "xmlattributes" C, Xmlconcat "xmlconcat" C,
    Xmlelement "xmlelement" C, Xmlexists "xmlexists" C, Xmlforest "xmlforest" C,
    Xmlnamespaces "xmlnamespaces" C, Xmlparse "xmlparse" C, Xmlpi "xmlpi" C, Xmlroot "xmlroot" C,
    Xmlserialize "xmlserialize" C, Xmltable "xmltable" C,
    // Unreserved keywords the classifier gives a meaning to.
    Abort "abort" U, Access "access" U, Alter "alter" U, Atomic "atomic" U, Begin "begin" U,
    By "by" C, Call "call" U, Cascade "cascade" UA, Characteristics "characteristics" U,
    Checkpoint "checkpoint" U, Close "close" U, Cluster "cluster" U, Comment "comment" U,
    Commit "commit" U, Committed "committed" U, Conflict "conflict" CA, Continue "continue" UA,
    Copy "copy" U, Cube "cube" C, Current "current" U, Cursor "cursor" U,
    Deallocate "deallocate" U, Declare "declare" U, Delete "delete" C, Discard "discard" U,
    Drop "drop" U, Exclusive "exclusive" U, Execute "execute" U, Explain "explain" U,
    Filter "filter" C, Function "function" U, Global "global" U, Groups "groups" C,
    If "if" U, Import "import" U, Include "include" C, Insert "insert" C,
    Isolation "isolation" U, Key "key" C, Label "label" U, Level "level" U, Listen "listen" U,
    Load "load" U, Local "local" U, Lock "lock" U, Materialized "materialized" C, Merge "merge" C,
    Mode "mode" U, Move "move" U, No "no" U, Notify "notify" U, Nowait "nowait" UA,
    Operator "operator" C, Ordinality "ordinality" C, Over "over" C, Overriding "overriding" UA,
    Partition "partition" C, Plans "plans" U, Prepare "prepare" U, Prepared "prepared" U,
    Procedure "procedure" U, Program "program" U, Range "range" C, Read "read" U,
    Reassign "reassign" U, Recursive "recursive" U, Refresh "refresh" U, Reindex "reindex" U,
    Release "release" U, Repeatable "repeatable" C, Replace "replace" U, Reset "reset" U,
    Restart "restart" UA, Restrict "restrict" UA, Revoke "revoke" U, Rollback "rollback" U,
    Rollup "rollup" C, Rows "rows" C, Savepoint "savepoint" U, Security "security" U,
    Sequences "sequences" U, Serializable "serializable" U, Session "session" U, Set "set" CA,
    Sets "sets" C, Share "share" U, Show "show" U, Skip "skip" UA, Snapshot "snapshot" U,
    Start "start" U, Stdin "stdin" U, Stdout "stdout" U, Temp "temp" U, Temporary "temporary" U,
    Transaction "transaction" U, Truncate "truncate" U, Uncommitted "uncommitted" U,
    Unlisten "unlisten" U, Unlogged "unlogged" U, Update "update" C, Vacuum "vacuum" U,
    Varying "varying" C, Within "within" C, Work "work" U, Write "write" U, Zone "zone" C,
}

const MAX_LEN: usize = 17;
const TABLE_SIZE: usize = 1024;
const MASK: usize = TABLE_SIZE - 1;
const FNV_OFFSET: u32 = 0x811c_9dc5;
const FNV_PRIME: u32 = 0x0100_0193;

/// Open-addressing table of `ENTRIES` indexes plus one (0 = empty), built at compile time.
const TABLE: [u16; TABLE_SIZE] = build_table();

const fn hash(bytes: &[u8]) -> u32 {
    let mut h = FNV_OFFSET;
    let mut i = 0;
    while i < bytes.len() {
        h = (h ^ bytes[i] as u32).wrapping_mul(FNV_PRIME);
        i += 1;
    }
    h
}

const fn build_table() -> [u16; TABLE_SIZE] {
    assert!(ENTRIES.len() < TABLE_SIZE / 2);
    let mut table = [0u16; TABLE_SIZE];
    let mut i = 0;
    while i < ENTRIES.len() {
        assert!(ENTRIES[i].0.len() <= MAX_LEN);
        let mut slot = hash(ENTRIES[i].0.as_bytes()) as usize & MASK;
        while table[slot] != 0 {
            slot = (slot + 1) & MASK;
        }
        table[slot] = (i + 1) as u16;
        i += 1;
    }
    table
}

impl Kw {
    /// The keyword spelled `word` (any case), if it is one the classifier knows.
    pub(crate) fn lookup(word: &[u8]) -> Option<Kw> {
        if word.is_empty() || word.len() > MAX_LEN {
            return None;
        }
        let mut lower = [0u8; MAX_LEN];
        let mut h = FNV_OFFSET;
        for (slot, &b) in lower.iter_mut().zip(word) {
            *slot = b.to_ascii_lowercase();
            h = (h ^ *slot as u32).wrapping_mul(FNV_PRIME);
        }
        let lower = &lower[..word.len()];
        let mut slot = h as usize & MASK;
        loop {
            let entry = TABLE[slot] as usize;
            let (text, _) = *ENTRIES.get(entry.checked_sub(1)?)?;
            if text.as_bytes() == lower {
                return KWS.get(entry - 1).copied();
            }
            slot = (slot + 1) & MASK;
        }
    }

    /// The keyword's category bits (`RESERVED`, `NO_CALL`…).
    pub(crate) fn flags(self) -> u8 {
        ENTRIES[self as usize].1
    }

    /// Whether `self(` is syntax rather than a function call.
    pub(crate) fn is_not_callable(self) -> bool {
        self.flags() & NO_CALL != 0
    }

    /// Whether the keyword can stand as an unqualified table or column name.
    pub(crate) fn can_be_name(self) -> bool {
        self.flags() & (RESERVED | TYPE_FUNC) == 0
    }

    /// Whether the keyword can stand as a bare alias after a table name.
    pub(crate) fn can_be_alias(self) -> bool {
        self.flags() & (RESERVED | TYPE_FUNC | NO_ALIAS) == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_keyword_is_found_in_any_case() {
        for (i, (text, _)) in ENTRIES.iter().enumerate() {
            assert_eq!(Kw::lookup(text.as_bytes()), Some(KWS[i]), "{text}");
            let upper = text.to_ascii_uppercase();
            assert_eq!(Kw::lookup(upper.as_bytes()), Some(KWS[i]), "{upper}");
        }
    }

    #[test]
    fn non_keywords_are_not_found() {
        for word in ["", "sel", "selects", "pgbench_accounts", "nextval", "таблица", "current_timestampx"] {
            assert_eq!(Kw::lookup(word.as_bytes()), None, "{word}");
        }
    }

    #[test]
    fn categories() {
        assert!(Kw::Select.flags() & RESERVED != 0 && Kw::Select.is_not_callable());
        assert!(!Kw::Left.is_not_callable() && !Kw::Left.can_be_name());
        assert!(Kw::Coalesce.is_not_callable() && Kw::Coalesce.can_be_name());
        assert!(!Kw::Set.can_be_alias() && Kw::Set.can_be_name());
        assert!(Kw::Replace.can_be_alias() && !Kw::Replace.is_not_callable());
    }
}
