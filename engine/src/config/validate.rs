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
        if self.memory_cache_enabled && self.memqcache_maxcache > self.memqcache_cache_block_size {
            return Err(ValidationError::MaxCacheOverBlock {
                maxcache: self.memqcache_maxcache,
                block: self.memqcache_cache_block_size,
            });
        }
        Ok(())
    }

    /// The query cache's settings when the cache is on (`memory_cache_enabled` with
    /// `memqcache_method = shmem`).
    pub fn query_cache(&self) -> Option<crate::query_cache::Settings> {
        if !self.memory_cache_enabled || self.memqcache_method != super::MemqcacheMethod::Shmem {
            return None;
        }
        Some(crate::query_cache::Settings {
            total_size: self.memqcache_total_size,
            max_entries: self.memqcache_max_num_cache,
            expire: self.memqcache_expire,
            max_result: usize::try_from(self.memqcache_maxcache).unwrap_or(usize::MAX),
            auto_invalidation: self.memqcache_auto_cache_invalidation,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::node::BackendConfig;

    fn one_backend() -> Config {
        Config {
            backends: vec![BackendConfig::default()],
            ..Config::default()
        }
    }

    #[test]
    fn the_cache_is_on_only_with_shmem_and_its_results_fit_a_block() {
        let mut config = one_backend();
        assert_eq!(config.query_cache(), None);
        config.memory_cache_enabled = true;
        let s = config.query_cache().expect("on");
        assert_eq!((s.total_size, s.max_result), (64 << 20, 400 << 10));
        config.memqcache_maxcache = 2 << 20;
        assert!(config.validate().is_err());
        config.memqcache_method = crate::config::MemqcacheMethod::Memcached;
        assert_eq!(config.query_cache(), None);
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
