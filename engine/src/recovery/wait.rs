//! Waiting for the recovered node: until it accepts recovery_user's connections (both ways,
//! as Pgpool-II's `check_postmaster_started`), and until its WAL receiver streams (corepool's
//! own recovery).

use std::time::{Duration, Instant};

use corepool_client::{ConnectOptions, Connection};

use super::{conn, sql, RecoveryError};

/// Time between two rounds (Pgpool-II waits 3 s; a shorter pause attaches the node sooner).
const PAUSE: Duration = Duration::from_secs(1);

/// The databases each round tries, in order, as Pgpool-II's `check_postmaster_started`.
const DATABASES: [&str; 2] = ["postgres", "template1"];

/// Waits until recovery_user logs in to the node at `opts`, trying `postgres` and then
/// `template1` each round as Pgpool-II tries both, for at most `timeout` (at least one round).
/// `host` is backend_hostnameN, for the report.
pub(super) fn until_accepting(
    opts: ConnectOptions,
    host: &str,
    timeout: Duration,
) -> Result<(), RecoveryError> {
    let deadline = Instant::now() + timeout;
    loop {
        for database in DATABASES {
            let mut attempt = opts.clone();
            attempt.database = Some(database.to_owned());
            let outcome = conn::run(async move {
                Ok(match Connection::connect(&attempt).await {
                    Ok(c) => {
                        c.close().await;
                        Ok(())
                    }
                    Err(e) => Err(e),
                })
            })?;
            match outcome {
                Ok(()) => return Ok(()),
                Err(e) => tracing::info!(
                    host,
                    database,
                    user = %opts.user,
                    error = %e,
                    "checking if postmaster is started: not yet"
                ),
            }
        }
        let Some(left) = deadline.checked_duration_since(Instant::now()) else {
            return Err(RecoveryError::NotStarted {
                host: host.to_owned(),
                database: DATABASES[DATABASES.len() - 1].to_owned(),
                user: opts.user.clone(),
                timeout,
            });
        };
        std::thread::sleep(left.min(PAUSE));
    }
}

/// Waits until the standby at `opts` reports its WAL receiver `streaming`, at most until
/// `deadline`.
pub(super) fn until_streaming(
    node: usize,
    opts: ConnectOptions,
    deadline: Instant,
    timeout: Duration,
) -> Result<(), RecoveryError> {
    loop {
        let attempt = opts.clone();
        let status = conn::run(async move {
            let answer = match Connection::connect(&attempt).await {
                Ok(mut c) => {
                    let rows = c.simple_query(sql::WAL_RECEIVER_STATUS).await;
                    c.close().await;
                    match rows {
                        Ok(rows) => rows
                            .first()
                            .and_then(|r| r.text(0).ok().flatten().map(str::to_owned))
                            .unwrap_or_else(|| "no WAL receiver".into()),
                        Err(e) => e.to_string(),
                    }
                }
                Err(e) => e.to_string(),
            };
            Ok(answer)
        })?;
        if status == "streaming" {
            return Ok(());
        }
        let Some(left) = deadline.checked_duration_since(Instant::now()) else {
            return Err(RecoveryError::NotStreaming {
                node,
                last: status,
                timeout,
            });
        };
        std::thread::sleep(left.min(PAUSE));
    }
}
