//! pcp.conf: `user:md5hex` lines naming who may use the PCP admin port (PGB-8.5, PCP §3).

use std::path::Path;

use super::line_file;
use super::md5_hex;

/// One PCP user.
#[derive(Clone, PartialEq, Eq)]
pub struct PcpUser {
    /// The user name.
    pub name: String,
    /// 32 lower-case hex digits of MD5(password), as `pg_md5 password` prints.
    pub md5: String,
}

impl std::fmt::Debug for PcpUser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PcpUser")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

/// What was wrong with a pcp.conf line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PcpLineError {
    /// No `:` separates user and hash.
    #[error("expected \"username:md5hash\"")]
    MissingColon,
    /// An empty user name.
    #[error("empty user name")]
    EmptyUser,
    /// The hash is not 32 lower-case hex digits (a trailing space or CR counts against it).
    #[error("password hash must be exactly 32 lower-case hex digits (the output of pg_md5)")]
    BadHash,
    /// The line is not valid UTF-8.
    #[error("line is not valid UTF-8")]
    InvalidUtf8,
}

/// Why pcp.conf could not be loaded.
pub type PcpConfError = super::line_file::FileError<PcpLineError>;

/// A parsed pcp.conf.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PcpUsers {
    users: Vec<PcpUser>,
}

impl PcpUsers {
    /// Reads and parses the file at `path`.
    pub fn load(path: &Path) -> Result<Self, PcpConfError> {
        let users = line_file::load(path, parse_line)?;
        Ok(Self { users })
    }

    /// Parses `text` as the contents of `file` (named in errors).
    pub fn parse(text: &str, file: &Path) -> Result<Self, PcpConfError> {
        let users = line_file::parse(text.as_bytes(), file, parse_line)?;
        Ok(Self { users })
    }

    /// The users in file order.
    pub fn users(&self) -> &[PcpUser] {
        &self.users
    }

    /// The pcp.conf hash of `password` (what `pg_md5 password` prints).
    pub fn hash_password(password: &str) -> String {
        md5_hex(&[password.as_bytes()])
    }

    /// Checks a PCP `R` packet: `response` must equal hex(MD5(hex(MD5(file_md5 ‖ user)) ‖
    /// salt)) for some line with this user name.
    pub fn verify(&self, user: &str, salt: &[u8], response: &str) -> bool {
        self.users.iter().filter(|u| u.name == user).any(|u| {
            let inner = md5_hex(&[u.md5.as_bytes(), user.as_bytes()]);
            md5_hex(&[inner.as_bytes(), salt]) == response
        })
    }
}

/// One pcp.conf line. As in Pgpool-II: '#' lines and empty lines are skipped, nothing is trimmed.
fn parse_line(_: usize, raw: &[u8]) -> Result<Option<PcpUser>, PcpLineError> {
    if raw.is_empty() || raw.starts_with(b"#") {
        return Ok(None);
    }
    let line = std::str::from_utf8(raw).map_err(|_| PcpLineError::InvalidUtf8)?;
    let (name, md5) = line.split_once(':').ok_or(PcpLineError::MissingColon)?;
    if name.is_empty() {
        return Err(PcpLineError::EmptyUser);
    }
    if md5.len() != 32 || !md5.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        return Err(PcpLineError::BadHash);
    }
    Ok(Some(PcpUser {
        name: name.to_owned(),
        md5: md5.to_owned(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    // `pg_md5 mypassword` from Debian's pgpool2 4.3.5.
    const MYPASSWORD_MD5: &str = "34819d7beeabb9260a5c854bc85b3e44";

    /// The client side of the exchange (pcp.c's `pcp_authorize`).
    fn client_response(user: &str, password: &str, salt: &[u8]) -> String {
        let h1 = md5_hex(&[password.as_bytes()]);
        let h2 = md5_hex(&[h1.as_bytes(), user.as_bytes()]);
        md5_hex(&[h2.as_bytes(), salt])
    }

    #[test]
    fn hashes_match_pg_md5() {
        assert_eq!(PcpUsers::hash_password("mypassword"), MYPASSWORD_MD5);
    }

    #[test]
    fn verifies_the_salted_md5_response() {
        let text = format!("# USERID:MD5PASSWD\n\npcpadmin:{MYPASSWORD_MD5}\n");
        let users = PcpUsers::parse(&text, Path::new("pcp.conf")).unwrap();
        assert_eq!(users.users().len(), 1);
        let salt = [0x00, 0xff, 0x10, 0x7f];
        let good = client_response("pcpadmin", "mypassword", &salt);
        assert!(users.verify("pcpadmin", &salt, &good));
        assert!(
            !users.verify("pcpadmin", &[1, 2, 3, 4], &good),
            "salt matters"
        );
        assert!(!users.verify(
            "other",
            &salt,
            &client_response("other", "mypassword", &salt)
        ));
        assert!(!users.verify(
            "pcpadmin",
            &salt,
            &client_response("pcpadmin", "wrong", &salt)
        ));
        assert!(format!("{:?}", users.users()[0]).contains("pcpadmin"));
        assert!(!format!("{:?}", users.users()[0]).contains(MYPASSWORD_MD5));
    }

    #[test]
    fn a_later_line_for_the_same_user_can_also_verify() {
        let other = PcpUsers::hash_password("second");
        let text = format!("admin:{MYPASSWORD_MD5}\nadmin:{other}\n");
        let users = PcpUsers::parse(&text, Path::new("pcp.conf")).unwrap();
        let salt = [9, 9, 9, 9];
        assert!(users.verify("admin", &salt, &client_response("admin", "second", &salt)));
    }

    #[test]
    fn debian_sample_has_no_users() {
        let text = include_str!("../../tests/fixtures/pcp.conf.sample");
        assert!(PcpUsers::parse(text, Path::new("pcp.conf"))
            .unwrap()
            .users()
            .is_empty());
    }

    #[test]
    fn malformed_lines_are_errors_with_line_numbers() {
        let cases: &[(String, &str)] = &[
            (
                "admin\n".into(),
                "pcp.conf:1: expected \"username:md5hash\"",
            ),
            (
                format!("# c\n:{MYPASSWORD_MD5}\n"),
                "pcp.conf:2: empty user name",
            ),
            (
                format!("admin:{MYPASSWORD_MD5}\r\n"),
                "pcp.conf:1: password hash must be",
            ),
            (
                format!("admin:{}\n", MYPASSWORD_MD5.to_uppercase()),
                "password hash must be",
            ),
            ("admin:mypassword\n".into(), "password hash must be"),
            (
                format!(" admin:{MYPASSWORD_MD5} \n"),
                "password hash must be",
            ),
        ];
        for (text, expected) in cases {
            let err = PcpUsers::parse(text, Path::new("pcp.conf"))
                .unwrap_err()
                .to_string();
            assert!(err.contains(expected), "{text:?}: {err}");
        }
        assert!(matches!(
            PcpUsers::load(Path::new("/nonexistent")),
            Err(PcpConfError::Read { .. })
        ));
    }
}
