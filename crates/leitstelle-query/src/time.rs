//! Instants and durations as hunters type them: `2026-12-01T10:00:00Z`, `2026-12-01`, `now`,
//! `-24h`, `now-15m`, and the `span=30m` of `timechart`.
//!
//! RFC 3339 is parsed by hand (a days-from-civil calculation), so the crate needs no date
//! library. The clock is passed in (`now_ns`), never read here.

/// What [`TimeError`] says the accepted forms are.
const ACCEPTED: &str = "expected an RFC 3339 time like 2026-12-01T10:00:00Z or \
                        2026-12-01T12:00:00.5+02:00, a date like 2026-12-01, now, or a relative \
                        time like -24h, -15m, now-1h, now+5m (units s, m, h, d, w)";

/// A time that [`parse_time`] does not accept.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TimeError {
    /// The text is none of the accepted forms, or a part of it is out of its range
    /// (month 13, minute 61…).
    #[error("invalid time '{text}': {reason} ({ACCEPTED})")]
    Invalid {
        /// The text given (cut to 40 characters).
        text: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The instant does not fit in nanoseconds since the Unix epoch as an `i64` (years 1677
    /// to 2262).
    #[error("time '{text}' is out of range (supported: years 1677 to 2262)")]
    OutOfRange {
        /// The text given (cut to 40 characters).
        text: String,
    },
}

const NANOS_PER_SEC: i64 = 1_000_000_000;

/// Parses an instant to nanoseconds since the Unix epoch (UTC).
///
/// Accepted forms (surrounding whitespace is ignored):
///
/// | form | example | meaning |
/// |------|---------|---------|
/// | RFC 3339 | `2026-12-01T10:00:00Z`, `2026-12-01T12:00:00+02:00`, `2026-12-01T10:00:00.250Z` | that instant (`T` may also be `t` or a space, `Z` may be `z`) |
/// | date | `2026-12-01` | midnight UTC of that day |
/// | now | `now` | `now_ns` |
/// | relative | `-24h`, `-15m`, `-30s`, `-7d`, `-2w` | that long before `now_ns` |
/// | now ± duration | `now-1h`, `now+5m` | that long before / after `now_ns` |
///
/// Units: `s`, `m`, `h`, `d` (24 hours), `w` (7 days). A time without a zone
/// (`2026-12-01T10:00:00`) is rejected rather than guessed. Leap seconds (`:60`) are rejected.
///
/// ```
/// use leitstelle_query::parse_time;
///
/// let now = 1_800_000_000_000_000_000;
/// assert_eq!(parse_time("1970-01-01T00:00:01Z", now), Ok(1_000_000_000));
/// assert_eq!(parse_time("1970-01-02", now), Ok(86_400_000_000_000));
/// assert_eq!(parse_time("-1h", now), Ok(now - 3_600_000_000_000));
/// assert_eq!(parse_time("now+30s", now), Ok(now + 30_000_000_000));
/// assert!(parse_time("yesterday", now).is_err());
/// ```
pub fn parse_time(text: &str, now_ns: i64) -> Result<i64, TimeError> {
    let t = text.trim();
    let invalid = |reason: &str| TimeError::Invalid {
        text: shorten(text),
        reason: reason.to_string(),
    };
    let out_of_range = || TimeError::OutOfRange {
        text: shorten(text),
    };
    if t.is_empty() {
        return Err(invalid("empty"));
    }
    if t.eq_ignore_ascii_case("now") {
        return Ok(now_ns);
    }
    // `now-1h`, `now+5m`; `get` keeps this safe on multibyte input.
    if let Some(head) = t.get(..3)
        && head.eq_ignore_ascii_case("now")
    {
        let rest = &t[3..];
        let (sign, dur) = if let Some(d) = rest.strip_prefix('-') {
            (-1, d)
        } else if let Some(d) = rest.strip_prefix('+') {
            (1, d)
        } else {
            return Err(invalid("expected '-' or '+' after 'now'"));
        };
        return relative(now_ns, sign, dur).map_err(|e| match e {
            RelErr::Invalid => invalid("expected a duration like 1h after the sign"),
            RelErr::OutOfRange => out_of_range(),
        });
    }
    if let Some(dur) = t.strip_prefix('-') {
        return relative(now_ns, -1, dur).map_err(|e| match e {
            RelErr::Invalid => invalid("expected a duration like 24h after '-'"),
            RelErr::OutOfRange => out_of_range(),
        });
    }
    rfc3339(t).map_err(|e| match e {
        DateErr::Invalid(reason) => invalid(reason),
        DateErr::OutOfRange => out_of_range(),
    })
}

/// Parses a duration (`1h`, `30m`, `15s`, `1d`, `1w`) to seconds.
///
/// `None` for anything else: no unit, an unknown unit, zero, a sign, spaces, or a result
/// that does not fit in a `u64`.
///
/// ```
/// use leitstelle_query::parse_duration_secs;
///
/// assert_eq!(parse_duration_secs("30m"), Some(1800));
/// assert_eq!(parse_duration_secs("1w"), Some(604_800));
/// assert_eq!(parse_duration_secs("0h"), None);
/// assert_eq!(parse_duration_secs("10"), None);
/// ```
pub fn parse_duration_secs(text: &str) -> Option<u64> {
    match duration_secs(text)? {
        0 => None,
        n => Some(n),
    }
}

/// A duration in seconds, zero allowed.
fn duration_secs(text: &str) -> Option<u64> {
    let unit = text.chars().last()?;
    let digits = &text[..text.len() - unit.len_utf8()];
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n: u64 = digits.parse().ok()?;
    let unit_secs: u64 = match unit {
        's' => 1,
        'm' => 60,
        'h' => 3_600,
        'd' => 86_400,
        'w' => 604_800,
        _ => return None,
    };
    n.checked_mul(unit_secs)
}

enum RelErr {
    Invalid,
    OutOfRange,
}

/// `now_ns` plus (`sign` 1) or minus (`sign` -1) the duration `dur`.
fn relative(now_ns: i64, sign: i64, dur: &str) -> Result<i64, RelErr> {
    let secs = duration_secs(dur).ok_or(RelErr::Invalid)?;
    let nanos = i64::try_from(secs)
        .ok()
        .and_then(|s| s.checked_mul(NANOS_PER_SEC))
        .ok_or(RelErr::OutOfRange)?;
    now_ns.checked_add(sign * nanos).ok_or(RelErr::OutOfRange)
}

enum DateErr {
    Invalid(&'static str),
    OutOfRange,
}

/// `YYYY-MM-DD` or `YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM)`.
fn rfc3339(t: &str) -> Result<i64, DateErr> {
    use DateErr::Invalid;
    let b = t.as_bytes();
    if !t.is_ascii() || b.len() < 10 || !b[0].is_ascii_digit() {
        return Err(Invalid("not a date, 'now' or a relative time"));
    }
    let year = digits(b, 0, 4).ok_or(Invalid("expected a four-digit year"))?;
    if b[4] != b'-' || b[7] != b'-' {
        return Err(Invalid("expected a date as YYYY-MM-DD"));
    }
    let month = digits(b, 5, 2).ok_or(Invalid("expected a two-digit month"))?;
    let day = digits(b, 8, 2).ok_or(Invalid("expected a two-digit day"))?;
    if !(1..=12).contains(&month) {
        return Err(Invalid("month must be 01 to 12"));
    }
    if day < 1 || day > days_in_month(year, month) {
        return Err(Invalid("no such day in that month"));
    }
    let days = days_from_civil(year, month, day);
    let mut secs = days * 86_400;
    let mut nanos = 0;
    if b.len() > 10 {
        if !matches!(b[10], b'T' | b't' | b' ') {
            return Err(Invalid("expected 'T' between date and time"));
        }
        if b.len() < 19 || b[13] != b':' || b[16] != b':' {
            return Err(Invalid("expected a time as HH:MM:SS"));
        }
        let hour = digits(b, 11, 2).ok_or(Invalid("expected a two-digit hour"))?;
        let minute = digits(b, 14, 2).ok_or(Invalid("expected two-digit minutes"))?;
        let second = digits(b, 17, 2).ok_or(Invalid("expected two-digit seconds"))?;
        if hour > 23 {
            return Err(Invalid("hour must be 00 to 23"));
        }
        if minute > 59 {
            return Err(Invalid("minutes must be 00 to 59"));
        }
        if second > 59 {
            return Err(Invalid("seconds must be 00 to 59"));
        }
        secs += hour * 3_600 + minute * 60 + second;
        let mut i = 19;
        if b.get(i) == Some(&b'.') {
            i += 1;
            let start = i;
            let mut scale = NANOS_PER_SEC;
            while let Some(d) = b.get(i).filter(|d| d.is_ascii_digit()) {
                // Digits beyond nanoseconds are ignored (truncated).
                scale /= 10;
                nanos += i64::from(d - b'0') * scale;
                i += 1;
            }
            if i == start {
                return Err(Invalid("expected digits after '.'"));
            }
        }
        match b.get(i) {
            Some(b'Z' | b'z') if i + 1 == b.len() => {}
            Some(&sign @ (b'+' | b'-')) if i + 6 == b.len() && b[i + 3] == b':' => {
                let oh = digits(b, i + 1, 2).ok_or(Invalid("expected an offset as +HH:MM"))?;
                let om = digits(b, i + 4, 2).ok_or(Invalid("expected an offset as +HH:MM"))?;
                if oh > 23 || om > 59 {
                    return Err(Invalid("offset out of range"));
                }
                let offset = oh * 3_600 + om * 60;
                // Local time = UTC + offset.
                secs -= if sign == b'+' { offset } else { -offset };
            }
            None => {
                return Err(Invalid(
                    "missing time zone (add Z for UTC or an offset like +02:00)",
                ));
            }
            _ => {
                return Err(Invalid(
                    "expected Z or an offset like +02:00 after the time",
                ));
            }
        }
    }
    // i128: a negative second count plus a positive fraction may be in range while the whole
    // seconds alone are not (1677-09-21T00:12:43.145224192Z is i64::MIN).
    let total = i128::from(secs) * i128::from(NANOS_PER_SEC) + i128::from(nanos);
    i64::try_from(total).map_err(|_| DateErr::OutOfRange)
}

/// The number written with `len` ASCII digits at `b[at..]`.
fn digits(b: &[u8], at: usize, len: usize) -> Option<i64> {
    let s = b.get(at..at + len)?;
    if !s.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(s.iter().fold(0, |n, d| n * 10 + i64::from(d - b'0')))
}

fn is_leap(year: i64) -> bool {
    year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's `days_from_civil`).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12; // March = 0
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The text for an error message: at most 40 characters.
fn shorten(text: &str) -> String {
    let mut chars = text.chars();
    let mut s: String = chars.by_ref().take(40).collect();
    if chars.next().is_some() {
        s.push('…');
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_796_119_200_000_000_000; // 2026-12-01T10:00:00Z
    const H: i64 = 3_600 * NANOS_PER_SEC;

    fn ok(text: &str, expected: i64) {
        assert_eq!(parse_time(text, NOW), Ok(expected), "{text}");
    }

    fn invalid(text: &str, reason_part: &str) {
        match parse_time(text, NOW) {
            Err(TimeError::Invalid { reason, .. }) => {
                assert!(reason.contains(reason_part), "{text}: {reason}")
            }
            other => panic!("{text}: expected Invalid, got {other:?}"),
        }
    }

    #[test]
    fn days_from_civil_known_days() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(1969, 12, 31), -1);
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
        assert_eq!(days_from_civil(2026, 12, 1), 20_788);
        assert_eq!(days_from_civil(1600, 1, 1), -135_140);
    }

    #[test]
    fn rfc3339_forms() {
        ok("2026-12-01T10:00:00Z", NOW);
        ok("2026-12-01t10:00:00z", NOW);
        ok("2026-12-01 10:00:00Z", NOW);
        ok("  2026-12-01T10:00:00Z\n", NOW);
        ok("2026-12-01T12:00:00+02:00", NOW);
        ok("2026-12-01T05:30:00-04:30", NOW);
        ok("2026-12-01T10:00:00+00:00", NOW);
        ok("2026-12-01T10:00:00-00:00", NOW);
        ok("2026-12-01T10:00:00.5Z", NOW + 500_000_000);
        ok("2026-12-01T10:00:00.123456789Z", NOW + 123_456_789);
        ok("2026-12-01T10:00:00.1234567891Z", NOW + 123_456_789);
        ok("2026-12-01T12:00:00.001+02:00", NOW + 1_000_000);
        ok("1970-01-01T00:00:00Z", 0);
        ok("1969-12-31T23:59:59Z", -NANOS_PER_SEC);
        ok("2024-02-29T00:00:00Z", 1_709_164_800 * NANOS_PER_SEC);
        ok("2262-04-11T23:47:16.854775807Z", i64::MAX);
        ok("1677-09-21T00:12:43.145224192Z", i64::MIN);
    }

    #[test]
    fn date_only() {
        ok("2026-12-01", NOW - 10 * H);
        ok("1970-01-01", 0);
        ok("2000-03-01", 11_017 * 86_400 * NANOS_PER_SEC);
    }

    #[test]
    fn now_and_relative() {
        ok("now", NOW);
        ok("NOW", NOW);
        ok("-24h", NOW - 24 * H);
        ok("-15m", NOW - 15 * 60 * NANOS_PER_SEC);
        ok("-30s", NOW - 30 * NANOS_PER_SEC);
        ok("-7d", NOW - 7 * 24 * H);
        ok("-2w", NOW - 14 * 24 * H);
        ok("now-1h", NOW - H);
        ok("now+5m", NOW + 5 * 60 * NANOS_PER_SEC);
        ok("Now-0s", NOW);
        ok(" -1h ", NOW - H);
    }

    #[test]
    fn invalid_times() {
        invalid("", "empty");
        invalid("   ", "empty");
        invalid("yesterday", "not a date");
        invalid("1h", "not a date");
        invalid("+1h", "not a date");
        invalid("1733047200000", "expected a date");
        invalid("now1h", "after 'now'");
        invalid("now-", "duration");
        invalid("now-1", "duration");
        invalid("now-1y", "duration");
        invalid("now - 1h", "after 'now'");
        invalid("now- 1h", "duration");
        invalid("-1", "duration");
        invalid("-h", "duration");
        invalid("--1h", "duration");
        invalid("-1é", "duration");
        invalid("2026-13-01", "month");
        invalid("2026-00-01", "month");
        invalid("2026-02-29", "no such day");
        invalid("2026-04-31", "no such day");
        invalid("2026-12-00", "no such day");
        invalid("2026-1a-01", "two-digit month");
        invalid("2026-12-1a", "two-digit day");
        invalid("2026-12-01T1a:00:00Z", "two-digit hour");
        invalid("2026/12/01", "YYYY-MM-DD");
        invalid("2026-12-01T10:00:00", "missing time zone");
        invalid("2026-12-01T10:00Z", "HH:MM:SS");
        invalid("2026-12-01X10:00:00Z", "'T'");
        invalid("2026-12-01T24:00:00Z", "hour");
        invalid("2026-12-01T10:60:00Z", "minutes");
        invalid("2026-12-01T10:00:60Z", "seconds");
        invalid("2026-12-01T10:00:00.Z", "digits after '.'");
        invalid("2026-12-01T10:00:00+2:00", "expected Z or an offset");
        invalid("2026-12-01T10:00:00+02:60", "offset out of range");
        invalid("2026-12-01T10:00:00+0200", "expected Z or an offset");
        invalid("2026-12-01T10:00:00Zjunk", "expected Z or an offset");
        invalid("2026-12-01T10:00:00 UTC", "expected Z or an offset");
        invalid("2026-12-01é", "not a date");
        invalid("é", "not a date");
    }

    #[test]
    fn out_of_range() {
        for text in [
            "2262-04-11T23:47:16.854775808Z",
            "1677-09-21T00:12:43.145224191Z",
            "9999-12-31",
            "0000-01-01",
            "-99999999999w",
            "now+18446744073709551615s",
        ] {
            assert!(
                matches!(parse_time(text, NOW), Err(TimeError::OutOfRange { .. })),
                "{text}: {:?}",
                parse_time(text, NOW)
            );
        }
        assert!(matches!(
            parse_time("now+1s", i64::MAX),
            Err(TimeError::OutOfRange { .. })
        ));
    }

    #[test]
    fn error_messages_name_the_forms() {
        let e = parse_time("tomorrow", NOW)
            .expect_err("tomorrow")
            .to_string();
        assert!(e.starts_with("invalid time 'tomorrow': "), "{e}");
        for form in ["RFC 3339", "2026-12-01", "now", "-24h", "now-1h"] {
            assert!(e.contains(form), "{e}");
        }
        let long = "x".repeat(100);
        let e = parse_time(&long, NOW).expect_err("long");
        assert!(matches!(&e, TimeError::Invalid { text, .. } if text.chars().count() == 41));
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration_secs("1h"), Some(3_600));
        assert_eq!(parse_duration_secs("30m"), Some(1_800));
        assert_eq!(parse_duration_secs("15s"), Some(15));
        assert_eq!(parse_duration_secs("1d"), Some(86_400));
        assert_eq!(parse_duration_secs("1w"), Some(604_800));
        assert_eq!(parse_duration_secs("007m"), Some(420));
        for bad in [
            "",
            "h",
            "0h",
            "00s",
            "10",
            "1y",
            "1H",
            "-1h",
            "+1h",
            " 1h",
            "1h ",
            "1.5h",
            "1 h",
            "1é",
            "é",
            "18446744073709551615m",
        ] {
            assert_eq!(parse_duration_secs(bad), None, "{bad:?}");
        }
    }

    /// Days since 1970-01-01 counted the slow way: whole years, then whole months.
    fn naive_days(year: i64, month: i64, day: i64) -> i64 {
        let year_len = |y| if is_leap(y) { 366 } else { 365 };
        let mut days: i64 = if year >= 1970 {
            (1970..year).map(year_len).sum()
        } else {
            -(year..1970).map(year_len).sum::<i64>()
        };
        days += (1..month).map(|m| days_in_month(year, m)).sum::<i64>();
        days + day - 1
    }

    proptest::proptest! {
        #[test]
        fn rfc3339_matches_a_naive_calendar(
            year in 1678i64..2262,
            month in 1i64..=12,
            day in 1i64..=31,
            hour in 0i64..24,
            minute in 0i64..60,
            second in 0i64..60,
            nanos in 0i64..NANOS_PER_SEC,
            offset_minutes in -(23 * 60 + 59)..=(23 * 60 + 59i64),
        ) {
            let day = day.min(days_in_month(year, month));
            let expected = ((naive_days(year, month, day) * 86_400
                + hour * 3_600
                + minute * 60
                + second
                - offset_minutes * 60)
                * NANOS_PER_SEC)
                + nanos;
            let sign = if offset_minutes < 0 { '-' } else { '+' };
            let off = offset_minutes.abs();
            let text = format!(
                "{year:04}-{month:02}-{day:02}T{hour:02}:{minute:02}:{second:02}.{nanos:09}{sign}{:02}:{:02}",
                off / 60,
                off % 60
            );
            proptest::prop_assert_eq!(parse_time(&text, 0), Ok(expected), "{}", text);
            let date = format!("{year:04}-{month:02}-{day:02}");
            proptest::prop_assert_eq!(
                parse_time(&date, 0),
                Ok(naive_days(year, month, day) * 86_400 * NANOS_PER_SEC),
                "{}",
                date
            );
        }

        #[test]
        fn relative_times_are_offsets_from_now(
            n in 0u64..1_000,
            unit in proptest::sample::select(vec![('s', 1i64), ('m', 60), ('h', 3_600), ('d', 86_400), ('w', 604_800)]),
        ) {
            let (u, secs) = unit;
            let delta = n as i64 * secs * NANOS_PER_SEC;
            proptest::prop_assert_eq!(parse_time(&format!("-{n}{u}"), NOW), Ok(NOW - delta));
            proptest::prop_assert_eq!(parse_time(&format!("now-{n}{u}"), NOW), Ok(NOW - delta));
            proptest::prop_assert_eq!(parse_time(&format!("now+{n}{u}"), NOW), Ok(NOW + delta));
            let expected = if n == 0 { None } else { Some(n * secs as u64) };
            proptest::prop_assert_eq!(parse_duration_secs(&format!("{n}{u}")), expected);
        }
    }
}
