//! Runs a child program with a deadline and turns failure into a typed [`Error`].

use std::io::Read;
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use crate::Error;

/// How often [`poll_until`] checks its condition again.
const POLL: Duration = Duration::from_millis(25);

/// How often [`run`] checks whether its child has exited.
const CHILD_POLL: Duration = Duration::from_millis(5);

/// Runs `cmd` to completion with stdin closed and stdout/stderr captured, killing it after
/// `timeout`. A non-zero exit is [`Error::Command`] carrying its stderr.
pub(crate) fn run(cmd: &mut Command, timeout: Duration) -> Result<Output, Error> {
    let output = run_unchecked(cmd, timeout)?;
    if output.status.success() {
        Ok(output)
    } else {
        Err(Error::Command {
            command: describe(cmd),
            status: output.status,
            stderr: text(&output.stderr).trim().to_owned(),
        })
    }
}

/// Like [`run`], but returns the output whatever the exit status.
pub(crate) fn run_unchecked(cmd: &mut Command, timeout: Duration) -> Result<Output, Error> {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let program = cmd.get_program().to_owned();
    let mut child = cmd
        .spawn()
        .map_err(|e| Error::io("spawn", program.clone(), e))?;
    let stdout = drain(child.stdout.take());
    let stderr = drain(child.stderr.take());
    let status = match wait_with_deadline(&mut child, timeout) {
        Ok(Some(status)) => status,
        Ok(None) => {
            // kill/wait only fail if the child is already gone, which is what we want anyway.
            let _ = child.kill();
            let _ = child.wait();
            return Err(Error::CommandTimeout {
                command: describe(cmd),
                timeout,
            });
        }
        Err(e) => return Err(Error::io("wait for", program, e)),
    };
    // A daemon the child left behind could hold the pipes open: do not wait on it for long.
    let collect = |rx: mpsc::Receiver<Vec<u8>>| rx.recv_timeout(Duration::from_secs(2));
    Ok(Output {
        status,
        stdout: collect(stdout).unwrap_or_default(),
        stderr: collect(stderr).unwrap_or_default(),
    })
}

fn wait_with_deadline(
    child: &mut Child,
    timeout: Duration,
) -> std::io::Result<Option<std::process::ExitStatus>> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(status) = child.try_wait()? {
            return Ok(Some(status));
        }
        if Instant::now() >= deadline {
            return Ok(None);
        }
        thread::sleep(CHILD_POLL);
    }
}

/// Reads a pipe to its end on a helper thread so a chatty child never blocks on a full pipe.
fn drain(pipe: Option<impl Read + Send + 'static>) -> mpsc::Receiver<Vec<u8>> {
    let (tx, rx) = mpsc::channel();
    if let Some(mut pipe) = pipe {
        thread::spawn(move || {
            let mut buf = Vec::new();
            let _ = pipe.read_to_end(&mut buf);
            let _ = tx.send(buf);
        });
    }
    rx
}

/// The program and arguments of `cmd`, for error messages. The environment is left out on
/// purpose: it may carry `PGPASSWORD`.
pub(crate) fn describe(cmd: &Command) -> String {
    let mut s = cmd.get_program().to_string_lossy().into_owned();
    for arg in cmd.get_args() {
        s.push(' ');
        s.push_str(&arg.to_string_lossy());
    }
    s
}

/// Diagnostic text (stderr, server logs) as a `String`, invalid UTF-8 shown as U+FFFD. Never
/// used for query results, which must be valid UTF-8.
pub(crate) fn text(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len());
    for chunk in bytes.utf8_chunks() {
        s.push_str(chunk.valid());
        if !chunk.invalid().is_empty() {
            s.push('\u{FFFD}');
        }
    }
    s
}

/// Calls `check` until it returns `Ok(true)` or `timeout` passes. Errors from `check` count as
/// "not yet" and the last one is reported in the [`Error::Timeout`].
pub(crate) fn poll_until(
    what: impl FnOnce() -> String,
    timeout: Duration,
    mut check: impl FnMut() -> Result<bool, Error>,
) -> Result<(), Error> {
    let start = Instant::now();
    loop {
        let last_error = match check() {
            Ok(true) => return Ok(()),
            Ok(false) => None,
            Err(e) => Some(Box::new(e)),
        };
        if start.elapsed() >= timeout {
            return Err(Error::Timeout {
                what: what(),
                after: timeout,
                last_error,
            });
        }
        thread::sleep(POLL);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_reports_stderr_and_status() {
        let err = run(
            Command::new("sh").args(["-c", "echo oops >&2; exit 3"]),
            Duration::from_secs(10),
        )
        .unwrap_err();
        assert_eq!(err.stderr(), Some("oops"));
        assert!(err.to_string().contains("sh -c"), "{err}");
    }

    #[test]
    fn run_kills_on_timeout() {
        let start = Instant::now();
        let err = run(Command::new("sleep").arg("30"), Duration::from_millis(200)).unwrap_err();
        assert!(matches!(err, Error::CommandTimeout { .. }), "{err}");
        assert!(start.elapsed() < Duration::from_secs(5));
    }

    #[test]
    fn poll_until_times_out_with_last_error() {
        let err = poll_until(
            || "godot".into(),
            Duration::from_millis(60),
            || Err(Error::Config("not yet".into())),
        )
        .unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("godot") && msg.contains("not yet"), "{msg}");
    }

    #[test]
    fn text_replaces_invalid_bytes() {
        assert_eq!(text(b"a\xffb"), "a\u{FFFD}b");
    }
}
