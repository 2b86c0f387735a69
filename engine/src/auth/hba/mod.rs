//! pool_hba.conf: who may connect, from where, and how they authenticate (PGB-7).
//!
//! Records are tried in file order; the first whose connection type, database, user and
//! address match decides, and no match means reject. `pam` and `ldap` are valid Pgpool-II
//! methods that corepool does not implement: a file using them fails to load with a clear error
//! rather than silently rejecting those users. Host names in the address column are refused for
//! the same reason (they need reverse DNS). `samehost`/`samenet` match against the interface
//! list given to [`HbaFile::with_interfaces`]; without one they match nothing.

mod address;
mod parse;

use std::net::IpAddr;
use std::path::Path;

pub use address::{Address, Interface};

/// Which connections a record applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnType {
    /// UNIX-domain socket connections.
    Local,
    /// TCP connections, with or without SSL.
    Host,
    /// TCP connections using SSL.
    HostSsl,
    /// TCP connections not using SSL.
    HostNoSsl,
}

/// One element of a database or user list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NameMatch {
    /// The unquoted keyword `all`.
    All,
    /// Database column only: the database named like the user.
    SameUser,
    /// Exactly this name (case-sensitive).
    Name(String),
}

/// How a matching client must authenticate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// Let the client in without a password.
    Trust,
    /// Refuse the connection.
    Reject,
    /// Clear-text password from the client.
    Password,
    /// MD5 challenge; needs the user's md5, AES or clear-text pool_passwd entry.
    Md5,
    /// SCRAM-SHA-256; needs the user's AES or clear-text pool_passwd entry.
    ScramSha256,
    /// Client certificate whose CN is the user name (hostssl only).
    Cert,
}

/// One pool_hba.conf record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HbaRule {
    /// 1-based line number, for logs ("matched pool_hba.conf line 3").
    pub line: usize,
    /// Which connections it applies to.
    pub conn_type: ConnType,
    /// Databases it applies to (any element matching is enough).
    pub databases: Vec<NameMatch>,
    /// Users it applies to.
    pub users: Vec<NameMatch>,
    /// Client addresses it applies to; `None` for `local`.
    pub address: Option<Address>,
    /// How to authenticate.
    pub method: Method,
}

/// What the server knows about a connecting client when it consults the rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnInfo<'a> {
    /// Connected over a UNIX-domain socket.
    pub local: bool,
    /// The connection uses SSL.
    pub ssl: bool,
    /// The client's address for TCP connections.
    pub addr: Option<IpAddr>,
    /// The database from the startup packet.
    pub database: &'a str,
    /// The user from the startup packet.
    pub user: &'a str,
}

/// What was wrong with a pool_hba.conf line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HbaParseError {
    /// The first field is not a connection type.
    #[error("invalid connection type \"{0}\"")]
    UnknownConnType(String),
    /// A required field is missing.
    #[error("missing {0} field")]
    MissingField(&'static str),
    /// A comma list where one value is allowed.
    #[error("multiple values in the {0} field")]
    MultipleValues(&'static str),
    /// A `"` is not closed on the line.
    #[error("unterminated quoted string")]
    UnterminatedQuote,
    /// Not an IP address.
    #[error("invalid IP address \"{0}\"")]
    BadAddress(String),
    /// A `/len` that is not 0..=32 (IPv4) or 0..=128 (IPv6).
    #[error("invalid CIDR mask in address \"{0}\"")]
    BadMaskLength(String),
    /// An address without `/len` and without a mask field.
    #[error("address \"{0}\" has neither /masklen nor a mask field")]
    MissingMask(String),
    /// The mask field is not an IP mask.
    #[error("invalid IP mask \"{0}\"")]
    BadMask(String),
    /// Address and mask are of different families.
    #[error("IP address and mask do not match: \"{0}\"")]
    MaskFamily(String),
    /// A host name, which would need DNS lookups per connection.
    #[error(
        "host name \"{0}\" in the address field is not supported by corepool; use an IP address"
    )]
    HostName(String),
    /// Not an authentication method.
    #[error("invalid authentication method \"{0}\"")]
    UnknownMethod(String),
    /// `pam` or `ldap`.
    #[error("authentication method \"{0}\" is not supported by corepool")]
    UnsupportedMethod(String),
    /// An option after the method; none of corepool's methods take options.
    #[error("unrecognized authentication option \"{0}\"")]
    UnknownOption(String),
    /// `cert` on a record that is not `hostssl`.
    #[error("cert authentication is only supported on hostssl connections")]
    CertWithoutSsl,
    /// A PostgreSQL feature Pgpool-II does not have.
    #[error("{0} is not supported")]
    Unsupported(String),
    /// The line is not valid UTF-8.
    #[error("line is not valid UTF-8")]
    InvalidUtf8,
}

/// Why pool_hba.conf could not be loaded.
pub type HbaError = super::line_file::FileError<HbaParseError>;

/// A parsed pool_hba.conf.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HbaFile {
    rules: Vec<HbaRule>,
    interfaces: Vec<Interface>,
}

impl HbaFile {
    /// Reads and parses the file at `path`.
    pub fn load(path: &Path) -> Result<Self, HbaError> {
        let rules = super::line_file::load(path, parse_line)?;
        Ok(Self::from_rules(rules))
    }

    /// Parses `text` as the contents of `file` (named in errors).
    pub fn parse(text: &str, file: &Path) -> Result<Self, HbaError> {
        let rules = super::line_file::parse(text.as_bytes(), file, parse_line)?;
        Ok(Self::from_rules(rules))
    }

    fn from_rules(rules: Vec<HbaRule>) -> Self {
        Self {
            rules,
            interfaces: Vec::new(),
        }
    }

    /// Supplies this machine's interface addresses for `samehost` and `samenet`.
    pub fn with_interfaces(mut self, interfaces: Vec<Interface>) -> Self {
        self.interfaces = interfaces;
        self
    }

    /// The records in file order.
    pub fn rules(&self) -> &[HbaRule] {
        &self.rules
    }

    /// The first record matching `conn`; `None` means the connection must be rejected.
    pub fn check(&self, conn: &ConnInfo<'_>) -> Option<&HbaRule> {
        self.rules.iter().find(|rule| self.rule_matches(rule, conn))
    }

    /// The method for `conn`: the first matching record's, or [`Method::Reject`].
    pub fn method_for(&self, conn: &ConnInfo<'_>) -> Method {
        self.check(conn).map_or(Method::Reject, |rule| rule.method)
    }

    fn rule_matches(&self, rule: &HbaRule, conn: &ConnInfo<'_>) -> bool {
        let type_ok = match rule.conn_type {
            ConnType::Local => conn.local,
            ConnType::Host => !conn.local,
            ConnType::HostSsl => !conn.local && conn.ssl,
            ConnType::HostNoSsl => !conn.local && !conn.ssl,
        };
        let addr_ok = match (&rule.address, conn.addr) {
            (None, _) => true,
            (Some(address), Some(client)) => address.matches(client, &self.interfaces),
            (Some(_), None) => false,
        };
        let db_ok = rule.databases.iter().any(|m| match m {
            NameMatch::All => true,
            NameMatch::SameUser => conn.database == conn.user,
            NameMatch::Name(name) => name == conn.database,
        });
        let user_ok = rule.users.iter().any(|m| match m {
            NameMatch::All => true,
            NameMatch::SameUser => false,
            NameMatch::Name(name) => name == conn.user,
        });
        type_ok && addr_ok && db_ok && user_ok
    }
}

/// One pool_hba.conf line: a record, or nothing (blank, comment).
fn parse_line(line: usize, raw: &[u8]) -> Result<Option<HbaRule>, HbaParseError> {
    let text = std::str::from_utf8(raw).map_err(|_| HbaParseError::InvalidUtf8)?;
    let fields = parse::split_fields(text)?;
    if fields.is_empty() {
        return Ok(None);
    }
    parse::parse_record(&fields, line).map(Some)
}

#[cfg(test)]
mod tests;
