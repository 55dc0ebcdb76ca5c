//! The live rule set: loaded from the configured folders, compiled once, swapped atomically
//! on reload (`arc-swap`: the detector takes the current set per batch without a lock, so a
//! reload never stops intake or detection).

use std::sync::Arc;

use arc_swap::ArcSwap;
use leitstelle_profile::ProfileSet;
use leitstelle_sigma::{Engine, LoadOptions};

use crate::ServerError;
use crate::config::RulesConfig;

/// A compiled rule set and what loading it said.
pub struct RuleState {
    pub engine: Engine,
    /// Rules compiled.
    pub rules: usize,
    /// Diagnostics (rules that could not be used), as text.
    pub diagnostics: Vec<String>,
    /// Skipped files by reason (deprecated, unsupported, …).
    pub skipped: Vec<(String, usize)>,
    /// Correlation rules loaded but not evaluated by live detection yet.
    pub correlations: usize,
    pub loaded_ns: i64,
}

/// Loads and compiles the configured rule folders. Rules that cannot be used become
/// diagnostics; only an unreadable folder is an error.
pub fn load(cfg: &RulesConfig, profiles: &ProfileSet) -> Result<RuleState, ServerError> {
    let mut opts = LoadOptions {
        include_deprecated: cfg.include_deprecated,
        include_unsupported: cfg.include_unsupported,
        ..LoadOptions::default()
    };
    if let Some(p) = &cfg.placeholders {
        opts.placeholders =
            leitstelle_hunt::load_placeholders(p).map_err(|e| ServerError::Rules(e.to_string()))?;
    }
    let set = if cfg.paths.is_empty() {
        leitstelle_sigma::RuleSet::default()
    } else {
        leitstelle_hunt::load_rules(&cfg.paths, &opts)
            .map_err(|e| ServerError::Rules(e.to_string()))?
    };
    let skipped = set
        .skipped_by_reason()
        .into_iter()
        .map(|(r, n)| (r.to_string(), n))
        .collect();
    let diagnostics = set.diagnostics.iter().map(|d| d.to_string()).collect();
    let rules = set.rules.len();
    Ok(RuleState {
        engine: Engine::compile(set.rules, profiles),
        rules,
        diagnostics,
        skipped,
        correlations: set.correlations.len(),
        loaded_ns: crate::pipeline::now_ns(),
    })
}

/// Loads the rules again and swaps them in; on error the running set stays.
pub fn reload(
    cfg: &RulesConfig,
    profiles: &ProfileSet,
    current: &ArcSwap<RuleState>,
) -> Result<Arc<RuleState>, ServerError> {
    let state = Arc::new(load(cfg, profiles)?);
    current.store(Arc::clone(&state));
    Ok(state)
}
