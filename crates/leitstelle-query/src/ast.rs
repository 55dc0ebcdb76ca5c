//! The syntax tree of a parsed query.

use std::ops::Bound;

/// A parsed query: a filter over events, then zero or more pipe stages.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Query {
    pub filter: Expr,
    pub stages: Vec<Stage>,
}

/// A boolean filter expression over events.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Expr {
    /// Every event (the empty query, or `*`).
    All,
    /// All of the parts hold (explicit `AND`, or terms written next to each other).
    And(Vec<Expr>),
    /// At least one of the parts holds.
    Or(Vec<Expr>),
    /// The part does not hold.
    Not(Box<Expr>),
    /// A predicate on one field: `field:value`, `field:"phrase"`, `field:*wild*`,
    /// `field:[a TO b]`, `field>10`.
    Field { field: String, pred: Pred },
    /// A bare term, phrase or wildcard matching any field of the event.
    Any(Pred),
    /// `_exists_:field`: the field is present with a non-null value.
    Exists(String),
}

/// What a field's value (or, for [`Expr::Any`], any value) must satisfy.
///
/// Text comparisons are case-insensitive.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Pred {
    /// An unquoted value without wildcards: the whole value equals it. For [`Expr::Any`]:
    /// some word of some value equals it.
    Term(String),
    /// A quoted value: the whole value equals it, wildcard characters included literally.
    /// For [`Expr::Any`]: the words appear in this order in some value.
    Phrase(String),
    /// An unquoted value with `*` (any run of characters) or `?` (one character).
    Wildcard(Vec<WildPart>),
    /// A range: `[a TO b]` (inclusive), `{a TO b}` (exclusive), mixed brackets, `*` for an
    /// open end; `>`, `>=`, `<`, `<=` produce half-open ranges. Bounds are kept as text:
    /// numbers compare numerically, anything else as (lowercased) text.
    Range {
        lower: Bound<String>,
        upper: Bound<String>,
    },
}

/// One piece of a wildcard pattern.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum WildPart {
    /// Literal text.
    Literal(String),
    /// `*`: any run of characters, including none.
    Many,
    /// `?`: exactly one character.
    One,
}

/// A pipe stage, applied in order to the events (or rows) the previous stage produced.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    /// `stats AGG[, AGG...] [by FIELD[, FIELD...]]`: one row per distinct combination of the
    /// `by` fields (one row in all without `by`).
    Stats { aggs: Vec<Agg>, by: Vec<String> },
    /// `top [N] FIELD`: the N (default 10) most frequent values of a field with their counts,
    /// most frequent first.
    Top { n: usize, field: String },
    /// `timechart span=DURATION AGG[, AGG...] [by FIELD]`: one row per time bucket (and
    /// `by` value). `span_secs` is the bucket width in seconds.
    Timechart {
        span_secs: u64,
        aggs: Vec<Agg>,
        by: Option<String>,
    },
    /// `sort [-|+]FIELD[, ...]` (`-` descending; a trailing `desc`/`asc` also works).
    Sort(Vec<SortKey>),
    /// `head N`: the first N events or rows.
    Head(usize),
    /// `fields a, b`: keep only these fields.
    Fields(Vec<String>),
}

/// One aggregation of `stats` / `timechart`.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Agg {
    pub func: AggFunc,
    /// The field aggregated; `None` only for a bare `count`.
    pub field: Option<String>,
    /// `as NAME`; without it the result is named [`Agg::name`].
    pub alias: Option<String>,
}

impl Agg {
    /// The name of the result column: the alias, or `count`, `dc(User)`, `avg(bytes)`…
    pub fn name(&self) -> String {
        if let Some(a) = &self.alias {
            return a.clone();
        }
        match &self.field {
            None => self.func.as_str().to_string(),
            Some(f) => format!("{}({f})", self.func.as_str()),
        }
    }
}

/// An aggregation function.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AggFunc {
    /// `count` (events) or `count(field)` (events where the field is present).
    Count,
    /// `dc(field)`: distinct values.
    Dc,
    Min,
    Max,
    Avg,
    Sum,
}

impl AggFunc {
    pub fn as_str(self) -> &'static str {
        match self {
            AggFunc::Count => "count",
            AggFunc::Dc => "dc",
            AggFunc::Min => "min",
            AggFunc::Max => "max",
            AggFunc::Avg => "avg",
            AggFunc::Sum => "sum",
        }
    }
}

/// A `sort` key.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct SortKey {
    pub field: String,
    pub descending: bool,
}
