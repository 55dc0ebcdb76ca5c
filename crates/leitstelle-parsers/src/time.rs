//! Timestamps written as text in a record: RFC 3339 / ISO 8601, epoch numbers, and the
//! `MMM dd yyyy HH:mm:ss` form of CEF `rt` and LEEF `devTime`.

use chrono::{DateTime, NaiveDateTime};

/// Parses an event timestamp into nanoseconds since the Unix epoch (UTC).
///
/// Accepted:
/// - RFC 3339 / ISO 8601 with `T` or a space, with `Z`, `+hh:mm`, `+hhmm` or no zone
///   (no zone means UTC), with or without fractional seconds: `2024-05-01T10:00:00.123Z`,
///   `2024-05-01 10:00:00.123`, `2024-05-01T12:00:00+0200`; also a trailing ` UTC`;
/// - epoch numbers, the unit guessed from the magnitude: seconds (below 10^11, that is
///   before the year 5138), milliseconds (below 10^14), microseconds (below 10^17),
///   nanoseconds; a fraction is allowed (`1714557600.5`);
/// - the CEF / LEEF form `MMM dd yyyy HH:mm:ss[.SSS][ zone]` (`Jan 18 2024 11:07:53.123`),
///   the zone `UTC`, `GMT`, `Z` or a numeric offset (`+01:00`, `+0100`); none means UTC,
///   any other zone name (`CET`, `PST`: ambiguous abbreviations) gives `None`.
///
/// ```
/// use leitstelle_parsers::parse_timestamp;
/// assert_eq!(parse_timestamp("1970-01-01T00:00:01Z"), Some(1_000_000_000));
/// assert_eq!(parse_timestamp("1970-01-01 00:00:01.5"), Some(1_500_000_000));
/// assert_eq!(parse_timestamp("1500"), Some(1_500_000_000_000));
/// assert_eq!(parse_timestamp("1714557600000"), Some(1_714_557_600_000_000_000));
/// assert_eq!(parse_timestamp("Jan 18 2024 11:07:53.5 UTC"), Some(1_705_576_073_500_000_000));
/// assert_eq!(parse_timestamp("yesterday"), None);
/// ```
pub fn parse_timestamp(text: &str) -> Option<i64> {
    let t = text.trim();
    if t.is_empty() {
        return None;
    }
    if let Some(n) = parse_epoch(t) {
        return Some(n);
    }
    if let Ok(dt) = DateTime::parse_from_rfc3339(t) {
        return dt.timestamp_nanos_opt();
    }
    const ZONED: &[&str] = &["%Y-%m-%dT%H:%M:%S%.f%z", "%Y-%m-%d %H:%M:%S%.f%z"];
    for fmt in ZONED {
        if let Ok(dt) = DateTime::parse_from_str(t, fmt) {
            return dt.timestamp_nanos_opt();
        }
    }
    let naive = t
        .strip_suffix(" UTC")
        .or_else(|| t.strip_suffix('Z'))
        .or_else(|| t.strip_suffix('z'))
        .unwrap_or(t);
    const NAIVE: &[&str] = &["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f"];
    for fmt in NAIVE {
        if let Ok(dt) = NaiveDateTime::parse_from_str(naive, fmt) {
            return dt.and_utc().timestamp_nanos_opt();
        }
    }
    parse_month_first(t)
}

/// `MMM dd yyyy HH:mm:ss[.SSS][ zone]`, the form CEF (`rt`, `start`, `end`) and LEEF
/// (`devTime`) producers write.
fn parse_month_first(t: &str) -> Option<i64> {
    let first = t.as_bytes().first()?;
    if !first.is_ascii_alphabetic() {
        return None;
    }
    // Four space-separated parts make a date and a time; a fifth is the zone.
    let mut parts = t.split_ascii_whitespace();
    let (month, day, year, time) = (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    let zone = parts.next();
    if parts.next().is_some() {
        return None;
    }
    let text = format!("{month} {day} {year} {time}");
    let dt = NaiveDateTime::parse_from_str(&text, "%b %d %Y %H:%M:%S%.f").ok()?;
    let offset_secs: i64 = match zone {
        None | Some("UTC" | "GMT" | "Z" | "utc" | "gmt" | "z") => 0,
        Some(z) => numeric_offset(z)?,
    };
    dt.and_utc()
        .timestamp_nanos_opt()?
        .checked_sub(offset_secs.checked_mul(1_000_000_000)?)
}

/// `+hh:mm`, `+hhmm` or `-…` as seconds east of UTC.
fn numeric_offset(z: &str) -> Option<i64> {
    let (sign, rest) = match z.as_bytes().first()? {
        b'+' => (1, &z[1..]),
        b'-' => (-1, &z[1..]),
        _ => return None,
    };
    let digits: String = rest.chars().filter(|&c| c != ':').collect();
    if digits.len() != 4 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let hours: i64 = digits[..2].parse().ok()?;
    let minutes: i64 = digits[2..].parse().ok()?;
    if hours > 23 || minutes > 59 {
        return None;
    }
    Some(sign * (hours * 3600 + minutes * 60))
}

/// `[-]digits[.digits]` as an epoch time, unit by magnitude (see [`parse_timestamp`]).
fn parse_epoch(t: &str) -> Option<i64> {
    let (neg, body) = match t.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, t),
    };
    let (int, frac) = match body.split_once('.') {
        Some((i, f)) => (i, f),
        None => (body, ""),
    };
    if int.is_empty() || !int.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    if !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let whole: i128 = int.parse().ok()?;
    let unit: i128 = if whole < 100_000_000_000 {
        1_000_000_000
    } else if whole < 100_000_000_000_000 {
        1_000_000
    } else if whole < 100_000_000_000_000_000 {
        1_000
    } else {
        1
    };
    // Nanoseconds of the fraction, in the unit of the whole part (at most 9 digits count).
    let mut frac_ns: i128 = 0;
    let mut scale = unit;
    for b in frac.bytes().take(9) {
        scale /= 10;
        frac_ns += i128::from(b - b'0') * scale;
    }
    let ns = whole.checked_mul(unit)?.checked_add(frac_ns)?;
    i64::try_from(if neg { -ns } else { ns }).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(input: &str, expected: Option<&str>) {
        let got = parse_timestamp(input).map(|ns| {
            DateTime::from_timestamp_nanos(ns)
                .format("%Y-%m-%dT%H:%M:%S%.9fZ")
                .to_string()
        });
        assert_eq!(got.as_deref(), expected, "{input}");
    }

    #[test]
    fn formats() {
        let cases = [
            (
                "2024-05-01T10:00:00Z",
                Some("2024-05-01T10:00:00.000000000Z"),
            ),
            (
                "2024-05-01T10:00:00.123456Z",
                Some("2024-05-01T10:00:00.123456000Z"),
            ),
            (
                "2024-05-01T12:00:00+02:00",
                Some("2024-05-01T10:00:00.000000000Z"),
            ),
            (
                "2024-05-01T12:00:00+0200",
                Some("2024-05-01T10:00:00.000000000Z"),
            ),
            (
                "2024-05-01 12:00:00.5+02:00",
                Some("2024-05-01T10:00:00.500000000Z"),
            ),
            (
                "2024-05-01T10:00:00",
                Some("2024-05-01T10:00:00.000000000Z"),
            ),
            (
                "2024-05-01T10:00:00.25",
                Some("2024-05-01T10:00:00.250000000Z"),
            ),
            (
                "2024-05-01 10:00:00.123",
                Some("2024-05-01T10:00:00.123000000Z"),
            ),
            (
                "2024-05-01 10:00:00Z",
                Some("2024-05-01T10:00:00.000000000Z"),
            ),
            (
                "2019-03-19 23:34:25.581875 UTC",
                Some("2019-03-19T23:34:25.581875000Z"),
            ),
            ("1714557600", Some("2024-05-01T10:00:00.000000000Z")),
            ("1714557600.25", Some("2024-05-01T10:00:00.250000000Z")),
            ("1714557600250", Some("2024-05-01T10:00:00.250000000Z")),
            ("1714557600250000", Some("2024-05-01T10:00:00.250000000Z")),
            (
                "1714557600250000001",
                Some("2024-05-01T10:00:00.250000001Z"),
            ),
            ("-1", Some("1969-12-31T23:59:59.000000000Z")),
            (
                "  2024-05-01T10:00:00Z ",
                Some("2024-05-01T10:00:00.000000000Z"),
            ),
            (
                "Jan 18 2024 11:07:53",
                Some("2024-01-18T11:07:53.000000000Z"),
            ),
            (
                "Jan 18 2024 11:07:53.123",
                Some("2024-01-18T11:07:53.123000000Z"),
            ),
            (
                "Jan  8 2024 11:07:53 UTC",
                Some("2024-01-08T11:07:53.000000000Z"),
            ),
            (
                "Jan 18 2024 12:07:53 +01:00",
                Some("2024-01-18T11:07:53.000000000Z"),
            ),
            (
                "Jan 18 2024 06:07:53.5 -0500",
                Some("2024-01-18T11:07:53.500000000Z"),
            ),
            ("Jan 18 2024 11:07:53 CET", None),
            ("Jan 18 2024 11:07:53 +1", None),
            ("Jan 18 11:07:53", None),
            ("Jan 18 2024 11:07:53 UTC extra", None),
            ("Ünïcode 18 2024 11:07:53", None),
            ("", None),
            ("May  1 10:00:00", None),
            ("2024-05-01", None),
            ("1.2.3", None),
            ("99999999999999999999999999", None),
        ];
        for (input, expected) in cases {
            check(input, expected);
        }
    }
}
