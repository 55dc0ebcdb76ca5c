//! Properties of the parser on generated input: it never panics, its errors point inside the
//! text, its trees are normalised, and fully parenthesised boolean expressions read back as
//! the tree they were rendered from.

use leitstelle_query::{Expr, Pred, Query, parse, parse_time};
use proptest::prelude::*;

/// Pieces of query text, weighted towards the characters that mean something.
fn piece() -> impl Strategy<Value = &'static str> {
    prop::sample::select(vec![
        "a",
        "b",
        "x1",
        ":",
        "*",
        "?",
        "\"",
        "\\\"",
        "(",
        ")",
        " ",
        " ",
        " ",
        "|",
        "||",
        "&&",
        "!",
        "[",
        "]",
        "{",
        "}",
        "\\",
        "-",
        "+",
        ">",
        "<",
        "=",
        "é",
        "😀",
        "0",
        "5",
        "42",
        ",",
        "AND",
        "and",
        "OR",
        "or",
        "NOT",
        "not",
        "TO",
        "to",
        "_exists_",
        "stats",
        "count",
        "dc(",
        "avg(",
        "as",
        "by",
        "top",
        "timechart",
        "span=",
        "1h",
        "0h",
        "sort",
        "head",
        "fields",
        "desc",
        "asc",
        "\t",
        "\n",
    ])
}

fn query_text() -> impl Strategy<Value = String> {
    prop::collection::vec(piece(), 0..40).prop_map(|v| v.concat())
}

/// No `And` directly inside an `And` (same for `Or`), no list of fewer than two.
fn assert_normalised(e: &Expr) -> Result<(), TestCaseError> {
    match e {
        Expr::And(items) => {
            prop_assert!(items.len() >= 2, "short And: {e:?}");
            for item in items {
                prop_assert!(!matches!(item, Expr::And(_)), "nested And: {e:?}");
                assert_normalised(item)?;
            }
        }
        Expr::Or(items) => {
            prop_assert!(items.len() >= 2, "short Or: {e:?}");
            for item in items {
                prop_assert!(!matches!(item, Expr::Or(_)), "nested Or: {e:?}");
                assert_normalised(item)?;
            }
        }
        Expr::Not(inner) => assert_normalised(inner)?,
        Expr::Field { field, pred } => {
            prop_assert!(!field.is_empty());
            assert_pred(pred)?;
        }
        Expr::Any(pred) => assert_pred(pred)?,
        Expr::Exists(field) => prop_assert!(!field.is_empty()),
        Expr::All => {}
    }
    Ok(())
}

fn assert_pred(p: &Pred) -> Result<(), TestCaseError> {
    match p {
        Pred::Term(t) => prop_assert!(!t.is_empty() && !t.contains(['*', '?'])),
        Pred::Wildcard(parts) => {
            use leitstelle_query::WildPart::*;
            prop_assert!(!parts.is_empty());
            for w in parts.windows(2) {
                prop_assert!(
                    !matches!(w, [Literal(_), Literal(_)] | [Many, Many]),
                    "{parts:?}"
                );
            }
        }
        Pred::Phrase(_) | Pred::Range { .. } => {}
    }
    Ok(())
}

fn check_any_input(text: &str) -> Result<(), TestCaseError> {
    match parse(text) {
        Ok(Query { filter, .. }) => assert_normalised(&filter)?,
        Err(e) => {
            let chars = text.chars().count();
            prop_assert!(
                (1..=chars + 1).contains(&e.column),
                "column {} outside 1..={} for {text:?}",
                e.column,
                chars + 1
            );
            prop_assert!(!e.message.is_empty());
            prop_assert!(!e.message.ends_with('.'), "{}", e.message);
            prop_assert_eq!(e.to_string(), format!("column {}: {}", e.column, e.message));
        }
    }
    let _ = parse_time(text, 0);
    let _ = parse_time(text, i64::MAX);
    let _ = parse_time(text, i64::MIN);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3000))]

    #[test]
    fn never_panics_on_query_like_text(text in query_text()) {
        check_any_input(&text)?;
    }

    #[test]
    fn never_panics_on_any_text(text in any::<String>()) {
        check_any_input(&text)?;
    }

    #[test]
    fn never_panics_after_a_valid_prefix(
        prefix in prop::sample::select(vec![
            "a:b ", "a:(", "a:[", "a:{1 TO ", "x>", "_exists_:", "\"x", "(a OR ", "| stats ",
            "| timechart ", "| sort ", "| top ", "| head ", "| fields ", "NOT ", "-",
        ]),
        text in query_text(),
    ) {
        check_any_input(&format!("{prefix}{text}"))?;
    }
}

// ---- round trip -----------------------------------------------------------------------------

fn field_term() -> impl Strategy<Value = Expr> {
    ("[a-z][a-zA-Z0-9_.@#/-]{0,6}", r"[a-zA-Z0-9_.\\:/-]{1,8}")
        // An operator word is an operator when a space follows it (`or : x` is not the field
        // `or`), and is never an unquoted value.
        .prop_filter("operator words", |(f, v)| {
            let op = |s: &str| ["and", "or", "not"].contains(&s.to_ascii_lowercase().as_str());
            !op(f) && !op(v)
        })
        .prop_map(|(field, v)| Expr::Field {
            field,
            pred: Pred::Term(v),
        })
}

fn bool_expr() -> impl Strategy<Value = Expr> {
    field_term().prop_recursive(5, 48, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 2..5).prop_map(Expr::And),
            prop::collection::vec(inner.clone(), 2..5).prop_map(Expr::Or),
            inner.prop_map(|e| Expr::Not(Box::new(e))),
        ]
    })
}

/// What the parser makes of a tree: nested lists of the same kind merged.
fn normalise(e: Expr) -> Expr {
    fn merge(items: Vec<Expr>, and: bool) -> Vec<Expr> {
        let mut out = Vec::new();
        for item in items.into_iter().map(normalise) {
            match item {
                Expr::And(inner) if and => out.extend(inner),
                Expr::Or(inner) if !and => out.extend(inner),
                other => out.push(other),
            }
        }
        out
    }
    match e {
        Expr::And(items) => Expr::And(merge(items, true)),
        Expr::Or(items) => Expr::Or(merge(items, false)),
        Expr::Not(inner) => Expr::Not(Box::new(normalise(*inner))),
        other => other,
    }
}

/// Renders with full parentheses; `style` picks among the spellings of each operator.
fn render(e: &Expr, style: &mut impl Iterator<Item = u8>) -> String {
    let mut pick = || style.next().unwrap_or(0);
    match e {
        Expr::Field {
            field,
            pred: Pred::Term(v),
        } => {
            let sep = [":", " : ", ": ", " :"][usize::from(pick() % 4)];
            format!("{field}{sep}{v}")
        }
        Expr::And(items) => {
            let op = [" AND ", " and ", " && ", " ", "  And\t"][usize::from(pick() % 5)];
            let parts: Vec<String> = items.iter().map(|i| render(i, style)).collect();
            format!("({})", parts.join(op))
        }
        Expr::Or(items) => {
            let op = [" OR ", " or ", " || ", "\nOr "][usize::from(pick() % 4)];
            let parts: Vec<String> = items.iter().map(|i| render(i, style)).collect();
            format!("({})", parts.join(op))
        }
        Expr::Not(inner) => {
            let op = ["NOT ", "not ", "!", "! ", "-"][usize::from(pick() % 5)];
            format!("({op}{})", render(inner, style))
        }
        other => unreachable!("not generated: {other:?}"),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn rendered_trees_parse_back(e in bool_expr(), style in prop::collection::vec(any::<u8>(), 64)) {
        let expected = normalise(e);
        let text = render(&expected, &mut style.into_iter().cycle());
        let q = parse(&text).map_err(|err| TestCaseError::fail(format!("{text:?}: {err}")))?;
        prop_assert_eq!(&q.filter, &expected, "text {:?}", text);
        prop_assert!(q.stages.is_empty());
    }
}
