//! pgpool.conf's regex lists: write/read-only function lists and primary routing patterns.

use regex::{Regex, RegexBuilder};

/// A list of case-insensitive regexes, each implicitly anchored `^…$` as Pgpool-II does.
#[derive(Debug, Clone, Default)]
pub struct PatternList {
    patterns: Vec<Regex>,
}

impl PatternList {
    /// Compiles `items`; an invalid regex is skipped with a warning, as Pgpool-II logs and goes on.
    pub fn compile(items: &[String]) -> Self {
        let mut patterns = Vec::new();
        for item in items.iter().map(|s| s.trim()).filter(|s| !s.is_empty()) {
            match RegexBuilder::new(&format!("^(?:{item})$"))
                .case_insensitive(true)
                .build()
            {
                Ok(r) => patterns.push(r),
                Err(e) => {
                    tracing::warn!(pattern = item, error = %e, "invalid regular expression ignored")
                }
            }
        }
        Self { patterns }
    }

    /// True when no pattern is configured.
    pub fn is_empty(&self) -> bool {
        self.patterns.is_empty()
    }

    /// True when some pattern matches all of `text`.
    pub fn matches(&self, text: &str) -> bool {
        self.patterns.iter().any(|r| r.is_match(text))
    }
}

/// Whether a called function writes, by the function lists (spec 3.4.9). `None` means the lists
/// are both empty and the answer must come from `pg_proc` volatility.
pub fn function_writes(
    write_list: &PatternList,
    read_only_list: &PatternList,
    name: &str,
) -> Option<bool> {
    let name = name.replace('"', "");
    if !write_list.is_empty() {
        return Some(write_list.matches(&name));
    }
    if !read_only_list.is_empty() {
        return Some(!read_only_list.matches(&name));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(items: &[&str]) -> PatternList {
        PatternList::compile(&items.iter().map(|s| s.to_string()).collect::<Vec<_>>())
    }

    #[test]
    fn patterns_are_anchored_and_case_insensitive() {
        let l = list(&["nextval", "set.*"]);
        assert!(l.matches("NEXTVAL"));
        assert!(l.matches("setval"));
        assert!(!l.matches("my_nextval"));
        assert!(!list(&[]).matches("x"));
    }

    #[test]
    fn function_lists_follow_pgpool() {
        let none = list(&[]);
        assert_eq!(function_writes(&none, &none, "nextval"), None);
        assert_eq!(
            function_writes(&list(&["nextval"]), &none, "\"nextval\""),
            Some(true)
        );
        assert_eq!(
            function_writes(&list(&["nextval"]), &none, "lower"),
            Some(false)
        );
        assert_eq!(
            function_writes(&none, &list(&["lower", "now"]), "lower"),
            Some(false)
        );
        assert_eq!(
            function_writes(&none, &list(&["lower", "now"]), "f"),
            Some(true)
        );
    }

    #[test]
    fn an_invalid_pattern_is_skipped() {
        let l = list(&["(", "ok"]);
        assert!(l.matches("ok"));
    }
}
