//! `corepool md5` and `corepool enc`: the Pgpool-II guide's pg_md5 and pg_enc, with their
//! options, their output byte for byte and the pool_passwd lines they write.
//!
//! # Layout
//! - this file: what both share — the no-echo prompt, the pool_passwd update, the current
//!   user and home directory, the `-i` input file.
//! - `md5`: pg_md5 (md5 hashes for pcp.conf; md5 pool_passwd entries with `-m`).
//! - `enc`: pg_enc (AES pool_passwd entries with the key of `-k`/`-K`/`-P`).
//!
//! The secrets themselves are the engine's: [`PasswordEntry::md5_for`], the AES scheme of
//! [`corepool_engine::auth::pool_key`], and [`pool_passwd::upsert`] for the file.
//!
//! [`PasswordEntry::md5_for`]: corepool_engine::auth::pool_passwd::PasswordEntry::md5_for

pub mod enc;
pub mod md5;

use std::io::{IsTerminal, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use anyhow::{anyhow, Context};
use corepool_engine::auth::pool_passwd::{self, PasswordEntry};
use corepool_engine::config::Config;

use super::Failure;

/// The longest password and user name the tools accept (pgpool's MAX_INPUT_SIZE).
pub const MAX_INPUT: usize = 128;

/// pgpool.conf when `-f` is not given: the same file `corepool serve` reads by default.
pub const DEFAULT_CONFIG: &str = "/etc/pgpool2/pgpool.conf";

/// Prints `label` on stdout and reads one line from the terminal with echo off (the newline
/// too: pg_md5 prints its own), as the tools do; like them, refuses when stdin is not a
/// terminal. At most `limit` bytes are kept.
pub fn prompt(label: &str, limit: usize) -> Result<String, Failure> {
    use rustix::termios::{self, LocalModes, OptionalActions};
    use std::io::BufRead;

    let stdin = std::io::stdin();
    if !stdin.is_terminal() {
        return Err(anyhow!("stdin is not tty").into());
    }
    let saved = termios::tcgetattr(&stdin).context("tcgetattr failed")?;
    let mut quiet = saved.clone();
    quiet.local_modes &=
        !(LocalModes::ECHO | LocalModes::ECHOE | LocalModes::ECHOK | LocalModes::ECHONL);
    termios::tcsetattr(&stdin, OptionalActions::Now, &quiet).context("tcsetattr failed")?;
    let mut out = std::io::stdout().lock();
    let written = out.write_all(label.as_bytes()).and_then(|()| out.flush());
    let mut line = String::new();
    let read = stdin.lock().read_line(&mut line);
    // The terminal gets its echo back whatever happened.
    let restored = termios::tcsetattr(&stdin, OptionalActions::Now, &saved);
    written.context("cannot write the prompt")?;
    read.context("Couldn't read input from stdin")?;
    restored.context("tcsetattr failed")?;
    out.write_all(b"\n").context("cannot write to stdout")?;
    let line = line.strip_suffix('\n').unwrap_or(&line);
    let mut end = line.len().min(limit);
    while !line.is_char_boundary(end) {
        end -= 1;
    }
    Ok(line[..end].to_owned())
}

/// The pool_passwd file named by `config_file` (relative names are beside it).
pub fn pool_passwd_path(config_file: &Path) -> Result<PathBuf, Failure> {
    let loaded = Config::load_unvalidated(config_file)
        .with_context(|| format!("Unable to get configuration from {}", config_file.display()))
        .map_err(Failure::config)?;
    loaded.config.pool_passwd_path().ok_or_else(|| {
        Failure::config(anyhow!(
            "pool_passwd is disabled (empty) in {}",
            config_file.display()
        ))
    })
}

/// Sets `user`'s entry in the pool_passwd file at `path`, creating the file if needed. The file
/// is rewritten in place, so its owner and mode stay what they were.
pub fn update_pool_passwd(path: &Path, user: &str, secret: &PasswordEntry) -> Result<(), Failure> {
    let old = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(anyhow!("cannot read {}: {e}", path.display()).into()),
    };
    let new = pool_passwd::upsert(&old, user, secret);
    std::fs::write(path, new).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}

/// The current user's name and home directory, from /etc/passwd as getpwuid(3) gives them to
/// the tools (the home directory is not `$HOME`, which pg_enc ignores too).
pub fn current_user() -> Result<(String, PathBuf), Failure> {
    let uid = std::fs::metadata("/proc/self")
        .context("cannot read /proc/self")?
        .uid();
    let passwd = std::fs::read_to_string("/etc/passwd").context("cannot read /etc/passwd")?;
    passwd
        .lines()
        .map(|l| l.split(':').collect::<Vec<_>>())
        .find(|f| f.len() >= 6 && f[2].parse() == Ok(uid))
        .map(|f| (f[0].to_owned(), PathBuf::from(f[5])))
        .ok_or_else(|| anyhow!("getpwuid() failed: no /etc/passwd entry for uid {uid}").into())
}

/// The user of a pool_passwd entry: `-u` or the input line's, else the current user.
pub fn entry_user(given: Option<&str>) -> Result<String, Failure> {
    match given.filter(|u| !u.is_empty()) {
        Some(u) => Ok(u.to_owned()),
        None => Ok(current_user()?.0),
    }
}

/// One line of an `-i` input file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InputLine {
    /// Empty.
    Blank,
    /// No `:`, or nothing after it.
    Invalid,
    /// `user:password` (the password is everything after the first `:`).
    Pair {
        /// Before the first `:` (may be empty: the current user).
        user: String,
        /// After it.
        password: String,
    },
}

/// Reads an `-i` file: one [`InputLine`] per line, newline removed.
pub fn read_input(path: &Path) -> Result<Vec<InputLine>, Failure> {
    let bytes = std::fs::read(path)
        .map_err(|e| anyhow!("failed to open input_file \"{}\" ({e})", path.display()))?;
    let text = String::from_utf8(bytes)
        .map_err(|_| anyhow!("input file \"{}\" is not valid UTF-8", path.display()))?;
    Ok(text
        .split_inclusive('\n')
        .map(|raw| {
            let line = raw.strip_suffix('\n').unwrap_or(raw);
            match line.split_once(':') {
                _ if line.is_empty() => InputLine::Blank,
                Some((user, password)) if !password.is_empty() => InputLine::Pair {
                    user: user.to_owned(),
                    password: password.to_owned(),
                },
                _ => InputLine::Invalid,
            }
        })
        .collect())
}

/// Writes `text` to stdout (the tools' output, byte for byte).
pub fn print(text: &str) -> Result<(), Failure> {
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())
        .and_then(|()| out.flush())
        .context("cannot write to stdout")?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn input_lines_split_at_the_first_colon() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("in");
        std::fs::write(&path, "u1:p1\n\nbad\na:\n:p\nu:p:x\n  \nlast:q").unwrap();
        let pair = |u: &str, p: &str| InputLine::Pair {
            user: u.into(),
            password: p.into(),
        };
        assert_eq!(
            read_input(&path).unwrap(),
            vec![
                pair("u1", "p1"),
                InputLine::Blank,
                InputLine::Invalid,
                InputLine::Invalid,
                pair("", "p"),
                pair("u", "p:x"),
                InputLine::Invalid,
                pair("last", "q"),
            ]
        );
    }

    #[test]
    fn the_current_user_is_found() {
        let (name, home) = current_user().unwrap();
        assert!(!name.is_empty());
        assert!(home.is_absolute());
    }
}
