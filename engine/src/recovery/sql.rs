//! The SQL online recovery sends, as text: the pgpool_recovery extension's calls exactly as
//! Pgpool-II 4.3 builds them (`recovery.c`), and corepool's own queries. Pure.

/// Disables statement_timeout before the 1st stage, as Pgpool-II does (the script may run for
/// as long as a base backup takes).
pub const DISABLE_STATEMENT_TIMEOUT: &str = "SET statement_timeout To 0";

/// The primary's installation directory: where corepool's own recovery finds `pg_ctl`.
pub const BINDIR: &str = "SELECT setting FROM pg_config WHERE name = 'BINDIR'";

/// What a recovered standby's WAL receiver is doing (`streaming` once it streams).
pub const WAL_RECEIVER_STATUS: &str = "SELECT status FROM pg_stat_wal_receiver";

/// The host a script is given for a node: `localhost` when the node is reached over a UNIX
/// socket (an empty or `/`-leading backend_hostname), as Pgpool-II does.
pub fn script_host(hostname: &str) -> &str {
    if hostname.is_empty() || hostname.starts_with('/') {
        "localhost"
    } else {
        hostname
    }
}

/// One recovery as the 1st stage script sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FirstStage<'a> {
    /// recovery_1st_stage_command: a script in the primary's data directory.
    pub script: &'a str,
    /// The recovered node's host ([`script_host`] of its backend_hostname).
    pub remote_host: &'a str,
    /// Its backend_data_directory.
    pub remote_data_directory: &'a str,
    /// The primary's backend_port.
    pub primary_port: u16,
    /// The recovered node's id.
    pub remote_node: usize,
    /// Its backend_port.
    pub remote_port: u16,
    /// The primary's host ([`script_host`] of its backend_hostname).
    pub primary_host: &'a str,
}

impl FirstStage<'_> {
    /// `SELECT pgpool_recovery('script', 'host', 'dir', 'primary_port', node, 'port',
    /// 'primary_host')`: Pgpool-II 4.3's seven arguments in its order, the ports as text and
    /// the node id as an integer. The extension runs `"$PGDATA/script" "$PGDATA" host dir
    /// primary_port node port primary_host` on the primary.
    pub fn call(&self) -> String {
        format!(
            "SELECT pgpool_recovery({}, {}, {}, '{}', {}, '{}', {})",
            literal(self.script),
            literal(self.remote_host),
            literal(self.remote_data_directory),
            self.primary_port,
            self.remote_node,
            self.remote_port,
            literal(self.primary_host)
        )
    }
}

/// `SELECT pgpool_remote_start('host', 'dir')`: runs `$PGDATA/pgpool_remote_start host dir` on
/// the primary.
pub fn remote_start(remote_host: &str, remote_data_directory: &str) -> String {
    format!(
        "SELECT pgpool_remote_start({}, {})",
        literal(remote_host),
        literal(remote_data_directory)
    )
}

/// Whether replication slot `slot` exists and is in use: one row `t`/`f`, none when absent.
pub fn slot_active(slot: &str) -> String {
    format!(
        "SELECT active FROM pg_replication_slots WHERE slot_name = {}",
        literal(slot)
    )
}

/// Drops replication slot `slot`.
pub fn drop_slot(slot: &str) -> String {
    format!("SELECT pg_drop_replication_slot({})", literal(slot))
}

/// The permanent slot the recovered standby of `node` streams through.
pub fn slot_name(node: usize) -> String {
    format!("corepool_node{node}")
}

/// A standard string literal: `'` doubled. Pgpool-II pastes the values in unquoted; doubling
/// gives the same text for every value without a quote, and a valid one for the rest.
fn literal(value: &str) -> String {
    format!("'{}'", value.replace('\'', "''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_stage_call_is_pgpool_43s() {
        let stage = FirstStage {
            script: "recovery_1st_stage",
            remote_host: "server2",
            remote_data_directory: "/var/lib/pgsql/data",
            primary_port: 5432,
            remote_node: 1,
            remote_port: 5433,
            primary_host: "server1",
        };
        assert_eq!(
            stage.call(),
            "SELECT pgpool_recovery('recovery_1st_stage', 'server2', '/var/lib/pgsql/data', '5432', 1, '5433', 'server1')"
        );
        assert_eq!(
            remote_start("server2", "/var/lib/pgsql/data"),
            "SELECT pgpool_remote_start('server2', '/var/lib/pgsql/data')"
        );
    }

    #[test]
    fn quotes_are_doubled_and_sockets_become_localhost() {
        assert_eq!(
            remote_start("h", "/data/it's"),
            "SELECT pgpool_remote_start('h', '/data/it''s')"
        );
        assert_eq!(script_host(""), "localhost");
        assert_eq!(script_host("/var/run/postgresql"), "localhost");
        assert_eq!(script_host("10.0.0.2"), "10.0.0.2");
        assert_eq!(slot_name(2), "corepool_node2");
        assert_eq!(
            slot_active("corepool_node2"),
            "SELECT active FROM pg_replication_slots WHERE slot_name = 'corepool_node2'"
        );
    }
}
