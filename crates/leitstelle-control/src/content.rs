//! Detection content under change control.
//!
//! Rules are stored with every version. A change (a new rule, an edit, disabling or enabling
//! a rule, or a per-tenant overlay) is *proposed* by one person and goes live only when
//! *another* person approves it: the author can never approve their own change, whoever they
//! are (the check is here, in the domain layer, so no API path can skip it). The approver is
//! recorded on the version. Upstream updates (a new SigmaHQ release) come in through
//! [`Control::import_upstream`]: a rule nobody edited locally takes the new text as a new
//! version; a locally edited one gets the upstream text as a proposed change to review.
//! Tenant overlays live apart from the rule text, so no import touches them.
//!
//! The control plane does not parse Sigma (it stays free of the engine); callers pass a
//! checker that validates a rule text and returns its id and title.

use serde_json::json;

use crate::audit::{append, chain_of};
use crate::authz::{Perm, Principal};
use crate::db::{Conn, Row, params};
use crate::gate::{Overlay, bump_generation, overlay_rows};
use crate::triage::check_text;
use crate::{Control, ControlError, Result, tenant_id};

/// What a rule text is, as the caller's checker reads it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RuleMeta {
    pub id: String,
    pub title: String,
}

/// Validates a rule text (Sigma YAML): its id and title, or why it is unusable.
pub type RuleChecker<'a> = &'a dyn Fn(&str) -> std::result::Result<RuleMeta, String>;

/// The kinds of change.
pub const CHANGE_KINDS: [&str; 5] = ["create", "edit", "disable", "enable", "overlay"];

/// A rule as stored.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct StoredRule {
    pub rule_id: String,
    pub title: String,
    pub version: i64,
    /// `upstream` (imported, not edited here), `local` (created or edited here) or
    /// `folder` (a rule of the configured folders: the row carries only its flag).
    pub origin: String,
    pub enabled: bool,
    /// The text (empty for `folder` rows).
    pub yaml: String,
    /// The newest upstream text when the rule was edited locally.
    pub upstream_yaml: Option<String>,
    pub updated_ns: i64,
}

/// One version of a rule.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct RuleVersion {
    pub version: i64,
    pub yaml: String,
    pub enabled: bool,
    pub origin: String,
    pub author: String,
    pub approver: String,
    pub change_id: Option<i64>,
    pub created_ns: i64,
}

/// A proposed, approved, rejected or withdrawn change.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct RuleChange {
    pub id: i64,
    /// `None`: a change for every tenant (the rule itself); `Some`: an overlay of one tenant.
    pub tenant: Option<String>,
    pub rule_id: String,
    pub kind: String,
    /// The new rule text (create, edit) or the overlay (as JSON).
    pub payload: String,
    /// The version the change was made against (edits must still apply to it).
    pub base_version: Option<i64>,
    pub author: String,
    pub note: String,
    /// `proposed`, `approved`, `rejected`, `withdrawn`.
    pub status: String,
    pub reviewer: Option<String>,
    pub review_note: Option<String>,
    pub created_ns: i64,
    pub reviewed_ns: Option<i64>,
}

/// A change someone proposes.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Proposal {
    /// `create`, `edit`, `disable`, `enable` (for all tenants; any rule id, stored or from
    /// the configured folders) or `overlay` (for `tenant`).
    pub kind: String,
    /// The rule (for `create`, taken from the text when absent).
    #[serde(default)]
    pub rule_id: Option<String>,
    /// Only for `overlay`.
    #[serde(default)]
    pub tenant: Option<String>,
    /// The rule text, for `create` and `edit`.
    #[serde(default)]
    pub yaml: Option<String>,
    /// For `overlay`.
    #[serde(default)]
    pub overlay: Option<Overlay>,
    #[serde(default)]
    pub note: String,
}

/// What an upstream import did.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct ImportReport {
    pub added: u64,
    pub updated: u64,
    pub unchanged: u64,
    /// Locally edited rules whose upstream text changed: a change was proposed for each.
    pub proposed: Vec<i64>,
    /// Texts the checker refused: (file or id, reason).
    pub rejected: Vec<(String, String)>,
}

const RULE_COLUMNS: &str =
    "rule_id, title, version, origin, enabled, yaml, upstream_yaml, updated_ns FROM rules";

fn rule_row(r: &Row) -> Result<StoredRule> {
    Ok(StoredRule {
        rule_id: r.text(0)?,
        title: r.text(1)?,
        version: r.int(2)?,
        origin: r.text(3)?,
        enabled: r.bool(4)?,
        yaml: r.text(5)?,
        upstream_yaml: r.opt_text(6)?,
        updated_ns: r.int(7)?,
    })
}

fn rule_by_id(c: &mut dyn Conn, id: &str) -> Result<Option<StoredRule>> {
    c.query_opt(
        &format!("SELECT {RULE_COLUMNS} WHERE rule_id = $1"),
        params![id],
    )?
    .as_ref()
    .map(rule_row)
    .transpose()
}

const CHANGE_COLUMNS: &str = "ch.id, t.name, ch.rule_id, ch.kind, ch.payload, ch.base_version,
    ch.author, ch.note, ch.status, ch.reviewer, ch.review_note, ch.created_ns, ch.reviewed_ns
    FROM rule_changes ch LEFT JOIN tenants t ON t.id = ch.tenant_id";

fn change_row(r: &Row) -> Result<RuleChange> {
    Ok(RuleChange {
        id: r.int(0)?,
        tenant: r.opt_text(1)?,
        rule_id: r.text(2)?,
        kind: r.text(3)?,
        payload: r.text(4)?,
        base_version: r.opt_int(5)?,
        author: r.text(6)?,
        note: r.text(7)?,
        status: r.text(8)?,
        reviewer: r.opt_text(9)?,
        review_note: r.opt_text(10)?,
        created_ns: r.int(11)?,
        reviewed_ns: r.opt_int(12)?,
    })
}

fn change_by_id(c: &mut dyn Conn, id: i64) -> Result<Option<RuleChange>> {
    c.query_opt(
        &format!("SELECT {CHANGE_COLUMNS} WHERE ch.id = $1"),
        params![id],
    )?
    .as_ref()
    .map(change_row)
    .transpose()
}

/// A change `who` may see (one it may not is reported as not found).
fn visible_change(c: &mut dyn Conn, who: &Principal, id: i64) -> Result<RuleChange> {
    change_by_id(c, id)?
        .filter(|ch| visible(who, ch))
        .ok_or_else(|| ControlError::NotFound(format!("change {id}")))
}

/// Refuses a change that was already decided.
fn still_proposed(ch: &RuleChange) -> Result<()> {
    if ch.status == "proposed" {
        Ok(())
    } else {
        Err(ControlError::Conflict(format!(
            "change {} is {} already",
            ch.id, ch.status
        )))
    }
}

/// Whether `who` may see a change.
fn visible(who: &Principal, ch: &RuleChange) -> bool {
    match &ch.tenant {
        Some(t) => who.can(Perm::ReadRules, t),
        None => who.can_somewhere(Perm::ReadRules),
    }
}

/// Whether `who` may do `p` for a change's target.
fn may(who: &Principal, p: Perm, tenant: Option<&str>) -> bool {
    match tenant {
        Some(t) => who.can(p, t),
        None => who.can_globally(p),
    }
}

fn audit_chain(c: &mut dyn Conn, tenant: Option<&str>) -> Result<i64> {
    match tenant {
        Some(t) => chain_of(c, t),
        None => Ok(0),
    }
}

/// Writes a new version of a rule (insert or update), in the caller's transaction.
#[allow(clippy::too_many_arguments)]
fn put_version(
    c: &mut dyn Conn,
    rule_id: &str,
    title: &str,
    yaml: &str,
    enabled: bool,
    origin: &str,
    author: &str,
    approver: &str,
    change_id: Option<i64>,
    now_ns: i64,
) -> Result<i64> {
    let version = match rule_by_id(c, rule_id)? {
        Some(r) => {
            let v = r.version + 1;
            c.execute(
                "UPDATE rules SET title = $2, version = $3, origin = $4, enabled = $5, yaml = $6,
                   updated_ns = $7 WHERE rule_id = $1",
                params![rule_id, title, v, origin, enabled, yaml, now_ns],
            )?;
            v
        }
        None => {
            c.execute(
                "INSERT INTO rules (rule_id, title, version, origin, enabled, yaml, updated_ns)
                 VALUES ($1, $2, 1, $3, $4, $5, $6)",
                params![rule_id, title, origin, enabled, yaml, now_ns],
            )?;
            1
        }
    };
    c.execute(
        "INSERT INTO rule_versions (rule_id, version, yaml, enabled, origin, author, approver,
           change_id, created_ns) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        params![
            rule_id, version, yaml, enabled, origin, author, approver, change_id, now_ns
        ],
    )?;
    crate::bump_counter(c, "rules_generation")?;
    bump_generation(c)?;
    Ok(version)
}

/// Makes an approved change live, in the caller's transaction.
fn apply_change(
    c: &mut dyn Conn,
    ch: &RuleChange,
    approver: &str,
    check: RuleChecker<'_>,
    now_ns: i64,
) -> Result<()> {
    let current = rule_by_id(c, &ch.rule_id)?;
    match ch.kind.as_str() {
        "create" | "edit" => {
            if ch.kind == "edit" && current.as_ref().map(|r| r.version) != ch.base_version {
                return Err(ControlError::Conflict(format!(
                    "rule {} changed since change {} was proposed; propose it again",
                    ch.rule_id, ch.id
                )));
            }
            if ch.kind == "create" && current.is_some() {
                return Err(ControlError::Conflict(format!(
                    "rule {} exists already",
                    ch.rule_id
                )));
            }
            let meta = check(&ch.payload).map_err(ControlError::Invalid)?;
            let origin = if ch.author == "upstream" {
                "upstream"
            } else {
                "local"
            };
            let enabled = current.as_ref().is_none_or(|r| r.enabled);
            put_version(
                c,
                &ch.rule_id,
                &meta.title,
                &ch.payload,
                enabled,
                origin,
                &ch.author,
                approver,
                Some(ch.id),
                now_ns,
            )?;
            if origin == "upstream" {
                c.execute(
                    "UPDATE rules SET upstream_yaml = NULL WHERE rule_id = $1",
                    params![&ch.rule_id],
                )?;
            }
        }
        "disable" | "enable" => {
            // A rule only in the configured folders gets a row that carries just its flag
            // (origin `folder`, no text).
            let (title, yaml, origin) = match &current {
                Some(r) => (r.title.clone(), r.yaml.clone(), r.origin.clone()),
                None => (ch.rule_id.clone(), String::new(), "folder".to_string()),
            };
            put_version(
                c,
                &ch.rule_id,
                &title,
                &yaml,
                ch.kind == "enable",
                &origin,
                &ch.author,
                approver,
                Some(ch.id),
                now_ns,
            )?;
        }
        "overlay" => {
            let tenant = ch
                .tenant
                .as_deref()
                .ok_or_else(|| ControlError::Invalid("an overlay needs a tenant".into()))?;
            let o: Overlay =
                serde_json::from_str(&ch.payload).map_err(|e| ControlError::Corrupt {
                    column: "rule_changes.payload",
                    detail: e.to_string(),
                })?;
            let tid = tenant_id(c, tenant)?;
            let exceptions =
                serde_json::to_string(&o.exceptions).map_err(|e| ControlError::Corrupt {
                    column: "rule_overlays.exceptions",
                    detail: e.to_string(),
                })?;
            c.execute(
                "INSERT INTO rule_overlays (tenant_id, rule_id, enabled, level, exceptions,
                   updated_ns) VALUES ($1, $2, $3, $4, $5, $6)
                 ON CONFLICT (tenant_id, rule_id) DO UPDATE SET enabled = excluded.enabled,
                   level = excluded.level, exceptions = excluded.exceptions,
                   updated_ns = excluded.updated_ns",
                params![
                    tid,
                    &ch.rule_id,
                    o.enabled,
                    o.level.as_deref(),
                    exceptions,
                    now_ns
                ],
            )?;
            bump_generation(c)?;
        }
        k => {
            return Err(ControlError::Corrupt {
                column: "rule_changes.kind",
                detail: k.to_string(),
            });
        }
    }
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn insert_change(
    c: &mut dyn Conn,
    tenant: Option<&str>,
    rule_id: &str,
    kind: &str,
    payload: &str,
    base_version: Option<i64>,
    author: &str,
    note: &str,
    now_ns: i64,
) -> Result<i64> {
    let tid = tenant.map(|t| tenant_id(c, t)).transpose()?;
    let id = c.insert(
        "INSERT INTO rule_changes (tenant_id, rule_id, kind, payload, base_version, author, note,
           status, created_ns) VALUES ($1, $2, $3, $4, $5, $6, $7, 'proposed', $8) RETURNING id",
        params![
            tid,
            rule_id,
            kind,
            payload,
            base_version,
            author,
            note,
            now_ns
        ],
    )?;
    let chain = audit_chain(c, tenant)?;
    append(
        c,
        chain,
        now_ns,
        author,
        "rule.propose",
        &id.to_string(),
        &json!({"rule_id": rule_id, "kind": kind, "note": note}),
    )?;
    Ok(id)
}

impl Control {
    /// Proposes a change. Rule texts are checked now (and again when approved).
    pub fn propose_rule_change(
        &self,
        who: &Principal,
        p: &Proposal,
        check: RuleChecker<'_>,
        now_ns: i64,
    ) -> Result<RuleChange> {
        if !CHANGE_KINDS.contains(&p.kind.as_str()) {
            return Err(ControlError::Invalid(format!(
                "unknown change kind `{}` (one of {})",
                p.kind,
                CHANGE_KINDS.join(", ")
            )));
        }
        check_text("note", &p.note, false)?;
        let tenant =
            if p.kind == "overlay" {
                Some(p.tenant.as_deref().ok_or_else(|| {
                    ControlError::Invalid("an overlay change needs a tenant".into())
                })?)
            } else if p.tenant.is_some() {
                return Err(ControlError::Invalid(format!(
                    "a `{}` change is for every tenant; per-tenant changes are overlays",
                    p.kind
                )));
            } else {
                None
            };
        if !may(who, Perm::ProposeRules, tenant) {
            return Err(ControlError::Forbidden(format!(
                "{} may not propose rule changes {}",
                who.actor(),
                tenant.map_or("for every tenant".to_string(), |t| format!("for `{t}`"))
            )));
        }
        let (rule_id, payload) =
            match p.kind.as_str() {
                "create" | "edit" => {
                    let yaml = p.yaml.as_deref().ok_or_else(|| {
                        ControlError::Invalid("the change needs a rule text".into())
                    })?;
                    if yaml.len() > crate::triage::MAX_TEXT * 4 {
                        return Err(ControlError::Invalid("the rule text is too long".into()));
                    }
                    let meta = check(yaml).map_err(ControlError::Invalid)?;
                    if let Some(id) = &p.rule_id
                        && *id != meta.id
                    {
                        return Err(ControlError::Invalid(format!(
                            "the rule text has id {}, not {id}",
                            meta.id
                        )));
                    }
                    (meta.id, yaml.to_string())
                }
                "overlay" => {
                    let o = p.overlay.as_ref().ok_or_else(|| {
                        ControlError::Invalid("the change needs an overlay".into())
                    })?;
                    o.validate()?;
                    let id = p.rule_id.clone().ok_or_else(|| {
                        ControlError::Invalid("the change needs a rule id".into())
                    })?;
                    (
                        id,
                        serde_json::to_string(o)
                            .map_err(|e| ControlError::Invalid(e.to_string()))?,
                    )
                }
                _ => (
                    p.rule_id.clone().ok_or_else(|| {
                        ControlError::Invalid("the change needs a rule id".into())
                    })?,
                    String::new(),
                ),
            };
        if rule_id.is_empty() || rule_id.len() > 128 {
            return Err(ControlError::Invalid("invalid rule id".into()));
        }
        self.write(|c| {
            let current = rule_by_id(c, &rule_id)?;
            match (p.kind.as_str(), &current) {
                ("create", Some(_)) => {
                    return Err(ControlError::Conflict(format!(
                        "rule {rule_id} exists already; propose an edit"
                    )));
                }
                ("edit", None) => {
                    return Err(ControlError::NotFound(format!("rule {rule_id}")));
                }
                _ => {}
            }
            let id = insert_change(
                c,
                tenant,
                &rule_id,
                &p.kind,
                &payload,
                current.map(|r| r.version),
                &who.actor(),
                &p.note,
                now_ns,
            )?;
            change_by_id(c, id)?.ok_or_else(|| ControlError::NotFound(format!("change {id}")))
        })
    }

    /// Approves (and makes live) or rejects someone else's proposed change. The author of a
    /// change can never approve it.
    pub fn review_rule_change(
        &self,
        who: &Principal,
        id: i64,
        approve: bool,
        note: &str,
        check: RuleChecker<'_>,
        now_ns: i64,
    ) -> Result<RuleChange> {
        check_text("note", note, false)?;
        self.write(|c| {
            let ch = visible_change(c, who, id)?;
            if !may(who, Perm::ApproveRules, ch.tenant.as_deref()) {
                return Err(ControlError::Forbidden(format!(
                    "{} may not review this change",
                    who.actor()
                )));
            }
            if approve && ch.author == who.actor() {
                return Err(ControlError::Forbidden(
                    "the author of a change cannot approve it: another person must".into(),
                ));
            }
            still_proposed(&ch)?;
            if approve {
                apply_change(c, &ch, &who.actor(), check, now_ns)?;
            }
            c.execute(
                "UPDATE rule_changes SET status = $2, reviewer = $3, review_note = $4,
                   reviewed_ns = $5 WHERE id = $1",
                params![
                    id,
                    if approve { "approved" } else { "rejected" },
                    who.actor(),
                    note,
                    now_ns
                ],
            )?;
            let chain = audit_chain(c, ch.tenant.as_deref())?;
            append(
                c,
                chain,
                now_ns,
                &who.actor(),
                if approve {
                    "rule.approve"
                } else {
                    "rule.reject"
                },
                &id.to_string(),
                &json!({"rule_id": ch.rule_id, "kind": ch.kind, "author": ch.author,
                        "note": note}),
            )?;
            change_by_id(c, id)?.ok_or_else(|| ControlError::NotFound(format!("change {id}")))
        })
    }

    /// Withdraws one's own proposed change.
    pub fn withdraw_rule_change(&self, who: &Principal, id: i64, now_ns: i64) -> Result<()> {
        self.write(|c| {
            let ch = visible_change(c, who, id)?;
            if ch.author != who.actor() {
                return Err(ControlError::Forbidden(
                    "only the author may withdraw a change".into(),
                ));
            }
            still_proposed(&ch)?;
            c.execute(
                "UPDATE rule_changes SET status = 'withdrawn', reviewed_ns = $2 WHERE id = $1",
                params![id, now_ns],
            )?;
            let chain = audit_chain(c, ch.tenant.as_deref())?;
            append(
                c,
                chain,
                now_ns,
                &who.actor(),
                "rule.withdraw",
                &id.to_string(),
                &json!({}),
            )
        })
    }

    /// Changes `who` may see, newest first, optionally of one status.
    pub fn rule_changes(&self, who: &Principal, status: Option<&str>) -> Result<Vec<RuleChange>> {
        self.read(|c| {
            Ok(
                c.query(&format!("SELECT {CHANGE_COLUMNS} ORDER BY ch.id DESC"), &[])?
                    .iter()
                    .map(change_row)
                    .collect::<Result<Vec<_>>>()?
                    .into_iter()
                    .filter(|ch| visible(who, ch) && status.is_none_or(|s| ch.status == s))
                    .collect(),
            )
        })
    }

    /// One change.
    pub fn rule_change(&self, who: &Principal, id: i64) -> Result<RuleChange> {
        self.read(|c| visible_change(c, who, id))
    }

    /// Every stored rule (for the engine: all of them; the caller skips disabled ones).
    pub fn stored_rules(&self) -> Result<Vec<StoredRule>> {
        self.read(|c| {
            c.query(&format!("SELECT {RULE_COLUMNS} ORDER BY rule_id"), &[])?
                .iter()
                .map(rule_row)
                .collect()
        })
    }

    /// One rule with all its versions, oldest first.
    pub fn stored_rule(&self, id: &str) -> Result<Option<(StoredRule, Vec<RuleVersion>)>> {
        self.read(|c| {
            let Some(rule) = rule_by_id(c, id)? else {
                return Ok(None);
            };
            let versions = c
                .query(
                    "SELECT version, yaml, enabled, origin, author, approver, change_id,
                       created_ns FROM rule_versions WHERE rule_id = $1 ORDER BY version",
                    params![id],
                )?
                .iter()
                .map(|r| {
                    Ok(RuleVersion {
                        version: r.int(0)?,
                        yaml: r.text(1)?,
                        enabled: r.bool(2)?,
                        origin: r.text(3)?,
                        author: r.text(4)?,
                        approver: r.text(5)?,
                        change_id: r.opt_int(6)?,
                        created_ns: r.int(7)?,
                    })
                })
                .collect::<Result<_>>()?;
            Ok(Some((rule, versions)))
        })
    }

    /// The overlays of `tenants`: (tenant, rule id, overlay).
    pub fn overlays(&self, tenants: &[String]) -> Result<Vec<(String, String, Overlay)>> {
        Ok(self
            .read(overlay_rows)?
            .into_iter()
            .filter(|(t, _, _)| tenants.contains(t))
            .collect())
    }

    /// Moves whenever a rule version is written: the server recompiles when it changes.
    pub fn rules_generation(&self) -> Result<i64> {
        self.read(|c| crate::counter(c, "rules_generation"))
    }

    /// Imports upstream rule texts (a SigmaHQ release): new rules are added, rules nobody
    /// edited here take the new text as a new version, locally edited rules keep theirs and
    /// get the upstream text as a proposed change. Overlays are untouched. Needs global
    /// `propose rules` (the import is recorded as authored by `upstream`).
    pub fn import_upstream(
        &self,
        who: &Principal,
        texts: &[(String, String)],
        check: RuleChecker<'_>,
        now_ns: i64,
    ) -> Result<ImportReport> {
        if !who.can_globally(Perm::ProposeRules) {
            return Err(ControlError::Forbidden(format!(
                "{} may not import rules",
                who.actor()
            )));
        }
        let mut report = ImportReport::default();
        let mut valid = Vec::new();
        for (name, yaml) in texts {
            match check(yaml) {
                Ok(meta) => valid.push((meta, yaml)),
                Err(e) => report.rejected.push((name.clone(), e)),
            }
        }
        self.write(|c| {
            for (meta, yaml) in &valid {
                match rule_by_id(c, &meta.id)? {
                    None => {
                        put_version(
                            c,
                            &meta.id,
                            &meta.title,
                            yaml,
                            true,
                            "upstream",
                            "upstream",
                            &who.actor(),
                            None,
                            now_ns,
                        )?;
                        report.added += 1;
                    }
                    Some(r) if r.origin == "upstream" || r.origin == "folder" => {
                        if r.yaml == **yaml && r.origin == "upstream" {
                            report.unchanged += 1;
                        } else {
                            put_version(
                                c,
                                &meta.id,
                                &meta.title,
                                yaml,
                                r.enabled,
                                "upstream",
                                "upstream",
                                &who.actor(),
                                None,
                                now_ns,
                            )?;
                            report.updated += 1;
                        }
                    }
                    Some(r) => {
                        if r.upstream_yaml.as_deref() == Some(yaml.as_str()) {
                            report.unchanged += 1;
                            continue;
                        }
                        c.execute(
                            "UPDATE rules SET upstream_yaml = $2 WHERE rule_id = $1",
                            params![&meta.id, yaml.as_str()],
                        )?;
                        let id = insert_change(
                            c,
                            None,
                            &meta.id,
                            "edit",
                            yaml,
                            Some(r.version),
                            "upstream",
                            "upstream update of a locally edited rule",
                            now_ns,
                        )?;
                        report.proposed.push(id);
                    }
                }
            }
            append(
                c,
                0,
                now_ns,
                &who.actor(),
                "rule.import",
                "upstream",
                &json!({"added": report.added, "updated": report.updated,
                        "proposed": report.proposed.len(), "rejected": report.rejected.len()}),
            )
        })?;
        Ok(report)
    }
}
