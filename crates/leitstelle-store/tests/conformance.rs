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
    assert_eq!(written.trim(), "leitstelle-store 1");
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
