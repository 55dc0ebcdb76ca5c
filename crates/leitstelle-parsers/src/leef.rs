//! IBM QRadar Log Event Extended Format:
//! `LEEF:1.0|Vendor|Product|Version|EventID|key=value<TAB>key=value…` and
//! `LEEF:2.0|Vendor|Product|Version|EventID|Delimiter|key=value<Delimiter>…`.

use serde_json::{Map, Value};

use crate::error::excerpt;
use crate::{ParseError, kv, parse_timestamp, tree};

/// The names of the header fields in the tree, under `LEEF` (`Delimiter` only for 2.0
/// records that name one).
pub(crate) const HEADER: [&str; 5] = ["Version", "Vendor", "Product", "ProductVersion", "EventID"];

/// Parses a record starting with `LEEF:` into `map`: the header under `LEEF`, the
/// attributes at the top level. Returns the time of `devTime` when it parses.
pub(crate) fn parse(text: &str, map: &mut Map<String, Value>) -> Result<Option<i64>, ParseError> {
    let mut rest = text
        .strip_prefix("LEEF:")
        .ok_or_else(|| ParseError::LeefHeader("does not start with `LEEF:`".into()))?;
    let mut header = Map::new();
    for (n, name) in HEADER.iter().enumerate() {
        let (field, after) = next_field(rest).ok_or_else(|| {
            ParseError::LeefHeader(format!(
                "truncated: {} of the 5 `|`-separated header fields \
                 (Version|Vendor|Product|Version|EventID|)",
                n + 1
            ))
        })?;
        header.insert((*name).to_string(), Value::String(field));
        rest = after;
    }
    let version = header
        .get("Version")
        .and_then(Value::as_str)
        .unwrap_or("")
        .trim();
    let v2 = match version {
        "1.0" | "1" => false,
        "2.0" | "2" => true,
        other => {
            return Err(ParseError::LeefHeader(format!(
                "unsupported version `{}` (1.0 or 2.0)",
                excerpt(other, 16)
            )));
        }
    };
    let mut delimiter = '\t';
    let mut attributes = rest;
    if v2
        && let Some((spec, after)) = rest.split_once('|')
        && let Some(d) = delimiter_spec(spec)?
    {
        delimiter = d;
        attributes = after;
        header.insert("Delimiter".into(), Value::String(spec.to_string()));
    }
    tree::insert(map, "LEEF", Value::Object(header));
    let pairs = split_attributes(attributes, delimiter)?;
    let mut time = None;
    for (key, value) in pairs {
        if key == "devTime" && time.is_none() {
            time = parse_timestamp(&value);
        }
        tree::insert(map, &key, Value::String(value));
    }
    Ok(time)
}

/// The next header field up to an unescaped `|` (`\|` and `\\` unescaped, other
/// backslashes kept), and the text after that `|`.
fn next_field(rest: &str) -> Option<(String, &str)> {
    let mut field = String::new();
    let mut chars = rest.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '\\' => match chars.clone().next() {
                Some((_, e @ ('|' | '\\'))) => {
                    field.push(e);
                    chars.next();
                }
                _ => field.push('\\'),
            },
            '|' => return Some((field, &rest[i + 1..])),
            c => field.push(c),
        }
    }
    None
}

/// The LEEF 2.0 delimiter field: empty (tab), one character (`^`), or its code in hex
/// (`x09`, `0x5E`, `xa6`). `Ok(None)`: not a delimiter field (the attributes start here).
fn delimiter_spec(spec: &str) -> Result<Option<char>, ParseError> {
    let mut chars = spec.chars();
    match (chars.next(), chars.next()) {
        (None, _) => return Ok(Some('\t')),
        (Some(c), None) => return Ok(Some(c)),
        _ => {}
    }
    if spec == "\\t" {
        return Ok(Some('\t'));
    }
    let hex = spec
        .strip_prefix("0x")
        .or_else(|| spec.strip_prefix("0X"))
        .or_else(|| spec.strip_prefix('x'))
        .or_else(|| spec.strip_prefix('X'));
    let Some(hex) =
        hex.filter(|h| (1..=4).contains(&h.len()) && h.bytes().all(|b| b.is_ascii_hexdigit()))
    else {
        return Ok(None);
    };
    let code = u32::from_str_radix(hex, 16).unwrap_or(u32::MAX);
    match char::from_u32(code) {
        Some(c) if c != '=' && code != 0 => Ok(Some(c)),
        _ => Err(ParseError::LeefHeader(format!(
            "delimiter `{}` is not a usable character",
            excerpt(spec, 16)
        ))),
    }
}

/// `key=value` attributes separated by `delimiter`. A piece without a key (no `=`, or
/// whitespace in what would be the key) continues the previous value: the value held the
/// delimiter. Producers that separate LEEF 1.0 attributes by spaces instead of tabs are
/// read like a CEF extension.
fn split_attributes(text: &str, delimiter: char) -> Result<Vec<(String, String)>, ParseError> {
    if delimiter == '\t' && !text.contains('\t') && text.contains('=') {
        let pairs = kv::spaced_pairs(text, false).map_err(|lead| {
            ParseError::LeefAttributes(format!(
                "text before the first attribute: `{}`",
                excerpt(lead.trim(), 32)
            ))
        })?;
        return Ok(pairs
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect());
    }
    let mut pairs: Vec<(String, String)> = Vec::new();
    for piece in text.split(delimiter) {
        if piece.is_empty() {
            continue;
        }
        let keyed = piece
            .split_once('=')
            .filter(|(k, _)| !k.is_empty() && !k.contains(char::is_whitespace));
        match (keyed, pairs.last_mut()) {
            (Some((k, v)), _) => pairs.push((k.to_string(), v.to_string())),
            (None, Some((_, last))) => {
                last.push(delimiter);
                last.push_str(piece);
            }
            (None, None) if piece.trim().is_empty() => {}
            (None, None) => {
                return Err(ParseError::LeefAttributes(format!(
                    "text before the first attribute: `{}`",
                    excerpt(piece.trim(), 32)
                )));
            }
        }
    }
    Ok(pairs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delimiters() {
        assert_eq!(delimiter_spec("^"), Ok(Some('^')));
        assert_eq!(delimiter_spec(""), Ok(Some('\t')));
        assert_eq!(delimiter_spec("x09"), Ok(Some('\t')));
        assert_eq!(delimiter_spec("0x5E"), Ok(Some('^')));
        assert_eq!(delimiter_spec("xa6"), Ok(Some('¦')));
        assert_eq!(delimiter_spec("src=1"), Ok(None));
        assert_eq!(
            delimiter_spec("x0").map_err(|e| e.kind()),
            Err("leef_header")
        );
        assert_eq!(
            delimiter_spec("xD800").map_err(|e| e.kind()),
            Err("leef_header")
        );
    }

    #[test]
    fn attributes() {
        let got = split_attributes("a=1^b=x^y^c=", '^').expect("attributes");
        let want = [("a", "1"), ("b", "x^y"), ("c", "")];
        assert_eq!(
            got,
            want.map(|(k, v)| (k.to_string(), v.to_string())).to_vec()
        );
        assert!(split_attributes("nokey^a=1", '^').is_err());
        let spaced = split_attributes("src=1.2.3.4 msg=a b", '\t').expect("spaced");
        assert_eq!(spaced[1], ("msg".to_string(), "a b".to_string()));
    }
}
