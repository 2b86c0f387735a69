//! Session parameters a client relies on, as transaction pooling carries them from backend to
//! backend: the values a client set (at start-up or with a plain `SET`), what a backend has,
//! and the statements that make a backend's match a client's.

use std::rc::Rc;

use super::quote_literal;

/// A parameter's value, as corepool can write it back in a `SET`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    /// Text from a start-up packet: written as a string literal.
    Literal(String),
    /// The value list of a `SET` as the client wrote it (already SQL).
    Sql(String),
}

impl Value {
    fn sql(&self) -> String {
        match self {
            Value::Literal(text) => quote_literal(text),
            Value::Sql(text) => text.clone(),
        }
    }
}

/// Parameters by lower-cased name, sorted by it.
///
/// A sorted vector, not a map: a client sets a handful at most, and every transaction-pooled
/// session keeps two of these for its whole life (a `BTreeMap` node is 632 bytes however few
/// entries it holds). Shared on clone — a client's values are recorded as its backend's at
/// every lease — and copied only when changed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Params(Rc<Vec<(String, Value)>>);

/// Start-up packet keys that are not parameters.
const NOT_PARAMETERS: [&str; 4] = ["user", "database", "replication", "options"];

impl Params {
    /// The parameters of a start-up packet: every key but the protocol's own, and the
    /// `-c name=value` / `--name=value` settings of `options`.
    pub fn from_startup(pairs: &[(&str, &str)]) -> Self {
        let mut p = Params::default();
        for (k, v) in pairs {
            if k.starts_with("_pq_.") || NOT_PARAMETERS.contains(k) {
                continue;
            }
            p.set(k, Value::Literal((*v).to_owned()));
        }
        if let Some((_, options)) = pairs.iter().find(|(k, _)| *k == "options") {
            for (k, v) in parse_options(options) {
                p.set(&k, Value::Literal(v));
            }
        }
        Rc::make_mut(&mut p.0).shrink_to_fit();
        p
    }

    /// Where `name` (lower-cased) is, or would go.
    fn find(&self, name: &str) -> Result<usize, usize> {
        self.0.binary_search_by(|(n, _)| n.as_str().cmp(name))
    }

    /// The value of `name` (lower-cased).
    fn value(&self, name: &str) -> Option<&Value> {
        self.find(name).ok().map(|i| &self.0[i].1)
    }

    /// Records `name = value`.
    pub fn set(&mut self, name: &str, value: Value) {
        let name = name.to_ascii_lowercase();
        match self.find(&name) {
            Ok(i) if self.0[i].1 == value => {}
            Ok(i) => Rc::make_mut(&mut self.0)[i].1 = value,
            Err(i) => Rc::make_mut(&mut self.0).insert(i, (name, value)),
        }
    }

    /// Forgets `name` (back to the session default).
    pub fn reset(&mut self, name: &str) {
        if let Ok(i) = self.find(&name.to_ascii_lowercase()) {
            Rc::make_mut(&mut self.0).remove(i);
        }
    }

    /// Number of parameters.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True when no parameter is set.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// A parameter's value.
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.value(&name.to_ascii_lowercase())
    }

    /// The statements that turn a backend whose parameters are `from` (with session defaults
    /// `defaults`, what it was started with) into one whose parameters are `self`: `SET` for
    /// each value that differs, `RESET` for each the backend has and `self` does not. `None`
    /// when nothing differs.
    pub fn replay_from(&self, from: &Params, defaults: &Params) -> Option<String> {
        // The common case, a backend last set for this client or for one with the same
        // values: no statement, and no text built to find that out.
        if self == from {
            return None;
        }
        let mut sql = String::new();
        for (name, want) in self.0.iter() {
            let have = from.value(name);
            if have != Some(want) && have.map(Value::sql) != Some(want.sql()) {
                sql.push_str(&format!("SET {name} TO {};", want.sql()));
            }
        }
        for (name, have) in from.0.iter().filter(|(n, _)| self.find(n).is_err()) {
            // Back to the session default: what the backend was started with (as near as a
            // dedicated connection gets), or the server's.
            match defaults.value(name) {
                Some(v) if v == have || v.sql() == have.sql() => {}
                Some(v) => sql.push_str(&format!("SET {name} TO {};", v.sql())),
                None => sql.push_str(&format!("RESET {name};")),
            }
        }
        (!sql.is_empty()).then_some(sql)
    }
}

/// `-c name=value` and `--name=value` settings of a start-up `options` string (PostgreSQL
/// splits it at spaces; `\ ` is a literal space).
fn parse_options(options: &str) -> Vec<(String, String)> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut chars = options.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => word.extend(chars.next()),
            c if c.is_ascii_whitespace() => {
                if !word.is_empty() {
                    words.push(std::mem::take(&mut word));
                }
            }
            c => word.push(c),
        }
    }
    if !word.is_empty() {
        words.push(word);
    }
    let mut out = Vec::new();
    let mut it = words.into_iter();
    while let Some(w) = it.next() {
        let setting = if w == "-c" {
            it.next()
        } else if let Some(rest) = w.strip_prefix("-c") {
            Some(rest.to_owned())
        } else {
            w.strip_prefix("--").map(str::to_owned)
        };
        if let Some((k, v)) = setting.as_deref().and_then(|s| s.split_once('=')) {
            out.push((k.replace('-', "_"), v.to_owned()));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn start_up_parameters_and_options_are_tracked() {
        let p = Params::from_startup(&[
            ("user", "u"),
            ("database", "d"),
            ("application_name", "app"),
            ("DateStyle", "ISO"),
            (
                "options",
                "-c search_path=a,b --statement-timeout=5s -c\\ x=1",
            ),
            ("_pq_.feature", "on"),
        ]);
        assert_eq!(p.len(), 5, "{p:?}");
        assert_eq!(p.get("datestyle"), Some(&Value::Literal("ISO".into())));
        assert_eq!(
            p.get("statement_timeout"),
            Some(&Value::Literal("5s".into()))
        );
        assert_eq!(p.get("search_path"), Some(&Value::Literal("a,b".into())));
        assert!(p.get("user").is_none() && p.get("_pq_.feature").is_none());
    }

    #[test]
    fn replay_sets_what_differs_and_resets_what_the_client_never_set() {
        let defaults = Params::from_startup(&[("application_name", "first")]);
        let mut backend = defaults.clone();
        backend.set("work_mem", Value::Sql("'64MB'".into()));
        backend.set("search_path", Value::Sql("a".into()));
        let mut client = Params::from_startup(&[("application_name", "second")]);
        client.set("search_path", Value::Sql("a".into()));
        client.set("TimeZone", Value::Sql("'UTC'".into()));
        let sql = client.replay_from(&backend, &defaults).unwrap();
        assert_eq!(
            sql,
            "SET application_name TO 'second';SET timezone TO 'UTC';RESET work_mem;"
        );
        assert_eq!(client.replay_from(&client, &defaults), None);
        // A parameter the backend was started with goes back to that value, not the server's.
        let bare = Params::default();
        assert_eq!(bare.replay_from(&defaults, &defaults), None);
        let mut changed = defaults.clone();
        changed.set("application_name", Value::Sql("'x'".into()));
        assert_eq!(
            bare.replay_from(&changed, &defaults).unwrap(),
            "SET application_name TO 'first';"
        );
    }
}
