//! ArcSight Common Event Format:
//! `CEF:Version|Device Vendor|Device Product|Device Version|Signature ID|Name|Severity|Extension`.

use std::borrow::Cow;

use serde_json::{Map, Value};

use crate::error::excerpt;
use crate::{ParseError, kv, parse_timestamp, tree};

/// The names of the seven header fields in the tree, under `CEF`.
pub(crate) const HEADER: [&str; 7] = [
    "Version",
    "DeviceVendor",
    "DeviceProduct",
    "DeviceVersion",
    "SignatureID",
    "Name",
    "Severity",
];

/// Parses a record starting with `CEF:` into `map`: the header under `CEF`, the extension
/// keys at the top level. Returns the time of `rt` (receipt time) when it parses.
pub(crate) fn parse(text: &str, map: &mut Map<String, Value>) -> Result<Option<i64>, ParseError> {
    let rest = text
        .strip_prefix("CEF:")
        .ok_or_else(|| ParseError::CefHeader("does not start with `CEF:`".into()))?;
    let (fields, extension) = split_header(rest)?;
    let version = fields[0].trim();
    if version.is_empty() || !version.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ParseError::CefHeader(format!(
            "version `{}` is not a number",
            excerpt(version, 16)
        )));
    }
    let mut header = Map::new();
    for (name, value) in HEADER.iter().zip(fields) {
        header.insert((*name).to_string(), Value::String(value));
    }
    tree::insert(map, "CEF", Value::Object(header));
    let pairs = kv::spaced_pairs(extension, true).map_err(|lead| {
        ParseError::CefExtension(format!(
            "text before the first key: `{}`",
            excerpt(lead.trim(), 32)
        ))
    })?;
    let mut time = None;
    for (key, raw) in pairs {
        let value = unescape_value(raw);
        if key == "rt" && time.is_none() {
            time = parse_timestamp(&value);
        }
        tree::insert(map, key, Value::String(value.into_owned()));
    }
    Ok(time)
}

/// The seven header fields (unescaped) and the extension after them. Only `\|` and `\\`
/// are escapes in the header; any other backslash is an error, since a header written with
/// broken escaping cannot be split with confidence. A header whose severity is not followed
/// by `|` (no extension at all) is accepted.
fn split_header(rest: &str) -> Result<(Vec<String>, &str), ParseError> {
    let mut fields: Vec<String> = Vec::with_capacity(7);
    let mut cur = String::new();
    let mut chars = rest.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some((_, e @ ('|' | '\\'))) => cur.push(e),
                Some((_, other)) => {
                    return Err(ParseError::CefHeader(format!(
                        "invalid escape `\\{other}` in the {} field (only `\\|` and `\\\\`)",
                        HEADER[fields.len()]
                    )));
                }
                None => {
                    return Err(ParseError::CefHeader(
                        "ends with an unfinished escape `\\`".into(),
                    ));
                }
            },
            '|' => {
                fields.push(std::mem::take(&mut cur));
                if fields.len() == HEADER.len() {
                    return Ok((fields, &rest[i + 1..]));
                }
            }
            c => cur.push(c),
        }
    }
    if fields.len() == HEADER.len() - 1 {
        fields.push(cur);
        return Ok((fields, ""));
    }
    Err(ParseError::CefHeader(format!(
        "truncated: {} of the 7 `|`-separated header fields (Version|Device Vendor|Device \
         Product|Device Version|Signature ID|Name|Severity|)",
        fields.len() + 1
    )))
}

/// Unescapes an extension value: `\=`, `\\`, `\|` (tolerated, though pipes need no escape
/// in the extension), `\n` and `\r`. Any other backslash is kept as written: producers that
/// do not escape Windows paths (`C:\Windows`) are common.
fn unescape_value(raw: &str) -> Cow<'_, str> {
    if !raw.contains('\\') {
        return Cow::Borrowed(raw);
    }
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some(e @ ('=' | '\\' | '|')) => out.push(e),
            Some('n') => out.push('\n'),
            Some('r') => out.push('\r'),
            Some(other) => {
                out.push('\\');
                out.push(other);
            }
            None => out.push('\\'),
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn value_escapes() {
        assert_eq!(unescape_value(r"a\=b\\c\nd\re\|f"), "a=b\\c\nd\re|f");
        assert_eq!(unescape_value(r"C:\Windows\x\"), r"C:\Windows\x\");
        assert!(matches!(unescape_value("plain"), Cow::Borrowed("plain")));
    }

    #[test]
    fn header_split() {
        let (fields, ext) = split_header(r"0|a\|b|c\\|1|id|name|5|x=1").expect("header");
        assert_eq!(fields, ["0", "a|b", "c\\", "1", "id", "name", "5"]);
        assert_eq!(ext, "x=1");
        let (fields, ext) = split_header("0|a|b|1|id|name|5").expect("no extension");
        assert_eq!((fields[6].as_str(), ext), ("5", ""));
        assert_eq!(
            split_header("0|a|b").map_err(|e| e.kind()),
            Err("cef_header")
        );
        assert_eq!(
            split_header(r"0|a\tb|").map_err(|e| e.kind()),
            Err("cef_header")
        );
        assert_eq!(
            split_header("0|a\\").map_err(|e| e.kind()),
            Err("cef_header")
        );
    }
}
