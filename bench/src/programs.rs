//! Where each target's program is: the peers built from source (PgBouncer 1.25, PgDog) in the
//! peers directory outside the repository, Debian's PgBouncer 1.18 and Pgpool-II on the PATH,
//! corepool and the byte pump from this workspace's build. A program that is absent is a
//! reason to skip its targets (said in the report), not an error: a fresh clone without the
//! peers directory still runs the rest.

use std::path::{Path, PathBuf};

use crate::kind::TargetKind;

/// The peers directory when `--peers-dir` is not given: `shared/peers` beside the checkout's
/// parent (`../shared/peers` from the repository root), where the team keeps the built peers.
pub fn default_peers_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/peers");
    dir.canonicalize().unwrap_or(dir)
}

/// The programs a run may start.
#[derive(Debug, Clone, Default)]
pub struct Programs {
    /// The peers directory (`bin/pgbouncer-1.25`, `bin/pgdog`).
    pub peers_dir: PathBuf,
    /// The `corepool` binary.
    pub corepool: PathBuf,
    /// corepool-baseline's binary (`None`: the same as `corepool`).
    pub corepool_baseline: Option<PathBuf>,
    /// The byte pump (`pump`).
    pub pump: PathBuf,
}

impl Programs {
    /// The program `kind` runs, or why it cannot be had. [`TargetKind::Direct`] runs none.
    pub fn locate(&self, kind: TargetKind) -> Result<PathBuf, String> {
        let peer = |name: &str| {
            let path = self.peers_dir.join("bin").join(name);
            if path.is_file() {
                Ok(path)
            } else {
                Err(format!(
                    "absent: no {} (build it with the peers directory's build scripts, or \
                     point --peers-dir at a directory with bin/{name})",
                    path.display()
                ))
            }
        };
        let built = |path: &Path, how: &str| {
            if path.is_file() {
                Ok(path.to_path_buf())
            } else {
                Err(format!("absent: no {} ({how})", path.display()))
            }
        };
        match kind {
            TargetKind::Direct => Err("direct runs no program".into()),
            TargetKind::PumpEpoll | TargetKind::PumpUring => built(
                &self.pump,
                "cargo build --release -p corepool-bench --bin pump",
            ),
            TargetKind::Pgbouncer125Transaction | TargetKind::Pgbouncer125Session => {
                peer("pgbouncer-1.25")
            }
            TargetKind::Pgdog => peer("pgdog"),
            TargetKind::Pgbouncer118Transaction | TargetKind::Pgbouncer118Session => {
                find_program("pgbouncer")
            }
            TargetKind::Pgpool => find_program("pgpool"),
            TargetKind::Corepool => built(&self.corepool, "cargo build --release -p corepool"),
            TargetKind::CorepoolBaseline => match &self.corepool_baseline {
                Some(bin) => built(bin, "--corepool-baseline-bin names it"),
                None => built(&self.corepool, "cargo build --release -p corepool"),
            },
        }
    }
}

/// `name` on PATH or in the sbin directories Debian installs daemons into.
fn find_program(name: &str) -> Result<PathBuf, String> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/usr/local/sbin", "/sbin"].map(PathBuf::from))
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
        .ok_or_else(|| format!("absent: {name} not on PATH or in /usr/sbin (run scripts/setup.sh)"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn absent_peers_are_reasons_not_errors() {
        let programs = Programs {
            peers_dir: "/nonexistent/peers".into(),
            corepool: "/nonexistent/corepool".into(),
            corepool_baseline: None,
            pump: "/nonexistent/pump".into(),
        };
        let why = programs.locate(TargetKind::Pgdog).unwrap_err();
        assert!(why.contains("/nonexistent/peers/bin/pgdog"), "{why}");
        let why = programs.locate(TargetKind::PumpUring).unwrap_err();
        assert!(why.contains("--bin pump"), "{why}");
        assert!(programs.locate(TargetKind::Direct).is_err());
        assert!(default_peers_dir().ends_with("shared/peers"));
    }
}
