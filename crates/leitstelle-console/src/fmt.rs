//! Times and durations as analysts read them.

/// A time (ns since the epoch) as `2024-05-01 10:00:00` (UTC).
pub fn time(ns: i64) -> String {
    chrono::DateTime::from_timestamp(ns.div_euclid(1_000_000_000), 0)
        .map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string())
        .unwrap_or_else(|| ns.to_string())
}

/// A duration in seconds as `2d 3h`, `3h 12m`, `4m 05s`, `9s`.
pub fn duration(secs: i64) -> String {
    let s = secs.unsigned_abs();
    let (d, h, m, sec) = (s / 86_400, s / 3600 % 24, s / 60 % 60, s % 60);
    let text = if d > 0 {
        format!("{d}d {h}h")
    } else if h > 0 {
        format!("{h}h {m:02}m")
    } else if m > 0 {
        format!("{m}m {sec:02}s")
    } else {
        format!("{sec}s")
    };
    if secs < 0 { format!("-{text}") } else { text }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_and_durations() {
        assert_eq!(time(1_714_557_600_000_000_000), "2024-05-01 10:00:00");
        assert_eq!(duration(9), "9s");
        assert_eq!(duration(245), "4m 05s");
        assert_eq!(duration(3 * 3600 + 12 * 60), "3h 12m");
        assert_eq!(duration(2 * 86_400 + 3 * 3600), "2d 3h");
        assert_eq!(duration(-61), "-1m 01s");
    }
}
