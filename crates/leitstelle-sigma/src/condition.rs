//! The Sigma condition grammar.
//!
//! ```text
//! expr    := and ("or" and)*
//! and     := unary ("and" unary)*
//! unary   := "not" unary | primary
//! primary := "(" expr ")" | quant "of" target | IDENT
//! quant   := NUMBER | "all" | "any"
//! target  := "them" | PATTERN        (PATTERN may contain `*` wildcards)
//! ```
//! Precedence from loosest: or, and, not, `x of`, parentheses. Keywords are case-insensitive.
//! Deprecated aggregations (`| count() by x > 5`) are rejected with their own error.

use std::fmt;

/// How many of the targeted searches must match.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Quant {
    All,
    AtLeast(usize),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Cond {
    Ident(String),
    /// `quant of pattern`; `None` pattern means `them`.
    Of(Quant, Option<String>),
    Not(Box<Cond>),
    And(Vec<Cond>),
    Or(Vec<Cond>),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConditionError {
    /// 1-based column in the condition text.
    pub col: usize,
    pub message: String,
    /// True for the deprecated aggregation syntax.
    pub aggregation: bool,
}

impl fmt::Display for ConditionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "column {}: {}", self.col, self.message)
    }
}

#[derive(Clone, Debug, PartialEq)]
enum Tok {
    LParen,
    RParen,
    Pipe,
    Word(String),
}

fn lex(text: &str) -> Result<Vec<(Tok, usize)>, ConditionError> {
    let mut out = Vec::new();
    let mut chars = text.char_indices().peekable();
    while let Some(&(i, c)) = chars.peek() {
        let col = text[..i].chars().count() + 1;
        match c {
            c if c.is_whitespace() => {
                chars.next();
            }
            '(' => {
                chars.next();
                out.push((Tok::LParen, col));
            }
            ')' => {
                chars.next();
                out.push((Tok::RParen, col));
            }
            '|' => {
                chars.next();
                out.push((Tok::Pipe, col));
            }
            c if c.is_alphanumeric() || matches!(c, '_' | '*' | '-' | '.') => {
                let mut w = String::new();
                while let Some(&(_, c)) = chars.peek() {
                    if c.is_alphanumeric() || matches!(c, '_' | '*' | '-' | '.') {
                        w.push(c);
                        chars.next();
                    } else {
                        break;
                    }
                }
                out.push((Tok::Word(w), col));
            }
            other => {
                return Err(ConditionError {
                    col,
                    message: format!("unexpected character `{other}`"),
                    aggregation: false,
                });
            }
        }
    }
    Ok(out)
}

struct P {
    toks: Vec<(Tok, usize)>,
    pos: usize,
    end_col: usize,
    depth: usize,
}

const MAX_DEPTH: usize = 64;

fn is_kw(t: &Tok, kw: &str) -> bool {
    matches!(t, Tok::Word(w) if w.eq_ignore_ascii_case(kw))
}

impl P {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos).map(|(t, _)| t)
    }

    fn col(&self) -> usize {
        self.toks.get(self.pos).map_or(self.end_col, |(_, c)| *c)
    }

    fn err(&self, message: impl Into<String>) -> ConditionError {
        ConditionError {
            col: self.col(),
            message: message.into(),
            aggregation: false,
        }
    }

    fn found(&self) -> String {
        match self.peek() {
            None => "end of condition".into(),
            Some(Tok::LParen) => "`(`".into(),
            Some(Tok::RParen) => "`)`".into(),
            Some(Tok::Pipe) => "`|`".into(),
            Some(Tok::Word(w)) => format!("`{w}`"),
        }
    }

    fn expr(&mut self) -> Result<Cond, ConditionError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(self.err("condition nested too deeply"));
        }
        let mut items = vec![self.and()?];
        while self.peek().is_some_and(|t| is_kw(t, "or")) {
            self.pos += 1;
            items.push(self.and()?);
        }
        self.depth -= 1;
        Ok(if items.len() == 1 {
            items.remove(0)
        } else {
            Cond::Or(items)
        })
    }

    fn and(&mut self) -> Result<Cond, ConditionError> {
        let mut items = vec![self.unary()?];
        while self.peek().is_some_and(|t| is_kw(t, "and")) {
            self.pos += 1;
            items.push(self.unary()?);
        }
        Ok(if items.len() == 1 {
            items.remove(0)
        } else {
            Cond::And(items)
        })
    }

    fn unary(&mut self) -> Result<Cond, ConditionError> {
        if self.peek().is_some_and(|t| is_kw(t, "not")) {
            self.pos += 1;
            self.depth += 1;
            if self.depth > MAX_DEPTH {
                return Err(self.err("condition nested too deeply"));
            }
            let inner = self.unary()?;
            self.depth -= 1;
            return Ok(Cond::Not(Box::new(inner)));
        }
        self.primary()
    }

    fn primary(&mut self) -> Result<Cond, ConditionError> {
        match self.peek().cloned() {
            Some(Tok::LParen) => {
                self.pos += 1;
                let e = self.expr()?;
                if self.peek() != Some(&Tok::RParen) {
                    return Err(self.err(format!("expected `)`, found {}", self.found())));
                }
                self.pos += 1;
                Ok(e)
            }
            Some(Tok::Word(w)) => {
                let quant = if w.eq_ignore_ascii_case("all") {
                    Some(Quant::All)
                } else if w.eq_ignore_ascii_case("any") {
                    Some(Quant::AtLeast(1))
                } else if let Ok(n) = w.parse::<usize>() {
                    if n == 0 {
                        return Err(self.err("`0 of` is always true; use `not 1 of` instead"));
                    }
                    Some(Quant::AtLeast(n))
                } else {
                    None
                };
                if let Some(q) = quant
                    && self
                        .toks
                        .get(self.pos + 1)
                        .is_some_and(|(t, _)| is_kw(t, "of"))
                {
                    self.pos += 2;
                    return match self.peek().cloned() {
                        Some(Tok::Word(t)) if t.eq_ignore_ascii_case("them") => {
                            self.pos += 1;
                            Ok(Cond::Of(q, None))
                        }
                        Some(Tok::Word(t)) if !is_reserved(&t) => {
                            self.pos += 1;
                            Ok(Cond::Of(q, Some(t)))
                        }
                        _ => Err(self.err(format!(
                            "expected `them` or a search identifier pattern after `of`, found {}",
                            self.found()
                        ))),
                    };
                }
                if is_reserved(&w) {
                    return Err(self.err(format!(
                        "expected a search identifier, `not`, `(` or `N of`, found `{w}`"
                    )));
                }
                self.pos += 1;
                Ok(Cond::Ident(w))
            }
            _ => Err(self.err(format!(
                "expected a search identifier, `not`, `(` or `N of`, found {}",
                self.found()
            ))),
        }
    }
}

fn is_reserved(w: &str) -> bool {
    ["and", "or", "not", "of", "them"]
        .iter()
        .any(|k| w.eq_ignore_ascii_case(k))
}

/// Parses one condition string.
pub fn parse(text: &str) -> Result<Cond, ConditionError> {
    if let Some(i) = text.find('|') {
        return Err(ConditionError {
            col: text[..i].chars().count() + 1,
            message: "aggregation expressions (`| count() …`) are deprecated since Sigma 2.0 \
                      and not supported; use a correlation rule"
                .into(),
            aggregation: true,
        });
    }
    let toks = lex(text)?;
    let mut p = P {
        toks,
        pos: 0,
        end_col: text.chars().count() + 1,
        depth: 0,
    };
    let e = p.expr()?;
    if p.pos != p.toks.len() {
        return Err(p.err(format!(
            "expected `and`, `or` or end of condition, found {}",
            p.found()
        )));
    }
    Ok(e)
}

/// Whether a search identifier matches an `x of pattern` pattern (`*` matches any run).
pub fn pattern_matches(pattern: &str, name: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    // Iterative wildcard match with backtracking to the last star.
    let (mut pi, mut ni) = (0, 0);
    let (mut star, mut mark) = (None, 0);
    while ni < n.len() {
        if pi < p.len() && p[pi] != '*' && p[pi] == n[ni] {
            pi += 1;
            ni += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ni;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ni = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn show(c: &Cond) -> String {
        match c {
            Cond::Ident(s) => s.clone(),
            Cond::Of(Quant::All, t) => format!("all({})", t.as_deref().unwrap_or("them")),
            Cond::Of(Quant::AtLeast(n), t) => format!("{n}({})", t.as_deref().unwrap_or("them")),
            Cond::Not(i) => format!("!{}", show(i)),
            Cond::And(v) => format!("({})", v.iter().map(show).collect::<Vec<_>>().join(" & ")),
            Cond::Or(v) => format!("({})", v.iter().map(show).collect::<Vec<_>>().join(" | ")),
        }
    }

    fn check(input: &str, expected: &str) {
        match parse(input) {
            Ok(c) => assert_eq!(show(&c), expected, "{input}"),
            Err(e) => assert_eq!(format!("error: {e}"), expected, "{input}"),
        }
    }

    #[test]
    fn grammar() {
        check("selection", "selection");
        check("a and b or c", "((a & b) | c)");
        check("a or b and c", "(a | (b & c))");
        check("not a and b", "(!a & b)");
        check("not not a", "!!a");
        check("a and (b or c)", "(a & (b | c))");
        check(
            "1 of sel* and not 1 of filter_*",
            "(1(sel*) & !1(filter_*))",
        );
        check("all of them", "all(them)");
        check("1 of them", "1(them)");
        check("any of sel_*", "1(sel_*)");
        check("2 of sel*", "2(sel*)");
        check("Selection AND NOT Filter", "(Selection & !Filter)");
        check("sel-1 or sel.2", "(sel-1 | sel.2)");
        check(
            "all of selection_* and not (filter_main_* or 1 of filter_optional_*)",
            "(all(selection_*) & !(filter_main_* | 1(filter_optional_*)))",
        );
    }

    #[test]
    fn errors_point_at_columns() {
        check(
            "",
            "error: column 1: expected a search identifier, `not`, `(` or `N of`, found end of condition",
        );
        check(
            "a and",
            "error: column 6: expected a search identifier, `not`, `(` or `N of`, found end of condition",
        );
        check(
            "(a or b",
            "error: column 8: expected `)`, found end of condition",
        );
        check(
            "a b",
            "error: column 3: expected `and`, `or` or end of condition, found `b`",
        );
        check(
            "1 of",
            "error: column 5: expected `them` or a search identifier pattern after `of`, found end of condition",
        );
        check("a & b", "error: column 3: unexpected character `&`");
        check(
            "0 of x",
            "error: column 1: `0 of` is always true; use `not 1 of` instead",
        );
        let e = parse("sel | count() by Host > 5").expect_err("aggregation");
        assert!(e.aggregation && e.col == 5);
    }

    #[test]
    fn deep_nesting_is_refused_not_overflowed() {
        let text = format!("{}a{}", "(".repeat(10_000), ")".repeat(10_000));
        assert!(parse(&text).is_err());
        let text = format!("{}a", "not ".repeat(10_000));
        assert!(parse(&text).is_err());
    }

    #[test]
    fn patterns() {
        assert!(pattern_matches("sel*", "selection"));
        assert!(pattern_matches("*", "x"));
        assert!(pattern_matches("a*b*c", "axxbyyc"));
        assert!(!pattern_matches("a*b*c", "axxbyy"));
        assert!(pattern_matches("filter_main_*", "filter_main_x"));
        assert!(!pattern_matches("filter_main_*", "filter_optional"));
    }
}
