//! The Leitstelle search language: what hunters type into the search box.
//!
//! A query is a filter expression in the Kibana / Lucene style, optionally followed by
//! pipe stages in the Splunk style:
//!
//! ```text
//! Image:*\mimikatz.exe AND NOT User:SYSTEM | stats count, dc(User) as users by Computer
//! ```
//!
//! This crate only parses text into a [`Query`] syntax tree and relative times into instants;
//! executing a query is the event store's job (`leitstelle-store`). It does no I/O.
//!
//! See [`parse`] for the grammar.

mod ast;
mod parser;
mod time;

pub use ast::*;
pub use parser::{ParseError, parse};
pub use time::{TimeError, parse_duration_secs, parse_time};

/// The meta fields every stored event has. A query names them without a path
/// (case-insensitively; `EventID` is `event_id`), so an event's own field of the same name
/// cannot be named in a query.
pub const META_FIELDS: &[&str] = &[
    "tenant",
    "host",
    "user",
    "level",
    "source",
    "kind",
    "logsource",
    "product",
    "service",
    "category",
    "event_id",
];

/// The meta field (one of [`META_FIELDS`]) a field name in a query refers to, if any.
pub fn meta_field(name: &str) -> Option<&'static str> {
    let lower = name.to_ascii_lowercase();
    let lower = if lower == "eventid" {
        "event_id"
    } else {
        &lower
    };
    META_FIELDS.iter().find(|m| **m == lower).copied()
}

#[cfg(test)]
mod meta_tests {
    use super::*;

    #[test]
    fn meta_names_are_case_insensitive_with_the_eventid_alias() {
        assert_eq!(meta_field("Host"), Some("host"));
        assert_eq!(meta_field("EventID"), Some("event_id"));
        assert_eq!(meta_field("event_id"), Some("event_id"));
        assert_eq!(meta_field("Image"), None);
    }
}
