//! Checks that hold across parameters, run after every line has been applied.

use super::error::ValidationError;
use super::settings::Config;

impl Config {
    /// Checks the configuration as a whole: at least one backend, and `reserved_connections`
    /// below `num_init_children`. Per-value checks (ports in range, backend flags) happen while
    /// parsing, where the line is known.
    pub fn validate(&self) -> Result<(), ValidationError> {
        if self.backends.is_empty() {
            return Err(ValidationError::NoBackend);
        }
        if self.reserved_connections >= self.num_init_children {
            return Err(ValidationError::ReservedConnections {
                reserved: self.reserved_connections,
                children: self.num_init_children,
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::settings::BackendConfig;

    fn one_backend() -> Config {
        Config {
            backends: vec![BackendConfig::default()],
            ..Config::default()
        }
    }

    #[test]
    fn defaults_with_one_backend_are_valid() {
        assert_eq!(one_backend().validate(), Ok(()));
    }

    #[test]
    fn at_least_one_backend_is_required() {
        assert_eq!(
            Config::default().validate(),
            Err(ValidationError::NoBackend)
        );
    }

    #[test]
    fn reserved_connections_must_leave_room_for_clients() {
        let mut config = one_backend();
        config.reserved_connections = 31;
        assert_eq!(config.validate(), Ok(()));
        config.reserved_connections = 32;
        assert_eq!(
            config.validate(),
            Err(ValidationError::ReservedConnections {
                reserved: 32,
                children: 32
            })
        );
    }
}
