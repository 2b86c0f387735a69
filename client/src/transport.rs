//! What a connection's bytes run over: by default a socket on the calling thread's
//! `corepool-runtime` shard; or, when the caller names a [`Connector`] in its options, whatever
//! that makes (the backup's glommio executors name theirs).

use std::fmt;
use std::future::Future;
use std::io;
use std::net::ToSocketAddrs;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use futures_lite::{AsyncRead, AsyncWrite};

/// A connected byte stream.
pub trait Io: AsyncRead + AsyncWrite + Unpin {}

impl<T: AsyncRead + AsyncWrite + Unpin> Io for T {}

/// Where to connect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    /// A TCP `host:port`.
    Tcp(String),
    /// A UNIX-domain socket file.
    Unix(PathBuf),
}

/// A connection being made.
pub type Connecting = Pin<Box<dyn Future<Output = io::Result<Box<dyn Io>>>>>;

/// Makes connections: the endpoint and the time the connect may take. The future it returns
/// runs on the thread that asked.
#[derive(Clone)]
pub struct Connector(Arc<dyn Fn(Endpoint, Duration) -> Connecting + Send + Sync>);

impl Connector {
    /// A connector calling `make`.
    pub fn new(make: impl Fn(Endpoint, Duration) -> Connecting + Send + Sync + 'static) -> Self {
        Self(Arc::new(make))
    }
}

impl fmt::Debug for Connector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Connector(..)")
    }
}

/// Connects to `endpoint` within `limit`: through `connector`, or with a socket of the calling
/// thread's shard.
pub(crate) async fn connect(
    endpoint: Endpoint,
    limit: Duration,
    connector: Option<&Connector>,
) -> io::Result<Box<dyn Io>> {
    if let Some(c) = connector {
        return (c.0)(endpoint, limit).await;
    }
    let connect = async {
        match endpoint {
            Endpoint::Tcp(addr) => {
                let resolved = addr.to_socket_addrs()?.next().ok_or_else(|| {
                    io::Error::new(
                        io::ErrorKind::NotFound,
                        format!("could not translate host name \"{addr}\" to an address"),
                    )
                })?;
                corepool_runtime::net::Socket::connect_tcp(resolved).await
            }
            Endpoint::Unix(path) => corepool_runtime::net::Socket::connect_unix(&path).await,
        }
    };
    match corepool_runtime::timeout(limit, connect).await {
        Some(s) => Ok(Box::new(s?)),
        None => Err(io::Error::new(io::ErrorKind::TimedOut, "timed out")),
    }
}
