//! `leitstelle_server::elastic::parse_bulk` on arbitrary bytes (an Elasticsearch `_bulk`
//! body; the first byte picks whether the URL named an index): it must never panic, and
//! every non-blank line is accounted for, as an action line or as the document of one.

#![no_main]

use leitstelle_server::elastic::{Action, parse_bulk};
use libfuzzer_sys::fuzz_target;

const KINDS: [&str; 2] = [
    "action_request_validation_exception",
    "illegal_argument_exception",
];

fuzz_target!(|data: &[u8]| {
    let Some((&selector, body)) = data.split_first() else {
        return;
    };
    let default_index = (selector & 1 != 0).then_some("fuzz-index");
    let actions = parse_bulk(body, default_index);
    let lines = body
        .split(|&b| b == b'\n')
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l))
        .filter(|l| !l.trim_ascii().is_empty())
        .count();
    let (mut docs, mut refused, mut updates) = (0, 0, 0);
    for action in &actions {
        match action {
            Action::Doc { op, doc, .. } => {
                docs += 1;
                assert!(op == "index" || op == "create", "{op}");
                assert!(!doc.contains(&b'\n'));
                assert!(!doc.trim_ascii().is_empty());
            }
            Action::Refused {
                op, status, kind, ..
            } => {
                refused += 1;
                if op == "update" {
                    updates += 1;
                }
                assert_eq!(*status, 400);
                assert!(KINDS.contains(kind), "{kind}");
            }
        }
    }
    // a document takes two lines, a refused action one (`update` two when it has its line)
    assert!(2 * docs + refused <= lines, "{docs} {refused} {lines}");
    assert!(
        lines <= 2 * docs + refused + updates,
        "{docs} {refused} {lines}"
    );
});
