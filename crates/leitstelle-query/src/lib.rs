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
