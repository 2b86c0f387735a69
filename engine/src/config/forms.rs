//! How each kind of parameter value parses from pgpool.conf text and shows for `PGPOOL SHOW`.

use std::marker::PhantomData;
use std::time::Duration;

use super::kinds::{ClusteringMode, IdleLimitInRecovery};
use super::value::{
    out_of_range, parse_bool, parse_bytes, parse_duration, parse_int, parse_list, Named, TimeUnit,
    ValueError,
};

/// A value form: parse text into `Value`, show it back the way Pgpool-II prints it. Every shown
/// value parses back to itself (tested in `params.rs`).
pub(super) trait Form {
    /// The typed value stored in the config.
    type Value;
    /// Parses pgpool.conf text.
    fn parse(text: &str) -> Result<Self::Value, ValueError>;
    /// Formats for `PGPOOL SHOW`.
    fn show(value: &Self::Value) -> String;
}

/// `on`/`off` booleans (PGB-1.5).
pub(super) struct Bool;
impl Form for Bool {
    type Value = bool;
    fn parse(text: &str) -> Result<bool, ValueError> {
        parse_bool(text)
    }
    fn show(value: &bool) -> String {
        if *value { "on" } else { "off" }.to_owned()
    }
}

/// Strings, taken as written.
pub(super) struct Text;
impl Form for Text {
    type Value = String;
    fn parse(text: &str) -> Result<String, ValueError> {
        Ok(text.to_owned())
    }
    fn show(value: &String) -> String {
        value.clone()
    }
}

/// Non-negative times whose bare numbers are seconds.
pub(super) struct Secs;
impl Form for Secs {
    type Value = Duration;
    fn parse(text: &str) -> Result<Duration, ValueError> {
        parse_duration(text, TimeUnit::Seconds)
    }
    fn show(value: &Duration) -> String {
        value.as_secs().to_string()
    }
}

/// Non-negative times whose bare numbers are milliseconds.
pub(super) struct Millis;
impl Form for Millis {
    type Value = Duration;
    fn parse(text: &str) -> Result<Duration, ValueError> {
        parse_duration(text, TimeUnit::Millis)
    }
    fn show(value: &Duration) -> String {
        value.as_millis().to_string()
    }
}

/// Counts, 0..=i32::MAX.
pub(super) struct Count;
impl Form for Count {
    type Value = u32;
    fn parse(text: &str) -> Result<u32, ValueError> {
        parse_int(text, 0, i64::from(i32::MAX)).map(|n| n.unsigned_abs() as u32)
    }
    fn show(value: &u32) -> String {
        value.to_string()
    }
}

/// Counts, 1..=i32::MAX.
pub(super) struct Positive;
impl Form for Positive {
    type Value = u32;
    fn parse(text: &str) -> Result<u32, ValueError> {
        parse_int(text, 1, i64::from(i32::MAX)).map(|n| n.unsigned_abs() as u32)
    }
    fn show(value: &u32) -> String {
        value.to_string()
    }
}

/// A backend port, 1024..=65535 as in Pgpool-II.
pub(super) struct BackendPort;
impl Form for BackendPort {
    type Value = u16;
    fn parse(text: &str) -> Result<u16, ValueError> {
        parse_int(text, 1024, 65535).map(|n| n.unsigned_abs() as u16)
    }
    fn show(value: &u16) -> String {
        value.to_string()
    }
}

/// A listening port: Pgpool-II's 1024..=65535, or 0 for a kernel-chosen port.
pub(super) struct ListenPort;
impl Form for ListenPort {
    type Value = u16;
    fn parse(text: &str) -> Result<u16, ValueError> {
        match parse_int(text, 0, 65535)? {
            0 => Ok(0),
            port if port >= 1024 => Ok(port.unsigned_abs() as u16),
            _ => Err(out_of_range(text, 1024, 65535)),
        }
    }
    fn show(value: &u16) -> String {
        value.to_string()
    }
}

/// Comma-separated lists (items trimmed, empty items dropped).
pub(super) struct Comma;
impl Form for Comma {
    type Value = Vec<String>;
    fn parse(text: &str) -> Result<Vec<String>, ValueError> {
        Ok(parse_list(text, ','))
    }
    fn show(value: &Vec<String>) -> String {
        value.join(",")
    }
}

/// Semicolon-separated lists (`reset_query_list`, `primary_routing_query_pattern_list`).
pub(super) struct Semicolon;
impl Form for Semicolon {
    type Value = Vec<String>;
    fn parse(text: &str) -> Result<Vec<String>, ValueError> {
        Ok(parse_list(text, ';'))
    }
    fn show(value: &Vec<String>) -> String {
        value.join(";")
    }
}

/// Byte counts with memory units, up to i64::MAX (`delay_threshold`).
pub(super) struct Bytes;
impl Form for Bytes {
    type Value = u64;
    fn parse(text: &str) -> Result<u64, ValueError> {
        parse_bytes(text, i64::MAX.unsigned_abs())
    }
    fn show(value: &u64) -> String {
        value.to_string()
    }
}

/// A protocol message size limit: 1 kB (a startup packet must fit) up to i32::MAX (the
/// length field's range).
pub(super) struct MessageSize;
impl Form for MessageSize {
    type Value = usize;
    fn parse(text: &str) -> Result<usize, ValueError> {
        let bytes = parse_bytes(text, i32::MAX.unsigned_abs().into())?;
        if bytes < 1024 {
            return Err(out_of_range(text, 1024, i32::MAX));
        }
        usize::try_from(bytes).map_err(|_| ValueError::Integer(text.to_owned()))
    }
    fn show(value: &usize) -> String {
        value.to_string()
    }
}

/// Enums matched case-insensitively by name.
pub(super) struct Enum<T>(PhantomData<T>);
impl<T: Named> Form for Enum<T> {
    type Value = T;
    fn parse(text: &str) -> Result<T, ValueError> {
        T::parse_named(text)
    }
    fn show(value: &T) -> String {
        value.name().to_owned()
    }
}

/// `backend_clustering_mode`, which refuses the modes corepool lacks.
pub(super) struct Mode;
impl Form for Mode {
    type Value = ClusteringMode;
    fn parse(text: &str) -> Result<ClusteringMode, ValueError> {
        ClusteringMode::parse(text)
    }
    fn show(value: &ClusteringMode) -> String {
        value.name().to_owned()
    }
}

/// `client_idle_limit_in_recovery`: seconds, or -1.
pub(super) struct RecoveryIdle;
impl Form for RecoveryIdle {
    type Value = IdleLimitInRecovery;
    fn parse(text: &str) -> Result<IdleLimitInRecovery, ValueError> {
        IdleLimitInRecovery::parse(text)
    }
    fn show(value: &IdleLimitInRecovery) -> String {
        value.show()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_are_range_checked() {
        assert_eq!(ListenPort::parse("0"), Ok(0));
        assert_eq!(ListenPort::parse("5433"), Ok(5433));
        assert!(ListenPort::parse("80")
            .unwrap_err()
            .to_string()
            .contains("1024..=65535"));
        assert!(ListenPort::parse("65536").is_err());
        assert_eq!(BackendPort::parse("5432"), Ok(5432));
        assert!(BackendPort::parse("0").is_err());
        assert!(BackendPort::parse("70000").is_err());
    }

    #[test]
    fn message_size_is_bounded() {
        assert_eq!(MessageSize::parse("64MB"), Ok(64 << 20));
        assert!(MessageSize::parse("100").is_err());
        assert!(MessageSize::parse("4GB").is_err());
    }

    #[test]
    fn shows_are_pgpool_formats() {
        assert_eq!(Bool::show(&true), "on");
        assert_eq!(Secs::show(&Duration::from_secs(300)), "300");
        assert_eq!(Millis::show(&Duration::from_secs(10)), "10000");
        assert_eq!(
            Semicolon::show(&vec!["ABORT".into(), "DISCARD ALL".into()]),
            "ABORT;DISCARD ALL"
        );
        assert_eq!(Enum::<ClusteringMode>::show(&ClusteringMode::Raw), "raw");
    }
}
