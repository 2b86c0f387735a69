//! The watchdog thread's loop, every 200 ms: renew the lease, read everything under the
//! prefix in one linearizable range (which also proves a quorum of etcd members answers),
//! settle who leads, apply or publish the agreed state, publish this instance's votes, and
//! stand for leader when nobody leads.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::apply;
use super::etcd::TxnOp;
use super::fence::{self, Fence};
use super::info::WdState;
use super::keys::{Candidate, HealthView, Snapshot};
use super::leader::{Executor, Job};
use super::rules::{self, Verdict};
use super::Shared;
use crate::cluster::ShutdownMode;
use crate::config::WatchdogSettings;

/// How often the loop runs.
const TICK: Duration = Duration::from_millis(200);
/// How long an instance waits per better-placed instance before standing for leader.
const RANK_DELAY: Duration = Duration::from_secs(1);

struct Lease {
    id: i64,
    ttl: Duration,
    next_renewal: Instant,
    registered: bool,
}

struct Campaign {
    abort: super::http::Abort,
    handle: JoinHandle<()>,
}

impl Campaign {
    fn abort(self) {
        if let Ok(mut g) = self.abort.lock() {
            if let Some(s) = g.take() {
                let _ = s.shutdown(std::net::Shutdown::Both);
            }
        }
        // The thread ends on its own once its socket is shut down; it is not waited for.
        drop(self.handle);
    }
}

struct Agent {
    shared: Arc<Shared>,
    fence: Arc<Fence>,
    lease: Option<Lease>,
    stale_lease: Option<i64>,
    joined_once: bool,
    campaign: Option<Campaign>,
    leading: Option<Candidate>,
    executor: Option<Executor>,
    published_votes: Option<HealthView>,
    no_leader_since: Option<Instant>,
    verdicts: HashMap<usize, Verdict>,
    trouble: bool,
}

/// Runs the watchdog until a shutdown is requested, then leaves etcd.
pub(crate) fn run(shared: Arc<Shared>) {
    let settings = shared.settings();
    let margin = (settings.lease_ttl / 3).max(Duration::from_millis(700));
    let fence = Arc::new(Fence::new(margin));
    let (fs, ss) = (shared.clone(), shared.clone());
    let fence_thread = fence::spawn(
        fence.clone(),
        move || fs.settings(),
        move || ss.failover.state().shutdown() != ShutdownMode::None,
    );
    if let Err(e) = &fence_thread {
        tracing::error!(error = %e, "watchdog: could not start the fence; not joining etcd");
        return;
    }
    let executor = match Executor::start(shared.failover.clone()) {
        Ok(e) => Some(e),
        Err(e) => {
            tracing::error!(error = %e, "watchdog: no leader executor; this instance will not lead");
            None
        }
    };
    let mut agent = Agent {
        shared,
        fence,
        lease: None,
        stale_lease: None,
        joined_once: false,
        campaign: None,
        leading: None,
        executor,
        published_votes: None,
        no_leader_since: None,
        verdicts: HashMap::new(),
        trouble: false,
    };
    while agent.shared.failover.state().shutdown() == ShutdownMode::None {
        let started = Instant::now();
        let s = agent.shared.settings();
        agent.tick(&s);
        if let Some(rest) = TICK.checked_sub(started.elapsed()) {
            std::thread::sleep(rest);
        }
    }
    agent.leave();
    if let Ok(h) = fence_thread {
        let _ = h.join();
    }
}

impl Agent {
    fn tick(&mut self, s: &WatchdogSettings) {
        if self.fence.take_lost() {
            self.lost("lease renewal overdue");
        }
        self.keep_lease(s);
        let Some(lease) = self.lease.as_ref().map(|l| l.id) else {
            self.show(None, None, false);
            return;
        };
        let snapshot = match self.shared.etcd.range_prefix(&self.shared.layout.all()) {
            Ok(kvs) => Snapshot::parse(&self.shared.layout, &kvs),
            Err(e) => {
                self.trouble(&e.to_string());
                return;
            }
        };
        if !self.fence.lease_safe() {
            return;
        }
        self.calm();
        let leader = snapshot.leader().cloned();
        let leading = leader.as_ref().is_some_and(|c| c.lease == lease);
        match (leading, self.leading.is_some()) {
            (true, false) => self.take_lead(s, &snapshot, leader.clone()),
            (false, true) => {
                self.leading = None;
                self.fence.de_escalate(s, "another instance leads");
            }
            _ => {}
        }
        if leading {
            self.fence.escalate_if_safe(s);
            self.lead(s, &snapshot);
        } else {
            self.follow(&snapshot);
        }
        self.publish_votes(&snapshot, lease);
        if !leading {
            self.maybe_campaign(&snapshot, lease);
        }
        self.show(Some(snapshot), leader, leading);
    }

    fn keep_lease(&mut self, s: &WatchdogSettings) {
        let etcd = &self.shared.etcd;
        match &mut self.lease {
            None => {
                let sent = Instant::now();
                match etcd.grant(s.lease_ttl) {
                    Ok((id, ttl)) => {
                        let ttl = Duration::from_secs(ttl.max(1));
                        self.fence.set_deadline(Some(sent + ttl));
                        tracing::info!(
                            lease = id,
                            ttl_s = ttl.as_secs(),
                            "watchdog: lease granted"
                        );
                        self.lease = Some(Lease {
                            id,
                            ttl,
                            next_renewal: sent + ttl / 3,
                            registered: false,
                        });
                        self.published_votes = None;
                        if let Some(old) = self.stale_lease.take() {
                            // Frees the old candidate key and votes at once, if they linger.
                            let _ = etcd.revoke(old);
                        }
                    }
                    Err(e) => self.trouble(&e.to_string()),
                }
            }
            Some(l) if Instant::now() >= l.next_renewal => {
                let sent = Instant::now();
                match etcd.keep_alive(l.id) {
                    Ok(0) => self.lost("lease expired in etcd"),
                    Ok(ttl) => {
                        l.ttl = Duration::from_secs(ttl);
                        l.next_renewal = sent + l.ttl / 3;
                        self.fence.set_deadline(Some(sent + l.ttl));
                    }
                    Err(e) => {
                        l.next_renewal = Instant::now() + TICK;
                        let e = e.to_string();
                        self.trouble(&e);
                    }
                }
            }
            Some(_) => {}
        }
        self.register();
    }

    /// Writes this instance's registration and liveness keys once per lease.
    fn register(&mut self) {
        let Some(l) = self.lease.as_mut().filter(|l| !l.registered) else {
            return;
        };
        let (layout, me) = (&self.shared.layout, &self.shared.me);
        let record = serde_json::to_vec(me).unwrap_or_default();
        let done = self
            .shared
            .etcd
            .put(&layout.member(&me.name), &record, 0)
            .and_then(|()| self.shared.etcd.put(&layout.alive(&me.name), &record, l.id));
        match done {
            Ok(()) => {
                l.registered = true;
                self.joined_once = true;
                tracing::info!(name = %me.name, "watchdog: joined the cluster");
            }
            Err(e) => tracing::warn!(error = %e, "watchdog: could not register in etcd"),
        }
    }

    /// This instance no longer holds a lease: it stops deciding and de-escalates.
    fn lost(&mut self, why: &str) {
        let s = self.shared.settings();
        self.fence.set_deadline(None);
        self.fence.de_escalate(&s, why);
        if let Some(l) = self.lease.take() {
            tracing::error!(
                why,
                lease = l.id,
                "watchdog: lost etcd; keeping the last agreed state"
            );
            self.stale_lease = Some(l.id);
        }
        self.leading = None;
        if let Some(c) = self.campaign.take() {
            c.abort();
        }
        self.shared.set_view(|v| v.lease = None);
    }

    fn trouble(&mut self, error: &str) {
        if !self.trouble {
            tracing::warn!(
                error,
                "watchdog: etcd does not answer; no decisions until it does"
            );
            self.trouble = true;
        }
    }

    fn calm(&mut self) {
        if self.trouble {
            tracing::info!("watchdog: etcd answers again");
            self.trouble = false;
        }
    }

    fn take_lead(&mut self, s: &WatchdogSettings, snap: &Snapshot, me: Option<Candidate>) {
        tracing::warn!(name = %self.shared.me.name, "watchdog: this instance now leads");
        // Start from what the cluster agreed, never from a stale local view.
        if let Some(agreed) = &snap.state {
            apply::apply(
                self.shared.failover.state(),
                agreed,
                &self.shared.failover.config().logdir,
            );
        }
        self.leading = me;
        self.no_leader_since = None;
        self.verdicts.clear();
        self.fence.escalate_if_safe(s);
    }

    fn follow(&mut self, snap: &Snapshot) {
        if let Some(agreed) = &snap.state {
            let state = self.shared.failover.state();
            if !apply::matches(state, agreed) {
                apply::apply(state, agreed, &self.shared.failover.config().logdir);
            }
        }
    }

    /// The leader's turn: finish a job, then one new job (a request first, then a consensus
    /// failover), else publish local changes (the replication check's primary, say).
    fn lead(&mut self, s: &WatchdogSettings, snap: &Snapshot) {
        let Some(exec) = self.executor.as_mut() else {
            return;
        };
        if let Some(done) = exec.finished() {
            let key = match done.job {
                Job::Request { key, .. } => Some(key),
                Job::Consensus { .. } => None,
            };
            self.publish_state(key);
            return;
        }
        if exec.busy() {
            return;
        }
        let Some(agreed) = snap.state.as_ref() else {
            self.publish_state(None);
            return;
        };
        if let Some((key, _, request)) = snap.requests.first() {
            exec.submit(Job::Request {
                key: key.clone(),
                request: *request,
            });
            return;
        }
        let size = snap.members.len();
        let alive = snap.alive.len();
        for (node, &up) in agreed.up.iter().enumerate() {
            if !up {
                self.verdicts.remove(&node);
                continue;
            }
            let reports: Vec<u32> = snap
                .alive
                .keys()
                .filter_map(|name| snap.health.get(name)?.down.get(&node).copied())
                .filter(|n| *n > 0)
                .collect();
            let verdict = rules::decide(s, size, alive, &reports);
            if self.verdicts.insert(node, verdict) != Some(verdict) && verdict != Verdict::NoVotes {
                tracing::warn!(
                    node,
                    ?verdict,
                    members = size,
                    alive,
                    "watchdog leader: failover vote"
                );
            }
            if verdict == Verdict::Failover
                && self.shared.failover.check_detach(node as i64).is_ok()
            {
                exec.submit(Job::Consensus { node });
                return;
            }
        }
        if !apply::matches(self.shared.failover.state(), agreed) {
            self.publish_state(None);
        }
    }

    /// Writes the local state as the agreed one (and deletes a carried-out request), only
    /// while this instance's election key still leads.
    fn publish_state(&mut self, done_request: Option<String>) {
        let Some(me) = &self.leading else {
            return;
        };
        let local = apply::local_state(self.shared.failover.state());
        let mut ops = vec![TxnOp::Put {
            key: self.shared.layout.state(),
            value: serde_json::to_vec(&local).unwrap_or_default(),
            lease: 0,
        }];
        if let Some(key) = done_request {
            ops.push(TxnOp::Delete { key });
        }
        match self
            .shared
            .etcd
            .txn_if_created(&me.key, me.create_revision, &ops)
        {
            Ok(true) => tracing::info!(state = ?local, "watchdog leader: state published"),
            Ok(false) => {
                tracing::warn!("watchdog: no longer the leader; state not published");
                self.leading = None;
            }
            Err(e) => tracing::warn!(error = %e, "watchdog leader: could not publish the state"),
        }
    }

    /// Publishes this instance's votes when they changed (votes for detached nodes are
    /// dropped: a node re-attached later starts with a clean slate).
    fn publish_votes(&mut self, snap: &Snapshot, lease: i64) {
        let votes = &self.shared.votes;
        if let Some(agreed) = &snap.state {
            for (v, up) in votes.iter().zip(&agreed.up) {
                if !*up {
                    v.store(0, Ordering::Release);
                }
            }
        }
        self.shared.votes_dirty.store(false, Ordering::Release);
        let view = HealthView {
            down: votes
                .iter()
                .enumerate()
                .map(|(i, v)| (i, v.load(Ordering::Acquire)))
                .filter(|(_, n)| *n > 0)
                .collect(),
        };
        let name = &self.shared.me.name;
        let current = snap.health.get(name);
        if current == Some(&view) && self.published_votes.as_ref() == Some(&view) {
            return;
        }
        let body = serde_json::to_vec(&view).unwrap_or_default();
        match self
            .shared
            .etcd
            .put(&self.shared.layout.health(name), &body, lease)
        {
            Ok(()) => self.published_votes = Some(view),
            Err(e) => tracing::warn!(error = %e, "watchdog: could not publish health votes"),
        }
    }

    /// Stands for leader when nobody leads: at once for the best-placed alive instance
    /// (highest wd_priority, then name), one RANK_DELAY later for each better-placed one.
    fn maybe_campaign(&mut self, snap: &Snapshot, lease: i64) {
        if self
            .campaign
            .as_ref()
            .is_some_and(|c| !c.handle.is_finished())
        {
            return;
        }
        self.campaign = None;
        if snap.candidates.iter().any(|c| c.lease == lease) {
            return;
        }
        if snap.leader().is_some() {
            self.no_leader_since = None;
            return;
        }
        let since = *self.no_leader_since.get_or_insert_with(Instant::now);
        let me = &self.shared.me;
        let rank = snap
            .alive
            .values()
            .filter(|(m, _)| m.name != me.name)
            .filter(|(m, _)| {
                (m.priority, std::cmp::Reverse(&m.name))
                    > (me.priority, std::cmp::Reverse(&me.name))
            })
            .count() as u32;
        if Instant::now() < since + RANK_DELAY * rank {
            return;
        }
        let abort: super::http::Abort = Arc::new(Mutex::new(None));
        let (etcd, election, name) = (
            self.shared.etcd.clone(),
            self.shared.layout.election(),
            me.name.clone(),
        );
        let thread_abort = abort.clone();
        let spawned = std::thread::Builder::new()
            .name("corepool-wd-campaign".into())
            .spawn(move || {
                tracing::info!(name, "watchdog: standing for leader");
                if let Err(e) = etcd.campaign(&election, lease, name.as_bytes(), &thread_abort) {
                    tracing::debug!(error = %e, "watchdog: campaign ended");
                }
            });
        match spawned {
            Ok(handle) => self.campaign = Some(Campaign { abort, handle }),
            Err(e) => tracing::error!(error = %e, "watchdog: could not start a campaign"),
        }
    }

    fn show(&self, snap: Option<Snapshot>, leader: Option<Candidate>, leading: bool) {
        let lease = self
            .lease
            .as_ref()
            .map(|l| l.id)
            .filter(|_| self.fence.lease_safe());
        let state = match (lease, leading, &leader) {
            (None, _, _) if self.joined_once => WdState::InNetworkTrouble,
            (None, _, _) => WdState::Initializing,
            (Some(_), true, _) => WdState::Leader,
            (Some(_), false, None) => WdState::StandingForLeader,
            (Some(_), false, Some(_)) => WdState::Standby,
        };
        let escalated = self.fence.escalated();
        self.shared.set_view(|v| {
            if let Some(s) = snap {
                v.snapshot = s;
            }
            v.state = state;
            v.escalated = escalated;
            v.lease = lease;
        });
    }

    /// A clean stop: de-escalate, mark the registration as shut down, revoke the lease.
    fn leave(&mut self) {
        let s = self.shared.settings();
        self.fence.set_deadline(None);
        self.fence.de_escalate(&s, "shutting down");
        if let Some(c) = self.campaign.take() {
            c.abort();
        }
        if let Some(l) = self.lease.take() {
            let mut record = self.shared.me.clone();
            record.shutdown = true;
            let body = serde_json::to_vec(&record).unwrap_or_default();
            let _ = self
                .shared
                .etcd
                .put(&self.shared.layout.member(&record.name), &body, 0);
            match self.shared.etcd.revoke(l.id) {
                Ok(()) => tracing::info!("watchdog: left the cluster"),
                Err(e) => tracing::warn!(error = %e, "watchdog: could not revoke the lease"),
            }
        }
    }
}
