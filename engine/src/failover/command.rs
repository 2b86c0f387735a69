//! Running failover_command, follow_primary_command and failback_command through `sh -c`.
//!
//! Blocking: called only from failover threads (PCP workers, background failover threads),
//! never from a shard's executor.

use std::process::Command;

use super::placeholders::Placeholders;

/// Expands `template` and runs it with `/bin/sh -c`, waiting for it to end. An empty template
/// does nothing. Returns the exit status (`None` when nothing ran or it could not start).
pub fn run(kind: &'static str, template: &str, values: &Placeholders) -> Option<i32> {
    if template.trim().is_empty() {
        return None;
    }
    let command = values.expand(template);
    tracing::info!(kind, command = %command, "running command");
    match Command::new("/bin/sh").arg("-c").arg(&command).status() {
        Ok(status) => {
            let code = status.code().unwrap_or(-1);
            if status.success() {
                tracing::info!(kind, code, "command finished");
            } else {
                tracing::warn!(kind, code, command = %command, "command failed");
            }
            Some(code)
        }
        Err(e) => {
            tracing::error!(kind, error = %e, command = %command, "could not run command");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_the_expanded_command() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out");
        let values = Placeholders {
            node_id: 3,
            ..Placeholders::default()
        };
        let template = format!("echo node=%d > {}", out.display());
        assert_eq!(run("test", &template, &values), Some(0));
        assert_eq!(std::fs::read_to_string(&out).unwrap(), "node=3\n");
        assert_eq!(run("test", "", &values), None);
        assert_eq!(run("test", "exit 7", &values), Some(7));
    }
}
