//! Why an online recovery failed, worded as Pgpool-II 4.3 words it (`recovery.c`,
//! `pcp_worker.c`) where Pgpool-II has the case, and in the same style where only corepool's
//! own recovery does.

use std::path::PathBuf;
use std::time::Duration;

use corepool_client::ClientError;

use crate::failover::FailoverError;

/// Which stage of Pgpool-II's recovery a script ran in (only the first one in streaming
/// replication mode).
const FIRST_STAGE: &str = "1st stage";

/// A failed or refused online recovery. `Display` is the report's message; [`detail`] is its
/// DETAIL line.
///
/// [`detail`]: RecoveryError::detail
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RecoveryError {
    /// Another recovery is running (one runs at a time). A FATAL in Pgpool-II.
    #[error("process recovery request failed")]
    AlreadyRunning,
    /// No such node.
    #[error("node recovery failed, node id: {0} is not valid")]
    InvalidNode(i64),
    /// The node's slot is not configured.
    #[error("node recovery failed, node id: {0} is unused")]
    Unused(usize),
    /// The node is attached (up or waiting): only a detached node can be recovered.
    #[error("node recovery failed, node id: {0} is alive")]
    Alive(usize),
    /// No live node to copy from.
    #[error("node recovery failed, no primary node is attached")]
    NoPrimary,
    /// recovery_user could not log in to the primary (Pgpool-II's message ends with a space).
    #[error("node recovery failed, unable to connect to main node: {node} ")]
    ConnectPrimary {
        /// The primary's node id.
        node: usize,
        /// What the connection attempt said (logged; Pgpool-II reports no detail).
        #[source]
        source: Box<ClientError>,
    },
    /// `SET statement_timeout To 0` failed before the 1st stage.
    #[error("executing recovery, SET STATEMENT_TIMEOUT failed at \"{FIRST_STAGE}\"")]
    StatementTimeout(#[source] Box<ClientError>),
    /// `pgpool_recovery()` failed: the script exited non-zero (or the extension is missing).
    #[error("executing recovery, execution of command failed at \"{FIRST_STAGE}\"")]
    FirstStage {
        /// recovery_1st_stage_command.
        script: String,
        /// The server's error.
        #[source]
        source: Box<ClientError>,
    },
    /// `pgpool_remote_start()` failed; the text is what libpq's `PQresultErrorMessage` gives.
    #[error("executing remote start failed with error: \"{0}\"")]
    RemoteStart(String),
    /// The node did not accept recovery_user's connection within recovery_timeout.
    #[error("recovery is checking if postmaster is started")]
    NotStarted {
        /// backend_hostnameN.
        host: String,
        /// The database last tried.
        database: String,
        /// recovery_user.
        user: String,
        /// recovery_timeout.
        timeout: Duration,
    },
    /// corepool's own recovery: the node's server still runs, so its data directory is left
    /// alone.
    #[error("node recovery failed, node id: {node} is still running")]
    StillRunning {
        /// The node.
        node: usize,
        /// What shows it runs.
        why: String,
    },
    /// corepool's own recovery: the data directory cannot be used (its owner, its parent).
    #[error("node recovery failed, cannot use data directory \"{}\"", dir.display())]
    DataDirectory {
        /// backend_data_directoryN.
        dir: PathBuf,
        /// Why.
        why: String,
    },
    /// corepool's own recovery: asking the primary failed (slot, installation directory).
    #[error("node recovery failed, a query on the primary failed")]
    PrimaryQuery(#[source] Box<ClientError>),
    /// corepool's own recovery: the base backup failed.
    #[error("node recovery failed, the base backup of node {node} failed")]
    Backup {
        /// The node.
        node: usize,
        /// The backup's error.
        #[source]
        source: Box<corepool_backup::Error>,
    },
    /// corepool's own recovery: `pg_ctl start` failed.
    #[error("node recovery failed, pg_ctl could not start node {node}")]
    PgCtl {
        /// The node.
        node: usize,
        /// pg_ctl's output, or why it could not run.
        output: String,
    },
    /// corepool's own recovery: the node started but did not stream within recovery_timeout.
    #[error("recovery is checking if the standby is streaming")]
    NotStreaming {
        /// The node.
        node: usize,
        /// What it last reported.
        last: String,
        /// recovery_timeout.
        timeout: Duration,
    },
    /// The calling thread could not start its event loop for the connections.
    #[error("node recovery failed, could not start an event loop: {0}")]
    Runtime(#[source] std::io::Error),
    /// The final attach (failback) was refused.
    #[error(transparent)]
    Attach(#[from] FailoverError),
}

impl RecoveryError {
    /// The DETAIL line of the report, if it has one.
    pub fn detail(&self) -> Option<String> {
        Some(match self {
            RecoveryError::AlreadyRunning => {
                "pgpool-II is already processing another recovery request.".to_owned()
            }
            RecoveryError::FirstStage { script, .. } => format!("command:\"{script}\""),
            RecoveryError::NotStarted {
                host,
                database,
                user,
                timeout,
            } => format!(
                "postmaster on hostname:\"{host}\" database:\"{database}\" user:\"{user}\" failed to start in {} second",
                timeout.as_secs()
            ),
            RecoveryError::StillRunning { why, .. } | RecoveryError::DataDirectory { why, .. } => {
                why.clone()
            }
            RecoveryError::PrimaryQuery(e) => e.to_string(),
            RecoveryError::Backup { source, .. } => source.to_string(),
            RecoveryError::PgCtl { output, .. } => output.clone(),
            RecoveryError::NotStreaming {
                node,
                last,
                timeout,
            } => format!(
                "node {node} did not stream from the primary in {} second (last seen: {last})",
                timeout.as_secs()
            ),
            _ => return None,
        })
    }

    /// Whether the PCP connection is closed after the report (a FATAL).
    pub fn is_fatal(&self) -> bool {
        matches!(self, RecoveryError::AlreadyRunning)
    }

    /// The source file Pgpool-II names in the report: `pcp_worker.c` for the refusal of a
    /// second recovery, `recovery.c` for everything else (corepool's own cases included).
    pub fn source_file(&self) -> &'static [u8] {
        match self {
            RecoveryError::AlreadyRunning => b"pcp_worker.c",
            _ => b"recovery.c",
        }
    }
}

/// What libpq's `PQresultErrorMessage` gives for a failed query: `ERROR:  message`, DETAIL and
/// HINT lines, and a final newline.
pub(super) fn result_error_message(e: &ClientError) -> String {
    format!("{e}\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_read_as_pgpool_writes_them() {
        assert_eq!(
            RecoveryError::Alive(1).to_string(),
            "node recovery failed, node id: 1 is alive"
        );
        let e = RecoveryError::NotStarted {
            host: "127.0.0.1".into(),
            database: "template1".into(),
            user: "postgres".into(),
            timeout: Duration::from_secs(3),
        };
        assert_eq!(
            e.to_string(),
            "recovery is checking if postmaster is started"
        );
        assert_eq!(
            e.detail().unwrap(),
            "postmaster on hostname:\"127.0.0.1\" database:\"template1\" user:\"postgres\" failed to start in 3 second"
        );
        let e = RecoveryError::FirstStage {
            script: "recovery_1st_stage".into(),
            source: Box::new(ClientError::Closed),
        };
        assert_eq!(
            e.to_string(),
            "executing recovery, execution of command failed at \"1st stage\""
        );
        assert_eq!(e.detail().unwrap(), "command:\"recovery_1st_stage\"");
        assert!(RecoveryError::AlreadyRunning.is_fatal());
        assert_eq!(RecoveryError::AlreadyRunning.source_file(), b"pcp_worker.c");
        assert_eq!(RecoveryError::Unused(0).source_file(), b"recovery.c");
        let e = RecoveryError::ConnectPrimary {
            node: 0,
            source: Box::new(ClientError::Closed),
        };
        assert_eq!(
            e.to_string(),
            "node recovery failed, unable to connect to main node: 0 "
        );
    }

    #[test]
    fn remote_start_errors_carry_libpq_text() {
        let server = ClientError::Server {
            severity: "ERROR".into(),
            code: "XX000".into(),
            message: "pgpool_remote_start failed".into(),
            detail: None,
            hint: None,
        };
        let e = RecoveryError::RemoteStart(result_error_message(&server));
        assert_eq!(
            e.to_string(),
            "executing remote start failed with error: \"ERROR:  pgpool_remote_start failed\n\""
        );
    }
}
