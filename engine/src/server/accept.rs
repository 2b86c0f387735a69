//! Taking clients in: each shard's accept loop over its listeners, and admission — a client
//! waits for a free session slot (or is refused with reserved_connections), and waits while a
//! graceful detach or promote holds the door.

use std::rc::Rc;
use std::time::Duration;

use crate::cluster::ShutdownMode;
use crate::runtime::{self, Listener, UnixListener};
use crate::shard::Shard;

/// A shard's listener of either kind.
pub(super) enum AnyListener {
    /// A TCP listen address.
    Tcp(Listener),
    /// The UNIX socket (shard 0).
    Unix(UnixListener),
}

/// Accepts clients on `listener` until shutdown, each admitted as its own task.
pub(super) async fn accept_loop(shard: Rc<Shard>, listener: AnyListener, reject_when_full: bool) {
    let accept = || async {
        match &listener {
            AnyListener::Tcp(l) => l.accept().await,
            AnyListener::Unix(l) => l.accept().await,
        }
    };
    // One accept stays pending across the shutdown polls: dropping an accept already submitted
    // to io_uring loses the connection it may have taken, and that client waits forever.
    let mut pending = Box::pin(accept());
    while shard.state.shutdown() == ShutdownMode::None {
        // The timeout lets the loop notice a shutdown while no client arrives.
        let Some(accepted) = runtime::timeout(ACCEPT_POLL, pending.as_mut()).await else {
            continue;
        };
        pending = Box::pin(accept());
        match accepted {
            Ok(stream) => runtime::spawn(admit(shard.clone(), stream, reject_when_full)),
            Err(e) => {
                tracing::warn!(error = %e, "accept failed");
                runtime::sleep(Duration::from_millis(10)).await;
            }
        }
    }
}

/// How often an idle accept loop looks for a shutdown request.
const ACCEPT_POLL: Duration = Duration::from_millis(250);

/// Serves a client once a session slot is free. Pgpool-II's children stop accepting when all are
/// busy, so new clients wait; with reserved_connections > 0 they are refused instead.
async fn admit(shard: Rc<Shard>, mut stream: runtime::Stream, reject_when_full: bool) {
    let mut waiting = None;
    loop {
        // A graceful detach or promote holds new clients until it is done: they wait.
        let held = shard.state.admission_held();
        if !held && shard.state.try_begin_session() {
            break;
        }
        if reject_when_full && !held {
            let _ = crate::session::errors::send_fatal(
                &mut stream,
                "53300",
                "Sorry, too many clients already",
            )
            .await;
            return;
        }
        if shard.state.shutdown() != ShutdownMode::None {
            return;
        }
        waiting.get_or_insert_with(|| Waiting::start(&shard));
        // Woken when a session of this shard ends; sessions ending on other shards are noticed
        // by the periodic re-check, so thousands of waiting clients cost no busy polling.
        shard.wait_for_slot(Duration::from_millis(100)).await;
    }
    drop(waiting);
    // The slot is given back however the session ends, a panic caught by the executor
    // included: a lost slot would hold a smart shutdown forever.
    let _slot = SessionSlot(&shard);
    crate::session::serve(&shard, &mut stream).await;
}

/// A taken session slot, given back when dropped.
struct SessionSlot<'a>(&'a Shard);

impl Drop for SessionSlot<'_> {
    fn drop(&mut self) {
        self.0.state.end_session();
        self.0.slot_freed();
    }
}

/// Counts a client in its shard's `clients_waiting` while it waits for a slot.
struct Waiting<'a>(&'a Shard);

impl<'a> Waiting<'a> {
    fn start(shard: &'a Shard) -> Self {
        shard.stats().clients_waiting.add(1);
        Waiting(shard)
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.stats().clients_waiting.add(-1);
    }
}
