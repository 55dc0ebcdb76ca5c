//! One JSON object per record.

use serde_json::Value;

use crate::{Limits, ParseError};

/// Parses one JSON object. serde_json stops at its own recursion limit (128 levels), so
/// deep input cannot overflow the stack; when it fails, the nesting is measured so that a
/// record deeper than `max_depth` is a [`ParseError::TooDeep`], not serde's recursion error.
/// A parsed record deeper than `max_depth` (but within serde's limit) is caught by the tree
/// check after parsing. Measuring only on failure keeps a byte-by-byte pass off every good
/// record.
pub(crate) fn parse(text: &str, limits: &Limits) -> Result<Value, ParseError> {
    match serde_json::from_str::<Value>(text) {
        Ok(data @ Value::Object(_)) => Ok(data),
        Ok(other) => Err(ParseError::NotAnObject {
            found: kind_of(&other),
        }),
        Err(_) if nesting(text.as_bytes()) > limits.max_depth => Err(ParseError::TooDeep {
            limit: limits.max_depth,
        }),
        Err(e) => Err(ParseError::InvalidJson(e.to_string())),
    }
}

/// The deepest nesting of `{` and `[` outside strings (the root object counts 1). Stops
/// counting at the first unbalanced closer; syntax errors are serde_json's to report.
fn nesting(bytes: &[u8]) -> usize {
    let (mut depth, mut max) = (0usize, 0usize);
    let mut in_string = false;
    let mut escaped = false;
    for &b in bytes {
        if in_string {
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                in_string = false;
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'{' | b'[' => {
                depth += 1;
                max = max.max(depth);
            }
            b'}' | b']' => match depth.checked_sub(1) {
                Some(d) => depth = d,
                None => break,
            },
            _ => {}
        }
    }
    max
}

/// What kind of JSON value this is, for messages ("an array", "a string", …).
pub fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nesting_ignores_brackets_in_strings() {
        assert_eq!(nesting(br#"{"a": "[[[{{{", "b": [{"c": "\"]"}]}"#), 3);
        assert_eq!(nesting(b"{}"), 1);
        assert_eq!(nesting(b"}}}{"), 0);
    }

    #[test]
    fn objects_only() {
        let limits = Limits::default();
        assert_eq!(
            parse("[1]", &limits),
            Err(ParseError::NotAnObject { found: "an array" })
        );
        assert_eq!(
            parse("{} x", &limits).map_err(|e| e.kind()),
            Err("invalid_json")
        );
        assert!(parse(r#"{"a": 1}"#, &limits).is_ok());
    }
}
