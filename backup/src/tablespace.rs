//! `-T OLDDIR=NEWDIR` tablespace relocation (as `pg_basebackup` 15 parses and applies it) and the
//! `tablespace_map` file format.

/// `MAXPGPATH`: the C buffers hold at most this many bytes including the NUL.
const MAXPGPATH: usize = 1024;

/// The `tablespace_map` file name.
pub const TABLESPACE_MAP: &str = "tablespace_map";

/// Errors with `pg_basebackup`'s and the server's messages.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TablespaceError {
    /// One side of the mapping is longer than `MAXPGPATH`.
    #[error("directory name too long")]
    DirectoryNameTooLong,
    /// A second unescaped `=` after NEWDIR started.
    #[error("multiple \"=\" signs in tablespace mapping")]
    MultipleEquals,
    /// OLDDIR or NEWDIR is empty.
    #[error("invalid tablespace mapping format \"{0}\", must be \"OLDDIR=NEWDIR\"")]
    InvalidFormat(String),
    /// OLDDIR is not absolute.
    #[error("old directory is not an absolute path in tablespace mapping: {0}")]
    OldDirNotAbsolute(String),
    /// NEWDIR is not absolute.
    #[error("new directory is not an absolute path in tablespace mapping: {0}")]
    NewDirNotAbsolute(String),
    /// A `tablespace_map` line is not `<oid> <path>` or the file does not end with a newline.
    #[error("invalid data in file \"tablespace_map\" (line {0})")]
    InvalidMapFile(usize),
}

/// One `-T` mapping, both sides canonicalized.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TablespaceMapping {
    /// The tablespace location on the server.
    pub old_dir: String,
    /// Where to put it in the backup.
    pub new_dir: String,
}

impl TablespaceMapping {
    /// Parses one `-T` argument like `tablespace_list_append`: the first unescaped `=` splits it,
    /// `\=` is a literal `=`, OLDDIR must look absolute under Unix or Windows rules and NEWDIR
    /// under local rules.
    pub fn parse(arg: &str) -> Result<Self, TablespaceError> {
        let bytes = arg.as_bytes();
        let mut old: Vec<u8> = Vec::new();
        let mut new: Vec<u8> = Vec::new();
        let mut in_new = false;
        for (i, &c) in bytes.iter().enumerate() {
            let dst_len = if in_new { new.len() } else { old.len() };
            if dst_len >= MAXPGPATH {
                return Err(TablespaceError::DirectoryNameTooLong);
            }
            if c == b'\\' && bytes.get(i + 1) == Some(&b'=') {
                // Skip the backslash escaping '='.
            } else if c == b'=' && (i == 0 || bytes[i - 1] != b'\\') {
                // Like the C code: a second '=' only errors once NEWDIR has content.
                if !new.is_empty() {
                    return Err(TablespaceError::MultipleEquals);
                }
                in_new = true;
            } else if in_new {
                new.push(c);
            } else {
                old.push(c);
            }
        }
        // Only ASCII bytes were removed from valid UTF-8, so both halves are still UTF-8.
        let old = String::from_utf8(old).unwrap_or_default();
        let new = String::from_utf8(new).unwrap_or_default();
        if old.is_empty() || new.is_empty() {
            return Err(TablespaceError::InvalidFormat(arg.to_owned()));
        }
        if !old.starts_with('/') && !is_windows_absolute_path(&old) {
            return Err(TablespaceError::OldDirNotAbsolute(old));
        }
        if !new.starts_with('/') {
            return Err(TablespaceError::NewDirNotAbsolute(new));
        }
        Ok(TablespaceMapping {
            old_dir: canonicalize_path(&old),
            new_dir: canonicalize_path(&new),
        })
    }
}

/// `is_windows_absolute_path`: `\…`, `/…` or a drive letter, colon and separator.
fn is_windows_absolute_path(path: &str) -> bool {
    let b = path.as_bytes();
    let sep = |c: Option<&u8>| matches!(c, Some(b'/' | b'\\'));
    sep(b.first())
        || (b.first().is_some_and(u8::is_ascii_alphabetic)
            && b.get(1) == Some(&b':')
            && sep(b.get(2)))
}

/// All `-T` options, in command-line order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TablespaceMappings(Vec<TablespaceMapping>);

impl TablespaceMappings {
    /// No mappings.
    pub fn new() -> Self {
        Self::default()
    }

    /// Parses and appends one `-T` argument.
    pub fn push_arg(&mut self, arg: &str) -> Result<(), TablespaceError> {
        self.0.push(TablespaceMapping::parse(arg)?);
        Ok(())
    }

    /// The mappings.
    pub fn as_slice(&self) -> &[TablespaceMapping] {
        &self.0
    }

    /// `get_tablespace_mapping`: where the tablespace at server location `dir` goes — the NEWDIR
    /// of the first mapping whose OLDDIR equals the canonicalized `dir`, else `dir` unchanged.
    pub fn map<'a>(&'a self, dir: &'a str) -> &'a str {
        let canon = canonicalize_path(dir);
        self.0
            .iter()
            .find(|m| m.old_dir == canon)
            .map_or(dir, |m| m.new_dir.as_str())
    }
}

/// `canonicalize_path` (Unix rules): collapses repeated `/`, drops `.` components and trailing
/// slashes, and resolves `..` against the preceding component where there is one (`/..` is `/`;
/// a relative path keeps its leading `..`).
pub fn canonicalize_path(path: &str) -> String {
    let absolute = path.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => match parts.last() {
                Some(&last) if last != ".." => {
                    parts.pop();
                }
                _ if absolute => {}
                _ => parts.push(".."),
            },
            p => parts.push(p),
        }
    }
    let joined = parts.join("/");
    match (absolute, joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) => ".".to_owned(),
        (false, false) => joined,
    }
}

/// One `tablespace_map` line: the tablespace OID and its location.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TablespaceMapEntry {
    /// The OID, the name of the `pg_tblspc/<oid>` symlink.
    pub oid: u32,
    /// The location (raw bytes: a path need not be UTF-8).
    pub path: Vec<u8>,
}

/// Writes `tablespace_map` as `do_pg_backup_start` does: `<oid> <path>\n` with `\n`, `\r` and
/// `\` in the path escaped by a backslash.
pub fn write_tablespace_map(entries: &[TablespaceMapEntry]) -> Vec<u8> {
    let mut out = Vec::new();
    for e in entries {
        out.extend_from_slice(e.oid.to_string().as_bytes());
        out.push(b' ');
        for &c in &e.path {
            if matches!(c, b'\n' | b'\r' | b'\\') {
                out.push(b'\\');
            }
            out.push(c);
        }
        out.push(b'\n');
    }
    out
}

/// Parses `tablespace_map` (or `spcmapfile`) as the server's `read_tablespace_map` does: lines
/// end at an unescaped `\n` or `\r`, a backslash escapes the next byte, each line is an OID, one
/// space and a path (which may itself start with spaces).
pub fn parse_tablespace_map(content: &[u8]) -> Result<Vec<TablespaceMapEntry>, TablespaceError> {
    let mut entries = Vec::new();
    let mut line: Vec<u8> = Vec::new();
    let mut line_no = 1;
    let mut escaped = false;
    for &c in content {
        if !escaped && (c == b'\n' || c == b'\r') {
            if !line.is_empty() {
                entries.push(parse_map_line(&line, line_no)?);
                line.clear();
            }
            line_no += 1;
        } else if !escaped && c == b'\\' {
            escaped = true;
        } else {
            line.push(c);
            escaped = false;
        }
    }
    if !line.is_empty() || escaped {
        return Err(TablespaceError::InvalidMapFile(line_no));
    }
    Ok(entries)
}

fn parse_map_line(line: &[u8], line_no: usize) -> Result<TablespaceMapEntry, TablespaceError> {
    let bad = || TablespaceError::InvalidMapFile(line_no);
    let n = line.iter().position(|&b| b == b' ').unwrap_or(line.len());
    // The C test: n < 1 || n >= len - 1 (an OID and a non-empty path).
    if n < 1 || n + 1 >= line.len() {
        return Err(bad());
    }
    let oid = std::str::from_utf8(&line[..n])
        .ok()
        .filter(|s| s.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|s| s.parse().ok())
        .ok_or_else(bad)?;
    Ok(TablespaceMapEntry {
        oid,
        path: line[n + 1..].to_vec(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mapping_arguments() {
        let m = |a: &str| TablespaceMapping::parse(a);
        let ok = |o: &str, n: &str| {
            Ok(TablespaceMapping {
                old_dir: o.into(),
                new_dir: n.into(),
            })
        };
        assert_eq!(m("/tmp/ts1=/tmp/ts1b"), ok("/tmp/ts1", "/tmp/ts1b"));
        assert_eq!(m("/a\\=b=/c"), ok("/a=b", "/c"));
        assert_eq!(m("/a=/c\\=d"), ok("/a", "/c=d"));
        assert_eq!(m("/a\\b=/c"), ok("/a\\b", "/c"));
        assert_eq!(m("/a//b/./c/=/x/y/../z/"), ok("/a/b/c", "/x/z"));
        assert_eq!(m("/a==/b"), ok("/a", "/b"));
        assert_eq!(m("C:\\ts=/b"), ok("C:\\ts", "/b"));
        assert_eq!(m("\\\\server\\ts=/b"), ok("\\\\server\\ts", "/b"));
        assert_eq!(m("/a=/b=/c"), Err(TablespaceError::MultipleEquals));
        for bad in ["", "=", "/a", "/a=", "=/b", "/a\\=/b"] {
            assert_eq!(
                m(bad),
                Err(TablespaceError::InvalidFormat(bad.into())),
                "{bad}"
            );
        }
        assert_eq!(
            m("rel=/b"),
            Err(TablespaceError::OldDirNotAbsolute("rel".into()))
        );
        assert_eq!(
            m("/a=rel"),
            Err(TablespaceError::NewDirNotAbsolute("rel".into()))
        );
        assert_eq!(
            m("/a=C:\\x"),
            Err(TablespaceError::NewDirNotAbsolute("C:\\x".into()))
        );
        assert_eq!(
            m(&format!("/{}=/b", "x".repeat(2000))),
            Err(TablespaceError::DirectoryNameTooLong)
        );
        assert_eq!(
            TablespaceError::InvalidFormat("/a".into()).to_string(),
            "invalid tablespace mapping format \"/a\", must be \"OLDDIR=NEWDIR\""
        );
    }

    #[test]
    fn lookup() {
        let mut maps = TablespaceMappings::new();
        maps.push_arg("/srv/ts1=/backup/ts1").unwrap();
        maps.push_arg("/srv/ts1=/elsewhere").unwrap();
        maps.push_arg("/srv/ts2/=/backup/ts2").unwrap();
        assert_eq!(maps.map("/srv/ts1"), "/backup/ts1");
        assert_eq!(maps.map("/srv//ts1/"), "/backup/ts1");
        assert_eq!(maps.map("/srv/ts2"), "/backup/ts2");
        assert_eq!(maps.map("/srv/ts3"), "/srv/ts3");
        assert_eq!(maps.as_slice().len(), 3);
    }

    #[test]
    fn canonical_paths() {
        for (input, want) in [
            ("/", "/"),
            ("//", "/"),
            ("/a/b/", "/a/b"),
            ("/a/./b/.", "/a/b"),
            ("/a/../..", "/"),
            ("/..", "/"),
            ("a/../../b", "../b"),
            ("./a", "a"),
            (".", "."),
            ("a/..", "."),
        ] {
            assert_eq!(canonicalize_path(input), want, "{input}");
        }
    }

    #[test]
    fn map_file_round_trip() {
        let entries = vec![
            TablespaceMapEntry {
                oid: 16392,
                path: b"/tmp/pgfix/ts1".to_vec(),
            },
            TablespaceMapEntry {
                oid: 7,
                path: b" lead\\ing\nnew\rline \xff".to_vec(),
            },
        ];
        let text = write_tablespace_map(&entries);
        assert_eq!(
            text,
            b"16392 /tmp/pgfix/ts1\n7  lead\\\\ing\\\nnew\\\rline \xff\n".to_vec()
        );
        assert_eq!(parse_tablespace_map(&text).unwrap(), entries);
        // What base.tar of the real backup contained.
        assert_eq!(
            parse_tablespace_map(b"16392 /tmp/pgfix/ts1\n").unwrap()[0].oid,
            16392
        );
        assert_eq!(parse_tablespace_map(b"").unwrap(), vec![]);
        assert_eq!(parse_tablespace_map(b"1 /a\r\n2 /b\n").unwrap().len(), 2);
        for bad in [
            &b"1 /a"[..],
            b"1 /a\\",
            b"1\n",
            b"1 \n",
            b" /a\n",
            b"x /a\n",
            b"99999999999 /a\n",
        ] {
            assert!(parse_tablespace_map(bad).is_err(), "{bad:?}");
        }
    }
}
