//! Required literals of a regex: a small set of strings one of which occurs, case-folded, in
//! the folded text of every value the regex matches. They let a regex trigger its rule (a
//! scanned `contains` needle) instead of running on every event.
//!
//! Unlike prefix extraction, a literal may sit anywhere in the match (`\w+` + "`" + …), so
//! regexes that start with a class still get needles. The analysis is conservative: any part
//! it does not understand contributes nothing, and a regex without a usable set gets `None`.

use regex_syntax::hir::{Class, Hir, HirKind};

use crate::value::{fold, fold_char};

/// At most this many strings in a set (larger sets are dropped as uninformative).
const MAX_SET: usize = 64;
/// A class of at most this many characters is enumerated (`(?i)a` is `[Aa]`).
const MAX_CLASS: u32 = 8;

/// What is known about the texts one part of a regex matches (all strings case-folded).
#[derive(Clone, Debug, PartialEq, Eq)]
enum Lits {
    /// The part matches exactly one of these strings.
    Exact(Vec<String>),
    /// Every match of the part contains one of these strings.
    Required(Vec<String>),
    /// Nothing useful.
    Unknown,
}

/// The required literals of a regex (case-folded, sorted, non-empty, at most 64), or `None`.
pub(crate) fn required_literals(re: &regex::Regex) -> Option<Vec<String>> {
    let hir = regex_syntax::ParserBuilder::new()
        .build()
        .parse(re.as_str())
        .ok()?;
    let mut set = match analyse(&hir) {
        Lits::Exact(s) | Lits::Required(s) => s,
        Lits::Unknown => return None,
    };
    if set.is_empty() || set.len() > MAX_SET || set.iter().any(String::is_empty) {
        return None;
    }
    set.sort_unstable();
    set.dedup();
    Some(set)
}

fn dedup(mut v: Vec<String>) -> Vec<String> {
    v.sort_unstable();
    v.dedup();
    v
}

/// How useful a required set is as a prefilter: longer shortest needles are rarer.
fn score(set: &[String]) -> (usize, std::cmp::Reverse<usize>) {
    let shortest = set.iter().map(String::len).min().unwrap_or(0);
    (shortest, std::cmp::Reverse(set.len()))
}

fn analyse(hir: &Hir) -> Lits {
    match hir.kind() {
        HirKind::Empty | HirKind::Look(_) => Lits::Exact(vec![String::new()]),
        HirKind::Literal(lit) => match std::str::from_utf8(&lit.0) {
            Ok(s) => Lits::Exact(vec![fold(s)]),
            Err(_) => Lits::Unknown,
        },
        HirKind::Class(Class::Unicode(c)) => {
            let mut n = 0u32;
            for r in c.ranges() {
                n = n.saturating_add(u32::from(r.end()) - u32::from(r.start()) + 1);
            }
            if n > MAX_CLASS {
                return Lits::Unknown;
            }
            let mut out = Vec::new();
            for r in c.ranges() {
                for cp in u32::from(r.start())..=u32::from(r.end()) {
                    match char::from_u32(cp) {
                        Some(ch) => out.push(fold_char(ch).to_string()),
                        None => return Lits::Unknown,
                    }
                }
            }
            Lits::Exact(dedup(out))
        }
        HirKind::Class(Class::Bytes(_)) => Lits::Unknown,
        HirKind::Capture(c) => analyse(&c.sub),
        HirKind::Repetition(r) => {
            if r.min == 0 {
                return Lits::Unknown;
            }
            match analyse(&r.sub) {
                Lits::Exact(s) if r.min == 1 && r.max == Some(1) => Lits::Exact(s),
                Lits::Exact(s) | Lits::Required(s) => Lits::Required(s),
                Lits::Unknown => Lits::Unknown,
            }
        }
        HirKind::Concat(parts) => concat(parts),
        HirKind::Alternation(alts) => {
            let mut all_exact = true;
            let mut union = Vec::new();
            for a in alts {
                match analyse(a) {
                    Lits::Exact(s) => union.extend(s),
                    Lits::Required(s) => {
                        all_exact = false;
                        union.extend(s);
                    }
                    Lits::Unknown => return Lits::Unknown,
                }
                if union.len() > MAX_SET {
                    return Lits::Unknown;
                }
            }
            let union = dedup(union);
            if all_exact {
                Lits::Exact(union)
            } else {
                Lits::Required(union)
            }
        }
    }
}

/// A concatenation: runs of exact parts join into longer exact strings (their cross product
/// while it stays small); the result is the whole when every part is exact, otherwise the
/// best candidate among the runs and the parts' own required sets.
fn concat(parts: &[Hir]) -> Lits {
    let mut run: Vec<String> = vec![String::new()];
    let mut whole_exact = true;
    let mut best: Option<Vec<String>> = None;
    let offer = |cand: Vec<String>, best: &mut Option<Vec<String>>| {
        if cand.is_empty() || cand.len() > MAX_SET || cand.iter().any(String::is_empty) {
            return;
        }
        if best.as_ref().is_none_or(|b| score(&cand) > score(b)) {
            *best = Some(cand);
        }
    };
    for p in parts {
        match analyse(p) {
            Lits::Exact(s) => {
                if run.len() * s.len() <= MAX_SET {
                    let mut next = Vec::with_capacity(run.len() * s.len());
                    for a in &run {
                        for b in &s {
                            next.push(format!("{a}{b}"));
                        }
                    }
                    run = dedup(next);
                } else {
                    whole_exact = false;
                    offer(std::mem::replace(&mut run, s), &mut best);
                }
            }
            other => {
                whole_exact = false;
                offer(std::mem::replace(&mut run, vec![String::new()]), &mut best);
                if let Lits::Required(s) = other {
                    offer(s, &mut best);
                }
            }
        }
    }
    if whole_exact {
        return Lits::Exact(run);
    }
    offer(run, &mut best);
    match best {
        Some(b) => Lits::Required(b),
        None => Lits::Unknown,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::value::build_regex;

    fn check(pattern: &str, i: bool, expected: Option<&[&str]>) {
        let re = build_regex(pattern, i, false, false).expect("valid test regex");
        let got = required_literals(&re);
        let want = expected.map(|v| v.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        assert_eq!(got, want, "{pattern}");
    }

    #[test]
    fn finds_required_literals() {
        check("abc", false, Some(&["abc"]));
        check("ABC", false, Some(&["abc"]));
        check(r"\w+`(?:\w+|-|.)`[\w+|\s]", false, Some(&["`"]));
        check(r#""(?:\{\d\})+"\s*-f"#, false, Some(&["-f"]));
        check(r"\$\{`?e`?n`?v", true, Some(&["${"]));
        check("(?:foo|bar)baz", false, Some(&["barbaz", "foobaz"]));
        check(r"\d+\.exe", false, Some(&[".exe"]));
        check("a|b", false, Some(&["a", "b"]));
        check("(?:ab)+c", false, Some(&["ab"]));
        check(r"^\s*cmd", true, Some(&["cmd"]));
        // `(?i)k` is `[Kk\u{212A}]`: all fold to `k`.
        check("k", true, Some(&["k"]));
        check("Ä", true, Some(&["ä"]));
        check("ß", true, Some(&["ß"]));
    }

    #[test]
    fn gives_up_when_nothing_is_required() {
        check(r"\d", false, None);
        check("a?", false, None);
        check("a*b*", false, None);
        check("a|.", false, None);
        check("^$", false, None);
        check(".", false, None);
    }
}
