//! The control session: privileges, settings, tablespaces, `pg_backup_start` / `pg_backup_stop`.

use crate::admission::{Refusal, Unavailable, NEEDED_FUNCTIONS};
use crate::context::Context;
use crate::listing::FileEntry;
use crate::lsn::{Lsn, TimelineId};
use crate::options::Format;
use crate::worker;
use crate::Error;
use corepool_client::{ClientError, ConnectOptions, Connection, Host};
use corepool_protocol::ddl::quote_literal;
use std::collections::HashMap;

/// Whether the server itself refused the session (rather than the network or TLS failing):
/// the replication connection of `-j 1` may still be admitted by other pg_hba.conf lines.
fn refused_by_server(e: &ClientError) -> bool {
    matches!(
        e,
        ClientError::Server { .. }
            | ClientError::PasswordRequired
            | ClientError::UnsupportedAuth(_)
    )
}

/// Why an SQL session for `-j N` was refused, when the backup can go on as `-j 1`.
fn refusal_of(e: &ClientError) -> Option<Refusal> {
    match e {
        ClientError::Server { message, .. } if e.is_too_many_connections() => {
            Some(Refusal::NoSlot(message.clone()))
        }
        ClientError::Server { message, .. } => Some(Refusal::SessionRefused(message.clone())),
        _ if refused_by_server(e) => Some(Refusal::SessionRefused(e.to_string())),
        _ => None,
    }
}

/// The `-j N` path is not available: the error the runner turns into the warning and `-j 1`.
fn unavailable(ctx: &Context, refusal: Refusal) -> Error {
    Error::ParallelUnavailable(Box::new(describe(ctx, refusal)))
}

fn describe(ctx: &Context, refusal: Refusal) -> Unavailable {
    let conn = &ctx.opts.conn;
    Unavailable {
        refusal,
        jobs: ctx.opts.jobs,
        user: conn.user.clone(),
        database: conn.database.clone().unwrap_or_else(|| conn.user.clone()),
        client_address: client_address(&conn.host, conn.port),
    }
}

/// The address the server sees a TCP session come from (the local address the kernel would
/// route from: a UDP socket `connect`ed to the server sends nothing), `None` for a UNIX socket.
fn client_address(host: &Host, port: u16) -> Option<String> {
    use std::net::{ToSocketAddrs, UdpSocket};
    let Host::Tcp(name) = host else {
        return None;
    };
    let local = (name.as_str(), port)
        .to_socket_addrs()
        .ok()
        .and_then(|mut addrs| addrs.next())
        .and_then(|server| {
            let any = if server.is_ipv4() {
                "0.0.0.0:0"
            } else {
                "[::]:0"
            };
            let sock = UdpSocket::bind(any).ok()?;
            sock.connect(server).ok()?;
            sock.local_addr().ok()
        });
    Some(match local {
        Some(addr) => crate::admission::cidr(addr.ip()),
        None => "<your address>/32".into(),
    })
}

/// The functions of [`NEEDED_FUNCTIONS`] the session's role may not execute.
async fn missing_privileges(conn: &mut Connection) -> Result<Vec<&'static str>, Error> {
    let cols: Vec<String> = NEEDED_FUNCTIONS
        .iter()
        .map(|f| format!("has_function_privilege({}, 'EXECUTE')", quote_literal(f)))
        .collect();
    let row = conn
        .query_one(&format!("SELECT {}", cols.join(", ")))
        .await
        .map_err(|e| Error::client("could not check privileges", e))?;
    Ok(NEEDED_FUNCTIONS
        .iter()
        .enumerate()
        .filter(|(i, _)| row.text(*i).ok().flatten() != Some("t"))
        .map(|(_, f)| *f)
        .collect())
}

/// Whether the role can take a `BASE_BACKUP` instead (superuser or REPLICATION).
async fn may_replicate(conn: &mut Connection) -> bool {
    conn.query_one("SELECT rolsuper OR rolreplication FROM pg_roles WHERE rolname = current_user")
        .await
        .ok()
        .and_then(|r| r.text(0).ok().flatten().map(|t| t == "t"))
        .unwrap_or(false)
}

/// Refuses the parallel path when privileges are missing: the `-j 1` fallback when the role
/// may replicate, otherwise an error naming the GRANTs.
async fn check_privileges(ctx: &Context, conn: &mut Connection) -> Result<(), Error> {
    let missing = missing_privileges(conn).await?;
    if missing.is_empty() {
        return Ok(());
    }
    let refusal = Refusal::MissingPrivileges(missing.clone());
    if may_replicate(conn).await {
        return Err(unavailable(ctx, refusal));
    }
    let u = describe(ctx, refusal);
    let grants = u.grants(&missing);
    Err(Error::Privileges(format!(
        "role \"{}\" may not run the parallel backup (-j > 1), nor -j 1 (it has neither \
         REPLICATION nor superuser); as a superuser run:\n  {}",
        u.user,
        grants.join("\n  ")
    )))
}

/// Opens a second SQL session and closes it: the workers will be admitted too. A server that
/// admits the control session only (connection limits) gets the `-j 1` fallback instead of a
/// backup started with nobody to copy it.
async fn probe_worker_session(ctx: &Context, opts: &ConnectOptions) -> Result<(), Error> {
    match Connection::connect(opts).await {
        Ok(c) => {
            c.close().await;
            Ok(())
        }
        Err(e) => match refusal_of(&e) {
            Some(r) => Err(unavailable(ctx, r)),
            None => Err(Error::client("could not connect to server", e)),
        },
    }
}

async fn show(conn: &mut Connection, name: &str) -> Result<String, Error> {
    conn.show(name)
        .await
        .map_err(|e| Error::client(format!("could not read setting {name}"), e))
}

/// The open control session and what it learnt about the server.
pub struct Control {
    /// The session that owns the backup (kept open until `pg_backup_stop`).
    pub conn: Connection,
    /// Verify data page checksums (cluster has them, 8 kB pages, not disabled).
    pub verify: bool,
    /// `data_directory_mode`.
    pub dir_mode: u32,
    /// Files get the directory mode without execute bits.
    pub file_mode: u32,
    /// Tablespace OID → server location.
    pub spaces: HashMap<u32, String>,
}

/// What `pg_backup_stop` returned.
pub struct Stopped {
    /// End LSN.
    pub end: Lsn,
    /// `backup_label`'s content.
    pub label: String,
    /// `tablespace_map`'s content (may be empty).
    pub spcmap: String,
    /// The `START TIMELINE` of the label.
    pub timeline: Option<TimelineId>,
}

impl Control {
    /// Connects, checks privileges and reads the settings the backup needs.
    pub async fn open(ctx: &Context) -> Result<Control, Error> {
        let opts = &ctx.opts;
        let mut conn_opts = opts.conn.clone();
        conn_opts.replication = None;
        let mut conn = match Connection::connect(&conn_opts).await {
            Ok(c) => c,
            Err(e) => {
                return Err(match refusal_of(&e) {
                    Some(r) => unavailable(ctx, r),
                    None => Error::client("could not connect to server", e),
                })
            }
        };
        crate::context::check_server_version(&conn)?;
        check_privileges(ctx, &mut conn).await?;
        probe_worker_session(ctx, &conn_opts).await?;
        // The listing's recursive query is costed high enough to be JIT-compiled otherwise:
        // ~100 ms of LLVM for a query that runs once.
        conn.simple_query("SET jit = off")
            .await
            .map_err(|e| Error::client("could not set up the control session", e))?;
        if opts.format == Format::Tar
            && !matches!(
                opts.manifest_checksums,
                crate::manifest::ChecksumAlgorithm::Crc32c
                    | crate::manifest::ChecksumAlgorithm::None
            )
        {
            return Err(Error::Usage(
                "tar format with -j > 1 supports only CRC32C or NONE manifest checksums".into(),
            ));
        }
        let checksums_on = show(&mut conn, "data_checksums").await? == "on";
        let block_size = show(&mut conn, "block_size").await?;
        let mode = show(&mut conn, "data_directory_mode").await?;
        let dir_mode = u32::from_str_radix(mode.trim_start_matches('0'), 8).unwrap_or(0o700);
        let spaces = tablespaces(&mut conn).await?;
        Ok(Control {
            conn,
            verify: opts.verify_checksums && checksums_on && block_size == "8192",
            dir_mode,
            file_mode: dir_mode & 0o666,
            spaces,
        })
    }

    /// `pg_backup_start(label, fast)`: the start LSN.
    pub async fn start(&mut self, ctx: &Context) -> Result<Lsn, Error> {
        let fast = ctx.opts.checkpoint == crate::options::Checkpoint::Fast;
        let sql = format!(
            "SELECT pg_backup_start({}, {fast})",
            quote_literal(&ctx.opts.label)
        );
        let row = self
            .conn
            .query_one(&sql)
            .await
            .map_err(|e| Error::client("could not start backup", e))?;
        let text = row
            .text_required(0)
            .map_err(|e| Error::client("pg_backup_start", e))?;
        Ok(Lsn::parse(text)?)
    }

    /// `pg_backup_stop(false)` (the WAL is streamed or fetched here, nothing to wait for). The
    /// session stays open: a slot it created keeps the WAL until [`close`](Self::close).
    pub async fn stop(&mut self, ctx: &Context) -> Result<Stopped, Error> {
        let row = self
            .conn
            .query_one("SELECT lsn, labelfile, spcmapfile FROM pg_backup_stop(false)")
            .await
            .map_err(|e| Error::client("could not stop backup", e))?;
        for n in self.conn.take_notices() {
            ctx.verbose(&format!("{}: {}", n.severity, n.message));
        }
        let bad = |e| Error::client("unexpected pg_backup_stop result", e);
        let end = Lsn::parse(row.text_required(0).map_err(bad)?)?;
        let label = row.text_required(1).map_err(bad)?.to_owned();
        let spcmap = row.text(2).map_err(bad)?.unwrap_or("").to_owned();
        let timeline = label
            .lines()
            .find_map(|l| l.strip_prefix("START TIMELINE: "))
            .and_then(|t| t.trim().parse().ok());
        Ok(Stopped {
            end,
            label,
            spcmap,
            timeline,
        })
    }
}

impl Control {
    /// Ends the control session.
    pub async fn close(self) {
        self.conn.close().await;
    }
}

async fn tablespaces(conn: &mut Connection) -> Result<HashMap<u32, String>, Error> {
    let rows = conn
        .simple_query("SELECT oid, pg_tablespace_location(oid) FROM pg_tablespace WHERE spcname NOT IN ('pg_default', 'pg_global')")
        .await
        .map_err(|e| Error::client("could not list tablespaces", e))?;
    rows.iter()
        .map(|r| {
            let oid = r.parse(0).map_err(|e| Error::client("tablespace oid", e))?;
            let loc = r
                .text_required(1)
                .map_err(|e| Error::client("tablespace location", e))?;
            Ok((oid, loc.to_owned()))
        })
        .collect()
}

/// Reads a small file whole on a fresh session.
pub async fn read_whole(ctx: &Context, f: &FileEntry) -> Result<Vec<u8>, Error> {
    let mut opts = ctx.opts.conn.clone();
    opts.replication = None;
    let mut c = Connection::connect(&opts)
        .await
        .map_err(|e| Error::client("could not connect to server", e))?;
    let data = c
        .query_binary(
            worker::READ_SQL,
            &[
                Some(&f.path),
                Some("0"),
                Some(&f.size.max(1 << 20).to_string()),
            ],
        )
        .await
        .map_err(|e| Error::client(format!("could not read \"{}\"", f.path), e))?;
    c.close().await;
    Ok(data.map(|d| d.to_vec()).unwrap_or_default())
}
