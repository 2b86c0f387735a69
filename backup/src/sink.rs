//! Where the archives of `BASE_BACKUP` go: extracted into a directory (`-Fp`) or re-written as
//! tar files (`-Ft`, optionally compressed, with `-R`'s files injected into `base.tar`).

use crate::compress::Compressor;
use crate::options::Compression;
use crate::output::{create_dir, SeqFile};
use crate::progress::Progress;
use crate::recovery::{AUTO_CONF, STANDBY_SIGNAL};
use crate::tablespace::TablespaceMappings;
use crate::tar::{self, EntryKind, TarEvent, TarHeader, TarReader};
use crate::Error;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Settings shared by both sinks.
pub struct SinkConfig {
    /// The target directory.
    pub target: PathBuf,
    /// `-T`.
    pub mappings: TablespaceMappings,
    /// fdatasync files when closing them.
    pub sync: bool,
    /// `-Ft` compression.
    pub compression: Option<Compression>,
    /// `-R` text to append to postgresql.auto.conf (tar format injects it).
    pub recovery_conf: Option<String>,
    /// Byte counters for `-P`.
    pub progress: Arc<Progress>,
}

/// One archive being received.
pub struct ArchiveSink {
    cfg: Arc<SinkConfig>,
    reader: TarReader,
    kind: SinkKind,
}

// One per archive: the size difference between the variants does not matter.
#[allow(clippy::large_enum_variant)]
enum SinkKind {
    Plain {
        root: PathBuf,
        file: Option<SeqFile>,
    },
    Tar {
        out: SeqFile,
        comp: Option<Compressor>,
        is_base: bool,
        /// Buffering postgresql.auto.conf to append `-R`'s settings.
        auto_conf: Option<(TarHeader, Vec<u8>)>,
        seen_auto_conf: bool,
        current_size: u64,
    },
}

impl ArchiveSink {
    /// Starts archive `name` (`base.tar`, `<oid>.tar`) whose server location is `spc_path`
    /// (empty for the data directory).
    pub async fn begin(
        cfg: Arc<SinkConfig>,
        name: &str,
        spc_path: &str,
        tar: bool,
    ) -> Result<Self, Error> {
        let kind = if tar {
            let file_name = format!(
                "{name}{}",
                cfg.compression.map(|c| c.suffix()).unwrap_or("")
            );
            let out = SeqFile::create(&cfg.target.join(file_name), cfg.sync).await?;
            let comp = Compressor::new(cfg.compression)
                .map_err(|e| Error::io("could not start compression", e))?;
            SinkKind::Tar {
                out,
                comp: Some(comp),
                is_base: spc_path.is_empty(),
                auto_conf: None,
                seen_auto_conf: false,
                current_size: 0,
            }
        } else {
            let root = if spc_path.is_empty() {
                cfg.target.clone()
            } else {
                let mapped = PathBuf::from(cfg.mappings.map(spc_path));
                check_empty_dir(&mapped)?;
                create_dir(&mapped, 0o700)?;
                mapped
            };
            SinkKind::Plain { root, file: None }
        };
        Ok(ArchiveSink {
            cfg,
            reader: TarReader::new(),
            kind,
        })
    }

    /// Feeds the next bytes of the archive.
    pub async fn data(&mut self, mut input: &[u8]) -> Result<(), Error> {
        while let Some(event) = self.reader.next_event(&mut input)? {
            match &mut self.kind {
                SinkKind::Plain { root, file } => plain_event(&self.cfg, root, file, event).await?,
                SinkKind::Tar { .. } => self.tar_event(event).await?,
            }
        }
        Ok(())
    }

    async fn tar_event(&mut self, event: TarEvent<'_>) -> Result<(), Error> {
        let cfg = self.cfg.clone();
        let SinkKind::Tar {
            is_base,
            auto_conf,
            seen_auto_conf,
            current_size,
            ..
        } = &mut self.kind
        else {
            return Ok(());
        };
        let inject = *is_base && cfg.recovery_conf.is_some();
        let mut out: Vec<u8> = Vec::new();
        match event {
            TarEvent::Entry(h) => {
                *current_size = h.size;
                if inject && h.name == AUTO_CONF.as_bytes() {
                    *seen_auto_conf = true;
                    *auto_conf = Some((h, Vec::new()));
                } else if inject && h.name == STANDBY_SIGNAL.as_bytes() {
                    // Replaced by our own at the end.
                    *auto_conf = None;
                    *current_size = u64::MAX;
                } else {
                    out.extend_from_slice(&tar::encode_header(&h)?);
                }
            }
            TarEvent::Data(d) => {
                if let Some((_, buf)) = auto_conf {
                    buf.extend_from_slice(d);
                } else if *current_size != u64::MAX {
                    cfg.progress.add(d.len() as u64);
                    out.extend_from_slice(d);
                }
            }
            TarEvent::EntryEnd => {
                if let Some((mut h, mut content)) = auto_conf.take() {
                    content
                        .extend_from_slice(cfg.recovery_conf.as_deref().unwrap_or("").as_bytes());
                    h.size = content.len() as u64;
                    tar::write_entry(&mut out, &h, &content)?;
                } else if *current_size != u64::MAX {
                    out.resize(tar::padding_len(*current_size), 0);
                }
            }
            TarEvent::End => {
                if inject {
                    let now = now_secs();
                    if !*seen_auto_conf {
                        let content = cfg.recovery_conf.clone().unwrap_or_default().into_bytes();
                        let h = TarHeader::file(AUTO_CONF, content.len() as u64, 0o600, now);
                        tar::write_entry(&mut out, &h, &content)?;
                    }
                    tar::write_entry(
                        &mut out,
                        &TarHeader::file(STANDBY_SIGNAL, 0, 0o600, now),
                        &[],
                    )?;
                }
                out.extend_from_slice(&tar::END_OF_ARCHIVE);
            }
        }
        self.emit(&out).await
    }

    async fn emit(&mut self, data: &[u8]) -> Result<(), Error> {
        if data.is_empty() {
            return Ok(());
        }
        if let SinkKind::Tar { out, comp, .. } = &mut self.kind {
            let bytes = match comp {
                Some(c) => c
                    .write(data)
                    .map_err(|e| Error::io("could not compress", e))?,
                None => data.to_vec(),
            };
            out.write(&bytes).await?;
        }
        Ok(())
    }

    /// Ends the archive: it must be complete.
    pub async fn finish(self) -> Result<(), Error> {
        self.reader.finish()?;
        match self.kind {
            SinkKind::Plain { file, .. } => {
                if let Some(f) = file {
                    f.finish().await?;
                }
            }
            SinkKind::Tar { mut out, comp, .. } => {
                if let Some(c) = comp {
                    let rest = c.finish().map_err(|e| Error::io("could not compress", e))?;
                    out.write(&rest).await?;
                }
                out.finish().await?;
            }
        }
        Ok(())
    }
}

async fn plain_event(
    cfg: &SinkConfig,
    root: &Path,
    file: &mut Option<SeqFile>,
    event: TarEvent<'_>,
) -> Result<(), Error> {
    match event {
        TarEvent::Entry(h) => {
            let name = h.name.strip_prefix(b"./").unwrap_or(&h.name);
            let path = root
                .join(std::ffi::OsStr::new(std::str::from_utf8(name).map_err(
                    |_| Error::Protocol("non-UTF-8 file name in archive".into()),
                )?));
            match h.kind {
                EntryKind::Directory => create_dir(&path, h.mode & 0o7777)?,
                EntryKind::Symlink => {
                    let target = std::str::from_utf8(&h.link_target)
                        .map_err(|_| Error::Protocol("non-UTF-8 link target".into()))?;
                    let mapped = cfg.mappings.map(target);
                    std::os::unix::fs::symlink(mapped, &path).map_err(|e| {
                        Error::io(
                            format!("could not create symbolic link \"{}\"", path.display()),
                            e,
                        )
                    })?;
                }
                EntryKind::File => {
                    let f = SeqFile::create_sized(&path, cfg.sync, Some(h.size)).await?;
                    set_mode(&path, h.mode & 0o7777)?;
                    *file = Some(f);
                }
                EntryKind::Other(_) => {}
            }
        }
        TarEvent::Data(d) => {
            cfg.progress.add(d.len() as u64);
            if let Some(f) = file {
                f.write(d).await?;
            }
        }
        TarEvent::EntryEnd => {
            if let Some(f) = file.take() {
                f.finish().await?;
            }
        }
        TarEvent::End => {}
    }
    Ok(())
}

fn set_mode(path: &Path, mode: u32) -> Result<(), Error> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).map_err(|e| {
        Error::io(
            format!("could not set permissions of \"{}\"", path.display()),
            e,
        )
    })
}

/// Seconds since the Unix epoch.
pub fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// pg_basebackup's rule for -D and tablespace targets: absent, or an empty directory.
pub fn check_empty_dir(path: &Path) -> Result<(), Error> {
    match std::fs::read_dir(path) {
        Ok(mut entries) => {
            if entries.next().is_some() {
                return Err(Error::Usage(format!(
                    "directory \"{}\" exists but is not empty",
                    path.display()
                )));
            }
            Ok(())
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::io(
            format!("could not access directory \"{}\"", path.display()),
            e,
        )),
    }
}
