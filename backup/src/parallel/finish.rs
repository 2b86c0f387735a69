//! The end of a parallel backup: `global/pg_control`, the tail of `base.tar`, the manifest.

use crate::context::Context;
use crate::listing::FileEntry;
use crate::manifest::{ChecksumAlgorithm, Crc32cAssembler, Digest, FileChecksum, ManifestWriter};
use crate::options::Format;
use crate::output::SeqFile;
use crate::worker::{self, Shared, SharedState};
use crate::Error;
use corepool_client::Connection;

/// Copies `global/pg_control` on the control session, after every other file.
pub async fn copy_pg_control(
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
        let mut out = SeqFile::create_sized(&path, ctx.opts.sync, Some(data.len() as u64)).await?;
        out.write(&data).await?;
        out.finish().await?;
    }
    ctx.progress.add(data.len() as u64);
    Ok((data.to_vec(), f.mtime))
}

/// Adds a small file written now (backup_label, tablespace_map).
pub fn add_small(m: &mut ManifestWriter, path: &str, data: &[u8], alg: ChecksumAlgorithm) {
    let mut sum = FileChecksum::new(alg);
    sum.update(data);
    m.add_file(
        path.as_bytes(),
        data.len() as u64,
        crate::sink::now_secs() as i64,
        &sum.finish(),
    );
}

/// Adds every copied file with its checksum (CRC-32C combined from the chunks, SHA by
/// reading the file back); files that vanished are dropped.
pub fn add_files(
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

/// Prints pg_basebackup's per-file and total checksum failure counts.
pub fn report_failures(shared: &Shared, state: &SharedState) {
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

/// What goes at the end of `base.tar` besides `backup_label`.
pub struct TarTail<'a> {
    /// `global/pg_control`'s bytes and mtime.
    pub pg_control: Option<&'a (Vec<u8>, i64)>,
    /// postgresql.auto.conf, held back for `-R`.
    pub auto_conf: Option<&'a FileEntry>,
    /// Mode of the files.
    pub file_mode: u32,
}

/// Appends pg_control, backup_label, tablespace_map and `-R`'s files to `base.tar`, closes it.
pub async fn finish_base_tar(
    ctx: &Context,
    mut out: crate::tar_out::TarOut,
    t: &TarTail<'_>,
    stopped: &super::control::Stopped,
    manifest: &mut ManifestWriter,
) -> Result<(), Error> {
    use crate::tar::{write_entry, TarHeader};
    let (now, mode, alg) = (
        crate::sink::now_secs(),
        t.file_mode,
        ctx.opts.manifest_checksums,
    );
    let mut tail = Vec::new();
    if let Some((data, mtime)) = t.pg_control {
        let h = TarHeader::file("global/pg_control", data.len() as u64, mode, *mtime as u64);
        write_entry(&mut tail, &h, data)?;
    }
    let label = stopped.label.as_bytes();
    write_entry(
        &mut tail,
        &TarHeader::file("backup_label", label.len() as u64, mode, now),
        label,
    )?;
    if !stopped.spcmap.is_empty() {
        let map = stopped.spcmap.as_bytes();
        write_entry(
            &mut tail,
            &TarHeader::file("tablespace_map", map.len() as u64, mode, now),
            map,
        )?;
        add_small(manifest, "tablespace_map", map, alg);
    }
    if let Some(conf) = &ctx.recovery_conf {
        let old = match t.auto_conf {
            Some(f) => Some(super::control::read_whole(ctx, f).await?),
            None => None,
        };
        let new = crate::recovery::append_recovery_config(old.as_deref(), conf);
        let h = TarHeader::file(crate::recovery::AUTO_CONF, new.len() as u64, mode, now);
        write_entry(&mut tail, &h, &new)?;
        add_small(manifest, crate::recovery::AUTO_CONF, &new, alg);
        write_entry(
            &mut tail,
            &TarHeader::file("standby.signal", 0, mode, now),
            &[],
        )?;
    }
    out.write_frame(&tail).await?;
    out.finish_frames().await
}

/// Adds a file whose bytes are at hand.
pub fn add_file(
    m: &mut ManifestWriter,
    path: &str,
    data: &[u8],
    mtime: i64,
    alg: ChecksumAlgorithm,
) {
    let mut sum = FileChecksum::new(alg);
    sum.update(data);
    m.add_file(path.as_bytes(), data.len() as u64, mtime, &sum.finish());
}

/// Plain format: removes what other chunks of a file that vanished during the copy left
/// behind (files are created and allocated at their first chunk), so the backup holds exactly
/// the files its manifest lists.
pub fn remove_vanished(
    shared: &Shared,
    vanished: &std::collections::HashSet<usize>,
) -> Result<(), Error> {
    for &i in vanished {
        let Some(path) = shared.dests.get(i) else {
            continue;
        };
        match std::fs::remove_file(path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                return Err(Error::io(
                    format!("could not remove file \"{}\"", path.display()),
                    e,
                ))
            }
        }
    }
    Ok(())
}
