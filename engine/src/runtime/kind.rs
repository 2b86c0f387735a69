//! Which executor runs the shards: `corepool_runtime` in pgpool.conf, overridden by the
//! `COREPOOL_RUNTIME` environment variable (so a whole test suite can run on either).

/// The shard executor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RuntimeKind {
    /// glommio: one pinned `LocalExecutor` per shard.
    Glommio,
    /// corepool's own io_uring loop (`runtime/uring`): one ring per shard, readiness polls
    /// (the default: half the CPU per transaction, docs/performance.md).
    #[default]
    IoUring,
}

/// The environment variable that overrides `corepool_runtime`.
pub const RUNTIME_ENV: &str = "COREPOOL_RUNTIME";

impl RuntimeKind {
    /// The runtime's name in pgpool.conf.
    pub fn name(self) -> &'static str {
        match self {
            Self::Glommio => "glommio",
            Self::IoUring => "io_uring",
        }
    }

    /// Parses a name as pgpool.conf spells it (case-insensitive; `uring` is accepted too).
    pub fn parse(text: &str) -> Option<Self> {
        match text.trim().to_ascii_lowercase().as_str() {
            "glommio" => Some(Self::Glommio),
            "io_uring" | "iouring" | "uring" => Some(Self::IoUring),
            _ => None,
        }
    }

    /// `configured`, unless `COREPOOL_RUNTIME` names another runtime. An unknown name is
    /// logged and ignored.
    pub fn with_env_override(configured: Self) -> Self {
        match std::env::var(RUNTIME_ENV) {
            Ok(text) if !text.trim().is_empty() => Self::parse(&text).unwrap_or_else(|| {
                tracing::warn!(
                    value = %text,
                    "ignoring {RUNTIME_ENV}: expected glommio or io_uring"
                );
                configured
            }),
            _ => configured,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for kind in [RuntimeKind::Glommio, RuntimeKind::IoUring] {
            assert_eq!(RuntimeKind::parse(kind.name()), Some(kind));
        }
        assert_eq!(RuntimeKind::parse(" IO_URING "), Some(RuntimeKind::IoUring));
        assert_eq!(RuntimeKind::parse("tokio"), None);
    }
}
