//! `leitstelle_server::hec::split_envelopes` on arbitrary bytes (a Splunk HEC event-endpoint
//! body): it must never panic; the envelopes before the first invalid one are JSON objects
//! with a non-blank `event`, each a piece of the body, that split again the same way; an
//! invalid one has one of HEC's codes and its index.

#![no_main]

use leitstelle_server::hec::split_envelopes;
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

fuzz_target!(|body: &[u8]| {
    let (envelopes, invalid) = split_envelopes(body);
    if let Some((code, text, index)) = invalid {
        assert!([6, 12, 13].contains(&code), "{code} {text}");
        assert_eq!(index, envelopes.len());
    }
    for envelope in &envelopes {
        assert!(
            body.windows(envelope.len())
                .any(|w| w == envelope.as_slice()),
            "not a piece of the body"
        );
        let v: Value = serde_json::from_slice(envelope).expect("an envelope is JSON");
        assert!(v.is_object());
        match v.get("event") {
            None | Some(Value::Null) => panic!("an envelope without an event"),
            Some(Value::String(s)) => assert!(!s.is_empty()),
            Some(_) => {}
        }
    }
    // the accepted envelopes, one per line, are accepted again as they are
    let again = envelopes.join(&b'\n');
    assert_eq!(split_envelopes(&again), (envelopes, None));
});
