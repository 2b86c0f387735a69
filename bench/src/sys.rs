//! The crate's only `unsafe`: raising RLIMIT_NOFILE, signalling process groups, reading CLK_TCK.
#![allow(unsafe_code)]

use std::io;

/// Raises this process's soft RLIMIT_NOFILE to its hard limit and returns the new soft limit.
/// Children (PgBouncer, Pgpool-II, corepool, pgbench) inherit it, so 10,000 idle clients fit.
pub fn raise_nofile_limit() -> io::Result<u64> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `limit` is a valid, writable rlimit for getrlimit to fill in.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        return Err(io::Error::last_os_error());
    }
    if limit.rlim_cur < limit.rlim_max {
        limit.rlim_cur = limit.rlim_max;
        // SAFETY: `limit` is a valid rlimit; setrlimit only reads it.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &limit) } != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(limit.rlim_cur)
}

/// A signal this crate sends to proxies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    /// Fast shutdown for Pgpool-II and corepool.
    Interrupt,
    /// Immediate shutdown for PgBouncer.
    Terminate,
    /// The last resort.
    Kill,
}

impl Signal {
    fn number(self) -> libc::c_int {
        match self {
            Signal::Interrupt => libc::SIGINT,
            Signal::Terminate => libc::SIGTERM,
            Signal::Kill => libc::SIGKILL,
        }
    }
}

/// Sends `signal` to process `pid`. A process that is already gone is not an error.
pub fn signal_process(pid: u32, signal: Signal) -> io::Result<()> {
    send(pid_t(pid)?, signal)
}

/// Sends `signal` to every process in process group `pgid` (a proxy spawned with
/// `process_group(0)` and the children it forked). An empty group is not an error.
pub fn signal_group(pgid: u32, signal: Signal) -> io::Result<()> {
    send(-pid_t(pgid)?, signal)
}

fn pid_t(pid: u32) -> io::Result<libc::pid_t> {
    match libc::pid_t::try_from(pid) {
        Ok(p) if p > 1 => Ok(p),
        _ => Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("refusing to signal pid {pid}"),
        )),
    }
}

fn send(target: libc::pid_t, signal: Signal) -> io::Result<()> {
    // SAFETY: kill(2) has no memory-safety preconditions; `target` is never 0, 1, -1 or 0's
    // negation (pid_t rejects pids <= 1), so it cannot hit our own group or every process.
    if unsafe { libc::kill(target, signal.number()) } == 0 {
        return Ok(());
    }
    let err = io::Error::last_os_error();
    if err.raw_os_error() == Some(libc::ESRCH) {
        Ok(())
    } else {
        Err(err)
    }
}

/// Clock ticks per second, the unit of utime/stime in `/proc/<pid>/stat` (almost always 100).
pub fn clock_ticks_per_second() -> u64 {
    // SAFETY: sysconf has no preconditions.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    u64::try_from(ticks).ok().filter(|&t| t > 0).unwrap_or(100)
}
