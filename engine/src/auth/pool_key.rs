//! The pool_passwd AES key (`~/.pgpoolkey`) and pg_enc's AES-256-CBC scheme (PGB-8.2, 8.4).
//!
//! pg_enc derives a 32-byte key and 16-byte IV from the passphrase with OpenSSL's
//! `EVP_BytesToKey(aes-256-cbc, sha1, no salt, 1 iteration)` — D1 = SHA1(pass), Dn =
//! SHA1(Dn-1 ‖ pass), key ‖ iv = D1 ‖ D2 ‖ D3 truncated to 48 bytes — and encrypts with PKCS#7
//! padding. Checked against Debian's `pg_enc` in the tests.

use std::ffi::OsStr;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use aes::cipher::block_padding::Pkcs7;
use aes::cipher::{BlockDecryptMut, BlockEncryptMut, KeyIvInit};
use sha1::{Digest, Sha1};

type Encryptor = cbc::Encryptor<aes::Aes256>;
type Decryptor = cbc::Decryptor<aes::Aes256>;

/// The key file name in the home directory when neither `-k` nor `PGPOOLKEYFILE` names one.
pub const DEFAULT_KEY_FILE: &str = ".pgpoolkey";

/// Why the key could not be read or a secret not decrypted.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// The key file could not be read.
    #[error("cannot read pool key file \"{}\": {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// What the operating system said.
        #[source]
        source: std::io::Error,
    },
    /// The key file is readable by group or others, which Pgpool-II refuses.
    #[error(
        "pool key file \"{}\" has group or world access; permissions should be u=rw (0600) or less",
        path.display()
    )]
    Permissions {
        /// The file.
        path: PathBuf,
    },
    /// The key file's first line is empty.
    #[error("pool key file \"{}\" is empty", path.display())]
    Empty {
        /// The file.
        path: PathBuf,
    },
    /// The ciphertext did not decrypt with this key (wrong key or damaged entry).
    #[error("AES password could not be decrypted (wrong key?)")]
    Decrypt,
}

/// The passphrase AES pool_passwd entries are encrypted with.
#[derive(Clone, PartialEq, Eq)]
pub struct PoolKey {
    passphrase: Vec<u8>,
}

impl std::fmt::Debug for PoolKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PoolKey(..)")
    }
}

impl PoolKey {
    /// A key from its passphrase (pg_enc's `-K`).
    pub fn new(passphrase: impl Into<Vec<u8>>) -> Self {
        Self {
            passphrase: passphrase.into(),
        }
    }

    /// Which key file to use: `explicit` (`-k`), else the `PGPOOLKEYFILE` value the caller read
    /// from its environment, else `~/.pgpoolkey` under `home`.
    pub fn locate(
        explicit: Option<&Path>,
        pgpoolkeyfile: Option<&OsStr>,
        home: Option<&Path>,
    ) -> Option<PathBuf> {
        explicit
            .map(Path::to_owned)
            .or_else(|| pgpoolkeyfile.filter(|v| !v.is_empty()).map(PathBuf::from))
            .or_else(|| home.map(|h| h.join(DEFAULT_KEY_FILE)))
    }

    /// Reads the key file: its first line, without the line ending. The file must not be
    /// accessible by group or others.
    pub fn load(path: &Path) -> Result<Self, KeyError> {
        let read_err = |source| KeyError::Read {
            path: path.to_owned(),
            source,
        };
        let mode = fs::metadata(path).map_err(read_err)?.permissions().mode();
        if mode & 0o077 != 0 {
            return Err(KeyError::Permissions {
                path: path.to_owned(),
            });
        }
        let bytes = fs::read(path).map_err(read_err)?;
        let line = bytes.split(|&b| b == b'\n').next().unwrap_or_default();
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() {
            return Err(KeyError::Empty {
                path: path.to_owned(),
            });
        }
        Ok(Self::new(line))
    }

    /// `EVP_BytesToKey` with SHA-1, no salt, one iteration: 32 key bytes, 16 IV bytes.
    fn key_iv(&self) -> ([u8; 32], [u8; 16]) {
        let mut material = Vec::with_capacity(60);
        let mut previous: Vec<u8> = Vec::new();
        while material.len() < 48 {
            let mut hasher = Sha1::new();
            hasher.update(&previous);
            hasher.update(&self.passphrase);
            previous = hasher.finalize().to_vec();
            material.extend_from_slice(&previous);
        }
        let mut key = [0; 32];
        let mut iv = [0; 16];
        key.copy_from_slice(&material[..32]);
        iv.copy_from_slice(&material[32..48]);
        (key, iv)
    }

    /// Decrypts a pg_enc ciphertext (the bytes after base64 decoding) to the password.
    pub fn decrypt(&self, ciphertext: &[u8]) -> Result<String, KeyError> {
        let (key, iv) = self.key_iv();
        let mut buffer = ciphertext.to_vec();
        let plain = Decryptor::new(&key.into(), &iv.into())
            .decrypt_padded_mut::<Pkcs7>(&mut buffer)
            .map_err(|_| KeyError::Decrypt)?;
        String::from_utf8(plain.to_vec()).map_err(|_| KeyError::Decrypt)
    }

    /// Encrypts `password` as pg_enc does (before base64 encoding).
    pub fn encrypt(&self, password: &str) -> Vec<u8> {
        let (key, iv) = self.key_iv();
        let len = password.len();
        let mut buffer = vec![0; len + 16];
        buffer[..len].copy_from_slice(password.as_bytes());
        Encryptor::new(&key.into(), &iv.into())
            .encrypt_padded_mut::<Pkcs7>(&mut buffer, len)
            .map(<[u8]>::to_vec)
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::engine::general_purpose::STANDARD;
    use base64::Engine;

    // Produced by Debian 12's `pg_enc -K secretkey mypassword` and
    // `pg_enc -K k 'a-much-longer-password-with-32+bytes!!'` (pgpool2 4.3.5).
    const PG_ENC: &[(&str, &str, &str)] = &[
        ("secretkey", "mypassword", "GLnfFFp7OQXHBqHb9dPyoQ=="),
        (
            "k",
            "a-much-longer-password-with-32+bytes!!",
            "89Z12nQ92DRqFwJxBVAu79jn1l/P6/8Gxwjjcuv6wYeguxC+n3es6VHb0tDwXcFD",
        ),
    ];

    #[test]
    fn decrypts_and_encrypts_like_pg_enc() {
        for (passphrase, password, b64) in PG_ENC {
            let key = PoolKey::new(*passphrase);
            let ciphertext = STANDARD.decode(b64).unwrap();
            assert_eq!(key.decrypt(&ciphertext).unwrap(), *password);
            assert_eq!(STANDARD.encode(key.encrypt(password)), *b64);
        }
    }

    #[test]
    fn wrong_key_or_damaged_ciphertext_fails_cleanly() {
        let ciphertext = STANDARD.decode(PG_ENC[0].2).unwrap();
        assert!(matches!(
            PoolKey::new("other").decrypt(&ciphertext),
            Err(KeyError::Decrypt)
        ));
        assert!(matches!(
            PoolKey::new("k").decrypt(&ciphertext[..15]),
            Err(KeyError::Decrypt)
        ));
        assert!(matches!(
            PoolKey::new("k").decrypt(&[]),
            Err(KeyError::Decrypt)
        ));
    }

    #[test]
    fn key_file_is_first_line_and_must_be_private() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(".pgpoolkey");
        fs::write(&path, "secretkey\r\nignored\n").unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).unwrap();
        assert_eq!(PoolKey::load(&path).unwrap(), PoolKey::new("secretkey"));
        fs::set_permissions(&path, fs::Permissions::from_mode(0o640)).unwrap();
        assert!(matches!(
            PoolKey::load(&path),
            Err(KeyError::Permissions { .. })
        ));
        fs::write(&path, "\n").unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).unwrap();
        assert!(matches!(PoolKey::load(&path), Err(KeyError::Empty { .. })));
        assert!(matches!(
            PoolKey::load(&dir.path().join("none")),
            Err(KeyError::Read { .. })
        ));
        assert_eq!(format!("{:?}", PoolKey::new("s")), "PoolKey(..)");
    }

    #[test]
    fn key_file_location_prefers_option_then_env_then_home() {
        let (k, env, home) = (Path::new("/k"), OsStr::new("/env"), Path::new("/home/u"));
        assert_eq!(
            PoolKey::locate(Some(k), Some(env), Some(home)),
            Some("/k".into())
        );
        assert_eq!(
            PoolKey::locate(None, Some(env), Some(home)),
            Some("/env".into())
        );
        assert_eq!(
            PoolKey::locate(None, Some(OsStr::new("")), Some(home)),
            Some("/home/u/.pgpoolkey".into())
        );
        assert_eq!(PoolKey::locate(None, None, None), None);
    }
}
