//! The control-plane conformance suite on both backends.

use leitstelle_control::conformance::{run, temp_postgres, temp_sqlite};

#[test]
fn sqlite_passes_the_conformance_suite() {
    run("sqlite", &temp_sqlite);
}

#[test]
fn postgres_passes_the_conformance_suite() {
    if temp_postgres("probe").is_none() {
        return; // skipped loudly by temp_postgres
    }
    run("postgres", &|name| {
        temp_postgres(name).expect("PostgreSQL answered the probe but not now")
    });
}

#[test]
fn sqlite_reopens_with_its_data_and_schema() {
    let db = temp_sqlite("reopen");
    db.control.create_tenant("acme", 1).expect("create");
    let path = std::path::PathBuf::from(db.control.location());
    let again = leitstelle_control::Control::open(&path).expect("reopen");
    assert_eq!(again.tenants().expect("list").len(), 1);
    assert_eq!(again.detect_seq().expect("seq"), 0);
}

#[test]
fn postgres_migrates_once_and_reconnects_with_its_data() {
    let Some((url, guard)) = leitstelle_control::conformance::temp_postgres_url("reopen") else {
        return;
    };
    guard.control.create_tenant("acme", 1).expect("create");
    let again = leitstelle_control::Control::connect(&url).expect("reconnect");
    assert_eq!(again.tenants().expect("list").len(), 1);
    assert_eq!(again.backend_name(), "postgres");
}
