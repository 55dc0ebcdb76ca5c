//! The live rule set: loaded from the configured folders, compiled once, swapped atomically
//! on reload (`arc-swap`: the detector takes the current set per batch without a lock, so a
//! reload never stops intake or detection).

use std::sync::Arc;

use arc_swap::ArcSwap;
use leitstelle_control::{RuleMeta, StoredRule};
use leitstelle_profile::ProfileSet;
use leitstelle_sigma::{Engine, LoadOptions, RuleSet};

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

/// Loads and compiles the configured rule folders and the rules stored in the control plane
/// (approved changes, imported upstream rules). A stored rule replaces a folder rule of the
/// same id. Rules disabled through change control stay compiled; the detector's gate drops
/// their matches. Rules that cannot be used become diagnostics; only an unreadable folder
/// is an error.
pub fn load(
    cfg: &RulesConfig,
    profiles: &ProfileSet,
    stored: &[StoredRule],
) -> Result<RuleState, ServerError> {
    let mut opts = LoadOptions {
        include_deprecated: cfg.include_deprecated,
        include_unsupported: cfg.include_unsupported,
        ..LoadOptions::default()
    };
    if let Some(p) = &cfg.placeholders {
        opts.placeholders =
            leitstelle_hunt::load_placeholders(p).map_err(|e| ServerError::Rules(e.to_string()))?;
    }
    let mut set = if cfg.paths.is_empty() {
        leitstelle_sigma::RuleSet::default()
    } else {
        leitstelle_hunt::load_rules(&cfg.paths, &opts)
            .map_err(|e| ServerError::Rules(e.to_string()))?
    };
    // Stored texts replace folder rules of the same id; rows without a text (`folder`
    // origin) only carry the enabled flag, which the detector's gate applies, as it does
    // for stored rules: every stored text is compiled, enabled or not, so a tenant's
    // overlay can enable a rule that is off for everyone else.
    let texts: Vec<&StoredRule> = stored.iter().filter(|r| !r.yaml.is_empty()).collect();
    if !texts.is_empty() {
        let ids: std::collections::HashSet<&str> =
            texts.iter().map(|r| r.rule_id.as_str()).collect();
        set.rules
            .retain(|r| r.id.as_deref().is_none_or(|id| !ids.contains(id)));
        let names: Vec<String> = texts
            .iter()
            .map(|r| format!("stored:{}@v{}", r.rule_id, r.version))
            .collect();
        let db = RuleSet::load(
            texts
                .iter()
                .zip(&names)
                .map(|(r, n)| (n.as_str(), r.yaml.as_str())),
            &opts,
        );
        set.rules.extend(db.rules);
        set.diagnostics.extend(db.diagnostics);
    }
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
    stored: &[StoredRule],
    current: &ArcSwap<RuleState>,
) -> Result<Arc<RuleState>, ServerError> {
    let state = Arc::new(load(cfg, profiles, stored)?);
    current.store(Arc::clone(&state));
    Ok(state)
}

/// Checks a proposed rule text: exactly one Sigma rule, with an id, that loads without
/// errors. The control plane calls this when a change is proposed and again when approved.
pub fn check_rule(text: &str) -> Result<RuleMeta, String> {
    let set = RuleSet::load([("proposal.yml", text)], &LoadOptions::default());
    if let Some(d) = set.diagnostics.first() {
        return Err(d.to_string());
    }
    match (
        set.rules.as_slice(),
        set.filters.len(),
        set.correlations.len(),
    ) {
        ([r], 0, 0) => Ok(RuleMeta {
            id: r
                .id
                .clone()
                .ok_or_else(|| "the rule has no `id`".to_string())?,
            title: r.title.clone(),
        }),
        _ => Err("the text must hold exactly one Sigma rule (no filters or correlations)".into()),
    }
}
