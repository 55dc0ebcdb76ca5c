//! The Sigma detection engine of Leitstelle.
//!
//! - [`loader`]: rule files in (path and text, read by the caller), a [`RuleSet`] out: rules,
//!   filters and correlations plus a [`Diagnostic`] for everything that could not be used.
//!   Loading never fails as a whole.
//! - [`rule`]: the parsed form of a rule: searches of items of values with their modifiers
//!   applied ([`value::Matcher`]), and a resolved condition.
//! - [`Engine`]: every rule compiled together: shared predicates, logsource routing, one
//!   Aho-Corasick pass per field, regex sets, conditions evaluated only for triggered rules.
//! - [`reference`](mod@reference): the simple interpreter the engine is checked against.
//!
//! Field names are resolved to event paths through source profiles (`leitstelle-profile`)
//! when rules are compiled.
//!
//! This crate does no I/O and starts no threads.
//!
//! ```
//! use leitstelle_sigma::{Engine, LoadOptions, RuleSet, Scratch};
//! use leitstelle_profile::ProfileSet;
//! use leitstelle_event::{Event, SourceKind};
//!
//! let rule = r#"
//! title: Whoami
//! id: 00000000-0000-0000-0000-000000000001
//! logsource: {product: windows, category: process_creation}
//! detection:
//!   selection:
//!     Image|endswith: '\whoami.exe'
//!   condition: selection
//! level: low
//! "#;
//! let set = RuleSet::load([("whoami.yml", rule)], &LoadOptions::default());
//! assert!(set.diagnostics.is_empty());
//! let profiles = ProfileSet::builtin();
//! let engine = Engine::compile(set.rules, &profiles);
//!
//! let data = serde_json::json!({"Event": {
//!     "System": {"Channel": "Microsoft-Windows-Sysmon/Operational", "EventID": 1},
//!     "EventData": {"Image": "C:\\Windows\\System32\\WHOAMI.EXE"}}});
//! let mut event = Event::new(SourceKind::Evtx, data);
//! (event.profile, event.logsource) = profiles.classify(event.source, &event.data);
//! assert_eq!(engine.matches(&event, &mut Scratch::new()), vec![0]);
//! ```

pub mod access;
pub mod condition;
pub mod correlation;
pub mod diag;
pub mod engine;
mod fields;
mod literals;
pub mod loader;
pub mod reference;
pub mod rule;
pub mod value;
mod yaml;

pub use correlation::{CorrelationHit, Correlator, Observation};
pub use diag::{Code, Diagnostic, Severity};
pub use engine::{BucketStats, Counters, Engine, Scratch};
pub use loader::{LoadOptions, ParsedFile, RuleSet, parse_file, parse_placeholders, skip_by_path};
pub use rule::{Correlation, CorrelationKind, Filter, Level, Rule};
pub use value::Placeholders;
