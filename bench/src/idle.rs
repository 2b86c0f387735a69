//! A tiny PostgreSQL client on `std::net`: complete a trust-auth start-up and stay idle.
//!
//! Used to check that a proxy is up (start up, then Terminate) and to hold thousands of idle
//! client connections open while the proxy's memory is sampled. It speaks just enough of the v3
//! protocol: a StartupMessage out, then backend messages read until ReadyForQuery, failing on
//! ErrorResponse or any authentication request other than AuthenticationOk.

use std::io::{BufReader, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};

use crate::stop::Stop;

/// How long one start-up may take before the client gives up.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(30);

/// Protocol version 3.0.
const PROTOCOL_3_0: i32 = 196_608;

/// Clients whose StartupMessage is sent before the first reply is read: enough to overlap the
/// proxy's work with ours, few enough not to overflow a listen backlog.
const BATCH: usize = 64;

/// Connects to 127.0.0.1:`port` and completes a start-up as `user` on `database`.
pub fn connect(port: u16, user: &str, database: &str) -> Result<TcpStream> {
    let mut stream = open(port, user, database)?;
    read_until_ready(&mut stream)?;
    Ok(stream)
}

/// Completes a start-up and then sends Terminate: is the proxy (and its backend) serving?
pub fn ping(port: u16, user: &str, database: &str) -> Result<()> {
    let mut stream = connect(port, user, database)?;
    stream
        .write_all(&[b'X', 0, 0, 0, 4])
        .context("send Terminate")?;
    Ok(())
}

/// Opens `count` idle client connections, each past ReadyForQuery. On failure says how many
/// were open and why the next one failed; the open ones close when the error is dropped.
pub fn open_idle(
    port: u16,
    user: &str,
    database: &str,
    count: usize,
    stop: &Stop,
) -> Result<Vec<TcpStream>> {
    let mut open: Vec<TcpStream> = Vec::with_capacity(count);
    while open.len() < count {
        stop.check()?;
        let batch_size = BATCH.min(count - open.len());
        let mut batch = Vec::with_capacity(batch_size);
        for _ in 0..batch_size {
            match self::open(port, user, database) {
                Ok(stream) => batch.push(stream),
                Err(e) => return Err(partial(open.len() + batch.len(), count, e)),
            }
        }
        for mut stream in batch {
            if let Err(e) = read_until_ready(&mut stream) {
                return Err(partial(open.len(), count, e));
            }
            open.push(stream);
        }
    }
    Ok(open)
}

fn partial(opened: usize, count: usize, e: anyhow::Error) -> anyhow::Error {
    e.context(format!("{opened} of {count} idle clients were open"))
}

/// Connects and sends the StartupMessage without reading the reply.
fn open(port: u16, user: &str, database: &str) -> Result<TcpStream> {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let mut stream = TcpStream::connect_timeout(&addr, STARTUP_TIMEOUT)
        .with_context(|| format!("connect to {addr}"))?;
    stream.set_nodelay(true)?;
    stream.set_read_timeout(Some(STARTUP_TIMEOUT))?;
    stream
        .write_all(&startup_message(user, database))
        .context("send StartupMessage")?;
    Ok(stream)
}

/// A v3 StartupMessage with `user`, `database` and `application_name`.
pub fn startup_message(user: &str, database: &str) -> Vec<u8> {
    let mut msg = vec![0; 4];
    msg.extend_from_slice(&PROTOCOL_3_0.to_be_bytes());
    for (key, value) in [
        ("user", user),
        ("database", database),
        ("application_name", "corepool-bench-idle"),
    ] {
        for s in [key, value] {
            msg.extend_from_slice(s.as_bytes());
            msg.push(0);
        }
    }
    msg.push(0);
    let len = i32::try_from(msg.len()).unwrap_or(i32::MAX);
    msg[..4].copy_from_slice(&len.to_be_bytes());
    msg
}

/// Reads backend messages until ReadyForQuery.
fn read_until_ready(stream: &mut TcpStream) -> Result<()> {
    let mut reader = BufReader::with_capacity(512, stream);
    loop {
        let mut header = [0; 5];
        reader
            .read_exact(&mut header)
            .context("read from server (it closed the connection or timed out)")?;
        let tag = header[0];
        let len = i32::from_be_bytes([header[1], header[2], header[3], header[4]]);
        let body_len = usize::try_from(len - 4)
            .ok()
            .filter(|&l| l <= 1 << 20)
            .ok_or_else(|| anyhow!("bad message length {len} (tag {:?})", tag as char))?;
        let mut body = vec![0; body_len];
        reader.read_exact(&mut body).context("read message body")?;
        match tag {
            b'Z' => return Ok(()),
            b'E' => bail!("server error: {}", error_message(&body)),
            b'R' => {
                let code = body
                    .get(..4)
                    .map(|b| i32::from_be_bytes([b[0], b[1], b[2], b[3]]));
                if code != Some(0) {
                    bail!("server asked for authentication (request {code:?}); expected trust");
                }
            }
            _ => {}
        }
    }
}

/// The SQLSTATE and message fields of an ErrorResponse body, for a readable error.
fn error_message(body: &[u8]) -> String {
    let mut code = "";
    let mut message = "";
    for field in body.split(|&b| b == 0) {
        let Some((&kind, value)) = field.split_first() else {
            continue;
        };
        let value = std::str::from_utf8(value).unwrap_or("<non-UTF-8>");
        match kind {
            b'C' => code = value,
            b'M' => message = value,
            _ => {}
        }
    }
    format!("{message} (SQLSTATE {code})")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn startup_message_is_length_prefixed_and_terminated() {
        let msg = startup_message("postgres", "db");
        assert_eq!(
            i32::from_be_bytes([msg[0], msg[1], msg[2], msg[3]]) as usize,
            msg.len()
        );
        assert_eq!(&msg[4..8], &PROTOCOL_3_0.to_be_bytes());
        assert!(msg.ends_with(b"corepool-bench-idle\0\0"));
    }

    #[test]
    fn error_message_reads_code_and_text() {
        let body = b"SFATAL\0C53300\0Msorry, too many clients already\0\0";
        assert_eq!(
            error_message(body),
            "sorry, too many clients already (SQLSTATE 53300)"
        );
    }
}
