//! The io_uring byte pump: corepool's shard runtime (`corepool-runtime`) on one thread, one
//! task per client that forwards received chunks both ways between the client and its own
//! PostgreSQL connection.
//!
//! Everything the kernel offers the runtime is used as corepool's shards use it: a multishot
//! receive per socket into the shard's provided-buffer ring, each received chunk handed to the
//! other socket's send queue as it is (no copy in user space), sends submitted on the ring, and
//! one `io_uring_enter` per loop turn for every connection. One task per pair rather than one
//! per direction: a pair's two directions never run at the same time in a request/response
//! protocol, so a second task would only add a second waker and task switch per message.
//!
//! A direction stops taking chunks while more than [`SEND_HIGH`] bytes wait to be sent to its
//! receiver, and resumes once fewer than half are left; the runtime pauses the socket's receive
//! when its inbox fills, so memory stays bounded per pair.

use std::future::poll_fn;
use std::io;
use std::net::SocketAddr;
use std::task::{Context, Poll};
use std::time::Duration;

use corepool_runtime::net::{Listener, Socket};
use corepool_runtime::{sleep, spawn, timeout};

/// Queued, unsent bytes past which a direction stops forwarding.
const SEND_HIGH: usize = 256 * 1024;

/// How long the pump waits to deliver the last bytes to one side after the other closed.
const FLUSH_TIMEOUT: Duration = Duration::from_secs(5);

/// Pause after a failed accept (too many open files), so the loop does not spin.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(10);

/// Serves clients on `listen`, each paired with a new connection to `backend`, until the
/// process is killed.
pub fn run(listen: SocketAddr, backend: SocketAddr) -> io::Result<()> {
    let failed = std::rc::Rc::new(std::cell::RefCell::new(None));
    let slot = failed.clone();
    corepool_runtime::run(async move {
        let listener = match Listener::bind_tcp(listen) {
            Ok(l) => l,
            Err(e) => {
                *slot.borrow_mut() = Some(e);
                return;
            }
        };
        loop {
            match listener.accept().await {
                Ok(client) => spawn(relay(client, backend)),
                Err(e) => {
                    eprintln!("pump: accept: {e}");
                    sleep(ACCEPT_BACKOFF).await;
                }
            }
        }
    })?;
    let failed = failed.borrow_mut().take();
    match failed {
        Some(e) => Err(io::Error::new(e.kind(), format!("listen on {listen}: {e}"))),
        None => Ok(()),
    }
}

/// Which socket of a pair.
#[derive(Clone, Copy)]
enum Side {
    Client,
    Server,
}

/// Connects `client`'s PostgreSQL connection and pumps both ways until one side closes or
/// fails; then gives the other side what was already queued for it.
async fn relay(mut client: Socket, backend: SocketAddr) {
    let mut server = match Socket::connect_tcp(backend).await {
        Ok(s) => s,
        Err(e) => {
            eprintln!("pump: connect to {backend}: {e}");
            return;
        }
    };
    let ended = poll_fn(|cx| pump_both(cx, &mut client, &mut server)).await;
    if let Ok(closed) = ended {
        let rest = match closed {
            Side::Client => &server,
            Side::Server => &client,
        };
        let _ = timeout(FLUSH_TIMEOUT, rest.flush()).await;
    }
}

/// Forwards every chunk either side has received; ready when a side reached end of stream
/// (which one) or failed.
fn pump_both(
    cx: &mut Context<'_>,
    client: &mut Socket,
    server: &mut Socket,
) -> Poll<io::Result<Side>> {
    loop {
        let up = match step(cx, client, server) {
            Poll::Ready(Ok(true)) => true,
            Poll::Ready(Ok(false)) => return Poll::Ready(Ok(Side::Client)),
            Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
            Poll::Pending => false,
        };
        let down = match step(cx, server, client) {
            Poll::Ready(Ok(true)) => true,
            Poll::Ready(Ok(false)) => return Poll::Ready(Ok(Side::Server)),
            Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
            Poll::Pending => false,
        };
        if !up && !down {
            return Poll::Pending;
        }
    }
}

/// Moves one received chunk from `from` to `to`: ready with `true` when one moved, `false` at
/// `from`'s end of stream; pending when nothing arrived or `to` has too much queued.
fn step(cx: &mut Context<'_>, from: &mut Socket, to: &Socket) -> Poll<io::Result<bool>> {
    if to.unsent() > SEND_HIGH {
        match to.poll_flush_to(cx, SEND_HIGH / 2) {
            Poll::Ready(Ok(())) => {}
            Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
            Poll::Pending => return Poll::Pending,
        }
    }
    match from.poll_recv(cx) {
        Poll::Ready(Ok(Some(chunk))) => Poll::Ready(to.send(chunk).map(|()| true)),
        Poll::Ready(Ok(None)) => Poll::Ready(Ok(false)),
        Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
        Poll::Pending => Poll::Pending,
    }
}
