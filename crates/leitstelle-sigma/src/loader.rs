//! Loading a rule folder: many files in, rules plus diagnostics out. Loading never fails as
//! a whole.

use std::collections::{HashMap, HashSet};

use crate::diag::{Code, Diagnostic, Severity};
use crate::rule::{self, Correlation, Document, Expr, Filter, Rule, Search};
use crate::value::Placeholders;
use crate::yaml;

#[derive(Clone, Debug, Default)]
pub struct LoadOptions {
    /// Also load rules in `deprecated` folders or with `status: deprecated`.
    pub include_deprecated: bool,
    /// Also load rules in `unsupported` folders or with `status: unsupported`.
    pub include_unsupported: bool,
    /// Values for `expand` placeholders.
    pub placeholders: Placeholders,
}

/// Why a file is skipped by its path alone (SigmaHQ's `deprecated` / `unsupported` folders).
pub fn skip_by_path(path: &str, opts: &LoadOptions) -> Option<&'static str> {
    let parts = path.split(['/', '\\']);
    for p in parts {
        if p == "deprecated" && !opts.include_deprecated {
            return Some("in a deprecated folder");
        }
        if p == "unsupported" && !opts.include_unsupported {
            return Some("in an unsupported folder");
        }
    }
    None
}

/// The outcome of parsing one file.
#[derive(Debug, Default)]
pub struct ParsedFile {
    pub documents: Vec<Document>,
    pub diagnostics: Vec<Diagnostic>,
}

/// Parses one rule file (all its YAML documents). Pure: the caller reads the file.
pub fn parse_file(path: &str, text: &str, opts: &LoadOptions) -> ParsedFile {
    let mut out = ParsedFile::default();
    if let Some(why) = skip_by_path(path, opts) {
        out.diagnostics.push(Diagnostic {
            severity: Severity::Skipped,
            ..Diagnostic::error(Code::S009Skipped, 1, 1, format!("skipped: {why}")).in_file(path)
        });
        return out;
    }
    let docs = match yaml::parse(text) {
        Ok(d) => d,
        Err(e) => {
            out.diagnostics.push(
                Diagnostic::error(
                    Code::S001InvalidYaml,
                    e.line,
                    e.col,
                    format!("invalid YAML: {}", e.message),
                )
                .in_file(path),
            );
            return out;
        }
    };
    for doc in &docs {
        match rule::parse_document(doc, path, &opts.placeholders) {
            Ok(Document::Rule(r)) => {
                let status = r.status.as_deref();
                let skip = match status {
                    Some("deprecated") if !opts.include_deprecated => Some("status is deprecated"),
                    Some("unsupported") if !opts.include_unsupported => {
                        Some("status is unsupported")
                    }
                    _ => None,
                };
                if let Some(why) = skip {
                    out.diagnostics.push(Diagnostic {
                        severity: Severity::Skipped,
                        ..Diagnostic::error(Code::S009Skipped, r.line, 1, format!("skipped: {why}"))
                            .in_file(path)
                    });
                } else {
                    out.documents.push(Document::Rule(r));
                }
            }
            Ok(other) => out.documents.push(other),
            Err(d) => out.diagnostics.push(d.in_file(path)),
        }
    }
    out
}

/// Loaded rules, filters and correlations, with every diagnostic.
#[derive(Debug, Default)]
pub struct RuleSet {
    pub rules: Vec<Rule>,
    pub filters: Vec<Filter>,
    pub correlations: Vec<Correlation>,
    pub diagnostics: Vec<Diagnostic>,
}

impl RuleSet {
    /// Parses and assembles rules from (path, text) pairs on one thread.
    pub fn load<'a>(
        files: impl IntoIterator<Item = (&'a str, &'a str)>,
        opts: &LoadOptions,
    ) -> RuleSet {
        RuleSet::assemble(files.into_iter().map(|(p, t)| parse_file(p, t, opts)))
    }

    /// Assembles parsed files (parsed in any order, for example in parallel): drops
    /// duplicate ids, applies filters to the rules they name, checks correlation references.
    pub fn assemble(parsed: impl IntoIterator<Item = ParsedFile>) -> RuleSet {
        let mut set = RuleSet::default();
        let mut ids: HashSet<String> = HashSet::new();
        for file in parsed {
            set.diagnostics.extend(file.diagnostics);
            for doc in file.documents {
                match doc {
                    Document::Rule(r) => {
                        if let Some(id) = &r.id
                            && !ids.insert(id.clone())
                        {
                            set.diagnostics.push(
                                Diagnostic::error(
                                    Code::S013DuplicateId,
                                    r.line,
                                    1,
                                    format!(
                                        "a rule with id {id} is already loaded; this one is skipped"
                                    ),
                                )
                                .in_file(&r.file),
                            );
                            continue;
                        }
                        set.rules.push(*r);
                    }
                    Document::Filter(f) => set.filters.push(*f),
                    Document::Correlation(c) => set.correlations.push(*c),
                }
            }
        }
        set.apply_filters();
        set.check_correlations();
        set
    }

    fn index(&self) -> HashMap<&str, usize> {
        let mut by_ref = HashMap::new();
        for (i, r) in self.rules.iter().enumerate() {
            if let Some(id) = &r.id {
                by_ref.insert(id.as_str(), i);
            }
            if let Some(n) = &r.name {
                by_ref.insert(n.as_str(), i);
            }
        }
        by_ref
    }

    fn apply_filters(&mut self) {
        let filters = std::mem::take(&mut self.filters);
        for f in &filters {
            let targets: Vec<(String, Option<usize>)> = {
                let index = self.index();
                f.rules
                    .iter()
                    .map(|r| (r.clone(), index.get(r.as_str()).copied()))
                    .collect()
            };
            for (name, target) in targets {
                let Some(i) = target else {
                    self.diagnostics.push(
                        Diagnostic::warning(
                            Code::S010UnknownRuleReference,
                            f.line,
                            1,
                            format!(
                                "filter `{}` names rule {name}, which is not loaded",
                                f.title
                            ),
                        )
                        .in_file(&f.file),
                    );
                    continue;
                };
                let rule = &mut self.rules[i];
                let ls = &f.logsource;
                let compatible = [
                    (&ls.product, &rule.logsource.product),
                    (&ls.category, &rule.logsource.category),
                    (&ls.service, &rule.logsource.service),
                ]
                .iter()
                .all(|(want, have)| want.is_none() || want == have);
                if !compatible {
                    self.diagnostics.push(
                        Diagnostic::warning(
                            Code::S014Filter,
                            f.line,
                            1,
                            format!(
                                "filter `{}` has another logsource than rule {name}; not applied",
                                f.title
                            ),
                        )
                        .in_file(&f.file),
                    );
                    continue;
                }
                apply_filter(rule, f);
            }
        }
        self.filters = filters;
    }

    fn check_correlations(&mut self) {
        let known: HashSet<String> = {
            let idx = self.index();
            idx.keys().map(|s| s.to_string()).collect()
        };
        let corr_names: HashSet<String> = self
            .correlations
            .iter()
            .flat_map(|c| c.id.iter().chain(c.name.iter()).cloned())
            .collect();
        for c in &self.correlations {
            for r in &c.rules {
                if !known.contains(r) && !corr_names.contains(r) {
                    self.diagnostics.push(
                        Diagnostic::warning(
                            Code::S010UnknownRuleReference,
                            c.line,
                            1,
                            format!(
                                "correlation `{}` names rule {r}, which is not loaded",
                                c.title
                            ),
                        )
                        .in_file(&c.file),
                    );
                }
            }
        }
    }

    /// Errors (rules not loaded), grouped by reason, for summaries.
    pub fn skipped_by_reason(&self) -> Vec<(&'static str, usize)> {
        let mut counts: HashMap<&'static str, usize> = HashMap::new();
        for d in &self.diagnostics {
            if d.severity != Severity::Warning {
                *counts.entry(d.code.reason()).or_default() += 1;
            }
        }
        let mut v: Vec<_> = counts.into_iter().collect();
        v.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
        v
    }
}

/// Adds a filter's searches to a rule and makes its condition `(rule) and not (filter)`.
fn apply_filter(rule: &mut Rule, f: &Filter) {
    let offset = rule.searches.len();
    let tag = f.id.as_deref().unwrap_or(&f.title);
    rule.searches.extend(f.searches.iter().map(|s| Search {
        name: format!("filter:{tag}:{}", s.name),
        alternatives: s.alternatives.clone(),
    }));
    let shifted = shift(&f.condition, offset);
    let orig = std::mem::replace(&mut rule.condition, Expr::Or(vec![]));
    rule.condition = Expr::And(vec![orig, Expr::Not(Box::new(shifted))]);
}

fn shift(e: &Expr, by: usize) -> Expr {
    match e {
        Expr::Search(i) => Expr::Search(i + by),
        Expr::Not(x) => Expr::Not(Box::new(shift(x, by))),
        Expr::And(v) => Expr::And(v.iter().map(|x| shift(x, by)).collect()),
        Expr::Or(v) => Expr::Or(v.iter().map(|x| shift(x, by)).collect()),
        Expr::AtLeast(n, v) => Expr::AtLeast(*n, v.iter().map(|x| shift(x, by)).collect()),
    }
}

/// Parses a placeholder file: a YAML map of name -> list of values.
pub fn parse_placeholders(text: &str) -> Result<Placeholders, String> {
    let docs = yaml::parse(text).map_err(|e| format!("line {}: {}", e.line, e.message))?;
    let mut out = Placeholders::new();
    for d in docs {
        let yaml::Kind::Map(entries) = &d.kind else {
            return Err("expected a map of placeholder name to values".into());
        };
        for (k, v) in entries {
            let name = k.scalar_text().ok_or("placeholder names must be strings")?;
            let name = name.trim_matches('%').to_string();
            let values = match &v.kind {
                yaml::Kind::Seq(items) => {
                    items.iter().filter_map(yaml::Node::scalar_text).collect()
                }
                _ => v.scalar_text().into_iter().collect(),
            };
            out.insert(name, values);
        }
    }
    Ok(out)
}
