//! The leader's executor: one thread that runs failover operations one at a time, so that the
//! agent keeps renewing its lease while failover_command, the primary search and
//! follow_primary_command take their time.

use std::sync::mpsc::{self, Receiver, Sender, TryRecvError};
use std::sync::Arc;

use super::keys::Request;
use crate::failover::Failover;

/// One operation for the executor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Job {
    /// A PCP request; `key` is its key in etcd, deleted with the new state.
    Request {
        /// The request's key.
        key: String,
        /// What it asks.
        request: Request,
    },
    /// The instances agree that `node` is down.
    Consensus {
        /// The node.
        node: usize,
    },
}

/// A finished job.
#[derive(Debug)]
pub struct Done {
    /// The job.
    pub job: Job,
    /// Why failover refused it, if it did.
    pub refused: Option<String>,
}

/// The executor thread's handle.
#[derive(Debug)]
pub struct Executor {
    jobs: Sender<Job>,
    done: Receiver<Done>,
    busy: bool,
}

impl Executor {
    /// Starts the thread over `failover`.
    pub fn start(failover: Arc<Failover>) -> std::io::Result<Self> {
        let (jobs, job_rx) = mpsc::channel::<Job>();
        let (done_tx, done) = mpsc::channel();
        std::thread::Builder::new()
            .name("corepool-wd-leader".into())
            .spawn(move || {
                for job in job_rx {
                    let refused = run(&failover, &job).err();
                    if done_tx.send(Done { job, refused }).is_err() {
                        break;
                    }
                }
            })?;
        Ok(Self {
            jobs,
            done,
            busy: false,
        })
    }

    /// Whether a job runs now.
    pub fn busy(&self) -> bool {
        self.busy
    }

    /// Starts `job` (the caller checks [`busy`](Self::busy) first).
    pub fn submit(&mut self, job: Job) {
        tracing::info!(?job, "watchdog leader: carrying out");
        self.busy = self.jobs.send(job).is_ok();
    }

    /// The job that finished since the last call, if any.
    pub fn finished(&mut self) -> Option<Done> {
        match self.done.try_recv() {
            Ok(d) => {
                self.busy = false;
                Some(d)
            }
            Err(TryRecvError::Empty) => None,
            Err(TryRecvError::Disconnected) => {
                self.busy = false;
                None
            }
        }
    }
}

fn run(f: &Failover, job: &Job) -> Result<(), String> {
    let r = match *job {
        Job::Consensus { node } => {
            f.detach(node as i64, "watchdog: the instances agree it is down")
        }
        Job::Request { request, .. } => match request {
            Request::Detach { node } => {
                f.detach(node as i64, "PCP detach (through the watchdog leader)")
            }
            Request::Attach { node } => f.attach(node as i64),
            Request::Promote { node, switchover } => f.promote(node as i64, switchover),
        },
    };
    r.map_err(|e| {
        tracing::warn!(?job, error = %e, "watchdog leader: request refused");
        e.to_string()
    })
}
