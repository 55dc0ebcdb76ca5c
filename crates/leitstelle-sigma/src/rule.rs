//! Sigma rules: the parsed form of detection, filter and correlation rules, and how a YAML
//! document becomes one.

use std::fmt;

use crate::condition::{self, Cond, Quant};
use crate::diag::{Code, Diagnostic};
use crate::value::{
    self, Cmp, Matcher, Pattern, Piece, Placeholders, RefKind, TimePart, ValueError, Work,
};
use crate::yaml::{Kind, Node};

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    Informational,
    Low,
    Medium,
    High,
    Critical,
}

impl Level {
    pub fn parse(s: &str) -> Option<Level> {
        Some(match s.to_ascii_lowercase().as_str() {
            "informational" | "info" => Level::Informational,
            "low" => Level::Low,
            "medium" => Level::Medium,
            "high" => Level::High,
            "critical" => Level::Critical,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Level::Informational => "informational",
            Level::Low => "low",
            Level::Medium => "medium",
            Level::High => "high",
            Level::Critical => "critical",
        }
    }

    pub const ALL: [Level; 5] = [
        Level::Informational,
        Level::Low,
        Level::Medium,
        Level::High,
        Level::Critical,
    ];
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct RuleLogsource {
    pub product: Option<String>,
    pub category: Option<String>,
    pub service: Option<String>,
}

/// One detection item: a field (or none, for keywords), and its values. Each value is a list
/// of alternatives (modifiers such as `windash` or `base64offset` create several).
#[derive(Clone, Debug)]
pub struct Item {
    pub field: Option<String>,
    /// `all`: every value must match (otherwise one is enough).
    pub all: bool,
    pub values: Vec<Vec<Matcher>>,
}

/// A named search: a list of alternatives (OR), each a list of items (AND).
#[derive(Clone, Debug)]
pub struct Search {
    pub name: String,
    pub alternatives: Vec<Vec<Item>>,
}

/// A resolved condition over the rule's searches.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Expr {
    Search(usize),
    Not(Box<Expr>),
    And(Vec<Expr>),
    Or(Vec<Expr>),
    /// At least n of the expressions.
    AtLeast(usize, Vec<Expr>),
}

#[derive(Clone, Debug)]
pub struct Rule {
    pub id: Option<String>,
    pub name: Option<String>,
    pub title: String,
    pub description: Option<String>,
    pub status: Option<String>,
    pub level: Level,
    pub tags: Vec<String>,
    pub author: Option<String>,
    pub references: Vec<String>,
    pub falsepositives: Vec<String>,
    pub fields: Vec<String>,
    pub logsource: RuleLogsource,
    pub searches: Vec<Search>,
    pub condition: Expr,
    /// The file the rule came from, and the line of its document.
    pub file: String,
    pub line: usize,
}

impl Rule {
    /// The Sigma field names this rule reads, in first-use order.
    pub fn fields_used(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for s in &self.searches {
            for alt in &s.alternatives {
                for item in alt {
                    if let Some(f) = &item.field
                        && !out.contains(f)
                    {
                        out.push(f.clone());
                    }
                    for v in item.values.iter().flatten().flat_map(Matcher::flatten) {
                        if let Matcher::FieldRef { field, .. } = v
                            && !out.contains(field)
                        {
                            out.push(field.clone());
                        }
                    }
                }
            }
        }
        out
    }

    /// MITRE ATT&CK tags (`attack.*`).
    pub fn attack_tags(&self) -> impl Iterator<Item = &str> {
        self.tags
            .iter()
            .map(String::as_str)
            .filter(|t| t.starts_with("attack."))
    }
}

/// A Sigma filter (meta rule) that adds exclusions to the rules it names.
#[derive(Clone, Debug)]
pub struct Filter {
    pub id: Option<String>,
    pub title: String,
    pub logsource: RuleLogsource,
    pub rules: Vec<String>,
    pub searches: Vec<Search>,
    pub condition: Expr,
    pub file: String,
    pub line: usize,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CorrelationKind {
    EventCount,
    ValueCount,
    Temporal,
    TemporalOrdered,
    ValueSum,
    ValueAvg,
    ValuePercentile,
}

impl CorrelationKind {
    pub fn as_str(self) -> &'static str {
        match self {
            CorrelationKind::EventCount => "event_count",
            CorrelationKind::ValueCount => "value_count",
            CorrelationKind::Temporal => "temporal",
            CorrelationKind::TemporalOrdered => "temporal_ordered",
            CorrelationKind::ValueSum => "value_sum",
            CorrelationKind::ValueAvg => "value_avg",
            CorrelationKind::ValuePercentile => "value_percentile",
        }
    }

    /// The kinds that aggregate a field named in `condition.field`.
    pub fn needs_field(self) -> bool {
        matches!(
            self,
            CorrelationKind::ValueCount
                | CorrelationKind::ValueSum
                | CorrelationKind::ValueAvg
                | CorrelationKind::ValuePercentile
        )
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct CorrelationCondition {
    pub cmp: Vec<(Cmp, f64)>,
    pub field: Option<String>,
}

/// A Sigma correlation rule (parsed and validated; see the crate docs for evaluation).
#[derive(Clone, Debug)]
pub struct Correlation {
    pub id: Option<String>,
    pub name: Option<String>,
    pub title: String,
    pub level: Level,
    pub kind: CorrelationKind,
    pub rules: Vec<String>,
    pub group_by: Vec<String>,
    pub timespan_secs: u64,
    pub condition: Option<CorrelationCondition>,
    pub generate: bool,
    /// `aliases`: alias name -> (rule name or id -> field name in that rule's events).
    pub aliases: Vec<(String, Vec<(String, String)>)>,
    pub file: String,
    pub line: usize,
}

/// What a YAML document turned out to be.
#[derive(Clone, Debug)]
pub enum Document {
    Rule(Box<Rule>),
    Filter(Box<Filter>),
    Correlation(Box<Correlation>),
}

const KNOWN_MODIFIERS: &[&str] = &[
    "contains",
    "startswith",
    "endswith",
    "all",
    "base64",
    "base64offset",
    "utf16le",
    "utf16be",
    "utf16",
    "wide",
    "windash",
    "re",
    "i",
    "m",
    "s",
    "cidr",
    "lt",
    "lte",
    "gt",
    "gte",
    "exists",
    "cased",
    "fieldref",
    "expand",
    "neq",
    "minute",
    "hour",
    "day",
    "week",
    "month",
    "year",
];

fn err(code: Code, node: &Node, message: impl Into<String>) -> Diagnostic {
    Diagnostic::error(code, node.line, node.col, message)
}

fn str_list(node: Option<&Node>) -> Vec<String> {
    match node.map(|n| &n.kind) {
        Some(Kind::Seq(items)) => items.iter().filter_map(Node::scalar_text).collect(),
        Some(_) => node.and_then(Node::scalar_text).into_iter().collect(),
        None => vec![],
    }
}

fn opt_str(node: &Node, key: &str) -> Option<String> {
    node.get(key).and_then(Node::scalar_text)
}

fn parse_logsource(doc: &Node) -> RuleLogsource {
    let ls = doc.get("logsource");
    let part = |k: &str| {
        ls.and_then(|l| l.get(k))
            .and_then(Node::scalar_text)
            .map(|s| s.to_ascii_lowercase())
    };
    RuleLogsource {
        product: part("product"),
        category: part("category"),
        service: part("service"),
    }
}

/// Parses one YAML document of a rule file.
pub fn parse_document(doc: &Node, file: &str, ph: &Placeholders) -> Result<Document, Diagnostic> {
    if !matches!(doc.kind, Kind::Map(_)) {
        return Err(err(
            Code::S002NotARule,
            doc,
            format!("expected a YAML map, found a {}", doc.type_name()),
        ));
    }
    if doc.get("action").is_some() {
        return Err(err(
            Code::S002NotARule,
            doc,
            "rule collections (`action: global`) are not supported",
        )
        .with_help("split the collection into one rule per file"));
    }
    if doc.get("correlation").is_some() {
        return parse_correlation(doc, file).map(|c| Document::Correlation(Box::new(c)));
    }
    if let Some(filter) = doc.get("filter")
        && doc.get("detection").is_none()
    {
        return parse_filter(doc, filter, file, ph).map(|f| Document::Filter(Box::new(f)));
    }
    parse_rule(doc, file, ph).map(|r| Document::Rule(Box::new(r)))
}

fn title_of(doc: &Node) -> Result<String, Diagnostic> {
    match doc.get("title").and_then(Node::scalar_text) {
        Some(t) => Ok(t),
        None => Err(err(Code::S002NotARule, doc, "missing `title`")),
    }
}

fn parse_rule(doc: &Node, file: &str, ph: &Placeholders) -> Result<Rule, Diagnostic> {
    let title = title_of(doc)?;
    let detection = doc
        .get("detection")
        .ok_or_else(|| err(Code::S002NotARule, doc, "missing `detection`"))?;
    let (searches, condition) = parse_detection(detection, ph)?;
    let level = match doc.get("level") {
        None => Level::Medium,
        Some(n) => n
            .scalar_text()
            .and_then(|s| Level::parse(&s))
            .ok_or_else(|| {
                err(
                    Code::S012InvalidValue,
                    n,
                    "`level` must be one of informational, low, medium, high, critical",
                )
            })?,
    };
    Ok(Rule {
        id: opt_str(doc, "id"),
        name: opt_str(doc, "name"),
        title,
        description: opt_str(doc, "description"),
        status: opt_str(doc, "status").map(|s| s.to_ascii_lowercase()),
        level,
        tags: str_list(doc.get("tags")),
        author: opt_str(doc, "author"),
        references: str_list(doc.get("references")),
        falsepositives: str_list(doc.get("falsepositives")),
        fields: str_list(doc.get("fields")),
        logsource: parse_logsource(doc),
        searches,
        condition,
        file: file.to_string(),
        line: doc.line,
    })
}

/// Parses the searches and the condition of a `detection` (or filter) map.
fn parse_detection(det: &Node, ph: &Placeholders) -> Result<(Vec<Search>, Expr), Diagnostic> {
    let Kind::Map(entries) = &det.kind else {
        return Err(err(Code::S002NotARule, det, "`detection` must be a map"));
    };
    let mut searches = Vec::new();
    let mut cond_node = None;
    for (k, v) in entries {
        let Some(name) = k.scalar_text() else {
            return Err(err(
                Code::S012InvalidValue,
                k,
                "search identifiers must be strings",
            ));
        };
        match name.as_str() {
            "condition" => cond_node = Some(v),
            "timeframe" => {}
            _ => searches.push(parse_search(&name, v, ph)?),
        }
    }
    let cond_node =
        cond_node.ok_or_else(|| err(Code::S003Condition, det, "missing `condition`"))?;
    let texts: Vec<&Node> = match &cond_node.kind {
        Kind::Seq(items) => items.iter().collect(),
        _ => vec![cond_node],
    };
    if texts.is_empty() {
        return Err(err(
            Code::S003Condition,
            cond_node,
            "empty `condition` list",
        ));
    }
    let mut exprs = Vec::new();
    for t in texts {
        let Some(text) = t.as_str() else {
            return Err(err(Code::S003Condition, t, "`condition` must be a string"));
        };
        let cond = condition::parse(text).map_err(|e| {
            let code = if e.aggregation {
                Code::S008Aggregation
            } else {
                Code::S003Condition
            };
            // Point into the condition text when it is on the same line as its key.
            Diagnostic::error(
                code,
                t.line,
                t.col + e.col.saturating_sub(1),
                format!("condition: {}", e.message),
            )
        })?;
        exprs.push(resolve(&cond, &searches, t)?);
    }
    let expr = if exprs.len() == 1 {
        exprs.remove(0)
    } else {
        Expr::Or(exprs)
    };
    Ok((searches, expr))
}

fn resolve(cond: &Cond, searches: &[Search], at: &Node) -> Result<Expr, Diagnostic> {
    Ok(match cond {
        Cond::Ident(name) => match searches.iter().position(|s| &s.name == name) {
            Some(i) => Expr::Search(i),
            None => {
                return Err(err(
                    Code::S004UnknownIdentifier,
                    at,
                    format!("condition names `{name}`, which is not a search of this rule"),
                ));
            }
        },
        Cond::Of(q, pattern) => {
            let idx: Vec<Expr> = searches
                .iter()
                .enumerate()
                // Identifiers starting with `_` are left out of `them` and of every pattern
                // that does not itself start with `_` (as pySigma does).
                .filter(|(_, s)| match pattern {
                    None => !s.name.starts_with('_'),
                    Some(p) => {
                        (p.starts_with('_') || !s.name.starts_with('_'))
                            && condition::pattern_matches(p, &s.name)
                    }
                })
                .map(|(i, _)| Expr::Search(i))
                .collect();
            if idx.is_empty() {
                return Err(err(
                    Code::S004UnknownIdentifier,
                    at,
                    format!(
                        "condition pattern `{}` matches no search of this rule",
                        pattern.as_deref().unwrap_or("them")
                    ),
                ));
            }
            match q {
                Quant::All => Expr::And(idx),
                Quant::AtLeast(1) => Expr::Or(idx),
                Quant::AtLeast(n) => Expr::AtLeast(*n, idx),
            }
        }
        Cond::Not(inner) => Expr::Not(Box::new(resolve(inner, searches, at)?)),
        Cond::And(items) => Expr::And(
            items
                .iter()
                .map(|c| resolve(c, searches, at))
                .collect::<Result<_, _>>()?,
        ),
        Cond::Or(items) => Expr::Or(
            items
                .iter()
                .map(|c| resolve(c, searches, at))
                .collect::<Result<_, _>>()?,
        ),
    })
}

fn parse_search(name: &str, node: &Node, ph: &Placeholders) -> Result<Search, Diagnostic> {
    let mut alternatives = Vec::new();
    match &node.kind {
        Kind::Map(entries) => alternatives.push(parse_map(entries, ph)?),
        Kind::Seq(items) => {
            let mut keywords = Vec::new();
            for it in items {
                match &it.kind {
                    Kind::Map(entries) => alternatives.push(parse_map(entries, ph)?),
                    Kind::Seq(_) => {
                        return Err(err(
                            Code::S012InvalidValue,
                            it,
                            "nested lists are not allowed in a search",
                        ));
                    }
                    _ => keywords.push(it.clone()),
                }
            }
            if !keywords.is_empty() {
                let list = Node {
                    kind: Kind::Seq(keywords),
                    line: node.line,
                    col: node.col,
                };
                alternatives.push(vec![parse_item(None, &[], &list, ph)?]);
            }
        }
        Kind::Null => {
            return Err(err(
                Code::S012InvalidValue,
                node,
                format!("search `{name}` is empty"),
            ));
        }
        _ => alternatives.push(vec![parse_item(None, &[], node, ph)?]),
    }
    if alternatives.is_empty() {
        return Err(err(
            Code::S012InvalidValue,
            node,
            format!("search `{name}` is empty"),
        ));
    }
    Ok(Search {
        name: name.to_string(),
        alternatives,
    })
}

fn parse_map(entries: &[(Node, Node)], ph: &Placeholders) -> Result<Vec<Item>, Diagnostic> {
    let mut items = Vec::new();
    for (k, v) in entries {
        let Some(key) = k.scalar_text() else {
            return Err(err(
                Code::S012InvalidValue,
                k,
                "field names must be strings",
            ));
        };
        let mut parts = key.split('|');
        let field = parts.next().unwrap_or("").trim().to_string();
        let mods: Vec<&str> = parts.collect();
        for m in &mods {
            if !KNOWN_MODIFIERS.contains(m) {
                return Err(err(
                    Code::S005UnknownModifier,
                    k,
                    format!("unknown modifier `{m}`"),
                )
                .with_help(format!("known modifiers: {}", KNOWN_MODIFIERS.join(", "))));
            }
        }
        let field = if field.is_empty() { None } else { Some(field) };
        items.push(parse_item(field, &mods, v, ph).map_err(|mut d| {
            if d.line == 0 {
                d.line = k.line;
                d.col = k.col;
            }
            d
        })?);
    }
    Ok(items)
}

fn parse_item(
    field: Option<String>,
    mods: &[&str],
    node: &Node,
    ph: &Placeholders,
) -> Result<Item, Diagnostic> {
    let values: Vec<&Node> = match &node.kind {
        Kind::Seq(items) => items.iter().collect(),
        Kind::Map(_) => {
            return Err(err(
                Code::S012InvalidValue,
                node,
                "a field value cannot be a map",
            ));
        }
        _ => vec![node],
    };
    if values.is_empty() {
        return Err(err(Code::S012InvalidValue, node, "empty value list"));
    }
    let keyword = field.is_none();
    let neq = mods.contains(&"neq");
    let all = mods.contains(&"all");
    let mut out: Vec<Vec<Matcher>> = Vec::new();
    for v in values {
        let built = build_value(v, mods, keyword, ph).map_err(|e| {
            let code = if e.placeholder {
                Code::S007UnknownPlaceholder
            } else if e.regex {
                Code::S015Regex
            } else {
                Code::S006InvalidModifierValue
            };
            err(code, v, e.message)
        })?;
        out.push(built);
    }
    // `neq` negates the whole item (pySigma): `not (v1 or v2 …)`, or with `all`,
    // `not (v1 and v2 …)` = `(not v1) or (not v2) …`.
    if neq {
        let out = if all {
            out.into_iter()
                .map(|alts| vec![Matcher::NotAny(alts)])
                .collect()
        } else {
            vec![vec![Matcher::NotAny(out.into_iter().flatten().collect())]]
        };
        return Ok(Item {
            field,
            all: false,
            values: out,
        });
    }
    Ok(Item {
        field,
        all,
        values: out,
    })
}

fn number_of(node: &Node) -> Option<f64> {
    match &node.kind {
        Kind::Int(i) => Some(*i as f64),
        Kind::Float(f, _) => Some(*f),
        Kind::Str(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// Builds the alternatives of one value under the item's modifiers.
fn build_value(
    node: &Node,
    mods: &[&str],
    keyword: bool,
    ph: &Placeholders,
) -> Result<Vec<Matcher>, ValueError> {
    let has = |m: &str| mods.contains(&m);
    // `neq` is applied to the whole item by the caller.
    let wrap = std::convert::identity::<Vec<Matcher>>;
    let invalid = |m: &str| ValueError {
        message: m.to_string(),
        placeholder: false,
        regex: false,
    };
    if has("exists") {
        return match node.kind {
            Kind::Bool(b) => Ok(vec![Matcher::Exists(b)]),
            _ => Err(invalid("`exists` takes `true` or `false`")),
        };
    }
    if matches!(node.kind, Kind::Null) {
        if mods.iter().any(|m| !matches!(*m, "all" | "neq")) {
            return Err(invalid("`null` cannot be combined with value modifiers"));
        }
        return Ok(wrap(vec![Matcher::Null]));
    }
    let text = node
        .scalar_text()
        .ok_or_else(|| invalid("a value must be a string, number, boolean or null"))?;
    let time_part = mods.iter().find_map(|m| {
        Some(match *m {
            "minute" => TimePart::Minute,
            "hour" => TimePart::Hour,
            "day" => TimePart::Day,
            "week" => TimePart::Week,
            "month" => TimePart::Month,
            "year" => TimePart::Year,
            _ => return None,
        })
    });
    let cmp = mods.iter().find_map(|m| {
        Some(match *m {
            "lt" => Cmp::Lt,
            "lte" => Cmp::Lte,
            "gt" => Cmp::Gt,
            "gte" => Cmp::Gte,
            _ => return None,
        })
    });
    if let Some(part) = time_part {
        let value = number_of(node)
            .filter(|f| f.fract() == 0.0)
            .ok_or_else(|| invalid("time modifiers take a whole number"))?;
        return Ok(wrap(vec![Matcher::Time {
            part,
            cmp: cmp.unwrap_or(Cmp::Eq),
            value: value as i64,
        }]));
    }
    if let Some(cmp) = cmp {
        let v = number_of(node).ok_or_else(|| invalid("`lt`/`lte`/`gt`/`gte` take a number"))?;
        return Ok(wrap(vec![Matcher::Num(cmp, v)]));
    }
    if has("re") {
        if let Some(bad) = mods
            .iter()
            .find(|m| !matches!(**m, "re" | "i" | "m" | "s" | "all" | "neq" | "cased"))
        {
            return Err(invalid(&format!("`re` cannot be combined with `{bad}`")));
        }
        let re = value::build_regex(&text, has("i"), has("m"), has("s"))?;
        return Ok(wrap(vec![Matcher::Re(re)]));
    }
    if let Some(f) = mods.iter().find(|m| matches!(**m, "i" | "m" | "s")) {
        return Err(invalid(&format!("`{f}` is a sub-modifier of `re`")));
    }
    if has("cidr") {
        return Ok(wrap(vec![Matcher::Cidr(value::parse_cidr(&text)?)]));
    }
    let cased = has("cased");
    if has("fieldref") {
        let kind = if has("contains") {
            RefKind::Contains
        } else if has("startswith") {
            RefKind::StartsWith
        } else if has("endswith") {
            RefKind::EndsWith
        } else {
            RefKind::Equals
        };
        return Ok(wrap(vec![Matcher::FieldRef {
            field: text,
            kind,
            cased,
        }]));
    }
    // String values: wildcards unless the value was a YAML number or boolean.
    let pieces = match node.kind {
        Kind::Str(_) => value::parse_sigma_string(&text),
        _ => vec![Piece::Lit(text)],
    };
    let mut work = vec![Work::Str(pieces)];
    for m in mods {
        if matches!(
            *m,
            "windash"
                | "expand"
                | "base64"
                | "base64offset"
                | "utf16le"
                | "wide"
                | "utf16be"
                | "utf16"
        ) {
            work = value::transform(work, m, ph)?;
        }
    }
    let mut out = Vec::with_capacity(work.len());
    for w in work {
        let mut p = value::finish_work(w)?;
        let contains = has("contains") || (keyword && !has("startswith") && !has("endswith"));
        if contains || has("endswith") {
            p.insert(0, Piece::AnyStr);
        }
        if contains || has("startswith") {
            p.push(Piece::AnyStr);
        }
        out.push(Matcher::Str(Pattern::new(p, cased)));
    }
    Ok(wrap(out))
}

fn parse_filter(
    doc: &Node,
    filter: &Node,
    file: &str,
    ph: &Placeholders,
) -> Result<Filter, Diagnostic> {
    let title = title_of(doc)?;
    let rules = str_list(filter.get("rules"));
    if rules.is_empty() {
        return Err(err(
            Code::S014Filter,
            filter,
            "a filter must name the rules it applies to in `rules`",
        ));
    }
    // The filter map holds `rules`, the searches and the condition.
    let Kind::Map(entries) = &filter.kind else {
        return Err(err(Code::S014Filter, filter, "`filter` must be a map"));
    };
    let det = Node {
        kind: Kind::Map(
            entries
                .iter()
                .filter(|(k, _)| k.as_str() != Some("rules"))
                .cloned()
                .collect(),
        ),
        line: filter.line,
        col: filter.col,
    };
    let (searches, condition) = parse_detection(&det, ph)?;
    Ok(Filter {
        id: opt_str(doc, "id"),
        title,
        logsource: parse_logsource(doc),
        rules,
        searches,
        condition,
        file: file.to_string(),
        line: doc.line,
    })
}

/// Parses a timespan such as `30s`, `5m`, `1h`, `2d`, `1w`.
pub fn parse_timespan(s: &str) -> Option<u64> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit())?;
    let (n, unit) = s.split_at(split);
    let n: u64 = n.parse().ok()?;
    let mult = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        "w" => 604_800,
        "M" => 2_592_000,
        "y" => 31_536_000,
        _ => return None,
    };
    n.checked_mul(mult)
}

fn parse_correlation(doc: &Node, file: &str) -> Result<Correlation, Diagnostic> {
    let title = title_of(doc)?;
    let c = doc.get("correlation").unwrap_or(doc);
    let bad = |n: &Node, m: &str| err(Code::S011Correlation, n, m.to_string());
    let kind = match c.get("type").and_then(Node::as_str) {
        Some("event_count") => CorrelationKind::EventCount,
        Some("value_count") => CorrelationKind::ValueCount,
        Some("temporal") => CorrelationKind::Temporal,
        Some("temporal_ordered") => CorrelationKind::TemporalOrdered,
        Some("value_sum") => CorrelationKind::ValueSum,
        Some("value_avg") => CorrelationKind::ValueAvg,
        Some("value_percentile") => CorrelationKind::ValuePercentile,
        Some(other) => return Err(bad(c, &format!("unknown correlation type `{other}`"))),
        None => return Err(bad(c, "missing correlation `type`")),
    };
    let rules = str_list(c.get("rules"));
    if rules.is_empty() {
        return Err(bad(c, "a correlation must name its rules in `rules`"));
    }
    let ts_node = c
        .get("timespan")
        .or_else(|| c.get("timeframe"))
        .ok_or_else(|| bad(c, "missing `timespan`"))?;
    let timespan_secs = ts_node
        .scalar_text()
        .and_then(|s| parse_timespan(&s))
        .ok_or_else(|| bad(ts_node, "`timespan` must look like 30s, 5m, 1h, 2d or 1w"))?;
    let condition = match c.get("condition") {
        None => None,
        Some(cn) => {
            let Kind::Map(entries) = &cn.kind else {
                return Err(bad(cn, "correlation `condition` must be a map"));
            };
            let mut cmp = Vec::new();
            let mut field = None;
            for (k, v) in entries {
                let op = match k.as_str() {
                    Some("gt") => Cmp::Gt,
                    Some("gte") => Cmp::Gte,
                    Some("lt") => Cmp::Lt,
                    Some("lte") => Cmp::Lte,
                    Some("eq") => Cmp::Eq,
                    Some("neq") => Cmp::Neq,
                    Some("field") => {
                        field = v.scalar_text();
                        continue;
                    }
                    _ => {
                        return Err(bad(
                            k,
                            "correlation conditions are gt, gte, lt, lte, eq, neq and field",
                        ));
                    }
                };
                let n = number_of(v)
                    .ok_or_else(|| bad(v, "a correlation threshold must be a number"))?;
                cmp.push((op, n));
            }
            Some(CorrelationCondition { cmp, field })
        }
    };
    match kind {
        CorrelationKind::Temporal | CorrelationKind::TemporalOrdered => {}
        kind => {
            let Some(cond) = &condition else {
                return Err(bad(c, &format!("`{}` needs a `condition`", kind.as_str())));
            };
            if cond.cmp.is_empty() {
                return Err(bad(
                    c,
                    "the `condition` needs a threshold (gt, gte, lt, lte, eq or neq)",
                ));
            }
            if kind.needs_field() && cond.field.is_none() {
                return Err(bad(
                    c,
                    &format!("`{}` needs `condition.field`", kind.as_str()),
                ));
            }
        }
    }
    if matches!(
        kind,
        CorrelationKind::Temporal | CorrelationKind::TemporalOrdered
    ) && rules.len() < 2
    {
        return Err(bad(c, "temporal correlations need at least two rules"));
    }
    // aliases: alias -> (rule name or id -> field)
    let mut aliases: Vec<(String, Vec<(String, String)>)> = Vec::new();
    if let Some(a) = c.get("aliases") {
        let Kind::Map(entries) = &a.kind else {
            return Err(bad(
                a,
                "`aliases` must map alias names to rule -> field maps",
            ));
        };
        for (k, v) in entries {
            let (Some(alias), Kind::Map(m)) = (k.scalar_text(), &v.kind) else {
                return Err(bad(k, "each alias maps rule names to field names"));
            };
            let mut per_rule = Vec::new();
            for (rk, rv) in m {
                match (rk.scalar_text(), rv.scalar_text()) {
                    (Some(r), Some(f)) => per_rule.push((r, f)),
                    _ => return Err(bad(rk, "each alias maps rule names to field names")),
                }
            }
            aliases.push((alias, per_rule));
        }
    }
    let level = doc
        .get("level")
        .and_then(Node::scalar_text)
        .and_then(|s| Level::parse(&s))
        .unwrap_or(Level::Medium);
    Ok(Correlation {
        id: opt_str(doc, "id"),
        name: opt_str(doc, "name"),
        title,
        level,
        kind,
        rules,
        group_by: str_list(c.get("group-by")),
        timespan_secs,
        condition,
        generate: c
            .get("generate")
            .is_some_and(|g| g.kind == Kind::Bool(true)),
        aliases,
        file: file.to_string(),
        line: doc.line,
    })
}
