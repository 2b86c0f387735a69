//! Finding (and first building) the release `corepool` binary the comparisons run.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};

/// `corepool` in the directory of the running program: `cargo run --release -p corepool-bench`
/// and `-p corepool-perf` put their binaries beside it in `<target>/release`.
pub fn default_corepool_path() -> Result<PathBuf> {
    let exe = std::env::current_exe().context("locate this program")?;
    let dir = exe
        .parent()
        .with_context(|| format!("{} has no parent directory", exe.display()))?;
    Ok(dir.join("corepool"))
}

/// Runs `cargo build --release -p corepool` into the target directory that holds `binary`
/// (`<target>/release/corepool`), with the workspace this crate belongs to. Errors carry
/// cargo's first error lines.
pub fn build_corepool(binary: &Path) -> Result<()> {
    let target_dir = binary
        .parent()
        .and_then(Path::parent)
        .with_context(|| format!("{} is not in <target>/release", binary.display()))?;
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("../Cargo.toml");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    eprintln!("building corepool: cargo build --release -p corepool");
    let out = Command::new(cargo)
        .args(["build", "--release", "-p", "corepool", "--manifest-path"])
        .arg(&manifest)
        .arg("--target-dir")
        .arg(target_dir)
        .output()
        .context("run cargo")?;
    if !out.status.success() {
        let stderr = std::str::from_utf8(&out.stderr).unwrap_or("<non-UTF-8 output>");
        let errors: Vec<&str> = stderr
            .lines()
            .filter(|l| l.starts_with("error"))
            .take(3)
            .collect();
        bail!(
            "cargo build --release -p corepool failed: {}",
            errors.join(" / ")
        );
    }
    Ok(())
}

/// The corepool binary to start for `runtime`: `bin` itself, or (`--runtime` given) a small
/// shell script beside it that sets `COREPOOL_RUNTIME` and execs it, so the pid stays
/// corepool's. The bench library writes the proxy's pgpool.conf and starts it; the environment
/// override is how this flag reaches it without changing that code.
pub fn runtime_wrapper(bin: &Path, runtime: Option<Runtime>) -> Result<PathBuf> {
    let Some(runtime) = runtime else {
        return Ok(bin.to_path_buf());
    };
    let name = runtime.name();
    let path = bin
        .to_str()
        .with_context(|| format!("{} is not UTF-8", bin.display()))?;
    let wrapper = PathBuf::from(format!("{path}-{name}.sh"));
    let quoted = path.replace('\'', "'\\''");
    let script = format!("#!/bin/sh\nCOREPOOL_RUNTIME={name} exec '{quoted}' \"$@\"\n");
    std::fs::write(&wrapper, script).with_context(|| format!("write {}", wrapper.display()))?;
    std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755))
        .with_context(|| format!("chmod {}", wrapper.display()))?;
    Ok(wrapper)
}

/// `--runtime`: corepool's shard executor (`corepool_runtime`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Runtime {
    /// glommio shards.
    Glommio,
    /// corepool's io_uring loop.
    #[value(name = "io_uring", alias = "io-uring")]
    IoUring,
}

impl Runtime {
    /// The name `corepool_runtime` and `COREPOOL_RUNTIME` take.
    pub fn name(self) -> &'static str {
        match self {
            Runtime::Glommio => "glommio",
            Runtime::IoUring => "io_uring",
        }
    }
}
