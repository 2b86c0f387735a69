//! A minimal HTTP/1.1 listener for `GET /metrics`, `/` (the status page) and `/status.json`, on
//! its own thread (scrapes and page polls are rare).

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use crate::cluster::{ClusterState, ShutdownMode};

/// Requests larger than this are refused.
const MAX_REQUEST: usize = 8 * 1024;

/// Binds `addr` and answers scrapes until the server shuts down. Returns the bound address.
pub fn serve_metrics(
    addr: SocketAddr,
    state: Arc<ClusterState>,
) -> io::Result<(SocketAddr, JoinHandle<()>)> {
    let listener = TcpListener::bind(addr)?;
    let bound = listener.local_addr()?;
    listener.set_nonblocking(true)?;
    let handle = std::thread::Builder::new()
        .name("corepool-metrics".into())
        .spawn(move || loop {
            if state.shutdown() != ShutdownMode::None {
                return;
            }
            match listener.accept() {
                Ok((stream, _)) => {
                    if let Err(e) = answer(stream, &state) {
                        tracing::debug!(error = %e, "metrics request failed");
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    std::thread::sleep(Duration::from_millis(100))
                }
                Err(e) => {
                    tracing::warn!(error = %e, "metrics accept failed");
                    std::thread::sleep(Duration::from_millis(100));
                }
            }
        })?;
    Ok((bound, handle))
}

fn answer(mut stream: TcpStream, state: &Arc<ClusterState>) -> io::Result<()> {
    stream.set_nonblocking(false)?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    let mut request = Vec::with_capacity(512);
    let mut chunk = [0u8; 1024];
    while !request.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = stream.read(&mut chunk)?;
        if n == 0 {
            return Ok(());
        }
        request.extend_from_slice(&chunk[..n]);
        if request.len() > MAX_REQUEST {
            return respond(
                &mut stream,
                "431 Request Header Fields Too Large",
                "text/plain",
                "request too large\n",
            );
        }
    }
    let line = request.split(|b| *b == b'\r').next().unwrap_or_default();
    let mut parts = line.split(|b| *b == b' ');
    let method = parts.next();
    // The path without its query string (`/status.json?t=…` is the same document).
    let path = parts.next().and_then(|p| p.split(|b| *b == b'?').next());
    match (method, path) {
        (Some(b"GET"), Some(b"/metrics")) => respond(
            &mut stream,
            "200 OK",
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
            &super::render(state),
        ),
        (Some(b"GET"), Some(path)) if super::page::is_page(path) => {
            let page = super::page::answer(path, state);
            respond_with(
                &mut stream,
                "200 OK",
                page.content_type,
                page.headers,
                &page.body,
            )
        }
        (Some(b"GET"), _) => respond(
            &mut stream,
            "404 Not Found",
            "text/plain",
            "try /metrics, / or /status.json\n",
        ),
        _ => respond(
            &mut stream,
            "405 Method Not Allowed",
            "text/plain",
            "only GET\n",
        ),
    }
}

fn respond(stream: &mut TcpStream, status: &str, content_type: &str, body: &str) -> io::Result<()> {
    respond_with(stream, status, content_type, "", body)
}

/// Writes a whole response; `extra` holds more header lines, each ending in CRLF.
fn respond_with(
    stream: &mut TcpStream,
    status: &str,
    content_type: &str,
    extra: &str,
    body: &str,
) -> io::Result<()> {
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n{extra}Connection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes())?;
    stream.write_all(body.as_bytes())
}
