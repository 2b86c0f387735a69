//! A configuration for a proxy on 127.0.0.1 in front of local servers (demo, tests, benches).

use std::time::Duration;

use super::{BackendConfig, ClusteringMode, Config};

impl Config {
    /// Streaming-replication mode on 127.0.0.1:`port` over `backends` (host, port; the first is
    /// expected to be the primary), as superuser `user`: no pid file, no UNIX socket, no
    /// pool_passwd, health and replication checks as `user`.
    pub fn local(port: u16, backends: &[(String, u16)], user: &str) -> Config {
        Config {
            listen_addresses: vec!["127.0.0.1".into()],
            port,
            unix_socket_directories: Vec::new(),
            pid_file_name: String::new(),
            pool_passwd: String::new(),
            authentication_timeout: Duration::from_secs(5),
            backend_clustering_mode: ClusteringMode::StreamingReplication,
            sr_check_user: user.to_owned(),
            backends: backends
                .iter()
                .map(|(host, port)| BackendConfig {
                    hostname: host.clone(),
                    port: *port,
                    weight: 1.0,
                    ..BackendConfig::default()
                })
                .collect(),
            ..Config::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_config_validates() {
        let c = Config::local(
            6432,
            &[("127.0.0.1".into(), 5432), ("127.0.0.1".into(), 5433)],
            "postgres",
        );
        assert_eq!(c.backends.len(), 2);
        assert_eq!(c.backends[1].port, 5433);
        assert!(c.validate().is_ok());
    }
}
