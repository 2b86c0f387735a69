//! Errors and warnings from loading pgpool.conf, each naming the file and line it came from.

use std::fmt;
use std::io;
use std::path::PathBuf;

use super::lexer::SyntaxError;
use super::value::ValueError;

/// Where a setting was read: the file and its 1-based line number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    /// The file that holds the line (the included file for settings read through `include`).
    pub file: PathBuf,
    /// 1-based line number inside `file`.
    pub line: usize,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.file.display(), self.line)
    }
}

/// Why pgpool.conf could not be turned into a [`Config`](super::Config).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The top-level configuration file could not be read.
    #[error("cannot read configuration file \"{}\": {source}", path.display())]
    Read {
        /// The file that was asked for.
        path: PathBuf,
        /// What the operating system said.
        #[source]
        source: io::Error,
    },
    /// A file named by `include` could not be read.
    #[error("{at}: cannot read included file \"{}\": {source}", path.display())]
    Include {
        /// The `include` line.
        at: Location,
        /// The resolved path of the included file.
        path: PathBuf,
        /// What the operating system said.
        #[source]
        source: io::Error,
    },
    /// `include` files nest deeper than [`MAX_INCLUDE_DEPTH`](super::MAX_INCLUDE_DEPTH).
    #[error("{at}: includes nested more than {max} deep (\"{}\")", path.display())]
    IncludeDepth {
        /// The `include` line that would go one level too deep.
        at: Location,
        /// The file it names.
        path: PathBuf,
        /// The limit.
        max: usize,
    },
    /// A line is not `name [=] value [# comment]`.
    #[error("{at}: syntax error: {why}")]
    Syntax {
        /// The offending line.
        at: Location,
        /// What was wrong with it.
        #[source]
        why: SyntaxError,
    },
    /// A known parameter was given a value of the wrong form or out of range.
    #[error("{at}: invalid value for parameter \"{name}\": {why}")]
    Value {
        /// The line of the assignment.
        at: Location,
        /// The parameter's name as written.
        name: String,
        /// What was wrong with the value.
        #[source]
        why: ValueError,
    },
    /// A per-node parameter names a node id above the 0..=127 range pgpool allows.
    #[error("{at}: parameter \"{name}\": node id {node} is out of range 0..={max}")]
    NodeId {
        /// The line of the assignment.
        at: Location,
        /// The parameter's name as written.
        name: String,
        /// The node id in the name.
        node: usize,
        /// The highest allowed node id.
        max: usize,
    },
    /// Node ids must be contiguous: node `missing` is absent but a later node is configured.
    #[error(
        "{at}: backend {next} is configured but backend {missing} is not \
         (set backend_hostname{missing}/backend_port{missing}; node ids must start at 0 and have no gaps)"
    )]
    BackendGap {
        /// The first unconfigured node id.
        missing: usize,
        /// The configured node after the gap.
        next: usize,
        /// Where node `next` was first configured.
        at: Location,
    },
    /// The whole configuration is inconsistent (checked after every line was applied).
    #[error("invalid configuration: {0}")]
    Invalid(#[from] ValidationError),
}

/// A configuration that parsed line by line but does not hold together.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ValidationError {
    /// No `backend_hostnameN` / `backend_portN` is set.
    #[error("no backend is configured (set backend_hostname0 and backend_port0)")]
    NoBackend,
    /// `reserved_connections` leaves no connection for ordinary clients.
    #[error(
        "reserved_connections ({reserved}) must be smaller than num_init_children ({children})"
    )]
    ReservedConnections {
        /// `reserved_connections`.
        reserved: u32,
        /// `num_init_children`.
        children: u32,
    },
    /// With the cache on, a cached result must fit in one of Pgpool-II's cache blocks.
    #[error(
        "memqcache_maxcache ({maxcache}) must be smaller than memqcache_cache_block_size ({block})"
    )]
    MaxCacheOverBlock {
        /// `memqcache_maxcache`.
        maxcache: u64,
        /// `memqcache_cache_block_size`.
        block: u64,
    },
}

/// A setting that was read but not acted on; the binary logs each one and carries on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigWarning {
    /// The parameter's name as written.
    pub name: String,
    /// Where it was set.
    pub at: Location,
    /// Why it has no effect.
    pub why: WarningKind,
}

/// Why a setting produced a [`ConfigWarning`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum WarningKind {
    /// Pgpool-II does not know this name either ("unrecognized configuration parameter").
    Unrecognized,
    /// A Pgpool-II parameter for a feature corepool does not have; the value is ignored.
    Ignored(&'static str),
    /// An old spelling; the value was applied to the parameter named here.
    Renamed(&'static str),
    /// The value asks for something corepool does not do; corepool runs without it.
    UnsupportedValue(&'static str),
    /// A per-node setting for a node that has no `backend_hostnameN` or `backend_portN`.
    NoSuchBackend(usize),
}

impl fmt::Display for WarningKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Unrecognized => f.write_str("unrecognized configuration parameter"),
            Self::Ignored(why) => write!(f, "ignored: {why}"),
            Self::Renamed(new) => write!(f, "deprecated name; use \"{new}\""),
            Self::UnsupportedValue(why) => write!(f, "not supported: {why}"),
            Self::NoSuchBackend(node) => write!(
                f,
                "ignored: backend {node} has no backend_hostname{node} or backend_port{node}"
            ),
        }
    }
}

impl fmt::Display for ConfigWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: \"{}\": {}", self.at, self.name, self.why)
    }
}
