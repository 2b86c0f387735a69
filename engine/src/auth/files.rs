//! The files a shard consults to admit clients: pool_hba.conf rules, pool_passwd secrets, and
//! the TLS certificates and keys of `ssl = on`.

use std::collections::HashMap;
use std::io;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use corepool_protocol::auth::{Md5Hash, ScramVerifier, StoredPassword};

use crate::auth::hba::{ConnInfo, HbaFile, Method};
use crate::auth::pool_key::PoolKey;
use crate::auth::pool_passwd::{PasswordEntry, PoolPasswd};
use crate::auth::ClientIdent;
use crate::config::Config;
use crate::runtime::tls::{TlsFiles, TlsSettings};

/// Where the threads outside the shards (primary probe, online recovery) read the
/// authentication files in force after reloads.
pub type AuthSource = std::sync::Arc<dyn Fn() -> std::sync::Arc<AuthFiles> + Send + Sync>;

/// pool_hba.conf, pool_passwd and the TLS configurations as loaded at start or reload.
/// Immutable once built.
#[derive(Debug, Default)]
pub struct AuthFiles {
    hba: Option<HbaFile>,
    secrets: HashMap<String, StoredPassword>,
    tls: TlsSettings,
    /// The pool key, for AES secrets in pgpool.conf (`health_check_password`, …).
    key: Option<PoolKey>,
    /// Set once a check secret has been warned about: checks run every period, the warning
    /// is said once per load.
    warned: std::sync::atomic::AtomicBool,
}

/// What a check connection (health check, replication check, primary probe) logs in with.
#[derive(Clone, PartialEq, Eq)]
pub enum CheckSecret {
    /// No usable secret: trust, or the server refuses.
    None,
    /// A clear-text password (configured, `TEXT…`, decrypted `AES…`, or from pool_passwd).
    Password(String),
    /// An md5 hash (configured `md5…` or pool_passwd's): answers md5 challenges only.
    Md5(String),
}

impl std::fmt::Debug for CheckSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            CheckSecret::None => "None",
            CheckSecret::Password(_) => "Password(…)",
            CheckSecret::Md5(_) => "Md5(…)",
        })
    }
}

impl AuthFiles {
    /// Loads pool_hba.conf (when `enable_pool_hba` is on; `hba_path` or `pool_hba.conf` beside
    /// pgpool.conf) and pool_passwd (when set; a missing file is logged, not fatal, as in
    /// Pgpool-II). AES entries are decrypted with `~/.pgpoolkey` or `$PGPOOLKEYFILE`. With
    /// `ssl = on`, builds the TLS configurations from `ssl_cert`, `ssl_key`, `ssl_ca_cert` ….
    pub fn load(config: &Config, hba_path: Option<&Path>) -> io::Result<Self> {
        let hba = if config.enable_pool_hba {
            let path = hba_path
                .map(Path::to_owned)
                .unwrap_or_else(|| beside(config, "pool_hba.conf"));
            Some(HbaFile::load(&path).map_err(|e| io::Error::other(e.to_string()))?)
        } else {
            None
        };
        let mut secrets = HashMap::new();
        let key = pool_key();
        if let Some(path) = config.pool_passwd_path() {
            if path.exists() {
                let file = PoolPasswd::load(&path).map_err(|e| io::Error::other(e.to_string()))?;
                for entry in file.entries() {
                    match stored_password(&entry.password, key.as_ref()) {
                        Some(s) => {
                            secrets.insert(entry.user.clone(), s);
                        }
                        None => {
                            tracing::warn!(user = %entry.user, path = %path.display(), "pool_passwd entry cannot be used (AES without a readable key?)")
                        }
                    }
                }
            } else {
                tracing::warn!(path = %path.display(), "pool_passwd file does not exist");
            }
        }
        let tls = load_tls(config)?;
        Ok(Self {
            hba,
            secrets,
            tls,
            key,
            warned: Default::default(),
        })
    }

    /// An instance from parts (tests); no TLS.
    pub fn from_parts(hba: Option<HbaFile>, secrets: HashMap<String, StoredPassword>) -> Self {
        Self {
            hba,
            secrets,
            tls: TlsSettings::default(),
            key: None,
            warned: Default::default(),
        }
    }

    /// The TLS configurations: empty unless `ssl = on`.
    pub fn tls(&self) -> &TlsSettings {
        &self.tls
    }

    /// The user's pool_passwd secret.
    pub fn secret(&self, user: &str) -> Option<StoredPassword> {
        self.secrets.get(user).cloned()
    }

    /// The secret a check connection as `user` logs in with: `configured` (a pgpool.conf
    /// `*_password` in any of pool_passwd's forms) when set, else the user's pool_passwd entry,
    /// as Pgpool-II does. SCRAM verifiers cannot log in; an AES secret needs the pool key.
    pub fn check_secret(&self, user: &str, configured: &str) -> CheckSecret {
        if !configured.is_empty() {
            let Ok(entry) = PasswordEntry::parse(configured) else {
                self.warn_once(
                    user,
                    "the configured password is malformed (bad AES or SCRAM form)",
                );
                return CheckSecret::None;
            };
            return match entry {
                PasswordEntry::Md5(hash) => CheckSecret::Md5(hash),
                PasswordEntry::ScramSha256(_) => {
                    self.warn_once(
                        user,
                        "a SCRAM verifier cannot log in; configure the password (TEXT or AES)",
                    );
                    CheckSecret::None
                }
                other => match other.plain_text(self.key.as_ref()) {
                    Ok(Some(p)) => CheckSecret::Password(p),
                    _ => {
                        self.warn_once(
                            user,
                            "the AES password cannot be decrypted (no pool key file)",
                        );
                        CheckSecret::None
                    }
                },
            };
        }
        match self.secrets.get(user) {
            Some(StoredPassword::Plain(bytes)) => String::from_utf8(bytes.clone())
                .map(CheckSecret::Password)
                .unwrap_or(CheckSecret::None),
            Some(StoredPassword::Md5(hash)) => CheckSecret::Md5(hash.as_str().to_owned()),
            _ => CheckSecret::None,
        }
    }

    fn warn_once(&self, user: &str, what: &str) {
        if !self.warned.swap(true, std::sync::atomic::Ordering::Relaxed) {
            tracing::warn!(user, "{what}");
        }
    }

    /// The first matching pool_hba.conf rule's method; `None` when pool_hba is off.
    pub fn hba_method(&self, who: &ClientIdent<'_>, local: bool, ssl: bool) -> Option<Method> {
        let hba = self.hba.as_ref()?;
        let addr: Option<IpAddr> = who.host.parse().ok();
        let info = ConnInfo {
            local,
            ssl,
            addr,
            database: who.database,
            user: who.user,
        };
        Some(hba.method_for(&info))
    }
}

/// `ssl = on` → TLS for clients (when ssl_cert and ssl_key are set) and for backends. Relative
/// paths are taken from pgpool.conf's directory, as Pgpool-II does.
fn load_tls(config: &Config) -> io::Result<TlsSettings> {
    if !config.ssl {
        return Ok(TlsSettings::default());
    }
    let path = |value: &str| -> Option<PathBuf> {
        if value.is_empty() {
            return None;
        }
        let p = PathBuf::from(value);
        Some(match config.source_file.as_deref().and_then(Path::parent) {
            Some(dir) if p.is_relative() => dir.join(p),
            _ => p,
        })
    };
    let files = TlsFiles {
        cert: path(&config.ssl_cert),
        key: path(&config.ssl_key),
        ca: path(&config.ssl_ca_cert),
        ca_dir: path(&config.ssl_ca_cert_dir),
        crl: path(&config.ssl_crl_file),
        prefer_server_ciphers: config.ssl_prefer_server_ciphers,
    };
    let tls = TlsSettings::build(&files).map_err(io::Error::other)?;
    if tls.server.is_none() {
        tracing::warn!("ssl is on but ssl_cert and ssl_key are not set: clients cannot use SSL");
    }
    Ok(tls)
}

fn beside(config: &Config, name: &str) -> PathBuf {
    match config.source_file.as_deref().and_then(Path::parent) {
        Some(dir) => dir.join(name),
        None => PathBuf::from("/etc/pgpool2").join(name),
    }
}

/// The AES key of pg_enc, if a key file is configured and readable.
fn pool_key() -> Option<PoolKey> {
    let env = std::env::var_os("PGPOOLKEYFILE");
    let home = std::env::var_os("HOME").map(PathBuf::from);
    let path = PoolKey::locate(None, env.as_deref(), home.as_deref())?;
    if !path.exists() {
        return None;
    }
    match PoolKey::load(&path) {
        Ok(k) => Some(k),
        Err(e) => {
            tracing::warn!(path = %path.display(), error = %e, "pool key file cannot be used");
            None
        }
    }
}

/// pool_passwd's forms → the protocol crate's stored-password forms.
fn stored_password(entry: &PasswordEntry, key: Option<&PoolKey>) -> Option<StoredPassword> {
    match entry {
        PasswordEntry::Md5(s) => Md5Hash::parse(s.as_bytes()).ok().map(StoredPassword::Md5),
        PasswordEntry::ScramSha256(s) => ScramVerifier::parse(s).ok().map(StoredPassword::Scram),
        PasswordEntry::Plain(p) => Some(StoredPassword::Plain(p.clone().into_bytes())),
        PasswordEntry::Aes(_) => match entry.plain_text(key) {
            Ok(Some(p)) => Some(StoredPassword::Plain(p.into_bytes())),
            _ => None,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_secrets_in_every_form() {
        let mut secrets = HashMap::new();
        secrets.insert("plain".to_owned(), StoredPassword::Plain(b"pw".to_vec()));
        let md5 = PasswordEntry::md5_for("hashed", "pw").to_file_form();
        let hash = Md5Hash::parse(md5.as_bytes()).expect("md5 form");
        secrets.insert("hashed".to_owned(), StoredPassword::Md5(hash));
        let files = AuthFiles::from_parts(None, secrets);
        let aes = PasswordEntry::Aes(PoolKey::new("k").encrypt("pw")).to_file_form();
        let scram = "SCRAM-SHA-256$4096:c2FsdA==$c3RvcmVk:c2VydmVy";
        let pw = |p: &str| CheckSecret::Password(p.to_owned());
        for (user, configured, expected) in [
            ("any", "secret", pw("secret")),
            ("any", "TEXTsecret", pw("secret")),
            ("any", md5.as_str(), CheckSecret::Md5(md5.clone())),
            ("any", scram, CheckSecret::None),
            // No key in these files: an AES secret cannot be used.
            ("any", aes.as_str(), CheckSecret::None),
            ("plain", "", pw("pw")),
            ("hashed", "", CheckSecret::Md5(md5.clone())),
            ("nobody", "", CheckSecret::None),
        ] {
            assert_eq!(
                files.check_secret(user, configured),
                expected,
                "{user} {configured}"
            );
        }
        let keyed = AuthFiles {
            key: Some(PoolKey::new("k")),
            ..AuthFiles::default()
        };
        assert_eq!(keyed.check_secret("any", &aes), pw("pw"));
    }
}
