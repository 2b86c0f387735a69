//! `-R` / `--write-recovery-conf`: the `primary_conninfo` and `primary_slot_name` lines that
//! `pg_basebackup` 15 appends to `postgresql.auto.conf`, and `standby.signal`
//! (`recovery_gen.c`, `appendConnStrVal`, `escape_single_quotes_ascii`).

/// The empty file that makes the restored server start as a standby.
pub const STANDBY_SIGNAL: &str = "standby.signal";

/// The file the recovery settings are appended to.
pub const AUTO_CONF: &str = "postgresql.auto.conf";

/// libpq 15's connection keywords in `PQconninfoOptions` order — the order `PQconninfo` reports
/// them, and so the order of the pairs in `primary_conninfo`.
pub const LIBPQ_KEYWORDS: &[&str] = &[
    "service",
    "user",
    "password",
    "passfile",
    "channel_binding",
    "connect_timeout",
    "dbname",
    "host",
    "hostaddr",
    "port",
    "client_encoding",
    "options",
    "application_name",
    "fallback_application_name",
    "keepalives",
    "keepalives_idle",
    "keepalives_interval",
    "keepalives_count",
    "tcp_user_timeout",
    "sslmode",
    "sslcompression",
    "sslcert",
    "sslkey",
    "sslpassword",
    "sslrootcert",
    "sslcrl",
    "sslcrldir",
    "sslsni",
    "requirepeer",
    "ssl_min_protocol_version",
    "ssl_max_protocol_version",
    "gssencmode",
    "krbsrvname",
    "gsslib",
    "replication",
    "target_session_attrs",
];

/// Values libpq 15 (built with OpenSSL and GSSAPI, as Debian's is) reports for options nobody
/// set. `user` (the OS user) and `passfile` (`~/.pgpass`) also have defaults, which depend on
/// the client's environment and so are left to the caller.
pub const LIBPQ_DEFAULTS: &[(&str, &str)] = &[
    ("channel_binding", "prefer"),
    ("port", "5432"),
    ("sslmode", "prefer"),
    ("sslcompression", "0"),
    ("sslsni", "1"),
    ("ssl_min_protocol_version", "TLSv1.2"),
    ("gssencmode", "prefer"),
    ("krbsrvname", "postgres"),
    ("target_session_attrs", "any"),
];

/// Options never written to `primary_conninfo` (the walreceiver sets its own).
const OMITTED: &[&str] = &["replication", "dbname", "fallback_application_name"];

/// Longest replication slot name (`NAMEDATALEN - 1`).
const MAX_SLOT_NAME: usize = 63;

/// Errors building recovery settings.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RecoveryError {
    /// A slot name the server would reject; it is written unquoted, so it is checked here.
    #[error("replication slot name \"{0}\" is invalid: use 1-63 lower case letters, digits and underscores")]
    InvalidSlotName(String),
}

/// `appendConnStrVal`: a connection-string value, bare if it is non-empty and only ASCII letters,
/// digits, `_` and `.`, else in single quotes with `'` and `\` backslash-escaped.
pub fn escape_conninfo_value(value: &str) -> String {
    let plain = !value.is_empty()
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.');
    if plain {
        return value.to_owned();
    }
    let mut out = String::with_capacity(value.len() + 2);
    out.push('\'');
    for c in value.chars() {
        if c == '\'' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('\'');
    out
}

/// `escape_single_quotes_ascii`: doubles `'` and `\` for a single-quoted config file value.
pub fn escape_config_value(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 8);
    for c in value.chars() {
        if c == '\'' || c == '\\' {
            out.push(c);
        }
        out.push(c);
    }
    out
}

/// Fills in [`LIBPQ_DEFAULTS`] for every option `explicit` does not set, so a connection made
/// without libpq reports what libpq would.
pub fn with_libpq_defaults<'a>(explicit: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    let mut all = explicit.to_vec();
    for &(key, value) in LIBPQ_DEFAULTS {
        if !all.iter().any(|(k, _)| *k == key) {
            all.push((key, value));
        }
    }
    all
}

/// The connection string of `primary_conninfo`: `key=value` pairs separated by spaces, in libpq
/// keyword order (unknown keywords last, in the order given), skipping empty values and
/// `replication`, `dbname`, `fallback_application_name`.
pub fn primary_conninfo(options: &[(&str, &str)]) -> String {
    let rank = |key: &str| {
        LIBPQ_KEYWORDS
            .iter()
            .position(|k| *k == key)
            .unwrap_or(LIBPQ_KEYWORDS.len())
    };
    let mut kept: Vec<&(&str, &str)> = options
        .iter()
        .filter(|(k, v)| !v.is_empty() && !OMITTED.contains(k))
        .collect();
    kept.sort_by_key(|(k, _)| rank(k));
    let pairs: Vec<String> = kept
        .iter()
        .map(|(k, v)| format!("{k}={}", escape_conninfo_value(v)))
        .collect();
    pairs.join(" ")
}

/// The text `-R` adds to `postgresql.auto.conf` (`GenerateRecoveryConfig`):
/// `primary_conninfo = '…'` and, with `-S`, `primary_slot_name = '…'`, each on its own line.
pub fn recovery_config(
    options: &[(&str, &str)],
    slot: Option<&str>,
) -> Result<String, RecoveryError> {
    let mut out = format!(
        "primary_conninfo = '{}'\n",
        escape_config_value(&primary_conninfo(options))
    );
    if let Some(slot) = slot {
        let valid = !slot.is_empty()
            && slot.len() <= MAX_SLOT_NAME
            && slot
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
        if !valid {
            return Err(RecoveryError::InvalidSlotName(slot.to_owned()));
        }
        out.push_str(&format!("primary_slot_name = '{slot}'\n"));
    }
    Ok(out)
}

/// The new content of `postgresql.auto.conf`: the backed-up content (if the server sent one)
/// with `config` appended as is, like the file opened in append mode.
pub fn append_recovery_config(auto_conf: Option<&[u8]>, config: &str) -> Vec<u8> {
    let mut out = auto_conf.map(<[u8]>::to_vec).unwrap_or_default();
    out.extend_from_slice(config.as_bytes());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `postgresql.auto.conf` written by `pg_basebackup -R` 15.18 (tests/fixtures).
    const REAL: &str = include_str!("../tests/fixtures/pg_auto_conf_R");

    #[test]
    fn reproduces_pg_basebackup_output() {
        let explicit = [
            ("host", "/tmp/pgfix"),
            ("port", "55432"),
            ("user", "postgres"),
            ("passfile", "/var/lib/postgresql/.pgpass"),
            ("dbname", "replication"),
            ("replication", "true"),
            ("fallback_application_name", "pg_basebackup"),
            ("application_name", ""),
        ];
        let options = with_libpq_defaults(&explicit);
        let config = recovery_config(&options, None).unwrap();
        let header = "# Do not edit this file manually!\n\
                      # It will be overwritten by the ALTER SYSTEM command.\n";
        let written = append_recovery_config(Some(header.as_bytes()), &config);
        assert_eq!(String::from_utf8(written).unwrap(), REAL);
    }

    #[test]
    fn escaping() {
        assert_eq!(escape_conninfo_value("postgres"), "postgres");
        assert_eq!(escape_conninfo_value("TLSv1.2"), "TLSv1.2");
        assert_eq!(escape_conninfo_value("a_b.9"), "a_b.9");
        assert_eq!(escape_conninfo_value(""), "''");
        assert_eq!(escape_conninfo_value("a b"), "'a b'");
        assert_eq!(escape_conninfo_value("it's"), "'it\\'s'");
        assert_eq!(escape_conninfo_value("c:\\x"), "'c:\\\\x'");
        assert_eq!(escape_conninfo_value("é"), "'é'");
        assert_eq!(escape_config_value("a'b\\c"), "a''b\\\\c");
        let line = recovery_config(&[("password", "p'w\\d"), ("user", "bob")], None).unwrap();
        // conninfo: user=bob password='p\'w\\d'; config: ' and \ doubled.
        assert_eq!(
            line,
            "primary_conninfo = 'user=bob password=''p\\\\''w\\\\\\\\d'''\n"
        );
    }

    #[test]
    fn slots_and_order() {
        let cfg = recovery_config(&[("port", "5"), ("host", "h")], Some("standby_1")).unwrap();
        assert_eq!(
            cfg,
            "primary_conninfo = 'host=h port=5'\nprimary_slot_name = 'standby_1'\n"
        );
        for bad in ["", "Bad", "a-b", "x'y", &"s".repeat(64)] {
            assert!(recovery_config(&[], Some(bad)).is_err(), "{bad}");
        }
        assert_eq!(
            primary_conninfo(&[("zzz", "1"), ("user", "u"), ("dbname", "d")]),
            "user=u zzz=1"
        );
        assert_eq!(primary_conninfo(&[]), "");
        assert_eq!(append_recovery_config(None, "x\n"), b"x\n");
        let defaults = with_libpq_defaults(&[("port", "6543")]);
        assert!(defaults.contains(&("port", "6543")));
        assert!(!defaults.contains(&("port", "5432")));
    }
}
