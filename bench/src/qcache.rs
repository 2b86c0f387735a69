//! The query-cache comparison (`compare-query-cache`): a read-mostly pgbench script over a hot
//! set of rows, against PostgreSQL direct, corepool without and with its query cache, and
//! Pgpool-II 4.3 with its shmem query cache.
//!
//! The script reads one of `hot_rows` accounts by key (each key is one distinct query: its
//! text in `-M simple`, its Bind parameter in `-M extended`) and in `writes_percent` of the
//! transactions updates one: the same table ([`WriteTarget::SameTable`], which invalidates
//! every cached read of it, in Pgpool-II as in corepool, since both invalidate per table) or
//! pgbench_tellers ([`WriteTarget::OtherTable`], which leaves the hot set cached).

use std::fmt::Write as _;
use std::path::Path;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use corepool_testkit::Cluster;

use crate::pgbench::{self, QueryMode, Summary, DATABASE, USER};

/// Which table the script's writes update.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteTarget {
    /// pgbench_accounts, the table the reads read.
    SameTable,
    /// pgbench_tellers, a table no read reads.
    OtherTable,
}

/// The pgbench script for `hot_rows` keys and `writes_percent` % updates.
pub fn script(hot_rows: u32, writes_percent: u32, target: WriteTarget) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "\\set aid random(1, {})", hot_rows.max(1));
    let _ = writeln!(s, "\\set r random(1, 100)");
    let _ = writeln!(s, "\\if :r <= {writes_percent}");
    match target {
        WriteTarget::SameTable => {
            let _ = writeln!(
                s,
                "UPDATE pgbench_accounts SET abalance = abalance + 1 WHERE aid = :aid;"
            );
        }
        WriteTarget::OtherTable => {
            let _ = writeln!(
                s,
                "UPDATE pgbench_tellers SET tbalance = tbalance + 1 WHERE tid = :aid % 10 + 1;"
            );
        }
    }
    let _ = writeln!(s, "\\else");
    let _ = writeln!(s, "SELECT abalance FROM pgbench_accounts WHERE aid = :aid;");
    let _ = writeln!(s, "\\endif");
    s
}

/// The settings that turn the query cache on, for corepool's and Pgpool-II's pgpool.conf
/// (`oiddir` is Pgpool-II's table-OID directory; corepool accepts and ignores it).
pub fn cache_settings(oiddir: &Path) -> Vec<(String, String)> {
    [
        ("memory_cache_enabled", "on".to_owned()),
        ("memqcache_method", "'shmem'".to_owned()),
        ("memqcache_total_size", "'64MB'".to_owned()),
        ("memqcache_max_num_cache", "100000".to_owned()),
        ("memqcache_expire", "0".to_owned()),
        ("memqcache_auto_cache_invalidation", "on".to_owned()),
        ("memqcache_maxcache", "'400kB'".to_owned()),
        ("memqcache_cache_block_size", "'1MB'".to_owned()),
        ("memqcache_oiddir", format!("'{}'", oiddir.display())),
    ]
    .map(|(k, v)| (k.to_owned(), v))
    .to_vec()
}

/// Runs `script_path` with `clients` clients in `mode` for `duration` against
/// 127.0.0.1:`port`.
pub fn run(
    cluster: &Cluster,
    port: u16,
    script_path: &Path,
    clients: u32,
    mode: QueryMode,
    duration: Duration,
) -> Result<Summary> {
    let threads = clients.clamp(1, 2);
    let out = cluster
        .command("pgbench")
        .args(["-h", "127.0.0.1", "-p", &port.to_string(), "-U", USER, "-n"])
        .args(["-T", &duration.as_secs().max(1).to_string()])
        .args(["-c", &clients.to_string(), "-j", &threads.to_string()])
        .args(["-M", mode.as_str(), "-f"])
        .arg(script_path)
        .arg(DATABASE)
        .output()
        .context("run pgbench")?;
    let stdout = String::from_utf8(out.stdout).context("pgbench output is not UTF-8")?;
    if !out.status.success() {
        bail!("pgbench exited with {}: {stdout}", out.status);
    }
    pgbench::parse(&stdout)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_script_reads_the_hot_set_and_writes_a_share_of_the_time() {
        let s = script(1000, 5, WriteTarget::SameTable);
        assert!(s.starts_with("\\set aid random(1, 1000)\n"), "{s}");
        assert!(s.contains("\\if :r <= 5\nUPDATE pgbench_accounts"), "{s}");
        assert!(s.contains("SELECT abalance FROM pgbench_accounts WHERE aid = :aid;"));
        assert!(script(10, 1, WriteTarget::OtherTable).contains("pgbench_tellers"));
        let settings = cache_settings(Path::new("/tmp/o"));
        assert!(settings.contains(&("memqcache_oiddir".into(), "'/tmp/o'".into())));
    }
}
