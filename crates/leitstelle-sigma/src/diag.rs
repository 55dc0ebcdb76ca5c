//! Diagnostics: why a rule (or part of one) could not be used.
//!
//! Every diagnostic has a stable code, the file, a 1-based line and column where known, a
//! message and an optional help text. Printed like rustc (`error[S004]: …`), serialisable to
//! JSON.

use std::fmt;

use serde::Serialize;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// The rule was not loaded.
    Error,
    /// The rule loaded; something about it deserves attention.
    Warning,
    /// The rule was skipped on purpose (deprecated, unsupported folder, filtered by status).
    Skipped,
}

/// Stable diagnostic codes. The number never changes meaning.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub enum Code {
    /// The file is not valid YAML.
    S001InvalidYaml,
    /// The document is not a Sigma rule (no mapping, no `detection`, no `title`, …).
    S002NotARule,
    /// The `condition` is missing or has a syntax error.
    S003Condition,
    /// The condition names a search identifier that is not defined.
    S004UnknownIdentifier,
    /// An unknown value modifier.
    S005UnknownModifier,
    /// A modifier cannot be applied to this value or combination.
    S006InvalidModifierValue,
    /// `expand` names a placeholder with no definition.
    S007UnknownPlaceholder,
    /// Deprecated aggregation syntax (`| count() by …`) in a condition.
    S008Aggregation,
    /// Skipped: in a `deprecated` or `unsupported` folder, or with such a status.
    S009Skipped,
    /// A filter or correlation names a rule that is not loaded.
    S010UnknownRuleReference,
    /// An invalid correlation rule.
    S011Correlation,
    /// A detection value of the wrong type (a map where a value is expected, …).
    S012InvalidValue,
    /// A second rule with an id already loaded.
    S013DuplicateId,
    /// An invalid filter rule.
    S014Filter,
    /// An invalid regular expression.
    S015Regex,
}

impl Code {
    pub fn as_str(self) -> &'static str {
        match self {
            Code::S001InvalidYaml => "S001",
            Code::S002NotARule => "S002",
            Code::S003Condition => "S003",
            Code::S004UnknownIdentifier => "S004",
            Code::S005UnknownModifier => "S005",
            Code::S006InvalidModifierValue => "S006",
            Code::S007UnknownPlaceholder => "S007",
            Code::S008Aggregation => "S008",
            Code::S009Skipped => "S009",
            Code::S010UnknownRuleReference => "S010",
            Code::S011Correlation => "S011",
            Code::S012InvalidValue => "S012",
            Code::S013DuplicateId => "S013",
            Code::S014Filter => "S014",
            Code::S015Regex => "S015",
        }
    }

    /// A short reason, used to group skipped rules in summaries.
    pub fn reason(self) -> &'static str {
        match self {
            Code::S001InvalidYaml => "invalid YAML",
            Code::S002NotARule => "not a Sigma rule",
            Code::S003Condition => "condition syntax",
            Code::S004UnknownIdentifier => "unknown search identifier",
            Code::S005UnknownModifier => "unknown modifier",
            Code::S006InvalidModifierValue => "invalid modifier value",
            Code::S007UnknownPlaceholder => "unknown placeholder",
            Code::S008Aggregation => "deprecated aggregation",
            Code::S009Skipped => "deprecated/unsupported",
            Code::S010UnknownRuleReference => "unknown rule reference",
            Code::S011Correlation => "invalid correlation",
            Code::S012InvalidValue => "invalid value",
            Code::S013DuplicateId => "duplicate id",
            Code::S014Filter => "invalid filter",
            Code::S015Regex => "invalid regex",
        }
    }
}

impl Serialize for Diagnostic {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut st = s.serialize_struct("Diagnostic", 7)?;
        st.serialize_field("severity", &self.severity)?;
        st.serialize_field("code", self.code.as_str())?;
        st.serialize_field("file", &self.file)?;
        st.serialize_field("line", &self.line)?;
        st.serialize_field("col", &self.col)?;
        st.serialize_field("message", &self.message)?;
        st.serialize_field("help", &self.help)?;
        st.end()
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnostic {
    pub severity: Severity,
    pub code: Code,
    pub file: String,
    pub line: usize,
    pub col: usize,
    pub message: String,
    pub help: Option<String>,
}

impl Diagnostic {
    pub fn error(code: Code, line: usize, col: usize, message: impl Into<String>) -> Self {
        Diagnostic {
            severity: Severity::Error,
            code,
            file: String::new(),
            line,
            col,
            message: message.into(),
            help: None,
        }
    }

    pub fn warning(code: Code, line: usize, col: usize, message: impl Into<String>) -> Self {
        Diagnostic {
            severity: Severity::Warning,
            ..Diagnostic::error(code, line, col, message)
        }
    }

    pub fn with_help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    pub fn in_file(mut self, file: &str) -> Self {
        self.file = file.to_string();
        self
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sev = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Skipped => "skipped",
        };
        writeln!(f, "{sev}[{}]: {}", self.code.as_str(), self.message)?;
        write!(f, "  --> {}:{}:{}", self.file, self.line, self.col)?;
        if let Some(help) = &self.help {
            write!(f, "\n  = help: {help}")?;
        }
        Ok(())
    }
}
