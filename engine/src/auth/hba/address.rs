//! The ADDRESS column of pool_hba.conf: CIDR, address + mask, `all`, `samehost`, `samenet`.

use std::net::IpAddr;

use super::HbaParseError;

/// Which client addresses a `host*` record matches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Address {
    /// Any address (`all`).
    All,
    /// Any address of this machine (`samehost`); needs [`Interface`]s, see
    /// [`HbaFile::with_interfaces`](super::HbaFile::with_interfaces).
    SameHost,
    /// Any address on a subnet this machine is on (`samenet`); needs [`Interface`]s.
    SameNet,
    /// Addresses equal to `addr` under `mask` (`ip/len` or `ip mask`).
    Net {
        /// The network address as written.
        addr: IpAddr,
        /// The mask, same family as `addr`.
        mask: IpAddr,
    },
}

/// One address of a local network interface, for `samehost` and `samenet`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Interface {
    /// The interface's address.
    pub addr: IpAddr,
    /// Its netmask, same family as `addr`.
    pub netmask: IpAddr,
}

/// An address as a 128-bit number plus whether it is IPv4, so v4 and v6 share one code path.
fn bits(addr: IpAddr) -> (bool, u128) {
    match addr {
        IpAddr::V4(v4) => (true, u128::from(u32::from(v4))),
        IpAddr::V6(v6) => (false, u128::from(v6)),
    }
}

/// IPv4-mapped IPv6 clients (`::ffff:a.b.c.d`) match IPv4 rules, as in PostgreSQL.
fn canonical(addr: IpAddr) -> IpAddr {
    match addr {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(addr, IpAddr::V4),
        v4 => v4,
    }
}

/// Whether `client` is in the network `addr`/`mask` (families must agree).
fn in_net(client: IpAddr, addr: IpAddr, mask: IpAddr) -> bool {
    let (c4, c) = bits(canonical(client));
    let (a4, a) = bits(addr);
    let (m4, m) = bits(mask);
    c4 == a4 && a4 == m4 && (c & m) == (a & m)
}

impl Address {
    /// Parses `ip/len` (one field) or `ip` followed by a `mask` field. `all`, `samehost` and
    /// `samenet` are recognised by the caller, which knows whether the token was quoted.
    pub fn parse_net(field: &str, mask_field: Option<&str>) -> Result<Self, HbaParseError> {
        let bad_addr = || HbaParseError::BadAddress(field.to_owned());
        if let Some((ip, len)) = field.split_once('/') {
            let addr: IpAddr = ip.parse().map_err(|_| bad_addr())?;
            let max = if addr.is_ipv4() { 32 } else { 128 };
            let len: u32 = len
                .parse()
                .ok()
                .filter(|&l| l <= max)
                .ok_or_else(|| HbaParseError::BadMaskLength(field.to_owned()))?;
            return Ok(Self::Net {
                addr,
                mask: prefix_mask(addr.is_ipv4(), len),
            });
        }
        let addr: IpAddr = field.parse().map_err(|_| {
            if field.chars().any(|c| c.is_ascii_alphabetic()) && !field.contains(':') {
                HbaParseError::HostName(field.to_owned())
            } else {
                bad_addr()
            }
        })?;
        let mask_text = mask_field.ok_or(HbaParseError::MissingMask(field.to_owned()))?;
        let mask: IpAddr = mask_text
            .parse()
            .map_err(|_| HbaParseError::BadMask(mask_text.to_owned()))?;
        if mask.is_ipv4() != addr.is_ipv4() {
            return Err(HbaParseError::MaskFamily(format!("{field} {mask_text}")));
        }
        Ok(Self::Net { addr, mask })
    }

    /// Whether a TCP client at `client` matches, given this machine's interfaces.
    pub fn matches(&self, client: IpAddr, interfaces: &[Interface]) -> bool {
        match self {
            Self::All => true,
            Self::SameHost => interfaces
                .iter()
                .any(|i| canonical(client) == canonical(i.addr)),
            Self::SameNet => interfaces.iter().any(|i| in_net(client, i.addr, i.netmask)),
            Self::Net { addr, mask } => in_net(client, *addr, *mask),
        }
    }
}

/// The mask with the top `len` bits set.
fn prefix_mask(v4: bool, len: u32) -> IpAddr {
    if v4 {
        let mask = u32::MAX.checked_shl(32 - len).unwrap_or(0);
        IpAddr::from(mask.to_be_bytes())
    } else {
        let mask = u128::MAX.checked_shl(128 - len).unwrap_or(0);
        IpAddr::from(mask.to_be_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn net(field: &str) -> Address {
        Address::parse_net(field, None).unwrap()
    }

    #[test]
    fn cidr_masks_for_both_families() {
        let table: &[(&str, &str, bool)] = &[
            ("127.0.0.1/32", "127.0.0.1", true),
            ("127.0.0.1/32", "127.0.0.2", false),
            ("10.0.0.0/8", "10.255.1.2", true),
            ("10.0.0.0/8", "11.0.0.1", false),
            ("192.168.1.0/24", "192.168.1.77", true),
            ("192.168.1.0/24", "192.168.2.77", false),
            ("192.168.1.5/24", "192.168.1.77", true),
            ("0.0.0.0/0", "8.8.8.8", true),
            ("0.0.0.0/0", "::1", false),
            ("10.0.0.0/8", "::ffff:10.1.2.3", true),
            ("::1/128", "::1", true),
            ("::1/128", "::2", false),
            ("::1/128", "127.0.0.1", false),
            ("fe80::/10", "fe80::1234:5678", true),
            ("fe80::/10", "fec0::1", false),
            ("2001:db8::/32", "2001:db8:ffff::1", true),
            ("2001:db8::/32", "2001:db9::1", false),
            ("::/0", "2001:db8::1", true),
        ];
        for (rule, client, expected) in table {
            assert_eq!(
                net(rule).matches(ip(client), &[]),
                *expected,
                "{rule} vs {client}"
            );
        }
    }

    #[test]
    fn address_and_separate_mask() {
        let rule = Address::parse_net("192.168.0.0", Some("255.255.0.0")).unwrap();
        assert!(rule.matches(ip("192.168.44.1"), &[]));
        assert!(!rule.matches(ip("192.169.0.1"), &[]));
        let rule = Address::parse_net("2001:db8::", Some("ffff:ffff::")).unwrap();
        assert!(rule.matches(ip("2001:db8::9"), &[]));
        assert_eq!(
            Address::parse_net("10.0.0.0", Some("ffff::")),
            Err(HbaParseError::MaskFamily("10.0.0.0 ffff::".into()))
        );
        assert_eq!(
            Address::parse_net("10.0.0.0", None),
            Err(HbaParseError::MissingMask("10.0.0.0".into()))
        );
        assert_eq!(
            Address::parse_net("10.0.0.0", Some("255.0.0")),
            Err(HbaParseError::BadMask("255.0.0".into()))
        );
    }

    #[test]
    fn malformed_addresses_are_errors() {
        let err = |f| Address::parse_net(f, None).unwrap_err();
        assert_eq!(
            err("10.0.0.0/33"),
            HbaParseError::BadMaskLength("10.0.0.0/33".into())
        );
        assert_eq!(err("::/129"), HbaParseError::BadMaskLength("::/129".into()));
        assert_eq!(
            err("10.0.0.0/x"),
            HbaParseError::BadMaskLength("10.0.0.0/x".into())
        );
        assert_eq!(
            err("10.0.0/8"),
            HbaParseError::BadAddress("10.0.0/8".into())
        );
        assert_eq!(
            err("db.example.com"),
            HbaParseError::HostName("db.example.com".into())
        );
        assert_eq!(
            err(".example.com"),
            HbaParseError::HostName(".example.com".into())
        );
    }

    #[test]
    fn samehost_and_samenet_use_the_given_interfaces() {
        let interfaces = [
            Interface {
                addr: ip("192.168.1.10"),
                netmask: ip("255.255.255.0"),
            },
            Interface {
                addr: ip("fd00::10"),
                netmask: ip("ffff:ffff:ffff:ffff::"),
            },
        ];
        assert!(Address::SameHost.matches(ip("192.168.1.10"), &interfaces));
        assert!(Address::SameHost.matches(ip("::ffff:192.168.1.10"), &interfaces));
        assert!(!Address::SameHost.matches(ip("192.168.1.11"), &interfaces));
        assert!(Address::SameNet.matches(ip("192.168.1.11"), &interfaces));
        assert!(Address::SameNet.matches(ip("fd00::99"), &interfaces));
        assert!(!Address::SameNet.matches(ip("192.168.2.11"), &interfaces));
        assert!(!Address::SameNet.matches(ip("192.168.1.11"), &[]));
        assert!(Address::All.matches(ip("::1"), &[]));
    }
}
