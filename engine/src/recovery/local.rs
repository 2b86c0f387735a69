//! corepool's own recovery, beyond Pgpool-II: for a node whose data directory is on this host
//! and no recovery_1st_stage_command, corepool takes the base backup itself (corepool-backup as
//! a library: `-j corepool_recovery_jobs`, `-R`, a permanent slot) straight into the data
//! directory, starts the server with `pg_ctl` as the directory's owner on backend_portN, and
//! waits until it streams.
//!
//! Nothing is removed while anything shows the node's server still runs: a live
//! `postmaster.pid`, something answering on the node's address, or its slot in use.

use std::net::{TcpListener, TcpStream, ToSocketAddrs};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::{Duration, Instant};

use corepool_backup::{BackupOptions, Checkpoint};
use corepool_client::Connection;

use super::pgctl;
use super::{conn, sql, wait, RecoveryError, Target};
use crate::cluster::NodeAddress;
use crate::config::Config;

/// How long the check that nothing answers on the node's address waits for a connect.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// The data directory corepool's own recovery rebuilds for `node`: when no
/// recovery_1st_stage_command is set and backend_data_directoryN is an absolute path on a
/// node reached over a UNIX socket or an address of this host.
pub(super) fn data_directory(config: &Config, node: usize) -> Option<PathBuf> {
    if !config.recovery_1st_stage_command.trim().is_empty() {
        return None;
    }
    let backend = config.backends.get(node)?;
    let dir = Path::new(&backend.data_directory);
    (dir.is_absolute() && is_this_host(&backend.hostname)).then(|| dir.to_owned())
}

/// Whether `hostname` names this host: a UNIX socket directory (or empty), or a name whose
/// address this host can bind.
fn is_this_host(hostname: &str) -> bool {
    if hostname.is_empty() || hostname.starts_with('/') {
        return true;
    }
    let Ok(addrs) = (hostname, 0).to_socket_addrs() else {
        return false;
    };
    addrs
        .into_iter()
        .any(|a| TcpListener::bind((a.ip(), 0)).is_ok())
}

/// Rebuilds the node's data directory and starts it streaming.
pub(super) fn run(t: &Target<'_>, dir: &Path) -> Result<(), RecoveryError> {
    let config = t.config;
    let address = t.address(t.node);
    refuse_if_running(t.node, dir, &address)?;
    let owner = pgctl::owner_of(dir)?;
    let slot = sql::slot_name(t.node);
    let primary = conn::options(config, t.auth, &t.address(t.primary), "postgres");
    let bindir = prepare_primary(t.node, primary.clone(), &slot)?;
    empty(dir)?;
    tracing::info!(node = t.node, dir = %dir.display(), jobs = config.corepool_recovery_jobs,
        "node recovery: taking a base backup from the primary");
    if let Err(e) = backup(t, dir, primary.clone(), &slot) {
        drop_slot(primary, &slot);
        return Err(e);
    }
    pgctl::give(dir, owner)?;
    let pg_ctl = pgctl::program(bindir.as_deref());
    let socket_dir = match &address {
        NodeAddress::Unix { dir, .. } => Some(dir.as_str()),
        NodeAddress::Tcp { .. } => None,
    };
    let deadline = Instant::now() + config.recovery_timeout;
    pgctl::start(
        &pg_ctl,
        dir,
        address.port(),
        socket_dir,
        owner,
        config.recovery_timeout,
    )
    .map_err(|output| RecoveryError::PgCtl {
        node: t.node,
        output,
    })?;
    tracing::info!(
        node = t.node,
        "node recovery: server started, waiting for it to stream"
    );
    let standby = conn::options(config, t.auth, &address, "postgres");
    let streaming = wait::until_streaming(t.node, standby, deadline, config.recovery_timeout);
    if streaming.is_err() {
        if let Err(e) = pgctl::stop(&pg_ctl, dir, owner) {
            tracing::warn!(node = t.node, error = %e, "could not stop the server that does not stream");
        }
        drop_slot(primary, &slot);
    }
    streaming
}

/// Refuses when the node's server looks alive: its postmaster.pid names a live process, or
/// something accepts connections at its address.
fn refuse_if_running(node: usize, dir: &Path, address: &NodeAddress) -> Result<(), RecoveryError> {
    let running = |why: String| RecoveryError::StillRunning { node, why };
    if let Some(pid) = std::fs::read_to_string(dir.join("postmaster.pid"))
        .ok()
        .and_then(|t| t.lines().next().and_then(|l| l.trim().parse::<u32>().ok()))
    {
        if Path::new("/proc").join(pid.to_string()).exists() {
            return Err(running(format!(
                "postmaster.pid in \"{}\" names process {pid}, which is alive; stop the server first",
                dir.display()
            )));
        }
    }
    let answers = match address {
        NodeAddress::Unix { dir, port } => {
            UnixStream::connect(Path::new(dir).join(format!(".s.PGSQL.{port}"))).is_ok()
        }
        NodeAddress::Tcp { host, port } => (host.as_str(), *port)
            .to_socket_addrs()
            .map(|addrs| {
                addrs
                    .into_iter()
                    .any(|a| TcpStream::connect_timeout(&a, PROBE_TIMEOUT).is_ok())
            })
            .unwrap_or(false),
    };
    if answers {
        return Err(running(format!(
            "something accepts connections at {}:{}; stop the server first",
            address.host(),
            address.port()
        )));
    }
    Ok(())
}

/// On the primary: refuses when the node's slot is in use, drops it when left over from an
/// earlier recovery, and returns the installation directory (None when not readable).
fn prepare_primary(
    node: usize,
    opts: corepool_client::ConnectOptions,
    slot: &str,
) -> Result<Option<String>, RecoveryError> {
    let (active, drop) = (sql::slot_active(slot), sql::drop_slot(slot));
    let slot_name = slot.to_owned();
    conn::run(async move {
        let mut c = Connection::connect(&opts).await.map_err(primary_query)?;
        let result = async {
            let rows = c
                .simple_query(&active)
                .await
                .map_err(primary_query)?;
            match rows.first().map(|r| r.text(0)) {
                Some(Ok(Some("t"))) => {
                    return Err(RecoveryError::StillRunning {
                        node,
                        why: format!("replication slot \"{slot_name}\" is in use on the primary"),
                    })
                }
                Some(_) => {
                    c.simple_query(&drop)
                        .await
                        .map_err(primary_query)?;
                }
                None => {}
            }
            Ok(match c.simple_query(sql::BINDIR).await {
                Ok(rows) => rows
                    .first()
                    .and_then(|r| r.text(0).ok().flatten().map(str::to_owned)),
                Err(e) => {
                    tracing::info!(error = %e, "node recovery: the primary's BINDIR is not readable; using pg_ctl from PATH");
                    None
                }
            })
        }
        .await;
        c.close().await;
        result
    })
}

/// Removes everything inside `dir` (the directory itself, its owner and mode stay).
fn empty(dir: &Path) -> Result<(), RecoveryError> {
    let fail = |e: std::io::Error| RecoveryError::DataDirectory {
        dir: dir.to_owned(),
        why: format!("could not empty it: {e}"),
    };
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(fail(e)),
    };
    for entry in entries {
        let entry = entry.map_err(fail)?;
        let path = entry.path();
        if entry.file_type().map_err(fail)?.is_dir() {
            std::fs::remove_dir_all(&path).map_err(fail)?;
        } else {
            std::fs::remove_file(&path).map_err(fail)?;
        }
    }
    Ok(())
}

/// The base backup straight into `dir`, on the backup's own executors (not a shard's).
fn backup(
    t: &Target<'_>,
    dir: &Path,
    primary: corepool_client::ConnectOptions,
    slot: &str,
) -> Result<(), RecoveryError> {
    let config = t.config;
    let address = t.address(t.primary);
    let mut values = vec![("user".to_owned(), config.recovery_user.clone())];
    if let Some(p) = conn::plain_password(config, t.auth) {
        values.push(("password".into(), p));
    }
    values.push(("host".into(), address.host().to_owned()));
    values.push(("port".into(), address.port().to_string()));
    let app = config
        .backends
        .get(t.node)
        .map(|b| b.application_name.clone())
        .unwrap_or_default();
    if !app.is_empty() {
        values.push(("application_name".into(), app));
    }
    let mut opts = BackupOptions::new(primary, dir);
    opts.jobs = config.corepool_recovery_jobs.max(1) as usize;
    opts.write_recovery_conf = true;
    opts.slot = Some(slot.to_owned());
    opts.create_slot = true;
    opts.checkpoint = Checkpoint::Fast;
    opts.label = format!("corepool recovery of node {}", t.node);
    opts.conninfo_values = values;
    corepool_backup::run(opts, Arc::new(AtomicBool::new(false)))
        .map(drop)
        .map_err(|e| RecoveryError::Backup {
            node: t.node,
            source: Box::new(e),
        })
}

fn primary_query(e: corepool_client::ClientError) -> RecoveryError {
    RecoveryError::PrimaryQuery(Box::new(e))
}

/// Drops the node's slot after a failure (best effort: a later recovery drops it too).
fn drop_slot(opts: corepool_client::ConnectOptions, slot: &str) {
    let drop = sql::drop_slot(slot);
    let outcome = conn::run(async move {
        if let Ok(mut c) = Connection::connect(&opts).await {
            let _ = c.simple_query(&drop).await;
            c.close().await;
        }
        Ok(())
    });
    if let Err(e) = outcome {
        tracing::warn!(error = %e, "could not drop the recovery's replication slot");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::BackendConfig;

    #[test]
    fn own_recovery_needs_a_local_absolute_directory_and_no_script() {
        let mut config = Config::default();
        for (host, dir) in [
            ("127.0.0.1", "/srv/pg/1"),
            ("/var/run/postgresql", "/srv/pg/2"),
            ("127.0.0.1", "relative/dir"),
            ("192.0.2.1", "/srv/pg/4"),
            ("localhost", ""),
        ] {
            config.backends.push(BackendConfig {
                hostname: host.into(),
                data_directory: dir.into(),
                ..BackendConfig::default()
            });
        }
        let found: Vec<_> = (0..5).map(|i| data_directory(&config, i)).collect();
        assert_eq!(found[0], Some(PathBuf::from("/srv/pg/1")));
        assert_eq!(found[1], Some(PathBuf::from("/srv/pg/2")));
        assert_eq!(found[2], None, "a relative path");
        assert_eq!(found[3], None, "TEST-NET-1 is not this host");
        assert_eq!(found[4], None, "no data directory");
        config.recovery_1st_stage_command = "recovery_1st_stage".into();
        assert_eq!(data_directory(&config, 0), None, "a script is configured");
    }

    #[test]
    fn emptying_keeps_the_directory() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("base/1")).unwrap();
        std::fs::write(dir.path().join("base/1/123"), b"x").unwrap();
        std::fs::write(dir.path().join("PG_VERSION"), b"15\n").unwrap();
        empty(dir.path()).unwrap();
        assert!(dir.path().is_dir());
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
        empty(&dir.path().join("gone")).unwrap();
    }

    #[test]
    fn a_live_postmaster_pid_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let me = std::process::id();
        std::fs::write(dir.path().join("postmaster.pid"), format!("{me}\n/data\n")).unwrap();
        let nowhere = NodeAddress::Unix {
            dir: dir.path().display().to_string(),
            port: 1,
        };
        let e = refuse_if_running(1, dir.path(), &nowhere).unwrap_err();
        assert!(
            matches!(e, RecoveryError::StillRunning { node: 1, .. }),
            "{e:?}"
        );
        std::fs::write(dir.path().join("postmaster.pid"), "999999999\n").unwrap();
        assert!(refuse_if_running(1, dir.path(), &nowhere).is_ok());
    }
}
