//! Timestamp recognition and conversion to Unix nanoseconds.
//!
//! The scanners check the shape of a timestamp at the start of a string and report how many
//! bytes it spans; the calendar check happens only in [`to_unix_nanos`], so a line with an
//! impossible date (`Feb 30`) still parses, with a timestamp that converts to `None`.

use chrono::NaiveDate;

/// The fields of a timestamp, unchecked beyond their digit counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Parts {
    pub(crate) year: Option<i32>,
    pub(crate) month: u32,
    pub(crate) day: u32,
    pub(crate) hour: u32,
    pub(crate) minute: u32,
    pub(crate) second: u32,
    pub(crate) nanos: u32,
    /// Seconds east of UTC; `None` when the timestamp has no zone.
    pub(crate) offset_secs: Option<i32>,
}

const MONTHS: [&[u8; 3]; 12] = [
    b"jan", b"feb", b"mar", b"apr", b"may", b"jun", b"jul", b"aug", b"sep", b"oct", b"nov", b"dec",
];

/// A cursor over the bytes of a `&str`. It only ever advances past ASCII bytes, so every
/// position it reports is a char boundary.
struct Scanner<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl Scanner<'_> {
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    fn eat(&mut self, byte: u8) -> bool {
        let matched = self.peek() == Some(byte);
        if matched {
            self.pos += 1;
        }
        matched
    }

    fn eat_any(&mut self, set: &[u8]) -> Option<u8> {
        let byte = self.peek().filter(|b| set.contains(b))?;
        self.pos += 1;
        Some(byte)
    }

    fn spaces(&mut self) -> usize {
        let start = self.pos;
        while self.eat(b' ') {}
        self.pos - start
    }

    /// Between `min` and `max` (at most 9) ASCII digits as a number.
    fn digits(&mut self, min: usize, max: usize) -> Option<u32> {
        let mut value = 0u32;
        let mut count = 0;
        while count < max {
            match self.peek() {
                Some(byte @ b'0'..=b'9') => {
                    value = value * 10 + u32::from(byte - b'0');
                    count += 1;
                    self.pos += 1;
                }
                _ => break,
            }
        }
        (count >= min).then_some(value)
    }

    /// An optional `.fraction`, any number of digits, as nanoseconds (extra digits are cut).
    fn fraction(&mut self) -> Option<u32> {
        let start = self.pos;
        if !self.eat(b'.') {
            return Some(0);
        }
        let mut nanos = 0u32;
        let mut count = 0;
        while let Some(byte @ b'0'..=b'9') = self.peek() {
            if count < 9 {
                nanos = nanos * 10 + u32::from(byte - b'0');
            }
            count += 1;
            self.pos += 1;
        }
        if count == 0 {
            self.pos = start;
            return None;
        }
        for _ in count..9 {
            nanos *= 10;
        }
        Some(nanos)
    }

    /// `hh:mm:ss[.fraction]`; the hour may have one digit (`9:05:01`).
    fn time(&mut self, parts: &mut Parts) -> Option<()> {
        parts.hour = self.digits(1, 2)?;
        self.eat(b':').then_some(())?;
        parts.minute = self.digits(2, 2)?;
        self.eat(b':').then_some(())?;
        parts.second = self.digits(2, 2)?;
        parts.nanos = self.fraction()?;
        Some(())
    }

    /// The timestamp must end at the end of the input or before a space.
    fn at_boundary(&self) -> bool {
        matches!(self.peek(), None | Some(b' '))
    }
}

/// An RFC 3339 timestamp at the start of `s`, leniently: `t`/`z` in lower case, a space
/// instead of `T`, no zone, an offset without colon (`+0100`) or minutes (`+01`).
pub(crate) fn scan_iso(s: &str) -> Option<(Parts, usize)> {
    let mut sc = Scanner {
        bytes: s.as_bytes(),
        pos: 0,
    };
    let mut parts = Parts {
        year: None,
        month: 0,
        day: 0,
        hour: 0,
        minute: 0,
        second: 0,
        nanos: 0,
        offset_secs: None,
    };
    parts.year = Some(i32::try_from(sc.digits(4, 4)?).ok()?);
    sc.eat(b'-').then_some(())?;
    parts.month = sc.digits(2, 2)?;
    sc.eat(b'-').then_some(())?;
    parts.day = sc.digits(2, 2)?;
    sc.eat_any(b"Tt ")?;
    sc.time(&mut parts)?;
    if sc.eat_any(b"Zz").is_some() {
        parts.offset_secs = Some(0);
    } else if let Some(sign) = sc.eat_any(b"+-") {
        let hours = sc.digits(2, 2)?;
        let minutes = if sc.eat(b':') {
            sc.digits(2, 2)?
        } else {
            let before = sc.pos;
            sc.digits(2, 2).unwrap_or_else(|| {
                sc.pos = before;
                0
            })
        };
        if hours > 23 || minutes > 59 {
            return None;
        }
        let secs = i32::try_from(hours * 3600 + minutes * 60).ok()?;
        parts.offset_secs = Some(if sign == b'-' { -secs } else { secs });
    }
    sc.at_boundary().then_some((parts, sc.pos))
}

/// A BSD timestamp at the start of `s`: `Mmm dd hh:mm:ss`, the day space- or zero-padded,
/// leniently with any case for the month, a fraction of a second, or a year before the time
/// (`Jan  5 2024 10:00:00`).
pub(crate) fn scan_bsd(s: &str) -> Option<(Parts, usize)> {
    let bytes = s.as_bytes();
    let month = bytes.get(..3)?.to_ascii_lowercase();
    let month = MONTHS.iter().position(|m| m[..] == month[..])?;
    let mut sc = Scanner { bytes, pos: 3 };
    let mut parts = Parts {
        year: None,
        month: u32::try_from(month).ok()? + 1,
        day: 0,
        hour: 0,
        minute: 0,
        second: 0,
        nanos: 0,
        offset_secs: None,
    };
    (sc.spaces() > 0).then_some(())?;
    parts.day = sc.digits(1, 2)?;
    (sc.spaces() > 0).then_some(())?;
    let before_year = sc.pos;
    match sc.digits(4, 4) {
        Some(year) if sc.spaces() > 0 => parts.year = Some(i32::try_from(year).ok()?),
        _ => sc.pos = before_year,
    }
    sc.time(&mut parts)?;
    sc.at_boundary().then_some((parts, sc.pos))
}

/// Converts a timestamp as written into Unix nanoseconds (UTC).
pub(crate) fn to_unix_nanos(timestamp: &str, year_hint: i32) -> Option<i64> {
    let timestamp = timestamp.trim_matches(' ');
    let (parts, len) = scan_iso(timestamp).or_else(|| scan_bsd(timestamp))?;
    if len != timestamp.len() {
        return None;
    }
    let date = NaiveDate::from_ymd_opt(parts.year.unwrap_or(year_hint), parts.month, parts.day)?;
    // chrono represents a leap second as second 59 with nanoseconds past one billion.
    let (second, nanos) = match parts.second {
        60 => (59, parts.nanos.checked_add(1_000_000_000)?),
        second => (second, parts.nanos),
    };
    let local = date
        .and_hms_nano_opt(parts.hour, parts.minute, second, nanos)?
        .and_utc()
        .timestamp_nanos_opt()?;
    let offset = i64::from(parts.offset_secs.unwrap_or(0)).checked_mul(1_000_000_000)?;
    local.checked_sub(offset)
}
