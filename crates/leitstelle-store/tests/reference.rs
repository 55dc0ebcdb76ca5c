//! The embedded store answers exactly like the reference store, on generated events and
//! queries (filters, stats and field statistics).

use std::ops::Bound;
use std::sync::Arc;

use leitstelle_profile::ProfileSet;
use leitstelle_store::query::{Agg, AggFunc, Expr, Pred, Query, Stage, WildPart};
use leitstelle_store::{
    EventStore, MemoryStore, NewEvent, SearchRequest, TantivyOptions, TantivyStore,
};
use proptest::prelude::*;
use serde_json::{Value, json};

const FIELDS: &[&str] = &[
    "A",
    "b",
    "n",
    "nested.x",
    "arr",
    "host",
    "Image",
    "tenant",
    "user.name",
];
const VALUES: &[&str] = &[
    "foo",
    "Foo bar",
    "bar",
    "C:\\x\\y.exe",
    "10",
    "2.5",
    "-3",
    "ünï Çödé",
    "a*b",
    "x?y",
];
const DAY: i64 = 86_400 * 1_000_000_000;

fn value() -> impl Strategy<Value = Value> {
    prop_oneof![
        prop::sample::select(VALUES).prop_map(|v| json!(v)),
        (-20i64..20).prop_map(|n| json!(n)),
        Just(json!(true)),
        Just(Value::Null),
    ]
}

fn event() -> impl Strategy<Value = (u8, i64, Vec<(usize, Value)>, Option<usize>)> {
    (
        0u8..2,
        0i64..3 * DAY,
        prop::collection::vec((0usize..7, value()), 0..6),
        prop::option::of(0usize..VALUES.len()),
    )
}

fn build(
    seq: u64,
    (tenant, time, fields, host): (u8, i64, Vec<(usize, Value)>, Option<usize>),
) -> NewEvent {
    let mut data = serde_json::Map::new();
    for (i, v) in fields {
        match FIELDS[i] {
            "nested.x" => {
                data.insert("nested".into(), json!({"x": v}));
            }
            "arr" => {
                data.insert("arr".into(), json!([v, "fixed"]));
            }
            // `Image` also resolves to ECS `process.executable`: one field, two paths.
            "host" => {
                data.insert("process".into(), json!({"executable": v}));
            }
            name => {
                data.insert(name.into(), v);
            }
        }
    }
    NewEvent {
        seq,
        tenant: format!("t{tenant}"),
        time_ns: 20_000 * DAY + time,
        received_ns: 0,
        source: "api".into(),
        kind: "json".into(),
        host: host.map(|h| VALUES[h].to_string()),
        user: None,
        level: None,
        event_id: None,
        product: None,
        service: None,
        categories: vec![],
        data: Value::Object(data),
        raw: None,
    }
}

fn word() -> impl Strategy<Value = String> {
    prop::sample::select(
        &[
            "foo",
            "FOO",
            "bar",
            "foo bar",
            "Foo Bar",
            "c:\\x\\y.exe",
            "C:\\X\\Y.EXE",
            "10",
            "2.5",
            "-3",
            "ünï",
            "ÜNÏ çödé",
            "x",
            "a*b",
        ][..],
    )
    .prop_map(str::to_string)
}

fn pred() -> impl Strategy<Value = Pred> {
    let bound = prop_oneof![
        Just(Bound::Unbounded),
        word().prop_map(Bound::Included),
        word().prop_map(Bound::Excluded),
        (-5i64..15).prop_map(|n| Bound::Included(n.to_string())),
        (-5i64..15).prop_map(|n| Bound::Excluded(n.to_string())),
    ];
    prop_oneof![
        word().prop_map(Pred::Term),
        word().prop_map(Pred::Phrase),
        prop::collection::vec(
            prop_oneof![
                word().prop_map(WildPart::Literal),
                Just(WildPart::Many),
                Just(WildPart::One)
            ],
            1..4
        )
        .prop_map(Pred::Wildcard),
        (bound.clone(), bound).prop_map(|(lower, upper)| Pred::Range { lower, upper }),
    ]
}

fn expr() -> impl Strategy<Value = Expr> {
    let leaf = prop_oneof![
        Just(Expr::All),
        (prop::sample::select(FIELDS), pred()).prop_map(|(f, pred)| Expr::Field {
            field: f.to_string(),
            pred
        }),
        pred()
            .prop_filter("bare ranges are refused", |p| !matches!(
                p,
                Pred::Range { .. }
            ))
            .prop_map(Expr::Any),
        prop::sample::select(FIELDS).prop_map(|f| Expr::Exists(f.to_string())),
    ];
    leaf.prop_recursive(3, 12, 3, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 1..3).prop_map(Expr::And),
            prop::collection::vec(inner.clone(), 1..3).prop_map(Expr::Or),
            inner.prop_map(|e| Expr::Not(Box::new(e))),
        ]
    })
}

fn search(
    s: &dyn EventStore,
    tenants: &[&str],
    q: Query,
    from: Option<i64>,
) -> (u64, Vec<(String, u64)>) {
    let mut r = SearchRequest::new(tenants, q);
    r.limit = 10_000;
    r.from_ns = from;
    let res = s.search(&r).expect("search");
    (
        res.total,
        res.hits.iter().map(|h| (h.tenant.clone(), h.seq)).collect(),
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, .. ProptestConfig::default() })]
    #[test]
    fn tantivy_matches_reference(
        events in prop::collection::vec(event(), 1..25),
        filters in prop::collection::vec(expr(), 1..6),
        by in prop::sample::select(FIELDS),
        from in prop::option::of(0i64..3 * DAY),
    ) {
        let profiles = Arc::new(ProfileSet::builtin());
        let dir = tempfile::tempdir().expect("tempdir");
        let t = TantivyStore::open(dir.path(), profiles.clone(), TantivyOptions::default()).expect("open");
        let m = MemoryStore::new(profiles);
        let evs: Vec<NewEvent> = events.into_iter().enumerate().map(|(i, e)| build(i as u64 + 1, e)).collect();
        let n = evs.len() as u64;
        // Two commits, like the server.
        let (a, b) = evs.split_at(evs.len() / 2);
        for s in [&t as &dyn EventStore, &m] {
            s.add(a.to_vec()).expect("add");
            s.commit(1).expect("commit");
            s.add(b.to_vec()).expect("add");
            s.commit(n + 1).expect("commit");
        }
        let from = from.map(|f| 20_000 * DAY + f);
        for filter in filters {
            for tenants in [&["t0"][..], &["t0", "t1"][..]] {
                let q = Query { filter: filter.clone(), stages: vec![] };
                prop_assert_eq!(
                    search(&t, tenants, q.clone(), from),
                    search(&m, tenants, q, from),
                    "filter {:?}", filter
                );
            }
            let q = Query {
                filter: filter.clone(),
                stages: vec![Stage::Stats {
                    aggs: vec![
                        Agg { func: AggFunc::Count, field: None, alias: None },
                        Agg { func: AggFunc::Dc, field: Some("A".into()), alias: None },
                        Agg { func: AggFunc::Sum, field: Some("n".into()), alias: None },
                    ],
                    by: vec![by.to_string()],
                }],
            };
            let mut r = SearchRequest::new(&["t0", "t1"], q);
            r.from_ns = from;
            prop_assert_eq!(t.search(&r).expect("stats"), m.search(&r).expect("stats"), "stats of {:?}", filter);
            // `stats count by` and `top` take the embedded store's counting fast path.
            for stage in [
                Stage::Stats {
                    aggs: vec![Agg { func: AggFunc::Count, field: None, alias: Some("n".into()) }],
                    by: vec![by.to_string()],
                },
                Stage::Top { n: 3, field: by.to_string() },
            ] {
                let mut r = SearchRequest::new(&["t0", "t1"], Query { filter: filter.clone(), stages: vec![stage] });
                r.from_ns = from;
                prop_assert_eq!(t.search(&r).expect("count"), m.search(&r).expect("count"), "count of {:?}", filter);
            }
            prop_assert_eq!(
                t.field_stats(&r, by, 5).expect("field stats"),
                m.field_stats(&r, by, 5).expect("field stats")
            );
        }
    }
}
