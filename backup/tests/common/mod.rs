//! Helpers shared by the integration tests: finding the PostgreSQL and GNU tar binaries.

use std::path::PathBuf;

/// Finds `name` on `PATH` or in a Debian-style `/usr/lib/postgresql/<major>/bin`, newest first.
pub fn find_binary(name: &str) -> Option<PathBuf> {
    let from_path = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .unwrap_or_default();
    let mut pg_dirs: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .map(|d| d.flatten().map(|e| e.path().join("bin")).collect())
        .unwrap_or_default();
    pg_dirs.sort();
    pg_dirs.reverse();
    from_path
        .into_iter()
        .chain(pg_dirs)
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
}

/// Like [`find_binary`], but says on stderr that the test is skipped when it is missing.
pub fn require_binary(name: &str) -> Option<PathBuf> {
    let found = find_binary(name);
    if found.is_none() {
        eprintln!("{name} not found: skipping this test");
    }
    found
}
