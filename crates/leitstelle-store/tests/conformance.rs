//! Every backend passes the one conformance suite.

use std::sync::Arc;

use leitstelle_profile::ProfileSet;
use leitstelle_store::{EventStore, MemoryStore, TantivyOptions, TantivyStore, conformance};

#[test]
fn memory_store_conforms() {
    let profiles = Arc::new(ProfileSet::builtin());
    conformance::run(&mut || Box::new(MemoryStore::new(profiles.clone())) as Box<dyn EventStore>);
}

#[test]
fn tantivy_store_conforms() {
    let profiles = Arc::new(ProfileSet::builtin());
    let mut dirs = Vec::new();
    conformance::run(&mut || {
        let dir = tempfile::tempdir().expect("tempdir");
        let s = TantivyStore::open(dir.path(), profiles.clone(), TantivyOptions::default())
            .expect("open");
        dirs.push(dir);
        Box::new(s) as Box<dyn EventStore>
    });
}

/// Writers beyond `max_open_writers` are committed and closed early; a crash (the store
/// dropped without a commit) and a replay of every event then keep each event once.
#[test]
fn tantivy_store_closes_writers_early_and_replays_exactly_once() {
    use leitstelle_store::query::parse;
    use leitstelle_store::{NewEvent, SearchRequest};
    let profiles = Arc::new(ProfileSet::builtin());
    let dir = tempfile::tempdir().expect("tempdir");
    let opts = TantivyOptions {
        max_open_writers: 2,
        ..TantivyOptions::default()
    };
    let day = 86_400 * 1_000_000_000i64;
    let events: Vec<NewEvent> = (1..=20u64)
        .map(|seq| {
            let mut e = conformance::fixtures().remove(0);
            e.seq = seq;
            e.time_ns = conformance::D0 + (seq as i64 % 5) * day;
            e
        })
        .collect();
    {
        let s = TantivyStore::open(dir.path(), profiles.clone(), opts.clone()).expect("open");
        for chunk in events.chunks(3) {
            s.add(chunk.to_vec()).expect("add");
        }
        // No commit: the store is dropped as in a crash. Partitions closed early kept theirs.
    }
    let s = TantivyStore::open(dir.path(), profiles.clone(), opts.clone()).expect("reopen");
    assert_eq!(s.committed(), 1);
    let all = || SearchRequest {
        limit: 1000,
        ..SearchRequest::new(&["acme"], parse("*").expect("query"))
    };
    let before = s.search(&all()).expect("search").total;
    assert!(before > 0, "early-closed partitions were committed");
    assert!(before < 20, "the open ones were not");
    s.add(events.clone()).expect("replay");
    s.commit(21).expect("commit");
    let res = s.search(&all()).expect("search");
    let mut seqs: Vec<u64> = res.hits.iter().map(|h| h.seq).collect();
    seqs.sort();
    assert_eq!(
        seqs,
        (1..=20).collect::<Vec<_>>(),
        "every event exactly once"
    );
    drop(s);
    let s = TantivyStore::open(dir.path(), profiles, opts).expect("reopen");
    assert_eq!(s.committed(), 21);
    assert_eq!(s.search(&all()).expect("search").total, 20);
}

/// The store names its format on disk; another format, or a marker that is not one, is a
/// clear error at open, not a misreading.
#[test]
fn tantivy_store_refuses_another_format() {
    use leitstelle_store::StoreError;
    let profiles = Arc::new(ProfileSet::builtin());
    let dir = tempfile::tempdir().expect("tempdir");
    drop(
        TantivyStore::open(dir.path(), profiles.clone(), TantivyOptions::default()).expect("open"),
    );
    let marker = dir.path().join("FORMAT");
    let written = std::fs::read_to_string(&marker).expect("marker written");
    assert_eq!(written.trim(), "leitstelle-store 2");
    drop(
        TantivyStore::open(dir.path(), profiles.clone(), TantivyOptions::default())
            .expect("reopen"),
    );

    std::fs::write(&marker, "leitstelle-store 99\n").expect("write");
    match TantivyStore::open(dir.path(), profiles.clone(), TantivyOptions::default()) {
        Err(StoreError::Format(m)) => assert!(m.contains("format 99"), "{m}"),
        Err(e) => panic!("wrong error: {e}"),
        Ok(_) => panic!("opened a store of another format"),
    }
    std::fs::write(&marker, "something else").expect("write");
    assert!(matches!(
        TantivyStore::open(dir.path(), profiles, TantivyOptions::default()),
        Err(StoreError::Corrupt(_))
    ));
}

/// A partition written with another schema (a store from before the format marker, changed
/// since) names the partition and says why, instead of tantivy's bare schema error.
#[test]
fn tantivy_store_names_a_partition_of_another_schema() {
    use leitstelle_store::StoreError;
    let dir = tempfile::tempdir().expect("tempdir");
    let part = dir.path().join("acme").join("2024-05-01");
    std::fs::create_dir_all(&part).expect("mkdir");
    let mut b = tantivy::schema::Schema::builder();
    b.add_text_field("something_else", tantivy::schema::STRING);
    tantivy::Index::create_in_dir(&part, b.build()).expect("foreign index");
    let profiles = Arc::new(ProfileSet::builtin());
    match TantivyStore::open(dir.path(), profiles, TantivyOptions::default()) {
        Err(StoreError::Format(m)) => {
            assert!(
                m.contains("2024-05-01") && m.contains("another version"),
                "{m}"
            )
        }
        Err(e) => panic!("wrong error: {e}"),
        Ok(_) => panic!("opened a partition of another schema"),
    }
}

/// Field names whose profile paths have a `*` segment (`Image` is also
/// `Event.UserData.*.Image` in EVTX): the tantivy store finds the matching paths among all
/// the paths of a segment, which must step over paths sorting before, between and after them.
/// Both stores must agree.
#[test]
fn wildcard_profile_paths_agree_across_stores() {
    use leitstelle_store::query::parse;
    use leitstelle_store::{NewEvent, SearchRequest};
    use serde_json::json;
    let profiles = Arc::new(ProfileSet::builtin());
    let base = conformance::fixtures().remove(0);
    let data = [
        json!({"Event": {"UserData": {"A": {"Image": "a.exe", "Z": "1"}}, "System": {"EventID": 1}}}),
        json!({"Event": {"UserData": {"B": {"Image": "b.exe"}, "A": {"Image": "A.EXE"}}}}),
        json!({"Event": {"UserData": {"Aa": {"Image": "a.exe"}}, "AAA": "x"}}),
        json!({"Event": {"UserData": {"C": {"Imagex": "c.exe", "Image2": "d"}}}}),
        json!({"Event": {"EventData": {"Image": "e.exe"}, "UserData": {"A": {"Image": "e.exe"}}}}),
        json!({"Event": {"UserData": {"A": {"B": {"Image": "deep.exe"}}}}}),
    ];
    let events: Vec<NewEvent> = data
        .into_iter()
        .enumerate()
        .map(|(i, d)| NewEvent {
            seq: i as u64 + 1,
            data: d,
            ..base.clone()
        })
        .collect();
    let dir = tempfile::tempdir().expect("tempdir");
    let tantivy =
        TantivyStore::open(dir.path(), profiles.clone(), TantivyOptions::default()).expect("open");
    let memory = MemoryStore::new(profiles.clone());
    for s in [&tantivy as &dyn EventStore, &memory] {
        s.add(events.clone()).expect("add");
        s.commit(10).expect("commit");
    }
    let run = |s: &dyn EventStore, q: &str| {
        let r = SearchRequest {
            limit: 100,
            ..SearchRequest::new(&["acme"], parse(q).expect("query"))
        };
        let res = s.search(&r).unwrap_or_else(|e| panic!("{q}: {e}"));
        let mut seqs: Vec<u64> = res.hits.iter().map(|h| h.seq).collect();
        seqs.sort();
        (seqs, res.table.map(|t| t.rows))
    };
    for (q, want) in [
        ("_exists_:Image", Some(vec![1u64, 2, 3, 5])),
        ("NOT _exists_:Image", Some(vec![4, 6])),
        ("Image:a.exe", Some(vec![1, 2, 3])),
        ("Image:*.exe", Some(vec![1, 2, 3, 5])),
        ("* | stats count by Image", None),
        ("* | stats count, dc(Image) as images", None),
        ("* | top 3 Image", None),
    ] {
        let (t, m) = (run(&tantivy, q), run(&memory, q));
        assert_eq!(t, m, "`{q}`: tantivy vs memory");
        if let Some(want) = want {
            assert_eq!(t.0, want, "`{q}`");
        } else {
            assert!(
                t.1.as_ref().is_some_and(|rows| !rows.is_empty()),
                "`{q}`: {t:?}"
            );
        }
    }
}

/// A partition idle for a while has its writer closed on another thread (its merges can take
/// long); a late event for it opens a writer again once that close has finished, and the
/// store can be dropped and opened again at any point.
#[test]
fn tantivy_store_reopens_a_writer_closed_in_the_background() {
    use leitstelle_store::query::parse;
    use leitstelle_store::{NewEvent, SearchRequest};
    let profiles = Arc::new(ProfileSet::builtin());
    let dir = tempfile::tempdir().expect("tempdir");
    let day = 86_400 * 1_000_000_000i64;
    let event = |seq: u64, d: i64| NewEvent {
        seq,
        time_ns: conformance::D0 + d * day,
        ..conformance::fixtures().remove(0)
    };
    let count = |s: &TantivyStore| {
        let r = SearchRequest {
            limit: 1000,
            ..SearchRequest::new(&["acme"], parse("*").expect("query"))
        };
        s.search(&r).expect("search").total
    };
    let s =
        TantivyStore::open(dir.path(), profiles.clone(), TantivyOptions::default()).expect("open");
    let mut seq = 1;
    s.add(vec![event(seq, 0)]).expect("add");
    seq += 1;
    s.commit(seq).expect("commit");
    // Day 0 is idle for more than 60 commits while day 1 gets events.
    for _ in 0..70 {
        s.add(vec![event(seq, 1)]).expect("add");
        seq += 1;
        s.commit(seq).expect("commit");
    }
    // A late event for day 0.
    s.add(vec![event(seq, 0)])
        .expect("add to a partition whose writer was closed");
    seq += 1;
    s.commit(seq).expect("commit");
    assert_eq!(count(&s), 72);
    drop(s);
    let s = TantivyStore::open(dir.path(), profiles, TantivyOptions::default()).expect("reopen");
    assert_eq!(count(&s), 72);
    s.add(vec![event(seq, 0), event(seq + 1, 1)])
        .expect("add after reopening");
    s.commit(seq + 2).expect("commit");
    assert_eq!(count(&s), 74);
}
