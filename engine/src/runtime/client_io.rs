//! corepool-client's connections on an io_uring shard: the client dials through glommio unless
//! its thread names another [`Connector`](corepool_client::transport::Connector), so each
//! io_uring shard names one made of this seam's streams (DDL's foreign servers, checks).

use std::io;
use std::net::ToSocketAddrs;
use std::rc::Rc;

use corepool_client::transport::{self, Endpoint, Io};

use super::Stream;

/// Makes corepool-client connect with [`Stream`] on the calling thread.
pub fn install() {
    transport::set_thread_connector(Rc::new(|endpoint, limit| {
        Box::pin(async move {
            let stream = match endpoint {
                Endpoint::Tcp(addr) => {
                    let resolved = addr.to_socket_addrs()?.next().ok_or_else(|| {
                        io::Error::new(
                            io::ErrorKind::NotFound,
                            format!("could not translate host name \"{addr}\" to an address"),
                        )
                    })?;
                    Stream::connect_tcp(resolved, limit).await?
                }
                Endpoint::Unix(path) => Stream::connect_unix(&path, limit).await?,
            };
            Ok(Box::new(stream) as Box<dyn Io>)
        })
    }));
}
