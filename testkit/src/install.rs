//! Finds the PostgreSQL binaries and, under root, the unprivileged user that runs them.

use std::ffi::OsString;
use std::fs;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

use crate::exec::{run, run_unchecked};
use crate::{sys, Error};

/// Environment variable naming the directory holding `initdb`, `pg_ctl`, `psql`, ... Read once.
pub const BINDIR_ENV: &str = "COREPOOL_PG_BINDIR";

/// The user created when running as root and no `postgres` user exists.
const FALLBACK_USER: &str = "corepool";

/// Where PostgreSQL is installed and as whom its programs must run.
///
/// PostgreSQL refuses to run as root, and CI runs as root. So when the effective uid is 0 every
/// PostgreSQL program is started as an unprivileged user: `postgres` if it exists, otherwise
/// `corepool`, created with `useradd --system --no-create-home`. [`PgInstall::command`] builds
/// a [`Command`] that does this, so tests can run `pgbench` or `pg_verifybackup` the same way.
#[derive(Debug)]
pub struct PgInstall {
    bin_dir: PathBuf,
    run_as: Option<RunAs>,
    major: u32,
}

/// The unprivileged user PostgreSQL's programs run as when the tests run as root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunAs {
    name: String,
    uid: u32,
    gid: u32,
    home: PathBuf,
}

impl RunAs {
    /// The user name, e.g. `postgres`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The numeric user id.
    pub fn uid(&self) -> u32 {
        self.uid
    }

    /// The numeric primary group id.
    pub fn gid(&self) -> u32 {
        self.gid
    }

    /// The home directory from the passwd entry; it may not exist.
    pub fn home(&self) -> &Path {
        &self.home
    }
}

static INSTALL: OnceLock<Result<PgInstall, Error>> = OnceLock::new();

impl PgInstall {
    /// The installation, detected on first use: the binaries from `COREPOOL_PG_BINDIR`, else
    /// `pg_config --bindir` if it holds `initdb`, else the highest `/usr/lib/postgresql/*/bin`,
    /// else `initdb` on `PATH`; and the user to run them as.
    pub fn get() -> Result<&'static PgInstall, Error> {
        match INSTALL.get_or_init(detect) {
            Ok(install) => Ok(install),
            Err(Error::RunAs(m)) => Err(Error::RunAs(m.clone())),
            Err(e) => Err(Error::BinariesNotFound(e.to_string())),
        }
    }

    /// The directory holding `initdb`, `pg_ctl`, `psql` and the other PostgreSQL programs.
    pub fn bin_dir(&self) -> &Path {
        &self.bin_dir
    }

    /// The server's major version (`postgres --version`: 15, 16, 17, 18, …). Tests and the
    /// cluster builder use it where majors differ (18's initdb enables data checksums unless
    /// told not to).
    pub fn major(&self) -> u32 {
        self.major
    }

    /// The user PostgreSQL programs run as, or `None` when not running as root.
    pub fn run_as(&self) -> Option<&RunAs> {
        self.run_as.as_ref()
    }

    /// A [`Command`] for PostgreSQL program `tool` (`"pgbench"`, `"pg_verifybackup"`, ...):
    /// absolute path, run as [`PgInstall::run_as`] when set (uid, gid, `HOME`, `USER`), every
    /// `PG*` variable removed from its environment, `LC_ALL=C` so messages are in English, and
    /// `/` as working directory so an unreadable one does not matter. Set `PGPASSWORD` and the
    /// like on the returned command.
    pub fn command(&self, tool: &str) -> Command {
        let mut cmd = Command::new(self.bin_dir.join(tool));
        for (key, _) in std::env::vars_os() {
            if key.to_str().is_some_and(|k| k.starts_with("PG")) {
                cmd.env_remove(key);
            }
        }
        cmd.env("LC_ALL", "C").current_dir("/");
        if let Some(user) = &self.run_as {
            let home = if user.home.is_dir() {
                user.home.clone()
            } else {
                std::env::temp_dir()
            };
            cmd.uid(user.uid)
                .gid(user.gid)
                .env("HOME", home)
                .env("USER", &user.name)
                .env("LOGNAME", &user.name);
        }
        cmd
    }

    /// Creates directory `dir` (and its parents) for PostgreSQL's use: owned by the run-as user
    /// and reachable by it, adding search permission (`o+x`) to any ancestor that lacks it.
    pub(crate) fn create_dir(&self, dir: &Path) -> Result<(), Error> {
        fs::create_dir_all(dir).map_err(|e| Error::io("create directory", dir, e))?;
        self.give(dir)?;
        if self.run_as.is_none() {
            return Ok(());
        }
        for ancestor in dir.ancestors().skip(1) {
            let Ok(meta) = fs::metadata(ancestor) else {
                continue;
            };
            let mode = meta.permissions().mode();
            if mode & 0o001 == 0 {
                fs::set_permissions(ancestor, fs::Permissions::from_mode(mode | 0o001))
                    .map_err(|e| Error::io("make traversable", ancestor, e))?;
            }
        }
        Ok(())
    }

    /// Writes (or, with `append`, appends to) a file PostgreSQL reads, owned by the run-as
    /// user. A new file gets mode 0600 like the rest of a data directory.
    pub(crate) fn write_file(
        &self,
        path: &Path,
        contents: &[u8],
        append: bool,
    ) -> Result<(), Error> {
        let mut file = fs::OpenOptions::new()
            .create(true)
            .write(true)
            .append(append)
            .truncate(!append)
            .mode(0o600)
            .open(path)
            .map_err(|e| Error::io("open for writing", path, e))?;
        file.write_all(contents)
            .map_err(|e| Error::io("write", path, e))?;
        self.give(path)
    }

    /// Makes the run-as user own `path` (no-op when not running as root).
    fn give(&self, path: &Path) -> Result<(), Error> {
        match &self.run_as {
            Some(user) => std::os::unix::fs::chown(path, Some(user.uid), Some(user.gid))
                .map_err(|e| Error::io("chown", path, e)),
            None => Ok(()),
        }
    }
}

fn detect() -> Result<PgInstall, Error> {
    let bin_dir = find_bin_dir(std::env::var_os(BINDIR_ENV))?;
    let run_as = if sys::effective_uid() == 0 {
        Some(find_or_create_user()?)
    } else {
        None
    };
    let major = server_major(&bin_dir)?;
    Ok(PgInstall {
        bin_dir,
        run_as,
        major,
    })
}

/// The major version `postgres --version` reports (`postgres (PostgreSQL) 18.6` → 18).
fn server_major(bin_dir: &Path) -> Result<u32, Error> {
    let out = run(
        Command::new(bin_dir.join("postgres")).arg("--version"),
        TOOL_TIMEOUT,
    )?;
    let text = crate::exec::text(&out.stdout);
    parse_major(&text).ok_or_else(|| {
        Error::BinariesNotFound(format!(
            "cannot read the version of {}: {text:?}",
            bin_dir.join("postgres").display()
        ))
    })
}

fn parse_major(version_line: &str) -> Option<u32> {
    // `postgres (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)`: the third word.
    let version = version_line.split_whitespace().nth(2)?;
    let digits = version
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(version.len());
    version[..digits].parse().ok()
}

fn has_initdb(dir: &Path) -> bool {
    dir.join("initdb").is_file()
}

fn find_bin_dir(env_override: Option<OsString>) -> Result<PathBuf, Error> {
    if let Some(dir) = env_override {
        let dir = PathBuf::from(dir);
        return if has_initdb(&dir) {
            Ok(dir)
        } else {
            Err(Error::BinariesNotFound(format!(
                "{BINDIR_ENV}={} has no initdb",
                dir.display()
            )))
        };
    }
    let from_pg_config = run(Command::new("pg_config").arg("--bindir"), TOOL_TIMEOUT)
        .ok()
        .and_then(|out| String::from_utf8(out.stdout).ok())
        .map(|s| PathBuf::from(s.trim()));
    if let Some(dir) = from_pg_config.filter(|d| has_initdb(d)) {
        return Ok(dir);
    }
    let debian = fs::read_dir("/usr/lib/postgresql")
        .map(|entries| {
            entries
                .filter_map(|e| e.ok()?.file_name().into_string().ok())
                .collect::<Vec<_>>()
        })
        .unwrap_or_default();
    if let Some(dir) = highest_version(&debian)
        .map(|v| Path::new("/usr/lib/postgresql").join(v).join("bin"))
        .filter(|d| has_initdb(d))
    {
        return Ok(dir);
    }
    std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .find(|d| has_initdb(d))
        .ok_or_else(|| {
            Error::BinariesNotFound(format!(
                "no initdb via pg_config, /usr/lib/postgresql/*/bin or PATH; set {BINDIR_ENV}"
            ))
        })
}

/// The highest numeric version among directory names such as `13`, `15`, `9.6`.
fn highest_version(names: &[String]) -> Option<&str> {
    let key = |name: &str| -> Option<(u32, u32)> {
        let (major, minor) = name.split_once('.').unwrap_or((name, "0"));
        Some((major.parse().ok()?, minor.parse().ok()?))
    };
    names
        .iter()
        .filter_map(|n| Some((key(n)?, n.as_str())))
        .max()
        .map(|(_, n)| n)
}

/// How long `getent`, `useradd` and `pg_config` may take.
const TOOL_TIMEOUT: Duration = Duration::from_secs(30);

fn find_or_create_user() -> Result<RunAs, Error> {
    if let Some(user) = lookup_user("postgres")? {
        return Ok(user);
    }
    if let Some(user) = lookup_user(FALLBACK_USER)? {
        return Ok(user);
    }
    let out = run_unchecked(
        Command::new("useradd").args([
            "--system",
            "--no-create-home",
            "--user-group",
            "--shell",
            "/usr/sbin/nologin",
            FALLBACK_USER,
        ]),
        TOOL_TIMEOUT,
    )
    .map_err(|e| Error::RunAs(format!("running useradd: {e}")))?;
    // Exit code 9: another process created the user first, which is just as good.
    if !out.status.success() && out.status.code() != Some(9) {
        return Err(Error::RunAs(format!(
            "useradd {FALLBACK_USER} failed ({}): {}",
            out.status,
            crate::exec::text(&out.stderr).trim()
        )));
    }
    lookup_user(FALLBACK_USER)?
        .ok_or_else(|| Error::RunAs(format!("user {FALLBACK_USER} missing after useradd")))
}

fn lookup_user(name: &str) -> Result<Option<RunAs>, Error> {
    let out = run_unchecked(Command::new("getent").args(["passwd", name]), TOOL_TIMEOUT)
        .map_err(|e| Error::RunAs(format!("running getent: {e}")))?;
    // getent exits with 2 when the key is not found.
    if !out.status.success() {
        return Ok(None);
    }
    let line = String::from_utf8(out.stdout)
        .map_err(|_| Error::RunAs(format!("passwd entry of {name} is not UTF-8")))?;
    parse_passwd_line(line.trim())
        .map(Some)
        .ok_or_else(|| Error::RunAs(format!("cannot parse passwd entry {line:?}")))
}

/// Parses `name:password:uid:gid:gecos:home:shell`.
fn parse_passwd_line(line: &str) -> Option<RunAs> {
    let fields: Vec<&str> = line.split(':').collect();
    if fields.len() < 7 {
        return None;
    }
    Some(RunAs {
        name: fields[0].to_owned(),
        uid: fields[2].parse().ok()?,
        gid: fields[3].parse().ok()?,
        home: PathBuf::from(fields[5]),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_passwd_lines() {
        let user =
            parse_passwd_line("postgres:x:101:104:PostgreSQL,,,:/var/lib/postgresql:/bin/bash")
                .unwrap();
        assert_eq!(
            (user.name(), user.uid(), user.gid()),
            ("postgres", 101, 104)
        );
        assert_eq!(user.home(), Path::new("/var/lib/postgresql"));
        assert_eq!(parse_passwd_line("broken:x:1"), None);
    }

    #[test]
    fn picks_the_highest_numeric_version() {
        let names = ["9.6", "13", "15", "README", "14"].map(String::from);
        assert_eq!(highest_version(&names), Some("15"));
        assert_eq!(highest_version(&[]), None);
    }

    #[test]
    fn reads_the_major_version() {
        assert_eq!(parse_major("postgres (PostgreSQL) 18.6\n"), Some(18));
        assert_eq!(
            parse_major("postgres (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)"),
            Some(15)
        );
        assert_eq!(parse_major("postgres (PostgreSQL) 17beta1"), Some(17));
    }

    #[test]
    fn env_override_must_hold_initdb() {
        let err = find_bin_dir(Some("/nonexistent".into())).unwrap_err();
        assert!(err.to_string().contains(BINDIR_ENV), "{err}");
    }

    #[test]
    fn command_strips_libpq_environment() {
        let install = PgInstall {
            bin_dir: "/bin".into(),
            run_as: None,
            major: 15,
        };
        let cmd = install.command("true");
        assert_eq!(cmd.get_program(), "/bin/true");
        let lc_all = cmd.get_envs().find(|(k, _)| *k == "LC_ALL");
        assert_eq!(lc_all.and_then(|(_, v)| v), Some("C".as_ref()));
    }
}
