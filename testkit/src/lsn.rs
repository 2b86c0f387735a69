//! A WAL position (`pg_lsn`), parsed from and printed as PostgreSQL's `X/Y` text.

use std::fmt;
use std::str::FromStr;

use crate::Error;

/// A write-ahead-log position, as returned by `pg_current_wal_lsn()`.
///
/// Ordered, so "has the standby replayed up to here" is a comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Lsn(pub u64);

impl FromStr for Lsn {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        let bad = || Error::UnexpectedOutput {
            what: "pg_lsn".into(),
            output: s.into(),
        };
        let (hi, lo) = s.trim().split_once('/').ok_or_else(bad)?;
        let hi = u32::from_str_radix(hi, 16).map_err(|_| bad())?;
        let lo = u32::from_str_radix(lo, 16).map_err(|_| bad())?;
        Ok(Lsn((u64::from(hi) << 32) | u64::from(lo)))
    }
}

impl fmt::Display for Lsn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:X}/{:X}", self.0 >> 32, self.0 & 0xFFFF_FFFF)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_orders() {
        let a: Lsn = "16/B374D848".parse().unwrap();
        assert_eq!(a, Lsn(0x16_B374_D848));
        assert_eq!(a.to_string(), "16/B374D848");
        assert!(a < "17/0".parse().unwrap());
        assert!("0/".parse::<Lsn>().is_err());
        assert!("nonsense".parse::<Lsn>().is_err());
    }
}
