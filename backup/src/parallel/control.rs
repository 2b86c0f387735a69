//! The control session: privileges, settings, tablespaces, `pg_backup_start` / `pg_backup_stop`.

use crate::context::Context;
use crate::listing::FileEntry;
use crate::lsn::{Lsn, TimelineId};
use crate::options::Format;
use crate::worker;
use crate::Error;
use corepool_client::Connection;
use corepool_protocol::ddl::quote_literal;
use std::collections::HashMap;

/// Functions the role must be able to execute, with the GRANT that allows it.
const NEEDED: &[&str] = &[
    "pg_backup_start(text, boolean)",
    "pg_backup_stop(boolean)",
    "pg_ls_dir(text, boolean, boolean)",
    "pg_stat_file(text, boolean)",
    "pg_read_binary_file(text, bigint, bigint, boolean)",
];

/// Whether the role can take a `BASE_BACKUP` instead (superuser or REPLICATION).
pub async fn may_fall_back(ctx: &Context) -> bool {
    let Ok(mut c) = Connection::connect(&ctx.opts.conn).await else {
        return false;
    };
    let ok = c
        .query_one("SELECT rolsuper OR rolreplication FROM pg_roles WHERE rolname = current_user")
        .await
        .ok()
        .and_then(|r| r.text(0).ok().flatten().map(|t| t == "t"))
        .unwrap_or(false);
    c.close().await;
    ok
}

async fn check_privileges(conn: &mut Connection, user: &str) -> Result<(), Error> {
    let cols: Vec<String> = NEEDED
        .iter()
        .map(|f| format!("has_function_privilege({}, 'EXECUTE')", quote_literal(f)))
        .collect();
    let row = conn
        .query_one(&format!("SELECT {}", cols.join(", ")))
        .await
        .map_err(|e| Error::client("could not check privileges", e))?;
    let missing: Vec<&str> = NEEDED
        .iter()
        .enumerate()
        .filter(|(i, _)| row.text(*i).ok().flatten() != Some("t"))
        .map(|(_, f)| *f)
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    let grants: Vec<String> = missing
        .iter()
        .map(|f| format!("GRANT EXECUTE ON FUNCTION {f} TO {user};"))
        .collect();
    Err(Error::Privileges(format!(
        "role \"{user}\" may not run the parallel backup (-j > 1); as a superuser run:\n  {}",
        grants.join("\n  ")
    )))
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
        let mut conn = Connection::connect(&conn_opts)
            .await
            .map_err(|e| Error::client("could not connect to server", e))?;
        crate::context::check_server_version(&conn)?;
        check_privileges(&mut conn, &conn_opts.user).await?;
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
