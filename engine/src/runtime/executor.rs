//! Starting one pinned executor per core (glommio or the io_uring loop), and the process limits
//! they need.

use std::future::Future;
use std::io;
use std::net::{SocketAddr, TcpListener as StdListener};
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{mpsc, Arc};
use std::time::Duration;

use glommio::{LocalExecutorBuilder, Placement};

use super::{uring, RuntimeKind};

/// What the shards are started with.
#[derive(Debug, Clone)]
pub struct ExecutorSettings {
    /// Number of shards; 0 means one per online CPU.
    pub shards: usize,
    /// Pin each shard to its own CPU (shard i on CPU i modulo the CPU count).
    pub pin: bool,
    /// Bytes of io_uring registered buffers each shard asks for. The proxy does not use
    /// registered buffers on its query path, so a small value is enough; the backup wants more.
    pub io_memory: usize,
    /// Name prefix of the shard threads (`corepool-shard-0`, …).
    pub name: String,
    /// Which executor runs the shards.
    pub runtime: RuntimeKind,
}

impl Default for ExecutorSettings {
    fn default() -> Self {
        Self {
            shards: 0,
            pin: true,
            io_memory: 1 << 20,
            name: "corepool-shard".into(),
            runtime: RuntimeKind::default(),
        }
    }
}

impl ExecutorSettings {
    /// The shard count after resolving 0 to the CPU count.
    pub fn shard_count(&self) -> usize {
        if self.shards > 0 {
            self.shards
        } else {
            std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1)
        }
    }
}

/// A running shard: join it to wait for its end.
pub struct ShardHandle {
    /// Shard number, 0-based.
    pub id: usize,
    handle: ShardThread,
}

/// The thread of a shard, by runtime.
enum ShardThread {
    Glommio(glommio::ExecutorJoinHandle<()>),
    Uring(std::thread::JoinHandle<io::Result<()>>),
}

impl ShardHandle {
    /// Waits for the shard's executor thread to end. Spawn errors surface here.
    pub fn join(self) -> io::Result<()> {
        let id = self.id;
        match self.handle {
            ShardThread::Glommio(h) => h
                .join()
                .map_err(|e| io::Error::other(format!("shard {id}: {e}"))),
            ShardThread::Uring(h) => match h.join() {
                Ok(result) => {
                    result.map_err(|e| io::Error::new(e.kind(), format!("shard {id}: {e}")))
                }
                Err(_) => Err(io::Error::other(format!("shard {id} panicked"))),
            },
        }
    }
}

/// Starts `settings.shard_count()` executors, each running `shard(id)`.
///
/// Before spawning, RLIMIT_MEMLOCK is raised (when allowed) or `io_memory` shrunk to fit, because
/// glommio registers each executor's io memory against that limit and only logs a warning when
/// the registration fails.
pub fn start_shards<F, Fut>(settings: &ExecutorSettings, shard: F) -> io::Result<Vec<ShardHandle>>
where
    F: Fn(usize) -> Fut + Send + Clone + 'static,
    Fut: Future<Output = ()> + 'static,
{
    let count = settings.shard_count();
    if settings.runtime == RuntimeKind::IoUring {
        return start_uring_shards(settings, count, shard);
    }
    let io_memory = fit_io_memory(settings.io_memory, count);
    let cpus = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let mut handles = Vec::with_capacity(count);
    for id in 0..count {
        let placement = if settings.pin {
            Placement::Fixed(id % cpus)
        } else {
            Placement::Unbound
        };
        let shard = shard.clone();
        let handle = LocalExecutorBuilder::new(placement)
            .name(&format!("{}-{id}", settings.name))
            .io_memory(io_memory)
            .spawn(move || shard(id))
            .map_err(|e| io::Error::other(format!("cannot start shard {id}: {e}")))?;
        handles.push(ShardHandle {
            id,
            handle: ShardThread::Glommio(handle),
        });
    }
    Ok(handles)
}

/// [`start_shards`] for the io_uring runtime: one thread per shard, each running
/// [`uring::run`], pinned like glommio's `Placement::Fixed`.
fn start_uring_shards<F, Fut>(
    settings: &ExecutorSettings,
    count: usize,
    shard: F,
) -> io::Result<Vec<ShardHandle>>
where
    F: Fn(usize) -> Fut + Send + Clone + 'static,
    Fut: Future<Output = ()> + 'static,
{
    let cpus = if settings.pin {
        allowed_cpus()
    } else {
        Vec::new()
    };
    let mut handles = Vec::with_capacity(count);
    for id in 0..count {
        let shard = shard.clone();
        let cpu = (!cpus.is_empty()).then(|| cpus[id % cpus.len()]);
        let handle = std::thread::Builder::new()
            .name(format!("{}-{id}", settings.name))
            .spawn(move || {
                if let Some(cpu) = cpu {
                    if let Err(e) = pin_to_cpu(cpu) {
                        tracing::warn!(shard = id, cpu, error = %e, "could not pin the shard");
                    }
                }
                super::client_io::install();
                uring::run(shard(id))
            })
            .map_err(|e| io::Error::other(format!("cannot start shard {id}: {e}")))?;
        handles.push(ShardHandle {
            id,
            handle: ShardThread::Uring(handle),
        });
    }
    Ok(handles)
}

/// The CPUs this process may run on, in order (glommio's placement picks among the same).
fn allowed_cpus() -> Vec<usize> {
    // SAFETY: cpu_set_t is a plain bit array; all zeroes is a valid empty set.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: `set` is a valid, writable cpu_set_t of the size passed.
    let rc =
        unsafe { libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) };
    if rc != 0 {
        return Vec::new();
    }
    (0..libc::CPU_SETSIZE as usize)
        // SAFETY: `cpu` is below CPU_SETSIZE, the bit count of `set`.
        .filter(|&cpu| unsafe { libc::CPU_ISSET(cpu, &set) })
        .collect()
}

/// Pins the calling thread to `cpu`.
fn pin_to_cpu(cpu: usize) -> io::Result<()> {
    // SAFETY: as in `allowed_cpus`: an all-zero cpu_set_t is an empty set.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: `cpu` comes from `allowed_cpus`, so it is below CPU_SETSIZE.
    unsafe { libc::CPU_SET(cpu, &mut set) };
    // SAFETY: `set` is a valid cpu_set_t of the size passed; 0 is the calling thread.
    let rc = unsafe { libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Fails when another socket already listens on `addr`.
///
/// glommio's listener always sets SO_REUSEPORT, so without this check a second corepool (or any
/// SO_REUSEPORT server) on the same port would silently share the traffic.
pub fn check_port_free(addr: SocketAddr) -> io::Result<()> {
    match StdListener::bind(addr) {
        Ok(l) => {
            drop(l);
            Ok(())
        }
        Err(e) if e.kind() == io::ErrorKind::AddrInUse => Err(io::Error::new(
            io::ErrorKind::AddrInUse,
            format!("could not bind {addr}: address already in use (is another server running on this port?)"),
        )),
        Err(e) => Err(io::Error::new(e.kind(), format!("could not bind {addr}: {e}"))),
    }
}

/// Raises the soft RLIMIT_NOFILE to the hard limit; returns the new soft limit.
pub fn raise_fd_limit() -> io::Result<u64> {
    let (soft, hard) = get_rlimit(libc::RLIMIT_NOFILE)?;
    if soft < hard {
        set_rlimit(libc::RLIMIT_NOFILE, hard, hard)?;
    }
    Ok(hard.max(soft))
}

/// Returns the io_memory each executor can register without exceeding RLIMIT_MEMLOCK.
fn fit_io_memory(wanted: usize, shards: usize) -> usize {
    let need = (wanted as u64).saturating_mul(shards as u64);
    let Ok((soft, hard)) = get_rlimit(libc::RLIMIT_MEMLOCK) else {
        return wanted;
    };
    if soft == libc::RLIM_INFINITY || soft >= need {
        return wanted;
    }
    // Root (or a generous hard limit) can raise the soft limit.
    let target = if hard == libc::RLIM_INFINITY {
        need
    } else {
        need.min(hard)
    };
    if set_rlimit(libc::RLIMIT_MEMLOCK, target, hard).is_ok() && target >= need {
        tracing::info!(
            rlimit.memlock = target,
            "raised RLIMIT_MEMLOCK for io_uring buffers"
        );
        return wanted;
    }
    if set_rlimit(
        libc::RLIMIT_MEMLOCK,
        libc::RLIM_INFINITY,
        libc::RLIM_INFINITY,
    )
    .is_ok()
    {
        tracing::info!("raised RLIMIT_MEMLOCK to unlimited for io_uring buffers");
        return wanted;
    }
    let (soft, _) = get_rlimit(libc::RLIMIT_MEMLOCK).unwrap_or((soft, hard));
    // Leave a quarter of the limit for everything else that locks memory.
    let fitted = ((soft / 4 * 3) / shards.max(1) as u64) as usize;
    tracing::info!(
        io_memory.wanted = wanted,
        io_memory.fitted = fitted,
        rlimit.memlock = soft,
        "RLIMIT_MEMLOCK is low and cannot be raised; shrinking each shard's io memory to fit"
    );
    fitted.max(64 * 1024)
}

// rlim_t is u64 here but u32 on 32-bit targets, hence the casts.
#[allow(clippy::unnecessary_cast)]
fn get_rlimit(resource: libc::__rlimit_resource_t) -> io::Result<(u64, u64)> {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `lim` is a valid, writable rlimit struct for the duration of the call.
    let rc = unsafe { libc::getrlimit(resource, &mut lim) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok((lim.rlim_cur as u64, lim.rlim_max as u64))
}

fn set_rlimit(resource: libc::__rlimit_resource_t, soft: u64, hard: u64) -> io::Result<()> {
    let lim = libc::rlimit {
        rlim_cur: soft as libc::rlim_t,
        rlim_max: hard as libc::rlim_t,
    };
    // SAFETY: `lim` is a valid rlimit struct read by the kernel during the call.
    let rc = unsafe { libc::setrlimit(resource, &lim) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Lets the main thread hold every shard until all have bound their listeners.
///
/// Each shard reports whether its bind worked, then waits. When all reported success the main
/// thread opens the gate; if any failed it closes it, and every shard returns without accepting.
pub struct StartGate {
    state: AtomicU8,
    reports: std::sync::Mutex<Option<mpsc::Sender<Result<(), String>>>>,
}

const GATE_WAITING: u8 = 0;
const GATE_OPEN: u8 = 1;
const GATE_CLOSED: u8 = 2;

impl StartGate {
    /// A gate and the receiver on which shard reports arrive.
    pub fn new() -> (Arc<Self>, mpsc::Receiver<Result<(), String>>) {
        let (tx, rx) = mpsc::channel();
        (
            Arc::new(Self {
                state: AtomicU8::new(GATE_WAITING),
                reports: std::sync::Mutex::new(Some(tx)),
            }),
            rx,
        )
    }

    /// Called once per shard at start-up (not on the query path).
    pub fn report(&self, result: Result<(), String>) {
        if let Ok(guard) = self.reports.lock() {
            if let Some(tx) = guard.as_ref() {
                let _ = tx.send(result);
            }
        }
    }

    /// Opens (true) or closes (false) the gate.
    pub fn decide(&self, open: bool) {
        self.state.store(
            if open { GATE_OPEN } else { GATE_CLOSED },
            Ordering::Release,
        );
    }

    /// Waits until the main thread decided; true means start serving.
    pub async fn wait(&self) -> bool {
        loop {
            match self.state.load(Ordering::Acquire) {
                GATE_OPEN => return true,
                GATE_CLOSED => return false,
                _ => super::sleep(Duration::from_millis(2)).await,
            }
        }
    }
}
