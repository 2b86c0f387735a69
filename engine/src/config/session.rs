//! `PGPOOL SHOW` / `PGPOOL SET` / `PGPOOL RESET` support: show any value, change SESSION ones.

use super::backend::{find_indexed, show_indexed};
use super::kinds::Context;
use super::params::{Param, PARAMS};
use super::settings::Config;
use super::value::ValueError;

/// Why `PGPOOL SET` or `PGPOOL RESET` was refused; the text is the ErrorResponse message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SetError {
    /// No parameter has this name.
    #[error("config variable \"{0}\" not found")]
    Unknown(String),
    /// The parameter exists but is not SESSION-context.
    #[error("parameter \"{0}\" cannot be changed now")]
    NotSession(String),
    /// The value does not parse for this parameter.
    #[error("invalid value for parameter \"{name}\": {why}")]
    Value {
        /// The parameter.
        name: String,
        /// What was wrong with the value.
        #[source]
        why: ValueError,
    },
}

/// Names in PGPOOL commands are case-insensitive (pgpool's parser lowercases identifiers).
fn find_any_case(name: &str) -> Option<&'static Param> {
    PARAMS.iter().find(|p| p.name.eq_ignore_ascii_case(name))
}

impl Config {
    /// The value of parameter `name` as `PGPOOL SHOW` prints it (booleans `on`/`off`, enums by
    /// name, times in the parameter's base unit, lists joined by their separator), including
    /// per-node names such as `backend_hostname0` and `health_check_period1`. `None` if there
    /// is no such parameter (or node). Names are matched case-insensitively.
    pub fn show(&self, name: &str) -> Option<String> {
        match find_any_case(name) {
            Some(param) => Some((param.show)(self)),
            None => show_indexed(self, &name.to_ascii_lowercase()),
        }
    }

    /// Every scalar parameter name with its change context, in `SHOW pool_status`-like order.
    /// Aliases (`socket_dir` and `unix_socket_directories`, ...) are both listed.
    pub fn parameters() -> impl Iterator<Item = (&'static str, Context)> {
        PARAMS.iter().map(|p| (p.name, p.context))
    }

    /// The parameters `PGPOOL SET` may change (PGB-1.9).
    pub fn session_parameters() -> impl Iterator<Item = &'static str> {
        PARAMS
            .iter()
            .filter(|p| p.context == Context::Session)
            .map(|p| p.name)
    }

    /// `PGPOOL SET name = value`: changes a SESSION parameter in this (per-session) copy.
    pub fn set_session(&mut self, name: &str, value: &str) -> Result<(), SetError> {
        let param = session_param(name)?;
        (param.set)(self, value).map_err(|why| SetError::Value {
            name: param.name.to_owned(),
            why,
        })
    }

    /// `PGPOOL RESET name`: puts a SESSION parameter back to its value in `configured`.
    pub fn reset_session(&mut self, name: &str, configured: &Config) -> Result<(), SetError> {
        let param = session_param(name)?;
        // Every shown value parses back to itself (tested in params.rs).
        (param.set)(self, &(param.show)(configured)).map_err(|why| SetError::Value {
            name: param.name.to_owned(),
            why,
        })
    }

    /// `PGPOOL RESET ALL`: puts every SESSION parameter back to its value in `configured`.
    pub fn reset_all_session(&mut self, configured: &Config) {
        for param in PARAMS.iter().filter(|p| p.context == Context::Session) {
            // Cannot fail: a shown value always parses back (tested in params.rs).
            let _ = (param.set)(self, &(param.show)(configured));
        }
    }
}

fn session_param(name: &str) -> Result<&'static Param, SetError> {
    match find_any_case(name) {
        Some(param) if param.context == Context::Session => Ok(param),
        Some(param) => Err(SetError::NotSession(param.name.to_owned())),
        None if find_indexed(&name.to_ascii_lowercase()).is_some() => {
            Err(SetError::NotSession(name.to_owned()))
        }
        None => Err(SetError::Unknown(name.to_owned())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::kinds::LogLevel;
    use crate::config::node::BackendConfig;
    use std::time::Duration;

    #[test]
    fn show_formats_like_pgpool() {
        let mut config = Config::default();
        config.backends.push(BackendConfig {
            hostname: "db0".into(),
            ..Default::default()
        });
        assert_eq!(config.show("load_balance_mode").as_deref(), Some("on"));
        assert_eq!(config.show("LOAD_BALANCE_MODE").as_deref(), Some("on"));
        assert_eq!(config.show("ssl").as_deref(), Some("off"));
        assert_eq!(config.show("log_min_messages").as_deref(), Some("warning"));
        assert_eq!(
            config.show("backend_clustering_mode").as_deref(),
            Some("streaming_replication")
        );
        assert_eq!(
            config.show("disable_load_balance_on_write").as_deref(),
            Some("transaction")
        );
        assert_eq!(config.show("child_life_time").as_deref(), Some("300"));
        assert_eq!(config.show("connect_timeout").as_deref(), Some("10000"));
        assert_eq!(
            config.show("reset_query_list").as_deref(),
            Some("ABORT;DISCARD ALL")
        );
        assert_eq!(config.show("socket_dir").as_deref(), Some("/tmp"));
        assert_eq!(config.show("port").as_deref(), Some("9999"));
        assert_eq!(config.show("backend_hostname0").as_deref(), Some("db0"));
        assert_eq!(config.show("Backend_Hostname0").as_deref(), Some("db0"));
        assert_eq!(config.show("backend_hostname1"), None);
        assert_eq!(config.show("no_such_thing"), None);
    }

    #[test]
    fn only_session_parameters_can_be_set_and_reset() {
        let configured = Config::default();
        let mut session = configured.clone();
        session.set_session("client_idle_limit", "5min").unwrap();
        session.set_session("Log_Min_Messages", "debug1").unwrap();
        session.set_session("allow_sql_comments", "on").unwrap();
        assert_eq!(session.client_idle_limit, Duration::from_secs(300));
        assert_eq!(session.log_min_messages, LogLevel::Debug1);
        assert_eq!(session.show("client_idle_limit").as_deref(), Some("300"));

        assert_eq!(
            session.set_session("port", "5433"),
            Err(SetError::NotSession("port".into()))
        );
        assert_eq!(
            session.set_session("backend_weight0", "1"),
            Err(SetError::NotSession("backend_weight0".into()))
        );
        assert_eq!(
            session.set_session("nope", "1"),
            Err(SetError::Unknown("nope".into()))
        );
        assert_eq!(
            session.set_session("nope", "1").unwrap_err().to_string(),
            "config variable \"nope\" not found"
        );
        assert!(matches!(
            session.set_session("allow_sql_comments", "perhaps"),
            Err(SetError::Value { .. })
        ));

        session
            .reset_session("client_idle_limit", &configured)
            .unwrap();
        assert_eq!(session.client_idle_limit, Duration::ZERO);
        assert_ne!(session, configured);
        session.reset_all_session(&configured);
        assert_eq!(session, configured);
    }

    #[test]
    fn session_parameter_list_is_the_pgpool_one() {
        assert_eq!(Config::session_parameters().count(), 10);
        assert!(Config::parameters().any(|(name, ctx)| name == "port" && ctx == Context::Init));
    }
}
