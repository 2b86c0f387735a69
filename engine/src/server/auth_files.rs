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
use crate::config::Config;
use crate::runtime::tls::{TlsFiles, TlsSettings};
use crate::session::client_auth::ClientIdent;

/// pool_hba.conf, pool_passwd and the TLS configurations as loaded at start or reload.
/// Immutable once built.
#[derive(Debug, Default)]
pub struct AuthFiles {
    hba: Option<HbaFile>,
    secrets: HashMap<String, StoredPassword>,
    tls: TlsSettings,
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
        if let Some(path) = config.pool_passwd_path() {
            if path.exists() {
                let file = PoolPasswd::load(&path).map_err(|e| io::Error::other(e.to_string()))?;
                let key = pool_key();
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
        Ok(Self { hba, secrets, tls })
    }

    /// An instance from parts (tests); no TLS.
    pub fn from_parts(hba: Option<HbaFile>, secrets: HashMap<String, StoredPassword>) -> Self {
        Self {
            hba,
            secrets,
            tls: TlsSettings::default(),
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
