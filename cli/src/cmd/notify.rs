//! systemd's service notification protocol (sd_notify(3)) for `Type=notify` units: one datagram
//! of `KEY=value` lines to the UNIX socket named by `$NOTIFY_SOCKET` (a path, or `@name` in
//! the abstract namespace). Without `$NOTIFY_SOCKET` nothing is sent. Failures are logged and
//! never stop the proxy: systemd only waits for READY=1 until its start timeout.

use std::os::unix::net::{SocketAddr, UnixDatagram};
use std::sync::Arc;

/// A socket to systemd, shared by the threads that report (start-up, reload, stop).
#[derive(Debug, Clone)]
pub struct Notifier {
    inner: Arc<(UnixDatagram, SocketAddr)>,
}

impl Notifier {
    /// The notifier for `$NOTIFY_SOCKET`, if systemd (or a test) set it.
    pub fn from_env() -> Option<Notifier> {
        let target = std::env::var_os("NOTIFY_SOCKET")?;
        match Self::to(&target) {
            Ok(n) => Some(n),
            Err(e) => {
                tracing::warn!(socket = ?target, error = %e, "NOTIFY_SOCKET is unusable");
                None
            }
        }
    }

    /// A notifier for `target`: a socket path, or `@name` for an abstract socket.
    pub fn to(target: &std::ffi::OsStr) -> std::io::Result<Notifier> {
        use std::os::unix::ffi::OsStrExt;
        let bytes = target.as_bytes();
        let addr = match bytes.strip_prefix(b"@") {
            Some(name) => abstract_address(name)?,
            None => SocketAddr::from_pathname(target)?,
        };
        let socket = UnixDatagram::unbound()?;
        Ok(Notifier {
            inner: Arc::new((socket, addr)),
        })
    }

    /// Sends `state` (`READY=1`, `RELOADING=1\nSTATUS=…`, …).
    pub fn notify(&self, state: &str) {
        let (socket, addr) = &*self.inner;
        if let Err(e) = socket.send_to_addr(state.as_bytes(), addr) {
            tracing::warn!(error = %e, state, "could not notify systemd");
        }
    }
}

#[cfg(any(target_os = "linux", target_os = "android"))]
fn abstract_address(name: &[u8]) -> std::io::Result<SocketAddr> {
    #[cfg(target_os = "android")]
    use std::os::android::net::SocketAddrExt;
    #[cfg(target_os = "linux")]
    use std::os::linux::net::SocketAddrExt;
    SocketAddr::from_abstract_name(name)
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn abstract_address(_name: &[u8]) -> std::io::Result<SocketAddr> {
    Err(std::io::Error::new(
        std::io::ErrorKind::Unsupported,
        "abstract sockets exist on Linux only",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn datagrams_reach_a_path_and_an_abstract_socket() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notify");
        let listener = UnixDatagram::bind(&path).unwrap();
        Notifier::to(path.as_os_str()).unwrap().notify("READY=1");
        let mut buf = [0u8; 64];
        let n = listener.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"READY=1");

        let name = format!("corepool-test-{}", std::process::id());
        let addr = abstract_address(name.as_bytes()).unwrap();
        let listener = UnixDatagram::bind_addr(&addr).unwrap();
        let target = format!("@{name}");
        Notifier::to(std::ffi::OsStr::new(&target))
            .unwrap()
            .notify("RELOADING=1");
        let n = listener.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"RELOADING=1");
    }
}
