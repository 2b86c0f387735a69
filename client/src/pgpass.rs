//! `.pgpass` lookup as libpq does it: `hostname:port:database:username:password`, `*` matches
//! anything, `\` escapes `:` and `\`, the first matching line wins.

use std::path::{Path, PathBuf};

/// The file libpq reads: `$PGPASSFILE`, else `~/.pgpass`.
pub fn default_path() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("PGPASSFILE") {
        return Some(PathBuf::from(p));
    }
    std::env::var_os("HOME").map(|h| Path::new(&h).join(".pgpass"))
}

/// Finds the password for a connection in the text of a `.pgpass` file. A UNIX socket
/// directory (or the default socket) matches the host `localhost`, as in libpq.
pub fn lookup(content: &str, host: &str, port: u16, database: &str, user: &str) -> Option<String> {
    let host = if host.starts_with('/') {
        "localhost"
    } else {
        host
    };
    let port = port.to_string();
    for line in content.lines() {
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        let fields = split_fields(line);
        if fields.len() < 5 {
            continue;
        }
        let matches = |f: &str, v: &str| f == "*" || f == v;
        if matches(&fields[0], host)
            && matches(&fields[1], &port)
            && matches(&fields[2], database)
            && matches(&fields[3], user)
        {
            return Some(fields[4..].join(":"));
        }
    }
    None
}

fn split_fields(line: &str) -> Vec<String> {
    let mut fields = vec![String::new()];
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                if let (Some(n), Some(f)) = (chars.next(), fields.last_mut()) {
                    f.push(n);
                }
            }
            ':' if fields.len() < 5 => fields.push(String::new()),
            c => {
                if let Some(f) = fields.last_mut() {
                    f.push(c)
                }
            }
        }
    }
    fields
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_like_libpq() {
        let file =
            "# comment\nother:5432:*:bob:nope\n*:5433:*:bob:s\\:ecret\nlocalhost:*:db:*:local\n";
        assert_eq!(
            lookup(file, "h", 5433, "x", "bob").as_deref(),
            Some("s:ecret")
        );
        assert_eq!(
            lookup(file, "/tmp", 1, "db", "amy").as_deref(),
            Some("local")
        );
        assert_eq!(lookup(file, "h", 5432, "x", "bob"), None);
    }
}
