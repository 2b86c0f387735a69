//! Failover state changes over an in-memory cluster with a scripted probe.

use std::sync::Arc;

use super::probe::{NodeProbe, ProbeResult};
use super::*;
use crate::cluster::{Node, NodeAddress};
use crate::config::{BackendConfig, Config};

/// Answers `Primary` for one node id, `Standby` for the others.
struct FixedPrimary(usize);

impl NodeProbe for FixedPrimary {
    fn probe(&self, _: &Config, nodes: &[(usize, NodeAddress)]) -> Vec<ProbeResult> {
        nodes
            .iter()
            .map(|(i, _)| {
                if *i == self.0 {
                    ProbeResult::Primary
                } else {
                    ProbeResult::Standby
                }
            })
            .collect()
    }
}

fn setup(n: usize, tweak: impl FnOnce(&mut Config)) -> (Failover, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let mut config = Config {
        logdir: dir.path().to_str().unwrap().to_owned(),
        search_primary_node_timeout: std::time::Duration::from_secs(1),
        ..Config::default()
    };
    for i in 0..n {
        config.backends.push(BackendConfig {
            hostname: format!("db{i}"),
            port: 5432 + i as u16,
            weight: 1.0,
            data_directory: format!("/data{i}"),
            ..BackendConfig::default()
        });
    }
    tweak(&mut config);
    let nodes = config
        .backends
        .iter()
        .enumerate()
        .map(|(i, b)| {
            let addr = NodeAddress::Tcp {
                host: b.hostname.clone(),
                port: b.port,
            };
            Node::new(i, addr, 1.0, NodeStatus::Waiting)
        })
        .collect();
    let state = Arc::new(ClusterState::new(nodes, 1, 4));
    state.set_primary(Some(0));
    let config = Arc::new(config);
    let source: ConfigSource = Arc::new(move || config.clone());
    (Failover::new(state, source, Arc::new(FixedPrimary(1))), dir)
}

#[test]
fn detaching_a_standby_runs_failover_command_and_keeps_the_primary() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("cmd");
    let template = format!(
        "echo '%d %h %p %D %m %H %M %P %r %R %N %S' > {}",
        out.display()
    );
    let (f, _d) = setup(3, |c| c.failover_command = template);
    let g0 = f.state().generation();
    f.detach(2, "test").unwrap();
    assert_eq!(f.state().nodes()[2].status(), NodeStatus::Down);
    assert!(f.state().generation() > g0);
    assert_eq!(f.state().primary(), Some(0));
    let text = std::fs::read_to_string(&out).unwrap();
    assert_eq!(text, "2 db2 5434 /data2 0 db0 0 0 5432 /data0 db0 5432\n");
    let status = std::fs::read_to_string(status_file::path_in(&f.config().logdir)).unwrap();
    assert_eq!(status, "up\nup\ndown\n");
}

#[test]
fn detaching_the_primary_finds_the_new_one() {
    let (f, _dir) = setup(3, |_| {});
    f.detach(0, "test").unwrap();
    assert_eq!(f.state().primary(), Some(1));
    assert_eq!(f.state().nodes()[1].role(), NodeRole::Primary);
    assert_eq!(f.state().nodes()[2].role(), NodeRole::Standby);
}

#[test]
fn always_primary_short_circuits_the_search() {
    let (f, _dir) = setup(3, |c| c.backends[2].flags.always_primary = true);
    f.detach(0, "test").unwrap();
    assert_eq!(f.state().primary(), Some(2));
}

#[test]
fn follow_primary_marks_other_standbys_down() {
    let (f, _dir) = setup(3, |c| c.follow_primary_command = "true".into());
    f.detach(0, "test").unwrap();
    assert_eq!(f.state().primary(), Some(1));
    assert_eq!(f.state().nodes()[2].status(), NodeStatus::Down);
}

#[test]
fn refusals_name_the_reason() {
    let (f, _dir) = setup(2, |c| c.backends[1].flags.allow_to_failover = false);
    assert!(matches!(
        f.detach(5, "t"),
        Err(FailoverError::OutOfRange { .. })
    ));
    assert!(matches!(
        f.detach(-1, "t"),
        Err(FailoverError::OutOfRange { .. })
    ));
    assert_eq!(f.detach(1, "t"), Err(FailoverError::Disallowed { node: 1 }));
    assert!(matches!(
        f.attach(0),
        Err(FailoverError::NotValidForFailback { .. })
    ));
    assert_eq!(
        f.promote(0, false),
        Err(FailoverError::AlreadyPrimary { node: 0 })
    );
    assert!(matches!(
        f.promote(9, false),
        Err(FailoverError::InvalidPromoteNode { .. })
    ));
}

#[test]
fn attach_brings_a_node_back_waiting() {
    let (f, _dir) = setup(2, |_| {});
    f.detach(1, "t").unwrap();
    assert!(matches!(
        f.detach(1, "t"),
        Err(FailoverError::NotValidForFailover { .. })
    ));
    f.attach(1).unwrap();
    assert_eq!(f.state().nodes()[1].status(), NodeStatus::Waiting);
    assert_eq!(f.state().primary(), Some(0));
}

#[test]
fn promote_without_switchover_only_changes_state() {
    let (f, _dir) = setup(2, |_| {});
    f.promote(1, false).unwrap();
    assert_eq!(f.state().primary(), Some(1));
    assert_eq!(f.state().nodes()[0].status(), NodeStatus::Down);
}

#[test]
fn switchover_runs_failover_command_with_the_new_main() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("cmd");
    let template = format!("echo '%d %m' > {}", out.display());
    let (f, _d) = setup(3, |c| c.failover_command = template);
    f.promote(1, true).unwrap();
    assert_eq!(std::fs::read_to_string(&out).unwrap(), "0 1\n");
    assert_eq!(f.state().primary(), Some(1));
    assert_eq!(f.state().nodes()[0].status(), NodeStatus::Down);
}
