//! The recovered data directory's owner, and the programs run as that owner: `chown -R` after
//! the base backup (taken by this process, so as root when corepool runs as root) and
//! `pg_ctl start` / `pg_ctl stop`.

use std::os::unix::fs::MetadataExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use super::RecoveryError;

/// The pg_ctl log of a server corepool started, inside its data directory.
pub const START_LOG: &str = "corepool_recovery.log";

/// Who runs the recovered server: the data directory's owner.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Owner {
    uid: u32,
    gid: u32,
    /// Whether corepool runs as root and so must become the owner to run its programs.
    switch: bool,
}

/// The owner of `dir`, or of its parent when `dir` is gone (a wiped node). PostgreSQL refuses
/// to run as root, and a user other than root can only start a server it owns.
pub(super) fn owner_of(dir: &Path) -> Result<Owner, RecoveryError> {
    let bad = |why: String| RecoveryError::DataDirectory {
        dir: dir.to_owned(),
        why,
    };
    let (meta, of) = match std::fs::metadata(dir) {
        Ok(m) => (m, dir.to_owned()),
        Err(_) => {
            let parent = dir.parent().unwrap_or(Path::new("/"));
            let m = std::fs::metadata(parent).map_err(|e| {
                bad(format!(
                    "neither it nor its parent \"{}\" can be read: {e}",
                    parent.display()
                ))
            })?;
            (m, parent.to_owned())
        }
    };
    let euid = crate::runtime::effective_uid();
    if euid == 0 && meta.uid() == 0 {
        return Err(bad(format!(
            "\"{}\" is owned by root, and PostgreSQL cannot run as root: give it to the server's user",
            of.display()
        )));
    }
    if euid != 0 && meta.uid() != euid {
        return Err(bad(format!(
            "\"{}\" belongs to uid {}, and corepool (uid {euid}) can start a server only as itself unless run as root",
            of.display(),
            meta.uid()
        )));
    }
    Ok(Owner {
        uid: meta.uid(),
        gid: meta.gid(),
        switch: euid == 0,
    })
}

/// Gives `dir` and everything under it to `owner` (links themselves, not their targets). Does
/// nothing when corepool already runs as the owner.
pub(super) fn give(dir: &Path, owner: Owner) -> Result<(), RecoveryError> {
    if !owner.switch {
        return Ok(());
    }
    let fail = |path: &Path, e: std::io::Error| RecoveryError::DataDirectory {
        dir: dir.to_owned(),
        why: format!(
            "could not give \"{}\" to uid {}: {e}",
            path.display(),
            owner.uid
        ),
    };
    let mut pending = vec![dir.to_owned()];
    while let Some(path) = pending.pop() {
        let meta = std::fs::symlink_metadata(&path).map_err(|e| fail(&path, e))?;
        std::os::unix::fs::lchown(&path, Some(owner.uid), Some(owner.gid))
            .map_err(|e| fail(&path, e))?;
        if meta.is_dir() {
            for entry in std::fs::read_dir(&path).map_err(|e| fail(&path, e))? {
                pending.push(entry.map_err(|e| fail(&path, e))?.path());
            }
        }
    }
    Ok(())
}

/// `pg_ctl start -w` of `dir` as `owner`, listening on `port` whatever the copied
/// postgresql.conf says (and in `socket_dir` when the node is reached over a UNIX socket),
/// waiting at most `timeout` for the server to accept connections.
pub(super) fn start(
    pg_ctl: &Path,
    dir: &Path,
    port: u16,
    socket_dir: Option<&str>,
    owner: Owner,
    timeout: Duration,
) -> Result<(), String> {
    let mut server_options = format!("-p {port}");
    if let Some(sock) = socket_dir {
        server_options.push_str(&format!(" -k '{}'", sock.replace('\'', "'\\''")));
    }
    let mut cmd = Command::new(pg_ctl);
    cmd.arg("start")
        .arg("-w")
        .args(["-t", &timeout.as_secs().max(1).to_string()])
        .arg("-D")
        .arg(dir)
        .arg("-l")
        .arg(dir.join(START_LOG))
        .args(["-o", &server_options]);
    run_as(&mut cmd, dir, owner)
}

/// `pg_ctl stop -m fast -w` of `dir` as `owner` (after a failed wait).
pub(super) fn stop(pg_ctl: &Path, dir: &Path, owner: Owner) -> Result<(), String> {
    let mut cmd = Command::new(pg_ctl);
    cmd.args(["stop", "-m", "fast", "-w", "-D"]).arg(dir);
    run_as(&mut cmd, dir, owner)
}

/// `<bindir>/pg_ctl` when the primary's installation directory exists here too, else `pg_ctl`
/// on PATH.
pub(super) fn program(bindir: Option<&str>) -> PathBuf {
    bindir
        .map(|b| Path::new(b).join("pg_ctl"))
        .filter(|p| p.is_file())
        .unwrap_or_else(|| PathBuf::from("pg_ctl"))
}

fn run_as(cmd: &mut Command, dir: &Path, owner: Owner) -> Result<(), String> {
    // pg_ctl resolves its own path from the working directory, which the owner must be able
    // to read.
    cmd.current_dir(dir)
        .stdin(Stdio::null())
        .env_remove("PGDATA")
        .env_remove("PGPORT");
    if owner.switch {
        cmd.uid(owner.uid).gid(owner.gid);
    }
    let out = cmd
        .output()
        .map_err(|e| format!("could not run {:?}: {e}", cmd.get_program()))?;
    if out.status.success() {
        return Ok(());
    }
    let text = std::str::from_utf8(&out.stderr)
        .unwrap_or("(its output is not UTF-8)")
        .trim();
    let log = std::fs::read_to_string(dir.join(START_LOG)).unwrap_or_default();
    let tail: Vec<&str> = log.lines().rev().take(5).collect();
    let tail: Vec<&str> = tail.into_iter().rev().collect();
    Err(format!("{} ({}); {}", text, out.status, tail.join(" / ")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pg_ctl_falls_back_to_the_path() {
        assert_eq!(program(None), PathBuf::from("pg_ctl"));
        assert_eq!(program(Some("/nonexistent/bin")), PathBuf::from("pg_ctl"));
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("pg_ctl"), "").unwrap();
        let bindir = dir.path().to_str().unwrap();
        assert_eq!(program(Some(bindir)), dir.path().join("pg_ctl"));
    }

    #[test]
    fn a_missing_directory_takes_its_parents_owner() {
        let dir = tempfile::tempdir().unwrap();
        let gone = dir.path().join("data");
        let meta = std::fs::metadata(dir.path()).unwrap();
        match owner_of(&gone) {
            Ok(o) => assert_eq!((o.uid, o.gid), (meta.uid(), meta.gid())),
            // Run as root, the temp dir is root's: refused, naming the parent.
            Err(e) => assert!(e.detail().unwrap().contains("owned by root"), "{e:?}"),
        }
    }
}
