//! The SQL-mode file walk: one recursive query over `pg_ls_dir` / `pg_stat_file` lists the data
//! directory (tablespaces through `pg_tblspc/<oid>`), then [`crate::exclude`] applies the
//! server's own exclusion rules entry by entry, exactly as `BASE_BACKUP` would.

use crate::checksum::ChecksummedFile;
use crate::exclude::{DirContext, Entry, FileKind, TablespaceVersionDir, Tree, WalkOptions};
use crate::Error;
use corepool_client::Row;
use std::collections::{HashMap, HashSet};

/// The recursive listing. Directories whose contents the server never sends are not descended
/// into (the client re-checks every entry anyway). `pg_stat_file` follows symlinks, so the
/// tablespaces under `pg_tblspc` are walked through their links.
pub const LISTING_SQL: &str = "WITH RECURSIVE walk(path, size, mtime, isdir) AS ( \
  SELECT n, s.size, s.modification, s.isdir \
  FROM pg_ls_dir('.', true, false) AS n CROSS JOIN LATERAL pg_stat_file(n, true) AS s \
  UNION ALL \
  SELECT w.path || '/' || c, s.size, s.modification, s.isdir \
  FROM walk w CROSS JOIN LATERAL pg_ls_dir(w.path, true, false) AS c \
    CROSS JOIN LATERAL pg_stat_file(w.path || '/' || c, true) AS s \
  WHERE w.isdir AND w.path <> 'pg_wal' \
    AND split_part(w.path, '/', -1) NOT IN ('pg_stat_tmp', 'pg_replslot', 'pg_dynshmem', \
        'pg_notify', 'pg_serial', 'pg_snapshots', 'pg_subtrans') \
    AND split_part(w.path, '/', -1) NOT LIKE 'pgsql_tmp%' \
) \
SELECT path, size, extract(epoch FROM mtime)::bigint, isdir FROM walk WHERE size IS NOT NULL";

/// One listed entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawEntry {
    /// Path relative to the data directory.
    pub path: String,
    /// Size in bytes.
    pub size: u64,
    /// Modification time, Unix seconds.
    pub mtime: i64,
    /// A directory (or a symlink to one).
    pub is_dir: bool,
}

/// Converts the rows of [`LISTING_SQL`].
pub fn parse_rows(rows: &[Row]) -> Result<Vec<RawEntry>, Error> {
    let bad = |e| Error::client("unexpected file listing", e);
    rows.iter()
        .map(|r| {
            Ok(RawEntry {
                path: r.text_required(0).map_err(bad)?.to_owned(),
                size: r.parse(1).map_err(bad)?,
                mtime: r.parse(2).map_err(bad)?,
                is_dir: r.text_required(3).map_err(bad)? == "t",
            })
        })
        .collect()
}

/// Where an entry belongs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// The data directory; the path relative to it.
    DataDir(String),
    /// Tablespace `oid`; the path relative to its location (`PG_15_…/…`).
    Tablespace(u32, String),
}

/// A file to copy.
#[derive(Debug, Clone)]
pub struct FileEntry {
    /// Data-directory-relative path: what `pg_read_binary_file` reads and the manifest lists.
    pub path: String,
    /// Where it belongs.
    pub location: Location,
    /// Size at listing time (shorter reads are zero-padded, longer ones cut).
    pub size: u64,
    /// Modification time, Unix seconds.
    pub mtime: i64,
    /// Set when its data pages carry checksums to verify.
    pub checksummed: Option<ChecksummedFile>,
}

/// A directory (or the symlink of a tablespace) to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirEntry {
    /// Where it belongs.
    pub location: Location,
    /// `pg_tblspc/<oid>`: a symlink to tablespace `oid`.
    pub tablespace_link: Option<u32>,
}

/// What the walk decided.
#[derive(Debug, Clone, Default)]
pub struct Listing {
    /// Files to copy, in path order.
    pub files: Vec<FileEntry>,
    /// Directories to create, parents first.
    pub dirs: Vec<DirEntry>,
    /// `global/pg_control`, copied last.
    pub pg_control: Option<FileEntry>,
}

fn split_parent(path: &str) -> (&str, &str) {
    match path.rfind('/') {
        Some(i) => (&path[..i], &path[i + 1..]),
        None => ("", path),
    }
}

/// Maps a data-directory path to its tree: `pg_tblspc/<oid>/<rest>` is in tablespace `oid`.
/// Returns `None` for tablespace contents outside the server's `version_dir`, `Some((None, _))`
/// for the link.
fn locate(path: &str, version_dir: &TablespaceVersionDir) -> Option<(Option<u32>, Location)> {
    if let Some(rest) = path.strip_prefix("pg_tblspc/") {
        let (oid_text, inner) = rest.split_once('/').unwrap_or((rest, ""));
        if let Ok(oid) = oid_text.parse::<u32>() {
            if inner.is_empty() {
                return Some((Some(oid), Location::DataDir(path.to_owned())));
            }
            let first = inner.split('/').next().unwrap_or("");
            if first != version_dir.as_str() {
                return None;
            }
            return Some((None, Location::Tablespace(oid, inner.to_owned())));
        }
    }
    Some((None, Location::DataDir(path.to_owned())))
}

fn tree_rel(loc: &Location) -> (Tree, &str) {
    match loc {
        Location::DataDir(p) => (Tree::DataDir, p),
        Location::Tablespace(_, p) => (Tree::Tablespace, p),
    }
}

/// Applies the server's exclusion rules to the listing of a server whose tablespaces keep their
/// files under `version_dir`. `verify` enables data page checksum classification.
pub fn build(
    mut entries: Vec<RawEntry>,
    version_dir: TablespaceVersionDir,
    verify: bool,
) -> Result<Listing, Error> {
    entries.sort_by(|a, b| a.path.cmp(&b.path));
    let mut siblings: HashMap<&str, Vec<&[u8]>> = HashMap::new();
    for e in &entries {
        let (parent, name) = split_parent(&e.path);
        siblings.entry(parent).or_default().push(name.as_bytes());
    }
    let opts = WalkOptions {
        tablespace_version_dir: version_dir,
        ..WalkOptions::default()
    };
    let mut contexts: HashMap<String, DirContext> = HashMap::new();
    let mut pruned: HashSet<String> = HashSet::new();
    let mut listing = Listing::default();
    for e in &entries {
        let (parent, name) = split_parent(&e.path);
        if ancestors(parent).any(|a| pruned.contains(a)) {
            continue;
        }
        let Some((link, location)) = locate(&e.path, &opts.tablespace_version_dir) else {
            continue;
        };
        let (tree, rel) = tree_rel(&location);
        let (rel_parent, rel_name) = split_parent(rel);
        let ctx = contexts.entry(parent.to_owned()).or_insert_with(|| {
            let names = siblings.get(parent).cloned().unwrap_or_default();
            DirContext::new(tree, rel_parent.as_bytes(), names, &opts)
        });
        let kind = match (link, e.is_dir) {
            (Some(_), _) => FileKind::Symlink,
            (None, true) => FileKind::Dir,
            (None, false) => FileKind::File,
        };
        debug_assert_eq!(rel_name, name);
        let decision = ctx.classify(name.as_bytes(), kind, &opts);
        match decision {
            Entry::Include if link.is_some() => listing.dirs.push(DirEntry {
                location,
                tablespace_link: link,
            }),
            Entry::Include if e.is_dir => listing.dirs.push(DirEntry {
                location,
                tablespace_link: None,
            }),
            Entry::Include | Entry::Last => {
                let checksummed = if verify {
                    ChecksummedFile::classify(tree, rel.as_bytes())
                        .ok()
                        .flatten()
                } else {
                    None
                };
                let file = FileEntry {
                    path: e.path.clone(),
                    location: location.clone(),
                    size: e.size,
                    mtime: e.mtime,
                    checksummed,
                };
                if decision == Entry::Last {
                    listing.pg_control = Some(file);
                } else {
                    listing.files.push(file);
                }
            }
            Entry::ExcludeContents | Entry::WalDir => {
                pruned.insert(e.path.clone());
                listing.dirs.push(DirEntry {
                    location: location.clone(),
                    tablespace_link: None,
                });
                if let Location::DataDir(p) = &location {
                    if p == "pg_wal" {
                        listing.dirs.push(DirEntry {
                            location: Location::DataDir("pg_wal/archive_status".into()),
                            tablespace_link: None,
                        });
                    }
                }
            }
            Entry::Skip(_) => {
                if e.is_dir {
                    pruned.insert(e.path.clone());
                }
            }
        }
    }
    // A pg_tblspc link's contents are walked as the tablespace; no need to prune them.
    Ok(listing)
}

/// `a/b/c` → `a/b/c`, `a/b`, `a`.
fn ancestors(path: &str) -> impl Iterator<Item = &str> {
    let mut cur = Some(path).filter(|p| !p.is_empty());
    std::iter::from_fn(move || {
        let p = cur?;
        cur = p.rfind('/').map(|i| &p[..i]);
        Some(p)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn e(path: &str, size: u64, is_dir: bool) -> RawEntry {
        RawEntry {
            path: path.into(),
            size,
            mtime: 0,
            is_dir,
        }
    }

    #[test]
    fn tablespaces_keep_the_servers_version_directory_only() {
        // A PostgreSQL 16 tablespace still holding PostgreSQL 15's files after pg_upgrade.
        let entries = vec![
            e("pg_tblspc", 0, true),
            e("pg_tblspc/16385", 0, true),
            e("pg_tblspc/16385/PG_15_202209061", 0, true),
            e("pg_tblspc/16385/PG_15_202209061/5", 0, true),
            e("pg_tblspc/16385/PG_15_202209061/5/16386", 8192, false),
            e("pg_tblspc/16385/PG_16_202307071", 0, true),
            e("pg_tblspc/16385/PG_16_202307071/5", 0, true),
            e("pg_tblspc/16385/PG_16_202307071/5/16390", 8192, false),
            e("pg_tblspc/16385/PG_16_202307071/5/16391", 8192, false),
            e("pg_tblspc/16385/PG_16_202307071/5/16391_init", 0, false),
        ];
        let pg16 = TablespaceVersionDir::new(16, 202307071);
        let l = build(entries, pg16, true).unwrap();
        let files: Vec<&str> = l.files.iter().map(|f| f.path.as_str()).collect();
        // 16391 is an unlogged relation: only its init fork is sent, as in base/.
        assert_eq!(
            files,
            [
                "pg_tblspc/16385/PG_16_202307071/5/16390",
                "pg_tblspc/16385/PG_16_202307071/5/16391_init"
            ]
        );
    }

    #[test]
    fn applies_server_rules() {
        let entries = vec![
            e("PG_VERSION", 3, false),
            e("postmaster.pid", 10, false),
            e("base", 0, true),
            e("base/5", 0, true),
            e("base/5/16384", 8192, false),
            e("base/5/16390", 8192, false),
            e("base/5/16390_init", 0, false),
            e("base/5/t3_16400", 0, false),
            e("global", 0, true),
            e("global/pg_control", 8192, false),
            e("pg_wal", 0, true),
            e("pg_stat_tmp", 0, true),
            e("pg_stat_tmp/x", 1, false),
            e("pg_tblspc", 0, true),
            e("pg_tblspc/16385", 0, true),
            e("pg_tblspc/16385/PG_15_202209061", 0, true),
            e("pg_tblspc/16385/PG_15_202209061/5", 0, true),
            e("pg_tblspc/16385/PG_15_202209061/5/16386", 16384, false),
            e("pg_tblspc/16385/other", 5, false),
        ];
        let l = build(entries, TablespaceVersionDir::default(), true).unwrap();
        let files: Vec<&str> = l.files.iter().map(|f| f.path.as_str()).collect();
        assert_eq!(
            files,
            [
                "PG_VERSION",
                "base/5/16384",
                "base/5/16390_init",
                "pg_tblspc/16385/PG_15_202209061/5/16386"
            ]
        );
        assert_eq!(l.pg_control.as_ref().unwrap().path, "global/pg_control");
        assert!(l.files[1].checksummed.is_some());
        assert!(l.files[0].checksummed.is_none());
        assert!(l.files[3].checksummed.is_some());
        assert!(l.dirs.iter().any(|d| d.tablespace_link == Some(16385)));
        assert!(l
            .dirs
            .iter()
            .any(|d| d.location == Location::DataDir("pg_wal/archive_status".into())));
        assert!(l
            .dirs
            .iter()
            .any(|d| d.location == Location::DataDir("pg_stat_tmp".into())));
        assert!(l
            .dirs
            .iter()
            .any(|d| d.location == Location::Tablespace(16385, "PG_15_202209061/5".into())));
    }
}
