//! The HA harness: a 3-member etcd cluster, a PostgreSQL primary with 2 standbys, and 3
//! `corepool serve` instances with `use_watchdog = on`, each in its own network namespace.
//!
//! Instance `i` lives in namespace `cph<tag>i<i>` with three veth links to this namespace:
//! link 0 carries its etcd traffic, link 1 its clients, PCP and backends 0 and 1, link 2 only
//! backend 2 (so one instance can lose one standby). Cutting a link is `ip link set … down`.
//! Commands run by the instances append to one events file.

#![allow(dead_code)]

use std::net::TcpStream;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use corepool_testkit::netns::Link;
use corepool_testkit::{Cluster, EtcdCluster, Netns};

pub const PORT: u16 = 9999;
pub const PCP_PORT: u16 = 9898;
const PCP_USER: &str = "pcpadmin";
const PCP_PASSWORD: &str = "secret";

pub struct Instance {
    pub name: String,
    pub ns: Netns,
    pub etcd_link: Link,
    pub svc_link: Link,
    pub standby_link: Link,
    pub conf: PathBuf,
    pub dir: PathBuf,
    pub child: Option<Child>,
}

impl Instance {
    /// Where clients reach it.
    pub fn addr(&self) -> &str {
        &self.svc_link.ns_addr
    }
}

pub struct Ha {
    pub instances: Vec<Instance>,
    pub cluster: Cluster,
    pub etcd: EtcdCluster,
    pub dir: tempfile::TempDir,
    pub events: PathBuf,
    pub prefix: String,
}

/// Whether this machine can run the HA tests: root, network namespaces, etcd.
pub fn available() -> bool {
    static AVAILABLE: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    let ok = *AVAILABLE.get_or_init(|| {
        corepool_testkit::etcd::etcd_available() && corepool_testkit::netns::netns_available()
    });
    if !ok {
        assert!(
            std::env::var_os("CI").is_none(),
            "the HA tests need etcd (scripts/setup.sh) and root for network namespaces"
        );
        eprintln!("skipping: needs etcd and root (network namespaces)");
    }
    ok
}

impl Ha {
    /// Starts everything. `tag` (10..=60) keeps namespaces, interfaces and addresses apart
    /// between tests running at once; `extra` adds pgpool.conf lines to every instance.
    pub fn start(
        tag: u8,
        extra: &str,
        tweak: impl FnOnce(corepool_testkit::ClusterBuilder) -> corepool_testkit::ClusterBuilder,
    ) -> Ha {
        let dir = tempfile::Builder::new()
            .prefix("corepool-ha-")
            .tempdir()
            .unwrap();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let events = dir.path().join("events");
        std::fs::write(&events, "").unwrap();
        std::fs::set_permissions(&events, std::fs::Permissions::from_mode(0o666)).unwrap();
        let mut nss = Vec::new();
        for i in 0..3u8 {
            let mut ns = Netns::create(&format!("cph{tag}i{i}")).unwrap();
            let e = ns.link(&format!("cph{tag}e{i}"), tag, i * 3).unwrap();
            let s = ns.link(&format!("cph{tag}s{i}"), tag, i * 3 + 1).unwrap();
            let b = ns.link(&format!("cph{tag}b{i}"), tag, i * 3 + 2).unwrap();
            nss.push((ns, e, s, b));
        }
        let etcd_hosts: Vec<String> = nss.iter().map(|n| n.1.host_addr.clone()).collect();
        let etcd = EtcdCluster::start(3, &etcd_hosts).unwrap();
        let mut listen = vec!["127.0.0.1".to_owned()];
        for n in &nss {
            listen.push(n.2.host_addr.clone());
            listen.push(n.3.host_addr.clone());
        }
        let builder = Cluster::builder()
            .standbys(2)
            .setting("listen_addresses", listen.join(","))
            .hba_line(format!("host all all 169.254.{tag}.0/24 trust"));
        let cluster = tweak(builder).start().unwrap();
        let prefix = format!("/corepool/ha{tag}");
        let pcp_hash = corepool_protocol::pcp::auth::hash_password(PCP_PASSWORD.as_bytes());
        let mut instances = Vec::new();
        for (i, (ns, e, s, b)) in nss.into_iter().enumerate() {
            let name = format!("cp{i}");
            let idir = dir.path().join(&name);
            std::fs::create_dir(&idir).unwrap();
            std::fs::write(
                idir.join("pcp.conf"),
                format!("{PCP_USER}:{}\n", pcp_hash.as_str()),
            )
            .unwrap();
            let nodes = cluster.nodes();
            let endpoints = etcd.endpoints(&e.host_addr).join(",");
            let ev = events.display();
            let text = format!(
                "listen_addresses = '{addr}'\nport = {PORT}\nunix_socket_directories = '{d}'\n\
                 pcp_listen_addresses = '{addr}'\npcp_port = {PCP_PORT}\npcp_socket_dir = '{d}'\n\
                 pid_file_name = '{d}/corepool.pid'\nlogdir = '{d}'\n\
                 backend_clustering_mode = 'streaming_replication'\n\
                 backend_hostname0 = '{h}'\nbackend_port0 = {p0}\nbackend_application_name0 = 'node0'\n\
                 backend_hostname1 = '{h}'\nbackend_port1 = {p1}\nbackend_application_name1 = 'node1'\n\
                 backend_hostname2 = '{hb}'\nbackend_port2 = {p2}\nbackend_application_name2 = 'node2'\n\
                 backend_data_directory0 = '{d0}'\nbackend_data_directory1 = '{d1}'\n\
                 backend_data_directory2 = '{d2}'\n\
                 health_check_period = 1\nhealth_check_timeout = 2\nhealth_check_max_retries = 0\n\
                 health_check_user = 'postgres'\nsr_check_user = 'postgres'\nconnect_timeout = 1000\nsr_check_period = 0\n\
                 search_primary_node_timeout = 20\nnum_init_children = 16\n\
                 use_watchdog = on\netcd_endpoints = '{endpoints}'\netcd_prefix = '{prefix}'\n\
                 etcd_instance_name = '{name}'\netcd_lease_ttl = 3\n\
                 wd_escalation_command = 'echo \"{name} escalate\" >> {ev}'\n\
                 wd_de_escalation_command = 'echo \"{name} de-escalate\" >> {ev}'\n{extra}\n",
                addr = s.ns_addr,
                d = idir.display(),
                h = s.host_addr,
                hb = b.host_addr,
                p0 = nodes[0].port(),
                p1 = nodes[1].port(),
                p2 = nodes[2].port(),
                d0 = nodes[0].data_dir().display(),
                d1 = nodes[1].data_dir().display(),
                d2 = nodes[2].data_dir().display(),
                extra = extra.replace("{name}", &name).replace("{events}", &ev.to_string()),
            );
            let conf = idir.join("pgpool.conf");
            std::fs::write(&conf, text).unwrap();
            instances.push(Instance {
                name,
                ns,
                etcd_link: e,
                svc_link: s,
                standby_link: b,
                conf,
                dir: idir,
                child: None,
            });
        }
        let mut ha = Ha {
            instances,
            cluster,
            etcd,
            dir,
            events,
            prefix,
        };
        for i in 0..3 {
            ha.launch(i);
        }
        ha.wait_for("a leader", Duration::from_secs(30), |h| {
            h.leader().is_some()
        });
        ha
    }

    /// Starts instance `i`'s `corepool serve` in its namespace and waits until it listens.
    pub fn launch(&mut self, i: usize) {
        let inst = &mut self.instances[i];
        let log = std::fs::File::create(inst.dir.join("corepool.log")).unwrap();
        let child = inst
            .ns
            .command(env!("CARGO_BIN_EXE_corepool"))
            .args(["serve", "-n", "-f"])
            .arg(&inst.conf)
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        inst.child = Some(child);
        let addr = format!("{}:{PORT}", inst.addr());
        let name = inst.name.clone();
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect_timeout(&addr.parse().unwrap(), Duration::from_millis(300))
            .is_err()
        {
            assert!(
                Instant::now() < deadline,
                "{name} did not listen:\n{}",
                self.log(i)
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// SIGKILLs instance `i`.
    pub fn kill(&mut self, i: usize) {
        if let Some(mut c) = self.instances[i].child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    pub fn log(&self, i: usize) -> String {
        std::fs::read_to_string(self.instances[i].dir.join("corepool.log")).unwrap_or_default()
    }

    /// Prints every instance's log (for a failing test).
    pub fn dump(&self) {
        for i in 0..self.instances.len() {
            let log = self.log(i);
            let lines: Vec<&str> = log.lines().collect();
            eprintln!(
                "==== {} ====\n{}",
                self.instances[i].name,
                lines[lines.len().saturating_sub(80)..].join("\n")
            );
        }
        eprintln!("==== events ====\n{}", self.events().join("\n"));
    }

    /// Lines the instances' commands appended.
    pub fn events(&self) -> Vec<String> {
        std::fs::read_to_string(&self.events)
            .unwrap_or_default()
            .lines()
            .map(str::to_owned)
            .collect()
    }

    pub fn count_events(&self, line: &str) -> usize {
        self.events().iter().filter(|l| l.as_str() == line).count()
    }

    /// psql through instance `i`.
    pub fn psql(&self, i: usize, sql: &str) -> Result<String, String> {
        let conninfo = format!(
            "host={} port={PORT} user=postgres dbname=postgres connect_timeout=3",
            self.instances[i].addr()
        );
        let out = self.cluster.psql_command(&conninfo, sql).output().unwrap();
        corepool_testkit::psql_result(&out)
    }

    /// psql through instance `i`, killed after `limit` (then an error: not acknowledged).
    pub fn psql_within(&self, i: usize, sql: &str, limit: Duration) -> Result<String, String> {
        let conninfo = format!(
            "host={} port={PORT} user=postgres dbname=postgres connect_timeout=3",
            self.instances[i].addr()
        );
        let mut child = self
            .cluster
            .psql_command(&conninfo, sql)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + limit;
        while child.try_wait().unwrap().is_none() {
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("no answer within {limit:?}"));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        corepool_testkit::psql_result(&child.wait_with_output().unwrap())
    }

    /// Node `node`'s (status, role) as instance `i` shows them in SHOW pool_nodes.
    pub fn node(&self, i: usize, node: usize) -> Option<(String, String)> {
        let out = self.psql(i, "SHOW pool_nodes").ok()?;
        let line = out.lines().nth(node)?;
        let f: Vec<&str> = line.split('|').collect();
        Some((f.get(3)?.to_string(), f.get(6)?.to_string()))
    }

    /// A Pgpool-II pcp_* tool (Debian's) against instance `i`.
    pub fn pcp(&self, i: usize, tool: &str, args: &[&str]) -> std::process::Output {
        let pass = self.dir.path().join("pcppass");
        if !pass.exists() {
            std::fs::write(&pass, format!("*:*:{PCP_USER}:{PCP_PASSWORD}\n")).unwrap();
            std::fs::set_permissions(&pass, std::fs::Permissions::from_mode(0o600)).unwrap();
        }
        Command::new(format!("/usr/sbin/{tool}"))
            .args([
                "-h",
                self.instances[i].addr(),
                "-p",
                &PCP_PORT.to_string(),
                "-U",
                PCP_USER,
                "-w",
            ])
            .args(args)
            .env("PCPPASSFILE", &pass)
            .output()
            .unwrap()
    }

    /// `corepool pcp <args>` against instance `i`.
    pub fn corepool_pcp(&self, i: usize, args: &[&str]) -> std::process::Output {
        let pass = self.dir.path().join("pcppass");
        let _ = self.pcp(i, "pcp_node_count", &[]);
        Command::new(env!("CARGO_BIN_EXE_corepool"))
            .args([
                "pcp",
                "-h",
                self.instances[i].addr(),
                "-p",
                &PCP_PORT.to_string(),
                "-U",
                PCP_USER,
                "-w",
            ])
            .args(args)
            .env("PCPPASSFILE", &pass)
            .output()
            .unwrap()
    }

    /// The leader's name as instance `i` reports it (pcp_watchdog_info -v).
    pub fn leader_seen_by(&self, i: usize) -> Option<String> {
        let out = self.pcp(i, "pcp_watchdog_info", &["-v"]);
        let text = String::from_utf8(out.stdout.clone()).unwrap_or_default();
        let name = text
            .lines()
            .find_map(|l| l.strip_prefix("Leader Node Name         : "))?
            .trim()
            .to_owned();
        (name != "Not Set").then_some(name)
    }

    /// The leader, read from etcd (the oldest election candidate).
    pub fn leader(&self) -> Option<String> {
        let mut cmd = self.etcd.etcdctl();
        cmd.args([
            "get",
            "--prefix",
            &format!("{}/election/", self.prefix),
            "--sort-by=CREATE",
            "--order=ASCEND",
            "--print-value-only",
        ]);
        let out = cmd.output().ok()?;
        String::from_utf8(out.stdout.clone())
            .unwrap()
            .lines()
            .next()
            .map(str::to_owned)
    }

    pub fn index_of(&self, name: &str) -> usize {
        self.instances.iter().position(|i| i.name == name).unwrap()
    }

    /// Polls `cond` every 100 ms until it holds; panics (with the logs) after `timeout`.
    pub fn wait_for(
        &self,
        what: &str,
        timeout: Duration,
        mut cond: impl FnMut(&Ha) -> bool,
    ) -> Duration {
        let start = Instant::now();
        while !cond(self) {
            if start.elapsed() > timeout {
                self.dump();
                panic!("timed out after {timeout:?} waiting for {what}");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        start.elapsed()
    }

    /// Keys under the cluster's prefix + `rest`.
    pub fn keys(&self, rest: &str) -> Vec<(String, String)> {
        self.etcd
            .get_prefix(&format!("{}/{rest}", self.prefix))
            .unwrap_or_default()
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Ha {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.dump();
        }
        for i in 0..self.instances.len() {
            if let Some(mut c) = self.instances[i].child.take() {
                let _ = c.kill();
                let _ = c.wait();
            }
        }
    }
}
