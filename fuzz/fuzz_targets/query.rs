//! The search-language parser never panics, its errors point inside the text, and what it
//! accepts parses again to the same tree; `parse_time` never panics either.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        match leitstelle_query::parse(text) {
            Ok(query) => {
                // Parsing is a pure function of the text.
                assert_eq!(leitstelle_query::parse(text).ok(), Some(query));
            }
            Err(e) => {
                assert!(e.column >= 1 && e.column <= text.chars().count() + 1, "{e}");
            }
        }
        let _ = leitstelle_query::parse_time(text, 1_796_119_200_000_000_000);
        let _ = leitstelle_query::parse_duration_secs(text);
    }
});
