//! What a connection's bytes run over: glommio's sockets by default, or the streams of this
//! thread's [`Connector`] — so the client also works on a thread driven by another runtime
//! (the proxy's io_uring shards register theirs when they start).

use std::cell::RefCell;
use std::future::Future;
use std::io;
use std::path::PathBuf;
use std::pin::Pin;
use std::rc::Rc;
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

/// Makes connections: the endpoint and the time the connect may take.
pub type Connector = Rc<dyn Fn(Endpoint, Duration) -> Connecting>;

thread_local! {
    static CONNECTOR: RefCell<Option<Connector>> = const { RefCell::new(None) };
}

/// Makes every connection opened on this thread from now on go through `connector`.
pub fn set_thread_connector(connector: Connector) {
    CONNECTOR.with(|c| *c.borrow_mut() = Some(connector));
}

/// Connects to `endpoint` within `limit`, with this thread's connector or glommio's sockets.
pub(crate) async fn connect(endpoint: Endpoint, limit: Duration) -> io::Result<Box<dyn Io>> {
    if let Some(connector) = CONNECTOR.with(|c| c.borrow().clone()) {
        return connector(endpoint, limit).await;
    }
    match endpoint {
        Endpoint::Tcp(addr) => {
            let s = glommio::net::TcpStream::connect_timeout(addr, limit)
                .await
                .map_err(to_io)?;
            let _ = s.set_nodelay(true);
            Ok(Box::new(s))
        }
        Endpoint::Unix(path) => {
            let connect = glommio::net::UnixStream::connect(path);
            let timed = glommio::timer::timeout(limit, async {
                connect
                    .await
                    .map_err(|e| glommio::GlommioError::IoError(to_io(e)))
            });
            let s = timed.await.map_err(to_io)?;
            Ok(Box::new(s))
        }
    }
}

fn to_io<T>(e: glommio::GlommioError<T>) -> io::Error {
    match e {
        glommio::GlommioError::IoError(e) => e,
        glommio::GlommioError::TimedOut(_) => io::Error::new(io::ErrorKind::TimedOut, "timed out"),
        other => io::Error::other(other.to_string()),
    }
}
