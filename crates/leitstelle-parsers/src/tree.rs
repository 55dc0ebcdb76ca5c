//! Building and checking event trees: repeated keys, limits.

use serde_json::{Map, Value};

use crate::error::excerpt;
use crate::{Limits, ParseError};

/// Inserts `key = value` into `map`; a key seen before keeps every value, in order, as an
/// array (`k=1 k=2` gives `"k": ["1", "2"]`), so nothing is lost and a Sigma match on `k`
/// tests each.
pub(crate) fn insert(map: &mut Map<String, Value>, key: &str, value: Value) {
    match map.get_mut(key) {
        None => {
            map.insert(key.to_string(), value);
        }
        Some(Value::Array(values)) => values.push(value),
        Some(existing) => {
            let first = existing.take();
            *existing = Value::Array(vec![first, value]);
        }
    }
}

/// Checks a parsed tree against the field limits: at most `max_fields` object members and
/// array elements in all, no key or string longer than `max_field_bytes`, at most
/// `max_depth` levels of nesting. Iterative, so any depth is safe to walk.
pub(crate) fn check(data: &Value, limits: &Limits) -> Result<(), ParseError> {
    let mut fields = 0usize;
    // (value, its key or the key of the array holding it, depth)
    let mut stack: Vec<(&Value, &str, usize)> = vec![(data, "", 0)];
    while let Some((value, key, depth)) = stack.pop() {
        match value {
            Value::Object(map) => {
                if depth + 1 > limits.max_depth {
                    return Err(ParseError::TooDeep {
                        limit: limits.max_depth,
                    });
                }
                fields = fields.saturating_add(map.len());
                if fields > limits.max_fields {
                    return Err(ParseError::TooManyFields {
                        limit: limits.max_fields,
                    });
                }
                for (k, v) in map {
                    if k.len() > limits.max_field_bytes {
                        return Err(field_too_large(k, k.len(), limits));
                    }
                    stack.push((v, k, depth + 1));
                }
            }
            Value::Array(items) => {
                if depth + 1 > limits.max_depth {
                    return Err(ParseError::TooDeep {
                        limit: limits.max_depth,
                    });
                }
                fields = fields.saturating_add(items.len());
                if fields > limits.max_fields {
                    return Err(ParseError::TooManyFields {
                        limit: limits.max_fields,
                    });
                }
                for v in items {
                    stack.push((v, key, depth + 1));
                }
            }
            Value::String(s) if s.len() > limits.max_field_bytes => {
                return Err(field_too_large(key, s.len(), limits));
            }
            _ => {}
        }
    }
    Ok(())
}

pub(crate) fn field_too_large(key: &str, size: usize, limits: &Limits) -> ParseError {
    ParseError::FieldTooLarge {
        field: excerpt(key, 64),
        size,
        limit: limits.max_field_bytes,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn repeated_keys_become_arrays() {
        let mut m = Map::new();
        insert(&mut m, "k", json!("1"));
        insert(&mut m, "k", json!("2"));
        insert(&mut m, "k", json!("3"));
        insert(&mut m, "o", json!("x"));
        assert_eq!(Value::Object(m), json!({"k": ["1", "2", "3"], "o": "x"}));
    }

    #[test]
    fn limits_are_checked() {
        let limits = Limits {
            max_fields: 3,
            max_field_bytes: 4,
            max_depth: 2,
            ..Limits::default()
        };
        assert_eq!(check(&json!({"a": "1234", "b": [1]}), &limits), Ok(()));
        assert_eq!(
            check(&json!({"a": 1, "b": 2, "c": 3, "d": 4}), &limits),
            Err(ParseError::TooManyFields { limit: 3 })
        );
        assert_eq!(
            check(&json!({"a": ["12345"]}), &limits),
            Err(ParseError::FieldTooLarge {
                field: "a".into(),
                size: 5,
                limit: 4
            })
        );
        assert_eq!(
            check(&json!({"abcde": 1}), &limits).map_err(|e| e.kind()),
            Err("field_too_large")
        );
        assert_eq!(
            check(&json!({"a": {"b": {}}}), &limits),
            Err(ParseError::TooDeep { limit: 2 })
        );
    }
}
