//! Network namespaces joined to this one by veth pairs, so that tests can cut (`ip link set
//! … down`) or delay (`tc qdisc … netem`) the links of one process while everything stays on
//! this machine. Needs root (CAP_NET_ADMIN). Dropping a namespace deletes it and its links.
//!
//! Addresses are link-local IPv4 (169.254.0.0/16), one /30 per link: nothing is routed
//! beyond the pair, and no default route is set inside a namespace.

use std::process::Command;
use std::time::Duration;

use crate::exec::{run, run_unchecked};
use crate::Error;

const IP: &str = "/usr/sbin/ip";
const TC: &str = "/usr/sbin/tc";

fn ip(args: &[&str]) -> Result<(), Error> {
    let mut cmd = Command::new(IP);
    cmd.args(args);
    run(&mut cmd, Duration::from_secs(15)).map(drop)
}

/// Whether network namespaces can be made here (root and `ip netns`).
pub fn netns_available() -> bool {
    static PROBES: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = PROBES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let name = format!("cpprobe{}-{n}", std::process::id());
    let ok = ip(&["netns", "add", &name]).is_ok();
    if ok {
        let _ = ip(&["netns", "del", &name]);
    }
    ok
}

/// One veth pair between this namespace (`host`) and a test namespace.
#[derive(Debug, Clone)]
pub struct Link {
    /// The interface on the host side.
    pub host_if: String,
    /// The host side's address.
    pub host_addr: String,
    /// The namespace side's address.
    pub ns_addr: String,
    ns: String,
}

impl Link {
    /// Cuts the link (both ends stop passing packets).
    pub fn down(&self) -> Result<(), Error> {
        ip(&["link", "set", "dev", &self.host_if, "down"])
    }

    /// Restores the link.
    pub fn up(&self) -> Result<(), Error> {
        ip(&["link", "set", "dev", &self.host_if, "up"])
    }

    /// Delays every packet leaving the host side by `ms` (netem). Fails on kernels without
    /// sch_netem.
    pub fn delay(&self, ms: u32) -> Result<(), Error> {
        let mut cmd = Command::new(TC);
        cmd.args([
            "qdisc",
            "replace",
            "dev",
            &self.host_if,
            "root",
            "netem",
            "delay",
        ])
        .arg(format!("{ms}ms"));
        run(&mut cmd, Duration::from_secs(15)).map(drop)
    }

    /// Removes a delay.
    pub fn undelay(&self) -> Result<(), Error> {
        let mut cmd = Command::new(TC);
        cmd.args(["qdisc", "del", "dev", &self.host_if, "root"]);
        run_unchecked(&mut cmd, Duration::from_secs(15)).map(drop)
    }

    /// The namespace this link leads to.
    pub fn namespace(&self) -> &str {
        &self.ns
    }
}

/// A network namespace with its loopback up.
#[derive(Debug)]
pub struct Netns {
    name: String,
    links: Vec<Link>,
}

impl Netns {
    /// Creates namespace `name` (deleting a leftover of the same name first).
    pub fn create(name: &str) -> Result<Self, Error> {
        let _ = ip(&["netns", "del", name]);
        ip(&["netns", "add", name])?;
        ip(&["-n", name, "link", "set", "lo", "up"])?;
        Ok(Self {
            name: name.to_owned(),
            links: Vec::new(),
        })
    }

    /// Adds a veth pair: `if_name` on the host with `169.254.<net>.<4k+1>/30`, its peer
    /// inside with `.<4k+2>`. `if_name` must be unique on the host (at most 15 bytes).
    pub fn link(&mut self, if_name: &str, net: u8, k: u8) -> Result<Link, Error> {
        if if_name.len() > 13 || k > 63 {
            return Err(Error::Config(format!("bad link {if_name} {k}")));
        }
        let peer = format!("{if_name}p");
        let _ = ip(&["link", "del", if_name]);
        ip(&[
            "link", "add", if_name, "type", "veth", "peer", "name", &peer,
        ])?;
        ip(&["link", "set", &peer, "netns", &self.name])?;
        let host_addr = format!("169.254.{net}.{}", 4 * k + 1);
        let ns_addr = format!("169.254.{net}.{}", 4 * k + 2);
        ip(&["addr", "add", &format!("{host_addr}/30"), "dev", if_name])?;
        ip(&["link", "set", if_name, "up"])?;
        ip(&[
            "-n",
            &self.name,
            "addr",
            "add",
            &format!("{ns_addr}/30"),
            "dev",
            &peer,
        ])?;
        ip(&["-n", &self.name, "link", "set", &peer, "up"])?;
        let link = Link {
            host_if: if_name.to_owned(),
            host_addr,
            ns_addr,
            ns: self.name.clone(),
        };
        self.links.push(link.clone());
        Ok(link)
    }

    /// A command that runs `program` inside the namespace (`ip netns exec`).
    pub fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut cmd = Command::new(IP);
        cmd.args(["netns", "exec", &self.name]).arg(program);
        cmd
    }

    /// The namespace's name.
    pub fn name(&self) -> &str {
        &self.name
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        for l in &self.links {
            let _ = ip(&["link", "del", &l.host_if]);
        }
        let _ = ip(&["netns", "del", &self.name]);
    }
}
