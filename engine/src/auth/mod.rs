//! The files that decide who may connect: pool_hba.conf, pool_passwd (with its AES key) and
//! pcp.conf.
//!
//! # Layout
//! - [`hba`]: pool_hba.conf records and the first-match [`hba::HbaFile::check`].
//! - [`pool_passwd`]: `user:secret` lines; [`pool_passwd::PasswordEntry`] recognises md5, AES,
//!   SCRAM and clear-text secrets by prefix.
//! - [`pool_key`]: the `~/.pgpoolkey` passphrase and pg_enc's AES-256-CBC scheme.
//! - [`pcp_conf`]: PCP users and the salted-md5 check of their `R` packet.
//! - [`line_file`]: reading a line-oriented file and [`line_file::FileError`], which names the
//!   file and line (the three files above share it).
//! - [`files`]: [`files::AuthFiles`], what a shard consults to admit a client (hba, pool_passwd,
//!   TLS), and the secrets health checks log in with.
//!
//! Each file is parsed whole at load time (errors name the file and line); nothing here does
//! network I/O. The authentication exchanges themselves belong to `corepool_protocol::auth`.

pub mod files;
pub mod hba;
pub mod line_file;
pub mod pcp_conf;
pub mod pool_key;
pub mod pool_passwd;

use md5::{Digest, Md5};

/// Who is connecting, for error messages.
#[derive(Debug, Clone, Copy)]
pub struct ClientIdent<'a> {
    /// Client address, or "[local]".
    pub host: &'a str,
    /// User name from the StartupMessage.
    pub user: &'a str,
    /// Database from the StartupMessage.
    pub database: &'a str,
}

/// 32 lower-case hex digits of MD5 over the concatenation of `parts`.
pub(crate) fn md5_hex(parts: &[&[u8]]) -> String {
    let mut hasher = Md5::new();
    for part in parts {
        hasher.update(part);
    }
    hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn md5_hex_matches_known_vectors() {
        assert_eq!(super::md5_hex(&[]), "d41d8cd98f00b204e9800998ecf8427e");
        assert_eq!(
            super::md5_hex(&[b"my", b"password"]),
            "34819d7beeabb9260a5c854bc85b3e44"
        );
    }
}

#[cfg(test)]
mod no_panics {
    use super::hba::HbaFile;
    use super::pcp_conf::PcpUsers;
    use super::pool_key::PoolKey;
    use super::pool_passwd::{PasswordEntry, PoolPasswd};
    use proptest::prelude::*;
    use std::path::Path;

    proptest! {
        #[test]
        fn parsers_return_instead_of_panicking(text in "\\PC{0,160}") {
            let _ = HbaFile::parse(&text, Path::new("f"));
            let _ = PoolPasswd::parse(&text, Path::new("f"));
            let _ = PcpUsers::parse(&text, Path::new("f"));
            let _ = PasswordEntry::parse(&text);
        }

        #[test]
        fn hba_lines_from_plausible_pieces(
            fields in prop::collection::vec(
                prop_oneof![
                    Just("host".to_owned()), Just("local".to_owned()), Just("all".to_owned()),
                    Just("md5".to_owned()), Just("\"a,b\"".to_owned()), "[0-9a-f.:/]{1,20}",
                    "[a-z,\" #]{0,8}",
                ],
                0..7,
            )
        ) {
            let _ = HbaFile::parse(&fields.join(" "), Path::new("f"));
        }

        #[test]
        fn decrypting_any_bytes_returns_and_encryption_round_trips(
            bytes in prop::collection::vec(any::<u8>(), 0..64),
            password in "\\PC{0,40}",
        ) {
            let key = PoolKey::new("k");
            let _ = key.decrypt(&bytes);
            prop_assert_eq!(key.decrypt(&key.encrypt(&password)).ok(), Some(password));
        }
    }
}
