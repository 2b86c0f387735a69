//! PostgreSQL's keywords that matter to names: which cannot stand bare, which need quoting.
//
// From src/include/parser/kwlist.h. `NOT_COLID` is PostgreSQL 15's reserved and
// type_func_name keywords (a ColId cannot be one); `QUOTE` adds the col_name keywords and the
// words later versions reserved, since quoting a name needlessly is harmless and failing to
// quote one is not.

#[rustfmt::skip]
/// Reserved and type_func_name keywords of PostgreSQL 15, sorted: not usable as a bare ColId.
const NOT_COLID: &[&str] = &[
    "all", "analyse", "analyze", "and", "any", "array", "as", "asc", "asymmetric",
    "authorization", "binary", "both", "case", "cast", "check", "collate", "collation",
    "column", "concurrently", "constraint", "create", "cross", "current_catalog",
    "current_date", "current_role", "current_schema", "current_time", "current_timestamp",
    "current_user", "default", "deferrable", "desc", "distinct", "do", "else", "end", "except",
    "false", "fetch", "for", "foreign", "freeze", "from", "full", "grant", "group", "having",
    "ilike", "in", "initially", "inner", "intersect", "into", "is", "isnull", "join", "lateral",
    "leading", "left", "like", "limit", "localtime", "localtimestamp", "natural", "not",
    "notnull", "null", "offset", "on", "only", "or", "order", "outer", "overlaps", "placing",
    "primary", "references", "returning", "right", "select", "session_user", "similar", "some",
    "symmetric", "table", "tablesample", "then", "to", "trailing", "true", "union", "unique",
    "user", "using", "variadic", "verbose", "when", "where", "window", "with",
];

#[rustfmt::skip]
/// Keywords a written-back name must be quoted for, beyond [`NOT_COLID`], sorted.
const QUOTE_EXTRA: &[&str] = &[
    "between", "bigint", "bit", "boolean", "char", "character", "coalesce", "dec", "decimal",
    "exists", "extract", "float", "greatest", "grouping", "inout", "int", "integer", "interval",
    "json", "json_array", "json_arrayagg", "json_exists", "json_object", "json_objectagg",
    "json_query", "json_scalar", "json_serialize", "json_table", "json_value", "least",
    "merge_action", "national", "nchar", "none", "normalize", "nullif", "numeric", "out",
    "overlay", "position", "precision", "real", "row", "setof", "smallint", "substring",
    "system_user", "time", "timestamp", "treat", "trim", "values", "varchar", "xmlattributes",
    "xmlconcat", "xmlelement", "xmlexists", "xmlforest", "xmlnamespaces", "xmlparse", "xmlpi",
    "xmlroot", "xmlserialize", "xmltable",
];

fn contains(list: &[&str], word: &str) -> bool {
    if word.len() > 20 || !word.is_ascii() {
        return false;
    }
    let mut buf = [0u8; 20];
    let lower = &mut buf[..word.len()];
    lower.copy_from_slice(word.as_bytes());
    lower.make_ascii_lowercase();
    list.binary_search_by(|k| k.as_bytes().cmp(lower)).is_ok()
}

/// Whether the bare word `word` (any case) cannot stand as a name (a ColId) in PostgreSQL 15.
pub(crate) fn is_not_colid(word: &str) -> bool {
    contains(NOT_COLID, word)
}

/// Whether a name spelled `word` (already folded) must be quoted because it is a keyword.
pub(crate) fn needs_quote(word: &str) -> bool {
    contains(NOT_COLID, word) || contains(QUOTE_EXTRA, word)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_are_sorted_lowercase_and_short() {
        for list in [NOT_COLID, QUOTE_EXTRA] {
            assert!(list.windows(2).all(|w| w[0] < w[1]), "{list:?}");
            assert!(list
                .iter()
                .all(|w| w.len() <= 20 && *w == w.to_ascii_lowercase()));
        }
    }

    #[test]
    fn categories() {
        assert!(is_not_colid("SELECT") && is_not_colid("Default") && is_not_colid("left"));
        assert!(!is_not_colid("partition") && !is_not_colid("int") && !is_not_colid("remote"));
        assert!(needs_quote("int") && needs_quote("user") && !needs_quote("tf1_data"));
        assert!(!is_not_colid("ünïcode_name_longer_than_twenty"));
    }
}
