//! Saved hunts: a named search (query text and time range) a hunter keeps to run again.
//!
//! A saved hunt belongs to a tenant (by default its owner's own tenant) and is visible to
//! everyone who may search that tenant, so a team shares its hunts; only its owner may
//! delete it. Saving a name the owner already used in that tenant replaces that hunt's
//! query and time range. The query text is stored as given: the caller (the server)
//! checks that it parses, so this crate stays free of the query language.

use serde_json::json;

use crate::audit::{append, chain_of};
use crate::auth::require;
use crate::authz::{Perm, Principal};
use crate::db::{Conn, Row, params};
use crate::{Control, ControlError, Result, tenant_id};

/// The longest name of a saved hunt, in characters.
pub const MAX_HUNT_NAME: usize = 120;
/// The longest query text of a saved hunt, in bytes (the query language's own limit).
pub const MAX_HUNT_QUERY: usize = 64 * 1024;
/// The longest `from` / `to` text, in bytes.
const MAX_TIME_TEXT: usize = 64;

/// A saved hunt.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct SavedHunt {
    pub id: i64,
    pub tenant: String,
    /// Who saved it (the actor name: a user name or `token:ID:LABEL`).
    pub owner: String,
    pub name: String,
    /// The query text, in the search language.
    pub query: String,
    /// Start of the time range as the user wrote it (`-24h`, RFC 3339, empty: unbounded).
    pub from: String,
    /// End of the time range (empty: now).
    pub to: String,
    pub created_ns: i64,
    pub updated_ns: i64,
}

/// What to save.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewHunt {
    pub name: String,
    /// The query text (`q`).
    #[serde(default, rename = "q")]
    pub query: String,
    #[serde(default)]
    pub from: String,
    #[serde(default)]
    pub to: String,
    /// The tenant it belongs to; default: the saver's own tenant.
    #[serde(default)]
    pub tenant: Option<String>,
}

const HUNT_COLUMNS: &str = "h.id, t.name, h.owner, h.name, h.query, h.time_from, h.time_to,
    h.created_ns, h.updated_ns FROM saved_hunts h JOIN tenants t ON t.id = h.tenant_id";

fn hunt_row(r: &Row) -> Result<SavedHunt> {
    Ok(SavedHunt {
        id: r.int(0)?,
        tenant: r.text(1)?,
        owner: r.text(2)?,
        name: r.text(3)?,
        query: r.text(4)?,
        from: r.text(5)?,
        to: r.text(6)?,
        created_ns: r.int(7)?,
        updated_ns: r.int(8)?,
    })
}

/// The hunt `id` if `who` may search its tenant (another tenant's hunt is "not found").
fn hunt_for(c: &mut dyn Conn, who: &Principal, id: i64) -> Result<SavedHunt> {
    c.query_opt(
        &format!("SELECT {HUNT_COLUMNS} WHERE h.id = $1"),
        params![id],
    )?
    .as_ref()
    .map(hunt_row)
    .transpose()?
    .filter(|h| who.can(Perm::Search, &h.tenant))
    .ok_or_else(|| ControlError::NotFound(format!("saved hunt {id}")))
}

fn check(new: &NewHunt) -> Result<String> {
    let name = new.name.trim();
    if name.is_empty() {
        return Err(ControlError::Invalid("name is required".into()));
    }
    if name.chars().count() > MAX_HUNT_NAME {
        return Err(ControlError::Invalid(format!(
            "name is longer than {MAX_HUNT_NAME} characters"
        )));
    }
    if name.chars().any(char::is_control) {
        return Err(ControlError::Invalid(
            "name must not contain control characters".into(),
        ));
    }
    if new.query.len() > MAX_HUNT_QUERY {
        return Err(ControlError::Invalid(format!(
            "query is longer than {MAX_HUNT_QUERY} bytes"
        )));
    }
    for (what, t) in [("from", &new.from), ("to", &new.to)] {
        if t.len() > MAX_TIME_TEXT || t.chars().any(char::is_control) {
            return Err(ControlError::Invalid(format!(
                "`{what}` must be a time of at most {MAX_TIME_TEXT} bytes"
            )));
        }
    }
    Ok(name.to_string())
}

impl Control {
    /// Saves a hunt under a name (replacing the query and time range of the hunt the same
    /// owner saved under that name in that tenant). Needs `search` in the tenant. Audited as
    /// `hunt.save`.
    pub fn save_hunt(&self, who: &Principal, new: &NewHunt, now_ns: i64) -> Result<SavedHunt> {
        let name = check(new)?;
        let tenant = new.tenant.clone().unwrap_or_else(|| who.tenant.clone());
        require(who, Perm::Search, &tenant)?;
        let owner = who.actor();
        let (from, to) = (new.from.trim(), new.to.trim());
        self.write(|c| {
            let tid = tenant_id(c, &tenant)?;
            let existing = c.query_opt(
                "SELECT id FROM saved_hunts WHERE tenant_id = $1 AND owner = $2 AND name = $3",
                params![tid, &owner, &name],
            )?;
            let (id, replaced) = match existing {
                Some(r) => {
                    let id = r.int(0)?;
                    c.execute(
                        "UPDATE saved_hunts SET query = $2, time_from = $3, time_to = $4,
                           updated_ns = $5 WHERE id = $1",
                        params![id, &new.query, from, to, now_ns],
                    )?;
                    (id, true)
                }
                None => (
                    c.insert(
                        "INSERT INTO saved_hunts (tenant_id, owner, name, query, time_from,
                           time_to, created_ns, updated_ns)
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $7) RETURNING id",
                        params![tid, &owner, &name, &new.query, from, to, now_ns],
                    )?,
                    false,
                ),
            };
            let chain = chain_of(c, &tenant)?;
            append(
                c,
                chain,
                now_ns,
                &owner,
                "hunt.save",
                &id.to_string(),
                &json!({"name": name, "q": new.query, "from": from, "to": to, "replaced": replaced}),
            )?;
            hunt_for(c, who, id)
        })
    }

    /// The saved hunts of `tenants` that `who` may search, by name (then newest first).
    pub fn saved_hunts(&self, who: &Principal, tenants: &[String]) -> Result<Vec<SavedHunt>> {
        self.read(|c| {
            let rows = c.query(
                &format!("SELECT {HUNT_COLUMNS} ORDER BY h.name, h.id DESC"),
                &[],
            )?;
            let mut out = Vec::new();
            for r in &rows {
                let h = hunt_row(r)?;
                if tenants.contains(&h.tenant) && who.can(Perm::Search, &h.tenant) {
                    out.push(h);
                }
            }
            Ok(out)
        })
    }

    /// One saved hunt, if `who` may search its tenant.
    pub fn saved_hunt(&self, who: &Principal, id: i64) -> Result<SavedHunt> {
        self.read(|c| hunt_for(c, who, id))
    }

    /// Deletes a saved hunt. Only its owner may (anyone else who can see it is refused with
    /// `Forbidden`; one they cannot see is `NotFound`). Audited as `hunt.delete`.
    pub fn delete_hunt(&self, who: &Principal, id: i64, now_ns: i64) -> Result<SavedHunt> {
        self.write(|c| {
            let h = hunt_for(c, who, id)?;
            if h.owner != who.actor() {
                return Err(ControlError::Forbidden(format!(
                    "saved hunt {id} belongs to {}; only its owner may delete it",
                    h.owner
                )));
            }
            c.execute("DELETE FROM saved_hunts WHERE id = $1", params![id])?;
            let chain = chain_of(c, &h.tenant)?;
            append(
                c,
                chain,
                now_ns,
                &who.actor(),
                "hunt.delete",
                &id.to_string(),
                &json!({"name": h.name, "q": h.query}),
            )?;
            Ok(h)
        })
    }
}
