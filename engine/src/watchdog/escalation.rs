//! Escalation and de-escalation: `wd_escalation_command` and the virtual IP (`if_up_cmd`,
//! `arping_cmd`) when this instance becomes the leader; `wd_de_escalation_command` and
//! `if_down_cmd` when it stops. Commands run with `/bin/sh -c`; `$_IP_$` is the delegate IP.
//!
//! Escalation runs on a thread of its own so that the lease keeps being renewed meanwhile;
//! de-escalation waits for it and then runs on the caller's thread, because it must be over
//! before this instance's lease could expire.

use std::process::Command;
use std::thread::JoinHandle;

use crate::config::WatchdogSettings;

/// Whether this instance holds the escalation.
#[derive(Debug, Default)]
pub struct Escalation {
    running: Option<JoinHandle<()>>,
    escalated: bool,
}

impl Escalation {
    /// Whether the escalation was run (and not undone).
    pub fn escalated(&self) -> bool {
        self.escalated
    }

    /// Runs the escalation commands in the background.
    pub fn escalate(&mut self, s: &WatchdogSettings) {
        if self.escalated {
            return;
        }
        self.escalated = true;
        let commands = up_commands(s);
        tracing::info!("watchdog: this instance is the leader; escalating");
        let spawned = std::thread::Builder::new()
            .name("corepool-wd-escalate".into())
            .spawn(move || {
                for (kind, c) in commands {
                    run(kind, &c);
                }
            });
        match spawned {
            Ok(h) => self.running = Some(h),
            Err(e) => tracing::error!(error = %e, "watchdog: could not start the escalation"),
        }
    }

    /// Undoes the escalation, waiting for a running one first.
    pub fn de_escalate(&mut self, s: &WatchdogSettings, why: &str) {
        if let Some(h) = self.running.take() {
            let _ = h.join();
        }
        if !self.escalated {
            return;
        }
        self.escalated = false;
        tracing::warn!(why, "watchdog: de-escalating");
        for (kind, c) in down_commands(s) {
            run(kind, &c);
        }
    }
}

fn with_path(dir: &str, command: &str) -> String {
    let c = command.trim();
    if c.starts_with('/') || dir.is_empty() {
        c.to_owned()
    } else {
        format!("{}/{c}", dir.trim_end_matches('/'))
    }
}

/// The commands run on escalation, in order.
pub fn up_commands(s: &WatchdogSettings) -> Vec<(&'static str, String)> {
    let mut out = Vec::new();
    if !s.escalation_command.trim().is_empty() {
        out.push(("wd_escalation_command", s.escalation_command.clone()));
    }
    if !s.delegate_ip.trim().is_empty() {
        let ip = s.delegate_ip.trim();
        if !s.if_up_cmd.trim().is_empty() {
            let c = with_path(&s.if_cmd_path, &s.if_up_cmd).replace("$_IP_$", ip);
            out.push(("if_up_cmd", c));
        }
        if !s.arping_cmd.trim().is_empty() {
            let c = with_path(&s.arping_path, &s.arping_cmd).replace("$_IP_$", ip);
            out.push(("arping_cmd", c));
        }
    }
    out
}

/// The commands run on de-escalation, in order.
pub fn down_commands(s: &WatchdogSettings) -> Vec<(&'static str, String)> {
    let mut out = Vec::new();
    if !s.de_escalation_command.trim().is_empty() {
        out.push(("wd_de_escalation_command", s.de_escalation_command.clone()));
    }
    if !s.delegate_ip.trim().is_empty() && !s.if_down_cmd.trim().is_empty() {
        let c = with_path(&s.if_cmd_path, &s.if_down_cmd).replace("$_IP_$", s.delegate_ip.trim());
        out.push(("if_down_cmd", c));
    }
    out
}

fn run(kind: &'static str, command: &str) {
    tracing::info!(kind, command, "watchdog: running command");
    match Command::new("/bin/sh").arg("-c").arg(command).status() {
        Ok(s) if s.success() => {}
        Ok(s) => tracing::warn!(
            kind,
            code = s.code().unwrap_or(-1),
            "watchdog: command failed"
        ),
        Err(e) => tracing::error!(kind, error = %e, "watchdog: could not run command"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_take_the_ip_and_their_paths() {
        let s = WatchdogSettings {
            escalation_command: "esc.sh".into(),
            de_escalation_command: "deesc.sh".into(),
            delegate_ip: "192.0.2.10".into(),
            if_up_cmd: "ip addr add $_IP_$/24 dev eth0".into(),
            if_down_cmd: "/bin/ip addr del $_IP_$/24 dev eth0".into(),
            arping_cmd: "arping -U $_IP_$".into(),
            ..WatchdogSettings::default()
        };
        let up: Vec<_> = up_commands(&s).into_iter().map(|c| c.1).collect();
        assert_eq!(
            up,
            [
                "esc.sh",
                "/sbin/ip addr add 192.0.2.10/24 dev eth0",
                "/usr/sbin/arping -U 192.0.2.10"
            ]
        );
        let down: Vec<_> = down_commands(&s).into_iter().map(|c| c.1).collect();
        assert_eq!(
            down,
            ["deesc.sh", "/bin/ip addr del 192.0.2.10/24 dev eth0"]
        );
        let none = WatchdogSettings::default();
        assert!(up_commands(&none).is_empty() && down_commands(&none).is_empty());
    }

    #[test]
    fn de_escalation_runs_only_after_an_escalation() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("log");
        let s = WatchdogSettings {
            escalation_command: format!("echo up >> {}", log.display()),
            de_escalation_command: format!("echo down >> {}", log.display()),
            ..WatchdogSettings::default()
        };
        let mut e = Escalation::default();
        e.de_escalate(&s, "test");
        e.escalate(&s);
        e.escalate(&s);
        e.de_escalate(&s, "test");
        assert_eq!(std::fs::read_to_string(&log).unwrap(), "up\ndown\n");
    }
}
