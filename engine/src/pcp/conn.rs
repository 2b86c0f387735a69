//! One PCP connection: packets in, md5 login, dispatch, replies out.

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::os::unix::net::UnixStream;
use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use corepool_protocol::pcp::auth::ServerAuth;
use corepool_protocol::pcp::{self, response, Report, Request};

use super::reply::{bad_request, After, ConnState};
use super::{admin, info, PcpContext};
use crate::cluster::ShutdownMode;

/// A blocking socket a PCP connection runs on.
pub(super) trait PcpStream: Read + Write {
    /// Bounds each read so the loop can notice a shutdown.
    fn set_timeout(&self, limit: Duration) -> io::Result<()>;
}

impl PcpStream for TcpStream {
    fn set_timeout(&self, limit: Duration) -> io::Result<()> {
        self.set_read_timeout(Some(limit))
    }
}

impl PcpStream for UnixStream {
    fn set_timeout(&self, limit: Duration) -> io::Result<()> {
        self.set_read_timeout(Some(limit))
    }
}

/// Serves one connection until `X`, end of stream, a FATAL report or shutdown.
pub(super) fn serve<S: PcpStream>(ctx: Arc<PcpContext>, mut stream: S) {
    let _ = stream.set_timeout(Duration::from_millis(500));
    let mut inbuf = BytesMut::with_capacity(512);
    let mut out = BytesMut::with_capacity(4096);
    let mut auth = ServerAuth::new();
    let mut conn = ConnState {
        client_min_messages: "notice".into(),
    };
    let mut chunk = [0u8; 1024];
    loop {
        let packet = match pcp::split_request(&mut inbuf) {
            Ok(Some(p)) => p,
            Ok(None) => match stream.read(&mut chunk) {
                Ok(0) => return,
                Ok(n) => {
                    inbuf.extend_from_slice(&chunk[..n]);
                    continue;
                }
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) =>
                {
                    if ctx.state().shutdown() != ShutdownMode::None {
                        return;
                    }
                    continue;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => return,
            },
            Err(e) => {
                let report = e
                    .report()
                    .unwrap_or_else(|| Report::invalid_packet_length(0));
                send_report(&mut stream, &mut out, &report);
                return;
            }
        };
        if let Err(report) = auth.authorize(packet.tag()) {
            send_report(&mut stream, &mut out, &report);
            return;
        }
        let after = match packet.request() {
            Ok(request) => handle(&ctx, &mut auth, &mut conn, request, &mut out),
            Err(e) => {
                let report = e.report().unwrap_or_else(|| bad_request(&e));
                let close = report.closes_connection();
                let _ = report.write(&mut out);
                if close {
                    After::Close
                } else {
                    After::Continue
                }
            }
        };
        if !out.is_empty() {
            if stream
                .write_all(&out)
                .and_then(|()| stream.flush())
                .is_err()
            {
                return;
            }
            out.clear();
        }
        match after {
            After::Continue => {}
            After::Close => return,
            After::Stop(mode) => {
                drop(stream);
                ctx.state().request_shutdown(mode);
                return;
            }
        }
    }
}

fn send_report<S: Write>(stream: &mut S, out: &mut BytesMut, report: &Report) {
    out.clear();
    if report.write(out).is_ok() {
        let _ = stream.write_all(out);
        let _ = stream.flush();
    }
}

/// Answers one request into `out`.
fn handle(
    ctx: &PcpContext,
    auth: &mut ServerAuth,
    conn: &mut ConnState,
    request: Request<'_>,
    out: &mut BytesMut,
) -> After {
    let result = match request {
        Request::SaltRequest => {
            let salt: [u8; 4] = rand::random();
            auth.issue_salt(salt);
            response::write_salt(out, salt);
            Ok(After::Continue)
        }
        Request::Authenticate {
            user,
            response: answer,
        } => {
            let users = ctx.users();
            let stored = users
                .users()
                .iter()
                .filter(|u| u.name == user)
                .map(|u| u.md5.as_bytes());
            match auth.authenticate(user.as_bytes(), answer.as_bytes(), stored) {
                Ok(()) => {
                    response::write_authentication_ok(out);
                    Ok(After::Continue)
                }
                Err(report) => Err(report),
            }
        }
        Request::Disconnect => return After::Close,
        Request::StopRecovery => return After::Continue,
        Request::NodeCount
        | Request::NodeInfo { .. }
        | Request::HealthCheckStats { .. }
        | Request::ProcessCount
        | Request::ProcessInfo { .. }
        | Request::PoolStatus
        | Request::WatchdogInfo { .. } => info::answer(ctx, request, out).map(|()| After::Continue),
        other => admin::answer(ctx, conn, other, out),
    };
    match result {
        Ok(after) => after,
        Err(report) => {
            out.clear();
            let close = report.closes_connection();
            let _ = report.write(out);
            if close {
                After::Close
            } else {
                After::Continue
            }
        }
    }
}
