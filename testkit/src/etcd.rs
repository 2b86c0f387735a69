//! A real etcd cluster for tests: `n` members of Debian's `etcd` (package etcd-server) on
//! 127.0.0.1, free ports, a temporary directory; members can be killed, frozen (SIGSTOP) and
//! thawed. Clients may also be served on extra local addresses (veth ends of test network
//! namespaces). Dropping the cluster ends every member.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::exec::{poll_until, run_unchecked};
use crate::{free_port, Error};

/// The etcd binary: `COREPOOL_ETCD`, else `/usr/bin/etcd`.
fn etcd_bin() -> PathBuf {
    std::env::var_os("COREPOOL_ETCD")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/etcd"))
}

/// The etcdctl binary: `COREPOOL_ETCDCTL`, else `/usr/bin/etcdctl`.
fn etcdctl_bin() -> PathBuf {
    std::env::var_os("COREPOOL_ETCDCTL")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/etcdctl"))
}

/// Whether etcd is installed (scripts/setup.sh installs it).
pub fn etcd_available() -> bool {
    etcd_bin().exists() && etcdctl_bin().exists()
}

#[derive(Debug)]
struct Member {
    name: String,
    client_port: u16,
    peer_port: u16,
    child: Option<Child>,
    paused: bool,
}

/// A running etcd cluster.
#[derive(Debug)]
pub struct EtcdCluster {
    dir: tempfile::TempDir,
    members: Vec<Member>,
    extra_hosts: Vec<String>,
    token: String,
}

impl EtcdCluster {
    /// Starts `size` members and waits until the cluster is healthy. Each member also serves
    /// clients on every address of `extra_hosts` (at its own client port).
    pub fn start(size: usize, extra_hosts: &[String]) -> Result<Self, Error> {
        let dir = tempfile::Builder::new()
            .prefix("corepool-etcd-")
            .tempdir()
            .map_err(|e| Error::io("create temp dir", std::env::temp_dir(), e))?;
        let members = (0..size)
            .map(|i| Member {
                name: format!("etcd{i}"),
                client_port: free_port(),
                peer_port: free_port(),
                child: None,
                paused: false,
            })
            .collect();
        let token = format!(
            "corepool-{}-{}",
            std::process::id(),
            dir.path()
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default()
        );
        let mut cluster = Self {
            dir,
            members,
            extra_hosts: extra_hosts.to_vec(),
            token,
        };
        for i in 0..size {
            cluster.spawn(i)?;
        }
        cluster.wait_healthy(&(0..size).collect::<Vec<_>>())?;
        Ok(cluster)
    }

    fn spawn(&mut self, i: usize) -> Result<(), Error> {
        let initial: Vec<String> = self
            .members
            .iter()
            .map(|m| format!("{}=http://127.0.0.1:{}", m.name, m.peer_port))
            .collect();
        let m = &self.members[i];
        let mut clients = vec![format!("http://127.0.0.1:{}", m.client_port)];
        clients.extend(
            self.extra_hosts
                .iter()
                .map(|h| format!("http://{h}:{}", m.client_port)),
        );
        let data = self.dir.path().join(&m.name);
        let log_path = self.dir.path().join(format!("{}.log", m.name));
        let log = File::options()
            .create(true)
            .append(true)
            .open(&log_path)
            .map_err(|e| Error::io("open etcd log", log_path.clone(), e))?;
        let log2 = log
            .try_clone()
            .map_err(|e| Error::io("open etcd log", log_path.clone(), e))?;
        let peer = format!("http://127.0.0.1:{}", m.peer_port);
        let mut cmd = Command::new(etcd_bin());
        cmd.arg("--name")
            .arg(&m.name)
            .arg("--data-dir")
            .arg(&data)
            .arg("--listen-client-urls")
            .arg(clients.join(","))
            .arg("--advertise-client-urls")
            .arg(&clients[0])
            .arg("--listen-peer-urls")
            .arg(&peer)
            .arg("--initial-advertise-peer-urls")
            .arg(&peer)
            .arg("--initial-cluster")
            .arg(initial.join(","))
            .arg("--initial-cluster-token")
            .arg(&self.token)
            .arg("--initial-cluster-state")
            .arg("new")
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log2);
        let child = cmd
            .spawn()
            .map_err(|e| Error::io("start etcd", etcd_bin(), e))?;
        self.members[i].child = Some(child);
        self.members[i].paused = false;
        Ok(())
    }

    /// Waits until members `ids` report healthy (which needs a quorum).
    fn wait_healthy(&self, ids: &[usize]) -> Result<(), Error> {
        let endpoints: Vec<String> = ids
            .iter()
            .map(|i| format!("http://127.0.0.1:{}", self.members[*i].client_port))
            .collect();
        poll_until(
            || "etcd to become healthy".into(),
            Duration::from_secs(60),
            || {
                let mut cmd = self.etcdctl_at(&endpoints.join(","));
                cmd.args(["endpoint", "health"]);
                Ok(run_unchecked(&mut cmd, Duration::from_secs(10))?
                    .status
                    .success())
            },
        )
    }

    /// `http://<host>:<port>` of every member (`host` 127.0.0.1 or an extra host).
    pub fn endpoints(&self, host: &str) -> Vec<String> {
        self.members
            .iter()
            .map(|m| format!("http://{host}:{}", m.client_port))
            .collect()
    }

    /// etcdctl (API v3) against every member on 127.0.0.1.
    pub fn etcdctl(&self) -> Command {
        self.etcdctl_at(&self.endpoints("127.0.0.1").join(","))
    }

    fn etcdctl_at(&self, endpoints: &str) -> Command {
        let mut cmd = Command::new(etcdctl_bin());
        cmd.env("ETCDCTL_API", "3")
            .arg("--endpoints")
            .arg(endpoints)
            .arg("--dial-timeout=2s")
            .arg("--command-timeout=5s");
        cmd
    }

    /// Every key under `prefix` with its value, as `etcdctl get --prefix` prints them.
    pub fn get_prefix(&self, prefix: &str) -> Result<Vec<(String, String)>, Error> {
        let mut cmd = self.etcdctl();
        cmd.args(["get", "--prefix", prefix]);
        let out = run_unchecked(&mut cmd, Duration::from_secs(15))?;
        let text = crate::exec::text(&out.stdout);
        let lines: Vec<&str> = text.lines().collect();
        Ok(lines
            .chunks(2)
            .map(|c| (c[0].to_owned(), c.get(1).copied().unwrap_or("").to_owned()))
            .collect())
    }

    fn signal(&self, i: usize, sig: i32) {
        if let Some(c) = &self.members[i].child {
            crate::sys::signal(c.id() as i32, sig);
        }
    }

    /// Freezes member `i` (SIGSTOP): its sockets stay open but nothing answers.
    pub fn pause(&mut self, i: usize) {
        self.signal(i, libc::SIGSTOP);
        self.members[i].paused = true;
    }

    /// Thaws member `i` (SIGCONT).
    pub fn resume(&mut self, i: usize) {
        self.signal(i, libc::SIGCONT);
        self.members[i].paused = false;
    }

    /// Kills member `i` (SIGKILL) and waits for it.
    pub fn kill(&mut self, i: usize) {
        if let Some(mut c) = self.members[i].child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Starts member `i` again on its data directory (after [`kill`](Self::kill)).
    pub fn restart(&mut self, i: usize) -> Result<(), Error> {
        self.kill(i);
        self.spawn(i)
    }

    /// The directory holding the members' data and logs.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The last `lines` lines of member `i`'s log.
    pub fn log_tail(&self, i: usize, lines: usize) -> String {
        let path = self
            .dir
            .path()
            .join(format!("{}.log", self.members[i].name));
        let text = std::fs::read_to_string(path).unwrap_or_default();
        let all: Vec<&str> = text.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }
}

impl Drop for EtcdCluster {
    fn drop(&mut self) {
        for i in 0..self.members.len() {
            if self.members[i].paused {
                self.resume(i);
            }
            self.kill(i);
        }
    }
}
