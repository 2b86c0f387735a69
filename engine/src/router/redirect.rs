//! database_redirect_preference_list and app_name_redirect_preference_list: a preferred
//! load-balance node per database or application name (spec 2.3.9, 3.7).

use regex::{Regex, RegexBuilder};

use super::balance::choose_node;
use crate::cluster::ClusterState;

/// Which node an entry prefers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Preferred {
    /// The primary.
    Primary,
    /// A standby chosen by weight.
    Standby,
    /// A node by id.
    Node(usize),
}

/// One `name_regex:node(weight)` item.
#[derive(Debug, Clone)]
struct Entry {
    name: Regex,
    node: Preferred,
    weight: f64,
}

/// A parsed preference list.
#[derive(Debug, Clone, Default)]
pub struct RedirectList {
    entries: Vec<Entry>,
}

impl RedirectList {
    /// Parses `items` (already split at commas); malformed items are skipped with a warning.
    pub fn parse(items: &[String]) -> Self {
        let mut entries = Vec::new();
        for item in items.iter().map(|i| i.trim()).filter(|i| !i.is_empty()) {
            match parse_item(item) {
                Some(e) => entries.push(e),
                None => tracing::warn!(item, "malformed redirect preference ignored"),
            }
        }
        Self { entries }
    }

    /// The first entry whose pattern matches all of `name`.
    fn lookup(&self, name: &str) -> Option<&Entry> {
        self.entries.iter().find(|e| e.name.is_match(name))
    }
}

fn parse_item(item: &str) -> Option<Entry> {
    let (name, target) = item.rsplit_once(':')?;
    let (node, weight) = match target.split_once('(') {
        Some((n, w)) => (
            n.trim(),
            w.trim().strip_suffix(')')?.trim().parse::<f64>().ok()?,
        ),
        None => (target.trim(), 1.0),
    };
    let node = match node.to_ascii_lowercase().as_str() {
        "primary" => Preferred::Primary,
        "standby" => Preferred::Standby,
        n => Preferred::Node(n.parse().ok()?),
    };
    let name = RegexBuilder::new(&format!("^(?:{})$", name.trim()))
        .case_insensitive(true)
        .build()
        .ok()?;
    Some(Entry {
        name,
        node,
        weight: weight.clamp(0.0, 1.0),
    })
}

/// Chooses a session's load-balance node: the application name's preference first, then the
/// database's; a preferred node is taken with its weight's probability, otherwise it is left out
/// of the weighted draw. `r1` decides the preference, `r2` the draw (both uniform in `[0, 1)`).
#[allow(clippy::too_many_arguments)]
pub fn choose_session_node(
    state: &ClusterState,
    primary: usize,
    app_list: &RedirectList,
    db_list: &RedirectList,
    application_name: Option<&str>,
    database: &str,
    r1: f64,
    r2: f64,
) -> Option<usize> {
    let entry = application_name
        .and_then(|a| app_list.lookup(a))
        .or_else(|| db_list.lookup(database));
    let Some(entry) = entry else {
        return choose_node(state, r2, None);
    };
    let valid = |id: usize| state.node(id).is_some_and(|n| n.status().is_valid());
    let preferred = match entry.node {
        Preferred::Primary => Some(primary),
        Preferred::Node(n) => Some(n),
        Preferred::Standby => None,
    };
    if r1 < entry.weight {
        match entry.node {
            Preferred::Standby => {
                if let Some(n) = choose_node(state, r2, Some(primary)) {
                    return Some(n);
                }
            }
            _ => {
                if let Some(n) = preferred.filter(|n| valid(*n)) {
                    return Some(n);
                }
            }
        }
    }
    choose_node(state, r2, preferred).or_else(|| choose_node(state, r2, None))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::{Node, NodeAddress, NodeStatus};

    fn state() -> ClusterState {
        let nodes = (0..3)
            .map(|i| {
                Node::new(
                    i,
                    NodeAddress::Tcp {
                        host: "h".into(),
                        port: 1,
                    },
                    1.0,
                    NodeStatus::Waiting,
                )
            })
            .collect();
        ClusterState::new(nodes, 1, 1)
    }

    fn list(items: &[&str]) -> RedirectList {
        RedirectList::parse(&items.iter().map(|s| s.to_string()).collect::<Vec<_>>())
    }

    #[test]
    fn items_parse_like_pgpool() {
        let l = list(&[
            "postgres:primary",
            "app.*:standby(0.3)",
            "test:2",
            "bad",
            "x:y(z)",
        ]);
        assert_eq!(l.entries.len(), 3);
        assert_eq!(l.lookup("postgres").unwrap().node, Preferred::Primary);
        assert_eq!(l.lookup("APPDB").unwrap().weight, 0.3);
        assert_eq!(l.lookup("test").unwrap().node, Preferred::Node(2));
        assert!(l.lookup("other").is_none());
    }

    #[test]
    fn preferences_are_taken_with_their_weight() {
        let s = state();
        let none = list(&[]);
        let db = list(&["sales:primary(0.5)"]);
        // Below the weight: the primary.
        assert_eq!(
            choose_session_node(&s, 0, &none, &db, None, "sales", 0.4, 0.1),
            Some(0)
        );
        // Above it: a draw without the primary.
        for r2 in [0.0, 0.5, 0.99] {
            assert_ne!(
                choose_session_node(&s, 0, &none, &db, None, "sales", 0.6, r2),
                Some(0)
            );
        }
        // The application name wins over the database.
        let app = list(&["batch:2"]);
        assert_eq!(
            choose_session_node(&s, 0, &app, &db, Some("batch"), "sales", 0.1, 0.1),
            Some(2)
        );
        // Standby: a weighted standby, never the primary.
        let st = list(&["sales:standby"]);
        for r2 in [0.0, 0.5, 0.99] {
            assert_ne!(
                choose_session_node(&s, 0, &none, &st, None, "sales", 0.0, r2),
                Some(0)
            );
        }
    }
}
