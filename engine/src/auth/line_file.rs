//! What pool_hba.conf, pool_passwd and pcp.conf share: a file read whole, parsed line by line,
//! and errors that name the file and the 1-based line.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

/// Why a line-oriented auth file could not be loaded; `E` says what was wrong with a line.
#[derive(Debug, thiserror::Error)]
pub enum FileError<E>
where
    E: std::error::Error + 'static,
{
    /// The file could not be read.
    #[error("cannot read \"{}\": {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// What the operating system said.
        #[source]
        source: io::Error,
    },
    /// A malformed line.
    #[error("{}:{line}: {why}", file.display())]
    Parse {
        /// The file.
        file: PathBuf,
        /// 1-based line number.
        line: usize,
        /// What was wrong.
        #[source]
        why: E,
    },
}

/// Reads `path` and parses it with [`parse`].
pub(crate) fn load<T, E>(
    path: &Path,
    each: impl FnMut(usize, &[u8]) -> Result<Option<T>, E>,
) -> Result<Vec<T>, FileError<E>>
where
    E: std::error::Error + 'static,
{
    let bytes = fs::read(path).map_err(|source| FileError::Read {
        path: path.to_owned(),
        source,
    })?;
    parse(&bytes, path, each)
}

/// Calls `each` with every line of `bytes` (split at `\n`, 1-based number, raw bytes) and
/// collects what it returns; `None` skips the line (comments, blank lines). The first error
/// stops the parse and is returned with `file` and the line number.
pub(crate) fn parse<T, E>(
    bytes: &[u8],
    file: &Path,
    mut each: impl FnMut(usize, &[u8]) -> Result<Option<T>, E>,
) -> Result<Vec<T>, FileError<E>>
where
    E: std::error::Error + 'static,
{
    let mut out = Vec::new();
    for (index, raw) in bytes.split(|&b| b == b'\n').enumerate() {
        let line = index + 1;
        match each(line, raw) {
            Ok(Some(item)) => out.push(item),
            Ok(None) => {}
            Err(why) => {
                return Err(FileError::Parse {
                    file: file.to_owned(),
                    line,
                    why,
                })
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("bad")]
    struct Bad;

    fn digits(_: usize, raw: &[u8]) -> Result<Option<u8>, Bad> {
        match raw {
            [] => Ok(None),
            [d @ b'0'..=b'9'] => Ok(Some(d - b'0')),
            _ => Err(Bad),
        }
    }

    #[test]
    fn collects_skips_and_names_the_failing_line() {
        let file = Path::new("f.conf");
        assert_eq!(parse(b"1\n\n2", file, digits).unwrap(), [1, 2]);
        let err = parse(b"1\n\nx\n3", file, digits).unwrap_err();
        assert!(matches!(err, FileError::Parse { line: 3, .. }));
        assert_eq!(err.to_string(), "f.conf:3: bad");
    }

    #[test]
    fn a_missing_file_is_a_read_error_naming_it() {
        let err = load(Path::new("/nonexistent/corepool.conf"), digits).unwrap_err();
        assert!(matches!(err, FileError::Read { .. }));
        assert!(err
            .to_string()
            .starts_with("cannot read \"/nonexistent/corepool.conf\""));
    }
}
