//! What the parallel path (`-j N`) needs from a stock server beyond what `-j 1` needs, and the
//! one warning printed when it cannot be had and the backup goes on over one replication stream.
//!
//! `-j 1` needs what pg_basebackup needs: a role with `REPLICATION` and a `replication` line in
//! pg_hba.conf. Stock PostgreSQL gives no way to split a `BASE_BACKUP` over several
//! connections, so `-j N` reads the files over SQL sessions, which the server admits by
//! other pg_hba.conf lines (a `replication` line never matches them) and which must be allowed
//! to run the five functions in [`NEEDED_FUNCTIONS`] (revoked from PUBLIC by default). That is
//! the least a stock server allows: one pg_hba.conf line for the database the sessions use and
//! five GRANTs. [`Unavailable`] says which part is missing and prints what to add. Pure: the
//! callers connect and resolve addresses.

use corepool_protocol::ddl::quote_ident;
use std::fmt::Write;

/// Functions a non-superuser role must be allowed to execute for `-j N`.
pub const NEEDED_FUNCTIONS: &[&str] = &[
    "pg_backup_start(text, boolean)",
    "pg_backup_stop(boolean)",
    "pg_ls_dir(text, boolean, boolean)",
    "pg_stat_file(text, boolean)",
    "pg_read_binary_file(text, bigint, bigint, boolean)",
];

/// Why the parallel path cannot be had.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// The server refused the SQL session at connection time (pg_hba.conf, authentication,
    /// no CONNECT privilege, no such database): its message.
    SessionRefused(String),
    /// The server had no connection slot left for a second SQL session (53300): its message.
    NoSlot(String),
    /// The role may not run these functions.
    MissingPrivileges(Vec<&'static str>),
}

/// The parallel path is not available; the backup continues as `-j 1`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unavailable {
    /// What the server said or lacked.
    pub refusal: Refusal,
    /// The `-j` asked for.
    pub jobs: usize,
    /// The role.
    pub user: String,
    /// The database the SQL sessions connect to.
    pub database: String,
    /// Where the server sees the sessions come from: `None` for a UNIX-domain socket,
    /// otherwise the client address in CIDR form (`127.0.0.1/32`).
    pub client_address: Option<String>,
}

/// The authentication method suggested for the pg_hba.conf line (the user may take the one of
/// the `replication` line instead; the hint says so).
const SUGGESTED_METHOD: &str = "scram-sha-256";

impl Unavailable {
    /// The pg_hba.conf line that admits the SQL sessions.
    pub fn hba_line(&self) -> String {
        let (user, db) = (hba_word(&self.user), hba_word(&self.database));
        match &self.client_address {
            Some(addr) => format!("host    {db}    {user}    {addr}    {SUGGESTED_METHOD}"),
            None => format!("local   {db}    {user}    peer"),
        }
    }

    /// The GRANTs for `functions`, one statement each.
    pub fn grants(&self, functions: &[&str]) -> Vec<String> {
        let role = quote_ident(&self.user);
        functions
            .iter()
            .map(|f| format!("GRANT EXECUTE ON FUNCTION {f} TO {role};"))
            .collect()
    }

    /// The whole warning: `WARNING:` with the reason, then a `HINT:` saying that the backup
    /// continues over one stream and what to add for the parallel path.
    pub fn warning(&self) -> String {
        let mut out = String::new();
        let jobs = self.jobs;
        let _ = write!(
            out,
            "WARNING:  parallel backup (-j {jobs}) is not possible: "
        );
        match &self.refusal {
            Refusal::SessionRefused(msg) => {
                let _ = write!(out, "the server refused an SQL session: {msg}");
            }
            Refusal::NoSlot(msg) => {
                let _ = write!(
                    out,
                    "the server refused a second SQL session for the workers: {msg}"
                );
            }
            Refusal::MissingPrivileges(f) => {
                let _ = write!(
                    out,
                    "role \"{}\" may not execute {}",
                    self.user,
                    f.join(", ")
                );
            }
        }
        let _ = write!(
            out,
            "\nHINT:  The backup continues over one replication stream, as with -j 1."
        );
        match &self.refusal {
            Refusal::SessionRefused(_) => {
                let _ = write!(
                    out,
                    " For -j {jobs}, add this line to pg_hba.conf above any line that would reject it \
                     (or use the method of your replication line) and reload the server:\n    {}\n\
                     and run as a superuser (GRANTs the role already holds change nothing):",
                    self.hba_line()
                );
                for g in self.grants(NEEDED_FUNCTIONS) {
                    let _ = write!(out, "\n    {g}");
                }
            }
            Refusal::NoSlot(_) => {
                let _ = write!(
                    out,
                    " For -j {jobs} the server must admit {} sessions of role \"{}\" beside the \
                     WAL stream: raise max_connections (the limit is max_connections minus \
                     superuser_reserved_connections and, from PostgreSQL 16, \
                     reserved_connections), or the role's or the database's CONNECTION LIMIT.",
                    jobs + 1,
                    self.user
                );
            }
            Refusal::MissingPrivileges(f) => {
                let _ = write!(out, " For -j {jobs}, run as a superuser:");
                for g in self.grants(f) {
                    let _ = write!(out, "\n    {g}");
                }
            }
        }
        out
    }
}

/// A pg_hba.conf user or database field: double-quoted when it holds anything but letters,
/// digits and `_`, or is one of the file's keywords.
fn hba_word(name: &str) -> String {
    let plain = !name.is_empty()
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !matches!(
            name,
            "all" | "sameuser" | "samerole" | "samegroup" | "replication"
        );
    if plain {
        name.to_owned()
    } else {
        format!("\"{}\"", name.replace('"', "\"\""))
    }
}

/// A client address in CIDR form for a pg_hba.conf line: `/32` for IPv4, `/128` for IPv6.
pub fn cidr(addr: std::net::IpAddr) -> String {
    match addr {
        std::net::IpAddr::V4(a) => format!("{a}/32"),
        std::net::IpAddr::V6(a) => format!("{a}/128"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unavailable(refusal: Refusal) -> Unavailable {
        Unavailable {
            refusal,
            jobs: 4,
            user: "highgo".into(),
            database: "postgres".into(),
            client_address: Some("127.0.0.1/32".into()),
        }
    }

    #[test]
    fn a_refused_session_names_the_hba_line_and_every_grant() {
        let u = unavailable(Refusal::SessionRefused(
            "no pg_hba.conf entry for host \"127.0.0.1\", user \"highgo\", database \"postgres\""
                .into(),
        ));
        let w = u.warning();
        assert!(w.starts_with("WARNING:  parallel backup (-j 4) is not possible: the server refused an SQL session: no pg_hba.conf entry"), "{w}");
        assert!(w.contains("\nHINT:  The backup continues over one replication stream"));
        assert!(w.contains("\n    host    postgres    highgo    127.0.0.1/32    scram-sha-256\n"));
        for f in NEEDED_FUNCTIONS {
            assert!(
                w.contains(&format!("GRANT EXECUTE ON FUNCTION {f} TO highgo;")),
                "{w}"
            );
        }
        assert_eq!(w.matches("WARNING:").count(), 1);
    }

    #[test]
    fn missing_privileges_name_only_the_missing_grants() {
        let u = unavailable(Refusal::MissingPrivileges(vec![
            "pg_stat_file(text, boolean)",
        ]));
        let w = u.warning();
        assert!(w.contains("GRANT EXECUTE ON FUNCTION pg_stat_file(text, boolean) TO highgo;"));
        assert!(!w.contains("pg_backup_start"), "{w}");
        assert!(!w.contains("pg_hba.conf"), "{w}");
    }

    #[test]
    fn no_slot_names_the_limits() {
        let w = unavailable(Refusal::NoSlot("sorry, too many clients already".into())).warning();
        assert!(w.contains("admit 5 sessions"), "{w}");
        assert!(w.contains("max_connections"), "{w}");
    }

    #[test]
    fn hba_fields_are_quoted_when_needed() {
        let mut u = unavailable(Refusal::SessionRefused(String::new()));
        u.user = "Back Up".into();
        u.database = "all".into();
        u.client_address = None;
        assert_eq!(u.hba_line(), "local   \"all\"    \"Back Up\"    peer");
        assert!(u.grants(&["f()"])[0].ends_with("TO \"Back Up\";"));
        assert_eq!(cidr("::1".parse().unwrap()), "::1/128");
    }
}
