//! corepool with its PCP server in front of a real cluster, and Debian's pcp_* tools run
//! against it (pcp_tools, recovery).

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use corepool_engine::cluster::{ClusterState, ShutdownMode};
use corepool_engine::config::Config;
use corepool_engine::server::{self, Running, ServeOptions};
use corepool_testkit::Cluster;

use super::base_config;

/// The PCP user of every test, and its password.
pub const USER: &str = "pcpadmin";
/// Its password.
pub const PASSWORD: &str = "secret";

/// A cluster, corepool with PCP on a kernel-chosen port, and a PCPPASSFILE.
pub struct PcpProxy {
    cluster: Option<Cluster>,
    pub port: u16,
    pub pcp_port: u16,
    pub running: Option<Running>,
    pub dir: tempfile::TempDir,
    pub passfile: PathBuf,
    pub pcp_conf: PathBuf,
}

impl PcpProxy {
    /// `standbys` standbys; `tweak` edits corepool's configuration (the temp dir is given).
    pub fn start(standbys: usize, tweak: impl FnOnce(&mut Config, &Path)) -> PcpProxy {
        let cluster = Cluster::builder()
            .standbys(standbys)
            .start()
            .expect("cluster starts");
        Self::start_on(cluster, tweak)
    }

    /// corepool with PCP in front of `cluster`.
    pub fn start_on(cluster: Cluster, tweak: impl FnOnce(&mut Config, &Path)) -> PcpProxy {
        let dir = tempfile::tempdir().expect("temp dir");
        let port = corepool_testkit::free_port();
        let mut config = base_config(&cluster, port);
        config.pcp_listen_addresses = vec!["127.0.0.1".into()];
        config.pcp_port = 0;
        config.pcp_unix_socket_directories = vec![dir.path().display().to_string()];
        config.logdir = dir.path().display().to_string();
        config.sr_check_period = Duration::ZERO;
        tweak(&mut config, dir.path());
        let pcp_conf = dir.path().join("pcp.conf");
        let hash = corepool_protocol::pcp::auth::hash_password(PASSWORD.as_bytes());
        std::fs::write(
            &pcp_conf,
            format!("# USERID:MD5PASSWD\n{USER}:{}\n", hash.as_str()),
        )
        .expect("pcp.conf");
        let passfile = dir.path().join("pcppass");
        std::fs::write(&passfile, format!("*:*:{USER}:{PASSWORD}\n")).expect("pcppass");
        std::fs::set_permissions(&passfile, std::fs::Permissions::from_mode(0o600)).expect("chmod");
        let options = ServeOptions {
            pcp_file: Some(pcp_conf.clone()),
            ..ServeOptions::default()
        };
        let port = config.port;
        let running = server::start(config, options).expect("corepool starts");
        let pcp_port = running.bound.pcp.first().expect("PCP listens").port();
        PcpProxy {
            cluster: Some(cluster),
            port,
            pcp_port,
            running: Some(running),
            dir,
            passfile,
            pcp_conf,
        }
    }

    /// The cluster behind corepool.
    pub fn cluster(&self) -> &Cluster {
        self.cluster.as_ref().expect("cluster")
    }

    /// Waits for corepool to end (after a stop request) and hands the cluster back.
    pub fn wait_stopped(mut self) -> Cluster {
        if let Some(r) = self.running.take() {
            r.wait().expect("corepool stops cleanly");
        }
        self.cluster.take().expect("cluster")
    }

    /// The shared state.
    pub fn state(&self) -> &ClusterState {
        &self.running.as_ref().expect("running").state
    }

    /// Runs `/usr/sbin/<tool> -h 127.0.0.1 -p <pcp port> -U pcpadmin -w <args>`.
    pub fn tool(&self, tool: &str, args: &[&str]) -> Output {
        self.tool_on("127.0.0.1", tool, args)
    }

    /// The same against `host` (a socket directory for the UNIX socket).
    pub fn tool_on(&self, host: &str, tool: &str, args: &[&str]) -> Output {
        self.command_on(host, tool)
            .args(args)
            .output()
            .expect("pcp tool runs")
    }

    /// `/usr/sbin/<tool> -h <host> -p <pcp port> -U pcpadmin -w`, with the test's PCPPASSFILE,
    /// to add arguments to or to run in another thread.
    pub fn command_on(&self, host: &str, tool: &str) -> Command {
        let mut cmd = Command::new(format!("/usr/sbin/{tool}"));
        cmd.args([
            "-h",
            host,
            "-p",
            &self.pcp_port.to_string(),
            "-U",
            USER,
            "-w",
        ])
        .env("PCPPASSFILE", &self.passfile);
        cmd
    }

    /// Stdout of a tool that must succeed with nothing on stderr.
    pub fn ok(&self, tool: &str, args: &[&str]) -> String {
        let out = self.tool(tool, args);
        let stderr = String::from_utf8(out.stderr.clone()).unwrap();
        assert!(
            out.status.success() && stderr.is_empty(),
            "{tool} {args:?}: {stderr}"
        );
        String::from_utf8(out.stdout).expect("utf-8")
    }

    /// Stops corepool (fast) and waits.
    pub fn stop(&mut self) {
        if let Some(r) = self.running.take() {
            r.state.request_shutdown(ShutdownMode::Fast);
            let _ = r.wait();
        }
    }
}

impl Drop for PcpProxy {
    fn drop(&mut self) {
        self.stop();
    }
}
