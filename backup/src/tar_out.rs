//! Building tar archives on the client: `pg_wal.tar` from the streamed segments.

use crate::compress::{Compressor, Frame, FrameJoiner};
use crate::context::Context;
use crate::options::Compression;
use crate::output::SeqFile;
use crate::tar::{self, TarHeader};
use crate::Error;
use std::path::Path;

/// A compressed (or plain) tar archive written with O_DIRECT.
pub struct TarOut {
    out: SeqFile,
    comp: Compressor,
    compression: Option<Compression>,
    /// Puts separately compressed frames (the parallel mode's) together into one file.
    joiner: FrameJoiner,
}

impl TarOut {
    /// Creates `<target>/<name>` plus the compression suffix.
    pub async fn create(ctx: &Context, name: &str) -> Result<TarOut, Error> {
        Self::create_at(&ctx.opts.target, name, ctx.opts.compression, ctx.opts.sync).await
    }

    /// Creates `<dir>/<name>` plus the compression suffix.
    pub async fn create_at(
        dir: &Path,
        name: &str,
        compression: Option<Compression>,
        sync: bool,
    ) -> Result<TarOut, Error> {
        let suffix = compression.map(|c| c.suffix()).unwrap_or("");
        let out = SeqFile::create(&dir.join(format!("{name}{suffix}")), sync).await?;
        let comp = Compressor::new(compression)
            .map_err(|e| Error::io("could not start compression", e))?;
        Ok(TarOut {
            out,
            comp,
            compression,
            joiner: FrameJoiner::new(compression),
        })
    }

    /// Appends tar bytes as one separately compressed frame (the parallel mode's archives are
    /// made only of such frames).
    pub async fn write_frame(&mut self, data: &[u8]) -> Result<(), Error> {
        if self.compression.is_none() {
            return self.out.write(data).await;
        }
        let frame = crate::compress::compress_frame(self.compression, data.to_vec())
            .map_err(|e| Error::io("could not compress", e))?;
        self.write_compressed(&frame).await
    }

    /// Ends an archive made of frames: the end-of-archive blocks as a last frame, what closes
    /// the compressed file, then close.
    pub async fn finish_frames(mut self) -> Result<(), Error> {
        self.write_frame(&tar::END_OF_ARCHIVE).await?;
        let tail = self.joiner.finish();
        if !tail.is_empty() {
            self.out.write(&tail).await?;
        }
        self.out.finish().await
    }

    /// Appends raw (uncompressed) tar bytes.
    pub async fn write(&mut self, data: &[u8]) -> Result<(), Error> {
        let c = self
            .comp
            .write(data)
            .map_err(|e| Error::io("could not compress", e))?;
        if !c.is_empty() {
            self.out.write(&c).await?;
        }
        Ok(())
    }

    /// Appends one complete entry.
    pub async fn entry(&mut self, h: &TarHeader, data: &[u8]) -> Result<(), Error> {
        let mut buf = Vec::with_capacity(data.len() + 1024);
        tar::write_entry(&mut buf, h, data)?;
        self.write(&buf).await
    }

    /// Appends a frame a worker compressed.
    pub async fn write_compressed(&mut self, frame: &Frame) -> Result<(), Error> {
        let before = self.joiner.before(frame);
        if !before.is_empty() {
            self.out.write(before).await?;
        }
        self.out.write(&frame.bytes).await
    }

    /// Writes the end-of-archive blocks and closes.
    pub async fn finish(mut self) -> Result<(), Error> {
        self.write(&tar::END_OF_ARCHIVE).await?;
        let rest = self
            .comp
            .finish()
            .map_err(|e| Error::io("could not compress", e))?;
        self.out.write(&rest).await?;
        self.out.finish().await
    }
}

/// Packs the streamed `pg_wal/` directory into `pg_wal.tar` and removes it (tar format).
pub async fn pack_wal_dir(ctx: &Context) -> Result<(), Error> {
    let dir = ctx.wal_dir();
    let mut tar = TarOut::create(ctx, "pg_wal.tar").await?;
    let mut names = list(&dir)?;
    names.sort();
    let now = crate::sink::now_secs();
    for name in &names {
        let data = read(&dir.join(name))?;
        tar.entry(
            &TarHeader::file(name.as_bytes(), data.len() as u64, 0o600, now),
            &data,
        )
        .await?;
    }
    tar.entry(&TarHeader::directory("archive_status", 0o700, now), &[])
        .await?;
    let mut done = list(&dir.join("archive_status"))?;
    done.sort();
    for name in done {
        let h = TarHeader::file(format!("archive_status/{name}").into_bytes(), 0, 0o600, now);
        tar.entry(&h, &[]).await?;
    }
    tar.finish().await?;
    std::fs::remove_dir_all(&dir)
        .map_err(|e| Error::io(format!("could not remove \"{}\"", dir.display()), e))
}

fn list(dir: &Path) -> Result<Vec<String>, Error> {
    let rd = std::fs::read_dir(dir)
        .map_err(|e| Error::io(format!("could not open directory \"{}\"", dir.display()), e))?;
    Ok(rd
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
        .filter_map(|e| e.file_name().into_string().ok())
        .collect())
}

fn read(path: &Path) -> Result<Vec<u8>, Error> {
    std::fs::read(path).map_err(|e| Error::io(format!("could not read \"{}\"", path.display()), e))
}
