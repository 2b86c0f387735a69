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
    SessionUser "session_user" R, SomeWord "some" R, Symmetric "symmetric" R,
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
    NoneWord "none" C, Normalize "normalize" C, Nullif "nullif" C, Numeric "numeric" C, Out "out" C,
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
const TABLE_BITS: u32 = 10;
const TABLE_SIZE: usize = 1 << TABLE_BITS;
const MASK: usize = TABLE_SIZE - 1;

/// A spelling packed for comparison by value: bytes 0..8, 8..16 and 16, each OR-ed with `0x20`,
/// zero-padded (keywords hold no zero byte, so the padding also encodes the length).
///
/// OR-ing `0x20` lower-cases ASCII letters and maps no other identifier byte onto a letter or
/// onto `'_' | 0x20` (only DEL does, and DEL never occurs in an identifier), so packed words
/// are equal exactly when the spellings are equal ignoring ASCII case.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Packed(u64, u64, u8);

const FOLD: u64 = 0x2020_2020_2020_2020;

const fn pack_const(text: &[u8]) -> Packed {
    let mut words = [0u64; 3];
    let mut i = 0;
    while i < text.len() {
        words[i / 8] |= ((text[i] | 0x20) as u64) << (8 * (i % 8));
        i += 1;
    }
    Packed(words[0], words[1], words[2] as u8)
}

const fn slot(p: Packed) -> usize {
    let h = (p.0 ^ p.1.rotate_left(23) ^ p.2 as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    (h >> (64 - TABLE_BITS)) as usize
}

/// The packed spelling of every entry, in `ENTRIES` order. Lookup tables are `static`: indexing
/// a `const` array at run time can copy the whole array to the stack first.
static KEYS: [Packed; ENTRIES.len()] = KEY_LIST;

const KEY_LIST: [Packed; ENTRIES.len()] = {
    let mut keys = [Packed(0, 0, 0); ENTRIES.len()];
    let mut i = 0;
    while i < ENTRIES.len() {
        assert!(ENTRIES[i].0.len() <= MAX_LEN);
        keys[i] = pack_const(ENTRIES[i].0.as_bytes());
        i += 1;
    }
    keys
};

/// Open-addressing table of `ENTRIES` indexes plus one (0 = empty), built at compile time.
static TABLE: [u16; TABLE_SIZE] = {
    assert!(ENTRIES.len() < TABLE_SIZE / 2);
    let mut table = [0u16; TABLE_SIZE];
    let mut i = 0;
    while i < ENTRIES.len() {
        let mut at = slot(KEY_LIST[i]);
        while table[at] != 0 {
            at = (at + 1) & MASK;
        }
        table[at] = (i + 1) as u16;
        i += 1;
    }
    table
};

/// The low `n` bytes of `x` (all of it for `n >= 8`).
fn low_bytes(x: u64, n: usize) -> u64 {
    if n >= 8 {
        x
    } else {
        x & ((1u64 << (8 * n)) - 1)
    }
}

fn load(bytes: &[u8], at: usize) -> u64 {
    bytes
        .get(at..at + 8)
        .and_then(|b| b.try_into().ok())
        .map_or(0, u64::from_le_bytes)
}

/// Packs the word `text[start..start + len]`. Reads whole 8-byte words when the text extends
/// far enough past the word (masking off what follows it), byte by byte otherwise.
#[inline]
fn pack(text: &[u8], start: usize, len: usize) -> Option<Packed> {
    if len == 0 || len > MAX_LEN {
        return None;
    }
    if start + 24 <= text.len() {
        let a = low_bytes(load(text, start) | FOLD, len);
        let b = if len > 8 {
            low_bytes(load(text, start + 8) | FOLD, len - 8)
        } else {
            0
        };
        let c = if len > 16 { text[start + 16] | 0x20 } else { 0 };
        return Some(Packed(a, b, c));
    }
    let word = text.get(start..start + len)?;
    let (mut a, mut b, mut c) = (0u64, 0u64, 0u8);
    for (i, &byte) in word.iter().enumerate() {
        let folded = byte | 0x20;
        match i {
            0..=7 => a |= u64::from(folded) << (8 * i),
            8..=15 => b |= u64::from(folded) << (8 * (i - 8)),
            _ => c = folded,
        }
    }
    Some(Packed(a, b, c))
}

impl Kw {
    /// The keyword spelled `word` (any case), if it is one the classifier knows.
    #[cfg(test)]
    pub(crate) fn lookup(word: &[u8]) -> Option<Kw> {
        Self::lookup_in(word, 0, word.len())
    }

    /// Reference implementation of [`Self::lookup`] for tests: a linear, case-insensitive scan.
    #[cfg(test)]
    pub(crate) fn lookup_naive(word: &[u8]) -> Option<Kw> {
        let i = ENTRIES
            .iter()
            .position(|(text, _)| text.as_bytes().eq_ignore_ascii_case(word))?;
        KWS.get(i).copied()
    }

    /// The keyword spelled by the identifier `text[start..start + len]`, if any.
    #[inline]
    pub(crate) fn lookup_in(text: &[u8], start: usize, len: usize) -> Option<Kw> {
        let key = pack(text, start, len)?;
        let mut at = slot(key);
        loop {
            let entry = usize::from(TABLE[at]).checked_sub(1)?;
            if KEYS[entry] == key {
                return KWS.get(entry).copied();
            }
            at = (at + 1) & MASK;
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
        for word in [
            "",
            "sel",
            "selects",
            "pgbench_accounts",
            "nextval",
            "таблица",
            "current_timestampx",
            "u1_0",
            "select\0",
            "\u{7f}\u{7f}",
        ] {
            assert_eq!(Kw::lookup(word.as_bytes()), None, "{word}");
        }
        // The same words inside a longer text take the word-at-a-time path.
        let text =
            "xx SeLeCt current_timestamp pgbench_accounts FROM_ from ............................";
        assert_eq!(Kw::lookup_in(text.as_bytes(), 3, 6), Some(Kw::Select));
        assert_eq!(
            Kw::lookup_in(text.as_bytes(), 10, 17),
            Some(Kw::CurrentTimestamp)
        );
        assert_eq!(Kw::lookup_in(text.as_bytes(), 28, 16), None);
        assert_eq!(Kw::lookup_in(text.as_bytes(), 45, 5), None);
        assert_eq!(Kw::lookup_in(text.as_bytes(), 51, 4), Some(Kw::From));
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
