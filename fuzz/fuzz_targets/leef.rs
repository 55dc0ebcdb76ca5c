//! `leitstelle_parsers::parse` as `leef` on arbitrary bytes (bare and inside syslog): it
//! must never panic, an accepted record is an object of source kind `leef` within the
//! limits, and every error has a stable kind.

#![no_main]

use leitstelle_parsers::{Format, Limits, ParseContext, ParseError, parse};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let ctx = ParseContext {
        limits: Limits {
            max_fields: 256,
            ..Limits::default()
        },
        ..ParseContext::new(2024)
    };
    match parse(Format::Leef, data, &ctx) {
        Ok(parsed) => {
            assert!(parsed.data.is_object());
            assert_eq!(parsed.source.as_str(), "leef");
        }
        Err(e) => assert!(ParseError::KINDS.contains(&e.kind())),
    }
});
