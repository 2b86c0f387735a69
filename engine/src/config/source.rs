//! Reads pgpool.conf and the files it includes into an ordered list of assignments (PGB-1.7).

use std::fs;
use std::path::{Path, PathBuf};

use super::error::{ConfigError, Location};
use super::lexer::{lex_line, SyntaxError};

/// How deep `include` may nest: the top-level file is depth 0, files it includes depth 1, and
/// so on up to this depth (Pgpool-II allows 10).
pub const MAX_INCLUDE_DEPTH: usize = 10;

/// One `name = value` line in file order, includes expanded in place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assignment {
    /// The parameter name as written.
    pub name: String,
    /// The value, quotes removed.
    pub value: String,
    /// Where the line is.
    pub at: Location,
}

/// Reads `path` and every file it includes.
pub fn read_file(path: &Path) -> Result<Vec<Assignment>, ConfigError> {
    let bytes = fs::read(path).map_err(|source| ConfigError::Read {
        path: path.to_owned(),
        source,
    })?;
    let mut out = Vec::new();
    read_bytes(&bytes, path, 0, &mut out)?;
    Ok(out)
}

/// Treats `text` as the contents of `file`: includes are resolved relative to `file`'s directory.
pub fn read_str(text: &str, file: &Path) -> Result<Vec<Assignment>, ConfigError> {
    let mut out = Vec::new();
    read_bytes(text.as_bytes(), file, 0, &mut out)?;
    Ok(out)
}

fn read_bytes(
    bytes: &[u8],
    file: &Path,
    depth: usize,
    out: &mut Vec<Assignment>,
) -> Result<(), ConfigError> {
    for (index, raw) in bytes.split(|&b| b == b'\n').enumerate() {
        let at = Location {
            file: file.to_owned(),
            line: index + 1,
        };
        let line = std::str::from_utf8(raw).map_err(|_| ConfigError::Syntax {
            at: at.clone(),
            why: SyntaxError::InvalidUtf8,
        })?;
        let setting = match lex_line(line) {
            Ok(Some(setting)) => setting,
            Ok(None) => continue,
            Err(why) => return Err(ConfigError::Syntax { at, why }),
        };
        if setting.name == "include" {
            let path = resolve(file, setting.value);
            if depth >= MAX_INCLUDE_DEPTH {
                return Err(ConfigError::IncludeDepth {
                    at,
                    path,
                    max: MAX_INCLUDE_DEPTH,
                });
            }
            let included = fs::read(&path).map_err(|source| ConfigError::Include {
                at,
                path: path.clone(),
                source,
            })?;
            read_bytes(&included, &path, depth + 1, out)?;
        } else {
            out.push(Assignment {
                name: setting.name.to_owned(),
                value: setting.value.to_owned(),
                at,
            });
        }
    }
    Ok(())
}

/// An include path is relative to the directory of the file that names it.
fn resolve(including: &Path, name: &str) -> PathBuf {
    let name = Path::new(name);
    match including.parent() {
        Some(dir) if name.is_relative() => dir.join(name),
        _ => name.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(list: &[Assignment]) -> Vec<(&str, &str, usize)> {
        list.iter()
            .map(|a| (a.name.as_str(), a.value.as_str(), a.at.line))
            .collect()
    }

    #[test]
    fn lines_come_back_in_order_with_line_numbers() {
        let list = read_str("# c\nport = 1\n\nport = '2'\r\n", Path::new("/x/p.conf")).unwrap();
        assert_eq!(names(&list), [("port", "1", 2), ("port", "2", 4)]);
        assert_eq!(list[0].at.file, Path::new("/x/p.conf"));
    }

    #[test]
    fn syntax_errors_name_file_and_line() {
        let err = read_str("port = 1\nport = 'x\n", Path::new("/x/p.conf")).unwrap_err();
        assert_eq!(
            err.to_string(),
            "/x/p.conf:2: syntax error: unterminated quoted string"
        );
    }

    #[test]
    fn invalid_utf8_is_a_line_error() {
        let mut out = Vec::new();
        let err = read_bytes(b"a = 1\nb = '\xff'\n", Path::new("f"), 0, &mut out).unwrap_err();
        assert_eq!(
            err.to_string(),
            "f:2: syntax error: line is not valid UTF-8"
        );
    }

    #[test]
    fn includes_are_relative_to_the_including_file_and_expand_in_place() {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir(dir.path().join("sub")).unwrap();
        fs::write(
            dir.path().join("main.conf"),
            "a = 1\ninclude = 'sub/one.conf'\nd = 4\n",
        )
        .unwrap();
        fs::write(
            dir.path().join("sub/one.conf"),
            "b = 2\ninclude 'two.conf'\n",
        )
        .unwrap();
        fs::write(dir.path().join("sub/two.conf"), "c = 3\n").unwrap();
        let list = read_file(&dir.path().join("main.conf")).unwrap();
        assert_eq!(
            names(&list),
            [("a", "1", 1), ("b", "2", 1), ("c", "3", 1), ("d", "4", 3)]
        );
        assert_eq!(list[2].at.file, dir.path().join("sub/two.conf"));
    }

    #[test]
    fn includes_nest_ten_deep_but_not_eleven() {
        let dir = tempfile::tempdir().unwrap();
        // f0 includes f1 ... f{n-1} includes f{n}; f{n} sets a value.
        let chain = |n: usize| {
            for i in 0..n {
                fs::write(
                    dir.path().join(format!("f{i}")),
                    format!("include = 'f{}'\n", i + 1),
                )
                .unwrap();
            }
            fs::write(dir.path().join(format!("f{n}")), "deep = yes\n").unwrap();
            read_file(&dir.path().join("f0"))
        };
        let list = chain(MAX_INCLUDE_DEPTH).unwrap();
        assert_eq!(names(&list), [("deep", "yes", 1)]);
        match chain(MAX_INCLUDE_DEPTH + 1) {
            Err(ConfigError::IncludeDepth { at, max, path }) => {
                assert_eq!(max, 10);
                assert_eq!(at.file, dir.path().join("f10"));
                assert_eq!(path, dir.path().join("f11"));
            }
            other => panic!("expected IncludeDepth, got {other:?}"),
        }
    }

    #[test]
    fn an_include_cycle_stops_at_the_depth_limit() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("loop.conf"), "include = 'loop.conf'\n").unwrap();
        let err = read_file(&dir.path().join("loop.conf")).unwrap_err();
        assert!(matches!(err, ConfigError::IncludeDepth { .. }), "{err}");
    }

    #[test]
    fn missing_files_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let err = read_file(&dir.path().join("none.conf")).unwrap_err();
        assert!(matches!(err, ConfigError::Read { .. }), "{err}");
        fs::write(dir.path().join("m.conf"), "\ninclude = 'gone.conf'\n").unwrap();
        let err = read_file(&dir.path().join("m.conf")).unwrap_err();
        assert!(
            err.to_string()
                .contains("m.conf:2: cannot read included file"),
            "{err}"
        );
    }
}
