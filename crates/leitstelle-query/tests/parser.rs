//! The query grammar, form by form: each test is a table of (text, expected tree) or
//! (text, column, message).

use std::ops::Bound::{self, Excluded, Included, Unbounded};

use leitstelle_query::{
    Agg, AggFunc, Expr, ParseError, Pred, Query, SortKey, Stage, WildPart, parse,
};

// ---- builders -------------------------------------------------------------------------------

fn field(f: &str, pred: Pred) -> Expr {
    Expr::Field {
        field: f.into(),
        pred,
    }
}

/// `f:v` with an unquoted value.
fn ft(f: &str, v: &str) -> Expr {
    field(f, Pred::Term(v.into()))
}

/// A bare unquoted value.
fn any(v: &str) -> Expr {
    Expr::Any(Pred::Term(v.into()))
}

fn phrase(v: &str) -> Pred {
    Pred::Phrase(v.into())
}

fn and(items: Vec<Expr>) -> Expr {
    Expr::And(items)
}

fn or(items: Vec<Expr>) -> Expr {
    Expr::Or(items)
}

fn not(e: Expr) -> Expr {
    Expr::Not(Box::new(e))
}

fn exists(f: &str) -> Expr {
    Expr::Exists(f.into())
}

fn lit(s: &str) -> WildPart {
    WildPart::Literal(s.into())
}

use WildPart::{Many, One};

fn wild(parts: Vec<WildPart>) -> Pred {
    Pred::Wildcard(parts)
}

fn b(s: &str) -> String {
    s.into()
}

fn range(lower: Bound<String>, upper: Bound<String>) -> Pred {
    Pred::Range { lower, upper }
}

fn agg(func: AggFunc, f: Option<&str>, alias: Option<&str>) -> Agg {
    Agg {
        func,
        field: f.map(Into::into),
        alias: alias.map(Into::into),
    }
}

fn count() -> Agg {
    agg(AggFunc::Count, None, None)
}

fn key(f: &str, descending: bool) -> SortKey {
    SortKey {
        field: f.into(),
        descending,
    }
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}

// ---- checkers -------------------------------------------------------------------------------

fn parsed(text: &str) -> Query {
    match parse(text) {
        Ok(q) => q,
        Err(e) => panic!("{text:?} did not parse: {e}"),
    }
}

/// A filter without stages.
fn check(cases: &[(&str, Expr)]) {
    for (text, expected) in cases {
        let q = parsed(text);
        assert_eq!(&q.filter, expected, "filter of {text:?}");
        assert_eq!(q.stages, vec![], "stages of {text:?}");
    }
}

/// The stages of a query whose filter is `*`.
fn check_stages(cases: &[(&str, Vec<Stage>)]) {
    for (text, expected) in cases {
        let q = parsed(text);
        assert_eq!(q.filter, Expr::All, "filter of {text:?}");
        assert_eq!(&q.stages, expected, "stages of {text:?}");
    }
}

fn check_err(cases: &[(&str, usize, &str)]) {
    for &(text, column, message) in cases {
        match parse(text) {
            Ok(q) => panic!("{text:?} parsed to {q:?}, expected an error"),
            Err(e) => {
                assert_eq!(
                    e,
                    ParseError {
                        column,
                        message: message.into()
                    },
                    "error of {text:?}"
                );
                assert_eq!(e.to_string(), format!("column {column}: {message}"));
            }
        }
    }
}

// ---- filter ---------------------------------------------------------------------------------

#[test]
fn empty_and_star_are_all() {
    check(&[
        ("", Expr::All),
        ("   ", Expr::All),
        ("\t\n ", Expr::All),
        ("*", Expr::All),
        (" * ", Expr::All),
        ("***", Expr::All),
        ("(*)", Expr::All),
    ]);
}

#[test]
fn field_terms_and_field_names() {
    check(&[
        ("a:b", ft("a", "b")),
        ("a : b", ft("a", "b")),
        ("a: b", ft("a", "b")),
        ("a :b", ft("a", "b")),
        ("EventID:4625", ft("EventID", "4625")),
        (
            "Event.System.Provider.#attributes.Name:Microsoft-Windows-Sysmon",
            ft(
                "Event.System.Provider.#attributes.Name",
                "Microsoft-Windows-Sysmon",
            ),
        ),
        (
            "winlog.event_data.CommandLine:whoami",
            ft("winlog.event_data.CommandLine", "whoami"),
        ),
        ("@timestamp:x", ft("@timestamp", "x")),
        ("http/status-code:404", ft("http/status-code", "404")),
        ("4624:x", ft("4624", "x")),
        ("Benutzer.Näme:Jörg", ft("Benutzer.Näme", "Jörg")),
        // A value runs to whitespace: it may contain ':', '=', quotes, brackets.
        (
            "url:http://x/y?z=1",
            field("url", wild(vec![lit("http://x/y"), One, lit("z=1")])),
        ),
        ("a:b:c", ft("a", "b:c")),
        ("a:b\"c\"", ft("a", "b\"c\"")),
        ("a:!x", ft("a", "!x")),
        ("a:&&", ft("a", "&&")),
        ("a:-5", ft("a", "-5")),
        ("referrer:-", ft("referrer", "-")),
        // Words that look like operators are field names when a ':' follows.
        ("and:x", ft("and", "x")),
        ("NOT:x", ft("NOT", "x")),
        ("TO:x", ft("TO", "x")),
        ("a not:x", and(vec![any("a"), ft("not", "x")])),
        // ... but not with a space before the ':'.
        ("not :x", not(any(":x"))),
    ]);
}

#[test]
fn bare_values() {
    check(&[
        ("mimikatz", any("mimikatz")),
        ("10.0.0.1", any("10.0.0.1")),
        ("-", any("-")),
        ("a&&b", any("a&&b")),
        ("field=value", any("field=value")),
        ("foo(bar)", any("foo(bar)")),
        ("\"two words\"", Expr::Any(phrase("two words"))),
        ("\"and\"", Expr::Any(phrase("and"))),
        ("\"NOT\"", Expr::Any(phrase("NOT"))),
        ("foo*", Expr::Any(wild(vec![lit("foo"), Many]))),
        ("?", Expr::Any(wild(vec![One]))),
        (
            "*foo*:x",
            Expr::Any(wild(vec![Many, lit("foo"), Many, lit(":x")])),
        ),
        ("Straße", any("Straße")),
        // '+' is not an operator.
        ("+a", any("+a")),
    ]);
}

#[test]
fn precedence_and_grouping() {
    check(&[
        (
            "a OR b c",
            or(vec![any("a"), and(vec![any("b"), any("c")])]),
        ),
        ("NOT a b", and(vec![not(any("a")), any("b")])),
        (
            "a b OR c",
            or(vec![and(vec![any("a"), any("b")]), any("c")]),
        ),
        (
            "a AND b OR c AND d",
            or(vec![
                and(vec![any("a"), any("b")]),
                and(vec![any("c"), any("d")]),
            ]),
        ),
        ("NOT a OR b", or(vec![not(any("a")), any("b")])),
        ("a AND NOT b", and(vec![any("a"), not(any("b"))])),
        ("a NOT b", and(vec![any("a"), not(any("b"))])),
        ("NOT NOT a", not(not(any("a")))),
        (
            "(a OR b) c",
            and(vec![or(vec![any("a"), any("b")]), any("c")]),
        ),
        (
            "a AND (b OR c)",
            and(vec![any("a"), or(vec![any("b"), any("c")])]),
        ),
        ("((a))", any("a")),
        ("( a )", any("a")),
        ("(a)(b)", and(vec![any("a"), any("b")])),
        // Flattening, also across parentheses.
        ("a b c", and(vec![any("a"), any("b"), any("c")])),
        ("a AND b AND c", and(vec![any("a"), any("b"), any("c")])),
        ("(a b) c", and(vec![any("a"), any("b"), any("c")])),
        (
            "a (b AND (c d))",
            and(vec![any("a"), any("b"), any("c"), any("d")]),
        ),
        ("a OR (b OR c)", or(vec![any("a"), any("b"), any("c")])),
        (
            "(a OR b) OR c OR d",
            or(vec![any("a"), any("b"), any("c"), any("d")]),
        ),
        // Different kinds do not merge.
        ("NOT (a b)", not(and(vec![any("a"), any("b")]))),
        (
            "(a OR b) (c OR d)",
            and(vec![
                or(vec![any("a"), any("b")]),
                or(vec![any("c"), any("d")]),
            ]),
        ),
        (
            "a:1 OR b:2 AND NOT c:3",
            or(vec![
                ft("a", "1"),
                and(vec![ft("b", "2"), not(ft("c", "3"))]),
            ]),
        ),
    ]);
}

#[test]
fn operator_spellings() {
    let abc = || or(vec![and(vec![any("a"), any("b")]), not(any("c"))]);
    check(&[
        ("a AND b OR NOT c", abc()),
        ("a and b or not c", abc()),
        ("a And b Or Not c", abc()),
        ("a && b || !c", abc()),
        ("a && b || ! c", abc()),
        ("a&&b||!c", or(vec![any("a&&b"), not(any("c"))])),
        ("a b || -c", abc()),
        ("a||b", or(vec![any("a"), any("b")])),
        ("!a", not(any("a"))),
        ("NOT(a)", not(any("a"))),
        ("a AND(b)", and(vec![any("a"), any("b")])),
        ("NOT\"x\"", not(Expr::Any(phrase("x")))),
        // Longer words are not operators.
        ("ANDROID", any("ANDROID")),
        ("a ORACLE", and(vec![any("a"), any("ORACLE")])),
        ("NOTE", any("NOTE")),
    ]);
}

#[test]
fn minus_is_not() {
    check(&[
        ("-User:SYSTEM", not(ft("User", "SYSTEM"))),
        ("a -b", and(vec![any("a"), not(any("b"))])),
        ("-(a b)", not(and(vec![any("a"), any("b")]))),
        ("-\"x y\"", not(Expr::Any(phrase("x y")))),
        ("--a", not(not(any("a")))),
        ("-a:*", not(exists("a"))),
        // A '-' that does not touch a term is a value.
        ("a - b", and(vec![any("a"), any("-"), any("b")])),
        ("(a -)", and(vec![any("a"), any("-")])),
    ]);
}

#[test]
fn windows_paths() {
    check(&[
        (
            r"Image:C:\Windows\System32\cmd.exe",
            ft("Image", r"C:\Windows\System32\cmd.exe"),
        ),
        (
            r"TargetFilename:C:\Windows\Temp\*",
            field("TargetFilename", wild(vec![lit(r"C:\Windows\Temp\"), Many])),
        ),
        (
            r"Image:*\mimikatz.exe",
            field("Image", wild(vec![Many, lit(r"\mimikatz.exe")])),
        ),
        (
            r"CommandLine:*\\server\share\*",
            field(
                "CommandLine",
                wild(vec![Many, lit(r"\\server\share\"), Many]),
            ),
        ),
        (
            r#"Image:"C:\Program Files\x.exe""#,
            field("Image", phrase(r"C:\Program Files\x.exe")),
        ),
        (
            r"(Image:C:\a\b) OR Image:C:\c\",
            or(vec![ft("Image", r"C:\a\b"), ft("Image", r"C:\c\")]),
        ),
    ]);
}

#[test]
fn wildcards() {
    check(&[
        ("a:*foo*", field("a", wild(vec![Many, lit("foo"), Many]))),
        ("a:f?o", field("a", wild(vec![lit("f"), One, lit("o")]))),
        (
            "a:**x***y",
            field("a", wild(vec![Many, lit("x"), Many, lit("y")])),
        ),
        ("a:?*", field("a", wild(vec![One, Many]))),
        ("a:*?", field("a", wild(vec![Many, One]))),
        ("a:??", field("a", wild(vec![One, One]))),
        ("a:*?*", field("a", wild(vec![Many, One, Many]))),
        ("a:é*ü", field("a", wild(vec![lit("é"), Many, lit("ü")]))),
        (
            "*powershell*",
            Expr::Any(wild(vec![Many, lit("powershell"), Many])),
        ),
    ]);
}

#[test]
fn exists_and_star() {
    check(&[
        ("a:*", exists("a")),
        ("a: *", exists("a")),
        ("a:**", exists("a")),
        ("_exists_:a.b", exists("a.b")),
        ("_exists_ : a", exists("a")),
        ("(_exists_:a)", exists("a")),
        ("NOT _exists_:x", not(exists("x"))),
        ("a:\"*\"", field("a", phrase("*"))),
        // A bare `*` in a larger expression is `All`.
        ("* AND a", and(vec![Expr::All, any("a")])),
        ("a OR *", or(vec![any("a"), Expr::All])),
        ("NOT *", not(Expr::All)),
    ]);
}

#[test]
fn phrases() {
    check(&[
        (r#"msg:"hello world""#, field("msg", phrase("hello world"))),
        (r#"msg:"say \"hi\"""#, field("msg", phrase(r#"say "hi""#))),
        (r#"msg : "x""#, field("msg", phrase("x"))),
        (r#"a:"x?y*""#, field("a", phrase("x?y*"))),
        (r#"a:"""#, field("a", phrase(""))),
        (r#"a:"x\y\\z""#, field("a", phrase(r"x\y\\z"))),
        (r#"a:"(|)""#, field("a", phrase("(|)"))),
        (r#"a:"AND""#, field("a", phrase("AND"))),
        (r#"a:"Jörg ü""#, field("a", phrase("Jörg ü"))),
        (
            r#""C:\Program Files\*""#,
            Expr::Any(phrase(r"C:\Program Files\*")),
        ),
        (
            r#""a b" "c""#,
            and(vec![Expr::Any(phrase("a b")), Expr::Any(phrase("c"))]),
        ),
        (r#"a:"x"y"#, and(vec![field("a", phrase("x")), any("y")])),
    ]);
}

#[test]
fn ranges() {
    check(&[
        (
            "a:[1 TO 5]",
            field("a", range(Included(b("1")), Included(b("5")))),
        ),
        (
            "a:{1 TO 5}",
            field("a", range(Excluded(b("1")), Excluded(b("5")))),
        ),
        (
            "a:[1 TO 5}",
            field("a", range(Included(b("1")), Excluded(b("5")))),
        ),
        (
            "a:{1 TO 5]",
            field("a", range(Excluded(b("1")), Included(b("5")))),
        ),
        ("a:[* TO 5]", field("a", range(Unbounded, Included(b("5"))))),
        ("a:{1 TO *}", field("a", range(Excluded(b("1")), Unbounded))),
        ("a:[* TO *]", field("a", range(Unbounded, Unbounded))),
        (
            "a:[1 to 5]",
            field("a", range(Included(b("1")), Included(b("5")))),
        ),
        (
            "a:[1 To 5]",
            field("a", range(Included(b("1")), Included(b("5")))),
        ),
        (
            "a : [ 1  TO  5 ]",
            field("a", range(Included(b("1")), Included(b("5")))),
        ),
        (
            r#"a:["x y" TO "z"]"#,
            field("a", range(Included(b("x y")), Included(b("z")))),
        ),
        (
            r#"a:["*" TO *]"#,
            field("a", range(Included(b("*")), Unbounded)),
        ),
        (
            r#"a:[a TO"b"]"#,
            field("a", range(Included(b("a")), Included(b("b")))),
        ),
        (
            "@timestamp:[2026-12-01T00:00:00Z TO now]",
            field(
                "@timestamp",
                range(Included(b("2026-12-01T00:00:00Z")), Included(b("now"))),
            ),
        ),
        (
            "a:[1 TO 5] b",
            and(vec![
                field("a", range(Included(b("1")), Included(b("5")))),
                any("b"),
            ]),
        ),
    ]);
}

#[test]
fn comparisons() {
    let gt = || field("bytes", range(Excluded(b("1000")), Unbounded));
    let ge = || field("bytes", range(Included(b("1000")), Unbounded));
    let lt = || field("bytes", range(Unbounded, Excluded(b("10"))));
    let le = || field("bytes", range(Unbounded, Included(b("10"))));
    check(&[
        ("bytes>1000", gt()),
        ("bytes>=1000", ge()),
        ("bytes<10", lt()),
        ("bytes<=10", le()),
        ("bytes:>1000", gt()),
        ("bytes:>=1000", ge()),
        ("bytes:<10", lt()),
        ("bytes:<=10", le()),
        ("bytes > 1000", gt()),
        ("bytes >= 1000", ge()),
        ("bytes < 10", lt()),
        ("bytes <= 10", le()),
        ("bytes : > 1000", gt()),
        ("bytes:>= 1000", ge()),
        (
            "bytes>\"1 000\"",
            field("bytes", range(Excluded(b("1 000")), Unbounded)),
        ),
        ("bytes>*", field("bytes", range(Unbounded, Unbounded))),
        (
            "a>1 b<=2",
            and(vec![
                field("a", range(Excluded(b("1")), Unbounded)),
                field("b", range(Unbounded, Included(b("2")))),
            ]),
        ),
        ("(bytes>1000)", gt()),
        (
            "@timestamp>=2026-12-01",
            field("@timestamp", range(Included(b("2026-12-01")), Unbounded)),
        ),
    ]);
}

#[test]
fn field_groups() {
    check(&[
        (
            "EventID:(4624 OR 4625)",
            or(vec![ft("EventID", "4624"), ft("EventID", "4625")]),
        ),
        ("a:(b c)", and(vec![ft("a", "b"), ft("a", "c")])),
        ("a:(b -c)", and(vec![ft("a", "b"), not(ft("a", "c"))])),
        ("a:(NOT b)", not(ft("a", "b"))),
        ("a:(b)", ft("a", "b")),
        (
            r#"a:("x y" OR z*)"#,
            or(vec![
                field("a", phrase("x y")),
                field("a", wild(vec![lit("z"), Many])),
            ]),
        ),
        ("a:(*)", exists("a")),
        (
            "a:(b OR (c d))",
            or(vec![ft("a", "b"), and(vec![ft("a", "c"), ft("a", "d")])]),
        ),
        (
            "a:([1 TO 2] OR >5)",
            or(vec![
                field("a", range(Included(b("1")), Included(b("2")))),
                field("a", range(Excluded(b("5")), Unbounded)),
            ]),
        ),
        // Inside a field group a ':' is part of the value.
        ("a:(b:c)", ft("a", "b:c")),
        (
            "x a:(b OR c) y",
            and(vec![
                any("x"),
                or(vec![ft("a", "b"), ft("a", "c")]),
                any("y"),
            ]),
        ),
    ]);
}

#[test]
fn parentheses_in_unquoted_values() {
    check(&[
        ("CommandLine:foo(1)", ft("CommandLine", "foo(1)")),
        ("(CommandLine:foo(1))", ft("CommandLine", "foo(1)")),
        ("(a:b)", ft("a", "b")),
        ("(a:b OR c:d)", or(vec![ft("a", "b"), ft("c", "d")])),
        ("a:f(x(y))z", ft("a", "f(x(y))z")),
        ("a:x(y", ft("a", "x(y")),
    ]);
}

#[test]
fn multibyte_text() {
    check(&[
        (
            "Benutzer:Jörg Straße",
            and(vec![ft("Benutzer", "Jörg"), any("Straße")]),
        ),
        ("名前:値", ft("名前", "値")),
        ("a:😀*", field("a", wild(vec![lit("😀"), Many]))),
    ]);
}

// ---- stages ---------------------------------------------------------------------------------

#[test]
fn filter_then_stages() {
    let q = parsed("EventID:4625 | stats count by User | sort -count | head 5");
    assert_eq!(q.filter, ft("EventID", "4625"));
    assert_eq!(
        q.stages,
        vec![
            Stage::Stats {
                aggs: vec![count()],
                by: strings(&["User"]),
            },
            Stage::Sort(vec![key("count", true)]),
            Stage::Head(5),
        ]
    );
    let q = parsed("a OR b|head");
    assert_eq!(q.filter, or(vec![any("a"), any("b")]));
    assert_eq!(q.stages, vec![Stage::Head(10)]);
    // A '|' inside quotes or a range does not start a stage.
    let q = parsed(r#"a:"x | y" | head 1"#);
    assert_eq!(q.filter, field("a", phrase("x | y")));
    assert_eq!(q.stages, vec![Stage::Head(1)]);
    let q = parsed("a:[x|y TO z] | head 1");
    assert_eq!(
        q.filter,
        field("a", range(Included(b("x|y")), Included(b("z"))))
    );
    assert_eq!(q.stages, vec![Stage::Head(1)]);
}

#[test]
fn stats() {
    use AggFunc::*;
    check_stages(&[
        (
            "| stats count",
            vec![Stage::Stats {
                aggs: vec![count()],
                by: vec![],
            }],
        ),
        (
            "* | stats count by Computer",
            vec![Stage::Stats {
                aggs: vec![count()],
                by: strings(&["Computer"]),
            }],
        ),
        (
            "|stats count(User), dc(User), distinct_count(Image) as images, min(bytes) \
             max(bytes) avg(bytes), sum(bytes) as total by Computer, User Image,x",
            vec![Stage::Stats {
                aggs: vec![
                    agg(Count, Some("User"), None),
                    agg(Dc, Some("User"), None),
                    agg(Dc, Some("Image"), Some("images")),
                    agg(Min, Some("bytes"), None),
                    agg(Max, Some("bytes"), None),
                    agg(Avg, Some("bytes"), None),
                    agg(Sum, Some("bytes"), Some("total")),
                ],
                by: strings(&["Computer", "User", "Image", "x"]),
            }],
        ),
        (
            "| STATS COUNT AS n, DC ( User ) As users BY host",
            vec![Stage::Stats {
                aggs: vec![
                    agg(Count, None, Some("n")),
                    agg(Dc, Some("User"), Some("users")),
                ],
                by: strings(&["host"]),
            }],
        ),
        (
            "| stats count() as n",
            vec![Stage::Stats {
                aggs: vec![agg(Count, None, Some("n"))],
                by: vec![],
            }],
        ),
        (
            "| stats count count",
            vec![Stage::Stats {
                aggs: vec![count(), count()],
                by: vec![],
            }],
        ),
    ]);
}

#[test]
fn top() {
    check_stages(&[
        (
            "| top User",
            vec![Stage::Top {
                n: 10,
                field: "User".into(),
            }],
        ),
        (
            "| top 5 User",
            vec![Stage::Top {
                n: 5,
                field: "User".into(),
            }],
        ),
        (
            "| TOP 1 winlog.event_data.Image",
            vec![Stage::Top {
                n: 1,
                field: "winlog.event_data.Image".into(),
            }],
        ),
    ]);
}

#[test]
fn timechart() {
    let tc = |span_secs, aggs, by: Option<&str>| {
        vec![Stage::Timechart {
            span_secs,
            aggs,
            by: by.map(Into::into),
        }]
    };
    check_stages(&[
        ("| timechart count", tc(3_600, vec![count()], None)),
        (
            "| timechart span=5m count by host",
            tc(300, vec![count()], Some("host")),
        ),
        (
            "| timechart span=1d count, dc(User) as users",
            tc(
                86_400,
                vec![count(), agg(AggFunc::Dc, Some("User"), Some("users"))],
                None,
            ),
        ),
        (
            "| timechart count span=1w",
            tc(604_800, vec![count()], None),
        ),
        (
            "| timechart count by host span=30s",
            tc(30, vec![count()], Some("host")),
        ),
        ("| timechart span = 15s count", tc(15, vec![count()], None)),
        (
            "| TimeChart SPAN=2h avg(bytes)",
            tc(7_200, vec![agg(AggFunc::Avg, Some("bytes"), None)], None),
        ),
        // `span` without '=' is a field.
        (
            "| timechart count by span",
            tc(3_600, vec![count()], Some("span")),
        ),
    ]);
}

#[test]
fn sort() {
    check_stages(&[
        ("| sort a", vec![Stage::Sort(vec![key("a", false)])]),
        (
            "| sort -a, +b, c desc, d asc, e DESC",
            vec![Stage::Sort(vec![
                key("a", true),
                key("b", false),
                key("c", true),
                key("d", false),
                key("e", true),
            ])],
        ),
        (
            "| sort a b",
            vec![Stage::Sort(vec![key("a", false), key("b", false)])],
        ),
        ("| sort -a desc", vec![Stage::Sort(vec![key("a", true)])]),
        (
            "| sort +a asc,-b",
            vec![Stage::Sort(vec![key("a", false), key("b", true)])],
        ),
        ("| sort -count", vec![Stage::Sort(vec![key("count", true)])]),
    ]);
}

#[test]
fn head_and_fields() {
    check_stages(&[
        ("| head", vec![Stage::Head(10)]),
        ("| head 3", vec![Stage::Head(3)]),
        ("| HEAD 100000", vec![Stage::Head(100_000)]),
        ("| fields a", vec![Stage::Fields(strings(&["a"]))]),
        (
            "| fields a, b c",
            vec![Stage::Fields(strings(&["a", "b", "c"]))],
        ),
        (
            "| fields a,b,c",
            vec![Stage::Fields(strings(&["a", "b", "c"]))],
        ),
        (
            "| fields @timestamp winlog.event_data.User",
            vec![Stage::Fields(strings(&[
                "@timestamp",
                "winlog.event_data.User",
            ]))],
        ),
        (
            "| head 100 | fields a | head 2",
            vec![
                Stage::Head(100),
                Stage::Fields(strings(&["a"])),
                Stage::Head(2),
            ],
        ),
    ]);
}

// ---- errors ---------------------------------------------------------------------------------

const QUOTE_HINT: &str = "unterminated quote: expected a closing '\"' (\\\" inside quotes is an \
                          escaped quote, so a quoted value cannot end with a backslash)";

#[test]
fn filter_errors() {
    check_err(&[
        ("a:", 3, "expected a value after ':'"),
        ("Image:*foo OR x:", 17, "expected a value after ':'"),
        ("(a:)", 4, "expected a value after ':', found ')'"),
        ("a: | head", 4, "expected a value after ':', found '|'"),
        ("(a AND b", 9, "expected ')' to close '(' at column 1"),
        ("x (a OR (b c)", 14, "expected ')' to close '(' at column 3"),
        (
            "(a | stats count",
            4,
            "expected ')' to close '(' at column 1, found '|'",
        ),
        ("a)", 2, "unexpected ')' (no '(' to close)"),
        ("a OR", 5, "expected a search term after 'OR'"),
        ("a ||", 5, "expected a search term after '||'"),
        ("a and", 6, "expected a search term after 'and'"),
        ("NOT", 4, "expected a search term after 'NOT'"),
        ("a !", 4, "expected a search term after '!'"),
        ("()", 2, "expected a search term after '(', found ')'"),
        ("(a OR )", 7, "expected a search term after 'OR', found ')'"),
        (
            "a OR | head",
            6,
            "expected a search term after 'OR', found '|'",
        ),
        (
            "a AND OR b",
            7,
            "expected a search term after 'AND', found operator 'OR' (to search for the word, \
             quote it: \"OR\")",
        ),
        (
            "AND a",
            1,
            "expected a search term, found operator 'AND' (to search for the word, quote it: \
             \"AND\")",
        ),
        (
            "a || && b",
            6,
            "expected a search term after '||', found operator '&&' (to search for the word, \
             quote it: \"&&\")",
        ),
        (
            "a:AND",
            3,
            "expected a value after ':', found operator 'AND' (to search for the word, quote \
             it: \"AND\")",
        ),
        (
            "a: not b",
            4,
            "expected a value after ':', found operator 'not' (to search for the word, quote \
             it: \"not\")",
        ),
        (
            r#"msg:"abc"#,
            5,
            "unterminated quote: expected a closing '\"'",
        ),
        (r#"a "b"#, 3, "unterminated quote: expected a closing '\"'"),
        (r#"a:"C:\Temp\" b"#, 3, QUOTE_HINT),
        (r#"a:"\\""#, 3, QUOTE_HINT),
        (
            "a:[1 TO 5",
            10,
            "expected ']' or '}' to close the range '[' at column 3",
        ),
        (
            "a:{1 TO 5 b",
            11,
            "expected ']' or '}' to close the range '{' at column 3, found 'b'",
        ),
        (
            "a:[1 5]",
            6,
            "expected 'TO' in the range '[' at column 3, found '5'",
        ),
        (
            "a:[1 TOO 5]",
            6,
            "expected 'TO' in the range '[' at column 3, found 'TOO'",
        ),
        ("a:[x", 5, "expected 'TO' in the range '[' at column 3"),
        (
            "a:[1]",
            5,
            "expected 'TO' in the range '[' at column 3, found ']'",
        ),
        (
            "a:[1 TO ]",
            9,
            "expected a bound in the range '[' at column 3, found ']'",
        ),
        ("a:[", 4, "expected a bound in the range '[' at column 3"),
        ("a:[\"x", 4, "unterminated quote: expected a closing '\"'"),
        ("a>", 3, "expected a value after '>'"),
        ("(a >= )", 7, "expected a value after '>=', found ')'"),
        ("a:<=", 5, "expected a value after '<='"),
        ("_exists_:", 10, "expected a field name after '_exists_:'"),
        (
            "_exists_:a*",
            10,
            "expected a field name after '_exists_:', found 'a*'",
        ),
        (
            "_exists_:-a",
            10,
            "expected a field name after '_exists_:', found '-a'",
        ),
        ("a:(b", 5, "expected ')' to close '(' at column 3"),
        ("a:()", 4, "expected a search term after '(', found ')'"),
        (
            "a:(b OR)",
            8,
            "expected a search term after 'OR', found ')'",
        ),
        ("a:b)c", 4, "unexpected ')' (no '(' to close)"),
        // `||` is OR, so a pipe after it is a missing term.
        ("a |||", 5, "expected a search term after '||', found '|'"),
    ]);
}

#[test]
fn stage_errors() {
    const CMDS: &str = "stats, top, timechart, sort, head, fields";
    const AGGS: &str = "count, dc, distinct_count, min, max, avg, sum";
    let unknown = format!("unknown pipe command 'stat' (expected one of: {CMDS})");
    let no_cmd = format!("expected a pipe command after '|' (one of: {CMDS})");
    let no_cmd_pipe = format!("{no_cmd}, found '|'");
    let no_cmd_comma = format!("{no_cmd}, found ','");
    let no_agg = format!("expected an aggregation after 'stats' (one of: {AGGS})");
    let no_agg_by = format!("{no_agg}, found 'by'");
    let no_agg_comma = format!("expected an aggregation after ',' (one of: {AGGS})");
    let no_agg_tc = format!("expected an aggregation after 'timechart' (one of: {AGGS})");
    let unknown_agg =
        |name: &str| format!("unknown aggregation '{name}' (expected one of: {AGGS})");
    let span = "expected a duration after 'span=': a positive number with a unit s, m, h, d or \
                w, as in span=30m";
    check_err(&[
        ("a | stat", 5, &unknown),
        ("a | stat count", 5, &unknown),
        ("a |", 4, &no_cmd),
        ("a | | head", 5, &no_cmd_pipe),
        ("a | , head", 5, &no_cmd_comma),
        ("a | head 5 |", 13, &no_cmd),
        ("| stats", 8, &no_agg),
        ("| stats by x", 9, &no_agg_by),
        ("| stats count by", 17, "expected a field name after 'by'"),
        ("| stats count by a,", 20, "expected a field name after ','"),
        (
            "| stats count by a (",
            20,
            "expected a field name after 'a', found '('",
        ),
        ("| stats count,", 15, &no_agg_comma),
        (
            "| stats count, by x",
            16,
            &format!("{no_agg_comma}, found 'by'"),
        ),
        (
            "| stats avg",
            12,
            "expected '(' and a field after 'avg', as in avg(bytes)",
        ),
        ("| stats avg(", 13, "expected a field name after 'avg('"),
        (
            "| stats avg()",
            13,
            "expected a field name after 'avg(', found ')'",
        ),
        (
            "| stats avg(x",
            14,
            "expected ')' to close '(' at column 12",
        ),
        (
            "| stats avg(x y)",
            15,
            "expected ')' to close '(' at column 12, found 'y'",
        ),
        ("| stats foo(x)", 9, &unknown_agg("foo")),
        ("| stats count User", 15, &unknown_agg("User")),
        ("| stats count as", 17, "expected a name after 'as'"),
        (
            "| stats count as (",
            18,
            "expected a name after 'as', found '('",
        ),
        ("| top", 6, "expected a field name after 'top'"),
        ("| top 5", 8, "expected a field name after 'top 5'"),
        (
            "| top 0 User",
            7,
            "expected a count of at least 1 after 'top', found '0'",
        ),
        (
            "| top a b",
            9,
            "expected '|' or the end of the query after the 'top' stage, found 'b'",
        ),
        (
            "| top a*",
            7,
            "expected a field name after 'top', found 'a*'",
        ),
        (
            "| head 0",
            8,
            "expected a count of at least 1 after 'head', found '0'",
        ),
        ("| head x", 8, "expected a number after 'head', found 'x'"),
        ("| head -1", 8, "expected a number after 'head', found '-1'"),
        (
            "| head 99999999999999999999999",
            8,
            "number '99999999999999999999999' is too large",
        ),
        (
            "| head 5 6",
            10,
            "expected '|' or the end of the query after the 'head' stage, found '6'",
        ),
        (
            "| timechart span=0h count",
            18,
            &format!("{span}, found '0h'"),
        ),
        (
            "| timechart span=1 count",
            18,
            &format!("{span}, found '1'"),
        ),
        (
            "| timechart span=1y count",
            18,
            &format!("{span}, found '1y'"),
        ),
        (
            "| timechart span= count",
            19,
            &format!("{span}, found 'count'"),
        ),
        ("| timechart span=", 18, span),
        ("| timechart span=1h", 20, &no_agg_tc),
        ("| timechart", 12, &no_agg_tc),
        (
            "| timechart count by a, b",
            23,
            "timechart takes one 'by' field, found ','",
        ),
        (
            "| timechart count by a b",
            24,
            "timechart takes one 'by' field, found 'b'",
        ),
        (
            "| timechart count by",
            21,
            "expected a field name after 'by'",
        ),
        (
            "| timechart count by span=1h",
            22,
            "expected a field name after 'by', found 'span'",
        ),
        (
            "| timechart span=1h count span=1m",
            27,
            "'span' given twice",
        ),
        ("| sort", 7, "expected a field name after 'sort'"),
        (
            "| sort -",
            8,
            "expected a field name after 'sort', found '-'",
        ),
        ("| sort a,", 10, "expected a field name after ','"),
        (
            "| sort a (",
            10,
            "expected a field name after 'a', found '('",
        ),
        (
            "| sort -a asc",
            11,
            "contradictory sort order: '-a' then 'asc'",
        ),
        (
            "| sort +a desc",
            11,
            "contradictory sort order: '+a' then 'desc'",
        ),
        ("| fields", 9, "expected a field name after 'fields'"),
        (
            "| fields a (b)",
            12,
            "expected a field name after 'a', found '('",
        ),
        (
            "| fields a*",
            10,
            "expected a field name after 'fields', found 'a*'",
        ),
        (
            "| fields a,,b",
            12,
            "expected a field name after ',', found ','",
        ),
    ]);
}

#[test]
fn columns_count_characters() {
    check_err(&[
        ("Jörg:ü OR (é", 13, "expected ')' to close '(' at column 11"),
        (
            "äöü | stat",
            7,
            "unknown pipe command 'stat' (expected one of: stats, top, timechart, sort, head, fields)",
        ),
        ("名前:", 4, "expected a value after ':'"),
        ("😀 \"x", 3, "unterminated quote: expected a closing '\"'"),
    ]);
}

#[test]
fn long_found_tokens_are_cut() {
    let long = "x".repeat(100);
    let e = parse(&format!("({long}")).expect_err("unclosed");
    assert_eq!(e.column, 102);
    let e = parse(&format!("_exists_:*{long}")).expect_err("exists");
    assert_eq!(
        e.message,
        format!(
            "expected a field name after '_exists_:', found '*{}…'",
            "x".repeat(29)
        )
    );
    let e = parse(&format!("| head {long}")).expect_err("head");
    assert_eq!(
        e.message,
        format!(
            "expected a number after 'head', found '{}…'",
            "x".repeat(30)
        )
    );
    let e = parse(&format!("a )){long}")).expect_err("paren");
    assert_eq!(e.message, "unexpected ')' (no '(' to close)");
    let e = parse(&format!("a:[1 {long} 2]")).expect_err("range");
    assert_eq!(
        e.message,
        format!(
            "expected 'TO' in the range '[' at column 3, found '{}…'",
            "x".repeat(30)
        )
    );
}

// ---- limits ---------------------------------------------------------------------------------

#[test]
fn too_long() {
    let ok = format!("a:{}", "b".repeat(64 * 1024 - 2));
    assert!(parse(&ok).is_ok());
    let e = parse(&format!("{ok}c")).expect_err("too long");
    assert_eq!(e.column, 64 * 1024 + 1);
    assert_eq!(e.message, "query too long: 65537 bytes (at most 65536)");
    // Columns count characters: 40000 two-byte characters cross the limit at the 32769th.
    let e = parse(&"é".repeat(40_000)).expect_err("too long");
    assert_eq!(e.column, 32_769);
}

#[test]
fn nesting_limit() {
    let nested = |n: usize| format!("{}a{}", "(".repeat(n), ")".repeat(n));
    assert_eq!(parsed(&nested(64)).filter, any("a"));
    let message = "query nested too deeply: more than 64 levels of parentheses and NOT";
    check_err(&[
        (&nested(65), 65, message),
        (&"(".repeat(60_000), 65, message),
        (&format!("{}a", "NOT ".repeat(65)), 257, message),
        (&format!("{}a", "-".repeat(60_000)), 65, message),
        (&format!("{}a", "!".repeat(60_000)), 65, message),
        (&format!("{}a", "(NOT ".repeat(40)), 161, message),
        (&format!("x:{}", "(".repeat(60_000)), 67, message),
    ]);
    let mut expected = any("a");
    for _ in 0..64 {
        expected = not(expected);
    }
    assert_eq!(parsed(&format!("{}a", "NOT ".repeat(64))).filter, expected);
    // Long flat lists are no problem.
    let flat = vec!["a"; 10_000].join(" OR ");
    assert!(matches!(parsed(&flat).filter, Expr::Or(v) if v.len() == 10_000));
    let flat = vec!["a:b"; 10_000].join(" ");
    assert!(matches!(parsed(&flat).filter, Expr::And(v) if v.len() == 10_000));
}
