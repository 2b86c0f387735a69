//! Per-node parameters (`backend_hostnameN`, `health_check_periodN`, ...) and the node table.

use super::error::{ConfigError, ConfigWarning, Location, WarningKind};
use super::forms::{BackendPort, Count, Form, Millis, Secs};
use super::kinds::BackendFlags;
use super::node::BackendConfig;
use super::settings::Config;
use super::source::Assignment;
use super::value::{parse_real, ValueError};

/// Highest node id (Pgpool-II's `MAX_NUM_BACKENDS` is 128).
pub const MAX_NODE_ID: usize = 127;

/// Which per-node parameter a name refers to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum NodeParam {
    Hostname,
    Port,
    Weight,
    DataDirectory,
    Flag,
    ApplicationName,
    HealthCheckPeriod,
    HealthCheckTimeout,
    HealthCheckUser,
    HealthCheckPassword,
    HealthCheckDatabase,
    HealthCheckMaxRetries,
    HealthCheckRetryDelay,
    ConnectTimeout,
}

const NODE_PARAMS: &[(&str, NodeParam)] = &[
    ("backend_hostname", NodeParam::Hostname),
    ("backend_port", NodeParam::Port),
    ("backend_weight", NodeParam::Weight),
    ("backend_data_directory", NodeParam::DataDirectory),
    ("backend_flag", NodeParam::Flag),
    ("backend_application_name", NodeParam::ApplicationName),
    ("health_check_period", NodeParam::HealthCheckPeriod),
    ("health_check_timeout", NodeParam::HealthCheckTimeout),
    ("health_check_user", NodeParam::HealthCheckUser),
    ("health_check_password", NodeParam::HealthCheckPassword),
    ("health_check_database", NodeParam::HealthCheckDatabase),
    ("health_check_max_retries", NodeParam::HealthCheckMaxRetries),
    ("health_check_retry_delay", NodeParam::HealthCheckRetryDelay),
    ("connect_timeout", NodeParam::ConnectTimeout),
];

/// Splits `name` into a trailing node id and the rest (`"backend_port12"` → `("backend_port",
/// 12)`). Leading zeros are not a node id; an id too large for `usize` becomes `usize::MAX`.
pub(super) fn split_index(name: &str) -> Option<(&str, usize)> {
    let base = name.trim_end_matches(|c: char| c.is_ascii_digit());
    let digits = &name[base.len()..];
    if digits.is_empty() || (digits.len() > 1 && digits.starts_with('0')) {
        return None;
    }
    Some((base, digits.parse().unwrap_or(usize::MAX)))
}

/// The per-node parameter and node id `name` refers to, if any.
pub(super) fn find_indexed(name: &str) -> Option<(NodeParam, usize)> {
    let (base, node) = split_index(name)?;
    NODE_PARAMS
        .iter()
        .find(|(n, _)| *n == base)
        .map(|&(_, param)| (param, node))
}

impl NodeParam {
    /// Parses `text` into the field of `backend` this parameter sets.
    fn apply(self, backend: &mut BackendConfig, text: &str) -> Result<(), ValueError> {
        let hc = &mut backend.health_check;
        match self {
            Self::Hostname => backend.hostname = text.to_owned(),
            Self::Port => backend.port = BackendPort::parse(text)?,
            Self::Weight => backend.weight = parse_real(text, 0.0, 1e8)?,
            Self::DataDirectory => backend.data_directory = text.to_owned(),
            Self::Flag => backend.flags = BackendFlags::parse(text)?,
            Self::ApplicationName => backend.application_name = text.to_owned(),
            Self::HealthCheckPeriod => hc.period = Some(Secs::parse(text)?),
            Self::HealthCheckTimeout => hc.timeout = Some(Secs::parse(text)?),
            Self::HealthCheckUser => hc.user = Some(text.to_owned()),
            Self::HealthCheckPassword => hc.password = Some(text.to_owned()),
            Self::HealthCheckDatabase => hc.database = Some(text.to_owned()),
            Self::HealthCheckMaxRetries => hc.max_retries = Some(Count::parse(text)?),
            Self::HealthCheckRetryDelay => hc.retry_delay = Some(Secs::parse(text)?),
            Self::ConnectTimeout => hc.connect_timeout = Some(Millis::parse(text)?),
        }
        Ok(())
    }

    /// The node's current value as `PGPOOL SHOW` prints it (health-check values in force).
    pub(super) fn show(self, config: &Config, node: usize) -> Option<String> {
        let backend = config.backends.get(node)?;
        let hc = config.health_check_for(node);
        Some(match self {
            Self::Hostname => backend.hostname.clone(),
            Self::Port => BackendPort::show(&backend.port),
            Self::Weight => format!("{:.6}", backend.weight),
            Self::DataDirectory => backend.data_directory.clone(),
            Self::Flag => backend.flags.show(),
            Self::ApplicationName => backend.application_name.clone(),
            Self::HealthCheckPeriod => Secs::show(&hc.period),
            Self::HealthCheckTimeout => Secs::show(&hc.timeout),
            Self::HealthCheckUser => hc.user,
            Self::HealthCheckPassword => hc.password,
            Self::HealthCheckDatabase => hc.database,
            Self::HealthCheckMaxRetries => Count::show(&hc.max_retries),
            Self::HealthCheckRetryDelay => Secs::show(&hc.retry_delay),
            Self::ConnectTimeout => Millis::show(&hc.connect_timeout),
        })
    }
}

/// One node id's settings while the file is applied.
#[derive(Debug)]
struct Slot {
    backend: BackendConfig,
    /// The first line that set anything for this node.
    first_at: Location,
    /// Whether `backend_hostnameN` or `backend_portN` was set, which makes the node exist.
    defined: bool,
}

/// Collects per-node settings in file order, then builds the node table.
#[derive(Debug, Default)]
pub(super) struct Slots {
    slots: Vec<Option<Slot>>,
}

impl Slots {
    /// Applies `assignment` if it names a per-node parameter; `Ok(false)` if it does not.
    pub(super) fn apply(&mut self, assignment: &Assignment) -> Result<bool, ConfigError> {
        let Some((param, node)) = find_indexed(&assignment.name) else {
            return Ok(false);
        };
        if node > MAX_NODE_ID {
            return Err(ConfigError::NodeId {
                at: assignment.at.clone(),
                name: assignment.name.clone(),
                node,
                max: MAX_NODE_ID,
            });
        }
        if self.slots.len() <= node {
            self.slots.resize_with(node + 1, || None);
        }
        let slot = self.slots[node].get_or_insert_with(|| Slot {
            backend: BackendConfig::default(),
            first_at: assignment.at.clone(),
            defined: false,
        });
        param
            .apply(&mut slot.backend, &assignment.value)
            .map_err(|why| ConfigError::Value {
                at: assignment.at.clone(),
                name: assignment.name.clone(),
                why,
            })?;
        slot.defined |= matches!(param, NodeParam::Hostname | NodeParam::Port);
        Ok(true)
    }

    /// The configured nodes in id order. Settings for nodes that do not exist become warnings;
    /// a missing node followed by an existing one is an error.
    pub(super) fn finish(
        self,
        warnings: &mut Vec<ConfigWarning>,
    ) -> Result<Vec<BackendConfig>, ConfigError> {
        let last_defined = self
            .slots
            .iter()
            .rposition(|s| s.as_ref().is_some_and(|s| s.defined));
        let mut backends = Vec::new();
        let mut missing = None;
        for (node, slot) in self.slots.into_iter().enumerate() {
            match slot {
                Some(slot) if slot.defined => {
                    if let Some(missing) = missing {
                        return Err(ConfigError::BackendGap {
                            missing,
                            next: node,
                            at: slot.first_at,
                        });
                    }
                    backends.push(slot.backend);
                }
                other => {
                    if let Some(slot) = other {
                        warnings.push(ConfigWarning {
                            name: format!("backend {node}"),
                            at: slot.first_at,
                            why: WarningKind::NoSuchBackend(node),
                        });
                    }
                    if last_defined.is_some_and(|last| node < last) {
                        missing.get_or_insert(node);
                    }
                }
            }
        }
        Ok(backends)
    }
}

/// Shows a per-node parameter by its full name (`backend_weight1`), if `name` is one.
pub(super) fn show_indexed(config: &Config, name: &str) -> Option<String> {
    let (param, node) = find_indexed(name)?;
    param.show(config, node)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;
    use std::time::Duration;

    fn at(line: usize) -> Location {
        Location {
            file: PathBuf::from("p.conf"),
            line,
        }
    }

    fn slots(
        lines: &[(&str, &str)],
    ) -> Result<(Vec<BackendConfig>, Vec<ConfigWarning>), ConfigError> {
        let mut slots = Slots::default();
        for (i, (name, value)) in lines.iter().enumerate() {
            let a = Assignment {
                name: (*name).into(),
                value: (*value).into(),
                at: at(i + 1),
            };
            assert!(slots.apply(&a)?, "{name} should be a per-node parameter");
        }
        let mut warnings = Vec::new();
        let backends = slots.finish(&mut warnings)?;
        Ok((backends, warnings))
    }

    #[test]
    fn indexed_names_split_into_parameter_and_node() {
        assert_eq!(
            find_indexed("backend_hostname0"),
            Some((NodeParam::Hostname, 0))
        );
        assert_eq!(find_indexed("backend_port12"), Some((NodeParam::Port, 12)));
        assert_eq!(
            find_indexed("connect_timeout3"),
            Some((NodeParam::ConnectTimeout, 3))
        );
        assert_eq!(find_indexed("backend_port"), None);
        assert_eq!(find_indexed("backend_port01"), None);
        assert_eq!(find_indexed("Backend_port0"), None);
        assert_eq!(find_indexed("backend_portx0"), None);
        assert_eq!(
            find_indexed("backend_port99999999999999999999999"),
            Some((NodeParam::Port, usize::MAX))
        );
    }

    #[test]
    fn nodes_exist_once_hostname_or_port_is_set() {
        let (backends, warnings) = slots(&[
            ("backend_hostname0", "db0"),
            ("backend_weight0", "0.5"),
            ("backend_port1", "5433"),
            ("backend_flag1", "DISALLOW_TO_FAILOVER|ALWAYS_PRIMARY"),
            ("backend_data_directory1", "/data1"),
            ("backend_application_name1", "server1"),
            ("health_check_period1", "5s"),
            ("connect_timeout1", "2s"),
        ])
        .unwrap();
        assert!(warnings.is_empty());
        assert_eq!(backends.len(), 2);
        assert_eq!(
            (
                backends[0].hostname.as_str(),
                backends[0].port,
                backends[0].weight
            ),
            ("db0", 5432, 0.5)
        );
        assert_eq!(backends[1].hostname, "");
        assert_eq!(backends[1].port, 5433);
        assert!(!backends[1].flags.allow_to_failover && backends[1].flags.always_primary);
        assert_eq!(backends[1].data_directory, "/data1");
        assert_eq!(backends[1].application_name, "server1");
        assert_eq!(
            backends[1].health_check.period,
            Some(Duration::from_secs(5))
        );
        assert_eq!(
            backends[1].health_check.connect_timeout,
            Some(Duration::from_millis(2000))
        );
    }

    #[test]
    fn settings_for_missing_nodes_are_warnings_and_gaps_are_errors() {
        let (backends, warnings) =
            slots(&[("backend_hostname0", "a"), ("backend_weight3", "1")]).unwrap();
        assert_eq!(backends.len(), 1);
        assert_eq!(warnings.len(), 1);
        assert_eq!(warnings[0].why, WarningKind::NoSuchBackend(3));
        assert_eq!(warnings[0].at.line, 2);

        let err = slots(&[("backend_hostname0", "a"), ("backend_hostname2", "c")]).unwrap_err();
        match err {
            ConfigError::BackendGap {
                missing: 1,
                next: 2,
                at,
            } => assert_eq!(at.line, 2),
            other => panic!("{other:?}"),
        }
        let err = slots(&[("backend_hostname1", "b")]).unwrap_err();
        assert!(
            matches!(
                err,
                ConfigError::BackendGap {
                    missing: 0,
                    next: 1,
                    ..
                }
            ),
            "{err}"
        );
    }

    #[test]
    fn bad_values_and_node_ids_are_errors_naming_the_line() {
        let err = slots(&[("backend_hostname0", "a"), ("backend_port0", "abc")]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "p.conf:2: invalid value for parameter \"backend_port0\": \"abc\" is not an integer"
        );
        let err =
            slots(&[("backend_flag0", "ALLOW_TO_FAILOVER|DISALLOW_TO_FAILOVER")]).unwrap_err();
        assert!(matches!(
            err,
            ConfigError::Value {
                why: ValueError::BackendFlagConflict,
                ..
            }
        ));
        let err = slots(&[("backend_flag0", "SOMETIMES")]).unwrap_err();
        assert!(matches!(
            err,
            ConfigError::Value {
                why: ValueError::BackendFlag(_),
                ..
            }
        ));
        let err = slots(&[("backend_weight0", "-1")]).unwrap_err();
        assert!(matches!(
            err,
            ConfigError::Value {
                why: ValueError::OutOfRange { .. },
                ..
            }
        ));
        let err = slots(&[("backend_hostname128", "x")]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "p.conf:1: parameter \"backend_hostname128\": node id 128 is out of range 0..=127"
        );
        assert!(
            slots(&[("backend_hostname127", "x")]).is_err(),
            "gap below 127"
        );
    }

    #[test]
    fn show_prints_pgpool_formats_and_health_check_values_in_force() {
        let mut config = Config::default();
        config.backends.push(BackendConfig {
            flags: BackendFlags {
                allow_to_failover: false,
                always_primary: false,
            },
            ..Default::default()
        });
        config.health_check.period = Duration::from_secs(30);
        assert_eq!(
            show_indexed(&config, "backend_weight0").as_deref(),
            Some("1.000000")
        );
        assert_eq!(
            show_indexed(&config, "backend_port0").as_deref(),
            Some("5432")
        );
        assert_eq!(
            show_indexed(&config, "backend_flag0").as_deref(),
            Some("DISALLOW_TO_FAILOVER")
        );
        assert_eq!(
            show_indexed(&config, "health_check_period0").as_deref(),
            Some("30")
        );
        assert_eq!(
            show_indexed(&config, "connect_timeout0").as_deref(),
            Some("10000")
        );
        assert_eq!(show_indexed(&config, "backend_port1"), None);
        assert_eq!(show_indexed(&config, "port0"), None);
    }
}
