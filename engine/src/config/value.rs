//! Turns a value's text into booleans, integers with units, durations, reals, enums and lists.

use std::fmt::Display;
use std::time::Duration;

/// What was wrong with a value; [`ConfigError::Value`](super::ConfigError::Value) adds the
/// parameter and the place.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ValueError {
    /// Not one of the boolean spellings (PGB-1.5).
    #[error("\"{0}\" is not a boolean (on/off, true/false, yes/no, 1/0)")]
    Bool(String),
    /// Not a decimal or `0x` hexadecimal integer.
    #[error("\"{0}\" is not an integer")]
    Integer(String),
    /// Not a finite real number.
    #[error("\"{0}\" is not a number")]
    Real(String),
    /// A number outside the parameter's range.
    #[error("{value} is outside the valid range {range}")]
    OutOfRange {
        /// The value as written.
        value: String,
        /// The allowed range, as `min..=max`.
        range: String,
    },
    /// A unit suffix this parameter does not accept.
    #[error("invalid unit in \"{value}\"; {hint}")]
    Unit {
        /// The value as written.
        value: String,
        /// Which units are valid.
        hint: &'static str,
    },
    /// Not one of the parameter's option names.
    #[error("\"{value}\" is not one of: {options}")]
    Enum {
        /// The value as written.
        value: String,
        /// The accepted names, comma-separated.
        options: String,
    },
    /// A `backend_flagN` word that is not a known flag.
    #[error(
        "unknown backend flag \"{0}\" (ALLOW_TO_FAILOVER, DISALLOW_TO_FAILOVER, ALWAYS_PRIMARY)"
    )]
    BackendFlag(String),
    /// `backend_flagN` sets both `ALLOW_TO_FAILOVER` and `DISALLOW_TO_FAILOVER`.
    #[error("ALLOW_TO_FAILOVER and DISALLOW_TO_FAILOVER cannot both be set")]
    BackendFlagConflict,
    /// A valid Pgpool-II value that corepool does not implement.
    #[error("\"{value}\" is not supported by corepool: {why}")]
    Unsupported {
        /// The value as written.
        value: String,
        /// What to use instead.
        why: &'static str,
    },
}

/// The unit a time-valued parameter's bare number is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeUnit {
    /// Milliseconds (`connect_timeout`).
    Millis,
    /// Seconds (most timeouts and periods).
    Seconds,
}

const TIME_HINT: &str = "valid units are \"us\", \"ms\", \"s\", \"min\", \"h\" and \"d\"";
const MEMORY_HINT: &str = "valid units are \"B\", \"kB\", \"MB\", \"GB\" and \"TB\"";
const NO_UNIT_HINT: &str = "this parameter takes no unit";

/// `on/off`, `true/false`, `yes/no`, `1/0`, any case; unambiguous prefixes of
/// true/false/yes/no and `of` for off (PGB-1.5).
pub fn parse_bool(text: &str) -> Result<bool, ValueError> {
    let lower = text.to_ascii_lowercase();
    let prefix_of = |word: &str| !lower.is_empty() && word.starts_with(lower.as_str());
    match lower.as_str() {
        "on" | "1" => Ok(true),
        "off" | "of" | "0" => Ok(false),
        _ if prefix_of("true") || prefix_of("yes") => Ok(true),
        _ if prefix_of("false") || prefix_of("no") => Ok(false),
        _ => Err(ValueError::Bool(text.to_owned())),
    }
}

/// Splits `[+-]digits` or `[+-]0xhex` from its unit suffix (spaces between are allowed).
fn split_number(text: &str) -> Result<(i64, &str), ValueError> {
    let bad = || ValueError::Integer(text.to_owned());
    let trimmed = text.trim();
    let (negative, body) = match trimmed.as_bytes().first() {
        Some(b'-') => (true, &trimmed[1..]),
        Some(b'+') => (false, &trimmed[1..]),
        _ => (false, trimmed),
    };
    let (radix, digits_from) = if body.starts_with("0x") || body.starts_with("0X") {
        (16, 2)
    } else {
        (10, 0)
    };
    let digits_end = body[digits_from..]
        .find(|c: char| !c.is_digit(radix))
        .map_or(body.len(), |i| i + digits_from);
    let digits = &body[digits_from..digits_end];
    let magnitude = i64::from_str_radix(digits, radix).map_err(|_| bad())?;
    let value = if negative { -magnitude } else { magnitude };
    let unit = body[digits_end..].trim_start();
    if !unit.bytes().all(|b| b.is_ascii_alphabetic() || b == b' ') {
        return Err(bad());
    }
    Ok((value, unit))
}

/// An [`ValueError::OutOfRange`] for `text` and the range `min..=max`.
pub fn out_of_range(text: &str, min: impl Display, max: impl Display) -> ValueError {
    ValueError::OutOfRange {
        value: text.to_owned(),
        range: format!("{min}..={max}"),
    }
}

fn check_range(value: i64, min: i64, max: i64, text: &str) -> Result<i64, ValueError> {
    if (min..=max).contains(&value) {
        Ok(value)
    } else {
        Err(out_of_range(text, min, max))
    }
}

/// A unitless integer in `min..=max`.
pub fn parse_int(text: &str, min: i64, max: i64) -> Result<i64, ValueError> {
    let (value, unit) = split_number(text)?;
    if !unit.is_empty() {
        return Err(ValueError::Unit {
            value: text.to_owned(),
            hint: NO_UNIT_HINT,
        });
    }
    check_range(value, min, max, text)
}

/// An integer count of `base` units, or a number with a time unit converted and rounded to
/// `base` as PostgreSQL does; returns the count of base units, in `min..=max`.
pub fn parse_time(text: &str, base: TimeUnit, min: i64, max: i64) -> Result<i64, ValueError> {
    let (value, unit) = split_number(text)?;
    let micros_per_unit = match unit {
        "" => return check_range(value, min, max, text),
        "us" => 1.0,
        "ms" => 1e3,
        "s" => 1e6,
        "min" => 60e6,
        "h" => 3600e6,
        "d" => 86400e6,
        _ => {
            return Err(ValueError::Unit {
                value: text.to_owned(),
                hint: TIME_HINT,
            })
        }
    };
    let base_micros = match base {
        TimeUnit::Millis => 1e3,
        TimeUnit::Seconds => 1e6,
    };
    let scaled = (value as f64 * micros_per_unit / base_micros).round_ties_even();
    if scaled < min as f64 || scaled > max as f64 {
        return Err(out_of_range(text, min, max));
    }
    Ok(scaled as i64)
}

/// A non-negative duration of at most `i32::MAX` base units (pgpool's `int` time parameters).
pub fn parse_duration(text: &str, base: TimeUnit) -> Result<Duration, ValueError> {
    let count = parse_time(text, base, 0, i64::from(i32::MAX))?.unsigned_abs();
    Ok(match base {
        TimeUnit::Millis => Duration::from_millis(count),
        TimeUnit::Seconds => Duration::from_secs(count),
    })
}

/// A byte count, optionally with `B`, `kB`, `MB`, `GB` or `TB`, in `0..=max`.
pub fn parse_bytes(text: &str, max: u64) -> Result<u64, ValueError> {
    let (value, unit) = split_number(text)?;
    let multiplier: u64 = match unit {
        "" | "B" => 1,
        "kB" => 1 << 10,
        "MB" => 1 << 20,
        "GB" => 1 << 30,
        "TB" => 1 << 40,
        _ => {
            return Err(ValueError::Unit {
                value: text.to_owned(),
                hint: MEMORY_HINT,
            })
        }
    };
    u64::try_from(value)
        .ok()
        .and_then(|v| v.checked_mul(multiplier))
        .filter(|&bytes| bytes <= max)
        .ok_or_else(|| out_of_range(text, 0, max))
}

/// A finite real number in `min..=max`.
pub fn parse_real(text: &str, min: f64, max: f64) -> Result<f64, ValueError> {
    let value: f64 = text
        .trim()
        .parse()
        .map_err(|_| ValueError::Real(text.to_owned()))?;
    if !value.is_finite() {
        return Err(ValueError::Real(text.to_owned()));
    }
    if !(min..=max).contains(&value) {
        return Err(out_of_range(text, min, max));
    }
    Ok(value)
}

/// Splits on `separator`, trims whitespace around items and drops empty ones.
pub fn parse_list(text: &str, separator: char) -> Vec<String> {
    text.split(separator)
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

/// A closed set of named values, matched case-insensitively (PGB-1.6).
pub trait Named: Copy + PartialEq + 'static {
    /// Every accepted spelling with its value; the first spelling of a value is its name.
    const NAMES: &'static [(&'static str, Self)];

    /// Looks `text` up in [`NAMES`](Self::NAMES).
    fn parse_named(text: &str) -> Result<Self, ValueError> {
        Self::NAMES
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case(text.trim()))
            .map(|&(_, value)| value)
            .ok_or_else(|| ValueError::Enum {
                value: text.to_owned(),
                options: Self::NAMES
                    .iter()
                    .map(|(n, _)| *n)
                    .collect::<Vec<_>>()
                    .join(", "),
            })
    }

    /// The name Pgpool-II shows for this value.
    fn name(self) -> &'static str {
        Self::NAMES
            .iter()
            .find(|(_, value)| *value == self)
            .map_or("", |(name, _)| name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn booleans_accept_every_spelling_and_unambiguous_prefixes() {
        for text in ["on", "ON", "true", "t", "TR", "yes", "y", "Ye", "1"] {
            assert_eq!(parse_bool(text), Ok(true), "{text}");
        }
        for text in ["off", "OfF", "of", "false", "f", "fal", "no", "n", "N", "0"] {
            assert_eq!(parse_bool(text), Ok(false), "{text}");
        }
        for text in ["o", "", "2", "onn", "truex", "yess", "enable", "-1", "01"] {
            assert!(parse_bool(text).is_err(), "{text}");
        }
    }

    #[test]
    fn integers_are_decimal_or_hex_with_sign() {
        assert_eq!(parse_int("42", 0, 100), Ok(42));
        assert_eq!(parse_int("+42", 0, 100), Ok(42));
        assert_eq!(parse_int("-1", -1, 100), Ok(-1));
        assert_eq!(parse_int("0x1F", 0, 100), Ok(31));
        assert_eq!(parse_int("0X1f", 0, 100), Ok(31));
        assert!(matches!(
            parse_int("101", 0, 100),
            Err(ValueError::OutOfRange { .. })
        ));
        assert!(matches!(
            parse_int("-1", 0, 100),
            Err(ValueError::OutOfRange { .. })
        ));
        assert!(matches!(
            parse_int("abc", 0, 100),
            Err(ValueError::Integer(_))
        ));
        assert!(matches!(
            parse_int("1.5", 0, 100),
            Err(ValueError::Integer(_))
        ));
        assert!(matches!(
            parse_int("5s", 0, 100),
            Err(ValueError::Unit { .. })
        ));
        assert!(matches!(
            parse_int("99999999999999999999", 0, 100),
            Err(ValueError::Integer(_))
        ));
        assert!(matches!(
            parse_int("0x", 0, 100),
            Err(ValueError::Integer(_))
        ));
    }

    #[test]
    fn time_units_convert_to_the_base_unit_and_round() {
        let secs = |t| parse_time(t, TimeUnit::Seconds, 0, i64::from(i32::MAX));
        let millis = |t| parse_time(t, TimeUnit::Millis, 0, i64::from(i32::MAX));
        assert_eq!(secs("30"), Ok(30));
        assert_eq!(secs("30s"), Ok(30));
        assert_eq!(secs("5min"), Ok(300));
        assert_eq!(secs("2h"), Ok(7200));
        assert_eq!(secs("1d"), Ok(86400));
        assert_eq!(secs("1500ms"), Ok(2));
        assert_eq!(secs("2500ms"), Ok(2), "ties round to even like rint()");
        assert_eq!(secs("400ms"), Ok(0));
        assert_eq!(secs("3000000us"), Ok(3));
        assert_eq!(secs("10 min"), Ok(600));
        assert_eq!(millis("10"), Ok(10));
        assert_eq!(millis("10s"), Ok(10_000));
        assert_eq!(millis("1500us"), Ok(2));
        assert!(matches!(secs("5 minutes"), Err(ValueError::Unit { .. })));
        assert!(matches!(secs("5MIN"), Err(ValueError::Unit { .. })));
        assert!(matches!(secs("-1s"), Err(ValueError::OutOfRange { .. })));
        assert!(matches!(
            secs("100000000d"),
            Err(ValueError::OutOfRange { .. })
        ));
        assert_eq!(parse_time("-1", TimeUnit::Seconds, -1, 10), Ok(-1));
    }

    #[test]
    fn durations_are_non_negative() {
        assert_eq!(
            parse_duration("5min", TimeUnit::Seconds),
            Ok(Duration::from_secs(300))
        );
        assert_eq!(
            parse_duration("250", TimeUnit::Millis),
            Ok(Duration::from_millis(250))
        );
        assert!(parse_duration("-5", TimeUnit::Seconds).is_err());
    }

    #[test]
    fn byte_counts_take_memory_units() {
        assert_eq!(parse_bytes("512", u64::MAX), Ok(512));
        assert_eq!(parse_bytes("512B", u64::MAX), Ok(512));
        assert_eq!(parse_bytes("64kB", u64::MAX), Ok(65536));
        assert_eq!(parse_bytes("16MB", u64::MAX), Ok(16 << 20));
        assert_eq!(parse_bytes("1GB", u64::MAX), Ok(1 << 30));
        assert_eq!(parse_bytes("2TB", u64::MAX), Ok(2 << 40));
        assert!(matches!(
            parse_bytes("1kb", u64::MAX),
            Err(ValueError::Unit { .. })
        ));
        assert!(matches!(
            parse_bytes("2GB", 1 << 30),
            Err(ValueError::OutOfRange { .. })
        ));
        assert!(matches!(
            parse_bytes("-1", u64::MAX),
            Err(ValueError::OutOfRange { .. })
        ));
        assert!(parse_bytes("9223372036854775807TB", u64::MAX).is_err());
    }

    #[test]
    fn reals_are_finite_and_in_range() {
        assert_eq!(parse_real("0.5", 0.0, 1e8), Ok(0.5));
        assert_eq!(parse_real("1", 0.0, 1e8), Ok(1.0));
        assert_eq!(parse_real("1.5e3", 0.0, 1e8), Ok(1500.0));
        assert!(matches!(
            parse_real("-0.1", 0.0, 1e8),
            Err(ValueError::OutOfRange { .. })
        ));
        assert!(matches!(
            parse_real("inf", 0.0, 1e8),
            Err(ValueError::Real(_))
        ));
        assert!(matches!(
            parse_real("NaN", 0.0, 1e8),
            Err(ValueError::Real(_))
        ));
        assert!(matches!(
            parse_real("x", 0.0, 1e8),
            Err(ValueError::Real(_))
        ));
    }

    #[test]
    fn lists_trim_items_and_drop_empty_ones() {
        assert_eq!(parse_list("a, b ,,c", ','), ["a", "b", "c"]);
        assert_eq!(
            parse_list("ABORT; DISCARD ALL", ';'),
            ["ABORT", "DISCARD ALL"]
        );
        assert!(parse_list("", ',').is_empty());
        assert!(parse_list(" , ", ',').is_empty());
    }

    #[derive(Debug, Clone, Copy, PartialEq)]
    enum Color {
        Red,
        Blue,
    }
    impl Named for Color {
        const NAMES: &'static [(&'static str, Self)] = &[
            ("red", Color::Red),
            ("blue", Color::Blue),
            ("azure", Color::Blue),
        ];
    }

    #[test]
    fn enums_match_case_insensitively_and_show_their_first_name() {
        assert_eq!(Color::parse_named("RED"), Ok(Color::Red));
        assert_eq!(Color::parse_named("Azure"), Ok(Color::Blue));
        assert_eq!(Color::Blue.name(), "blue");
        let err = Color::parse_named("green").unwrap_err();
        assert_eq!(err.to_string(), "\"green\" is not one of: red, blue, azure");
    }
}
