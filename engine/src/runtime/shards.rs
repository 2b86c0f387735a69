//! Starting one pinned shard thread per core, each running corepool's io_uring loop, and the
//! process limits they need.

use std::future::Future;
use std::io;
use std::net::{SocketAddr, TcpListener as StdListener};
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{mpsc, Arc};
use std::time::Duration;

use super::sys;

/// What the shards are started with.
#[derive(Debug, Clone)]
pub struct ExecutorSettings {
    /// Number of shards; 0 means one per online CPU.
    pub shards: usize,
    /// Pin each shard to its own CPU (shard i on CPU i modulo the CPU count).
    pub pin: bool,
    /// Ring and receive-buffer sizes of each shard.
    pub ring: corepool_runtime::Options,
    /// Name prefix of the shard threads (`corepool-shard-0`, …).
    pub name: String,
}

impl Default for ExecutorSettings {
    fn default() -> Self {
        Self {
            shards: 0,
            pin: true,
            ring: corepool_runtime::Options::default(),
            name: "corepool-shard".into(),
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

/// The thread of a shard.
type ShardThread = std::thread::JoinHandle<io::Result<()>>;

impl ShardHandle {
    /// Waits for the shard's thread to end. Start-up errors of its ring surface here.
    pub fn join(self) -> io::Result<()> {
        let id = self.id;
        match self.handle.join() {
            Ok(result) => result.map_err(|e| io::Error::new(e.kind(), format!("shard {id}: {e}"))),
            Err(_) => Err(io::Error::other(format!("shard {id} panicked"))),
        }
    }
}

/// Starts `settings.shard_count()` shard threads, each running `shard(id)` on its own ring,
/// pinned to a CPU of this process's affinity set when `settings.pin`.
pub fn start_shards<F, Fut>(settings: &ExecutorSettings, shard: F) -> io::Result<Vec<ShardHandle>>
where
    F: Fn(usize) -> Fut + Send + Clone + 'static,
    Fut: Future<Output = ()> + 'static,
{
    let count = settings.shard_count();
    let cpus = if settings.pin {
        sys::allowed_cpus()
    } else {
        Vec::new()
    };
    let mut handles = Vec::with_capacity(count);
    for id in 0..count {
        let shard = shard.clone();
        let cpu = (!cpus.is_empty()).then(|| cpus[id % cpus.len()]);
        let ring = settings.ring;
        let handle = std::thread::Builder::new()
            .name(format!("{}-{id}", settings.name))
            .spawn(move || {
                if let Some(cpu) = cpu {
                    if let Err(e) = sys::pin_to_cpu(cpu) {
                        tracing::warn!(shard = id, cpu, error = %e, "could not pin the shard");
                    }
                }
                corepool_runtime::run_with(ring, shard(id))
            })
            .map_err(|e| io::Error::other(format!("cannot start shard {id}: {e}")))?;
        handles.push(ShardHandle { id, handle });
    }
    Ok(handles)
}

/// Fails when another socket already listens on `addr`.
///
/// Every shard's listener sets SO_REUSEPORT, so without this check a second corepool (or any
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
    let (soft, hard) = sys::get_rlimit(libc::RLIMIT_NOFILE)?;
    if soft < hard {
        sys::set_rlimit(libc::RLIMIT_NOFILE, hard, hard)?;
    }
    Ok(hard.max(soft))
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
