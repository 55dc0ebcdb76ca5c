//! `leitstelle_parsers::parse` on arbitrary bytes in every format, then `to_event` with the
//! built-in profiles: never a panic, whatever the record.

#![no_main]

use std::sync::{Arc, OnceLock};

use leitstelle_event::Origin;
use leitstelle_parsers::{Format, ParseContext, parse, to_event};
use leitstelle_profile::ProfileSet;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    static PROFILES: OnceLock<ProfileSet> = OnceLock::new();
    let profiles = PROFILES.get_or_init(ProfileSet::builtin);
    let Some((&selector, record)) = data.split_first() else {
        return;
    };
    let format = Format::ALL[usize::from(selector) % Format::ALL.len()];
    let ctx = ParseContext {
        lossy_utf8: selector & 0x80 != 0,
        ..ParseContext::new(2024)
    };
    if let Ok(parsed) = parse(format, record, &ctx) {
        assert!(parsed.data.is_object());
        let _ = to_event(profiles, Arc::from("fuzz"), parsed, Origin::default());
    }
});
