//! The crate's error type: one variant per module's leaf error, each keeping its context.

use crate::admission::Unavailable;
use crate::checksum::PageError;
use crate::lsn::LsnError;
use crate::manifest::ManifestError;
use crate::plan::PlanError;
use crate::recovery::RecoveryError;
use crate::tablespace::TablespaceError;
use crate::tar::TarError;

/// Anything that can go wrong in `corepool-backup`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An LSN, WAL file name, segment size or timeline history the server would reject.
    #[error(transparent)]
    Lsn(#[from] LsnError),
    /// A data page buffer or relation file name that cannot be verified.
    #[error(transparent)]
    Page(#[from] PageError),
    /// A backup manifest that cannot be written or parsed.
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    /// A tar archive that cannot be read or an entry that cannot be written.
    #[error(transparent)]
    Tar(#[from] TarError),
    /// A `-T` mapping or `tablespace_map` file that is malformed.
    #[error(transparent)]
    Tablespace(#[from] TablespaceError),
    /// `-R` settings that cannot be written.
    #[error(transparent)]
    Recovery(#[from] RecoveryError),
    /// A parallel work plan that cannot be built.
    #[error(transparent)]
    Plan(#[from] PlanError),
    /// A connection or query failed; `context` says which step.
    #[error("{context}: {source}")]
    Client {
        /// What was being done.
        context: String,
        /// The client error (server errors carry their SQLSTATE).
        #[source]
        source: Box<corepool_client::ClientError>,
    },
    /// A local file operation failed.
    #[error("{context}: {source}")]
    Io {
        /// What was being done, with the path.
        context: String,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// Options or the target directory are not usable.
    #[error("{0}")]
    Usage(String),
    /// The role lacks privileges; the message names the GRANTs to run.
    #[error("{0}")]
    Privileges(String),
    /// `-j N` cannot be had (no SQL session admitted, privileges missing, no slot for the
    /// workers); the runner then takes the backup as `-j 1` after printing the warning.
    #[error("{}", .0.warning())]
    ParallelUnavailable(Box<Unavailable>),
    /// The backup was interrupted (signal, lost connection, worker error).
    #[error("backup interrupted: {0}")]
    Interrupted(String),
    /// Data page checksum failures were found; the files were all written.
    #[error("checksum error occurred: {0} data page checksum failure(s)")]
    ChecksumFailures(u64),
    /// The server sent something this client cannot use.
    #[error("{0}")]
    Protocol(String),
}

impl Error {
    /// Wraps a client error with what was being done.
    pub fn client(context: impl Into<String>, source: corepool_client::ClientError) -> Self {
        Error::Client {
            context: context.into(),
            source: Box::new(source),
        }
    }

    /// Wraps an I/O error with what was being done. An error that came through glommio's
    /// conversion keeps only the OS error's text: the context already names the file.
    pub fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        Error::Io {
            context: context.into(),
            source: without_glommio_detail(source),
        }
    }

    /// Wraps a glommio I/O error with what was being done.
    pub fn glommio<T>(context: impl Into<String>, source: glommio::GlommioError<T>) -> Self {
        // The context already names the file: keep the OS error, not glommio's op/path/fd dump.
        let source = match source {
            glommio::GlommioError::IoError(e) => e,
            glommio::GlommioError::EnhancedIoError { source, .. } => source,
            other => std::io::Error::other(other.to_string()),
        };
        Error::io(context, source)
    }
}

/// glommio renders `<os error>, op: <op> path: <path> with fd: <fd>` into the io::Error it
/// converts to; this keeps the part before `, op: `.
fn without_glommio_detail(e: std::io::Error) -> std::io::Error {
    let text = match e.get_ref() {
        Some(inner) => inner.to_string(),
        None => return e,
    };
    match text.split_once(", op: ") {
        Some((os, _)) => std::io::Error::new(e.kind(), os.to_owned()),
        None => e,
    }
}
