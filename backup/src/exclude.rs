//! Which entries of the data directory a PostgreSQL 15 base backup sends, empties or skips.
//!
//! A pure mirror of `sendDir()` in PG15's `basebackup.c` (with
//! `parse_filename_for_nontemp_relation` from `reinit.c` and `looks_like_temp_rel_name` from
//! `fd.c`). The walker lists a directory, builds a [`DirContext`] from the listing, and asks
//! [`DirContext::classify`] about each entry after `lstat`; this module never touches the file
//! system itself.
//!
//! Two deliberate differences from the C code, both for inputs a healthy cluster never has:
//! an entry named like an emptied directory (`pg_notify`…) that is a regular file is still
//! reported as [`Entry::ExcludeContents`] (the server would write a corrupt tar header), and an
//! unlogged relation's `<oid>_init` is looked up in the listing rather than with a fresh `lstat`.

use std::collections::HashSet;

/// The one directory of a tablespace location that a server's backup sends, its
/// `TABLESPACE_VERSION_DIRECTORY`: `PG_<major>_<catversion>`, which changes with each major
/// release (`PG_15_202209061` for every PostgreSQL 15, `PG_16_202307071` for 16). Others there
/// (left by pg_upgrade, say) are not part of the cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TablespaceVersionDir(String);

impl TablespaceVersionDir {
    /// The directory of a server of major version `major` and catalog version `catversion`
    /// (`pg_control_system().catalog_version_no`).
    pub fn new(major: u32, catversion: u32) -> Self {
        TablespaceVersionDir(format!("PG_{major}_{catversion}"))
    }

    /// The name, like `PG_15_202209061`.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Default for TablespaceVersionDir {
    /// PostgreSQL 15's.
    fn default() -> Self {
        TablespaceVersionDir::new(15, 202209061)
    }
}

/// Prefix of temporary files and directories (`PG_TEMP_FILE_PREFIX`).
pub const PG_TEMP_FILE_PREFIX: &[u8] = b"pgsql_tmp";

/// Files never sent, matched by exact name in any directory (`excludeFiles`, non-prefix rows).
pub const EXCLUDED_FILES: &[&str] = &[
    "postgresql.auto.conf.tmp",
    "current_logfiles.tmp",
    "backup_label",
    "tablespace_map",
    "backup_manifest",
    "postmaster.pid",
    "postmaster.opts",
];

/// Files never sent, matched by name prefix (`excludeFiles`, prefix rows).
pub const EXCLUDED_FILE_PREFIXES: &[&str] = &["pg_internal.init"];

/// Directories sent empty, matched by exact name at any depth (`excludeDirContents`).
pub const EXCLUDED_DIR_CONTENTS: &[&str] = &[
    "pg_stat_tmp",
    "pg_replslot",
    "pg_dynshmem",
    "pg_notify",
    "pg_serial",
    "pg_snapshots",
    "pg_subtrans",
];

/// Which tree a walked directory belongs to; paths are relative to its root.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Tree {
    /// The data directory (`base.tar`); relative paths like `base/5`.
    DataDir,
    /// A tablespace location (`<oid>.tar`); relative paths start with its
    /// [`TablespaceVersionDir`], like `PG_15_202209061/5`.
    Tablespace,
}

/// What `lstat` said an entry is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FileKind {
    /// A regular file.
    File,
    /// A directory.
    Dir,
    /// A symbolic link (not followed).
    Symlink,
    /// A socket, FIFO, device…
    Other,
}

/// Why an entry is left out of the backup.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SkipReason {
    /// `.` or `..`.
    DotEntry,
    /// A name beginning with `pgsql_tmp`.
    TempFile,
    /// `.DS_Store`.
    MacOsMetadata,
    /// One of [`EXCLUDED_FILES`] / [`EXCLUDED_FILE_PREFIXES`].
    ExcludedFile,
    /// A non-init fork of an unlogged relation (an `<oid>_init` file sits beside it).
    UnloggedFork,
    /// A temporary relation file `t<backend>_<relfilenode>…`.
    TempRelation,
    /// A symlink outside `pg_tblspc`, a socket, a device…: the server warns
    /// `skipping special file "<path>"`.
    SpecialFile,
}

/// What the walker does with one directory entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Entry {
    /// Send it: a file's content, a directory's entry and then its contents, a `pg_tblspc`
    /// symlink as a tar symlink.
    Include,
    /// `global/pg_control`: skip it during the walk and send it after everything else.
    Last,
    /// Send a directory entry (a symlink is written as a plain directory) but nothing below it.
    ExcludeContents,
    /// Top-level `pg_wal`: send `pg_wal/` and `./pg_wal/archive_status/` as empty directories.
    WalDir,
    /// Leave it out.
    Skip(SkipReason),
}

/// Options of the walk that change what is sent.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WalkOptions {
    /// `TABLESPACE_MAP`: a `tablespace_map` file replaces the `pg_tblspc` symlinks, so the
    /// contents of `pg_tblspc` are skipped.
    pub tablespace_map: bool,
    /// Tablespaces located inside the data directory, as paths relative to it: they are sent as
    /// their own archives, so the main walk does not descend into them.
    pub tablespaces_in_datadir: Vec<Vec<u8>>,
    /// The server's tablespace version directory.
    pub tablespace_version_dir: TablespaceVersionDir,
}

/// One directory being walked: where it is and what its listing says about unlogged relations.
#[derive(Debug, Clone)]
pub struct DirContext {
    tree: Tree,
    rel: Vec<u8>,
    is_db_dir: bool,
    /// Relfilenodes with an `<oid>_init` entry in this directory.
    init_forks: HashSet<Vec<u8>>,
}

impl DirContext {
    /// Prepares to classify the entries of `rel` (relative to the root of `tree`, `/`-separated,
    /// no trailing slash, empty for the data directory itself), given the names it contains.
    pub fn new<'n>(
        tree: Tree,
        rel: &[u8],
        names: impl IntoIterator<Item = &'n [u8]>,
        opts: &WalkOptions,
    ) -> Self {
        let is_db_dir = is_database_dir(tree, rel, &opts.tablespace_version_dir);
        let init_forks = if is_db_dir {
            names
                .into_iter()
                .filter_map(|name| name.strip_suffix(b"_init"))
                .filter(|oid| !oid.is_empty() && oid.iter().all(u8::is_ascii_digit))
                .map(<[u8]>::to_vec)
                .collect()
        } else {
            HashSet::new()
        };
        DirContext {
            tree,
            rel: rel.to_vec(),
            is_db_dir,
            init_forks,
        }
    }

    /// Whether this is a database directory, where relation-file rules apply.
    pub fn is_db_dir(&self) -> bool {
        self.is_db_dir
    }

    /// Classifies one entry named `name` of kind `kind`, in the order `sendDir` applies its rules.
    pub fn classify(&self, name: &[u8], kind: FileKind, opts: &WalkOptions) -> Entry {
        if name == b"." || name == b".." {
            return Entry::Skip(SkipReason::DotEntry);
        }
        if name.starts_with(PG_TEMP_FILE_PREFIX) {
            return Entry::Skip(SkipReason::TempFile);
        }
        if name == b".DS_Store" {
            return Entry::Skip(SkipReason::MacOsMetadata);
        }
        if EXCLUDED_FILES.iter().any(|f| f.as_bytes() == name)
            || EXCLUDED_FILE_PREFIXES
                .iter()
                .any(|p| name.starts_with(p.as_bytes()))
        {
            return Entry::Skip(SkipReason::ExcludedFile);
        }
        if self.is_db_dir {
            if let Some((oid_chars, fork)) = parse_relation_file_name(name) {
                if fork != Fork::Init && self.init_forks.contains(&name[..oid_chars]) {
                    return Entry::Skip(SkipReason::UnloggedFork);
                }
            }
            if looks_like_temp_rel_name(name) {
                return Entry::Skip(SkipReason::TempRelation);
            }
        }
        let top = self.tree == Tree::DataDir && self.rel.is_empty();
        if self.tree == Tree::DataDir && self.rel == b"global" && name == b"pg_control" {
            return Entry::Last;
        }
        if EXCLUDED_DIR_CONTENTS.iter().any(|d| d.as_bytes() == name) {
            return Entry::ExcludeContents;
        }
        if top && name == b"pg_wal" {
            return Entry::WalDir;
        }
        let in_pg_tblspc = self.tree == Tree::DataDir && self.rel == b"pg_tblspc";
        match kind {
            FileKind::Symlink if in_pg_tblspc => Entry::Include,
            FileKind::Dir => {
                let path = join(&self.rel, name);
                let is_inner_tablespace =
                    self.tree == Tree::DataDir && opts.tablespaces_in_datadir.contains(&path);
                if is_inner_tablespace || (top && name == b"pg_tblspc" && opts.tablespace_map) {
                    Entry::ExcludeContents
                } else {
                    Entry::Include
                }
            }
            FileKind::File => Entry::Include,
            FileKind::Symlink | FileKind::Other => Entry::Skip(SkipReason::SpecialFile),
        }
    }
}

/// Classifies the entry at `rel_path` (relative to the root of `tree`) in one call, given the
/// names listed in its parent directory. Convenient for tests and one-off checks; a walker
/// classifying a whole directory should build one [`DirContext`] instead.
pub fn classify<'n>(
    tree: Tree,
    rel_path: &[u8],
    kind: FileKind,
    siblings: impl IntoIterator<Item = &'n [u8]>,
    opts: &WalkOptions,
) -> Entry {
    let (parent, name) = split_last(rel_path);
    DirContext::new(tree, parent, siblings, opts).classify(name, kind, opts)
}

/// A relation fork, as named in file names (`forkNames`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Fork {
    /// No suffix.
    Main,
    /// `_fsm`.
    Fsm,
    /// `_vm`.
    VisibilityMap,
    /// `_init` (unlogged relations).
    Init,
}

/// Maximum digits of an OID in a file name (`OIDCHARS`).
const OIDCHARS: usize = 10;

/// `parse_filename_for_nontemp_relation`: for `<digits ≤ 10>[_fsm|_vm|_init][.<digits>]`,
/// returns the number of leading OID characters and the fork.
pub fn parse_relation_file_name(name: &[u8]) -> Option<(usize, Fork)> {
    let oid_chars = count_digits(name);
    if oid_chars == 0 || oid_chars > OIDCHARS {
        return None;
    }
    let mut rest = &name[oid_chars..];
    let mut fork = Fork::Main;
    if let Some(after) = rest.strip_prefix(b"_") {
        let (f, len) = fork_name_chars(after)?;
        fork = f;
        rest = &after[len..];
    }
    rest = strip_segment_suffix(rest)?;
    rest.is_empty().then_some((oid_chars, fork))
}

/// `looks_like_temp_rel_name`: `t<digits>_<digits>[_<fork>][.<digits>]`.
pub fn looks_like_temp_rel_name(name: &[u8]) -> bool {
    let Some(rest) = name.strip_prefix(b"t") else {
        return false;
    };
    let backend = count_digits(rest);
    let Some(rest) = rest[backend..].strip_prefix(b"_").filter(|_| backend > 0) else {
        return false;
    };
    let relfilenode = count_digits(rest);
    if relfilenode == 0 {
        return false;
    }
    let mut rest = &rest[relfilenode..];
    if let Some(after) = rest.strip_prefix(b"_") {
        let Some((_, len)) = fork_name_chars(after) else {
            return false;
        };
        rest = &after[len..];
    }
    matches!(strip_segment_suffix(rest), Some(r) if r.is_empty())
}

/// Whether `rel` is a database directory in `sendDir`'s sense: its last component is all digits
/// and its parent is `./base` or ends with the server's [`TablespaceVersionDir`].
///
/// Mirrors the C test exactly, including its quirk that the parent is compared with
/// `strncmp(path, "./base", parent_len)`, so a parent that is a prefix of `./base` (`.` for a
/// top-level directory like `./16384`) also counts.
pub fn is_database_dir(tree: Tree, rel: &[u8], version_dir: &TablespaceVersionDir) -> bool {
    let version_dir = version_dir.as_str().as_bytes();
    let (parent, last) = split_last(rel);
    if last.is_empty() || !last.iter().all(u8::is_ascii_digit) {
        return false;
    }
    let has_slash = rel.contains(&b'/');
    match tree {
        Tree::DataDir => {
            // The C path is "./" + rel, so the parent is "." or "./" + parent.
            let c_parent: Vec<u8> = if has_slash {
                [b"./".as_slice(), parent].concat()
            } else {
                b".".to_vec()
            };
            (c_parent.len() <= 6 && b"./base".starts_with(&c_parent))
                || c_parent.ends_with(version_dir)
        }
        // The C path is "<location>/" + rel; only the version directory's suffix can match.
        Tree::Tablespace => has_slash && parent.ends_with(version_dir),
    }
}

fn fork_name_chars(s: &[u8]) -> Option<(Fork, usize)> {
    // forkname_chars starts at fork 1: "main" is never a suffix. Prefix match, like strncmp.
    [
        (b"fsm".as_slice(), Fork::Fsm),
        (b"vm", Fork::VisibilityMap),
        (b"init", Fork::Init),
    ]
    .into_iter()
    .find(|(n, _)| s.starts_with(n))
    .map(|(n, f)| (f, n.len()))
}

/// Strips `.<digits>` if present; `None` if a `.` is not followed by a digit.
fn strip_segment_suffix(s: &[u8]) -> Option<&[u8]> {
    match s.strip_prefix(b".") {
        None => Some(s),
        Some(after) => {
            let digits = count_digits(after);
            (digits > 0).then(|| &after[digits..])
        }
    }
}

fn count_digits(s: &[u8]) -> usize {
    s.iter().take_while(|b| b.is_ascii_digit()).count()
}

fn split_last(path: &[u8]) -> (&[u8], &[u8]) {
    match path.iter().rposition(|&b| b == b'/') {
        Some(i) => (&path[..i], &path[i + 1..]),
        None => (&[], path),
    }
}

fn join(dir: &[u8], name: &[u8]) -> Vec<u8> {
    if dir.is_empty() {
        name.to_vec()
    } else {
        [dir, b"/", name].concat()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Entry::*;
    use FileKind::*;
    use SkipReason::*;

    fn dd(path: &str, kind: FileKind, siblings: &[&str]) -> Entry {
        let names = siblings.iter().map(|s| s.as_bytes());
        classify(
            Tree::DataDir,
            path.as_bytes(),
            kind,
            names,
            &WalkOptions::default(),
        )
    }

    #[test]
    fn data_directory_table() {
        let cases: &[(&str, FileKind, Entry)] = &[
            ("PG_VERSION", File, Include),
            ("postgresql.conf", File, Include),
            ("postgresql.auto.conf", File, Include),
            ("postgresql.auto.conf.tmp", File, Skip(ExcludedFile)),
            ("current_logfiles.tmp", File, Skip(ExcludedFile)),
            ("current_logfiles", File, Include),
            ("postmaster.pid", File, Skip(ExcludedFile)),
            ("postmaster.opts", File, Skip(ExcludedFile)),
            ("backup_label", File, Skip(ExcludedFile)),
            ("backup_label.old", File, Include),
            ("tablespace_map", File, Skip(ExcludedFile)),
            ("tablespace_map.old", File, Include),
            ("backup_manifest", File, Skip(ExcludedFile)),
            ("global/pg_internal.init", File, Skip(ExcludedFile)),
            ("base/5/pg_internal.init.1234", File, Skip(ExcludedFile)),
            ("global/pg_control", File, Last),
            ("base/5/pg_control", File, Include),
            ("pg_control", File, Include),
            ("base/pgsql_tmp", Dir, Skip(TempFile)),
            ("base/5/pgsql_tmp123.4", File, Skip(TempFile)),
            ("log/.DS_Store", File, Skip(MacOsMetadata)),
            (".", Dir, Skip(DotEntry)),
            ("base/..", Dir, Skip(DotEntry)),
            ("pg_stat_tmp", Dir, ExcludeContents),
            ("pg_replslot", Symlink, ExcludeContents),
            ("pg_dynshmem", Dir, ExcludeContents),
            ("pg_notify", Dir, ExcludeContents),
            ("pg_serial", Dir, ExcludeContents),
            ("pg_snapshots", Dir, ExcludeContents),
            ("pg_subtrans", Dir, ExcludeContents),
            ("some/where/pg_subtrans", Dir, ExcludeContents),
            ("pg_stat", Dir, Include),
            ("pg_xact", Dir, Include),
            ("pg_logical", Dir, Include),
            ("pg_wal", Dir, WalDir),
            ("pg_wal", Symlink, WalDir),
            ("log/pg_wal", Dir, Include),
            ("pg_tblspc", Dir, Include),
            ("pg_tblspc/16392", Symlink, Include),
            ("pg_tblspc/16392", Dir, Include),
            ("base/16392", Symlink, Skip(SpecialFile)),
            ("postgresql.conf", Symlink, Skip(SpecialFile)),
            ("socket", Other, Skip(SpecialFile)),
        ];
        for (path, kind, want) in cases {
            assert_eq!(dd(path, *kind, &[]), *want, "{path} {kind:?}");
        }
    }

    #[test]
    fn unlogged_and_temporary_relations() {
        let listing = [
            "16389",
            "16389_init",
            "16389_fsm",
            "16389_vm",
            "16389.1",
            "16384",
            "16384_fsm",
            "t3_16400",
            "16390_init",
        ];
        let cases: &[(&str, Entry)] = &[
            ("base/5/16389", Skip(UnloggedFork)),
            ("base/5/16389_fsm", Skip(UnloggedFork)),
            ("base/5/16389_vm", Skip(UnloggedFork)),
            ("base/5/16389.1", Skip(UnloggedFork)),
            ("base/5/16389_init", Include),
            ("base/5/16389_init.1", Include),
            ("base/5/16390_init", Include),
            ("base/5/16384", Include),
            ("base/5/16384_fsm", Include),
            ("base/5/t3_16400", Skip(TempRelation)),
            ("base/5/t3_16400_fsm.2", Skip(TempRelation)),
            ("base/5/t3_16400_main", Include),
            ("base/5/t_16400", Include),
            ("base/5/pg_filenode.map", Include),
            // Not a database directory: no relation rules.
            ("global/t3_16400", Include),
            ("base/t3_16400", Include),
        ];
        for (path, want) in cases {
            assert_eq!(dd(path, File, &listing), *want, "{path}");
        }
        let ts = |path: &str| {
            classify(
                Tree::Tablespace,
                path.as_bytes(),
                File,
                listing.iter().map(|s| s.as_bytes()),
                &WalkOptions::default(),
            )
        };
        assert_eq!(ts("PG_15_202209061/5/16389"), Skip(UnloggedFork));
        assert_eq!(ts("PG_15_202209061/5/t1_2"), Skip(TempRelation));
        assert_eq!(ts("PG_15_202209061/5/16384"), Include);
        // Paths in a tablespace never hit the data-directory-only rules.
        assert_eq!(
            classify(
                Tree::Tablespace,
                b"global/pg_control",
                File,
                [],
                &WalkOptions::default()
            ),
            Include
        );
    }

    #[test]
    fn relation_file_names() {
        assert_eq!(parse_relation_file_name(b"1"), Some((1, Fork::Main)));
        assert_eq!(
            parse_relation_file_name(b"1234567890_vm.12"),
            Some((10, Fork::VisibilityMap))
        );
        assert_eq!(parse_relation_file_name(b"12345678901"), None);
        assert_eq!(parse_relation_file_name(b"1_main"), None);
        assert_eq!(parse_relation_file_name(b"1_fsmx"), None);
        assert_eq!(parse_relation_file_name(b"1."), None);
        assert_eq!(parse_relation_file_name(b"1.2x"), None);
        assert_eq!(parse_relation_file_name(b"_1"), None);
        assert_eq!(parse_relation_file_name(b""), None);
        assert!(looks_like_temp_rel_name(b"t12_345_init.6"));
        assert!(looks_like_temp_rel_name(b"t1_12345678901234"));
        assert!(!looks_like_temp_rel_name(b"t1_"));
        assert!(!looks_like_temp_rel_name(b"t_1"));
        assert!(!looks_like_temp_rel_name(b"t1_2_"));
        assert!(!looks_like_temp_rel_name(b"t1_2."));
        assert!(!looks_like_temp_rel_name(b"x1_2"));
    }

    #[test]
    fn database_directories() {
        let pg15 = TablespaceVersionDir::default();
        let dd = |p: &str| is_database_dir(Tree::DataDir, p.as_bytes(), &pg15);
        assert!(dd("base/1"));
        assert!(dd("base/16384"));
        assert!(!dd("base"));
        assert!(!dd("base/1/2"));
        assert!(!dd("base/x1"));
        assert!(!dd("global"));
        assert!(!dd(""));
        // strncmp quirks of the C test.
        assert!(dd("16384"));
        assert!(dd("b/1"));
        assert!(!dd("basement/1"));
        assert!(dd("foo/PG_15_202209061/7"));
        let ts = |p: &str| is_database_dir(Tree::Tablespace, p.as_bytes(), &pg15);
        assert!(ts("PG_15_202209061/5"));
        assert!(!ts("PG_15_202209061"));
        assert!(!ts("PG_15_202209061/5/6"));
        assert!(!ts("PG_14_202107181/5"));
        // Each major release has its own directory.
        let pg16 = TablespaceVersionDir::new(16, 202307071);
        assert_eq!(pg16.as_str(), "PG_16_202307071");
        assert!(is_database_dir(
            Tree::Tablespace,
            b"PG_16_202307071/5",
            &pg16
        ));
        assert!(!is_database_dir(
            Tree::Tablespace,
            b"PG_15_202209061/5",
            &pg16
        ));
    }

    #[test]
    fn tablespace_options() {
        let opts = WalkOptions {
            tablespace_map: true,
            tablespaces_in_datadir: vec![b"inner/ts".to_vec()],
            ..WalkOptions::default()
        };
        let c = |path: &str, kind| classify(Tree::DataDir, path.as_bytes(), kind, [], &opts);
        assert_eq!(c("pg_tblspc", Dir), ExcludeContents);
        assert_eq!(c("inner/ts", Dir), ExcludeContents);
        assert_eq!(c("inner/ts2", Dir), Include);
        assert_eq!(c("x/pg_tblspc", Dir), Include);
    }
}
