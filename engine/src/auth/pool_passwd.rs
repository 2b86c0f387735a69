//! pool_passwd: `user:secret` lines giving the password corepool uses for each user (PGB-8).

use std::path::Path;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;

use super::line_file;
use super::md5_hex;
use super::pool_key::{KeyError, PoolKey};

/// A stored password, in one of the forms Pgpool-II recognises by prefix (PGB-8.2). The same
/// forms appear in `health_check_password`, `sr_check_password` and the like.
#[derive(Clone, PartialEq, Eq)]
pub enum PasswordEntry {
    /// `md5` + 32 lower-case hex digits of MD5(password ‖ user), exactly as PostgreSQL stores
    /// it; the full string, prefix included.
    Md5(String),
    /// AES-256-CBC ciphertext made by pg_enc (base64-decoded); see [`PoolKey`].
    Aes(Vec<u8>),
    /// A SCRAM-SHA-256 verifier (`SCRAM-SHA-256$<iter>:<salt>$<StoredKey>:<ServerKey>`), full
    /// string.
    ScramSha256(String),
    /// A clear-text password (`TEXT` prefix removed, or no recognised prefix).
    Plain(String),
}

impl std::fmt::Debug for PasswordEntry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print secrets.
        f.write_str(match self {
            Self::Md5(_) => "Md5(..)",
            Self::Aes(_) => "Aes(..)",
            Self::ScramSha256(_) => "ScramSha256(..)",
            Self::Plain(_) => "Plain(..)",
        })
    }
}

/// What was wrong with a secret or a pool_passwd line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PasswdParseError {
    /// An `AES` value whose remainder is not standard base64.
    #[error("AES password is not valid base64")]
    AesBase64,
    /// A line without `:`.
    #[error("expected \"user:password\"")]
    MissingColon,
    /// A line with a number of `:`-separated fields other than 2 or 4.
    #[error("expected \"user:password\" or \"user:password:backend_user:backend_password\"")]
    FieldCount,
    /// An empty user name.
    #[error("empty user name")]
    EmptyUser,
    /// The line is not valid UTF-8.
    #[error("line is not valid UTF-8")]
    InvalidUtf8,
}

impl PasswordEntry {
    /// Recognises a secret's form by its prefix. Only a malformed `AES` value is an error.
    pub fn parse(secret: &str) -> Result<Self, PasswdParseError> {
        if let Some(hex) = secret.strip_prefix("md5") {
            if hex.len() == 32 && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
                return Ok(Self::Md5(secret.to_owned()));
            }
        }
        if let Some(b64) = secret.strip_prefix("AES") {
            let bytes = STANDARD
                .decode(b64)
                .map_err(|_| PasswdParseError::AesBase64)?;
            return Ok(Self::Aes(bytes));
        }
        if secret.starts_with("SCRAM-SHA-256$") {
            return Ok(Self::ScramSha256(secret.to_owned()));
        }
        Ok(Self::Plain(
            secret.strip_prefix("TEXT").unwrap_or(secret).to_owned(),
        ))
    }

    /// The md5 entry for `user` with `password`: `md5` + hex(MD5(password ‖ user)).
    pub fn md5_for(user: &str, password: &str) -> Self {
        Self::Md5(format!(
            "md5{}",
            md5_hex(&[password.as_bytes(), user.as_bytes()])
        ))
    }

    /// The clear-text password, decrypting AES entries with `key`. `Ok(None)` for md5 and
    /// SCRAM entries, which cannot be reversed; an AES entry without a key is an error.
    pub fn plain_text(&self, key: Option<&PoolKey>) -> Result<Option<String>, KeyError> {
        match self {
            Self::Plain(text) => Ok(Some(text.clone())),
            Self::Aes(ciphertext) => key.ok_or(KeyError::Decrypt)?.decrypt(ciphertext).map(Some),
            Self::Md5(_) | Self::ScramSha256(_) => Ok(None),
        }
    }

    /// The secret as it is written in pool_passwd.
    pub fn to_file_form(&self) -> String {
        match self {
            Self::Md5(s) | Self::ScramSha256(s) => s.clone(),
            Self::Aes(bytes) => format!("AES{}", STANDARD.encode(bytes)),
            Self::Plain(text) => format!("TEXT{text}"),
        }
    }
}

/// One pool_passwd line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolPasswdEntry {
    /// The client-facing user name.
    pub user: String,
    /// That user's password.
    pub password: PasswordEntry,
    /// Optional (undocumented) mapping: log in to the backends as this user instead.
    pub backend_user: Option<String>,
    /// The mapped backend user's password.
    pub backend_password: Option<PasswordEntry>,
}

/// Why pool_passwd could not be loaded.
pub type PasswdError = super::line_file::FileError<PasswdParseError>;

/// A parsed pool_passwd file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PoolPasswd {
    entries: Vec<PoolPasswdEntry>,
}

/// Splits on `:` not preceded by a backslash; `\:` and `\\` become `:` and `\`.
fn split_escaped(line: &str) -> Vec<String> {
    let mut fields = Vec::new();
    let mut field = String::new();
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some(next @ (':' | '\\')) => field.push(next),
                Some(next) => {
                    field.push('\\');
                    field.push(next);
                }
                None => field.push('\\'),
            },
            ':' => fields.push(std::mem::take(&mut field)),
            c => field.push(c),
        }
    }
    fields.push(field);
    fields
}

impl PoolPasswd {
    /// Reads and parses the file at `path`.
    pub fn load(path: &Path) -> Result<Self, PasswdError> {
        let entries = line_file::load(path, parse_raw_line)?;
        Ok(Self { entries })
    }

    /// Parses `text` as the contents of `file` (named in errors).
    pub fn parse(text: &str, file: &Path) -> Result<Self, PasswdError> {
        let entries = line_file::parse(text.as_bytes(), file, parse_raw_line)?;
        Ok(Self { entries })
    }

    /// The entry for `user` (the first, if the file lists it twice).
    pub fn get(&self, user: &str) -> Option<&PoolPasswdEntry> {
        self.entries.iter().find(|e| e.user == user)
    }

    /// All entries in file order.
    pub fn entries(&self) -> &[PoolPasswdEntry] {
        &self.entries
    }
}

/// One pool_passwd line: blank lines and `#` comments are skipped, a trailing `\r` dropped.
fn parse_raw_line(_: usize, raw: &[u8]) -> Result<Option<PoolPasswdEntry>, PasswdParseError> {
    let line = std::str::from_utf8(raw).map_err(|_| PasswdParseError::InvalidUtf8)?;
    let line = line.strip_suffix('\r').unwrap_or(line);
    if line.is_empty() || line.starts_with('#') {
        return Ok(None);
    }
    parse_line(line).map(Some)
}

fn parse_line(line: &str) -> Result<PoolPasswdEntry, PasswdParseError> {
    if !line.contains(':') {
        return Err(PasswdParseError::MissingColon);
    }
    // A SCRAM verifier contains ':' itself (`…$<iter>:<salt>$<StoredKey>:<ServerKey>`): it is
    // the rest of the line, with no backend mapping after it.
    if let Some(at) = line.find(":SCRAM-SHA-256$") {
        let user = split_escaped(&line[..at])
            .into_iter()
            .next()
            .unwrap_or_default();
        if user.is_empty() {
            return Err(PasswdParseError::EmptyUser);
        }
        return Ok(PoolPasswdEntry {
            user,
            password: PasswordEntry::parse(&line[at + 1..])?,
            backend_user: None,
            backend_password: None,
        });
    }
    let mut fields = split_escaped(line).into_iter();
    let (user, password, backend) = match (
        fields.next(),
        fields.next(),
        fields.next(),
        fields.next(),
        fields.next(),
    ) {
        (Some(user), Some(password), None, None, None) => (user, password, None),
        (Some(user), Some(password), Some(bu), Some(bp), None) => (user, password, Some((bu, bp))),
        _ => return Err(PasswdParseError::FieldCount),
    };
    if user.is_empty() {
        return Err(PasswdParseError::EmptyUser);
    }
    let (backend_user, backend_password) = match backend {
        Some((bu, bp)) => (Some(bu), Some(PasswordEntry::parse(&bp)?)),
        None => (None, None),
    };
    Ok(PoolPasswdEntry {
        user,
        password: PasswordEntry::parse(&password)?,
        backend_user,
        backend_password,
    })
}

/// `text` (a pool_passwd file's bytes) with `user`'s entry set to `secret`, as `pg_md5 -m` and
/// `pg_enc -m` write it: the first line naming `user` is replaced by `user:secret`, or the line
/// is appended; every other line (comments, mappings, lines this parser would refuse) is kept
/// byte for byte. Two deliberate differences from Pgpool-II 4.3, which would otherwise write a
/// file it cannot read back: `:` and `\` in the user name are escaped, and a last line without
/// a newline gets one before an appended entry.
pub fn upsert(text: &[u8], user: &str, secret: &PasswordEntry) -> Vec<u8> {
    let mut line = escape_user(user).into_bytes();
    line.push(b':');
    line.extend_from_slice(secret.to_file_form().as_bytes());
    line.push(b'\n');
    let mut out = Vec::with_capacity(text.len() + line.len() + 1);
    let mut replaced = false;
    for old in text.split_inclusive(|&b| b == b'\n') {
        if !replaced && first_field(old).is_some_and(|f| f == user.as_bytes()) {
            out.extend_from_slice(&line);
            replaced = true;
        } else {
            out.extend_from_slice(old);
        }
    }
    if !replaced {
        if !out.is_empty() && !out.ends_with(b"\n") {
            out.push(b'\n');
        }
        out.extend_from_slice(&line);
    }
    out
}

/// A line's user name (backslash escapes undone), or `None` when no unescaped `:` ends it.
fn first_field(line: &[u8]) -> Option<Vec<u8>> {
    let mut field = Vec::new();
    let mut bytes = line.iter();
    while let Some(&b) = bytes.next() {
        match b {
            b'\\' => field.push(*bytes.next()?),
            b':' => return Some(field),
            b'\n' => return None,
            other => field.push(other),
        }
    }
    None
}

fn escape_user(user: &str) -> String {
    let mut out = String::with_capacity(user.len());
    for c in user.chars() {
        if matches!(c, ':' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upsert_replaces_the_first_entry_and_keeps_the_rest() {
        let md5 = PasswordEntry::md5_for("alice", "secret");
        let text = b"alice:TEXTold\n# comment\nbob:y:back:z\nalice:dup\n\\:esc:pw\nlast:q";
        let out = upsert(text, "alice", &md5);
        assert_eq!(
            out,
            b"alice:md54a0a68b43b6cd5cf266fa02f196e2371\n# comment\nbob:y:back:z\nalice:dup\n\\:esc:pw\nlast:q"
        );
        let out = upsert(&out, ":esc", &PasswordEntry::Plain("x".into()));
        assert!(out.windows(12).any(|w| w == b"\\:esc:TEXTx\n"));
        let out = upsert(&out, "new", &PasswordEntry::Aes(vec![1, 2, 3]));
        assert!(out.ends_with(b"last:q\nnew:AESAQID\n"));
        assert_eq!(
            upsert(b"", "a", &PasswordEntry::Plain("p".into())),
            b"a:TEXTp\n"
        );
        let parsed = PoolPasswd::parse(std::str::from_utf8(&out).unwrap(), Path::new("p"));
        assert_eq!(
            parsed.unwrap().get(":esc").unwrap().password,
            PasswordEntry::Plain("x".into())
        );
    }

    #[test]
    fn a_scram_verifier_keeps_its_colons() {
        let v = "SCRAM-SHA-256$4096:c2FsdA==$c3RvcmVk:c2VydmVy";
        let f = PoolPasswd::parse(&format!("app:{v}\n"), Path::new("pool_passwd")).unwrap();
        assert_eq!(
            f.get("app").unwrap().password,
            PasswordEntry::ScramSha256(v.into())
        );
    }

    #[test]
    fn secrets_are_recognised_by_prefix() {
        // `pg_md5 mypassworduser1` from Debian's pgpool2.
        let md5 = "md54c3e1f2af1934341a2b03b1400c4c66c";
        assert_eq!(
            PasswordEntry::parse(md5),
            Ok(PasswordEntry::Md5(md5.into()))
        );
        assert_eq!(
            PasswordEntry::md5_for("user1", "mypassword"),
            PasswordEntry::Md5(md5.into())
        );
        assert_eq!(
            PasswordEntry::parse("md5abc"),
            Ok(PasswordEntry::Plain("md5abc".into()))
        );
        let upper = "md54C3E1F2AF1934341A2B03B1400C4C66C";
        assert_eq!(
            PasswordEntry::parse(upper),
            Ok(PasswordEntry::Plain(upper.into()))
        );
        assert_eq!(
            PasswordEntry::parse("TEXTs3cret"),
            Ok(PasswordEntry::Plain("s3cret".into()))
        );
        assert_eq!(
            PasswordEntry::parse("s3cret"),
            Ok(PasswordEntry::Plain("s3cret".into()))
        );
        assert_eq!(
            PasswordEntry::parse(""),
            Ok(PasswordEntry::Plain(String::new()))
        );
        let scram = "SCRAM-SHA-256$4096:c2FsdA==$c3RvcmVk:c2VydmVy";
        assert_eq!(
            PasswordEntry::parse(scram),
            Ok(PasswordEntry::ScramSha256(scram.into()))
        );
        assert_eq!(
            PasswordEntry::parse("AESGLnfFFp7OQXHBqHb9dPyoQ=="),
            Ok(PasswordEntry::Aes(
                STANDARD.decode("GLnfFFp7OQXHBqHb9dPyoQ==").unwrap()
            ))
        );
        assert_eq!(
            PasswordEntry::parse("AES***"),
            Err(PasswdParseError::AesBase64)
        );
    }

    #[test]
    fn plain_text_decrypts_aes_and_refuses_hashes() {
        let key = PoolKey::new("secretkey");
        let aes = PasswordEntry::parse("AESGLnfFFp7OQXHBqHb9dPyoQ==").unwrap();
        assert_eq!(
            aes.plain_text(Some(&key)).unwrap().as_deref(),
            Some("mypassword")
        );
        assert!(aes.plain_text(None).is_err());
        assert!(aes.plain_text(Some(&PoolKey::new("wrong"))).is_err());
        assert_eq!(
            PasswordEntry::Plain("p".into())
                .plain_text(None)
                .unwrap()
                .as_deref(),
            Some("p")
        );
        assert_eq!(
            PasswordEntry::md5_for("u", "p")
                .plain_text(Some(&key))
                .unwrap(),
            None
        );
    }

    #[test]
    fn file_forms_round_trip() {
        for secret in [
            "md54c3e1f2af1934341a2b03b1400c4c66c",
            "AESGLnfFFp7OQXHBqHb9dPyoQ==",
            "TEXTpw",
            "SCRAM-SHA-256$1:a$b:c",
        ] {
            let entry = PasswordEntry::parse(secret).unwrap();
            assert_eq!(entry.to_file_form(), secret);
        }
        assert_eq!(
            format!("{:?}", PasswordEntry::Plain("secret".into())),
            "Plain(..)"
        );
    }

    #[test]
    fn files_parse_with_escapes_mappings_and_line_errors() {
        let text = "\
# comment
alice:md54c3e1f2af1934341a2b03b1400c4c66c
bob:TEXTpw:extra
we\\:ird:AESGLnfFFp7OQXHBqHb9dPyoQ==\r
alice:TEXTsecond
carol:pa\\:ss

";
        let err = PoolPasswd::parse(text, Path::new("pool_passwd")).unwrap_err();
        assert_eq!(err.to_string(), "pool_passwd:3: expected \"user:password\" or \"user:password:backend_user:backend_password\"");

        let text = text.replace("bob:TEXTpw:extra", "bob:TEXTpw:pgbob:md5x");
        let file = PoolPasswd::parse(&text, Path::new("pool_passwd")).unwrap();
        assert_eq!(file.entries().len(), 5);
        assert!(matches!(
            file.get("alice").unwrap().password,
            PasswordEntry::Md5(_)
        ));
        let bob = file.get("bob").unwrap();
        assert_eq!(bob.backend_user.as_deref(), Some("pgbob"));
        assert_eq!(
            bob.backend_password,
            Some(PasswordEntry::Plain("md5x".into()))
        );
        assert!(matches!(
            file.get("we:ird").unwrap().password,
            PasswordEntry::Aes(_)
        ));
        assert_eq!(
            file.get("carol").unwrap().password,
            PasswordEntry::Plain("pa:ss".into())
        );
        assert_eq!(file.get("nobody"), None);

        let bad: &[(&str, &str)] = &[
            ("justuser\n", "pool_passwd:1: expected \"user:password\""),
            ("ok:pw\n:pw\n", "pool_passwd:2: empty user name"),
            (
                "u:AES!!\n",
                "pool_passwd:1: AES password is not valid base64",
            ),
            ("u:a:b\n", "pool_passwd:1: expected"),
        ];
        for (text, expected) in bad {
            let err = PoolPasswd::parse(text, Path::new("pool_passwd"))
                .unwrap_err()
                .to_string();
            assert!(err.starts_with(expected), "{text:?}: {err}");
        }
        let err = crate::auth::line_file::parse(b"u:\xff\n", Path::new("p"), super::parse_raw_line)
            .unwrap_err();
        assert_eq!(err.to_string(), "p:1: line is not valid UTF-8");
        assert!(matches!(
            PoolPasswd::load(Path::new("/nonexistent/pp")),
            Err(PasswdError::Read { .. })
        ));
    }

    #[test]
    fn escapes_only_touch_colons_and_backslashes() {
        assert_eq!(split_escaped(r"a\:b:c\\d:e\xf\"), ["a:b", r"c\d", r"e\xf\"]);
    }
}
