//! From the listing to the work: directories and symlinks (plain), the chunk plan (largest
//! first for plain, archive order for tar) and the state workers share.

use super::control::Control;
use crate::context::Context;
use crate::listing::{DirEntry, FileEntry, Listing, Location};
use crate::lsn::Lsn;
use crate::manifest::Crc32cAssembler;
use crate::options::Format;
use crate::output::create_dir;
use crate::plan::{file_tasks, plan, ChunkSize, TaskQueue};
use crate::tar::TarHeader;
use crate::worker::{Shared, SharedState, TarOrder};
use crate::Error;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize};
use std::sync::{Arc, Mutex};

/// Plain-format destination of a location.
pub fn dest(ctx: &Context, spaces: &HashMap<u32, String>, loc: &Location) -> PathBuf {
    match loc {
        Location::DataDir(p) => ctx.opts.target.join(p),
        Location::Tablespace(oid, p) => {
            let server = spaces.get(oid).map(String::as_str).unwrap_or("");
            PathBuf::from(ctx.opts.tablespace_mapping.map(server)).join(p)
        }
    }
}

/// Creates the directories and the `pg_tblspc/<oid>` symlinks (to the mapped locations).
pub fn make_dirs(
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
    /// Archive names in write order (tablespaces, then `base.tar`) with their directory headers.
    pub archives: Vec<(String, Vec<u8>)>,
    /// The archive of each piece, by sequence number.
    pub seq_archive: Vec<usize>,
}

/// Builds the shared state: files, destinations, the task queue and (tar) the archive plan.
pub fn prepare(
    ctx: &Context,
    listing: &Listing,
    control: &Control,
    start: Lsn,
) -> Result<(Arc<Shared>, Option<TarPlan>), Error> {
    let (spaces, file_mode) = (&control.spaces, control.file_mode);
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
            for t in file_tasks(i, f.size, chunk) {
                tasks.push(t);
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
        workers: opts.jobs,
        start_lsn: start,
        chunk: chunk.bytes(),
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
