//! The testkit's only `unsafe`: the libc calls for the effective uid and for signals.
#![allow(unsafe_code)]

use std::fs;

/// The process's effective user id.
pub(crate) fn effective_uid() -> u32 {
    // SAFETY: geteuid takes no arguments, cannot fail and touches no memory of ours.
    unsafe { libc::geteuid() }
}

/// Sends SIGKILL to `pid` and, when `pid` leads its own process group (a postmaster started by
/// `pg_ctl`, which calls `setsid`), to the whole group so no orphaned backend keeps the port or
/// shared memory. Errors (the process is already gone) are ignored.
pub(crate) fn kill_postmaster(pid: i32) {
    if pid <= 1 {
        return;
    }
    let group = process_group(pid) == Some(pid);
    // SAFETY: kill only sends a signal; pid is a positive postmaster pid read from its lock file.
    unsafe {
        libc::kill(pid, libc::SIGKILL);
    }
    if group {
        // SAFETY: a negative pid addresses the process group the postmaster leads; the check
        // above makes sure it is the postmaster's own group, never ours.
        unsafe {
            libc::kill(-pid, libc::SIGKILL);
        }
    }
}

/// Whether `pid` is alive, counting a zombie as dead: in containers whose init does not reap,
/// a killed postmaster stays a zombie forever.
pub(crate) fn is_alive(pid: i32) -> bool {
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat_field(&stat, 0).is_some_and(|state| state != "Z" && state != "X"),
        Err(_) => false,
    }
}

/// The process group of `pid`, from `/proc/<pid>/stat`.
fn process_group(pid: i32) -> Option<i32> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat_field(&stat, 2)?.parse().ok()
}

/// Field `n` of a `/proc/<pid>/stat` line counted from the state field (0 = state, 1 = ppid,
/// 2 = pgrp). The command name may contain spaces, so counting starts after its closing `)`.
fn stat_field(stat: &str, n: usize) -> Option<&str> {
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().nth(n)
}

/// Sends `sig` to process `pid` (a child the testkit started).
pub(crate) fn signal(pid: i32, sig: i32) {
    // SAFETY: kill(2) with a pid and a valid signal number has no memory effects.
    unsafe {
        libc::kill(pid, sig);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_fields_skip_the_command_name() {
        let stat = "42 (post gres) Z 1 42 42 0 -1";
        assert_eq!(stat_field(stat, 0), Some("Z"));
        assert_eq!(stat_field(stat, 2), Some("42"));
    }

    #[test]
    fn this_process_is_alive() {
        assert!(is_alive(std::process::id() as i32));
        assert_eq!(
            process_group(std::process::id() as i32).is_some(),
            cfg!(target_os = "linux")
        );
    }
}
