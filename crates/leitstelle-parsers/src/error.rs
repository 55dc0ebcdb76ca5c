//! [`ParseError`]: why a record did not become an event.

/// Why one record could not be parsed. Every variant has a short stable [`kind`] for metrics
/// labels; the message says what was wrong in words, naming the limit when one was hit.
/// Messages quote at most a few bytes of the record (never a whole field).
///
/// [`kind`]: ParseError::kind
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ParseError {
    /// Nothing but whitespace.
    #[error("empty record")]
    Empty,
    /// The record is longer than [`crate::Limits::max_record_bytes`].
    #[error("record of {size} bytes larger than the limit of {limit} bytes (max_record_bytes)")]
    TooLarge { size: usize, limit: usize },
    /// The parsed tree has more fields than [`crate::Limits::max_fields`].
    #[error("more than {limit} fields (max_fields)")]
    TooManyFields { limit: usize },
    /// One key or value is longer than [`crate::Limits::max_field_bytes`].
    #[error(
        "field `{field}` of {size} bytes larger than the limit of {limit} bytes (max_field_bytes)"
    )]
    FieldTooLarge {
        /// The field's key (shortened to 64 bytes).
        field: String,
        size: usize,
        limit: usize,
    },
    /// JSON nested deeper than [`crate::Limits::max_depth`].
    #[error("nested deeper than {limit} levels (max_depth)")]
    TooDeep { limit: usize },
    /// The bytes are not UTF-8 (and [`crate::ParseContext::lossy_utf8`] is off).
    #[error("invalid UTF-8 at byte {offset}")]
    InvalidUtf8 { offset: usize },
    /// JSON syntax error (serde_json's message).
    #[error("invalid JSON: {0}")]
    InvalidJson(String),
    /// Valid JSON that is not an object.
    #[error("not a JSON object but {found}")]
    NotAnObject { found: &'static str },
    /// A line the syslog parser rejected.
    #[error("unparsable syslog line: {0}")]
    Syslog(leitstelle_syslog::SyslogError),
    /// The `CEF:Version|…|Severity|` header is truncated or malformed.
    #[error("invalid CEF header: {0}")]
    CefHeader(String),
    /// The CEF extension (`key=value …`) is malformed.
    #[error("invalid CEF extension: {0}")]
    CefExtension(String),
    /// The `LEEF:Version|…|EventID|` header is truncated or malformed.
    #[error("invalid LEEF header: {0}")]
    LeefHeader(String),
    /// The LEEF attributes are malformed.
    #[error("invalid LEEF attributes: {0}")]
    LeefAttributes(String),
    /// The `type=… msg=audit(time:serial):` header of an auditd record is missing or
    /// malformed.
    #[error("invalid auditd header: {0}")]
    AuditdHeader(String),
    /// The `key=value` body of an auditd record is malformed (an unterminated quote).
    #[error("invalid auditd record: {0}")]
    AuditdSyntax(String),
}

impl ParseError {
    /// Every [`ParseError::kind`], in declaration order (metrics keep one counter each).
    pub const KINDS: &'static [&'static str] = &[
        "empty",
        "too_large",
        "too_many_fields",
        "field_too_large",
        "too_deep",
        "invalid_utf8",
        "invalid_json",
        "not_an_object",
        "syslog",
        "cef_header",
        "cef_extension",
        "leef_header",
        "leef_attributes",
        "auditd_header",
        "auditd_syntax",
    ];

    /// A short stable name of the error's kind, for metrics labels and logs: one of
    /// [`ParseError::KINDS`].
    pub fn kind(&self) -> &'static str {
        Self::KINDS[self.kind_index()]
    }

    pub(crate) fn kind_index(&self) -> usize {
        match self {
            ParseError::Empty => 0,
            ParseError::TooLarge { .. } => 1,
            ParseError::TooManyFields { .. } => 2,
            ParseError::FieldTooLarge { .. } => 3,
            ParseError::TooDeep { .. } => 4,
            ParseError::InvalidUtf8 { .. } => 5,
            ParseError::InvalidJson(_) => 6,
            ParseError::NotAnObject { .. } => 7,
            ParseError::Syslog(_) => 8,
            ParseError::CefHeader(_) => 9,
            ParseError::CefExtension(_) => 10,
            ParseError::LeefHeader(_) => 11,
            ParseError::LeefAttributes(_) => 12,
            ParseError::AuditdHeader(_) => 13,
            ParseError::AuditdSyntax(_) => 14,
        }
    }
}

/// At most `max` bytes of `text` (cut at a character boundary), with `…` when cut: for
/// quoting attacker-controlled text in messages.
pub(crate) fn excerpt(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_string();
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_are_unique_and_indexed() {
        let mut seen = std::collections::HashSet::new();
        for k in ParseError::KINDS {
            assert!(seen.insert(k), "{k}");
        }
        assert_eq!(ParseError::Empty.kind(), "empty");
        assert_eq!(
            ParseError::AuditdSyntax(String::new()).kind(),
            "auditd_syntax"
        );
        assert_eq!(
            ParseError::Syslog(leitstelle_syslog::SyslogError::NoHeader).kind(),
            "syslog"
        );
    }

    #[test]
    fn excerpts_cut_at_char_boundaries() {
        assert_eq!(excerpt("abc", 5), "abc");
        assert_eq!(excerpt("äöü", 3), "ä…");
        assert_eq!(excerpt("abcdef", 3), "abc…");
    }
}
