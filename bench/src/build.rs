//! Finding (and first building) the release binaries the comparisons start: `corepool` and the
//! byte pump, beside the running program in `<target>/release`.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};

/// `name` in the directory of the running program: `cargo run --release -p corepool-bench`
/// and `-p corepool-perf` put their binaries beside it in `<target>/release`.
pub fn sibling_path(name: &str) -> Result<PathBuf> {
    let exe = std::env::current_exe().context("locate this program")?;
    let dir = exe
        .parent()
        .with_context(|| format!("{} has no parent directory", exe.display()))?;
    Ok(dir.join(name))
}

/// `corepool` beside the running program (see [`sibling_path`]).
pub fn default_corepool_path() -> Result<PathBuf> {
    sibling_path("corepool")
}

/// Runs `cargo build --release -p corepool` into the target directory that holds `binary`
/// (`<target>/release/corepool`), with the workspace this crate belongs to. Errors carry
/// cargo's first error lines.
pub fn build_corepool(binary: &Path) -> Result<()> {
    cargo_build(binary, &["-p", "corepool"])
}

/// Runs `cargo build --release -p corepool-bench --bin pump` into the target directory that
/// holds `binary`.
pub fn build_pump(binary: &Path) -> Result<()> {
    cargo_build(binary, &["-p", "corepool-bench", "--bin", "pump"])
}

fn cargo_build(binary: &Path, what: &[&str]) -> Result<()> {
    let target_dir = binary
        .parent()
        .and_then(Path::parent)
        .with_context(|| format!("{} is not in <target>/release", binary.display()))?;
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("../Cargo.toml");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let shown = format!("cargo build --release {}", what.join(" "));
    eprintln!("building: {shown}");
    let out = Command::new(cargo)
        .args(["build", "--release"])
        .args(what)
        .arg("--manifest-path")
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
        bail!("{shown} failed: {}", errors.join(" / "));
    }
    Ok(())
}
