//! Alert timestamps: ISO 8601 / RFC 3339 strings as Wazuh writes them, normalised
//! to UTC.
//!
//! Accepted: `YYYY-MM-DD` + `T`, `t` or a space + `HH:MM:SS`, an optional fraction (`.` or `,`,
//! any number of digits; digits beyond nanoseconds are truncated), then a zone: `Z`/`z`,
//! `±HH:MM`, Wazuh's `±HHMM`, `±HH`, or nothing. A string without a zone is read as UTC, as the
//! original did (Wazuh always writes one; this only matters for hand-made files). Any other
//! offset is converted to UTC, so alerts from managers in different zones share one grid.
//!
//! The parser is hand-written rather than a `strftime` pattern because it runs once per alert on
//! the feature builder's hot path and must accept every fraction length.

use chrono::{DateTime, Duration, NaiveDate, NaiveDateTime, NaiveTime, Utc};

/// Why a timestamp string was refused; the text becomes part of a skip reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimestampProblem {
    /// The value is not a JSON string.
    NotAString,
    /// The text does not have the `YYYY-MM-DDTHH:MM:SS` shape.
    Shape,
    /// The digits do not form a real date or time (month 13, 25:00, 31 February...).
    OutOfRange,
    /// The zone suffix is not `Z`, `±HH:MM`, `±HHMM` or `±HH`.
    Zone,
}

impl TimestampProblem {
    /// A short human description, e.g. for `StreamStats::first_skip_reason`.
    pub fn describe(self) -> &'static str {
        match self {
            Self::NotAString => "timestamp is not a string",
            Self::Shape => {
                "timestamp is not ISO 8601 (expected YYYY-MM-DDTHH:MM:SS[.fff][Z|+HH:MM|+HHMM])"
            }
            Self::OutOfRange => "timestamp has an impossible date or time",
            Self::Zone => "timestamp has an invalid zone offset (expected Z, +HH:MM or +HHMM)",
        }
    }
}

impl std::fmt::Display for TimestampProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.describe())
    }
}

/// Parses an alert timestamp and normalises it to UTC. Never panics.
pub fn parse_timestamp(text: &str) -> Result<DateTime<Utc>, TimestampProblem> {
    let b = text.as_bytes();
    if b.len() < 19 {
        return Err(TimestampProblem::Shape);
    }
    let year = digits(b, 0, 4)?;
    let month = digits(b, 5, 2)?;
    let day = digits(b, 8, 2)?;
    let hour = digits(b, 11, 2)?;
    let minute = digits(b, 14, 2)?;
    let second = digits(b, 17, 2)?;
    if b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') {
        return Err(TimestampProblem::Shape);
    }
    if b[13] != b':' || b[16] != b':' {
        return Err(TimestampProblem::Shape);
    }

    let mut pos = 19;
    let mut nanos: u32 = 0;
    if pos < b.len() && matches!(b[pos], b'.' | b',') {
        pos += 1;
        let start = pos;
        while pos < b.len() && b[pos].is_ascii_digit() {
            if pos - start < 9 {
                nanos = nanos * 10 + u32::from(b[pos] - b'0');
            }
            pos += 1;
        }
        let len = pos - start;
        if len == 0 {
            return Err(TimestampProblem::Shape);
        }
        for _ in len..9 {
            nanos *= 10;
        }
    }

    let offset_seconds = parse_zone(&b[pos..])?;

    let date =
        NaiveDate::from_ymd_opt(year as i32, month, day).ok_or(TimestampProblem::OutOfRange)?;
    let time = NaiveTime::from_hms_nano_opt(hour, minute, second, nanos)
        .ok_or(TimestampProblem::OutOfRange)?;
    let local = NaiveDateTime::new(date, time);
    let utc = local
        .checked_sub_signed(Duration::seconds(i64::from(offset_seconds)))
        .ok_or(TimestampProblem::OutOfRange)?;
    Ok(utc.and_utc())
}

/// Parses a JSON value as an alert timestamp (strings only: epoch numbers are refused, as in the
/// original, because their unit is ambiguous).
pub fn parse_timestamp_value(value: &serde_json::Value) -> Result<DateTime<Utc>, TimestampProblem> {
    match value {
        serde_json::Value::String(s) => parse_timestamp(s),
        _ => Err(TimestampProblem::NotAString),
    }
}

/// The zone suffix in seconds east of UTC; empty means UTC.
fn parse_zone(z: &[u8]) -> Result<i32, TimestampProblem> {
    match z {
        [] | [b'Z' | b'z'] => Ok(0),
        [sign @ (b'+' | b'-'), rest @ ..] => {
            let (h, m) = match rest {
                [_, _] => (zone_digits(rest, 0)?, 0),
                [_, _, b':', _, _] => (zone_digits(rest, 0)?, zone_digits(rest, 3)?),
                [_, _, _, _] => (zone_digits(rest, 0)?, zone_digits(rest, 2)?),
                _ => return Err(TimestampProblem::Zone),
            };
            if h > 23 || m > 59 {
                return Err(TimestampProblem::Zone);
            }
            let secs = (h * 3600 + m * 60) as i32;
            Ok(if *sign == b'-' { -secs } else { secs })
        }
        _ => Err(TimestampProblem::Zone),
    }
}

/// Two zone digits at `at`.
fn zone_digits(b: &[u8], at: usize) -> Result<u32, TimestampProblem> {
    digits(b, at, 2).map_err(|_| TimestampProblem::Zone)
}

/// `len` ASCII digits at `at` as a number, or a shape error.
fn digits(b: &[u8], at: usize, len: usize) -> Result<u32, TimestampProblem> {
    let slice = b.get(at..at + len).ok_or(TimestampProblem::Shape)?;
    slice.iter().try_fold(0u32, |acc, &c| {
        if c.is_ascii_digit() {
            Ok(acc * 10 + u32::from(c - b'0'))
        } else {
            Err(TimestampProblem::Shape)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{FixedOffset, SecondsFormat, TimeZone};
    use proptest::prelude::*;

    /// `expected` is an RFC 3339 UTC string with nanoseconds, or `Err(problem)`.
    fn check(input: &str, expected: Result<&str, TimestampProblem>) {
        let got = parse_timestamp(input).map(|t| t.to_rfc3339_opts(SecondsFormat::Nanos, true));
        assert_eq!(got.as_deref().map_err(|e| *e), expected, "input {input:?}");
    }

    #[test]
    fn accepted_forms() {
        let cases = [
            ("2024-12-01T10:00:00Z", "2024-12-01T10:00:00.000000000Z"),
            ("2024-12-01T10:00:00z", "2024-12-01T10:00:00.000000000Z"),
            ("2024-12-01T10:00:00.123Z", "2024-12-01T10:00:00.123000000Z"),
            (
                "2024-12-01T10:00:00.123456Z",
                "2024-12-01T10:00:00.123456000Z",
            ),
            ("2024-12-01T10:00:00.1Z", "2024-12-01T10:00:00.100000000Z"),
            (
                "2024-12-01T10:00:00.123456789Z",
                "2024-12-01T10:00:00.123456789Z",
            ),
            // Beyond nanoseconds: truncated, not rounded.
            (
                "2024-12-01T10:00:00.1234567899999Z",
                "2024-12-01T10:00:00.123456789Z",
            ),
            ("2024-12-01T10:00:00,5Z", "2024-12-01T10:00:00.500000000Z"),
            (
                "2024-12-01T10:00:00+00:00",
                "2024-12-01T10:00:00.000000000Z",
            ),
            (
                "2024-12-01T10:00:00.123+00:00",
                "2024-12-01T10:00:00.123000000Z",
            ),
            // Wazuh's native form.
            (
                "2020-03-04T13:55:05.224939+0000",
                "2020-03-04T13:55:05.224939000Z",
            ),
            // Offsets are converted, not kept.
            ("2024-12-01T12:30:00+0230", "2024-12-01T10:00:00.000000000Z"),
            (
                "2024-12-01T10:00:00-05:00",
                "2024-12-01T15:00:00.000000000Z",
            ),
            ("2024-12-01T01:00:00+02", "2024-11-30T23:00:00.000000000Z"),
            ("2024-12-31T23:30:00-0100", "2025-01-01T00:30:00.000000000Z"),
            // No zone: UTC, like the original.
            ("2024-12-01T10:00:00", "2024-12-01T10:00:00.000000000Z"),
            ("2024-12-01 10:00:00.5", "2024-12-01T10:00:00.500000000Z"),
            ("2024-02-29T00:00:00Z", "2024-02-29T00:00:00.000000000Z"),
        ];
        for (input, expected) in cases {
            check(input, Ok(expected));
        }
    }

    #[test]
    fn refused_forms() {
        use TimestampProblem::*;
        let cases = [
            ("", Shape),
            ("2024-12-01", Shape),
            ("2024-12-01T10:00Z", Shape),
            ("2024/12/01T10:00:00Z", Shape),
            ("2024-12-01X10:00:00Z", Shape),
            ("2024-12-01T10:00:00.Z", Shape),
            ("1733047200", Shape),
            ("not a timestamp at all", Shape),
            ("2024-13-01T10:00:00Z", OutOfRange),
            ("2023-02-29T10:00:00Z", OutOfRange),
            ("2024-12-01T24:00:00Z", OutOfRange),
            ("2024-12-01T10:60:00Z", OutOfRange),
            ("2024-12-01T10:00:60Z", OutOfRange),
            ("2024-12-01T10:00:00+2400", Zone),
            ("2024-12-01T10:00:00+00:0", Zone),
            ("2024-12-01T10:00:00+000", Zone),
            ("2024-12-01T10:00:00UTC", Zone),
            ("2024-12-01T10:00:00Z ", Zone),
            ("2024-12-01T10:00:00.123abc", Zone),
        ];
        for (input, problem) in cases {
            check(input, Err(problem));
        }
    }

    #[test]
    fn non_strings_are_refused() {
        assert_eq!(
            parse_timestamp_value(&serde_json::json!(1_733_047_200)),
            Err(TimestampProblem::NotAString)
        );
        assert_eq!(
            parse_timestamp_value(&serde_json::Value::Null),
            Err(TimestampProblem::NotAString)
        );
        assert!(parse_timestamp_value(&serde_json::json!("2024-12-01T10:00:00Z")).is_ok());
    }

    proptest! {
        #[test]
        fn never_panics(s in "\\PC*") {
            let _ = parse_timestamp(&s);
        }

        #[test]
        fn never_panics_near_valid(s in "[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2}:[0-9]{2}([.,][0-9]{0,14})?(Z|[+-][0-9]{2}(:?[0-9]{2})?)?") {
            let _ = parse_timestamp(&s);
        }

        #[test]
        fn round_trips_formatted(
            secs in 0i64..253_402_300_799, // 0001-01-01 .. 9999-12-31 relative to -62135596800
            nanos in 0u32..1_000_000_000,
            offset_min in -1439i32..=1439,
            style in 0usize..4,
        ) {
            let secs = secs - 62_135_596_800;
            let t = Utc.timestamp_opt(secs, nanos).single().expect("in chrono's range");
            let zone = FixedOffset::east_opt(offset_min * 60).expect("valid offset");
            let local = t.with_timezone(&zone);
            let text = match style {
                0 => t.to_rfc3339_opts(SecondsFormat::Nanos, true),
                1 => local.to_rfc3339_opts(SecondsFormat::Nanos, false),
                2 => local.format("%Y-%m-%dT%H:%M:%S%.9f%z").to_string(),
                _ => t.format("%Y-%m-%d %H:%M:%S%.9f").to_string(),
            };
            // Years before 1000 print with fewer than 4 digits in some styles; skip those.
            prop_assume!(text.as_bytes().get(4) == Some(&b'-'));
            prop_assert_eq!(parse_timestamp(&text), Ok(t), "text {}", text);
        }
    }
}
