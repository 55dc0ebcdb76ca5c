//! The Sigma condition parser never panics, and what it accepts it accepts again.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = leitstelle_sigma::condition::parse(text);
        let _ = leitstelle_sigma::condition::pattern_matches(text, "selection_main");
    }
});
