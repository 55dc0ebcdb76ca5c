//! The parser: query text to [`Query`].
//!
//! Hand-written recursive descent over the characters of the text (columns are character
//! positions, so multibyte UTF-8 is safe). The filter part is parsed without a separate lexer
//! because what a character means depends on where it is: `:` separates a field from its
//! value but is part of the value in `Image:C:\Windows\cmd.exe`. The pipe stages, which have
//! no quoting, are split into simple tokens first.
//!
//! **Invariant:** the parser never panics and never recurses deeper than [`MAX_NESTING`]
//! levels, whatever the input.

use std::ops::Bound;

use crate::ast::{Agg, AggFunc, Expr, Pred, Query, SortKey, Stage, WildPart};
use crate::time::parse_duration_secs;

/// The longest query accepted, in bytes.
const MAX_QUERY_BYTES: usize = 64 * 1024;
/// The deepest nesting of parentheses and `NOT`s accepted.
const MAX_NESTING: usize = 64;
/// The commands a pipe stage may start with, for error messages.
const COMMANDS: &str = "stats, top, timechart, sort, head, fields";
/// The aggregation functions, for error messages.
const AGGS: &str = "count, dc, distinct_count, min, max, avg, sum";
/// `top` and `head` without a count.
const DEFAULT_COUNT: usize = 10;
/// `timechart` without `span=`.
const DEFAULT_SPAN_SECS: u64 = 3_600;

/// Why a query does not parse.
///
/// Displays as `column N: MESSAGE`, e.g. `column 9: expected ')' to close '(' at column 1`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("column {column}: {message}")]
pub struct ParseError {
    /// 1-based column, counted in characters: the offending token, or one past the last
    /// character when the query ends too early.
    pub column: usize,
    /// What was found and what was expected (lowercase, no trailing period).
    pub message: String,
}

/// Parses a query.
///
/// A query is a filter, optionally followed by pipe stages: `FILTER | STAGE | STAGE …`.
/// The filter ends at the first `|` that is not inside quotes or a range and not part of
/// `||`.
///
/// # Filter
///
/// | written | parsed as |
/// |---------|-----------|
/// | nothing, only whitespace, or `*` | [`Expr::All`] |
/// | `field:value` | [`Expr::Field`] with [`Pred::Term`] |
/// | `field:"two words"` | [`Pred::Phrase`]; `\"` is a quote, every other character (`\`, `*`, `?`) is literal |
/// | `field:*mimikatz*`, `field:a?c` | [`Pred::Wildcard`]: `*` any run of characters, `?` one character |
/// | `field:*` | [`Expr::Exists`] (as is `_exists_:field`) |
/// | `field:[a TO b]`, `field:{a TO b}`, `field:[a TO b}` | [`Pred::Range`]: `[`/`]` inclusive, `{`/`}` exclusive, `*` unbounded, bounds may be quoted |
/// | `field>v`, `field>=v`, `field<v`, `field<=v`, `field:>v`, `bytes > 1000` | half-open [`Pred::Range`] |
/// | `field:(a OR b -c)` | the values in the group apply to the field: `field:a OR field:b AND NOT field:c` |
/// | `value`, `"a phrase"`, `*wild*` | [`Expr::Any`]: matches any field |
/// | `NOT x`, `!x`, `-x` | [`Expr::Not`]; `-` must touch what it negates (`-x`, `-(…)`) |
/// | `x AND y`, `x && y`, `x y` | [`Expr::And`] |
/// | `x OR y`, `x \|\| y` | [`Expr::Or`] |
/// | `( … )` | grouping |
///
/// Operators are case-insensitive (`and`, `Or`, `not`). `NOT` binds tightest, then `AND`
/// (explicit or implicit), then `OR`: `a OR b c` is `a OR (b AND c)`, `NOT a b` is
/// `(NOT a) AND b`. Nested `AND`s (and `OR`s) are flattened into one list, even across
/// parentheses.
///
/// Field names consist of letters, digits and `_ . @ # - /` and do not start with `-`:
/// `Event.System.Provider.#attributes.Name`, `@timestamp`. Whitespace around `:` is allowed,
/// except after a field named like an operator: `not:x` is a field, `not :x` is `NOT :x`.
///
/// An unquoted value runs to the next whitespace, `|` or unbalanced `)`; parentheses inside
/// it must balance (`CommandLine:foo(1)` is the value `foo(1)`). Backslashes are not escapes,
/// so Windows paths need no quoting: `Image:C:\Windows\System32\cmd.exe`,
/// `TargetFilename:C:\Windows\Temp\*`. Because a value must not be taken for an operator,
/// `AND`, `OR` and `NOT` are searched for quoted: `"and"`, `field:"OR"`. A `:` in a bare value
/// makes it a field (`fe80::1` is the field `fe80`); quote such values. A quoted value
/// cannot end with a backslash (`\"` is an escaped quote); use an unquoted value or a
/// wildcard instead.
///
/// # Stages
///
/// Command names, function names and the words `by`, `as`, `span`, `asc`, `desc` are
/// case-insensitive. Lists are separated by commas, spaces or both.
///
/// | stage | meaning |
/// |-------|---------|
/// | `stats AGG[, AGG…] [by F[, F…]]` | [`Stage::Stats`]; `AGG` is `count`, `count(f)`, `dc(f)` (also `distinct_count(f)`), `min(f)`, `max(f)`, `avg(f)`, `sum(f)`, each optionally followed by `as NAME` |
/// | `top [N] FIELD` | [`Stage::Top`], N ≥ 1, default 10 |
/// | `timechart [span=DUR] AGG[, AGG…] [by F]` | [`Stage::Timechart`]; `DUR` is `30s`, `15m`, `1h` (default), `1d`, `1w`; `span=` may also come after the aggregations or the `by` field |
/// | `sort [-\|+]F [asc\|desc][, …]` | [`Stage::Sort`]; `-` or `desc` descending |
/// | `head [N]` | [`Stage::Head`], N ≥ 1, default 10 |
/// | `fields F[, F…]` | [`Stage::Fields`] |
///
/// # Limits and errors
///
/// Queries longer than 64 KiB and nesting deeper than 64 levels (parentheses and `NOT`s
/// together) are rejected. Every error carries the 1-based character column of the offending
/// token (or one past the end of the text) and says what was found and what was expected.
///
/// # Examples
///
/// ```
/// use leitstelle_query::{Agg, AggFunc, Expr, Pred, Stage, WildPart, parse};
///
/// let q = parse(r"Image:*\mimikatz.exe AND NOT User:SYSTEM | head 5")?;
/// assert_eq!(
///     q.filter,
///     Expr::And(vec![
///         Expr::Field {
///             field: "Image".into(),
///             pred: Pred::Wildcard(vec![WildPart::Many, WildPart::Literal(r"\mimikatz.exe".into())]),
///         },
///         Expr::Not(Box::new(Expr::Field {
///             field: "User".into(),
///             pred: Pred::Term("SYSTEM".into()),
///         })),
///     ])
/// );
/// assert_eq!(q.stages, vec![Stage::Head(5)]);
///
/// let q = parse("EventID:4625 | stats count, dc(User) as users by Computer")?;
/// assert_eq!(
///     q.stages,
///     vec![Stage::Stats {
///         aggs: vec![
///             Agg { func: AggFunc::Count, field: None, alias: None },
///             Agg { func: AggFunc::Dc, field: Some("User".into()), alias: Some("users".into()) },
///         ],
///         by: vec!["Computer".into()],
///     }]
/// );
///
/// let err = parse("(a OR b").unwrap_err();
/// assert_eq!(err.column, 8);
/// assert_eq!(err.to_string(), "column 8: expected ')' to close '(' at column 1");
/// let err = parse("* | stat count").unwrap_err();
/// assert_eq!(
///     err.to_string(),
///     "column 5: unknown pipe command 'stat' (expected one of: stats, top, timechart, sort, head, fields)"
/// );
/// # Ok::<(), leitstelle_query::ParseError>(())
/// ```
pub fn parse(text: &str) -> Result<Query, ParseError> {
    if text.len() > MAX_QUERY_BYTES {
        let column = text
            .char_indices()
            .position(|(i, _)| i >= MAX_QUERY_BYTES)
            .map_or(1, |p| p + 1);
        return Err(ParseError {
            column,
            message: format!(
                "query too long: {} bytes (at most {MAX_QUERY_BYTES})",
                text.len()
            ),
        });
    }
    let mut p = Parser {
        chars: text.chars().collect(),
        pos: 0,
        depth: 0,
    };
    let filter = p.parse_filter()?;
    let stages = StageParser::new(&p.chars, p.pos).parse_stages()?;
    Ok(Query { filter, stages })
}

/// A boolean operator.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Op {
    And,
    Or,
    Not,
}

/// What a value is made of, before it is tied to a field.
enum Value {
    /// Only `*`s: everything / the field exists.
    Star,
    Pred(Pred),
}

fn is_field_char(c: char) -> bool {
    c.is_alphanumeric() || matches!(c, '_' | '.' | '@' | '#' | '-' | '/')
}

fn is_field_name(s: &str) -> bool {
    !s.is_empty() && !s.starts_with('-') && s.chars().all(is_field_char)
}

/// An unquoted value: a term, a wildcard pattern, or only stars.
fn classify(text: String) -> Value {
    if text.chars().all(|c| c == '*') {
        return Value::Star;
    }
    if !text.contains(['*', '?']) {
        return Value::Pred(Pred::Term(text));
    }
    let mut parts = Vec::new();
    let mut lit = String::new();
    for c in text.chars() {
        let part = match c {
            '*' => WildPart::Many,
            '?' => WildPart::One,
            _ => {
                lit.push(c);
                continue;
            }
        };
        if !lit.is_empty() {
            parts.push(WildPart::Literal(std::mem::take(&mut lit)));
        }
        if !(part == WildPart::Many && parts.last() == Some(&WildPart::Many)) {
            parts.push(part);
        }
    }
    if !lit.is_empty() {
        parts.push(WildPart::Literal(lit));
    }
    Value::Pred(Pred::Wildcard(parts))
}

fn make_and(items: Vec<Expr>) -> Expr {
    let mut out = Vec::with_capacity(items.len());
    for item in items {
        match item {
            Expr::And(inner) => out.extend(inner),
            other => out.push(other),
        }
    }
    match out.len() {
        1 => out.pop().unwrap_or(Expr::All),
        _ => Expr::And(out),
    }
}

fn make_or(items: Vec<Expr>) -> Expr {
    let mut out = Vec::with_capacity(items.len());
    for item in items {
        match item {
            Expr::Or(inner) => out.extend(inner),
            other => out.push(other),
        }
    }
    match out.len() {
        1 => out.pop().unwrap_or(Expr::All),
        _ => Expr::Or(out),
    }
}

/// `'x'` for the token starting at `i`, or `end of input`.
fn describe(chars: &[char], i: usize) -> String {
    const MAX: usize = 30;
    let Some(&first) = chars.get(i) else {
        return "end of input".to_string();
    };
    let delims = ['(', ')', '|', '"', '[', ']', '{', '}', ':', ',', '='];
    let mut s = String::from(first);
    if !delims.contains(&first) {
        for &c in chars[i + 1..]
            .iter()
            .take_while(|c| !c.is_whitespace() && !delims.contains(c))
            .take(MAX)
        {
            s.push(c);
        }
        if s.chars().count() > MAX {
            s.pop();
            s.push('…');
        }
    }
    format!("'{s}'")
}

/// `, found 'x'`, or nothing at the end of the input.
fn found_suffix(chars: &[char], i: usize) -> String {
    if i >= chars.len() {
        String::new()
    } else {
        format!(", found {}", describe(chars, i))
    }
}

struct Parser {
    chars: Vec<char>,
    pos: usize,
    /// Parentheses and `NOT`s currently open.
    depth: usize,
}

impl Parser {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn peek_at(&self, i: usize) -> Option<char> {
        self.chars.get(i).copied()
    }

    fn err(&self, at: usize, message: impl Into<String>) -> ParseError {
        ParseError {
            column: at.min(self.chars.len()) + 1,
            message: message.into(),
        }
    }

    fn text(&self, start: usize, end: usize) -> String {
        self.chars[start..end].iter().collect()
    }

    fn skip_ws(&mut self) {
        self.pos = self.ws_end(self.pos);
    }

    fn ws_end(&self, mut i: usize) -> usize {
        while self.peek_at(i).is_some_and(char::is_whitespace) {
            i += 1;
        }
        i
    }

    /// A `|` that starts a pipe stage (not `||`).
    fn is_pipe(&self, i: usize) -> bool {
        self.peek_at(i) == Some('|') && self.peek_at(i + 1) != Some('|')
    }

    /// Where a keyword ends: the end, whitespace, or a character that cannot continue a word.
    fn is_word_end(&self, i: usize) -> bool {
        self.peek_at(i)
            .is_none_or(|c| c.is_whitespace() || matches!(c, '(' | ')' | '"' | '|'))
    }

    /// Where a value or field name ends.
    fn is_value_end(&self, i: usize) -> bool {
        self.peek_at(i)
            .is_none_or(|c| c.is_whitespace() || matches!(c, ')' | '|'))
    }

    /// The boolean operator starting at `i` and its length in characters.
    fn op_at(&self, i: usize) -> Option<(Op, usize)> {
        match (self.peek_at(i)?, self.peek_at(i + 1)) {
            ('&', Some('&')) => return Some((Op::And, 2)),
            ('|', Some('|')) => return Some((Op::Or, 2)),
            ('!', _) => return Some((Op::Not, 1)),
            _ => {}
        }
        self.keyword_at(i)
    }

    /// `AND`, `OR` or `NOT` (any case) as a whole word at `i`.
    fn keyword_at(&self, i: usize) -> Option<(Op, usize)> {
        let mut end = i;
        while end - i < 4 && self.peek_at(end).is_some_and(|c| c.is_ascii_alphabetic()) {
            end += 1;
        }
        if !self.is_word_end(end) {
            return None;
        }
        let word = self.text(i, end).to_ascii_lowercase();
        match word.as_str() {
            "and" => Some((Op::And, 3)),
            "or" => Some((Op::Or, 2)),
            "not" => Some((Op::Not, 3)),
            _ => None,
        }
    }

    /// One more level of parentheses or `NOT`, opened at `at`.
    fn enter(&mut self, at: usize) -> Result<(), ParseError> {
        self.depth += 1;
        if self.depth > MAX_NESTING {
            return Err(self.err(
                at,
                format!(
                    "query nested too deeply: more than {MAX_NESTING} levels of parentheses and NOT"
                ),
            ));
        }
        Ok(())
    }

    fn parse_filter(&mut self) -> Result<Expr, ParseError> {
        self.skip_ws();
        if self.pos >= self.chars.len() || self.is_pipe(self.pos) {
            return Ok(Expr::All);
        }
        let expr = self.parse_or(None, "")?;
        self.skip_ws();
        match self.peek() {
            None => Ok(expr),
            Some(_) if self.is_pipe(self.pos) => Ok(expr),
            Some(')') => Err(self.err(self.pos, "unexpected ')' (no '(' to close)")),
            Some(_) => Err(self.err(
                self.pos,
                format!(
                    "expected an operator, '|' or the end of the query{}",
                    found_suffix(&self.chars, self.pos)
                ),
            )),
        }
    }

    /// `and (OR and)*`. `field` is set inside `field:( … )`; `after` names what came before,
    /// for error messages.
    fn parse_or(&mut self, field: Option<&str>, after: &str) -> Result<Expr, ParseError> {
        let mut items = vec![self.parse_and(field, after)?];
        loop {
            self.skip_ws();
            match self.op_at(self.pos) {
                Some((Op::Or, n)) => {
                    let op = self.text(self.pos, self.pos + n);
                    self.pos += n;
                    items.push(self.parse_and(field, &op)?);
                }
                _ => break,
            }
        }
        Ok(make_or(items))
    }

    /// `unary ((AND)? unary)*`.
    fn parse_and(&mut self, field: Option<&str>, after: &str) -> Result<Expr, ParseError> {
        let mut items = vec![self.parse_unary(field, after)?];
        loop {
            self.skip_ws();
            if self.peek().is_none_or(|c| c == ')') || self.is_pipe(self.pos) {
                break;
            }
            match self.op_at(self.pos) {
                Some((Op::Or, _)) => break,
                Some((Op::And, n)) => {
                    let op = self.text(self.pos, self.pos + n);
                    self.pos += n;
                    items.push(self.parse_unary(field, &op)?);
                }
                _ => items.push(self.parse_unary(field, "")?),
            }
        }
        Ok(make_and(items))
    }

    /// `(NOT | ! | -) unary | primary`.
    fn parse_unary(&mut self, field: Option<&str>, after: &str) -> Result<Expr, ParseError> {
        self.skip_ws();
        let start = self.pos;
        let len = match self.op_at(start) {
            Some((Op::Not, n)) => Some(n),
            _ if self.peek() == Some('-') && !self.is_value_end(start + 1) => Some(1),
            _ => None,
        };
        let Some(n) = len else {
            return self.parse_primary(field, after);
        };
        let op = self.text(start, start + n);
        self.pos += n;
        self.enter(start)?;
        let inner = self.parse_unary(field, &op)?;
        self.depth -= 1;
        Ok(Expr::Not(Box::new(inner)))
    }

    fn missing_term(&self, after: &str) -> ParseError {
        let after = if after.is_empty() {
            String::new()
        } else {
            format!(" after '{after}'")
        };
        self.err(
            self.pos,
            format!(
                "expected a search term{after}{}",
                found_suffix(&self.chars, self.pos)
            ),
        )
    }

    /// A group, a phrase, a field predicate or a bare value.
    fn parse_primary(&mut self, field: Option<&str>, after: &str) -> Result<Expr, ParseError> {
        self.skip_ws();
        let start = self.pos;
        match self.peek() {
            None | Some(')') => return Err(self.missing_term(after)),
            Some('|') if self.is_pipe(start) => return Err(self.missing_term(after)),
            Some('(') => return self.parse_group(field),
            _ => {}
        }
        if let Some((Op::And | Op::Or, n)) = self.op_at(start) {
            let op = self.text(start, start + n);
            let after = if after.is_empty() {
                String::new()
            } else {
                format!(" after '{after}'")
            };
            return Err(self.err(
                start,
                format!(
                    "expected a search term{after}, found operator '{op}' \
                     (to search for the word, quote it: \"{op}\")"
                ),
            ));
        }
        if let Some(field) = field {
            return self.parse_field_value(field, after);
        }
        if self.peek() == Some('"') {
            return Ok(Expr::Any(Pred::Phrase(self.read_phrase()?)));
        }
        let name_end = self.field_name_end(start);
        if name_end > start {
            let next = self.ws_end(name_end);
            match self.peek_at(next) {
                Some(':') => {
                    let name = self.text(start, name_end);
                    self.pos = next + 1;
                    if name == "_exists_" {
                        return self.parse_exists();
                    }
                    return self.parse_field_value(&name, ":");
                }
                Some('<' | '>') => {
                    let name = self.text(start, name_end);
                    self.pos = next;
                    return self.parse_comparison(&name);
                }
                _ => {}
            }
        }
        Ok(match classify(self.read_unquoted()) {
            Value::Star => Expr::All,
            Value::Pred(pred) => Expr::Any(pred),
        })
    }

    /// The end of a field name starting at `start` (`start` itself if there is none).
    fn field_name_end(&self, start: usize) -> usize {
        if self.peek_at(start) == Some('-') {
            return start;
        }
        let mut i = start;
        while self.peek_at(i).is_some_and(is_field_char) {
            i += 1;
        }
        i
    }

    /// `( … )` at `self.pos`; inside `field:( … )` when `field` is set.
    fn parse_group(&mut self, field: Option<&str>) -> Result<Expr, ParseError> {
        let open = self.pos;
        self.enter(open)?;
        self.pos += 1;
        let expr = self.parse_or(field, "(")?;
        self.skip_ws();
        if self.peek() != Some(')') {
            return Err(self.err(
                self.pos,
                format!(
                    "expected ')' to close '(' at column {}{}",
                    open + 1,
                    found_suffix(&self.chars, self.pos)
                ),
            ));
        }
        self.pos += 1;
        self.depth -= 1;
        Ok(expr)
    }

    /// The field after `_exists_:`.
    fn parse_exists(&mut self) -> Result<Expr, ParseError> {
        self.skip_ws();
        let start = self.pos;
        let end = self.field_name_end(start);
        if end == start || !self.is_value_end(end) {
            return Err(self.err(
                start,
                format!(
                    "expected a field name after '_exists_:'{}",
                    found_suffix(&self.chars, start)
                ),
            ));
        }
        self.pos = end;
        Ok(Expr::Exists(self.text(start, end)))
    }

    /// What follows `field:` (or one value inside `field:( … )`).
    fn parse_field_value(&mut self, field: &str, after: &str) -> Result<Expr, ParseError> {
        self.skip_ws();
        let start = self.pos;
        let missing = |p: &Self| {
            let after = if after.is_empty() {
                String::new()
            } else {
                format!(" after '{after}'")
            };
            p.err(
                start,
                format!("expected a value{after}{}", found_suffix(&p.chars, start)),
            )
        };
        let field_pred = |pred| Expr::Field {
            field: field.to_string(),
            pred,
        };
        match self.peek() {
            None | Some(')' | '|') => Err(missing(self)),
            Some('"') => Ok(field_pred(Pred::Phrase(self.read_phrase()?))),
            Some('[' | '{') => Ok(field_pred(self.parse_range()?)),
            Some('<' | '>') => self.parse_comparison(field),
            Some('(') => self.parse_group(Some(field)),
            Some(_) => {
                if let Some((_, n)) = self.keyword_at(start) {
                    let op = self.text(start, start + n);
                    return Err(self.err(
                        start,
                        format!(
                            "expected a value after '{after}', found operator '{op}' \
                             (to search for the word, quote it: \"{op}\")"
                        ),
                    ));
                }
                Ok(match classify(self.read_unquoted()) {
                    Value::Star => Expr::Exists(field.to_string()),
                    Value::Pred(pred) => field_pred(pred),
                })
            }
        }
    }

    /// An unquoted value at `self.pos`: up to whitespace, `|` or an unbalanced `)`.
    fn read_unquoted(&mut self) -> String {
        let start = self.pos;
        let mut open = 0usize;
        while let Some(c) = self.peek() {
            match c {
                c if c.is_whitespace() => break,
                '|' => break,
                '(' => open += 1,
                ')' if open == 0 => break,
                ')' => open -= 1,
                _ => {}
            }
            self.pos += 1;
        }
        self.text(start, self.pos)
    }

    /// A quoted value at `self.pos` (on the opening `"`), without the quotes.
    fn read_phrase(&mut self) -> Result<String, ParseError> {
        let open = self.pos;
        self.pos += 1;
        let mut text = String::new();
        let mut escaped_quote = false;
        loop {
            match self.peek() {
                None => {
                    let hint = if escaped_quote {
                        " (\\\" inside quotes is an escaped quote, so a quoted value cannot \
                         end with a backslash)"
                    } else {
                        ""
                    };
                    return Err(self.err(
                        open,
                        format!("unterminated quote: expected a closing '\"'{hint}"),
                    ));
                }
                Some('"') => {
                    self.pos += 1;
                    return Ok(text);
                }
                Some('\\') if self.peek_at(self.pos + 1) == Some('"') => {
                    text.push('"');
                    self.pos += 2;
                    escaped_quote = true;
                }
                Some(c) => {
                    text.push(c);
                    self.pos += 1;
                }
            }
        }
    }

    /// `>v`, `>=v`, `<v`, `<=v` at `self.pos`.
    fn parse_comparison(&mut self, field: &str) -> Result<Expr, ParseError> {
        let start = self.pos;
        let greater = self.peek() == Some('>');
        let inclusive = self.peek_at(start + 1) == Some('=');
        self.pos += if inclusive { 2 } else { 1 };
        let op = self.text(start, self.pos);
        self.skip_ws();
        let at = self.pos;
        let value = match self.peek() {
            None | Some(')' | '|') => {
                return Err(self.err(
                    at,
                    format!(
                        "expected a value after '{op}'{}",
                        found_suffix(&self.chars, at)
                    ),
                ));
            }
            Some('"') => Bound::Included(self.read_phrase()?),
            Some(_) => {
                let text = self.read_unquoted();
                if text.chars().all(|c| c == '*') {
                    Bound::Unbounded
                } else {
                    Bound::Included(text)
                }
            }
        };
        let bound = match value {
            Bound::Included(v) if !inclusive => Bound::Excluded(v),
            other => other,
        };
        let (lower, upper) = if greater {
            (bound, Bound::Unbounded)
        } else {
            (Bound::Unbounded, bound)
        };
        Ok(Expr::Field {
            field: field.to_string(),
            pred: Pred::Range { lower, upper },
        })
    }

    /// `[a TO b]`, `{a TO b}` or mixed, at `self.pos`.
    fn parse_range(&mut self) -> Result<Pred, ParseError> {
        let open = self.pos;
        let open_char = self.chars[open];
        self.pos += 1;
        self.skip_ws();
        let lower = self.read_bound(open, open_char)?;
        self.skip_ws();
        let to = self.pos;
        let is_to = self.peek().is_some_and(|c| c.eq_ignore_ascii_case(&'t'))
            && self
                .peek_at(to + 1)
                .is_some_and(|c| c.eq_ignore_ascii_case(&'o'))
            && self
                .peek_at(to + 2)
                .is_some_and(|c| c.is_whitespace() || c == '"');
        if !is_to {
            return Err(self.err(
                to,
                format!(
                    "expected 'TO' in the range '{open_char}' at column {}{}",
                    open + 1,
                    found_suffix(&self.chars, to)
                ),
            ));
        }
        self.pos += 2;
        self.skip_ws();
        let upper = self.read_bound(open, open_char)?;
        self.skip_ws();
        let inclusive_upper = match self.peek() {
            Some(']') => true,
            Some('}') => false,
            _ => {
                return Err(self.err(
                    self.pos,
                    format!(
                        "expected ']' or '}}' to close the range '{open_char}' at column {}{}",
                        open + 1,
                        found_suffix(&self.chars, self.pos)
                    ),
                ));
            }
        };
        self.pos += 1;
        let wrap = |b: Option<String>, inclusive: bool| match b {
            None => Bound::Unbounded,
            Some(v) if inclusive => Bound::Included(v),
            Some(v) => Bound::Excluded(v),
        };
        Ok(Pred::Range {
            lower: wrap(lower, open_char == '['),
            upper: wrap(upper, inclusive_upper),
        })
    }

    /// One bound of a range: quoted, or unquoted up to whitespace, `]` or `}`; `None` for an
    /// unquoted `*`.
    fn read_bound(&mut self, open: usize, open_char: char) -> Result<Option<String>, ParseError> {
        if self.peek() == Some('"') {
            return self.read_phrase().map(Some);
        }
        let start = self.pos;
        while self
            .peek()
            .is_some_and(|c| !c.is_whitespace() && c != ']' && c != '}')
        {
            self.pos += 1;
        }
        if self.pos == start {
            return Err(self.err(
                start,
                format!(
                    "expected a bound in the range '{open_char}' at column {}{}",
                    open + 1,
                    found_suffix(&self.chars, start)
                ),
            ));
        }
        let text = self.text(start, self.pos);
        Ok((!text.chars().all(|c| c == '*')).then_some(text))
    }
}

#[derive(Clone, Debug, PartialEq)]
enum Tok {
    Word(String),
    Comma,
    LParen,
    RParen,
    Eq,
    Pipe,
    End,
}

/// The pipe stages: tokens first (no quoting here), then one small parser per command.
struct StageParser {
    toks: Vec<(Tok, usize)>,
    i: usize,
}

impl StageParser {
    /// Tokens of `chars[start..]`, each with its 0-based position; `start` is at a `|` or
    /// the end.
    fn new(chars: &[char], start: usize) -> Self {
        let mut toks = Vec::new();
        let mut i = start;
        while let Some(&c) = chars.get(i) {
            let tok = match c {
                c if c.is_whitespace() => {
                    i += 1;
                    continue;
                }
                ',' => Tok::Comma,
                '(' => Tok::LParen,
                ')' => Tok::RParen,
                '=' => Tok::Eq,
                '|' => Tok::Pipe,
                _ => {
                    let begin = i;
                    while chars
                        .get(i)
                        .is_some_and(|&c| !c.is_whitespace() && !",()=|".contains(c))
                    {
                        i += 1;
                    }
                    toks.push((Tok::Word(chars[begin..i].iter().collect()), begin));
                    continue;
                }
            };
            toks.push((tok, i));
            i += 1;
        }
        toks.push((Tok::End, chars.len().max(start)));
        StageParser { toks, i: 0 }
    }

    fn peek(&self) -> &Tok {
        self.toks.get(self.i).map_or(&Tok::End, |(t, _)| t)
    }

    fn peek2(&self) -> &Tok {
        self.toks.get(self.i + 1).map_or(&Tok::End, |(t, _)| t)
    }

    /// The 1-based column of the current token.
    fn column(&self) -> usize {
        self.toks
            .get(self.i)
            .or(self.toks.last())
            .map_or(1, |(_, p)| p + 1)
    }

    fn bump(&mut self) {
        if self.i + 1 < self.toks.len() {
            self.i += 1;
        }
    }

    fn err(&self, message: impl Into<String>) -> ParseError {
        ParseError {
            column: self.column(),
            message: message.into(),
        }
    }

    /// `'x'` for the current token, or `end of input`.
    fn describe(&self) -> String {
        match self.peek() {
            Tok::Word(w) => {
                let mut s: String = w.chars().take(30).collect();
                if w.chars().count() > 30 {
                    s.push('…');
                }
                format!("'{s}'")
            }
            Tok::Comma => "','".to_string(),
            Tok::LParen => "'('".to_string(),
            Tok::RParen => "')'".to_string(),
            Tok::Eq => "'='".to_string(),
            Tok::Pipe => "'|'".to_string(),
            Tok::End => "end of input".to_string(),
        }
    }

    /// An error "expected WHAT, found X" ("expected WHAT" at the end of the input).
    fn expected(&self, what: &str) -> ParseError {
        if *self.peek() == Tok::End {
            self.err(format!("expected {what}"))
        } else {
            self.err(format!("expected {what}, found {}", self.describe()))
        }
    }

    /// The current token is the word `w` (any case).
    fn at_word(&self, w: &str) -> bool {
        matches!(self.peek(), Tok::Word(x) if x.eq_ignore_ascii_case(w))
    }

    /// Whether the current token ends the stage.
    fn at_stage_end(&self) -> bool {
        matches!(self.peek(), Tok::Pipe | Tok::End)
    }

    fn parse_stages(mut self) -> Result<Vec<Stage>, ParseError> {
        let mut stages = Vec::new();
        while *self.peek() == Tok::Pipe {
            self.bump();
            let command = match self.peek() {
                Tok::Word(w) => w.to_ascii_lowercase(),
                _ => {
                    return Err(
                        self.expected(&format!("a pipe command after '|' (one of: {COMMANDS})"))
                    );
                }
            };
            let stage = match command.as_str() {
                "stats" => {
                    self.bump();
                    self.parse_stats()?
                }
                "top" => {
                    self.bump();
                    self.parse_top()?
                }
                "timechart" => {
                    self.bump();
                    self.parse_timechart()?
                }
                "sort" => {
                    self.bump();
                    self.parse_sort()?
                }
                "head" => {
                    self.bump();
                    self.parse_head()?
                }
                "fields" => {
                    self.bump();
                    Stage::Fields(self.parse_field_list("'fields'")?)
                }
                _ => {
                    return Err(self.err(format!(
                        "unknown pipe command {} (expected one of: {COMMANDS})",
                        self.describe()
                    )));
                }
            };
            if !self.at_stage_end() {
                return Err(self.expected(&format!(
                    "'|' or the end of the query after the '{command}' stage"
                )));
            }
            stages.push(stage);
        }
        if *self.peek() != Tok::End {
            return Err(self.expected("'|' or the end of the query"));
        }
        Ok(stages)
    }

    /// A field name; `after` says after what, for the error.
    fn field(&mut self, after: &str) -> Result<String, ParseError> {
        self.name("a field name", after)
    }

    /// A word made of field-name characters; `what` and `after` are for the error.
    fn name(&mut self, what: &str, after: &str) -> Result<String, ParseError> {
        match self.peek() {
            Tok::Word(w) if is_field_name(w) => {
                let w = w.clone();
                self.bump();
                Ok(w)
            }
            _ => Err(self.expected(&format!("{what} after {after}"))),
        }
    }

    /// Fields separated by commas and/or spaces, at least one, up to the end of the stage.
    fn parse_field_list(&mut self, after: &str) -> Result<Vec<String>, ParseError> {
        let mut fields = vec![self.field(after)?];
        while !self.at_stage_end() {
            if *self.peek() == Tok::Comma {
                self.bump();
                fields.push(self.field("','")?);
            } else {
                let last = fields.last().cloned().unwrap_or_default();
                fields.push(self.field(&format!("'{last}'"))?);
            }
        }
        Ok(fields)
    }

    /// A positive count (`top 5`, `head 20`).
    fn count(&mut self, after: &str) -> Result<usize, ParseError> {
        let Tok::Word(w) = self.peek() else {
            return Err(self.expected(&format!("a number after {after}")));
        };
        if w.is_empty() || !w.bytes().all(|b| b.is_ascii_digit()) {
            return Err(self.expected(&format!("a number after {after}")));
        }
        match w.parse::<usize>() {
            Ok(0) => Err(self.err(format!(
                "expected a count of at least 1 after {after}, found '0'"
            ))),
            Ok(n) => {
                self.bump();
                Ok(n)
            }
            Err(_) => Err(self.err(format!("number {} is too large", self.describe()))),
        }
    }

    fn is_number(tok: &Tok) -> bool {
        matches!(tok, Tok::Word(w) if w.bytes().all(|b| b.is_ascii_digit()))
    }

    /// Aggregations up to `by`, `span=` or the end of the stage; at least one.
    fn parse_aggs(&mut self, command: &str) -> Result<Vec<Agg>, ParseError> {
        let mut aggs = Vec::new();
        let mut after_comma = false;
        loop {
            let stop = self.at_stage_end()
                || self.at_word("by")
                || (command == "timechart" && self.at_word("span") && *self.peek2() == Tok::Eq);
            if stop && !after_comma && !aggs.is_empty() {
                return Ok(aggs);
            }
            if stop || !matches!(self.peek(), Tok::Word(_)) {
                let after = if after_comma {
                    "','".to_string()
                } else {
                    format!("'{command}'")
                };
                return Err(
                    self.expected(&format!("an aggregation after {after} (one of: {AGGS})"))
                );
            }
            aggs.push(self.parse_agg()?);
            after_comma = *self.peek() == Tok::Comma;
            if after_comma {
                self.bump();
            }
        }
    }

    /// `count`, `count(f)`, `dc(f)`, … with an optional `as NAME`.
    fn parse_agg(&mut self) -> Result<Agg, ParseError> {
        let Tok::Word(name) = self.peek() else {
            return Err(self.expected(&format!("an aggregation (one of: {AGGS})")));
        };
        let func = match name.to_ascii_lowercase().as_str() {
            "count" => AggFunc::Count,
            "dc" | "distinct_count" => AggFunc::Dc,
            "min" => AggFunc::Min,
            "max" => AggFunc::Max,
            "avg" => AggFunc::Avg,
            "sum" => AggFunc::Sum,
            _ => {
                return Err(self.err(format!(
                    "unknown aggregation {} (expected one of: {AGGS})",
                    self.describe()
                )));
            }
        };
        let name = name.clone();
        self.bump();
        let field = if *self.peek() == Tok::LParen {
            let open = self.column();
            self.bump();
            let field = if func == AggFunc::Count && *self.peek() == Tok::RParen {
                None
            } else {
                Some(self.field(&format!("'{name}('"))?)
            };
            if *self.peek() != Tok::RParen {
                return Err(self.expected(&format!("')' to close '(' at column {open}")));
            }
            self.bump();
            field
        } else if func == AggFunc::Count {
            None
        } else {
            return Err(self.expected(&format!(
                "'(' and a field after '{name}', as in {name}(bytes)"
            )));
        };
        let alias = if self.at_word("as") {
            self.bump();
            Some(self.name("a name", "'as'")?)
        } else {
            None
        };
        Ok(Agg { func, field, alias })
    }

    fn parse_stats(&mut self) -> Result<Stage, ParseError> {
        let aggs = self.parse_aggs("stats")?;
        let by = if self.at_word("by") {
            self.bump();
            self.parse_field_list("'by'")?
        } else {
            Vec::new()
        };
        Ok(Stage::Stats { aggs, by })
    }

    fn parse_top(&mut self) -> Result<Stage, ParseError> {
        let (n, after) = if Self::is_number(self.peek()) {
            let n = self.count("'top'")?;
            (n, format!("'top {n}'"))
        } else {
            (DEFAULT_COUNT, "'top'".to_string())
        };
        let field = self.field(&after)?;
        Ok(Stage::Top { n, field })
    }

    /// `span=DUR`, if the current tokens are that.
    fn span(&mut self, span: &mut Option<u64>) -> Result<(), ParseError> {
        if !(self.at_word("span") && *self.peek2() == Tok::Eq) {
            return Ok(());
        }
        if span.is_some() {
            return Err(self.err("'span' given twice"));
        }
        self.bump();
        self.bump();
        let secs = match self.peek() {
            Tok::Word(w) => parse_duration_secs(w),
            _ => None,
        };
        match secs {
            Some(secs) => {
                *span = Some(secs);
                self.bump();
                Ok(())
            }
            None => Err(self.expected(
                "a duration after 'span=': a positive number with a unit s, m, h, d or w, \
                 as in span=30m",
            )),
        }
    }

    fn parse_timechart(&mut self) -> Result<Stage, ParseError> {
        let mut span = None;
        self.span(&mut span)?;
        let aggs = self.parse_aggs("timechart")?;
        self.span(&mut span)?;
        let by = if self.at_word("by") {
            self.bump();
            if self.at_word("span") && *self.peek2() == Tok::Eq {
                return Err(self.expected("a field name after 'by'"));
            }
            let field = self.field("'by'")?;
            if !self.at_stage_end() && !self.at_word("span") {
                return Err(self.err(format!(
                    "timechart takes one 'by' field, found {}",
                    self.describe()
                )));
            }
            Some(field)
        } else {
            None
        };
        self.span(&mut span)?;
        Ok(Stage::Timechart {
            span_secs: span.unwrap_or(DEFAULT_SPAN_SECS),
            aggs,
            by,
        })
    }

    fn parse_sort(&mut self) -> Result<Stage, ParseError> {
        let mut keys = Vec::new();
        let mut after = "'sort'".to_string();
        loop {
            let Tok::Word(w) = self.peek() else {
                return Err(self.expected(&format!("a field name after {after}")));
            };
            let (sign, name) = match w.chars().next() {
                Some('-') => (Some(true), &w[1..]),
                Some('+') => (Some(false), &w[1..]),
                _ => (None, w.as_str()),
            };
            if !is_field_name(name) {
                return Err(self.expected(&format!("a field name after {after}")));
            }
            let field = name.to_string();
            let written = w.clone();
            self.bump();
            let word = if self.at_word("desc") {
                Some(true)
            } else if self.at_word("asc") {
                Some(false)
            } else {
                None
            };
            if let Some(desc) = word {
                if sign.is_some_and(|s| s != desc) {
                    return Err(self.err(format!(
                        "contradictory sort order: '{written}' then {}",
                        self.describe()
                    )));
                }
                self.bump();
            }
            keys.push(SortKey {
                field,
                descending: word.or(sign).unwrap_or(false),
            });
            if self.at_stage_end() {
                return Ok(Stage::Sort(keys));
            }
            if *self.peek() == Tok::Comma {
                self.bump();
                after = "','".to_string();
            } else {
                after = format!("'{written}'");
            }
        }
    }

    fn parse_head(&mut self) -> Result<Stage, ParseError> {
        if self.at_stage_end() {
            return Ok(Stage::Head(DEFAULT_COUNT));
        }
        Ok(Stage::Head(self.count("'head'")?))
    }
}
