//! Pgpool-II's quorum and consensus rules, over the instances registered in etcd.
//!
//! `size` is the number of registered instances (alive or not), `alive` those holding a lease.
//! A quorum is a majority of `size`; with `enable_consensus_with_half_votes` and an even
//! `size`, half is enough (for both the quorum and the votes).

use crate::config::WatchdogSettings;

/// How many instances (or votes) make a quorum of `size`.
pub fn needed(size: usize, half_votes: bool) -> usize {
    if size == 0 {
        return 1;
    }
    if size % 2 == 0 && half_votes {
        size / 2
    } else {
        size / 2 + 1
    }
}

/// Pgpool-II's `QuorumStatus`: 1 exists, 0 on the edge (exactly half of an even cluster),
/// −1 absent, −2 no leader.
pub fn quorum_status(size: usize, alive: usize, half_votes: bool, has_leader: bool) -> i32 {
    if !has_leader {
        return -2;
    }
    if alive < needed(size, half_votes) {
        -1
    } else if size % 2 == 0 && alive * 2 == size {
        0
    } else {
        1
    }
}

/// Why a node is or is not failed over now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Detach it.
    Failover,
    /// No instance reports it down.
    NoVotes,
    /// Too few instances are alive (failover_when_quorum_exists).
    NoQuorum,
    /// Too few votes (failover_require_consensus).
    NoConsensus {
        /// Votes counted.
        votes: usize,
        /// Votes needed.
        needed: usize,
    },
}

/// Decides one node: `reports` holds, per alive instance that reports it down, how many
/// failed checks in a row it saw.
pub fn decide(s: &WatchdogSettings, size: usize, alive: usize, reports: &[u32]) -> Verdict {
    let half = s.enable_consensus_with_half_votes;
    if reports.is_empty() {
        return Verdict::NoVotes;
    }
    if !s.failover_when_quorum_exists {
        return Verdict::Failover;
    }
    if alive < needed(size, half) {
        return Verdict::NoQuorum;
    }
    if !s.failover_require_consensus {
        return Verdict::Failover;
    }
    let votes = if s.allow_multiple_failover_requests_from_node {
        reports.iter().map(|r| *r as usize).sum()
    } else {
        reports.len()
    };
    let need = needed(size, half);
    if votes >= need {
        Verdict::Failover
    } else {
        Verdict::NoConsensus {
            votes,
            needed: need,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quorum_is_a_majority_or_half_with_half_votes() {
        assert_eq!([1, 2, 3, 4, 5].map(|n| needed(n, false)), [1, 2, 2, 3, 3]);
        assert_eq!([1, 2, 3, 4, 5].map(|n| needed(n, true)), [1, 1, 2, 2, 3]);
        assert_eq!(quorum_status(3, 2, false, true), 1);
        assert_eq!(quorum_status(3, 1, false, true), -1);
        assert_eq!(quorum_status(4, 2, true, true), 0);
        assert_eq!(quorum_status(3, 3, false, false), -2);
    }

    #[test]
    fn consensus_follows_pgpool_parameters() {
        let mut s = WatchdogSettings::default();
        assert_eq!(decide(&s, 3, 3, &[]), Verdict::NoVotes);
        assert_eq!(
            decide(&s, 3, 3, &[5]),
            Verdict::NoConsensus {
                votes: 1,
                needed: 2
            }
        );
        assert_eq!(decide(&s, 3, 3, &[1, 1]), Verdict::Failover);
        assert_eq!(decide(&s, 3, 1, &[1]), Verdict::NoQuorum);
        s.allow_multiple_failover_requests_from_node = true;
        assert_eq!(decide(&s, 3, 3, &[2]), Verdict::Failover);
        s.allow_multiple_failover_requests_from_node = false;
        s.failover_require_consensus = false;
        assert_eq!(decide(&s, 3, 2, &[1]), Verdict::Failover);
        assert_eq!(decide(&s, 3, 1, &[1]), Verdict::NoQuorum);
        s.failover_when_quorum_exists = false;
        assert_eq!(decide(&s, 3, 1, &[1]), Verdict::Failover);
        let half = WatchdogSettings {
            enable_consensus_with_half_votes: true,
            ..WatchdogSettings::default()
        };
        assert_eq!(decide(&half, 4, 2, &[1, 1]), Verdict::Failover);
        assert_eq!(
            decide(&WatchdogSettings::default(), 4, 4, &[1, 1]),
            Verdict::NoConsensus {
                votes: 2,
                needed: 3
            }
        );
    }
}
