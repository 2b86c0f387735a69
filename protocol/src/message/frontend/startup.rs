//! StartupMessage: the untagged first packet, with the protocol version and `name=value` pairs.

use crate::framing::MAX_STARTUP_PACKET_LEN;
use crate::message::reader::Reader;
use crate::message::Strings;
use crate::Error;

/// A protocol version as StartupMessage and NegotiateProtocolVersion carry it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ProtocolVersion {
    /// The major version; 3 for every PostgreSQL since 7.4.
    pub major: u16,
    /// The minor version.
    pub minor: u16,
}

impl ProtocolVersion {
    /// Protocol 3.0, what every PostgreSQL since 7.4 speaks: a 4-byte secret key.
    pub const V3_0: ProtocolVersion = ProtocolVersion { major: 3, minor: 0 };

    /// Protocol 3.2 (PostgreSQL 18): 3.0 with a variable-length secret key in BackendKeyData
    /// and CancelRequest. There never was a 3.1.
    pub const V3_2: ProtocolVersion = ProtocolVersion { major: 3, minor: 2 };

    /// The newest version this crate implements, and what corepool offers clients and asks of
    /// backends.
    pub const LATEST: ProtocolVersion = ProtocolVersion::V3_2;

    /// Whether BackendKeyData and CancelRequest carry a variable-length secret key (3.2 and
    /// later); before 3.2 it is exactly 4 bytes. PostgreSQL 18 keys a 3.1 client with 4 bytes.
    pub fn variable_secret_key(self) -> bool {
        self >= ProtocolVersion::V3_2
    }

    /// Splits the version word (`major << 16 | minor`).
    pub fn from_code(code: i32) -> ProtocolVersion {
        let [a, b, c, d] = code.to_be_bytes();
        ProtocolVersion {
            major: u16::from_be_bytes([a, b]),
            minor: u16::from_be_bytes([c, d]),
        }
    }

    /// The version word (`major << 16 | minor`).
    pub fn code(self) -> i32 {
        let [a, b] = self.major.to_be_bytes();
        let [c, d] = self.minor.to_be_bytes();
        i32::from_be_bytes([a, b, c, d])
    }
}

impl std::fmt::Display for ProtocolVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}

/// The prefix reserved for protocol options in a StartupMessage (`_pq_.name`): not run-time
/// parameters, and to be listed back in NegotiateProtocolVersion when not understood.
pub const PROTOCOL_OPTION_PREFIX: &str = "_pq_.";

/// StartupMessage: the protocol version and the session's parameters (`user`, `database`,
/// `options`, `application_name`, GUCs, ...).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StartupMessage<'a> {
    /// The requested version; its major is always 3.
    version: ProtocolVersion,
    /// The checked `name\0value\0` pairs, without the final terminating NUL.
    parameters: &'a [u8],
}

impl<'a> StartupMessage<'a> {
    /// Parses a whole startup packet, length word included, as
    /// [`StartupFrame::Startup`](crate::framing::StartupFrame::Startup) holds it.
    ///
    /// The length word must match the packet, the major version must be 3, and the pairs must be
    /// UTF-8 and end with the empty name PostgreSQL uses as a terminator.
    pub fn parse(packet: &'a [u8]) -> Result<StartupMessage<'a>, Error> {
        let mut r = Reader::new(packet, "StartupMessage");
        let len = r.i32("length")?;
        if usize::try_from(len).ok() != Some(packet.len()) {
            return Err(r.invalid("length", len.into()));
        }
        if packet.len() > MAX_STARTUP_PACKET_LEN {
            return Err(Error::StartupTooLarge {
                len: packet.len(),
                max: MAX_STARTUP_PACKET_LEN,
            });
        }
        let version = ProtocolVersion::from_code(r.i32("protocol version")?);
        if version.major != 3 {
            return Err(Error::UnsupportedProtocolVersion {
                major: version.major,
                minor: version.minor,
            });
        }
        let start = r.clone();
        loop {
            let mark = r.clone();
            let name = r.cstr("parameter name")?;
            if name.is_empty() {
                r.finish()?;
                let parameters = mark.consumed_since(&start);
                return Ok(StartupMessage {
                    version,
                    parameters,
                });
            }
            r.cstr("parameter value")?;
        }
    }

    /// The requested protocol version (major 3, any minor).
    pub fn version(&self) -> ProtocolVersion {
        self.version
    }

    /// The version a server that speaks at most `latest` uses with this client: the older of
    /// the two (PostgreSQL's `FrontendProtocol = Min(proto, PG_PROTOCOL_LATEST)`).
    pub fn negotiated_version(&self, latest: ProtocolVersion) -> ProtocolVersion {
        self.version.min(latest)
    }

    /// The `_pq_.` protocol options, in the order sent.
    pub fn protocol_options(&self) -> impl Iterator<Item = &'a str> {
        self.parameters()
            .map(|(name, _)| name)
            .filter(|name| name.starts_with(PROTOCOL_OPTION_PREFIX))
    }

    /// Whether a server that speaks at most `latest` and knows no `_pq_.` option must answer
    /// with NegotiateProtocolVersion before authenticating: the client asked for a newer minor
    /// version, or for any protocol option (PostgreSQL's rule in `ProcessStartupPacket`).
    pub fn needs_negotiation(&self, latest: ProtocolVersion) -> bool {
        self.version > latest || self.protocol_options().next().is_some()
    }

    /// The `(name, value)` pairs in the order the client sent them.
    pub fn parameters(&self) -> StartupParameters<'a> {
        StartupParameters {
            strings: Strings::new(self.parameters),
        }
    }

    /// The value of the first parameter called `name`.
    pub fn get(&self, name: &str) -> Option<&'a str> {
        self.parameters()
            .find(|&(n, _)| n == name)
            .map(|(_, value)| value)
    }

    /// The `user` parameter, which PostgreSQL requires.
    pub fn user(&self) -> Option<&'a str> {
        self.get("user")
    }

    /// The `database` parameter; PostgreSQL defaults it to the user name.
    pub fn database(&self) -> Option<&'a str> {
        self.get("database")
    }
}

/// The `(name, value)` pairs of a [`StartupMessage`].
#[derive(Debug, Clone)]
pub struct StartupParameters<'a> {
    /// The checked names and values not yet returned.
    strings: Strings<'a>,
}

impl<'a> Iterator for StartupParameters<'a> {
    type Item = (&'a str, &'a str);

    fn next(&mut self) -> Option<(&'a str, &'a str)> {
        let name = self.strings.next()?;
        let value = self.strings.next()?;
        Some((name, value))
    }
}
