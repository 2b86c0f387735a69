//! The Debian package on this machine: `dpkg -i`, the service started as its unit says (by
//! systemd when systemd is PID 1, else the unit's ExecStart run the same way: as its User=,
//! with its limits, RuntimeDirectory= and a NOTIFY_SOCKET), served through, reloaded, stopped
//! with its KillSignal=, then `dpkg --purge` — after which no path naming corepool that was
//! not there before is left, and neither is the system user.
//!
//! It installs a system package, so it only runs when asked: scripts/test-package.sh builds
//! the .deb (scripts/package.sh) and runs this test with COREPOOL_DEB naming it.

use std::collections::{BTreeMap, BTreeSet};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use corepool_testkit::{free_port, Cluster};

const UNIT: &str = "/usr/lib/systemd/system/corepool.service";
const CONF: &str = "/etc/corepool/pgpool.conf";

fn run(program: &str, args: &[&str]) -> std::process::Output {
    let out = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{program}: {e}"));
    assert!(out.status.success(), "{program} {args:?}: {out:?}");
    out
}

fn user_exists(name: &str) -> bool {
    Command::new("getent")
        .args(["passwd", name])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Every path under the system directories whose name mentions corepool (symlinks not
/// followed; /tmp and /proc left out).
fn corepool_paths() -> BTreeSet<PathBuf> {
    fn walk(dir: &Path, out: &mut BTreeSet<PathBuf>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for e in entries.flatten() {
            let path = e.path();
            if path.to_string_lossy().contains("corepool") {
                out.insert(path.clone());
            }
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                walk(&path, out);
            }
        }
    }
    let mut out = BTreeSet::new();
    for root in ["/etc", "/usr", "/var", "/run", "/opt", "/srv"] {
        walk(Path::new(root), &mut out);
    }
    out
}

/// The `[Service]` settings of the installed unit.
fn unit_service() -> BTreeMap<String, String> {
    let text = std::fs::read_to_string(UNIT).expect("the unit is installed");
    let mut in_service = false;
    let mut out = BTreeMap::new();
    for line in text.lines().map(str::trim) {
        if line.starts_with('[') {
            in_service = line == "[Service]";
        } else if in_service && !line.starts_with('#') {
            if let Some((k, v)) = line.split_once('=') {
                out.insert(k.to_owned(), v.to_owned());
            }
        }
    }
    out
}

/// Waits for the next notification datagram.
fn notification(socket: &UnixDatagram) -> String {
    let mut buf = [0u8; 1024];
    let n = socket.recv(&mut buf).expect("a notification from corepool");
    String::from_utf8(buf[..n].to_vec()).expect("utf-8")
}

/// The service started from its unit's ExecStart as systemd would, without systemd.
struct Service {
    child: Child,
    notify: UnixDatagram,
    _dir: tempfile::TempDir,
    log: PathBuf,
}

impl Service {
    fn start(unit: &BTreeMap<String, String>) -> Service {
        let user = &unit["User"];
        let group = &unit["Group"];
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let socket_path = dir.path().join("notify");
        let notify = UnixDatagram::bind(&socket_path).expect("notify socket");
        std::fs::set_permissions(&socket_path, std::fs::Permissions::from_mode(0o777)).unwrap();
        notify
            .set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        // RuntimeDirectory= and its mode, owned by the unit's user.
        let runtime = Path::new("/run").join(&unit["RuntimeDirectory"]);
        std::fs::create_dir_all(&runtime).unwrap();
        run(
            "chown",
            &[&format!("{user}:{group}"), runtime.to_str().unwrap()],
        );
        let mode = u32::from_str_radix(&unit["RuntimeDirectoryMode"], 8).unwrap();
        std::fs::set_permissions(&runtime, std::fs::Permissions::from_mode(mode)).unwrap();
        let home = Path::new("/var/lib").join(&unit["StateDirectory"]);
        assert!(home.is_dir(), "StateDirectory {} exists", home.display());
        let exec: Vec<&str> = unit["ExecStart"].split_whitespace().collect();
        let log = dir.path().join("corepool.log");
        let child = Command::new("prlimit")
            .arg(format!(
                "--nofile={0}:{0}",
                limit(&unit["LimitNOFILE"], "-Hn")
            ))
            .arg(format!(
                "--memlock={0}:{0}",
                limit(&unit["LimitMEMLOCK"], "-Hl")
            ))
            .args([
                "--",
                "setpriv",
                "--reuid",
                user,
                "--regid",
                group,
                "--init-groups",
                "--",
            ])
            .args(&exec)
            .env_clear()
            .env("PATH", "/usr/local/bin:/usr/bin:/bin")
            .env("HOME", &home)
            .env("USER", user)
            .env("LOGNAME", user)
            .env("NOTIFY_SOCKET", &socket_path)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("ExecStart runs");
        Service {
            child,
            notify,
            _dir: dir,
            log,
        }
    }

    fn signal(&self, name: &str) {
        run("kill", &[&format!("-{name}"), &self.child.id().to_string()]);
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A unit's Limit…= value for prlimit, lowered to this process's hard limit (`ulimit` `flag`):
/// without CAP_SYS_RESOURCE (containers) a hard limit cannot be raised, which systemd could.
fn limit(value: &str, flag: &str) -> String {
    let out = Command::new("sh")
        .args(["-c", &format!("ulimit {flag}")])
        .output()
        .expect("ulimit");
    let hard = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    let parse = |v: &str| match v {
        "infinity" | "unlimited" => u64::MAX,
        n => n.parse().expect("a number"),
    };
    // ulimit -l counts KiB, the unit and prlimit bytes.
    let scale = if flag == "-Hl" { 1024 } else { 1 };
    let hard = parse(&hard).saturating_mul(scale);
    let wanted = parse(value).min(hard);
    if wanted == u64::MAX {
        "unlimited".to_owned()
    } else {
        wanted.to_string()
    }
}

fn psql(cluster: &Cluster, port: u16, sql: &str) -> Result<String, String> {
    let conninfo = format!("host=127.0.0.1 port={port} user=postgres dbname=postgres");
    corepool_testkit::psql_result(&cluster.psql_command(&conninfo, sql).output().unwrap())
}

fn http_get(port: u16, path: &str) -> String {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).expect("metrics address");
    write!(s, "GET {path} HTTP/1.1\r\nHost: corepool\r\n\r\n").unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}

#[test]
#[ignore = "installs a system package: scripts/test-package.sh runs it"]
fn the_package_installs_serves_and_purges_cleanly() {
    let deb = std::env::var_os("COREPOOL_DEB").expect("COREPOOL_DEB names the .deb");
    let deb = deb.to_str().expect("utf-8 path");
    assert_eq!(
        std::fs::metadata("/proc/self").unwrap().uid(),
        0,
        "dpkg needs root"
    );
    // A package left by an interrupted run goes first.
    let _ = Command::new("dpkg").args(["--purge", "corepool"]).output();
    let user_before = user_exists("corepool");
    let before = corepool_paths();

    run("dpkg", &["-i", deb]);
    let version = run("/usr/bin/corepool", &["--version"]);
    assert!(String::from_utf8(version.stdout)
        .unwrap()
        .starts_with("corepool "));
    for page in [
        "corepool.1",
        "corepool-serve.1",
        "corepool-md5.1",
        "corepool-enc.1",
    ] {
        assert!(
            Path::new("/usr/share/man/man1").join(page).exists(),
            "{page}"
        );
    }
    let conffiles =
        String::from_utf8(run("dpkg-query", &["-W", "-f=${Conffiles}", "corepool"]).stdout)
            .unwrap();
    for f in ["pgpool.conf", "pool_hba.conf", "pcp.conf"] {
        assert!(
            conffiles.contains(&format!("/etc/corepool/{f}")),
            "{conffiles}"
        );
    }
    assert!(user_exists("corepool"), "postinst made the system user");
    let conf = std::fs::metadata(CONF).unwrap();
    assert_eq!(conf.mode() & 0o777, 0o640);
    let unit = unit_service();
    assert_eq!(unit["Type"], "notify");
    assert_eq!(unit["User"], "corepool");

    // Point the packaged configuration at a test cluster, as an administrator would.
    let cluster = Cluster::builder().standbys(1).start().expect("cluster");
    let (port, pcp_port, metrics) = (free_port(), free_port(), free_port());
    let mut text = std::fs::read_to_string(CONF).unwrap();
    text.push_str(&format!(
        "\n# test settings\nport = {port}\npcp_port = {pcp_port}\n\
         corepool_metrics_address = '127.0.0.1:{metrics}'\nlisten_addresses = '127.0.0.1'\n\
         backend_hostname0 = '127.0.0.1'\nbackend_port0 = {}\n\
         backend_hostname1 = '127.0.0.1'\nbackend_port1 = {}\nbackend_weight1 = 1\n",
        cluster.primary().port(),
        cluster.standbys()[0].port()
    ));
    std::fs::write(CONF, text).unwrap();

    let systemd = Path::new("/run/systemd/system").is_dir();
    let started = Instant::now();
    let service = if systemd {
        run("systemctl", &["daemon-reload"]);
        // Type=notify: this returns once corepool said READY=1.
        run("systemctl", &["start", "corepool.service"]);
        None
    } else {
        let s = Service::start(&unit);
        let ready = notification(&s.notify);
        assert!(ready.starts_with("READY=1\n"), "{ready}\n{}", s.log());
        Some(s)
    };
    eprintln!("package test: corepool ready after {:?}", started.elapsed());
    let log = || service.as_ref().map(Service::log).unwrap_or_default();

    assert_eq!(
        psql(&cluster, port, "SELECT 6 * 7"),
        Ok("42".into()),
        "{}",
        log()
    );
    let nodes = psql(&cluster, port, "SHOW pool_nodes").unwrap();
    assert_eq!(nodes.lines().count(), 2, "{nodes}");
    let status = http_get(metrics, "/status.json");
    assert!(status.starts_with("HTTP/1.1 200 OK"), "{status}");
    let pid = std::fs::read_to_string("/run/corepool/corepool.pid").expect("pid file");
    assert!(Path::new("/var/lib/corepool/pgpool_status").exists() || !pid.is_empty());

    if let Some(s) = &service {
        assert_eq!(pid.trim(), s.child.id().to_string());
        // ExecReload sends SIGHUP; corepool says RELOADING=1, then READY=1.
        s.signal(
            unit["ExecReload"]
                .split_whitespace()
                .nth(1)
                .unwrap()
                .trim_start_matches('-'),
        );
        assert!(
            notification(&s.notify).starts_with("RELOADING=1"),
            "{}",
            s.log()
        );
        assert!(
            notification(&s.notify).starts_with("READY=1"),
            "{}",
            s.log()
        );
        s.signal(unit["KillSignal"].trim_start_matches("SIG"));
        assert!(
            notification(&s.notify).starts_with("STOPPING=1"),
            "{}",
            s.log()
        );
    } else {
        run("systemctl", &["reload", "corepool.service"]);
        assert_eq!(psql(&cluster, port, "SELECT 1"), Ok("1".into()));
        run("systemctl", &["stop", "corepool.service"]);
    }
    if let Some(mut s) = service {
        let deadline = Instant::now() + Duration::from_secs(30);
        let status = loop {
            if let Some(st) = s.child.try_wait().unwrap() {
                break st;
            }
            assert!(
                Instant::now() < deadline,
                "corepool did not stop\n{}",
                s.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        };
        assert!(status.success(), "{status:?}\n{}", s.log());
        // systemd removes RuntimeDirectory= when the service stops.
        std::fs::remove_dir_all(Path::new("/run").join(&unit["RuntimeDirectory"])).unwrap();
    }
    drop(cluster);

    run("dpkg", &["--purge", "corepool"]);
    let after = corepool_paths();
    let left: Vec<_> = after.difference(&before).collect();
    assert!(left.is_empty(), "left behind by the package: {left:?}");
    let removed: Vec<_> = before.difference(&after).collect();
    assert!(
        removed.is_empty(),
        "removed although not the package's: {removed:?}"
    );
    assert_eq!(
        user_exists("corepool"),
        user_before,
        "the system user is gone again"
    );
    let status = Command::new("dpkg")
        .args(["-s", "corepool"])
        .output()
        .unwrap();
    assert!(!status.status.success(), "dpkg no longer knows corepool");
}
