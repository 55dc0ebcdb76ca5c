//! `leitstelle_syslog::parse` on arbitrary bytes: it must never panic, and whatever it
//! returns must render and convert without panicking.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let line = String::from_utf8_lossy(data);
    if let Ok(message) = leitstelle_syslog::parse(&line) {
        assert!(line.contains(message.message.as_str()));
        let _ = message.to_value();
        let _ = message.timestamp_nanos(2024);
        let _ = message.timestamp_nanos(i32::MIN);
    }
});
