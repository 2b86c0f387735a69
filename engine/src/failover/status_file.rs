//! The `pgpool_status` file in `logdir`: which nodes were down when corepool last ran.
//!
//! Plain text, one line per configured node in id order: `up`, `down` or `unused` (`waiting`
//! is written as `up`). It is not rewritten when every node would be `down`, and a file with
//! no `up` line is taken as bogus at start (every node starts `waiting`), as Pgpool-II does.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use crate::cluster::{ClusterState, NodeStatus};

/// The file's name inside `logdir`.
pub const STATUS_FILE_NAME: &str = "pgpool_status";

/// What a status file says about one node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SavedStatus {
    /// Attached (`up`; also what `waiting` is saved as).
    Up,
    /// Detached.
    Down,
    /// Not configured.
    Unused,
}

/// The status file path for `logdir`.
pub fn path_in(logdir: &str) -> PathBuf {
    Path::new(logdir).join(STATUS_FILE_NAME)
}

/// Parses the file's text. `None` when it is bogus: an unknown word, or no `up` line.
pub fn parse(text: &str) -> Option<Vec<SavedStatus>> {
    let mut out = Vec::new();
    for line in text.lines() {
        out.push(match line.trim() {
            "up" => SavedStatus::Up,
            "down" => SavedStatus::Down,
            "unused" => SavedStatus::Unused,
            _ => return None,
        });
    }
    out.contains(&SavedStatus::Up).then_some(out)
}

/// The file's text for these node states; `None` when every node is down (the file is then
/// left as it was).
pub fn format(statuses: &[NodeStatus]) -> Option<String> {
    if statuses.iter().all(|s| *s == NodeStatus::Down) {
        return None;
    }
    let mut text = String::new();
    for s in statuses {
        text.push_str(match s {
            NodeStatus::Waiting | NodeStatus::Up => "up",
            NodeStatus::Down => "down",
            NodeStatus::Unused => "unused",
        });
        text.push('\n');
    }
    Some(text)
}

/// Reads the file at `path`: `Ok(None)` when it does not exist or is bogus.
pub fn read(path: &Path) -> io::Result<Option<Vec<SavedStatus>>> {
    match fs::read_to_string(path) {
        Ok(text) => {
            let parsed = parse(&text);
            if parsed.is_none() {
                tracing::warn!(path = %path.display(), "ignoring bogus pgpool_status file");
            }
            Ok(parsed)
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// Writes the current node states to `path` (write, fsync, rename), unless all are down.
pub fn write(path: &Path, state: &ClusterState) -> io::Result<()> {
    let statuses: Vec<NodeStatus> = state.nodes().iter().map(|n| n.status()).collect();
    let Some(text) = format(&statuses) else {
        return Ok(());
    };
    let tmp = path.with_extension("tmp");
    {
        let mut f = fs::File::create(&tmp)?;
        f.write_all(text.as_bytes())?;
        f.sync_all()?;
    }
    fs::rename(&tmp, path)
}

/// Applies a saved file to freshly built nodes: the ones saved `down` start down.
pub fn apply(state: &ClusterState, saved: &[SavedStatus]) {
    for (node, s) in state.nodes().iter().zip(saved) {
        if *s == SavedStatus::Down {
            node.set_status(NodeStatus::Down);
        }
    }
}

/// Start-up: with `discard`, deletes the file; otherwise reads it and marks the nodes saved
/// `down` as down. Problems are logged, never fatal.
pub fn load_at_start(state: &ClusterState, logdir: &str, discard: bool) {
    let path = path_in(logdir);
    if discard {
        if let Err(e) = fs::remove_file(&path) {
            if e.kind() != io::ErrorKind::NotFound {
                tracing::warn!(path = %path.display(), error = %e, "could not remove pgpool_status");
            }
        }
        return;
    }
    match read(&path) {
        Ok(Some(saved)) => {
            apply(state, &saved);
            let down: Vec<usize> = saved
                .iter()
                .enumerate()
                .filter(|(_, s)| **s == SavedStatus::Down)
                .map(|(i, _)| i)
                .collect();
            for node in &down {
                let why = "down in pgpool_status at start";
                state.events.record(
                    crate::cluster::events::EventKind::NodeDetached,
                    Some(*node),
                    why,
                );
            }
            if !down.is_empty() {
                tracing::info!(path = %path.display(), nodes = ?down, "nodes down in pgpool_status stay down");
            }
        }
        Ok(None) => {}
        Err(e) => {
            tracing::warn!(path = %path.display(), error = %e, "could not read pgpool_status")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::{Node, NodeAddress};

    fn state(n: usize) -> ClusterState {
        let nodes = (0..n)
            .map(|id| {
                let addr = NodeAddress::Tcp {
                    host: "h".into(),
                    port: 1,
                };
                Node::new(id, addr, 1.0, NodeStatus::Waiting)
            })
            .collect();
        ClusterState::new(nodes, 1, 4)
    }

    #[test]
    fn waiting_and_up_are_saved_as_up() {
        let text = format(&[NodeStatus::Waiting, NodeStatus::Down, NodeStatus::Up]);
        assert_eq!(text.as_deref(), Some("up\ndown\nup\n"));
        assert_eq!(format(&[NodeStatus::Down, NodeStatus::Down]), None);
    }

    #[test]
    fn parse_round_trips_and_rejects_bogus_files() {
        use SavedStatus::*;
        assert_eq!(parse("up\ndown\nunused\n"), Some(vec![Up, Down, Unused]));
        assert_eq!(parse("down\ndown\n"), None, "no up line");
        assert_eq!(parse("up\nsideways\n"), None);
        assert_eq!(parse(""), None);
    }

    #[test]
    fn write_read_apply_and_discard() {
        let dir = tempfile::tempdir().unwrap();
        let logdir = dir.path().to_str().unwrap();
        let s = state(3);
        s.nodes()[1].set_status(NodeStatus::Down);
        write(&path_in(logdir), &s).unwrap();
        let fresh = state(3);
        load_at_start(&fresh, logdir, false);
        let got: Vec<_> = fresh.nodes().iter().map(|n| n.status()).collect();
        assert_eq!(
            got,
            [NodeStatus::Waiting, NodeStatus::Down, NodeStatus::Waiting]
        );
        let again = state(3);
        load_at_start(&again, logdir, true);
        assert!(again
            .nodes()
            .iter()
            .all(|n| n.status() == NodeStatus::Waiting));
        assert!(!path_in(logdir).exists(), "-D deletes the file");
    }
}
