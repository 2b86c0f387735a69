//! pgpool.conf: read (with `include`), parse and validate into one typed [`Config`].
//!
//! # Layout
//! - `lexer`: one line → `name`, value text ([`SyntaxError`]).
//! - `source`: files → ordered assignments, `include` expanded up to [`MAX_INCLUDE_DEPTH`].
//! - `value` and `kinds`: value text → booleans, integers with units, [`Duration`]s, enums.
//! - `forms`: each value form (boolean, seconds, comma list, ...) as a parse/show pair.
//! - `params` (scalar parameters) and `backend` (per-node `backend_*N`, `health_check_*N`):
//!   one table entry per parameter: its name, change context and form.
//! - `apply`: assignments → [`Config`] plus [`ConfigWarning`]s; `validate`: whole-config checks.
//! - `settings`: the [`Config`] struct and its defaults (Pgpool-II 4.3's, in one place).
//! - `session`: [`Config::show`], [`Config::set_session`] for `PGPOOL SHOW/SET/RESET`.
//! - `pooling`: [`PoolingConfig`], session or transaction pooling and the pools' sizes.
//!
//! Unknown parameters never fail the load: they come back as warnings for the binary to log.
//! A known parameter with a bad value is an error naming the file, line and parameter.
//!
//! ```
//! use std::path::Path;
//! use corepool_engine::config::Config;
//!
//! let text = "backend_hostname0 = 'db0'\nbackend_port0 = 5432\nport 5433\nno_such = 1\n";
//! let loaded = Config::load_str(text, Path::new("/etc/pgpool2/pgpool.conf")).unwrap();
//! assert_eq!(loaded.config.port, 5433);
//! assert_eq!(loaded.config.backends[0].hostname, "db0");
//! assert_eq!(loaded.warnings.len(), 1);
//! ```
//!
//! [`Duration`]: std::time::Duration

mod apply;
mod backend;
mod error;
mod forms;
mod kinds;
mod lexer;
mod local;
mod node;
mod params;
mod pooling;
mod session;
mod settings;
mod source;
mod validate;
mod value;
mod watchdog;

#[cfg(test)]
mod tests;

use std::path::Path;

pub use backend::MAX_NODE_ID;
pub use error::{ConfigError, ConfigWarning, Location, ValidationError, WarningKind};
pub use kinds::{
    BackendFlags, CheckTempTable, ClusteringMode, Context, DisableLoadBalanceOnWrite,
    IdleLimitInRecovery, LogErrorVerbosity, LogLevel, LogStandbyDelay, MemqcacheMethod,
};
pub use lexer::SyntaxError;
pub use node::{BackendConfig, HealthCheck, HealthCheckOverrides};
pub use pooling::{PoolMode, PoolingConfig};
pub use session::SetError;
pub use settings::Config;
pub use source::MAX_INCLUDE_DEPTH;
pub use value::{Named, ValueError};
pub use watchdog::WatchdogSettings;

/// A loaded configuration and the settings in it that had no effect.
#[derive(Debug, Clone)]
#[must_use]
pub struct Loaded {
    /// The configuration.
    pub config: Config,
    /// One entry per ignored setting, in file order; the binary logs each as a warning.
    pub warnings: Vec<ConfigWarning>,
}

impl Config {
    /// Reads, parses and validates the pgpool.conf at `path`.
    pub fn load(path: &Path) -> Result<Loaded, ConfigError> {
        let assignments = source::read_file(path)?;
        Self::build(&assignments, path)
    }

    /// As [`load`](Self::load), with `text` standing for the contents of `file` (`include`
    /// paths are resolved against `file`'s directory).
    pub fn load_str(text: &str, file: &Path) -> Result<Loaded, ConfigError> {
        let assignments = source::read_str(text, file)?;
        Self::build(&assignments, file)
    }

    /// Reads and parses the pgpool.conf at `path` without the checks of the whole (a backend
    /// is configured, …): for tools that need a setting or two, as `corepool md5 -m` needs
    /// pool_passwd, and that pg_md5 runs on any pgpool.conf.
    pub fn load_unvalidated(path: &Path) -> Result<Loaded, ConfigError> {
        let assignments = source::read_file(path)?;
        let (mut config, warnings) = apply::apply(&assignments)?;
        config.source_file = Some(path.to_owned());
        Ok(Loaded { config, warnings })
    }

    fn build(assignments: &[source::Assignment], file: &Path) -> Result<Loaded, ConfigError> {
        let (mut config, warnings) = apply::apply(assignments)?;
        config.source_file = Some(file.to_owned());
        config.validate()?;
        Ok(Loaded { config, warnings })
    }
}
