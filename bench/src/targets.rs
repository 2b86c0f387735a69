//! Starting and stopping each proxy target: its configuration written into a directory of
//! the cluster's, its program started (as the cluster's user when we are root: PgBouncer
//! refuses to run as root) in its own process group, and everything it forked stopped when its
//! [`Proxy`] is dropped.

use std::fs::{self, File};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use corepool_testkit::{free_port, Cluster};

use crate::conf::{self, ProxyConfig};
use crate::idle;
use crate::kind::TargetKind;
use crate::pgbench::{file_tail, DATABASE, USER};
use crate::procs::ProcessSet;
use crate::programs::Programs;
use crate::sys::{self, Signal};

/// How long a proxy may take to accept its first client.
const START_TIMEOUT: Duration = Duration::from_secs(90);

/// How long a proxy may take to exit after its shutdown signal before it is killed.
const STOP_TIMEOUT: Duration = Duration::from_secs(10);

/// A running proxy. Dropping it stops the proxy and every process in its process group.
#[derive(Debug)]
pub struct Proxy {
    kind: TargetKind,
    port: u16,
    child: Child,
    log: PathBuf,
    stop_signal: Signal,
}

impl Proxy {
    /// Which proxy this is.
    pub fn kind(&self) -> TargetKind {
        self.kind
    }

    /// Its client port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The pid of the process we started.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Its stdout/stderr log.
    pub fn log_path(&self) -> &Path {
        &self.log
    }

    /// The processes whose CPU time and memory are the proxy's.
    pub fn processes(&self) -> ProcessSet {
        ProcessSet {
            root: self.pid(),
            tree: self.kind == TargetKind::Pgpool,
        }
    }

    /// Settings of `settings` its log says it did not recognise (corepool warns about an
    /// unknown pgpool.conf parameter and goes on without it).
    pub fn unrecognized(&self, settings: &[(String, String)]) -> Vec<String> {
        let log = fs::read_to_string(&self.log).unwrap_or_default();
        settings
            .iter()
            .filter(|(name, _)| {
                let quoted = format!("\"{name}\": unrecognized");
                log.lines().any(|l| l.contains(&quoted))
            })
            .map(|(name, value)| format!("{name} = {value}"))
            .collect()
    }

    /// An error if the proxy has exited, with the end of its log.
    pub fn check_alive(&mut self) -> Result<()> {
        if let Some(status) = self.child.try_wait()? {
            bail!(
                "{} exited ({status}); end of {}:\n{}",
                self.kind,
                self.log.display(),
                file_tail(&self.log, 15)
            );
        }
        Ok(())
    }

    fn wait_ready(&mut self) -> Result<()> {
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            self.check_alive()?;
            match idle::ping(self.port, USER, DATABASE) {
                Ok(()) => return Ok(()),
                Err(e) if Instant::now() > deadline => {
                    return Err(e.context(format!(
                        "{} not serving after {START_TIMEOUT:?}; end of {}:\n{}",
                        self.kind,
                        self.log.display(),
                        file_tail(&self.log, 15)
                    )))
                }
                Err(_) => thread::sleep(Duration::from_millis(100)),
            }
        }
    }

    /// Sends the shutdown signal, waits, then SIGKILLs the process group.
    fn shut_down(&mut self) {
        let pgid = self.pid();
        let _ = sys::signal_process(pgid, self.stop_signal);
        let deadline = Instant::now() + STOP_TIMEOUT;
        while Instant::now() < deadline {
            if !matches!(self.child.try_wait(), Ok(None)) {
                break;
            }
            thread::sleep(Duration::from_millis(20));
        }
        // Leftover children (Pgpool-II's) and a proxy that ignored the signal.
        let _ = sys::signal_group(pgid, Signal::Kill);
        let _ = self.child.wait();
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.shut_down();
    }
}

/// Starts the proxy `kind` in front of `cluster`'s primary (Pgpool-II and corepool with
/// [`ProxyConfig::load_balance`]: in front of every node) and waits until it serves a client.
/// [`TargetKind::Direct`] has no proxy and is an error here.
pub fn start(
    cluster: &Cluster,
    kind: TargetKind,
    config: &ProxyConfig,
    programs: &Programs,
) -> Result<Proxy> {
    if kind == TargetKind::Direct {
        bail!("direct has no proxy to start");
    }
    let program = programs.locate(kind).map_err(|why| anyhow!("{why}"))?;
    let port = free_port();
    let dir = cluster
        .create_dir(&format!("{}-{port}", kind.name()))
        .with_context(|| format!("create directory for {kind}"))?;
    let (args, stop_signal) = prepare(cluster, kind, config, &dir, port)?;
    let log = dir.join(format!("{}.log", kind.name()));
    let out = File::create(&log).with_context(|| format!("create {}", log.display()))?;
    let mut cmd = Command::new(&program);
    cmd.args(&args)
        .current_dir(&dir)
        .stdin(Stdio::null())
        .stdout(out.try_clone()?)
        .stderr(out)
        .process_group(0)
        .env("HOME", &dir);
    if let Some(user) = cluster.run_as() {
        cmd.uid(user.uid())
            .gid(user.gid())
            .env("USER", user.name())
            .env("LOGNAME", user.name());
    }
    let child = cmd
        .spawn()
        .with_context(|| format!("spawn {}", program.display()))?;
    let mut proxy = Proxy {
        kind,
        port,
        child,
        log,
        stop_signal,
    };
    proxy.wait_ready()?;
    Ok(proxy)
}

/// Writes `kind`'s configuration into `dir` and returns its arguments and shutdown signal.
fn prepare(
    cluster: &Cluster,
    kind: TargetKind,
    config: &ProxyConfig,
    dir: &Path,
    port: u16,
) -> Result<(Vec<std::ffi::OsString>, Signal)> {
    let backend_port = cluster.primary().port();
    let pgpool_conf = |port: u16, pcp_port: u16| {
        if config.load_balance {
            let ports: Vec<u16> = cluster.nodes().iter().map(|n| n.port()).collect();
            conf::pgpool_load_balancing(dir, port, pcp_port, &ports, config)
        } else {
            conf::pgpool(dir, port, pcp_port, backend_port, config)
        }
    };
    let pump = |mode: &str| {
        let mut args = vec![
            "--mode".to_string(),
            mode.to_string(),
            "--listen".into(),
            format!("127.0.0.1:{port}"),
            "--backend".into(),
            format!("127.0.0.1:{backend_port}"),
        ];
        if mode == "epoll" && !config.pump_trigger.is_empty() {
            args.extend(["--trigger".into(), config.pump_trigger.clone()]);
        }
        // SIGTERM: a shell that starts the pump in the background ignores SIGINT for it.
        (
            args.into_iter().map(Into::into).collect(),
            Signal::Terminate,
        )
    };
    Ok(match kind {
        TargetKind::Direct => bail!("direct has no proxy to start"),
        TargetKind::PumpEpoll => pump("epoll"),
        TargetKind::PumpUring => pump("uring"),
        TargetKind::Pgbouncer125Transaction
        | TargetKind::Pgbouncer125Session
        | TargetKind::Pgbouncer118Transaction
        | TargetKind::Pgbouncer118Session => {
            let (mode, prepared) = match kind {
                TargetKind::Pgbouncer125Transaction => {
                    ("transaction", Some(config.max_prepared_statements))
                }
                TargetKind::Pgbouncer118Transaction => ("transaction", None),
                _ => ("session", None),
            };
            let ini = conf::pgbouncer(dir, port, backend_port, mode, prepared, config);
            write(&dir.join("userlist.txt"), &format!("\"{USER}\" \"\"\n"))?;
            write(&dir.join("pgbouncer.ini"), &ini)?;
            (
                vec![dir.join("pgbouncer.ini").into_os_string()],
                Signal::Terminate,
            )
        }
        TargetKind::Pgdog => {
            let (pgdog, users) = conf::pgdog(port, backend_port, config);
            write(&dir.join("pgdog.toml"), &pgdog)?;
            write(&dir.join("users.toml"), &users)?;
            let args = ["--config".into(), dir.join("pgdog.toml").into_os_string()]
                .into_iter()
                .chain(["--users".into(), dir.join("users.toml").into_os_string()])
                .collect();
            (args, Signal::Interrupt)
        }
        TargetKind::Pgpool => {
            let text = conf::with_settings(&pgpool_conf(port, free_port()), &config.pgpool_conf);
            write(&dir.join("pgpool.conf"), &text)?;
            write(
                &dir.join("pcp.conf"),
                "# no PCP users: the benchmark does not use PCP\n",
            )?;
            let args = ["-n", "-f"]
                .map(Into::into)
                .into_iter()
                .chain([dir.join("pgpool.conf").into_os_string(), "-F".into()])
                .chain([dir.join("pcp.conf").into_os_string()])
                .collect();
            (args, Signal::Interrupt)
        }
        TargetKind::Corepool | TargetKind::CorepoolBaseline => {
            let mut text = pgpool_conf(port, free_port());
            text.push_str(&conf::corepool_extras(config));
            let text = conf::with_settings(&text, &config.corepool_conf);
            write(&dir.join("pgpool.conf"), &text)?;
            let args = ["serve", "-n", "-f"]
                .map(Into::into)
                .into_iter()
                .chain([dir.join("pgpool.conf").into_os_string()])
                .collect();
            (args, Signal::Interrupt)
        }
    })
}

fn write(path: &Path, text: &str) -> Result<()> {
    fs::write(path, text).with_context(|| format!("write {}", path.display()))
}
