//! The shard runtime against real loopback sockets: tasks, timers, cross-thread wakes, the chunk
//! API and the byte-stream API, backpressure, buffer starvation and clean-up. No test asserts
//! on elapsed time.

use std::cell::RefCell;
use std::future::{poll_fn, Future};
use std::io::{Read, Write};
use std::net::SocketAddr;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::mpsc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use corepool_runtime::buf::Piece;
use corepool_runtime::net::{Listener, Socket};
use corepool_runtime::{is_current, open_sockets, run_with, sleep, spawn, timeout, Options};
use futures_lite::{AsyncReadExt, AsyncWriteExt};

/// Runs `make()` on a fresh shard on its own thread and returns its output.
fn shard_with<T: Send + 'static, F: Future<Output = T> + 'static>(
    options: Options,
    make: impl FnOnce() -> F + Send + 'static,
) -> T {
    std::thread::spawn(move || {
        let out = Rc::new(RefCell::new(None));
        let slot = out.clone();
        run_with(options, async move {
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

fn shard<T: Send + 'static, F: Future<Output = T> + 'static>(
    make: impl FnOnce() -> F + Send + 'static,
) -> T {
    shard_with(Options::small(), make)
}

fn loopback() -> SocketAddr {
    "127.0.0.1:0".parse().expect("an address")
}

/// Echoes every chunk back as it came (the relay's way: no copy).
fn spawn_chunk_echo(listener: Listener) {
    spawn(async move {
        while let Ok(mut s) = listener.accept().await {
            spawn(async move {
                while let Ok(Some(chunk)) = s.recv().await {
                    if s.send(chunk).is_err() {
                        break;
                    }
                }
                let _ = s.flush().await;
            });
        }
    });
}

#[test]
fn timers_fire_in_deadline_order_and_timeouts_drop_the_slow_future() {
    let (order, fast, slow) = shard(|| async {
        let order = Rc::new(RefCell::new(Vec::new()));
        for (i, ms) in [(3, 30u64), (1, 10), (2, 20), (0, 0)] {
            let order = order.clone();
            spawn(async move {
                sleep(Duration::from_millis(ms)).await;
                order.borrow_mut().push(i);
            });
        }
        sleep(Duration::from_millis(60)).await;
        let fast = timeout(Duration::from_secs(30), sleep(Duration::from_millis(1))).await;
        let slow = timeout(Duration::from_millis(5), sleep(Duration::from_secs(3600))).await;
        let v = order.borrow().clone();
        (v, fast, slow)
    });
    assert_eq!(order, vec![0, 1, 2, 3]);
    assert_eq!((fast, slow), (Some(()), None));
    assert!(!is_current());
    assert!(shard(|| async { is_current() }));
}

#[test]
fn tcp_round_trip_through_chunks_and_byte_streams() {
    let echoed = shard(|| async {
        let listener = Listener::bind_tcp(loopback()).expect("bind");
        let addr = listener.local_addr().expect("local addr");
        spawn_chunk_echo(listener);
        let mut client = Socket::connect_tcp(addr).await.expect("connect");
        assert!(!client.is_unix());
        assert_eq!(client.peer_addr(), Some(addr));
        client.write_all(b"ping").await.expect("write");
        let mut buf = [0u8; 4];
        client.read_exact(&mut buf).await.expect("read");
        client.close().await.expect("close");
        let mut rest = Vec::new();
        client.read_to_end(&mut rest).await.expect("end of stream");
        (buf, rest)
    });
    assert_eq!(&echoed.0, b"ping");
    assert!(echoed.1.is_empty());
}

#[test]
fn unix_socket_round_trip() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let path = dir.path().join("s");
    let got = shard(move || async move {
        let listener = Listener::bind_unix(&path).expect("bind");
        spawn(async move {
            let server = listener.accept().await.expect("accept");
            assert!(server.is_unix());
            server.write_all(b"hello").await.expect("write");
        });
        let mut client = Socket::connect_unix(&path).await.expect("connect");
        let mut buf = Vec::new();
        client.read_to_end(&mut buf).await.expect("read");
        buf
    });
    assert_eq!(got, b"hello");
}

#[test]
fn megabytes_cross_a_slow_reader_intact_with_few_buffers() {
    // 8 buffers of 4 KiB and a reader that sleeps between reads: the sender's queue and the
    // receiver's paused receive keep memory bounded, and every byte arrives in order.
    let options = Options {
        ring_entries: 32,
        buffer_size: 4096,
        buffers: 8,
    };
    const TOTAL: usize = 3 << 20;
    let (sum, len, left) = shard_with(options, || async {
        let listener = Listener::bind_tcp(loopback()).expect("bind");
        let addr = listener.local_addr().expect("addr");
        spawn(async move {
            let server = listener.accept().await.expect("accept");
            let mut sent = 0usize;
            while sent < TOTAL {
                let piece: Vec<u8> = (sent..sent + 65536).map(|i| (i % 251) as u8).collect();
                sent += piece.len();
                server.send(piece).expect("queue");
                poll_fn(|cx| server.poll_flush_to(cx, 128 * 1024))
                    .await
                    .expect("flush");
            }
            server.flush().await.expect("flush");
        });
        let mut client = Socket::connect_tcp(addr).await.expect("connect");
        let (mut sum, mut len, mut chunks) = (0u64, 0usize, 0usize);
        while let Some(chunk) = client.recv().await.expect("recv") {
            for (i, b) in chunk.iter().enumerate() {
                assert_eq!(*b, ((len + i) % 251) as u8, "byte {}", len + i);
            }
            len += chunk.len();
            sum += chunk.iter().map(|b| *b as u64).sum::<u64>();
            chunks += 1;
            if chunks % 64 == 0 {
                sleep(Duration::from_millis(2)).await;
            }
        }
        drop(client);
        sleep(Duration::from_millis(10)).await;
        (sum, len, open_sockets())
    });
    let expected: u64 = (0..TOTAL).map(|i| (i % 251) as u64).sum();
    assert_eq!((len, sum), (TOTAL, expected));
    assert_eq!(left, 0, "every socket closed");
}

#[test]
fn more_connections_than_buffers_all_get_served() {
    // 4 buffers for 24 connections that all send at once: receives run out of buffers, end
    // with ENOBUFS and are armed again as buffers come back.
    let options = Options {
        ring_entries: 64,
        buffer_size: 4096,
        buffers: 4,
    };
    let served = shard_with(options, || async {
        let listener = Listener::bind_tcp(loopback()).expect("bind");
        let addr = listener.local_addr().expect("addr");
        spawn_chunk_echo(listener);
        let done = Rc::new(RefCell::new(0usize));
        for n in 0..24u8 {
            let done = done.clone();
            spawn(async move {
                let mut c = Socket::connect_tcp(addr).await.expect("connect");
                let msg = vec![n; 3000];
                for _ in 0..20 {
                    c.write_all(&msg).await.expect("write");
                    let mut back = vec![0u8; msg.len()];
                    c.read_exact(&mut back).await.expect("read");
                    assert_eq!(back, msg);
                }
                *done.borrow_mut() += 1;
            });
        }
        while *done.borrow() < 24 {
            sleep(Duration::from_millis(1)).await;
        }
        let d = *done.borrow();
        (d, corepool_runtime::stats().starved)
    });
    assert_eq!(served.0, 24);
    assert!(
        served.1 > 0,
        "receives ran out of buffers and were armed again"
    );
}

#[test]
fn buffers_come_into_circulation_as_tasks_hold_them() {
    // The ring lends a few of its buffers at first. A reader that keeps every chunk holds far
    // more than that: more are put in circulation as it holds them, and every byte arrives.
    let options = Options {
        ring_entries: 64,
        buffer_size: 4096,
        buffers: 1024,
    };
    const TOTAL: usize = 2 << 20;
    let got = shard_with(options, || async {
        let listener = Listener::bind_tcp(loopback()).expect("bind");
        let addr = listener.local_addr().expect("addr");
        spawn(async move {
            let server = listener.accept().await.expect("accept");
            let data: Vec<u8> = (0..TOTAL).map(|i| (i % 251) as u8).collect();
            server.send(data).expect("queue");
            server.flush().await.expect("flush");
        });
        let mut client = Socket::connect_tcp(addr).await.expect("connect");
        let receive = async {
            let mut held = Vec::new();
            let mut len = 0;
            while len < TOTAL {
                let Some(chunk) = client.recv().await.expect("recv") else {
                    break;
                };
                len += chunk.len();
                held.push(chunk);
            }
            held
        };
        let held = timeout(Duration::from_secs(30), receive)
            .await
            .expect("the transfer did not stall for lack of buffers");
        let bytes: Vec<u8> = held.iter().flat_map(|c| c.iter().copied()).collect();
        (held.len(), bytes)
    });
    assert!(got.0 > 64, "more chunks held at once than first lent");
    assert_eq!(got.1.len(), TOTAL);
    assert!(got.1.iter().enumerate().all(|(i, b)| *b == (i % 251) as u8));
}

#[test]
fn a_dropped_socket_with_receives_in_flight_closes_and_the_peer_sees_the_end() {
    let (addr_tx, addr_rx) = mpsc::channel::<SocketAddr>();
    let peer = std::thread::spawn(move || {
        let mut conn =
            std::net::TcpStream::connect(addr_rx.recv().expect("addr")).expect("connect");
        let mut rest = Vec::new();
        conn.read_to_end(&mut rest).expect("end of stream")
    });
    let left = shard(move || async move {
        let listener = Listener::bind_tcp(loopback()).expect("bind");
        addr_tx
            .send(listener.local_addr().expect("addr"))
            .expect("send");
        let mut server = listener.accept().await.expect("accept");
        // A receive is armed and nothing comes: the timeout drops the wait, not the receive.
        assert!(timeout(Duration::from_millis(5), server.recv())
            .await
            .is_none());
        assert!(!server.peer_gone());
        drop(server);
        drop(listener);
        // The shard keeps running so the cancellations are submitted and come back.
        sleep(Duration::from_millis(20)).await;
        open_sockets()
    });
    assert_eq!(peer.join().expect("peer"), 0);
    assert_eq!(left, 0);
}

#[test]
fn an_idle_connection_whose_peer_spoke_or_left_is_seen_as_gone() {
    let (addr_tx, addr_rx) = mpsc::channel::<SocketAddr>();
    let (go_tx, go_rx) = mpsc::channel::<()>();
    let peer = std::thread::spawn(move || {
        let mut conn =
            std::net::TcpStream::connect(addr_rx.recv().expect("addr")).expect("connect");
        go_rx.recv().expect("go");
        conn.write_all(b"X").expect("write");
        drop(conn);
    });
    let seen = shard(move || async move {
        let listener = Listener::bind_tcp(loopback()).expect("bind");
        addr_tx
            .send(listener.local_addr().expect("addr"))
            .expect("send");
        let mut server = listener.accept().await.expect("accept");
        let _ = timeout(Duration::from_millis(1), server.recv()).await;
        let before = server.peer_gone();
        go_tx.send(()).expect("go");
        let mut after = false;
        for _ in 0..2000 {
            if server.peer_gone() {
                after = true;
                break;
            }
            sleep(Duration::from_millis(1)).await;
        }
        (before, after)
    });
    peer.join().expect("peer");
    assert_eq!(seen, (false, true));
}

#[test]
fn sends_queue_pieces_of_every_kind_in_order() {
    let got = shard(|| async {
        let listener = Listener::bind_tcp(loopback()).expect("bind");
        let addr = listener.local_addr().expect("addr");
        spawn(async move {
            let mut server = listener.accept().await.expect("accept");
            // A received chunk, owned bytes and shared bytes, queued back to back.
            let chunk = server.recv().await.expect("recv").expect("a chunk");
            server.send(Piece::from_vec(b"<".to_vec())).expect("queue");
            server.send(chunk).expect("queue");
            server.send(bytes::Bytes::from_static(b">")).expect("queue");
            server.flush().await.expect("flush");
        });
        let mut client = Socket::connect_tcp(addr).await.expect("connect");
        client.write_all(b"abc").await.expect("write");
        let mut out = Vec::new();
        client.read_to_end(&mut out).await.expect("read");
        out
    });
    assert_eq!(got, b"<abc>");
}

#[test]
fn connect_to_a_closed_port_fails() {
    let refused = shard(|| async {
        let addr = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
            l.local_addr().expect("addr")
        };
        Socket::connect_tcp(addr).await.err().map(|e| e.kind())
    });
    assert_eq!(refused, Some(std::io::ErrorKind::ConnectionRefused));
}

/// Completes once `waker_out` was filled and then woken by another thread.
struct WokenFromAfar {
    waker_out: Option<mpsc::Sender<Waker>>,
}

impl Future for WokenFromAfar {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if let Some(tx) = self.waker_out.take() {
            tx.send(cx.waker().clone()).expect("send the waker");
            return Poll::Pending;
        }
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
    shard(move || async move {
        WokenFromAfar {
            waker_out: Some(tx),
        }
        .await;
    });
    waker_thread.join().expect("waker thread");
}
