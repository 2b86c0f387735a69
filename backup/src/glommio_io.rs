//! corepool-client's connections on the backup's glommio executors: the client's own default is
//! the proxy's shard runtime, so every connection the backup opens names this connector (set by
//! [`crate::BackupOptions::new`]). glommio stays here because its DMA files write the backup.

use std::io;
use std::time::Duration;

use corepool_client::transport::{Connector, Endpoint, Io};

/// Connects with glommio's sockets (the calling thread must run a glommio executor).
pub fn glommio_connector() -> Connector {
    Connector::new(|endpoint, limit| Box::pin(connect(endpoint, limit)))
}

async fn connect(endpoint: Endpoint, limit: Duration) -> io::Result<Box<dyn Io>> {
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
