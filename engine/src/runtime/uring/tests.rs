//! Tests of the io_uring shard runtime: tasks, timers, sockets, cross-thread wakes. No test
//! asserts on elapsed time.

use std::cell::RefCell;
use std::future::Future;
use std::io::{Read, Write};
use std::net::SocketAddr;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::mpsc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use futures_lite::{AsyncReadExt, AsyncWriteExt};

use super::{is_current, run, sleep, spawn, Listener, Socket};
use crate::runtime::{self, Stream};

/// Runs `fut` on a fresh io_uring shard on its own thread and returns its output.
fn run_shard<T: Send + 'static, F: Future<Output = T> + 'static>(
    make: impl FnOnce() -> F + Send + 'static,
) -> T {
    std::thread::spawn(move || {
        let out = Rc::new(RefCell::new(None));
        let slot = out.clone();
        run(async move {
            let value = make().await;
            *slot.borrow_mut() = Some(value);
        })
        .expect("the shard runs");
        let value = out.borrow_mut().take();
        value.expect("the main future finished")
    })
    .join()
    .expect("the shard thread")
}

fn loopback() -> SocketAddr {
    "127.0.0.1:0".parse().expect("an address")
}

#[test]
fn timers_fire_in_deadline_order() {
    let order = run_shard(|| async {
        let order = Rc::new(RefCell::new(Vec::new()));
        for (i, ms) in [(3, 30u64), (1, 10), (2, 20), (0, 0)] {
            let order = order.clone();
            spawn(async move {
                sleep(Duration::from_millis(ms)).await;
                order.borrow_mut().push(i);
            });
        }
        sleep(Duration::from_millis(60)).await;
        let v = order.borrow().clone();
        v
    });
    assert_eq!(order, vec![0, 1, 2, 3]);
}

#[test]
fn timeout_drops_the_slow_future_and_its_timer() {
    let (fast, slow) = run_shard(|| async {
        let fast = runtime::timeout(Duration::from_secs(30), sleep(Duration::from_millis(1))).await;
        let slow =
            runtime::timeout(Duration::from_millis(5), sleep(Duration::from_secs(3600))).await;
        (fast, slow)
    });
    assert_eq!(fast, Some(()));
    assert_eq!(slow, None);
}

#[test]
fn seam_dispatches_by_thread() {
    assert!(!is_current());
    assert!(run_shard(|| async { is_current() }));
}

#[test]
fn accept_connect_read_write_round_trip() {
    let echoed = run_shard(|| async {
        let listener = Listener::bind_tcp(loopback()).expect("bind");
        let addr = listener.local_addr().expect("local addr");
        spawn(async move {
            let mut server = listener.accept().await.expect("accept");
            let mut buf = [0u8; 64];
            let n = std::future::poll_fn(|cx| server.poll_read(cx, &mut buf))
                .await
                .expect("read");
            let data = buf[..n].to_vec();
            std::future::poll_fn(|cx| server.poll_write(cx, &data))
                .await
                .expect("write");
        });
        let mut client = Stream::connect_tcp(addr, Duration::from_secs(10))
            .await
            .expect("connect");
        assert!(!client.is_local());
        assert_eq!(client.peer_addr(), Some(addr));
        client.write_all(b"ping").await.expect("write");
        let mut buf = Vec::new();
        client.read_to_end(&mut buf).await.expect("read");
        buf
    });
    assert_eq!(echoed, b"ping");
}

#[test]
fn unix_socket_round_trip() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let path = dir.path().join("s");
    let got = run_shard(move || async move {
        let listener = runtime::UnixListener::bind(&path).expect("bind");
        spawn(async move {
            let mut server = listener.accept().await.expect("accept");
            assert!(server.is_local());
            let _ = AsyncWriteExt::write_all(&mut server, b"hello").await;
        });
        let mut client = Stream::connect_unix(&path, Duration::from_secs(10))
            .await
            .expect("connect");
        let mut buf = Vec::new();
        client.read_to_end(&mut buf).await.expect("read");
        buf
    });
    assert_eq!(got, b"hello");
}

#[test]
fn a_dropped_read_with_a_pending_poll_is_harmless() {
    // A std client on another thread: it waits for our go-ahead before sending, so the first
    // read has a poll in flight when its timeout drops it.
    let (go_tx, go_rx) = mpsc::channel::<SocketAddr>();
    let (sent_tx, sent_rx) = mpsc::channel::<()>();
    let peer = std::thread::spawn(move || {
        let addr = go_rx.recv().expect("address");
        let mut conn = std::net::TcpStream::connect(addr).expect("connect");
        sent_rx.recv().expect("go");
        conn.write_all(b"late").expect("write");
        let mut rest = Vec::new();
        let _ = conn.read_to_end(&mut rest);
    });
    let got = run_shard(move || async move {
        let listener = Listener::bind_tcp(loopback()).expect("bind");
        go_tx
            .send(listener.local_addr().expect("addr"))
            .expect("send");
        let mut server = listener.accept().await.expect("accept");
        let mut buf = [0u8; 16];
        let first = runtime::timeout(
            Duration::from_millis(20),
            std::future::poll_fn(|cx| server.poll_read(cx, &mut buf)),
        )
        .await;
        assert!(first.is_none(), "nothing was sent yet");
        // Many dropped reads in a row leave nothing behind either.
        for _ in 0..100 {
            let mut other = [0u8; 16];
            let _ = runtime::timeout(
                Duration::ZERO,
                std::future::poll_fn(|cx| server.poll_read(cx, &mut other)),
            )
            .await;
        }
        sent_tx.send(()).expect("go");
        let mut buf = [0u8; 16];
        let n = std::future::poll_fn(|cx| server.poll_read(cx, &mut buf))
            .await
            .expect("read");
        buf[..n].to_vec()
    });
    peer.join().expect("peer");
    assert_eq!(got, b"late");
}

#[test]
fn dropping_a_socket_with_a_pending_poll_closes_it() {
    // The peer must see end of stream although our read poll was still armed at drop.
    let (addr_tx, addr_rx) = mpsc::channel::<SocketAddr>();
    let peer = std::thread::spawn(move || {
        let mut conn =
            std::net::TcpStream::connect(addr_rx.recv().expect("addr")).expect("connect");
        let mut rest = Vec::new();
        conn.read_to_end(&mut rest).expect("end of stream")
    });
    run_shard(move || async move {
        let listener = Listener::bind_tcp(loopback()).expect("bind");
        addr_tx
            .send(listener.local_addr().expect("addr"))
            .expect("send");
        let mut server: Socket = listener.accept().await.expect("accept");
        let mut buf = [0u8; 8];
        let _ = runtime::timeout(
            Duration::from_millis(5),
            std::future::poll_fn(|cx| server.poll_read(cx, &mut buf)),
        )
        .await;
        drop(server);
        // Keep the shard running so the cancel is submitted.
        sleep(Duration::from_millis(20)).await;
    });
    assert_eq!(peer.join().expect("peer"), 0);
}

#[test]
fn connect_to_a_closed_port_fails() {
    let refused = run_shard(|| async {
        let addr = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
            l.local_addr().expect("addr")
        };
        Stream::connect_tcp(addr, Duration::from_secs(10))
            .await
            .err()
            .map(|e| e.kind())
    });
    assert_eq!(refused, Some(std::io::ErrorKind::ConnectionRefused));
}

/// Completes once `waker_out` was filled and then woken by another thread.
struct WokenFromAfar {
    waker_out: Option<mpsc::Sender<Waker>>,
    woken: Rc<RefCell<bool>>,
}

impl Future for WokenFromAfar {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if let Some(tx) = self.waker_out.take() {
            tx.send(cx.waker().clone()).expect("send the waker");
            return Poll::Pending;
        }
        *self.woken.borrow_mut() = true;
        Poll::Ready(())
    }
}

#[test]
fn a_wake_from_another_thread_reaches_a_parked_shard() {
    let (tx, rx) = mpsc::channel::<Waker>();
    let waker_thread = std::thread::spawn(move || {
        let waker = rx.recv().expect("the waker");
        // The shard has nothing else to do: it is (or soon will be) parked in io_uring_enter.
        std::thread::sleep(Duration::from_millis(20));
        waker.wake();
    });
    let woken = run_shard(move || async move {
        let woken = Rc::new(RefCell::new(false));
        WokenFromAfar {
            waker_out: Some(tx),
            woken: woken.clone(),
        }
        .await;
        let w = *woken.borrow();
        w
    });
    waker_thread.join().expect("waker thread");
    assert!(woken);
}

#[test]
fn many_tasks_and_connections() {
    let total = run_shard(|| async {
        let listener = Listener::bind_tcp(loopback()).expect("bind");
        let addr = listener.local_addr().expect("addr");
        spawn(async move {
            while let Ok(mut s) = listener.accept().await {
                spawn(async move {
                    let mut buf = [0u8; 4];
                    loop {
                        match std::future::poll_fn(|cx| s.poll_read(cx, &mut buf)).await {
                            Ok(0) | Err(_) => break,
                            Ok(n) => {
                                let _ =
                                    std::future::poll_fn(|cx| s.poll_write(cx, &buf[..n])).await;
                            }
                        }
                    }
                });
            }
        });
        let sum = Rc::new(RefCell::new(0usize));
        let done = Rc::new(RefCell::new(0usize));
        for _ in 0..20 {
            let (sum, done) = (sum.clone(), done.clone());
            spawn(async move {
                let mut c = Stream::connect_tcp(addr, Duration::from_secs(10))
                    .await
                    .expect("connect");
                for _ in 0..50 {
                    c.write_all(b"abcd").await.expect("write");
                    let mut buf = [0u8; 4];
                    c.read_exact(&mut buf).await.expect("read");
                    *sum.borrow_mut() += buf.len();
                }
                *done.borrow_mut() += 1;
            });
        }
        while *done.borrow() < 20 {
            sleep(Duration::from_millis(1)).await;
        }
        let s = *sum.borrow();
        s
    });
    assert_eq!(total, 20 * 50 * 4);
}
