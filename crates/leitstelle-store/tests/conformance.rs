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
