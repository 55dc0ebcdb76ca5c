//! Linux audit records:
//! `[node=NAME ]type=TYPE msg=audit(SECONDS.MILLIS:SERIAL): key=value …[\x1dKEY=value …]`.

use serde_json::{Map, Value};

use crate::error::excerpt;
use crate::{ParseError, tree};

/// Keys whose unquoted values are hex-encoded untrusted strings (the kernel and libaudit
/// quote such a string when it is safe and hex-encode it otherwise: spaces, quotes, control
/// characters, non-ASCII). In `EXECVE` records the arguments `a0`, `a1`, … are too.
const HEX_KEYS: &[&str] = &[
    "acct",
    "cmd",
    "comm",
    "cwd",
    "data",
    "dir",
    "exe",
    "file",
    "key",
    "name",
    "ocomm",
    "path",
    "proctitle",
    "watch",
];

/// Whether `text` starts like an audit record: optional `node=…` words, `type=…`, then
/// `msg=audit(` or `audit(` (the kernel's own printk form).
pub(crate) fn sniff(text: &str) -> bool {
    let mut rest = text.trim_start();
    while let Some(after) = rest.strip_prefix("node=") {
        rest = token(after).1.trim_start();
    }
    let Some(after) = rest.strip_prefix("type=") else {
        return false;
    };
    let after = token(after).1.trim_start();
    after.starts_with("msg=audit(") || after.starts_with("audit(")
}

/// Parses one record into `map`; returns its time (from `audit(…)`).
pub(crate) fn parse(text: &str, map: &mut Map<String, Value>) -> Result<Option<i64>, ParseError> {
    let mut rest = text.trim_start();
    while let Some(after) = rest.strip_prefix("node=") {
        let (node, after) = token(after);
        tree::insert(map, "node", Value::String(node.to_string()));
        rest = after.trim_start();
    }
    let after = rest
        .strip_prefix("type=")
        .ok_or_else(|| ParseError::AuditdHeader("expected `type=` at the start".into()))?;
    let (record_type, after) = token(after);
    if record_type.is_empty() {
        return Err(ParseError::AuditdHeader("empty `type=`".into()));
    }
    tree::insert(map, "type", Value::String(record_type.to_string()));
    let after = after.trim_start();
    let inside = after
        .strip_prefix("msg=audit(")
        .or_else(|| after.strip_prefix("audit("))
        .ok_or_else(|| {
            ParseError::AuditdHeader("expected `msg=audit(seconds.millis:serial)`".into())
        })?;
    let close = inside
        .find(')')
        .ok_or_else(|| ParseError::AuditdHeader("unterminated `audit(`".into()))?;
    let stamp = &inside[..close];
    let (time_text, serial) = stamp
        .split_once(':')
        .filter(|(t, s)| !t.is_empty() && !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
        .ok_or_else(|| bad_stamp(stamp))?;
    let time = epoch_nanos(time_text).ok_or_else(|| bad_stamp(stamp))?;
    let mut audit = Map::new();
    audit.insert("time".into(), Value::String(time_text.to_string()));
    audit.insert("serial".into(), Value::String(serial.to_string()));
    tree::insert(map, "audit", Value::Object(audit));
    let body = &inside[close + 1..];
    let body = body.strip_prefix(':').unwrap_or(body);
    // Enriched logs (`log_format = ENRICHED`) append the interpreted values after a GS
    // (0x1d) byte: `\x1dARCH=x86_64 SYSCALL=openat AUID="alice" …`.
    let (main, enriched) = match body.split_once('\x1d') {
        Some((main, enriched)) => (main, Some(enriched)),
        None => (body, None),
    };
    let mut words = Vec::new();
    fields(main, record_type, true, map, &mut words)?;
    if let Some(enriched) = enriched {
        // More GS bytes would be a malformed record; read them as spaces.
        let enriched = enriched.replace('\x1d', " ");
        fields(&enriched, record_type, false, map, &mut words)?;
    }
    if !words.is_empty() {
        tree::insert(map, "text", Value::String(words.join(" ")));
    }
    Ok(Some(time))
}

fn bad_stamp(stamp: &str) -> ParseError {
    ParseError::AuditdHeader(format!(
        "`audit({})` is not `audit(seconds.millis:serial)`",
        excerpt(stamp, 40)
    ))
}

/// `SECONDS[.FRACTION]` as nanoseconds since the epoch.
fn epoch_nanos(text: &str) -> Option<i64> {
    let (secs, frac) = text.split_once('.').unwrap_or((text, ""));
    if secs.is_empty() || !secs.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    if !frac.bytes().all(|b| b.is_ascii_digit()) || frac.len() > 9 {
        return None;
    }
    let secs: i64 = secs.parse().ok()?;
    let mut nanos: i64 = 0;
    let mut scale = 100_000_000;
    for b in frac.bytes() {
        nanos += i64::from(b - b'0') * scale;
        scale /= 10;
    }
    secs.checked_mul(1_000_000_000)?.checked_add(nanos)
}

/// The next whitespace-free token and the rest after it.
fn token(s: &str) -> (&str, &str) {
    let end = s.find([' ', '\t']).unwrap_or(s.len());
    (&s[..end], &s[end..])
}

/// The `key=value` fields of a record body. Values are `"quoted"`, `'quoted'` or bare;
/// the `msg='…'` of user-space records (`USER_LOGIN`, `SERVICE_STOP`, …) is kept as `msg`
/// and its own fields are read into the same map (`nested`). Words that are not
/// `key=value` (`avc:  denied  { read } for`) are collected in `words`.
fn fields(
    text: &str,
    record_type: &str,
    nested: bool,
    map: &mut Map<String, Value>,
    words: &mut Vec<String>,
) -> Result<(), ParseError> {
    let mut s = text;
    loop {
        s = s.trim_start_matches([' ', '\t']);
        if s.is_empty() {
            return Ok(());
        }
        let end = s.find(['=', ' ', '\t']).unwrap_or(s.len());
        if end == 0 || !s[end..].starts_with('=') {
            let (word, after) = token(s);
            words.push(word.to_string());
            s = after;
            continue;
        }
        let key = &s[..end];
        let v = &s[end + 1..];
        let (value, after) = match v.chars().next() {
            Some(q @ ('"' | '\'')) => {
                let inner = &v[1..];
                let close = inner.find(q).ok_or_else(|| {
                    ParseError::AuditdSyntax(format!(
                        "unterminated quote in the value of `{}`",
                        excerpt(key, 32)
                    ))
                })?;
                let value = &inner[..close];
                let after = &inner[close + 1..];
                if q == '\'' && key == "msg" && nested {
                    tree::insert(map, "msg", Value::String(value.to_string()));
                    fields(value, record_type, false, map, words)?;
                    s = after;
                    continue;
                }
                (value.to_string(), after)
            }
            _ => {
                let (tok, after) = token(v);
                (decode(key, tok, record_type), after)
            }
        };
        s = after;
        match arg_part(key).filter(|_| record_type == "EXECVE") {
            // `a1[0]=… a1[1]=…`: one long argument logged in parts, joined back into `a1`.
            Some(base) => match map.get_mut(base) {
                Some(Value::String(joined)) => joined.push_str(&value),
                _ => tree::insert(map, base, Value::String(value)),
            },
            None => tree::insert(map, key, Value::String(value)),
        }
    }
}

/// `a1` for `a1[0]`: the argument a part of a long `EXECVE` argument belongs to.
fn arg_part(key: &str) -> Option<&str> {
    let (base, index) = key.split_once('[')?;
    let index = index.strip_suffix(']')?;
    (is_arg(base) && !index.is_empty() && index.bytes().all(|b| b.is_ascii_digit())).then_some(base)
}

/// `a0`, `a1`, …
fn is_arg(key: &str) -> bool {
    key.strip_prefix('a')
        .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

/// An unquoted value: hex-decoded when the key holds untrusted strings and the value is
/// hex; `proctitle`'s NUL separators become spaces. Anything else as written (`(null)`,
/// `?`, numbers, the hex syscall arguments `a0`… of `SYSCALL` records).
fn decode(key: &str, value: &str, record_type: &str) -> String {
    let untrusted = HEX_KEYS.contains(&key)
        || (record_type == "EXECVE" && (is_arg(key) || arg_part(key).is_some()));
    if !untrusted || value.len() < 2 || !value.len().is_multiple_of(2) {
        return value.to_string();
    }
    let Some(bytes) = hex(value) else {
        return value.to_string();
    };
    let text = String::from_utf8_lossy(&bytes);
    if key == "proctitle" {
        text.replace('\0', " ").trim_end().to_string()
    } else {
        text.into_owned()
    }
}

fn hex(value: &str) -> Option<Vec<u8>> {
    let digit = |b: u8| (b as char).to_digit(16);
    value
        .as_bytes()
        .chunks(2)
        .map(|pair| match pair {
            [hi, lo] => Some((digit(*hi)? * 16 + digit(*lo)?) as u8),
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sniffing() {
        assert!(sniff("type=SYSCALL msg=audit(1.2:3): a=b"));
        assert!(sniff("node=h1 type=1300 audit(1.2:3): a=b"));
        assert!(!sniff("type=SYSCALL hello"));
        assert!(!sniff("Jan  1 type=SYSCALL msg=audit(1.2:3)"));
    }

    #[test]
    fn hex_values() {
        assert_eq!(
            decode("proctitle", "2F62696E2F7368002D63006964", "PROCTITLE"),
            "/bin/sh -c id"
        );
        assert_eq!(decode("a1", "2D6C61", "EXECVE"), "-la");
        assert_eq!(decode("a1", "7fffd19c5592", "SYSCALL"), "7fffd19c5592");
        assert_eq!(decode("key", "(null)", "SYSCALL"), "(null)");
        assert_eq!(decode("name", "ABC", "PATH"), "ABC");
        assert_eq!(decode("comm", "FF", "SYSCALL"), "\u{fffd}");
    }

    #[test]
    fn times() {
        assert_eq!(
            epoch_nanos("1364481363.243"),
            Some(1_364_481_363_243_000_000)
        );
        assert_eq!(epoch_nanos("1"), Some(1_000_000_000));
        assert_eq!(epoch_nanos("1.x"), None);
        assert_eq!(epoch_nanos("99999999999999999999"), None);
        assert_eq!(epoch_nanos(".5"), None);
    }
}
