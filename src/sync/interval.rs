//! Durations for polls and timeouts: one type, [`Interval`], behind `gitsync sync --interval`,
//! `gitsync full-sync --timeout`, the operator's `--lease-seconds` and GitSync's `spec.interval`.
//!
//! The syntax is Flux's (Go's `time.ParseDuration` without signs, µs or ns): one or more
//! `<number>[.<fraction>]<unit>`, unit `ms`, `s`, `m` or `h`, as in `500ms`, `30s`, `1m30s`,
//! `1.5h` or `10m0s`. The CRD validates the same [`PATTERN`]. Each part is read by jiff and the
//! parts are added in checked arithmetic, so no input wraps around into a short poll; the bounds
//! ([`MAX`], more than zero) are checked here, the one place every caller goes through. Nothing
//! here knows about the command line or the cluster beyond the syntax they share.

use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;
use std::time::Duration;

/// The syntax, as Flux's CRDs write it (`spec.interval` of a GitSync validates against it).
pub const PATTERN: &str = r"^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$";

/// The longest interval or timeout: polling a workspace less than daily is not syncing it.
pub const MAX: Duration = Duration::from_secs(24 * 3600);

/// A duration more than zero and at most [`MAX`], written in Flux's syntax.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Interval(Duration);

/// Why a text is not an [`Interval`]; each message says what is allowed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IntervalError {
    #[error(
        "`{0}` is not a duration: write one or more <number><unit> with the unit ms, s, m or h, such as 30s, 5m, 1m30s or 1.5h"
    )]
    Syntax(String),
    #[error("`{0}` is zero: a duration must be more than zero, such as 30s")]
    Zero(String),
    #[error("`{0}` is longer than 24h, the longest duration allowed")]
    TooLong(String),
}

impl Interval {
    pub fn duration(self) -> Duration {
        self.0
    }

    /// A flag's value: the same syntax, where a bare number is seconds, as gitsync's duration
    /// flags (`--interval 30`, `--lease-seconds=15`) always took.
    pub fn from_flag(s: &str) -> Result<Interval, IntervalError> {
        if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
            return format!("{s}s").parse().map_err(|e| match e {
                IntervalError::Syntax(_) => IntervalError::Syntax(s.to_owned()),
                IntervalError::Zero(_) => IntervalError::Zero(s.to_owned()),
                IntervalError::TooLong(_) => IntervalError::TooLong(s.to_owned()),
            });
        }
        s.parse()
    }
}

/// The parts of `s` (`1m30s` -> `1m`, `30s`) if it matches [`PATTERN`].
fn parts(s: &str) -> Option<Vec<&str>> {
    let bytes = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let start = i;
        let digits = |i: &mut usize| {
            let from = *i;
            while *i < bytes.len() && bytes[*i].is_ascii_digit() {
                *i += 1;
            }
            *i > from
        };
        if !digits(&mut i) {
            return None;
        }
        if bytes.get(i) == Some(&b'.') {
            i += 1;
            if !digits(&mut i) {
                return None;
            }
        }
        i += match (bytes.get(i), bytes.get(i + 1)) {
            (Some(b'm'), Some(b's')) => 2,
            (Some(b's' | b'm' | b'h'), _) => 1,
            _ => return None,
        };
        out.push(&s[start..i]);
    }
    (!out.is_empty()).then_some(out)
}

impl FromStr for Interval {
    type Err = IntervalError;

    fn from_str(s: &str) -> Result<Interval, IntervalError> {
        let parts = parts(s).ok_or_else(|| IntervalError::Syntax(s.to_owned()))?;
        let mut total = jiff::SignedDuration::ZERO;
        for part in parts {
            // The syntax is checked: what jiff refuses is out of its range (or has more than the
            // nine decimals a nanosecond count holds).
            let d: jiff::SignedDuration = part.parse().map_err(|_| {
                if part.contains('.') {
                    IntervalError::Syntax(s.to_owned())
                } else {
                    IntervalError::TooLong(s.to_owned())
                }
            })?;
            total = total
                .checked_add(d)
                .ok_or_else(|| IntervalError::TooLong(s.to_owned()))?;
        }
        let d = Duration::try_from(total).map_err(|_| IntervalError::TooLong(s.to_owned()))?;
        if d.is_zero() {
            return Err(IntervalError::Zero(s.to_owned()));
        }
        if d > MAX {
            return Err(IntervalError::TooLong(s.to_owned()));
        }
        Ok(Interval(d))
    }
}

/// Flux's form: `1h30m`, `1m30s`, `2.5s`, `500ms`.
impl fmt::Display for Interval {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let secs = self.0.as_secs();
        let nanos = self.0.subsec_nanos();
        if secs == 0 && nanos.is_multiple_of(1_000_000) {
            return write!(f, "{}ms", nanos / 1_000_000);
        }
        let (h, m, s) = (secs / 3600, secs / 60 % 60, secs % 60);
        if h > 0 {
            write!(f, "{h}h")?;
        }
        if m > 0 {
            write!(f, "{m}m")?;
        }
        if nanos > 0 {
            let fraction = format!("{nanos:09}");
            write!(f, "{s}.{}s", fraction.trim_end_matches('0'))
        } else if s > 0 {
            write!(f, "{s}s")
        } else {
            Ok(())
        }
    }
}

impl From<Interval> for Duration {
    fn from(i: Interval) -> Duration {
        i.0
    }
}

impl serde::Serialize for Interval {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Interval {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Interval, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// A string with [`PATTERN`] (the bounds need a rule the API server of Kubernetes 1.20 does not
/// have, so they are checked where the value is read).
impl schemars::JsonSchema for Interval {
    fn schema_name() -> Cow<'static, str> {
        "Interval".into()
    }

    fn inline_schema() -> bool {
        true
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "pattern": PATTERN,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<Duration, IntervalError> {
        s.parse::<Interval>().map(Interval::duration)
    }

    #[test]
    fn flux_durations_are_read() {
        assert_eq!(parse("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse("1m30s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse("10m0s"), Ok(Duration::from_secs(600)));
        assert_eq!(parse("1.5h"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse("1.5h30m"), Ok(Duration::from_secs(7200)));
        assert_eq!(parse("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse("1m500ms"), Ok(Duration::from_millis(60_500)));
        assert_eq!(parse("24h"), Ok(MAX));
    }

    #[test]
    fn huge_numbers_are_refused_rather_than_wrapped_around() {
        // The old parser multiplied in u64 and polled every 4 s for this.
        for s in [
            "3381903080180084463m",
            "99999999999999999999999999h",
            "18446744073709551616s",
            "24h1ms",
            "25h",
        ] {
            assert_eq!(parse(s), Err(IntervalError::TooLong(s.into())), "{s}");
        }
    }

    #[test]
    fn errors_say_the_syntax_and_the_bounds() {
        for s in [
            "", "5", "5d", "1m30", "m", "1.m", ".5s", "-1s", "1 m", "1µs", "PT1M",
        ] {
            let err = parse(s).err().unwrap_or_else(|| panic!("{s} accepted"));
            assert_eq!(err, IntervalError::Syntax(s.into()));
            assert!(err.to_string().contains("ms, s, m or h"), "{err}");
        }
        assert_eq!(parse("0s"), Err(IntervalError::Zero("0s".into())));
        assert_eq!(parse("0m0s"), Err(IntervalError::Zero("0m0s".into())));
        assert!(
            IntervalError::TooLong("25h".into())
                .to_string()
                .contains("24h")
        );
    }

    #[test]
    fn the_schema_pattern_and_the_parser_agree() {
        // A real regex engine (the one jsonschema validates with) against the parser's syntax.
        let schema =
            serde_json::to_value(schemars::schema_for!(Interval)).unwrap_or_else(|e| panic!("{e}"));
        let validator = jsonschema::validator_for(&schema).unwrap_or_else(|e| panic!("{e}"));
        for s in [
            "30s", "1m30s", "10m0s", "1.5h", "250ms", "1h1h", "0.5ms", "5", "5d", "1m30", "",
            "1.m", ".5s", "1 m", "1µs", "-1s", "ms",
        ] {
            assert_eq!(
                validator.is_valid(&serde_json::json!(s)),
                parts(s).is_some(),
                "{s}"
            );
        }
    }

    #[test]
    fn display_is_flux_form_and_reads_back() {
        for (d, text) in [
            (Duration::from_secs(90), "1m30s"),
            (Duration::from_secs(3600), "1h"),
            (Duration::from_secs(5400), "1h30m"),
            (Duration::from_millis(250), "250ms"),
            (Duration::from_millis(2500), "2.5s"),
            (Duration::from_secs(3601), "1h1s"),
        ] {
            let i = Interval(d);
            assert_eq!(i.to_string(), text);
            assert_eq!(text.parse::<Interval>(), Ok(i));
        }
    }

    #[test]
    fn flags_also_take_bare_seconds() {
        assert_eq!(
            Interval::from_flag("30").map(Interval::duration),
            Ok(Duration::from_secs(30))
        );
        assert_eq!(
            Interval::from_flag("1m30s").map(Interval::duration),
            Ok(Duration::from_secs(90))
        );
        assert_eq!(
            Interval::from_flag("0"),
            Err(IntervalError::Zero("0".into()))
        );
        assert_eq!(
            Interval::from_flag("3381903080180084463"),
            Err(IntervalError::TooLong("3381903080180084463".into()))
        );
    }
}
