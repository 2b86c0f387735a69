//! The text of the files the testkit writes: postgresql.conf additions, pg_hba.conf, quoting.

use std::fmt::Write;
use std::path::Path;

/// How host (TCP) connections authenticate. Unix-socket connections are always `trust`: they
/// are the testkit's own admin channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum AuthMethod {
    /// No password needed.
    #[default]
    Trust,
    /// SCRAM-SHA-256 with the superuser password.
    ScramSha256,
    /// md5; the password is then stored as md5 too (`password_encryption = md5`), so the server
    /// really runs the md5 exchange instead of upgrading to SCRAM.
    Md5,
}

impl AuthMethod {
    /// The method's name in pg_hba.conf.
    pub fn hba_name(self) -> &'static str {
        match self {
            AuthMethod::Trust => "trust",
            AuthMethod::ScramSha256 => "scram-sha-256",
            AuthMethod::Md5 => "md5",
        }
    }
}

/// The per-node file included at the end of postgresql.conf: port and socket directory. A
/// standby copies its primary's postgresql.conf with `pg_basebackup` and rewrites only this.
pub(crate) const NODE_CONF: &str = "corepool_node.conf";

/// Settings appended to the postgresql.conf `initdb` wrote; `extra` come after the defaults so
/// they win, and the node file comes last so port and sockets stay the testkit's.
pub(crate) fn base_settings(auth: AuthMethod, extra: &[(String, String)]) -> String {
    let defaults: &[(&str, &str)] = &[
        ("listen_addresses", "127.0.0.1"),
        ("fsync", "off"),
        ("shared_buffers", "16MB"),
        ("wal_level", "replica"),
        ("max_wal_senders", "10"),
        ("max_replication_slots", "10"),
        ("hot_standby", "on"),
        ("wal_keep_size", "128MB"),
        ("logging_collector", "off"),
        ("log_destination", "stderr"),
        ("log_line_prefix", "%m [%p] %q%a "),
        (
            "password_encryption",
            if auth == AuthMethod::Md5 {
                "md5"
            } else {
                "scram-sha-256"
            },
        ),
    ];
    let mut out = String::from("\n# Added by corepool-testkit.\n");
    let extra = extra.iter().map(|(k, v)| (k.as_str(), v.as_str()));
    for (name, value) in defaults.iter().copied().chain(extra) {
        let _ = writeln!(out, "{name} = {}", quote_conf(value));
    }
    let _ = writeln!(out, "include_if_exists = {}", quote_conf(NODE_CONF));
    out
}

/// The contents of [`NODE_CONF`] for a node on `port` with sockets in `socket_dir`.
pub(crate) fn node_settings(port: u16, socket_dir: &Path) -> String {
    format!(
        "# Written by corepool-testkit for this node only.\nport = {port}\n\
         unix_socket_directories = {}\n",
        quote_conf(&socket_dir.to_string_lossy())
    )
}

/// pg_hba.conf: local trust for the testkit, then `extra` lines, then host lines for loopback
/// (normal and replication connections) using `auth`.
pub(crate) fn hba(auth: AuthMethod, extra: &[String]) -> String {
    let mut out = String::from(
        "# Written by corepool-testkit.\n\
         local all all trust\n\
         local replication all trust\n",
    );
    for line in extra {
        out.push_str(line);
        out.push('\n');
    }
    let method = auth.hba_name();
    for db in ["all", "replication"] {
        for addr in ["127.0.0.1/32", "::1/128"] {
            let _ = writeln!(out, "host {db} all {addr} {method}");
        }
    }
    out
}

/// A postgresql.conf string value: single-quoted, `'` doubled and `\` escaped.
pub(crate) fn quote_conf(value: &str) -> String {
    format!("'{}'", value.replace('\\', "\\\\").replace('\'', "''"))
}

/// A libpq conninfo value: single-quoted with `\` and `'` backslash-escaped.
pub(crate) fn quote_conninfo(value: &str) -> String {
    format!("'{}'", value.replace('\\', "\\\\").replace('\'', "\\'"))
}

/// An SQL string literal (with `standard_conforming_strings = on`, the default).
pub(crate) fn quote_literal(value: &str) -> String {
    format!("'{}'", value.replace('\'', "''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extra_settings_follow_defaults_and_node_file_is_last() {
        let conf = base_settings(AuthMethod::Md5, &[("shared_buffers".into(), "64MB".into())]);
        let default = conf.find("shared_buffers = '16MB'").unwrap();
        let extra = conf.find("shared_buffers = '64MB'").unwrap();
        assert!(default < extra);
        assert!(conf.contains("password_encryption = 'md5'"));
        assert!(conf
            .trim_end()
            .ends_with("include_if_exists = 'corepool_node.conf'"));
    }

    #[test]
    fn hba_puts_extra_lines_before_host_defaults() {
        let hba = hba(
            AuthMethod::ScramSha256,
            &["host all bob 127.0.0.1/32 reject".into()],
        );
        let extra = hba.find("bob").unwrap();
        let host = hba.find("host all all 127.0.0.1/32 scram-sha-256").unwrap();
        assert!(hba.find("local all all trust").unwrap() < extra && extra < host);
        assert!(hba.contains("host replication all 127.0.0.1/32 scram-sha-256"));
    }

    #[test]
    fn quoting() {
        assert_eq!(quote_conf(r"it's a\b"), r"'it''s a\\b'");
        assert_eq!(quote_conninfo(r"it's a\b"), r"'it\'s a\\b'");
        assert_eq!(quote_literal("it's"), "'it''s'");
        assert!(node_settings(5433, Path::new("/tmp/s")).contains("port = 5433"));
    }
}
