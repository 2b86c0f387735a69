//! `corepool basebackup`: a pg_basebackup-compatible base backup, parallel with `-j N`.

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use anyhow::anyhow;
use clap::{ArgAction, Args, ValueEnum};
use corepool_backup::client::tls::{self, SslMode};
use corepool_backup::client::{pgpass, ConnectOptions, Host};
use corepool_backup::manifest::ChecksumAlgorithm;
use corepool_backup::{BackupOptions, Checkpoint, Compression, Format, WalMethod};

use super::Failure;

/// `-F`.
#[derive(Debug, Clone, Copy, ValueEnum)]
enum FormatArg {
    /// A data directory.
    #[value(name = "p", alias = "plain")]
    Plain,
    /// tar archives.
    #[value(name = "t", alias = "tar")]
    Tar,
}

/// `-X`.
#[derive(Debug, Clone, Copy, ValueEnum)]
enum WalArg {
    /// Stream WAL while the backup runs.
    #[value(alias = "s")]
    Stream,
    /// Collect WAL at the end.
    #[value(alias = "f")]
    Fetch,
    /// No WAL.
    #[value(alias = "n")]
    None,
}

/// `-c`.
#[derive(Debug, Clone, Copy, ValueEnum)]
enum CheckpointArg {
    /// Immediate checkpoint.
    Fast,
    /// Spread checkpoint.
    Spread,
}

/// pg_basebackup's flags; `-j N` (N > 1) fetches files over N parallel connections.
#[derive(Debug, Args)]
#[command(disable_help_flag = true)]
pub struct BasebackupArgs {
    /// Receive the base backup into this directory (must be empty or absent).
    #[arg(short = 'D', long = "pgdata")]
    pgdata: PathBuf,
    /// Output format: p(lain) or t(ar).
    #[arg(short = 'F', long = "format", value_enum, default_value = "p")]
    format: FormatArg,
    /// Parallel worker connections (1: the BASE_BACKUP command, like pg_basebackup).
    #[arg(short = 'j', long = "jobs", default_value_t = 1)]
    jobs: usize,
    /// Maximum transfer rate (kB/s, or with suffix k/M).
    #[arg(short = 'r', long = "max-rate")]
    max_rate: Option<String>,
    /// Write configuration for replication (standby.signal, primary_conninfo).
    #[arg(short = 'R', long = "write-recovery-conf")]
    write_recovery_conf: bool,
    /// Relocate the tablespace in OLDDIR to NEWDIR (repeatable).
    #[arg(short = 'T', long = "tablespace-mapping", value_name = "OLDDIR=NEWDIR")]
    tablespace_mapping: Vec<String>,
    /// Include required WAL files with the specified method.
    #[arg(short = 'X', long = "wal-method", value_enum, default_value = "stream")]
    wal_method: WalArg,
    /// Compress tar output with gzip (default level).
    #[arg(short = 'z', long = "gzip")]
    gzip: bool,
    /// Compress tar output: [client-]METHOD[:DETAIL] or a gzip level.
    #[arg(short = 'Z', long = "compress")]
    compress: Option<String>,
    /// Set fast or spread checkpointing.
    #[arg(short = 'c', long = "checkpoint", value_enum, default_value = "spread")]
    checkpoint: CheckpointArg,
    /// Create the replication slot named by --slot.
    #[arg(short = 'C', long = "create-slot")]
    create_slot: bool,
    /// Set the backup label.
    #[arg(
        short = 'l',
        long = "label",
        default_value = "pg_basebackup base backup"
    )]
    label: String,
    /// Do not wait for changes to be written safely to disk.
    #[arg(short = 'N', long = "no-sync")]
    no_sync: bool,
    /// Show progress information.
    #[arg(short = 'P', long = "progress")]
    progress: bool,
    /// Replication slot to use.
    #[arg(short = 'S', long = "slot")]
    slot: Option<String>,
    /// Use an algorithm for manifest checksums.
    #[arg(long = "manifest-checksums", default_value = "CRC32C")]
    manifest_checksums: String,
    /// Hex encode all file names in the manifest.
    #[arg(long = "manifest-force-encode")]
    manifest_force_encode: bool,
    /// Suppress generation of the backup manifest.
    #[arg(long = "no-manifest")]
    no_manifest: bool,
    /// Do not verify checksums.
    #[arg(long = "no-verify-checksums")]
    no_verify_checksums: bool,
    /// Bytes fetched per pg_read_binary_file call in parallel mode (multiple of 8 kB).
    #[arg(long = "chunk-size", default_value_t = corepool_backup::plan::ChunkSize::DEFAULT_BYTES)]
    chunk_size: u64,
    /// Time between status packets sent to the server (seconds).
    #[arg(short = 's', long = "status-interval", default_value_t = 10)]
    status_interval: u64,
    /// Database server host or socket directory.
    #[arg(short = 'h', long = "host", env = "PGHOST")]
    host: Option<String>,
    /// Database server port.
    #[arg(short = 'p', long = "port", env = "PGPORT", default_value_t = 5432)]
    port: u16,
    /// Connect as this user.
    #[arg(short = 'U', long = "username", env = "PGUSER")]
    username: Option<String>,
    /// Database for the SQL connections of -j N (a name or `key=value …`).
    #[arg(short = 'd', long = "dbname")]
    dbname: Option<String>,
    /// Never prompt for a password.
    #[arg(short = 'w', long = "no-password")]
    no_password: bool,
    /// Ask for the password before connecting: on the terminal with echo off, or one line of
    /// standard input when it is not a terminal.
    #[arg(short = 'W', long = "password", conflicts_with = "no_password")]
    password: bool,
    /// Print help.
    #[arg(long = "help", action = ArgAction::Help)]
    help: Option<bool>,
}

/// Builds the options, takes the backup, and maps failure to exit status 1.
pub fn run(args: BasebackupArgs, verbose: bool) -> Result<(), Failure> {
    let opts = options(args, verbose)?;
    let cancel = Arc::new(AtomicBool::new(false));
    corepool_backup::session::install_signal_handlers(&cancel).map_err(|e| anyhow!(e))?;
    let target = opts.target.clone();
    match corepool_backup::run(opts, cancel) {
        Ok(outcome) if outcome.checksum_failures > 0 => Err(anyhow!(
            "checksum error occurred ({} data page checksum failure(s)); the files were kept in \"{}\"",
            outcome.checksum_failures,
            target.display()
        )
        .into()),
        Ok(outcome) => {
            if verbose {
                eprintln!(
                    "corepool basebackup: base backup completed ({} to {}, {} parallel worker(s))",
                    outcome.start, outcome.end, outcome.parallel_workers
                );
            }
            Ok(())
        }
        Err(e) => Err(anyhow!("basebackup: error: {e:#}").into()),
    }
}

fn options(a: BasebackupArgs, verbose: bool) -> anyhow::Result<BackupOptions> {
    let mut dbname: Option<String> = None;
    let mut host = a.host.clone();
    let mut port = a.port;
    let mut user = a.username.clone();
    let mut password = if a.password {
        Some(read_password()?)
    } else {
        std::env::var("PGPASSWORD").ok()
    };
    let mut sslmode = std::env::var("PGSSLMODE").ok();
    let mut sslrootcert = std::env::var("PGSSLROOTCERT").ok();
    let mut sslcert = std::env::var("PGSSLCERT").ok();
    let mut sslkey = std::env::var("PGSSLKEY").ok();
    if let Some(d) = &a.dbname {
        if d.contains('=') {
            for pair in d.split_whitespace() {
                let (k, v) = pair
                    .split_once('=')
                    .ok_or_else(|| anyhow!("invalid connection string \"{d}\""))?;
                let v = v.trim_matches('\'').to_owned();
                match k {
                    "host" => host = Some(v),
                    "port" => port = v.parse()?,
                    "user" => user = Some(v),
                    "dbname" => dbname = Some(v),
                    "password" => password = Some(v),
                    "sslmode" => sslmode = Some(v),
                    "sslrootcert" => sslrootcert = Some(v),
                    "sslcert" => sslcert = Some(v),
                    "sslkey" => sslkey = Some(v),
                    _ => {}
                }
            }
        } else {
            dbname = Some(d.clone());
        }
    }
    let host = host.unwrap_or_else(|| "/var/run/postgresql".into());
    let user = user
        .or_else(|| std::env::var("USER").ok())
        .unwrap_or_else(|| "postgres".into());
    let db = dbname.clone().unwrap_or_else(|| "postgres".into());
    if password.is_none() {
        if let Some(path) = pgpass::default_path() {
            if let Ok(content) = std::fs::read_to_string(path) {
                // Replication connections look up the database "replication", as in libpq.
                password = pgpass::lookup(&content, &host, port, &db, &user)
                    .or_else(|| pgpass::lookup(&content, &host, port, "replication", &user));
            }
        }
    }
    let mut conn = ConnectOptions::new(Host::parse(&host), port, user.clone());
    conn.database = Some(db);
    conn.password = password.clone();
    conn.application_name = Some("corepool_basebackup".into());
    let mode = SslMode::parse(sslmode.as_deref().unwrap_or("prefer"))?;
    // libpq's defaults: files in ~/.postgresql, used when they exist.
    let default_file = |name: &str| {
        let home = std::env::var_os("HOME")?;
        Some(Path::new(&home).join(".postgresql").join(name)).filter(|p| p.exists())
    };
    let root_cert = sslrootcert
        .map(PathBuf::from)
        .or_else(|| default_file("root.crt"));
    let client_cert = sslcert
        .map(PathBuf::from)
        .or_else(|| default_file("postgresql.crt"));
    let client_key = sslkey
        .map(PathBuf::from)
        .or_else(|| default_file("postgresql.key"));
    let files = tls::TlsFiles {
        root_cert: root_cert.as_deref(),
        cert: client_cert.as_deref(),
        key: client_key.as_deref(),
    };
    conn.tls = tls::client_config(mode, &files)?;
    conn.tls_required = mode.requires_tls();
    let mut o = BackupOptions::new(conn, a.pgdata);
    o.format = match a.format {
        FormatArg::Plain => Format::Plain,
        FormatArg::Tar => Format::Tar,
    };
    o.jobs = a.jobs;
    o.wal_method = match a.wal_method {
        WalArg::Stream => WalMethod::Stream,
        WalArg::Fetch => WalMethod::Fetch,
        WalArg::None => WalMethod::None,
    };
    o.checkpoint = match a.checkpoint {
        CheckpointArg::Fast => Checkpoint::Fast,
        CheckpointArg::Spread => Checkpoint::Spread,
    };
    o.label = a.label;
    o.progress = a.progress;
    o.verbose = verbose;
    o.write_recovery_conf = a.write_recovery_conf;
    o.slot = a.slot;
    o.create_slot = a.create_slot;
    for t in &a.tablespace_mapping {
        o.tablespace_mapping.push_arg(t)?;
    }
    o.max_rate = a.max_rate.as_deref().map(parse_rate).transpose()?;
    o.verify_checksums = !a.no_verify_checksums;
    o.sync = !a.no_sync;
    o.manifest = !a.no_manifest;
    o.manifest_checksums = ChecksumAlgorithm::parse(&a.manifest_checksums)?;
    o.manifest_force_encode = a.manifest_force_encode;
    o.compression = match (&a.compress, a.gzip) {
        (Some(spec), _) => Compression::parse(spec).map_err(|e| anyhow!(e))?,
        (None, true) => Some(Compression::Gzip(6)),
        (None, false) => None,
    };
    o.chunk_size = a.chunk_size;
    o.status_interval = Duration::from_secs(a.status_interval.max(1));
    let mut values = vec![("user".to_owned(), user)];
    if let Some(p) = password {
        values.push(("password".into(), p));
    }
    values.push(("host".into(), host));
    values.push(("port".into(), port.to_string()));
    if let Some(mode) = sslmode {
        values.push(("sslmode".into(), mode));
    }
    for (name, file) in [
        ("sslrootcert", &root_cert),
        ("sslcert", &client_cert),
        ("sslkey", &client_key),
    ] {
        if let Some(path) = file {
            values.push((name.into(), path.display().to_string()));
        }
    }
    o.conninfo_values = values;
    o.validate().map_err(|e| anyhow!(e))?;
    Ok(o)
}

/// `-W`: "Password: " on the terminal with echo off, or a line of a non-terminal stdin.
fn read_password() -> anyhow::Result<String> {
    use std::io::IsTerminal;
    if std::io::stdin().is_terminal() {
        return Ok(rpassword::prompt_password("Password: ")?);
    }
    let mut line = String::new();
    std::io::stdin().read_line(&mut line)?;
    Ok(line.trim_end_matches(['\r', '\n']).to_owned())
}

/// `-r`: kB/s by default, `k` or `M` suffix; 32 kB/s to 1 GB/s like pg_basebackup.
fn parse_rate(s: &str) -> anyhow::Result<u64> {
    let (num, mult) = match s.chars().last() {
        Some('k' | 'K') => (&s[..s.len() - 1], 1024),
        Some('M' | 'm') => (&s[..s.len() - 1], 1024 * 1024),
        _ => (s, 1024),
    };
    let n: u64 = num
        .trim()
        .parse()
        .map_err(|_| anyhow!("transfer rate \"{s}\" is not a valid value"))?;
    let bytes = n * mult;
    if !(32 * 1024..=1024 * 1024 * 1024).contains(&bytes) {
        return Err(anyhow!("transfer rate \"{s}\" is out of range"));
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::{parse_rate, BasebackupArgs};
    use crate::cmd::{Cli, Command};
    use clap::Parser;

    fn parse(args: &str) -> BasebackupArgs {
        let argv = std::iter::once("corepool").chain(args.split_whitespace());
        match Cli::try_parse_from(argv).map(|c| c.command) {
            Ok(Command::Basebackup(a)) => a,
            Ok(other) => panic!("{other:?}"),
            Err(e) => panic!("{args}: {e}"),
        }
    }

    #[test]
    fn repeated_options_take_the_last_value_like_getopt() {
        // HighGo guide 5.2: "-D $BACKUP_DIR -j 10 -S backup -C --slot=$SLOT -P".
        let a = parse("basebackup -D /b -j 10 -S backup -C --slot=s1 -P");
        assert_eq!(a.slot.as_deref(), Some("s1"));
        assert!(a.create_slot && a.progress);
        assert_eq!(a.jobs, 10);
        // "-D $BACKUP_DIR -j 4 --max-rate=100m -D $BACKUP_DIR".
        let a = parse("basebackup -D /first -j 4 --max-rate=100m -D /b");
        assert_eq!(a.pgdata, std::path::PathBuf::from("/b"));
        assert_eq!(a.max_rate.as_deref(), Some("100m"));
        let a = parse("basebackup -D /b -j 2 --jobs=3 -P -P -c spread -c fast -Ft -Fp");
        assert_eq!(a.jobs, 3);
        assert!(matches!(a.checkpoint, super::CheckpointArg::Fast));
        assert!(matches!(a.format, super::FormatArg::Plain));
        // Options that collect values keep collecting.
        let a = parse("basebackup -D /b -T /a=/x -T /c=/y");
        assert_eq!(a.tablespace_mapping, ["/a=/x", "/c=/y"]);
    }

    #[test]
    fn max_rate_units() {
        assert_eq!(parse_rate("100m").unwrap(), 100 << 20);
        assert_eq!(parse_rate("100M").unwrap(), 100 << 20);
        assert_eq!(parse_rate("512k").unwrap(), 512 << 10);
        assert_eq!(parse_rate("32").unwrap(), 32 << 10);
        assert!(parse_rate("31").is_err());
        assert!(parse_rate("2000M").is_err());
        assert!(parse_rate("fast").is_err());
    }
}
