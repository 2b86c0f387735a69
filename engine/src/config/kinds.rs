//! The closed sets pgpool.conf chooses from, as enums with Pgpool-II's spellings (PGB-2).

use super::value::{Named, ValueError};

/// When a parameter may change (PGB-1.9).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Context {
    /// Only at start-up; a reload keeps the running value.
    Init,
    /// On reload (SIGHUP or `pcp_reload_config`).
    Reload,
    /// On reload, and per session with `PGPOOL SET`.
    Session,
}

/// `backend_clustering_mode`: how the backends replicate, which decides where writes go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClusteringMode {
    /// PostgreSQL streaming replication: writes to the primary, reads balanced (the default).
    StreamingReplication,
    /// No replication: everything goes to the main node, which only fails over.
    Raw,
}

impl Named for ClusteringMode {
    const NAMES: &'static [(&'static str, Self)] = &[
        ("streaming_replication", Self::StreamingReplication),
        ("raw", Self::Raw),
    ];
}

impl ClusteringMode {
    /// The modes Pgpool-II has and corepool does not.
    const UNSUPPORTED: &'static [&'static str] = &[
        "native_replication",
        "logical_replication",
        "slony",
        "snapshot_isolation",
    ];

    /// Parses a mode name; Pgpool-II modes other than streaming_replication and raw are refused.
    pub fn parse(text: &str) -> Result<Self, ValueError> {
        if Self::UNSUPPORTED
            .iter()
            .any(|m| m.eq_ignore_ascii_case(text.trim()))
        {
            return Err(ValueError::Unsupported {
                value: text.to_owned(),
                why: "only streaming_replication and raw clustering modes are implemented",
            });
        }
        Self::parse_named(text)
    }

    /// The number `SHOW pool_status` and PCP print for the mode (PGB-2.2.1).
    pub fn code(self) -> u8 {
        match self {
            Self::StreamingReplication => 1,
            Self::Raw => 5,
        }
    }
}

/// `disable_load_balance_on_write`: what a write does to later reads' load balancing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DisableLoadBalanceOnWrite {
    /// Writes do not affect where later reads go.
    Off,
    /// After a write in an explicit transaction, later reads in it go to the primary (default).
    Transaction,
    /// Like `Transaction`, and later transactions too until the session's write transaction ends.
    TransTransaction,
    /// After any write, every later read in the session goes to the primary.
    Always,
    /// Reads of objects written earlier in the transaction go to the primary.
    DmlAdaptive,
}

impl Named for DisableLoadBalanceOnWrite {
    const NAMES: &'static [(&'static str, Self)] = &[
        ("off", Self::Off),
        ("transaction", Self::Transaction),
        ("trans_transaction", Self::TransTransaction),
        ("always", Self::Always),
        ("dml_adaptive", Self::DmlAdaptive),
    ];
}

/// Where `memqcache_method` keeps the query cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemqcacheMethod {
    /// corepool's own cache in the proxy's memory, shared by every core.
    Shmem,
    /// Pgpool-II's memcached store: not supported, the cache stays off.
    Memcached,
}

impl Named for MemqcacheMethod {
    const NAMES: &'static [(&'static str, Self)] =
        &[("shmem", Self::Shmem), ("memcached", Self::Memcached)];
}

/// A message severity, for `log_min_messages` and `client_min_messages`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum LogLevel {
    /// Most verbose debugging.
    Debug5,
    /// Debugging.
    Debug4,
    /// Debugging.
    Debug3,
    /// Debugging (`debug` is an alias).
    Debug2,
    /// Least verbose debugging.
    Debug1,
    /// Information the user asked for.
    Info,
    /// Helpful notices.
    Notice,
    /// Likely problems (the `log_min_messages` default).
    Warning,
    /// An error that aborted a command.
    Error,
    /// Information for administrators.
    Log,
    /// An error that ended a session.
    Fatal,
    /// An error that stops the whole server.
    Panic,
}

impl Named for LogLevel {
    const NAMES: &'static [(&'static str, Self)] = &[
        ("debug5", Self::Debug5),
        ("debug4", Self::Debug4),
        ("debug3", Self::Debug3),
        ("debug2", Self::Debug2),
        ("debug1", Self::Debug1),
        ("info", Self::Info),
        ("notice", Self::Notice),
        ("warning", Self::Warning),
        ("error", Self::Error),
        ("log", Self::Log),
        ("fatal", Self::Fatal),
        ("panic", Self::Panic),
        ("debug", Self::Debug2),
    ];
}

impl LogLevel {
    /// The closest `tracing` level, for the binary's subscriber filter.
    pub fn tracing_level(self) -> tracing::Level {
        match self {
            Self::Debug5 | Self::Debug4 | Self::Debug3 => tracing::Level::TRACE,
            Self::Debug2 | Self::Debug1 => tracing::Level::DEBUG,
            Self::Info | Self::Notice | Self::Log => tracing::Level::INFO,
            Self::Warning => tracing::Level::WARN,
            Self::Error | Self::Fatal | Self::Panic => tracing::Level::ERROR,
        }
    }
}

/// `log_error_verbosity`: how many error fields go into log lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogErrorVerbosity {
    /// Message only.
    Terse,
    /// Message, detail, hint (the default).
    Default,
    /// Everything, including the source location.
    Verbose,
}

impl Named for LogErrorVerbosity {
    const NAMES: &'static [(&'static str, Self)] = &[
        ("terse", Self::Terse),
        ("default", Self::Default),
        ("verbose", Self::Verbose),
    ];
}

/// `log_standby_delay`: when the streaming-replication check logs a standby's delay.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogStandbyDelay {
    /// Every check.
    Always,
    /// Only when the delay exceeds `delay_threshold` (the default).
    IfOverThreshold,
    /// Never.
    None,
}

impl Named for LogStandbyDelay {
    const NAMES: &'static [(&'static str, Self)] = &[
        ("always", Self::Always),
        ("if_over_threshold", Self::IfOverThreshold),
        ("none", Self::None),
    ];
}

/// `check_temp_table`: how the router finds out whether a table is temporary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckTempTable {
    /// Ask the system catalogs (the default; `on` is an alias).
    Catalog,
    /// Track CREATE/DROP TEMP TABLE in the session.
    Trace,
    /// Never treat tables as temporary (`off` is an alias).
    None,
}

impl Named for CheckTempTable {
    const NAMES: &'static [(&'static str, Self)] = &[
        ("catalog", Self::Catalog),
        ("trace", Self::Trace),
        ("none", Self::None),
        ("on", Self::Catalog),
        ("off", Self::None),
    ];
}

/// `client_idle_limit_in_recovery`: what happens to idle clients during online recovery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdleLimitInRecovery {
    /// Idle clients are left alone (`0`, the default).
    Off,
    /// Idle clients are disconnected at once (`-1`).
    Immediately,
    /// Idle clients are disconnected after this long.
    After(std::time::Duration),
}

impl IdleLimitInRecovery {
    /// Parses seconds (units allowed): `-1`, `0` or a positive time.
    pub fn parse(text: &str) -> Result<Self, ValueError> {
        use super::value::{parse_time, TimeUnit};
        Ok(
            match parse_time(text, TimeUnit::Seconds, -1, i64::from(i32::MAX))? {
                -1 => Self::Immediately,
                0 => Self::Off,
                secs => Self::After(std::time::Duration::from_secs(secs.unsigned_abs())),
            },
        )
    }

    /// The value in seconds as Pgpool-II shows it.
    pub fn show(self) -> String {
        match self {
            Self::Off => "0".to_owned(),
            Self::Immediately => "-1".to_owned(),
            Self::After(d) => d.as_secs().to_string(),
        }
    }
}

/// `backend_flagN`: how failover treats a node (PGB-1.13).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BackendFlags {
    /// Health check and backend errors may detach the node (`ALLOW_TO_FAILOVER`, the default);
    /// false for `DISALLOW_TO_FAILOVER`.
    pub allow_to_failover: bool,
    /// Treat the node as primary without probing it (`ALWAYS_PRIMARY`, e.g. for Aurora).
    pub always_primary: bool,
}

impl Default for BackendFlags {
    fn default() -> Self {
        Self {
            allow_to_failover: true,
            always_primary: false,
        }
    }
}

impl BackendFlags {
    /// Parses a `|`-separated flag list; unknown flags and ALLOW with DISALLOW are errors.
    pub fn parse(text: &str) -> Result<Self, ValueError> {
        let (mut allow, mut disallow, mut always_primary) = (false, false, false);
        for flag in text.split('|').map(str::trim).filter(|f| !f.is_empty()) {
            match flag {
                "ALLOW_TO_FAILOVER" => allow = true,
                "DISALLOW_TO_FAILOVER" => disallow = true,
                "ALWAYS_PRIMARY" => always_primary = true,
                other => return Err(ValueError::BackendFlag(other.to_owned())),
            }
        }
        if allow && disallow {
            return Err(ValueError::BackendFlagConflict);
        }
        Ok(Self {
            allow_to_failover: !disallow,
            always_primary,
        })
    }

    /// The flags as Pgpool-II shows them.
    pub fn show(self) -> String {
        let failover = if self.allow_to_failover {
            "ALLOW_TO_FAILOVER"
        } else {
            "DISALLOW_TO_FAILOVER"
        };
        if self.always_primary {
            format!("{failover}|ALWAYS_PRIMARY")
        } else {
            failover.to_owned()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clustering_mode_refuses_modes_corepool_lacks() {
        assert_eq!(
            ClusteringMode::parse("Streaming_Replication"),
            Ok(ClusteringMode::StreamingReplication)
        );
        assert_eq!(ClusteringMode::parse("raw"), Ok(ClusteringMode::Raw));
        let err = ClusteringMode::parse("native_replication").unwrap_err();
        assert!(
            err.to_string().contains("not supported by corepool"),
            "{err}"
        );
        assert!(matches!(
            ClusteringMode::parse("stream"),
            Err(ValueError::Enum { .. })
        ));
        assert_eq!(ClusteringMode::Raw.code(), 5);
        assert_eq!(ClusteringMode::StreamingReplication.code(), 1);
    }

    #[test]
    fn enum_aliases_show_their_canonical_name() {
        assert_eq!(LogLevel::parse_named("DEBUG"), Ok(LogLevel::Debug2));
        assert_eq!(LogLevel::Debug2.name(), "debug2");
        assert_eq!(
            CheckTempTable::parse_named("on"),
            Ok(CheckTempTable::Catalog)
        );
        assert_eq!(
            CheckTempTable::parse_named("off").map(Named::name),
            Ok("none")
        );
        assert_eq!(
            DisableLoadBalanceOnWrite::parse_named("DML_ADAPTIVE"),
            Ok(DisableLoadBalanceOnWrite::DmlAdaptive)
        );
        assert_eq!(LogStandbyDelay::IfOverThreshold.name(), "if_over_threshold");
        assert_eq!(
            LogErrorVerbosity::parse_named("Verbose"),
            Ok(LogErrorVerbosity::Verbose)
        );
        assert_eq!(LogLevel::Warning.tracing_level(), tracing::Level::WARN);
    }

    #[test]
    fn idle_limit_in_recovery_takes_minus_one() {
        use std::time::Duration;
        assert_eq!(
            IdleLimitInRecovery::parse("-1"),
            Ok(IdleLimitInRecovery::Immediately)
        );
        assert_eq!(
            IdleLimitInRecovery::parse("0"),
            Ok(IdleLimitInRecovery::Off)
        );
        assert_eq!(
            IdleLimitInRecovery::parse("2min"),
            Ok(IdleLimitInRecovery::After(Duration::from_secs(120)))
        );
        assert!(IdleLimitInRecovery::parse("-2").is_err());
        assert_eq!(
            IdleLimitInRecovery::parse("-1").map(IdleLimitInRecovery::show),
            Ok("-1".into())
        );
        assert_eq!(
            IdleLimitInRecovery::After(Duration::from_secs(9)).show(),
            "9"
        );
    }

    #[test]
    fn backend_flags_parse_and_show() {
        let flags = |t| BackendFlags::parse(t);
        assert_eq!(flags(""), Ok(BackendFlags::default()));
        assert_eq!(
            flags("ALLOW_TO_FAILOVER").map(BackendFlags::show),
            Ok("ALLOW_TO_FAILOVER".into())
        );
        assert_eq!(
            flags("DISALLOW_TO_FAILOVER").map(BackendFlags::show),
            Ok("DISALLOW_TO_FAILOVER".into())
        );
        assert_eq!(
            flags(" ALWAYS_PRIMARY | DISALLOW_TO_FAILOVER ").map(BackendFlags::show),
            Ok("DISALLOW_TO_FAILOVER|ALWAYS_PRIMARY".into())
        );
        assert_eq!(
            flags("ALWAYS_PRIMARY"),
            Ok(BackendFlags {
                allow_to_failover: true,
                always_primary: true
            })
        );
        assert_eq!(
            flags("ALLOW_TO_FAILOVER|DISALLOW_TO_FAILOVER"),
            Err(ValueError::BackendFlagConflict)
        );
        assert_eq!(
            flags("allow_to_failover"),
            Err(ValueError::BackendFlag("allow_to_failover".into()))
        );
        assert_eq!(
            flags("ALLOW_TO_FAILOVER|NOPE"),
            Err(ValueError::BackendFlag("NOPE".into()))
        );
    }
}
