//! One HTTP/1.0 POST of a JSON body to an etcd member's v3 gateway, over TCP or TLS, with
//! bounded connect, read and write times. Blocking: the watchdog's own threads only.
//!
//! HTTP/1.0 keeps the exchange trivial: the request carries `Content-Length`, the answer ends
//! when the member closes the connection (no chunked bodies, no pooled connections).

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream, ToSocketAddrs};
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::ServerName;

/// An etcd member's address, parsed from `http://host:port` or `https://host:port`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// Host name or IP address as written (brackets removed from IPv6).
    pub host: String,
    /// Port.
    pub port: u16,
    /// Whether the member is reached over TLS.
    pub tls: bool,
}

impl Endpoint {
    /// Parses `http://host:port`, `https://host:port` or `host:port` (plain HTTP).
    pub fn parse(url: &str) -> Result<Self, HttpError> {
        let bad = || HttpError::BadEndpoint(url.to_owned());
        let url = url.trim();
        let (tls, rest) = match url.split_once("://") {
            Some(("http", r)) => (false, r),
            Some(("https", r)) => (true, r),
            Some(_) => return Err(bad()),
            None => (false, url),
        };
        let rest = rest.trim_end_matches('/');
        let (host, port) = match rest.strip_prefix('[') {
            Some(v6) => {
                let (h, p) = v6.split_once("]:").ok_or_else(bad)?;
                (h, p)
            }
            None => rest.rsplit_once(':').ok_or_else(bad)?,
        };
        let port = port.parse::<u16>().map_err(|_| bad())?;
        if host.is_empty() || port == 0 {
            return Err(bad());
        }
        Ok(Self {
            host: host.to_owned(),
            port,
            tls,
        })
    }
}

impl std::fmt::Display for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let scheme = if self.tls { "https" } else { "http" };
        if self.host.contains(':') {
            write!(f, "{scheme}://[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{scheme}://{}:{}", self.host, self.port)
        }
    }
}

/// Why a request got no usable answer.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    /// The endpoint is not `http(s)://host:port`.
    #[error("etcd endpoint \"{0}\" is not http://host:port or https://host:port")]
    BadEndpoint(String),
    /// Connecting, sending or receiving failed (or timed out).
    #[error("{endpoint}: {source}")]
    Io {
        /// The member.
        endpoint: String,
        /// What failed.
        source: io::Error,
    },
    /// The member answered something that is not an HTTP response.
    #[error("{endpoint}: malformed HTTP response")]
    Malformed {
        /// The member.
        endpoint: String,
    },
    /// An https endpoint without TLS settings, or a host name TLS cannot check.
    #[error("{0}: TLS is not configured for this endpoint")]
    NoTls(String),
}

/// The status and body of an answer.
#[derive(Debug)]
pub struct Answer {
    /// HTTP status code.
    pub status: u16,
    /// The body (JSON from the gateway).
    pub body: Vec<u8>,
}

/// Largest answer accepted (a range over a corepool prefix is a few KiB).
const MAX_ANSWER: usize = 16 << 20;

/// Limits of one exchange.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Connecting.
    pub connect: Duration,
    /// Each read and write once connected.
    pub io: Duration,
}

/// Something [`post`] can close from another thread to abort a blocked exchange.
pub type Abort = Arc<std::sync::Mutex<Option<TcpStream>>>;

/// POSTs `body` to `path` on `endpoint`. `token` goes in the `Authorization` header. When
/// `abort` is given, the socket is left there so that another thread can shut it down.
pub fn post(
    endpoint: &Endpoint,
    tls: Option<&Arc<rustls::ClientConfig>>,
    path: &str,
    token: Option<&str>,
    body: &[u8],
    limits: Limits,
    abort: Option<&Abort>,
) -> Result<Answer, HttpError> {
    let name = endpoint.to_string();
    let io_err = |source| HttpError::Io {
        endpoint: name.clone(),
        source,
    };
    let addr = (endpoint.host.as_str(), endpoint.port)
        .to_socket_addrs()
        .map_err(io_err)?
        .next()
        .ok_or_else(|| io_err(io::Error::new(io::ErrorKind::NotFound, "no address")))?;
    let tcp = TcpStream::connect_timeout(&addr, limits.connect).map_err(io_err)?;
    tcp.set_read_timeout(Some(limits.io)).map_err(io_err)?;
    tcp.set_write_timeout(Some(limits.io)).map_err(io_err)?;
    let _ = tcp.set_nodelay(true);
    if let Some(slot) = abort {
        let clone = tcp.try_clone().map_err(io_err)?;
        if let Ok(mut s) = slot.lock() {
            *s = Some(clone);
        }
    }
    let mut request = format!(
        "POST {path} HTTP/1.0\r\nHost: {}:{}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n",
        endpoint.host,
        endpoint.port,
        body.len()
    );
    if let Some(t) = token {
        request.push_str("Authorization: ");
        request.push_str(t);
        request.push_str("\r\n");
    }
    request.push_str("\r\n");
    let raw = if endpoint.tls {
        let config = tls.ok_or_else(|| HttpError::NoTls(name.clone()))?;
        let server = ServerName::try_from(endpoint.host.clone())
            .map_err(|_| HttpError::NoTls(name.clone()))?;
        let conn = rustls::ClientConnection::new(config.clone(), server)
            .map_err(|e| io_err(io::Error::other(e)))?;
        let mut stream = rustls::StreamOwned::new(conn, tcp);
        exchange(&mut stream, request.as_bytes(), body).map_err(io_err)?
    } else {
        let mut stream = tcp;
        let raw = exchange(&mut stream, request.as_bytes(), body).map_err(io_err)?;
        let _ = stream.shutdown(Shutdown::Both);
        raw
    };
    if let Some(slot) = abort {
        if let Ok(mut s) = slot.lock() {
            *s = None;
        }
    }
    parse_answer(&raw).ok_or(HttpError::Malformed { endpoint: name })
}

fn exchange<S: Read + Write>(s: &mut S, head: &[u8], body: &[u8]) -> io::Result<Vec<u8>> {
    s.write_all(head)?;
    s.write_all(body)?;
    s.flush()?;
    let mut raw = Vec::new();
    let mut chunk = [0u8; 8192];
    loop {
        match s.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => {
                raw.extend_from_slice(&chunk[..n]);
                if raw.len() > MAX_ANSWER {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        "answer too large",
                    ));
                }
            }
            // A TLS peer that closes without close_notify still delivered the whole body.
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof && !raw.is_empty() => break,
            Err(e) => return Err(e),
        }
    }
    Ok(raw)
}

/// Splits `HTTP/1.x NNN …\r\n headers \r\n\r\n body`.
fn parse_answer(raw: &[u8]) -> Option<Answer> {
    let end = raw.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = std::str::from_utf8(&raw[..end]).ok()?;
    let status_line = head.lines().next()?;
    let mut parts = status_line.split_whitespace();
    if !parts.next()?.starts_with("HTTP/1.") {
        return None;
    }
    let status = parts.next()?.parse().ok()?;
    Some(Answer {
        status,
        body: raw[end + 4..].to_vec(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_parse_with_and_without_scheme() {
        let e = Endpoint::parse("http://127.0.0.1:2379/").unwrap();
        assert_eq!((e.host.as_str(), e.port, e.tls), ("127.0.0.1", 2379, false));
        let e = Endpoint::parse("https://etcd1.example:2379").unwrap();
        assert!(e.tls);
        assert_eq!(e.to_string(), "https://etcd1.example:2379");
        let e = Endpoint::parse("[::1]:2379").unwrap();
        assert_eq!(e.to_string(), "http://[::1]:2379");
        for bad in ["ftp://h:1", "h", "http://h:0", "http://:2379", "http://h:x"] {
            assert!(Endpoint::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn answers_split_into_status_and_body() {
        let a = parse_answer(b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\n{}").unwrap();
        assert_eq!((a.status, &a.body[..]), (200, &b"{}"[..]));
        assert!(parse_answer(b"SSH-2.0\r\n\r\n").is_none());
        assert!(parse_answer(b"HTTP/1.0 200 OK").is_none());
    }
}
