//! PCP, Pgpool-II's administration protocol on `pcp_port`, as pure code for both sides.
//!
//! This is what the `pcp_*` tools of Pgpool-II 4.3 (Debian 12's `pgpool2 4.3.5`) speak: no
//! startup packet, an md5 login, then one request at a time, each answered by one or more
//! packets. Everything here is byte-exact with pgpool 4.3.5 (checked against captures of the
//! real server and tools, kept as test vectors). It does no I/O: the engine's PCP server and
//! the cli's `pcp` client read and write the sockets.
//!
//! # Layout
//! - [`frame`]: cuts whole packets off a read buffer ([`split_request`] with pgpool's
//!   260-byte limit on the server side, [`split_response`] on the client side) and peeks
//!   headers ([`Header`]).
//! - [`request`]: [`Request`], the typed client-to-server packets, its parser and a writer
//!   per request.
//! - [`response`]: [`Response`], the typed server-to-client packets (one per packet of a
//!   multi-packet reply), its parser and a writer per reply; the records themselves live in
//!   [`node`] (node info, health check stats) and [`process`] (process count, process info).
//! - [`notice`]: error and notice packets (`E`/`N`) as pgpool's `elog` writes them.
//! - [`report`]: the exact error packets pgpool sends for protocol-level failures.
//! - [`auth`]: the md5 login: pcp.conf hash, client response, server check, and the server's
//!   login state machine [`ServerAuth`](auth::ServerAuth).
//! - [`tags`]: type bytes and marker strings as named constants.
//! - [`Error`]: what went wrong while framing, parsing or writing.
//!
//! Data flow, server side: socket bytes go into a `BytesMut`; [`split_request`] cuts off a
//! [`Packet`] (or fails with an error whose [`Error::report`] is pgpool's FATAL);
//! [`Packet::request`] types it; [`ServerAuth`](auth::ServerAuth) gates it; the engine answers
//! with the `write_*` functions of [`response`] (or a [`Report`]) into its write buffer. The
//! client side mirrors it with [`request`]'s writers, [`split_response`] and
//! [`Packet::response`].
//!
//! A node info exchange on the wire (the reply is three packets):
//!
//! ```
//! use bytes::BytesMut;
//! use corepool_protocol::pcp::{self, Request, Response};
//!
//! let mut out = BytesMut::new();
//! pcp::request::write_node_info(&mut out, -1)?;
//! assert_eq!(&out[..], b"I\0\0\0\x07-1\0");
//!
//! let packet = pcp::split_request(&mut out)?.expect("whole");
//! assert_eq!(packet.request()?, Request::NodeInfo { node_id: -1 });
//!
//! let mut reply = BytesMut::new();
//! pcp::response::write_array_size(&mut reply, b'i', 0)?;
//! pcp::response::write_command_complete(&mut reply, b'i')?;
//! let first = pcp::split_response(&mut reply, pcp::DEFAULT_MAX_RESPONSE_LEN)?.expect("whole");
//! assert_eq!(first.response()?, Response::ArraySize { tag: b'i', count: 0 });
//! # Ok::<(), pcp::Error>(())
//! ```

pub mod auth;
mod codec;
mod error;
pub mod frame;
pub mod node;
pub mod notice;
pub mod process;
pub mod report;
pub mod request;
pub mod response;
pub mod tags;

#[cfg(test)]
mod prop_tests;
#[cfg(test)]
mod response_tests;
#[cfg(test)]
mod tests;

pub use self::error::Error;
pub use self::frame::{
    split_request, split_response, Header, Packet, DEFAULT_MAX_RESPONSE_LEN, HEADER_LEN,
    MAX_PCP_PACKET_LENGTH,
};
pub use self::notice::{ErrorResponse, Severity};
pub use self::report::Report;
pub use self::request::Request;
pub use self::response::Response;
