//! The testkit's one error type: what failed, with the command, exit status and stderr.

use std::io;
use std::path::PathBuf;
use std::process::ExitStatus;
use std::time::Duration;

/// Why starting, driving or querying a test cluster failed.
///
/// Every variant names what was being done, so a failing test says which step broke without a
/// backtrace: the command line and its stderr, the file that could not be written, or what was
/// being waited for when time ran out.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// No PostgreSQL installation with `initdb` was found.
    #[error("PostgreSQL binaries not found: {0}")]
    BinariesNotFound(String),

    /// Running as root, but no unprivileged user could be found or created for PostgreSQL.
    #[error("cannot prepare an unprivileged user for PostgreSQL: {0}")]
    RunAs(String),

    /// The builder was given settings that cannot work together.
    #[error("invalid cluster configuration: {0}")]
    Config(String),

    /// A file-system or process operation failed.
    #[error("{action} ({path}): {source}")]
    Io {
        /// What was being done, e.g. "write pg_hba.conf".
        action: &'static str,
        /// The file or program involved.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },

    /// A child program ran and exited unsuccessfully.
    #[error("`{command}` failed ({status}): {stderr}")]
    Command {
        /// The program and its arguments (environment not shown, so passwords are not leaked).
        command: String,
        /// How it exited.
        status: ExitStatus,
        /// Its standard error, trimmed.
        stderr: String,
    },

    /// A child program did not finish in time and was killed.
    #[error("`{command}` did not finish within {timeout:?}")]
    CommandTimeout {
        /// The program and its arguments.
        command: String,
        /// How long it was given.
        timeout: Duration,
    },

    /// A condition polled for did not become true in time.
    #[error("timed out after {after:?} waiting for {what}{}", last_error_suffix(.last_error))]
    Timeout {
        /// What was being waited for, e.g. "node1 to stream from node0".
        what: String,
        /// How long was waited.
        after: Duration,
        /// The last error seen while polling, if any.
        last_error: Option<Box<Error>>,
    },

    /// The server printed something the testkit could not interpret.
    #[error("unexpected output from {what}: {output:?}")]
    UnexpectedOutput {
        /// What produced it.
        what: String,
        /// The text, as printed.
        output: String,
    },

    /// The server could not bind a port after several tries.
    #[error("{node}: no usable port after {attempts} attempts; see {log}")]
    NoFreePort {
        /// The node's name.
        node: String,
        /// How many ports were tried.
        attempts: u32,
        /// The server log with the bind errors.
        log: PathBuf,
    },
}

impl Error {
    /// Wraps an I/O error with what was being done and on which path.
    pub(crate) fn io(action: &'static str, path: impl Into<PathBuf>, source: io::Error) -> Self {
        Error::Io {
            action,
            path: path.into(),
            source,
        }
    }

    /// The stderr of a failed command, or `None` for other errors. Handy in assertions such as
    /// "the INSERT on the standby failed because it is read-only".
    pub fn stderr(&self) -> Option<&str> {
        match self {
            Error::Command { stderr, .. } => Some(stderr),
            _ => None,
        }
    }
}

fn last_error_suffix(last: &Option<Box<Error>>) -> String {
    match last {
        Some(e) => format!(" (last error: {e})"),
        None => String::new(),
    }
}
