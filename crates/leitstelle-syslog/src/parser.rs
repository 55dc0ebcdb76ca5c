//! The line grammar.
//!
//! Everything here slices only at positions returned by `find`, `split_once` and friends or
//! right after an ASCII byte, through `get`/`strip_prefix`, so no input can make it panic.
//! Every loop consumes input, so time is linear in the line length.

use crate::time::{scan_bsd, scan_iso};
use crate::{Facility, Format, SdElement, Severity, SyslogError, SyslogMessage};

/// The RFC 5424 NILVALUE.
const NIL: &str = "-";
const BOM: char = '\u{feff}';

/// Parses one syslog line, RFC 5424 or RFC 3164 (see the crate docs for the accepted shapes).
///
/// A trailing `\n`, `\r\n` or NUL and leading whitespace are ignored. Fails only when the
/// line is empty, starts with a malformed or out-of-range `<PRI>` (`<>`, `<192>`), or has
/// neither a `<PRI>` nor a timestamp.
pub fn parse(line: &str) -> Result<SyslogMessage, SyslogError> {
    let line = line.strip_prefix(BOM).unwrap_or(line);
    let line = line.trim_end_matches(['\n', '\r', '\0']);
    let line = line.trim_start_matches([' ', '\t', '\r', '\n']);
    if line.trim().is_empty() {
        return Err(SyslogError::Empty);
    }
    let (pri, rest) = split_pri(line)?;
    if let Some((version, rest)) = split_version(rest, pri.is_some()) {
        return Ok(parse_rfc5424(pri, version, rest));
    }
    parse_rfc3164(pri, rest)
}

type Pri = (Facility, Severity);

/// `<PRI>` at the start of the line. Anything not of the form `<digits>` is not a PRI
/// (`None`); `<digits>` out of range is an error.
fn split_pri(line: &str) -> Result<(Option<Pri>, &str), SyslogError> {
    let Some(after_lt) = line.strip_prefix('<') else {
        return Ok((None, line));
    };
    let len = after_lt.bytes().take_while(u8::is_ascii_digit).count();
    let (Some(digits), Some(rest)) = (after_lt.get(..len), after_lt.get(len..)) else {
        return Ok((None, line));
    };
    let Some(rest) = rest.strip_prefix('>') else {
        return Ok((None, line));
    };
    let invalid = || {
        let shown = match digits.get(..12) {
            Some(head) if digits.len() > 12 => format!("{head}..."),
            _ => digits.to_string(),
        };
        SyslogError::InvalidPriority(shown)
    };
    if digits.is_empty() || digits.len() > 3 {
        return Err(invalid());
    }
    let value: u8 = digits.parse().map_err(|_| invalid())?;
    match (
        Facility::from_code(value / 8),
        Severity::from_code(value % 8),
    ) {
        (Some(facility), Some(severity)) => Ok((Some((facility, severity)), rest)),
        _ => Err(invalid()),
    }
}

/// The RFC 5424 `VERSION SP` after the PRI: a non-zero number of one to three digits.
/// Without a PRI it must be followed by an RFC 3339 timestamp, so that a stored
/// `1 2003-10-11T22:14:15Z host ...` line is recognised but `42 apples` is not.
fn split_version(rest: &str, has_pri: bool) -> Option<(u8, &str)> {
    let len = rest.bytes().take_while(u8::is_ascii_digit).count();
    if !(1..=3).contains(&len) {
        return None;
    }
    let version: u8 = rest.get(..len)?.parse().ok()?;
    let after = rest.get(len..)?.strip_prefix(' ')?;
    if version == 0 {
        return None;
    }
    if !has_pri {
        scan_iso(after.trim_start_matches(' '))?;
    }
    Some((version, after))
}

/// The next space-separated header field; runs of spaces count as one separator and the
/// NILVALUE or an empty field is `None`.
fn next_field<'a>(rest: &mut &'a str) -> Option<&'a str> {
    let trimmed = rest.trim_start_matches(' ');
    let (field, after) = trimmed.split_once(' ').unwrap_or((trimmed, ""));
    *rest = after;
    (!field.is_empty() && field != NIL).then_some(field)
}

fn parse_rfc5424(pri: Option<Pri>, version: u8, rest: &str) -> SyslogMessage {
    let mut rest = rest;
    let timestamp = next_field(&mut rest);
    let hostname = next_field(&mut rest);
    let app_name = next_field(&mut rest);
    let proc_id = next_field(&mut rest);
    let msg_id = next_field(&mut rest);
    let (structured_data, message) = split_structured_data(rest);
    let message = message.strip_prefix(BOM).unwrap_or(message);
    SyslogMessage {
        facility: pri.map(|(facility, _)| facility),
        severity: pri.map(|(_, severity)| severity),
        version: Some(version),
        timestamp: timestamp.map(str::to_owned),
        hostname: hostname.map(str::to_owned),
        app_name: app_name.map(str::to_owned),
        proc_id: proc_id.map(str::to_owned),
        msg_id: msg_id.map(str::to_owned),
        structured_data,
        message: message.to_owned(),
        format: Format::Rfc5424,
    }
}

/// STRUCTURED-DATA and the MSG after it. Sloppy input is not an error: a missing SD field
/// leaves the rest as message, and SD that does not parse (unterminated, unquoted value)
/// is kept verbatim as the start of the message rather than lost.
fn split_structured_data(rest: &str) -> (Vec<SdElement>, &str) {
    let rest = rest.trim_start_matches(' ');
    if let Some(after) = rest.strip_prefix(NIL) {
        if after.is_empty() {
            return (Vec::new(), "");
        }
        if let Some(message) = after.strip_prefix(' ') {
            return (Vec::new(), message);
        }
        return (Vec::new(), rest);
    }
    if rest.starts_with('[')
        && let Some((elements, after)) = parse_sd_elements(rest)
    {
        return (elements, after.strip_prefix(' ').unwrap_or(after));
    }
    (Vec::new(), rest)
}

/// One or more adjacent `[id name="value" ...]` elements.
fn parse_sd_elements(mut rest: &str) -> Option<(Vec<SdElement>, &str)> {
    let mut elements = Vec::new();
    while let Some(inner) = rest.strip_prefix('[') {
        let (element, after) = parse_sd_element(inner)?;
        elements.push(element);
        rest = after;
    }
    Some((elements, rest))
}

/// The inside of one element, after its `[`, through its `]`.
fn parse_sd_element(s: &str) -> Option<(SdElement, &str)> {
    let id_end = s.find([' ', ']', '"', '='])?;
    let id = s.get(..id_end)?;
    if id.is_empty() {
        return None;
    }
    let mut rest = s.get(id_end..)?;
    let mut params = Vec::new();
    loop {
        rest = rest.trim_start_matches(' ');
        if let Some(after) = rest.strip_prefix(']') {
            let element = SdElement {
                id: id.to_owned(),
                params,
            };
            return Some((element, after));
        }
        let name_end = rest.find(['=', ' ', ']', '"'])?;
        let name = rest.get(..name_end)?;
        if name.is_empty() {
            return None;
        }
        let after_name = rest.get(name_end..)?.strip_prefix('=')?.strip_prefix('"')?;
        let (value, after) = parse_param_value(after_name)?;
        params.push((name.to_owned(), value));
        rest = after;
    }
}

/// A parameter value after its opening quote, through the closing quote. `\"`, `\\` and
/// `\]` are unescaped; any other backslash is kept as written (RFC 5424 section 6.3.3).
fn parse_param_value(s: &str) -> Option<(String, &str)> {
    let mut value = String::new();
    let mut chars = s.char_indices();
    while let Some((index, c)) = chars.next() {
        match c {
            '"' => return Some((value, s.get(index + 1..)?)),
            '\\' => match chars.clone().next() {
                Some((_, escaped @ ('"' | '\\' | ']'))) => {
                    value.push(escaped);
                    chars.next();
                }
                _ => value.push('\\'),
            },
            c => value.push(c),
        }
    }
    None
}

fn parse_rfc3164(pri: Option<Pri>, rest: &str) -> Result<SyslogMessage, SyslogError> {
    let rest = rest.trim_start_matches(' ');
    let stamp = scan_bsd(rest).or_else(|| scan_iso(rest));
    let (timestamp, hostname, rest) = match stamp {
        Some((_, len)) => {
            let timestamp = rest.get(..len);
            let after = rest.get(len..).unwrap_or("").trim_start_matches(' ');
            let (first, after_first) = after.split_once(' ').unwrap_or((after, ""));
            // A tag right after the timestamp means the sender left out the hostname, as
            // local programs writing to /dev/log do.
            if first.is_empty() || split_tag_token(first).is_some() {
                (timestamp, None, after)
            } else {
                (timestamp, Some(first), after_first)
            }
        }
        // RFC 3164 section 4.3.3: with a PRI but no timestamp, the rest is the content.
        None if pri.is_some() => (None, None, rest),
        None => return Err(SyslogError::NoHeader),
    };
    let (app_name, proc_id, message) = split_tag(rest);
    Ok(SyslogMessage {
        facility: pri.map(|(facility, _)| facility),
        severity: pri.map(|(_, severity)| severity),
        version: None,
        timestamp: timestamp.map(str::to_owned),
        hostname: hostname.map(str::to_owned),
        app_name: app_name.map(str::to_owned),
        proc_id: proc_id.map(str::to_owned),
        msg_id: None,
        structured_data: Vec::new(),
        message: message.to_owned(),
        format: Format::Rfc3164,
    })
}

/// `TAG[PID]: MSG`, `TAG: MSG` or `TAG[PID] MSG` at the start of the content; content
/// without such a tag is all message.
fn split_tag(content: &str) -> (Option<&str>, Option<&str>, &str) {
    let (first, rest) = content.split_once(' ').unwrap_or((content, ""));
    match split_tag_token(first) {
        Some((app, pid)) => (Some(app), pid, rest),
        None => (None, None, content),
    }
}

/// A whole space-free token that is a tag: `name:`, `name[pid]:` or `name[pid]`. The name
/// has no `:`, `[` or `]` (so IPv6 addresses and `http://` are not tags); an empty pid is
/// `None`.
fn split_tag_token(token: &str) -> Option<(&str, Option<&str>)> {
    let (tag, has_colon) = match token.strip_suffix(':') {
        Some(tag) => (tag, true),
        None => (token, false),
    };
    let (name, pid) = match tag.strip_suffix(']') {
        Some(head) => {
            let (name, pid) = head.split_once('[')?;
            (name, Some(pid).filter(|pid| !pid.is_empty()))
        }
        None if has_colon => (tag, None),
        None => return None,
    };
    let forbidden = |s: &str| s.contains([':', '[', ']']);
    if name.is_empty() || forbidden(name) || pid.is_some_and(forbidden) {
        return None;
    }
    Some((name, pid))
}
