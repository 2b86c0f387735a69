//! `-j N`: the SQL backup API. A control session runs `pg_backup_start` / `pg_backup_stop` and
//! stays open throughout; the WAL streamer's slot is created before the backup starts; the
//! listing is planned largest-first (plain) or in archive order (tar) and N workers
//! ([`crate::worker`]), spread over one glommio executor per core, copy the chunks;
//! `global/pg_control` is copied last, then `backup_label`, the WAL and the manifest.

use crate::listing::{self, DirEntry, FileEntry, Listing, Location};
use crate::lsn::Lsn;
use crate::manifest::{
    ChecksumAlgorithm, Crc32cAssembler, Digest, FileChecksum, ManifestWriter, WalRange,
};
use crate::options::Format;
use crate::output::{create_dir, write_range};
use crate::plan::{plan, ChunkSize, Task, TaskQueue};
use crate::session::{finish_wal, start_wal, write_file, Context, Outcome, WalTask, IO_MEMORY};
use crate::tar::TarHeader;
use crate::tar_out::TarOut;
use crate::worker::{self, Shared, SharedState, TarOrder};
use crate::Error;
use corepool_client::Connection;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Functions the role must be able to execute, with the GRANT that allows it.
const NEEDED: &[&str] = &[
    "pg_backup_start(text, boolean)",
    "pg_backup_stop(boolean)",
    "pg_ls_dir(text, boolean, boolean)",
    "pg_stat_file(text, boolean)",
    "pg_read_binary_file(text, bigint, bigint, boolean)",
];

fn quote_literal(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// Whether the role can take a `BASE_BACKUP` instead (superuser or REPLICATION).
pub async fn may_fall_back(ctx: &Context) -> bool {
    let Ok(mut c) = Connection::connect(&ctx.opts.conn).await else {
        return false;
    };
    let ok = c
        .query_one("SELECT rolsuper OR rolreplication FROM pg_roles WHERE rolname = current_user")
        .await
        .ok()
        .and_then(|r| r.text(0).ok().flatten().map(|t| t == "t"))
        .unwrap_or(false);
    c.close().await;
    ok
}

async fn check_privileges(conn: &mut Connection, user: &str) -> Result<(), Error> {
    let cols: Vec<String> = NEEDED
        .iter()
        .map(|f| format!("has_function_privilege({}, 'EXECUTE')", quote_literal(f)))
        .collect();
    let row = conn
        .query_one(&format!("SELECT {}", cols.join(", ")))
        .await
        .map_err(|e| Error::client("could not check privileges", e))?;
    let missing: Vec<&str> = NEEDED
        .iter()
        .enumerate()
        .filter(|(i, _)| row.text(*i).ok().flatten() != Some("t"))
        .map(|(_, f)| *f)
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    let grants: Vec<String> = missing
        .iter()
        .map(|f| format!("GRANT EXECUTE ON FUNCTION {f} TO {user};"))
        .collect();
    Err(Error::Privileges(format!(
        "role \"{user}\" may not run the parallel backup (-j > 1); as a superuser run:\n  {}",
        grants.join("\n  ")
    )))
}

async fn show(conn: &mut Connection, name: &str) -> Result<String, Error> {
    conn.show(name)
        .await
        .map_err(|e| Error::client(format!("could not read setting {name}"), e))
}

/// Runs the parallel backup.
pub async fn run(ctx: &Context, wal: &mut Option<WalTask>) -> Result<Outcome, Error> {
    let opts = &ctx.opts;
    let mut conn_opts = opts.conn.clone();
    conn_opts.replication = None;
    let mut control = Connection::connect(&conn_opts)
        .await
        .map_err(|e| Error::client("could not connect to server", e))?;
    check_privileges(&mut control, &conn_opts.user).await?;
    if opts.format == Format::Tar
        && !matches!(
            opts.manifest_checksums,
            ChecksumAlgorithm::Crc32c | ChecksumAlgorithm::None
        )
    {
        return Err(Error::Usage(
            "tar format with -j > 1 supports only CRC32C or NONE manifest checksums".into(),
        ));
    }
    let checksums_on = show(&mut control, "data_checksums").await? == "on";
    let block_size = show(&mut control, "block_size").await?;
    let verify = opts.verify_checksums && checksums_on && block_size == "8192";
    let dir_mode = u32::from_str_radix(
        show(&mut control, "data_directory_mode")
            .await?
            .trim_start_matches('0'),
        8,
    )
    .unwrap_or(0o700);
    let file_mode = dir_mode & 0o666;
    let spaces = tablespaces(&mut control).await?;
    if opts.format == Format::Plain {
        for loc in spaces.values() {
            let mapped = PathBuf::from(opts.tablespace_mapping.map(loc));
            crate::sink::check_empty_dir(&mapped)?;
            create_dir(&mapped, dir_mode)?;
        }
    }
    let streamer = start_wal(ctx).await?;
    let timeline = streamer.as_ref().map(|s| s.timeline()).unwrap_or(1);
    let fast = opts.checkpoint == crate::options::Checkpoint::Fast;
    ctx.verbose("initiating base backup, waiting for checkpoint to complete");
    let row = control
        .query_one(&format!(
            "SELECT pg_backup_start({}, {fast})",
            quote_literal(&opts.label)
        ))
        .await
        .map_err(|e| Error::client("could not start backup", e))?;
    let start = Lsn::parse(
        row.text_required(0)
            .map_err(|e| Error::client("pg_backup_start", e))?,
    )?;
    ctx.verbose(&format!(
        "checkpoint completed; write-ahead log start point: {start} on timeline {timeline}"
    ));
    *wal = streamer.map(|s| s.spawn(ctx, start, timeline));
    let rows = control
        .simple_query(listing::LISTING_SQL)
        .await
        .map_err(|e| Error::client("could not list the data directory", e))?;
    let mut listing = listing::build(listing::parse_rows(&rows)?, verify)?;
    // Tar format with -R: postgresql.auto.conf is appended to by the control side.
    let auto_conf = if opts.format == Format::Tar && ctx.recovery_conf.is_some() {
        let at = listing
            .files
            .iter()
            .position(|f| f.path == crate::recovery::AUTO_CONF);
        at.map(|i| listing.files.remove(i))
    } else {
        None
    };
    ctx.verbose(&format!(
        "{} files to copy over {} connections",
        listing.files.len(),
        opts.jobs
    ));
    let tar = opts.format == Format::Tar;
    if !tar {
        make_dirs(ctx, &listing.dirs, &spaces, dir_mode)?;
    }
    let (shared, tar_plan) = prepare(ctx, &listing, &spaces, start, file_mode)?;
    let writer = tar_plan.map(|p| {
        glommio::spawn_local(write_archives(
            shared.clone(),
            p,
            ctx.opts.target.clone(),
            opts.compression,
            opts.sync,
        ))
        .detach()
    });
    run_workers(&shared, opts.jobs).await?;
    let base_tar = match writer {
        Some(h) => Some(
            h.await
                .ok_or_else(|| Error::Interrupted("archive writer cancelled".into()))??,
        ),
        None => None,
    };
    let state = std::mem::take(
        &mut *shared
            .state
            .lock()
            .map_err(|_| Error::Protocol("poisoned lock".into()))?,
    );
    if let Some(e) = state.error {
        return Err(Error::Interrupted(e));
    }
    if ctx.cancel.load(Ordering::Relaxed) {
        return Err(Error::Interrupted("canceled by user".into()));
    }
    if state.connected == 0 {
        return Err(Error::Interrupted(format!(
            "no worker connection could be opened: {}",
            state.refused.first().cloned().unwrap_or_default()
        )));
    }
    if shared.queue.remaining() > 0 {
        return Err(Error::Interrupted(
            "workers stopped before copying every file".into(),
        ));
    }
    report_failures(&shared, &state);
    // global/pg_control last.
    let pg_control = match &listing.pg_control {
        Some(f) => Some(copy_pg_control(ctx, &mut control, f).await?),
        None => None,
    };
    let row = control
        .query_one("SELECT lsn, labelfile, spcmapfile FROM pg_backup_stop(false)")
        .await
        .map_err(|e| Error::client("could not stop backup", e))?;
    for n in control.take_notices() {
        ctx.verbose(&format!("{}: {}", n.severity, n.message));
    }
    let end = Lsn::parse(
        row.text_required(0)
            .map_err(|e| Error::client("pg_backup_stop", e))?,
    )?;
    let label = row
        .text_required(1)
        .map_err(|e| Error::client("pg_backup_stop", e))?
        .to_owned();
    let spcmap = row
        .text(2)
        .map_err(|e| Error::client("pg_backup_stop", e))?
        .unwrap_or("")
        .to_owned();
    control.close().await;
    ctx.verbose(&format!("write-ahead log end point: {end}"));
    let label_tli = label
        .lines()
        .find_map(|l| l.strip_prefix("START TIMELINE: "))
        .and_then(|t| t.trim().parse().ok())
        .unwrap_or(timeline);
    let mut manifest = ManifestWriter::new(opts.manifest_force_encode);
    let alg = opts.manifest_checksums;
    add_small(&mut manifest, "backup_label", label.as_bytes(), alg);
    if let Some(mut out) = base_tar {
        let now = crate::sink::now_secs();
        let mut tail = Vec::new();
        let (data, mtime) = pg_control.clone().unwrap_or_default();
        if listing.pg_control.is_some() {
            crate::tar::write_entry(
                &mut tail,
                &TarHeader::file(
                    "global/pg_control",
                    data.len() as u64,
                    file_mode,
                    mtime as u64,
                ),
                &data,
            )?;
        }
        crate::tar::write_entry(
            &mut tail,
            &TarHeader::file("backup_label", label.len() as u64, file_mode, now),
            label.as_bytes(),
        )?;
        if !spcmap.is_empty() {
            crate::tar::write_entry(
                &mut tail,
                &TarHeader::file("tablespace_map", spcmap.len() as u64, file_mode, now),
                spcmap.as_bytes(),
            )?;
            add_small(&mut manifest, "tablespace_map", spcmap.as_bytes(), alg);
        }
        if let Some(conf) = &ctx.recovery_conf {
            let old = match &auto_conf {
                Some(f) => Some(read_whole(ctx, f).await?),
                None => None,
            };
            let new = crate::recovery::append_recovery_config(old.as_deref(), conf);
            let h = TarHeader::file(crate::recovery::AUTO_CONF, new.len() as u64, file_mode, now);
            crate::tar::write_entry(&mut tail, &h, &new)?;
            add_small(&mut manifest, crate::recovery::AUTO_CONF, &new, alg);
            crate::tar::write_entry(
                &mut tail,
                &TarHeader::file("standby.signal", 0, file_mode, now),
                &[],
            )?;
        }
        out.write_frame(&tail).await?;
        out.finish_frames().await?;
    } else {
        write_file(&ctx.opts.target.join("backup_label"), label.as_bytes())?;
    }
    if let (Some((data, mtime)), Some(f)) = (&pg_control, &listing.pg_control) {
        let mut sum = FileChecksum::new(alg);
        sum.update(data);
        manifest.add_file(f.path.as_bytes(), data.len() as u64, *mtime, &sum.finish());
    }
    add_files(ctx, &mut manifest, &shared, state.crcs, &state.vanished)?;
    finish_wal(ctx, wal, end).await?;
    if !tar {
        ctx.write_recovery_plain()?;
    }
    if opts.manifest {
        let range = WalRange {
            timeline: label_tli,
            start,
            end,
        };
        ctx.install_manifest(&manifest.finish(&[range]))?;
    }
    Ok(Outcome {
        start,
        end,
        timeline: label_tli,
        parallel_workers: state.connected,
        checksum_failures: state.total_failures,
    })
}

/// Reads a small file whole on a fresh session (the control session is closed by then).
async fn read_whole(ctx: &Context, f: &FileEntry) -> Result<Vec<u8>, Error> {
    let mut opts = ctx.opts.conn.clone();
    opts.replication = None;
    let mut c = Connection::connect(&opts)
        .await
        .map_err(|e| Error::client("could not connect to server", e))?;
    let data = c
        .query_binary(
            worker::READ_SQL,
            &[
                Some(&f.path),
                Some("0"),
                Some(&f.size.max(1 << 20).to_string()),
            ],
        )
        .await
        .map_err(|e| Error::client(format!("could not read \"{}\"", f.path), e))?;
    c.close().await;
    Ok(data.map(|d| d.to_vec()).unwrap_or_default())
}

async fn tablespaces(conn: &mut Connection) -> Result<HashMap<u32, String>, Error> {
    let rows = conn
        .simple_query("SELECT oid, pg_tablespace_location(oid) FROM pg_tablespace WHERE spcname NOT IN ('pg_default', 'pg_global')")
        .await
        .map_err(|e| Error::client("could not list tablespaces", e))?;
    rows.iter()
        .map(|r| {
            let oid = r.parse(0).map_err(|e| Error::client("tablespace oid", e))?;
            let loc = r
                .text_required(1)
                .map_err(|e| Error::client("tablespace location", e))?;
            Ok((oid, loc.to_owned()))
        })
        .collect()
}

/// Plain-format destination of a location.
fn dest(ctx: &Context, spaces: &HashMap<u32, String>, loc: &Location) -> PathBuf {
    match loc {
        Location::DataDir(p) => ctx.opts.target.join(p),
        Location::Tablespace(oid, p) => {
            let server = spaces.get(oid).map(String::as_str).unwrap_or("");
            PathBuf::from(ctx.opts.tablespace_mapping.map(server)).join(p)
        }
    }
}

fn make_dirs(
    ctx: &Context,
    dirs: &[DirEntry],
    spaces: &HashMap<u32, String>,
    mode: u32,
) -> Result<(), Error> {
    for d in dirs {
        let path = dest(ctx, spaces, &d.location);
        match d.tablespace_link {
            Some(oid) => {
                let target = spaces
                    .get(&oid)
                    .map(|l| ctx.opts.tablespace_mapping.map(l).to_owned());
                if let Some(t) = target {
                    if let Some(parent) = path.parent() {
                        create_dir(parent, mode)?;
                    }
                    std::os::unix::fs::symlink(&t, &path).map_err(|e| {
                        Error::io(
                            format!("could not create symbolic link \"{}\"", path.display()),
                            e,
                        )
                    })?;
                }
            }
            None => create_dir(&path, mode)?,
        }
    }
    Ok(())
}

/// The tar plan: archives in order, each with its directory headers, and the sequence of pieces.
pub struct TarPlan {
    archives: Vec<(String, Vec<u8>)>,
    seq_archive: Vec<usize>,
}

fn prepare(
    ctx: &Context,
    listing: &Listing,
    spaces: &HashMap<u32, String>,
    start: Lsn,
    file_mode: u32,
) -> Result<(Arc<Shared>, Option<TarPlan>), Error> {
    let opts = &ctx.opts;
    let chunk = ChunkSize::try_new(opts.chunk_size)?;
    let mut files: Vec<FileEntry> = listing.files.clone();
    let mut tar_order = None;
    let mut tar_plan = None;
    let tasks = if opts.format == Format::Tar {
        // Archive order: tablespaces (by oid), then base.tar; files in path order within each.
        let archive_of = |l: &Location| match l {
            Location::Tablespace(oid, _) => *oid as u64,
            Location::DataDir(_) => u64::MAX,
        };
        files.sort_by_key(|f| (archive_of(&f.location), f.path.clone()));
        let mut archives: Vec<(u64, String, Vec<u8>)> = Vec::new();
        let mut keys: Vec<u64> = files.iter().map(|f| archive_of(&f.location)).collect();
        keys.push(u64::MAX);
        keys.dedup();
        for key in keys {
            let name = if key == u64::MAX {
                "base.tar".to_owned()
            } else {
                format!("{key}.tar")
            };
            let mut headers = Vec::new();
            for d in &listing.dirs {
                if archive_of(&d.location) != key || d.tablespace_link.is_some() {
                    continue;
                }
                let (Location::DataDir(p) | Location::Tablespace(_, p)) = &d.location;
                let name = if p == "pg_wal/archive_status" {
                    "./pg_wal/archive_status".to_owned()
                } else {
                    p.clone()
                };
                crate::tar::write_header(
                    &mut headers,
                    &TarHeader::directory(name.into_bytes(), 0o700, crate::sink::now_secs()),
                )?;
            }
            archives.push((key, name, headers));
        }
        let mut tasks = Vec::new();
        let mut first_seq = Vec::with_capacity(files.len());
        let mut seq_archive = Vec::new();
        for (i, f) in files.iter().enumerate() {
            first_seq.push(tasks.len());
            let ai = archives
                .iter()
                .position(|a| a.0 == archive_of(&f.location))
                .unwrap_or(0);
            let parts = f.size.div_ceil(chunk.bytes()).max(1);
            for part in 0..parts {
                let offset = part * chunk.bytes();
                tasks.push(Task {
                    file: i,
                    offset,
                    len: chunk.bytes().min(f.size - offset),
                    parts,
                });
                seq_archive.push(ai);
            }
        }
        let names = files
            .iter()
            .map(|f| match &f.location {
                Location::DataDir(p) | Location::Tablespace(_, p) => p.clone(),
            })
            .collect();
        tar_order = Some(TarOrder {
            first_seq,
            names,
            chunk: chunk.bytes(),
            compression: opts.compression,
            slots: Mutex::new(Default::default()),
            written: AtomicUsize::new(0),
            window: 4 * opts.jobs,
        });
        tar_plan = Some(TarPlan {
            archives: archives.into_iter().map(|(_, n, h)| (n, h)).collect(),
            seq_archive,
        });
        tasks
    } else {
        let sizes: Vec<u64> = files.iter().map(|f| f.size).collect();
        plan(&sizes, chunk)
    };
    let dests = if opts.format == Format::Plain {
        files
            .iter()
            .map(|f| dest(ctx, spaces, &f.location))
            .collect()
    } else {
        Vec::new()
    };
    let total: u64 = files.iter().map(|f| f.size).sum();
    ctx.progress.set_total(total);
    let mut conn = opts.conn.clone();
    conn.replication = None;
    let state = SharedState {
        crcs: vec![Crc32cAssembler::default(); files.len()],
        ..Default::default()
    };
    let shared = Arc::new(Shared {
        files,
        dests,
        queue: TaskQueue::new(tasks),
        conn,
        start_lsn: start,
        sync: opts.sync,
        rate_per_worker: opts.max_rate.map(|r| (r / opts.jobs as u64).max(1)),
        cancel: ctx.cancel.clone(),
        abort: AtomicBool::new(false),
        progress: ctx.progress.clone(),
        state: Mutex::new(state),
        tar: tar_order,
        file_mode,
    });
    Ok((shared, tar_plan))
}

/// Starts the workers: one executor per core (the first is this one), workers spread over them.
async fn run_workers(shared: &Arc<Shared>, jobs: usize) -> Result<(), Error> {
    let cpus = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let executors = jobs.min(cpus).max(1);
    let remaining = Arc::new(AtomicUsize::new(executors - 1));
    let mut handles = Vec::new();
    for e in 1..executors {
        let ids: Vec<usize> = (0..jobs).filter(|i| i % executors == e).collect();
        let (sh, rem) = (shared.clone(), remaining.clone());
        let h = glommio::LocalExecutorBuilder::new(glommio::Placement::Unbound)
            .name(&format!("basebackup-{e}"))
            .io_memory(IO_MEMORY)
            .spawn(move || async move {
                let hs: Vec<_> = ids
                    .into_iter()
                    .map(|id| glommio::spawn_local(worker::run(sh.clone(), id)).detach())
                    .collect();
                for h in hs {
                    h.await;
                }
                rem.fetch_sub(1, Ordering::AcqRel);
            });
        match h {
            Ok(h) => handles.push(h),
            Err(err) => {
                remaining.fetch_sub(1, Ordering::AcqRel);
                eprintln!("WARNING:  could not start executor {e}: {err}");
            }
        }
    }
    let local: Vec<_> = (0..jobs)
        .filter(|i| i % executors == 0)
        .map(|id| glommio::spawn_local(worker::run(shared.clone(), id)).detach())
        .collect();
    for h in local {
        h.await;
    }
    while remaining.load(Ordering::Acquire) > 0 {
        glommio::timer::sleep(Duration::from_millis(2)).await;
    }
    for h in handles {
        let _ = h.join();
    }
    Ok(())
}

/// The tar writer: pieces in sequence order into their archives; returns `base.tar` still
/// open so pg_control and backup_label can be appended.
async fn write_archives(
    shared: Arc<Shared>,
    p: TarPlan,
    target: PathBuf,
    compression: Option<crate::options::Compression>,
    sync: bool,
) -> Result<TarOut, Error> {
    let Some(order) = &shared.tar else {
        return Err(Error::Protocol("tar writer without tar plan".into()));
    };
    let mut current: Option<(usize, TarOut)> = None;
    for seq in 0..p.seq_archive.len() {
        let ai = p.seq_archive[seq];
        if current.as_ref().map(|c| c.0) != Some(ai) {
            if let Some((_, out)) = current.take() {
                out.finish_frames().await?;
            }
            let mut out = TarOut::create_at(&target, &p.archives[ai].0, compression, sync).await?;
            out.write_frame(&p.archives[ai].1).await?;
            current = Some((ai, out));
        }
        let piece = loop {
            if let Some(piece) = order.slots.lock().ok().and_then(|mut s| s.remove(&seq)) {
                break piece;
            }
            if shared.abort.load(Ordering::Relaxed) || shared.cancel.load(Ordering::Relaxed) {
                return Err(Error::Interrupted("archive writer stopped".into()));
            }
            glommio::timer::sleep(Duration::from_micros(500)).await;
        };
        if let Some((_, out)) = current.as_mut() {
            out.write_compressed(&piece).await?;
        }
        order.written.store(seq + 1, Ordering::Release);
    }
    let base = p.archives.len() - 1;
    match current {
        Some((ai, out)) if ai == base => Ok(out),
        other => {
            if let Some((_, out)) = other {
                out.finish_frames().await?;
            }
            let mut out =
                TarOut::create_at(&target, &p.archives[base].0, compression, sync).await?;
            out.write_frame(&p.archives[base].1).await?;
            Ok(out)
        }
    }
}

async fn copy_pg_control(
    ctx: &Context,
    control: &mut Connection,
    f: &FileEntry,
) -> Result<(Vec<u8>, i64), Error> {
    let data = control
        .query_binary(
            worker::READ_SQL,
            &[Some(&f.path), Some("0"), Some(&f.size.to_string())],
        )
        .await
        .map_err(|e| Error::client("could not read global/pg_control", e))?
        .ok_or_else(|| Error::Protocol("global/pg_control is missing".into()))?;
    if ctx.opts.format == Format::Plain {
        let path = ctx.opts.target.join(&f.path);
        write_range(&path, 0, &data, data.len() as u64, ctx.opts.sync).await?;
    }
    ctx.progress.add(data.len() as u64);
    Ok((data.to_vec(), f.mtime))
}

fn add_small(m: &mut ManifestWriter, path: &str, data: &[u8], alg: ChecksumAlgorithm) {
    let mut sum = FileChecksum::new(alg);
    sum.update(data);
    m.add_file(
        path.as_bytes(),
        data.len() as u64,
        crate::sink::now_secs() as i64,
        &sum.finish(),
    );
}

fn add_files(
    ctx: &Context,
    m: &mut ManifestWriter,
    shared: &Shared,
    crcs: Vec<Crc32cAssembler>,
    vanished: &std::collections::HashSet<usize>,
) -> Result<(), Error> {
    let alg = ctx.opts.manifest_checksums;
    for (i, (f, crc)) in shared.files.iter().zip(crcs).enumerate() {
        if vanished.contains(&i) {
            if let Some(d) = shared.dests.get(i) {
                let _ = std::fs::remove_file(d);
            }
            continue;
        }
        let digest = match alg {
            ChecksumAlgorithm::None => Digest::NONE,
            ChecksumAlgorithm::Crc32c => crc.finish(f.size).ok_or_else(|| {
                Error::Protocol(format!("chunks of \"{}\" do not cover the file", f.path))
            })?,
            _ => {
                let path = &shared.dests[i];
                let data = std::fs::read(path)
                    .map_err(|e| Error::io(format!("could not read \"{}\"", path.display()), e))?;
                let mut sum = FileChecksum::new(alg);
                sum.update(&data);
                sum.finish()
            }
        };
        m.add_file(f.path.as_bytes(), f.size, f.mtime, &digest);
    }
    Ok(())
}

fn report_failures(shared: &Shared, state: &SharedState) {
    for (file, count) in &state.failures {
        if count.count() > 1 {
            eprintln!(
                "WARNING:  file \"./{}\" has a total of {} checksum verification failures",
                shared.files[*file].path,
                count.count()
            );
        }
    }
    if state.total_failures > 0 {
        eprintln!(
            "WARNING:  {} total checksum verification failures",
            state.total_failures
        );
    }
}
