//! Splits one line of pgpool.conf into a parameter name and its value text (PGB-1.1 to 1.3).
//!
//! The grammar follows Pgpool-II's `pool_config.l`: a name, an optional `=`, one value token, then
//! only whitespace or a `#` comment. A value token is a single-quoted string (quotes stripped, no
//! escape processing; `\'` does not end the string), an unquoted word starting with a letter, an
//! integer (decimal or `0x` hex, optional sign, optional unit letters) or a real number.

/// What was wrong with a line; [`ConfigError::Syntax`](super::ConfigError::Syntax) adds the place.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SyntaxError {
    /// The line does not start with a parameter name.
    #[error("expected a parameter name, found {0:?}")]
    ExpectedName(char),
    /// The name is not followed by a value.
    #[error("parameter \"{0}\" has no value")]
    MissingValue(String),
    /// A value token cannot start with this character.
    #[error("a value cannot start with {0:?} (quote it with '...')")]
    BadValue(char),
    /// A `'` string is not closed on the same line.
    #[error("unterminated quoted string")]
    UnterminatedString,
    /// Something other than a comment follows the value.
    #[error("unexpected {0:?} after the value (quote values that contain spaces)")]
    TrailingText(String),
    /// The line is not valid UTF-8.
    #[error("line is not valid UTF-8")]
    InvalidUtf8,
}

/// One `name = value` line, borrowed from the text of the line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Setting<'a> {
    /// The parameter name, exactly as written (matching is case-sensitive, PGB-1.2).
    pub name: &'a str,
    /// The value with any surrounding single quotes removed.
    pub value: &'a str,
}

/// Lexes one line. `Ok(None)` for blank and comment-only lines.
pub fn lex_line(line: &str) -> Result<Option<Setting<'_>>, SyntaxError> {
    let bytes = line.as_bytes();
    let mut pos = skip_space(bytes, 0);
    match bytes.get(pos) {
        None | Some(b'#') => return Ok(None),
        Some(&b) if !is_letter(b) => return Err(SyntaxError::ExpectedName(char_at(line, pos))),
        Some(_) => {}
    }
    let name_start = pos;
    while bytes
        .get(pos)
        .is_some_and(|&b| is_letter(b) || b.is_ascii_digit())
    {
        pos += 1;
    }
    let name = &line[name_start..pos];
    pos = skip_space(bytes, pos);
    if bytes.get(pos) == Some(&b'=') {
        pos = skip_space(bytes, pos + 1);
    }
    let (value, end) = match bytes.get(pos) {
        None | Some(b'#') => return Err(SyntaxError::MissingValue(name.to_owned())),
        Some(b'\'') => quoted(line, pos)?,
        Some(&b) if is_letter(b) => unquoted(line, pos),
        Some(&b) if b.is_ascii_digit() || matches!(b, b'+' | b'-' | b'.') => {
            number(line, pos).ok_or_else(|| SyntaxError::BadValue(char_at(line, pos)))?
        }
        Some(_) => return Err(SyntaxError::BadValue(char_at(line, pos))),
    };
    let rest = skip_space(bytes, end);
    match bytes.get(rest) {
        None | Some(b'#') => Ok(Some(Setting { name, value })),
        Some(_) => Err(SyntaxError::TrailingText(
            line[rest..].trim_end().to_owned(),
        )),
    }
}

/// `[A-Za-z_]` or any byte of a multi-byte UTF-8 character (pgpool's `\200-\377`).
fn is_letter(b: u8) -> bool {
    b.is_ascii_alphabetic() || b == b'_' || b >= 0x80
}

fn skip_space(bytes: &[u8], mut pos: usize) -> usize {
    while bytes
        .get(pos)
        .is_some_and(|b| matches!(b, b' ' | b'\t' | b'\r' | b'\x0c'))
    {
        pos += 1;
    }
    pos
}

fn char_at(line: &str, pos: usize) -> char {
    line.get(pos..)
        .and_then(|s| s.chars().next())
        .unwrap_or(' ')
}

/// `'…'`: returns the text between the quotes and the index after the closing quote.
fn quoted(line: &str, open: usize) -> Result<(&str, usize), SyntaxError> {
    let bytes = line.as_bytes();
    let mut pos = open + 1;
    loop {
        match bytes.get(pos) {
            None => return Err(SyntaxError::UnterminatedString),
            Some(b'\'') => return Ok((&line[open + 1..pos], pos + 1)),
            // A backslash keeps the next character inside the string; both stay in the value.
            Some(b'\\') if pos + 1 < bytes.len() => pos += 2,
            Some(_) => pos += 1,
        }
    }
}

/// A word starting with a letter and continuing with letters, digits and `_ - . : /`.
fn unquoted(line: &str, start: usize) -> (&str, usize) {
    let bytes = line.as_bytes();
    let mut pos = start + 1;
    while bytes.get(pos).is_some_and(|&b| {
        is_letter(b) || b.is_ascii_digit() || matches!(b, b'-' | b'.' | b':' | b'/')
    }) {
        pos += 1;
    }
    (&line[start..pos], pos)
}

/// The longer of an integer (`[+-]?(digits|0x hex)[letters]*`) and a real
/// (`[+-]?digits*.digits*([Ee][+-]?digits)?`) starting at `start`, as flex would pick.
fn number(line: &str, start: usize) -> Option<(&str, usize)> {
    let bytes = line.as_bytes();
    let digits = |mut p: usize, hex: bool| {
        while bytes.get(p).is_some_and(|b| {
            if hex {
                b.is_ascii_hexdigit()
            } else {
                b.is_ascii_digit()
            }
        }) {
            p += 1;
        }
        p
    };
    let body = if matches!(bytes[start], b'+' | b'-') {
        start + 1
    } else {
        start
    };

    let integer = {
        let hex = bytes.get(body) == Some(&b'0')
            && bytes.get(body + 1) == Some(&b'x')
            && bytes.get(body + 2).is_some_and(u8::is_ascii_hexdigit);
        let end = if hex {
            digits(body + 2, true)
        } else {
            digits(body, false)
        };
        (end > body).then(|| {
            let mut p = end;
            while bytes.get(p).is_some_and(u8::is_ascii_alphabetic) {
                p += 1;
            }
            p
        })
    };
    let real = {
        let int_end = digits(body, false);
        (bytes.get(int_end) == Some(&b'.')).then(|| {
            let mut p = digits(int_end + 1, false);
            if matches!(bytes.get(p), Some(b'e' | b'E')) {
                let sign = usize::from(matches!(bytes.get(p + 1), Some(b'+' | b'-')));
                let exp_end = digits(p + 1 + sign, false);
                if exp_end > p + 1 + sign {
                    p = exp_end;
                }
            }
            p
        })
    };
    let end = integer.into_iter().chain(real).max()?;
    Some((&line[start..end], end))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lex(line: &str) -> Option<(&str, &str)> {
        lex_line(line).unwrap().map(|s| (s.name, s.value))
    }

    #[test]
    fn blank_and_comment_lines_are_skipped() {
        assert_eq!(lex(""), None);
        assert_eq!(lex("   \t\r"), None);
        assert_eq!(lex("# port = 1"), None);
        assert_eq!(lex("   # indented comment"), None);
    }

    #[test]
    fn equals_sign_is_optional() {
        assert_eq!(lex("port = 5433"), Some(("port", "5433")));
        assert_eq!(lex("port=5433"), Some(("port", "5433")));
        assert_eq!(lex("port 5433"), Some(("port", "5433")));
        assert_eq!(lex("\tport\t=\t5433\r"), Some(("port", "5433")));
    }

    #[test]
    fn quoted_strings_keep_backslashes_and_may_hold_anything() {
        assert_eq!(lex("a = 'x y # z'"), Some(("a", "x y # z")));
        assert_eq!(lex(r"a = 'it\'s'"), Some(("a", r"it\'s")));
        assert_eq!(lex(r"a = 'C:\dir'"), Some(("a", r"C:\dir")));
        assert_eq!(lex("a = ''"), Some(("a", "")));
        assert_eq!(lex("a = 'v' # comment"), Some(("a", "v")));
    }

    #[test]
    fn unquoted_words_numbers_and_units() {
        assert_eq!(
            lex("mode = streaming_replication"),
            Some(("mode", "streaming_replication"))
        );
        assert_eq!(
            lex("host = db-1.example.com:5432/x"),
            Some(("host", "db-1.example.com:5432/x"))
        );
        assert_eq!(lex("t = 5min"), Some(("t", "5min")));
        assert_eq!(lex("t = -1"), Some(("t", "-1")));
        assert_eq!(lex("t = 0x1F"), Some(("t", "0x1F")));
        assert_eq!(lex("w = 0.5"), Some(("w", "0.5")));
        assert_eq!(lex("w = .5"), Some(("w", ".5")));
        assert_eq!(lex("w = 1.5e3"), Some(("w", "1.5e3")));
        assert_eq!(lex("on_off = on#c"), Some(("on_off", "on")));
        assert_eq!(lex("naïve = ünïcode"), Some(("naïve", "ünïcode")));
    }

    #[test]
    fn malformed_lines_are_errors() {
        assert_eq!(lex_line("= 1"), Err(SyntaxError::ExpectedName('=')));
        assert_eq!(lex_line("9port = 1"), Err(SyntaxError::ExpectedName('9')));
        assert_eq!(
            lex_line("port ="),
            Err(SyntaxError::MissingValue("port".into()))
        );
        assert_eq!(
            lex_line("port # c"),
            Err(SyntaxError::MissingValue("port".into()))
        );
        assert_eq!(lex_line("a = 'open"), Err(SyntaxError::UnterminatedString));
        assert_eq!(
            lex_line(r"a = 'ends in \'"),
            Err(SyntaxError::UnterminatedString)
        );
        assert_eq!(lex_line("a = \"x\""), Err(SyntaxError::BadValue('"')));
        assert_eq!(
            lex_line("a = x y"),
            Err(SyntaxError::TrailingText("y".into()))
        );
        assert_eq!(
            lex_line("a = 127.0.0.1"),
            Err(SyntaxError::TrailingText(".0.1".into()))
        );
        assert_eq!(lex_line("a = -"), Err(SyntaxError::BadValue('-')));
        assert_eq!(lex_line("dir = /tmp"), Err(SyntaxError::BadValue('/')));
        assert_eq!(
            lex_line("a = 'x' 'y'"),
            Err(SyntaxError::TrailingText("'y'".into()))
        );
    }
}
