//! CPU time and memory of a proxy's processes, sampled from `/proc`.
//!
//! PgBouncer is one process and corepool one process with a thread per core: their
//! `/proc/<pid>/stat` already sums every thread. Pgpool-II forks a child per client slot, so
//! its cost is the sum over the process tree. A child that exited and was reaped has its time
//! folded into its parent's `cutime`/`cstime`, so summing `utime + stime + cutime + cstime` over
//! the live tree counts every process exactly once.

use std::collections::HashMap;
use std::fs;
use std::time::Duration;

use anyhow::{anyhow, Context, Result};

use crate::sys;

/// Which processes make up a proxy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProcessSet {
    /// The process we started.
    pub root: u32,
    /// Whether its descendants count too (Pgpool-II's children).
    pub tree: bool,
}

impl ProcessSet {
    /// The pids to sample now: the root, plus its live descendants for a tree.
    pub fn pids(&self) -> Result<Vec<u32>> {
        if self.tree {
            descendants_and_self(self.root)
        } else {
            Ok(vec![self.root])
        }
    }

    /// CPU time (user + system, reaped children included) of the set so far.
    pub fn cpu_time(&self) -> Result<Duration> {
        let ticks_per_second = sys::clock_ticks_per_second();
        let mut ticks = 0;
        for pid in self.pids()? {
            // A child may exit between listing and reading; its time moves to its parent.
            if let Ok(stat) = read_stat(pid) {
                ticks += stat.utime + stat.stime + stat.cutime + stat.cstime;
            }
        }
        Ok(Duration::from_micros(ticks * 1_000_000 / ticks_per_second))
    }

    /// Resident memory of the set, summed over its processes.
    pub fn memory(&self) -> Result<Memory> {
        let mut total = Memory::default();
        for pid in self.pids()? {
            if let Ok(m) = read_memory(pid) {
                total.rss_kib += m.rss_kib;
                total.pss_kib += m.pss_kib;
            }
        }
        Ok(total)
    }
}

/// Resident memory in KiB. Summed RSS counts pages shared between Pgpool-II's forked children
/// once per child; PSS divides each shared page among its sharers, so it sums honestly.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Memory {
    /// Resident set size.
    pub rss_kib: u64,
    /// Proportional set size.
    pub pss_kib: u64,
}

/// The fields of `/proc/<pid>/stat` this crate uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stat {
    ppid: u32,
    utime: u64,
    stime: u64,
    cutime: u64,
    cstime: u64,
}

fn read_stat(pid: u32) -> Result<Stat> {
    let path = format!("/proc/{pid}/stat");
    let text = fs::read_to_string(&path).with_context(|| format!("read {path}"))?;
    parse_stat(&text).ok_or_else(|| anyhow!("cannot parse {path}: {text:?}"))
}

/// Parses `pid (comm) state ppid ... utime stime cutime cstime ...`. The command name may hold
/// spaces and parentheses, so fields are counted from the last `)`.
fn parse_stat(text: &str) -> Option<Stat> {
    let (_, rest) = text.rsplit_once(')')?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // fields[0] is field 3 of proc(5) (state), so field n is fields[n - 3].
    let field = |n: usize| -> Option<u64> { fields.get(n - 3)?.parse().ok() };
    Some(Stat {
        ppid: u32::try_from(field(4)?).ok()?,
        utime: field(14)?,
        stime: field(15)?,
        cutime: field(16)?,
        cstime: field(17)?,
    })
}

/// `root` and every live process descended from it.
pub fn descendants_and_self(root: u32) -> Result<Vec<u32>> {
    let mut children: HashMap<u32, Vec<u32>> = HashMap::new();
    for entry in fs::read_dir("/proc").context("read /proc")? {
        let Some(pid) = entry
            .ok()
            .and_then(|e| e.file_name().to_str()?.parse::<u32>().ok())
        else {
            continue;
        };
        if let Ok(stat) = read_stat(pid) {
            children.entry(stat.ppid).or_default().push(pid);
        }
    }
    let mut out = vec![root];
    let mut next = 0;
    while next < out.len() {
        if let Some(kids) = children.get(&out[next]) {
            out.extend(kids);
        }
        next += 1;
    }
    Ok(out)
}

fn read_memory(pid: u32) -> Result<Memory> {
    let path = format!("/proc/{pid}/smaps_rollup");
    let text = fs::read_to_string(&path).with_context(|| format!("read {path}"))?;
    parse_memory(&text).ok_or_else(|| anyhow!("no Rss/Pss in {path}"))
}

/// Reads the `Rss:` and `Pss:` lines (in kB) of `smaps_rollup`.
fn parse_memory(text: &str) -> Option<Memory> {
    let kib = |key: &str| -> Option<u64> {
        text.lines()
            .find_map(|line| line.strip_prefix(key))?
            .trim()
            .strip_suffix("kB")?
            .trim()
            .parse()
            .ok()
    };
    Some(Memory {
        rss_kib: kib("Rss:")?,
        pss_kib: kib("Pss:")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_stat_with_awkward_command_names() {
        let text = "4242 (pgpool: wait (for) conn) S 4200 4200 4200 0 -1 4194560 500 0 0 0 \
                    17 9 3 2 20 0 1 0 123 1000 200 18446744073709551615";
        let stat = parse_stat(text).unwrap();
        assert_eq!(
            stat,
            Stat {
                ppid: 4200,
                utime: 17,
                stime: 9,
                cutime: 3,
                cstime: 2
            }
        );
        assert_eq!(parse_stat("1 (init) S"), None);
    }

    #[test]
    fn parses_smaps_rollup() {
        let text = "55d0-7ffd ---p 00000000 00:00 0 [rollup]\nRss:  10240 kB\nPss:   4096 kB\n\
                    Pss_Anon: 100 kB\n";
        assert_eq!(
            parse_memory(text),
            Some(Memory {
                rss_kib: 10240,
                pss_kib: 4096
            })
        );
    }

    #[test]
    fn samples_this_process() {
        let me = ProcessSet {
            root: std::process::id(),
            tree: true,
        };
        assert!(me.pids().unwrap().contains(&std::process::id()));
        assert!(me.memory().unwrap().rss_kib > 0);
        me.cpu_time().unwrap();
    }
}
