//! `key=value key=value` text whose values may contain spaces (the CEF extension).

/// Whether a byte may be part of a key: ASCII letters, digits, `_`, `.`, `-`, `[` and `]`
/// (`cs1Label`, `ad.user`, `ad.Sub[0]`).
fn is_key_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-' | b'[' | b']')
}

/// Splits `text` into `(key, raw value)` pairs.
///
/// A key is a run of key bytes right after the start of the text or a space (or tab) and
/// right before an `=`; with `escapes`, an `=` after a backslash (`\=`) is part of a value,
/// as is every other `=` that does not follow such a key (`url=http://x/?a=1` is one pair).
/// A value runs up to the space before the next key, trailing spaces dropped; it may
/// contain spaces. Returns the text before the first key as the error when it is not blank.
///
/// Linear in the text: each backwards scan for a key stops at the previous `=`.
pub(crate) fn spaced_pairs(text: &str, escapes: bool) -> Result<Vec<(&str, &str)>, &str> {
    let b = text.as_bytes();
    // (key start, position of its `=`)
    let mut keys: Vec<(usize, usize)> = Vec::new();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'\\' if escapes => {
                i += 2;
                continue;
            }
            b'=' => {
                let mut k = i;
                while k > 0 && is_key_byte(b[k - 1]) {
                    k -= 1;
                }
                let after_separator = k == 0 || matches!(b[k - 1], b' ' | b'\t');
                if k < i && after_separator {
                    keys.push((k, i));
                }
            }
            _ => {}
        }
        i += 1;
    }
    let first = keys.first().map_or(b.len(), |&(k, _)| k);
    // Key starts and `=` are at ASCII bytes, so every slice below is at a char boundary.
    let lead = &text[..first];
    if !lead.trim().is_empty() {
        return Err(lead);
    }
    let mut pairs = Vec::with_capacity(keys.len());
    for (n, &(k, eq)) in keys.iter().enumerate() {
        let end = keys.get(n + 1).map_or(b.len(), |&(next, _)| next);
        let value = text[eq + 1..end].trim_end_matches([' ', '\t']);
        pairs.push((&text[k..eq], value));
    }
    Ok(pairs)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(text: &str) -> Vec<(&str, &str)> {
        spaced_pairs(text, true).expect("pairs")
    }

    #[test]
    fn values_keep_spaces_and_unkeyed_equals() {
        assert_eq!(
            pairs("src=10.0.0.1 msg=User logged in  request=http://x/?a=1&b=2 act=blocked "),
            [
                ("src", "10.0.0.1"),
                ("msg", "User logged in"),
                ("request", "http://x/?a=1&b=2"),
                ("act", "blocked"),
            ]
        );
        assert_eq!(
            pairs(r"a=x\=y b= c=\\=d"),
            [("a", r"x\=y"), ("b", ""), ("c", r"\\=d")]
        );
        assert_eq!(pairs("  "), []);
        assert_eq!(
            pairs("ad.Sub[0]=1\tcs1Label=x"),
            [("ad.Sub[0]", "1"), ("cs1Label", "x")]
        );
    }

    #[test]
    fn text_before_the_first_key_is_an_error() {
        assert_eq!(spaced_pairs("junk here a=1", true), Err("junk here "));
        assert_eq!(spaced_pairs("no pairs", true), Err("no pairs"));
        assert_eq!(spaced_pairs("=x", true), Err("=x"));
    }
}
