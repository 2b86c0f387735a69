//! A blocking PCP client: connect over TCP or a UNIX socket, log in with md5, send one
//! request, collect the reply packets. The protocol crate does all encoding and parsing.

use std::io::{self, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::time::Duration;

use bytes::BytesMut;
use corepool_protocol::pcp::{self, auth, request, Packet, Response};

/// What went wrong talking to a PCP server.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The server could not be reached.
    #[error("could not connect to the PCP server at {target}")]
    Connect {
        /// Where we tried.
        target: String,
        /// Why it failed.
        #[source]
        source: io::Error,
    },
    /// The connection broke.
    #[error("PCP connection failed")]
    Io(#[from] io::Error),
    /// The server sent bytes that are not PCP.
    #[error("invalid PCP reply")]
    Protocol(#[from] pcp::Error),
    /// The login was refused.
    #[error("{0}")]
    Auth(ServerMessage),
    /// The server answered the request with an error.
    #[error("{0}")]
    Server(ServerMessage),
    /// The server closed the connection.
    #[error("the PCP server closed the connection")]
    Closed,
}

/// An `E` packet's text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerMessage {
    /// `ERROR` or `FATAL`.
    pub severity: String,
    /// The message.
    pub message: String,
    /// The detail, if any.
    pub detail: Option<String>,
}

impl std::fmt::Display for ServerMessage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.severity, self.message)?;
        if let Some(d) = &self.detail {
            write!(f, " ({d})")?;
        }
        Ok(())
    }
}

/// Where to connect: libpcp's rule (no host or a path: UNIX socket; else TCP).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// `host:port` over TCP.
    Tcp(String, u16),
    /// `<dir>/.s.PGSQL.<port>`.
    Unix(PathBuf),
}

impl Target {
    /// libpcp's choice for `-h host -p port`; no host means the socket in `/tmp`.
    pub fn new(host: Option<&str>, port: u16) -> Target {
        match host {
            None | Some("") => Target::Unix(PathBuf::from(format!("/tmp/.s.PGSQL.{port}"))),
            Some(h) if h.starts_with('/') => {
                Target::Unix(PathBuf::from(h).join(format!(".s.PGSQL.{port}")))
            }
            Some(h) => Target::Tcp(h.to_owned(), port),
        }
    }
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Target::Tcp(h, p) => write!(f, "{h}:{p}"),
            Target::Unix(p) => write!(f, "{}", p.display()),
        }
    }
}

trait Stream: Read + Write {
    /// Bounds each read (`None`: wait as long as the server takes).
    fn set_read_limit(&self, limit: Option<Duration>) -> io::Result<()>;
}

impl Stream for TcpStream {
    fn set_read_limit(&self, limit: Option<Duration>) -> io::Result<()> {
        self.set_read_timeout(limit)
    }
}

impl Stream for UnixStream {
    fn set_read_limit(&self, limit: Option<Duration>) -> io::Result<()> {
        self.set_read_timeout(limit)
    }
}

/// A logged-in PCP connection.
pub struct Client {
    stream: Box<dyn Stream>,
    buf: BytesMut,
}

/// How long any one read or write may take.
const IO_TIMEOUT: Duration = Duration::from_secs(300);

impl Client {
    /// Connects to `target` and logs in as `user` with `password`.
    pub fn connect(target: &Target, user: &str, password: &str) -> Result<Client, ClientError> {
        let connect_err = |source| ClientError::Connect {
            target: target.to_string(),
            source,
        };
        let stream: Box<dyn Stream> = match target {
            Target::Tcp(host, port) => {
                let addrs: Vec<_> = (host.as_str(), *port)
                    .to_socket_addrs()
                    .map_err(connect_err)?
                    .collect();
                let mut last = io::Error::new(io::ErrorKind::NotFound, "no address");
                let mut found = None;
                for a in addrs {
                    match TcpStream::connect_timeout(&a, Duration::from_secs(10)) {
                        Ok(s) => {
                            found = Some(s);
                            break;
                        }
                        Err(e) => last = e,
                    }
                }
                let s = found.ok_or_else(|| connect_err(last))?;
                s.set_nodelay(true)?;
                s.set_read_timeout(Some(IO_TIMEOUT))?;
                Box::new(s)
            }
            Target::Unix(path) => {
                let s = UnixStream::connect(path).map_err(connect_err)?;
                s.set_read_timeout(Some(IO_TIMEOUT))?;
                Box::new(s)
            }
        };
        let mut c = Client {
            stream,
            buf: BytesMut::with_capacity(4096),
        };
        c.login(user, password)?;
        Ok(c)
    }

    fn login(&mut self, user: &str, password: &str) -> Result<(), ClientError> {
        let mut out = BytesMut::new();
        request::write_salt_request(&mut out);
        self.send(&out)?;
        let packet = self.read_packet()?;
        let salt = match packet.response()? {
            Response::Salt(s) => s,
            Response::Error(e) => return Err(ClientError::Auth(message(&e))),
            _ => return Err(ClientError::Closed),
        };
        let answer = auth::client_response(user.as_bytes(), password.as_bytes(), salt);
        out.clear();
        request::write_authenticate(&mut out, user, answer.as_str())?;
        self.send(&out)?;
        let packet = self.read_packet()?;
        match packet.response()? {
            Response::AuthenticationOk => Ok(()),
            Response::Error(e) => Err(ClientError::Auth(message(&e))),
            _ => Err(ClientError::Closed),
        }
    }

    /// Sends `req` and returns its reply packets: one packet, or for node info, process info
    /// and pool status the `ArraySize` packet, the records and `CommandComplete`. An `E` reply
    /// is [`ClientError::Server`]; notices are skipped.
    pub fn call(&mut self, req: &pcp::Request<'_>) -> Result<Vec<Packet>, ClientError> {
        let mut out = BytesMut::new();
        req.write(&mut out)?;
        // An online recovery answers when the node is rebuilt (a base backup, then up to
        // recovery_timeout): wait for it as pcp_recovery_node does.
        let limit = match req {
            pcp::Request::RecoveryNode { .. } => None,
            _ => Some(IO_TIMEOUT),
        };
        self.stream.set_read_limit(limit)?;
        self.send(&out)?;
        let mut packets = Vec::new();
        let mut remaining: Option<u32> = None;
        loop {
            let packet = self.read_packet()?;
            match packet.response()? {
                Response::Notice(_) => continue,
                Response::Error(e) => return Err(ClientError::Server(message(&e))),
                Response::ArraySize { count, .. } => remaining = Some(count),
                Response::CommandComplete { .. } => {
                    packets.push(packet);
                    return Ok(packets);
                }
                _ => match remaining.as_mut() {
                    Some(n) => *n = n.saturating_sub(1),
                    None => {
                        packets.push(packet);
                        return Ok(packets);
                    }
                },
            }
            packets.push(packet);
        }
    }

    /// Sends `X` and closes.
    pub fn close(mut self) {
        let mut out = BytesMut::new();
        request::write_disconnect(&mut out);
        let _ = self.send(&out);
    }

    fn send(&mut self, bytes: &[u8]) -> Result<(), ClientError> {
        self.stream.write_all(bytes)?;
        self.stream.flush()?;
        Ok(())
    }

    fn read_packet(&mut self) -> Result<Packet, ClientError> {
        let mut chunk = [0u8; 8192];
        loop {
            if let Some(p) = pcp::split_response(&mut self.buf, pcp::DEFAULT_MAX_RESPONSE_LEN)? {
                return Ok(p);
            }
            let n = self.stream.read(&mut chunk)?;
            if n == 0 {
                return Err(ClientError::Closed);
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }
}

fn message(e: &pcp::ErrorResponse<'_>) -> ServerMessage {
    let text = |b: &[u8]| {
        std::str::from_utf8(b)
            .map(str::to_owned)
            .unwrap_or_else(|_| b.escape_ascii().to_string())
    };
    ServerMessage {
        severity: e.severity.name().to_owned(),
        message: text(e.message),
        detail: e.detail.map(text),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_follow_libpcp() {
        assert_eq!(
            Target::new(None, 9898),
            Target::Unix("/tmp/.s.PGSQL.9898".into())
        );
        assert_eq!(
            Target::new(Some("/run/pg"), 1),
            Target::Unix("/run/pg/.s.PGSQL.1".into())
        );
        assert_eq!(Target::new(Some("db"), 2), Target::Tcp("db".into(), 2));
    }
}
