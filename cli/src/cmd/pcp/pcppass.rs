//! `.pcppass` as libpcp reads it: `hostname:port:username:password`, `*` matches anything,
//! `\` escapes `:` and `\`, the first matching line wins; `$PCPPASSFILE`, else `~/.pcppass`,
//! used only when it is a regular file without group or other permissions.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// The file to read: `PCPPASSFILE` if given (the caller passes the environment's value),
/// else `<home>/.pcppass`.
pub fn path(pcppassfile: Option<PathBuf>, home: Option<PathBuf>) -> Option<PathBuf> {
    pcppassfile.or_else(|| home.map(|h| h.join(".pcppass")))
}

/// Reads the password for `host:port:user` from `file`, if the file is usable and matches.
pub fn read(file: &Path, host: &str, port: u16, user: &str) -> Option<String> {
    let meta = std::fs::metadata(file).ok()?;
    if !meta.is_file() {
        return None;
    }
    if meta.permissions().mode() & 0o077 != 0 {
        eprintln!(
            "WARNING: password file \"{}\" has group or world access; permissions should be u=rw (0600) or less",
            file.display()
        );
        return None;
    }
    let text = std::fs::read_to_string(file).ok()?;
    lookup(&text, host, port, user)
}

/// The host libpcp compares: no host, or the compiled default socket directory, is
/// `localhost`.
pub fn host_key(host: Option<&str>) -> &str {
    match host {
        None | Some("") | Some("/tmp") => "localhost",
        Some(h) => h,
    }
}

/// Finds the password in the text of a `.pcppass` file.
pub fn lookup(content: &str, host: &str, port: u16, user: &str) -> Option<String> {
    let port = port.to_string();
    for line in content.lines() {
        let fields = split_fields(line);
        if fields.len() < 4 {
            continue;
        }
        let matches = |f: &str, v: &str| f == "*" || f == v;
        if matches(&fields[0], host) && matches(&fields[1], &port) && matches(&fields[2], user) {
            return Some(fields[3].clone());
        }
    }
    None
}

fn split_fields(line: &str) -> Vec<String> {
    let mut fields = vec![String::new()];
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        let c = match c {
            '\\' => match chars.next() {
                Some(n) => n,
                None => break,
            },
            ':' if fields.len() < 4 => {
                fields.push(String::new());
                continue;
            }
            c => c,
        };
        if let Some(f) = fields.last_mut() {
            f.push(c);
        }
    }
    fields
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_like_libpcp() {
        let file = "other:9898:bob:nope\n*:9899:bob:s\\:ecret\nlocalhost:*:*:local\n";
        assert_eq!(lookup(file, "h", 9899, "bob").as_deref(), Some("s:ecret"));
        assert_eq!(
            lookup(file, "localhost", 1, "amy").as_deref(),
            Some("local")
        );
        assert_eq!(lookup(file, "h", 9898, "bob"), None);
        assert_eq!(host_key(None), "localhost");
        assert_eq!(host_key(Some("/tmp")), "localhost");
        assert_eq!(host_key(Some("/run/pg")), "/run/pg");
    }

    #[test]
    fn group_readable_files_are_ignored() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("p");
        std::fs::write(&f, "*:*:*:pw\n").unwrap();
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert_eq!(read(&f, "h", 1, "u"), None);
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert_eq!(read(&f, "h", 1, "u").as_deref(), Some("pw"));
    }
}
