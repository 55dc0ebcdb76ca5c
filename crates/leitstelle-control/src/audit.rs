//! The audit log: every change a person or the system makes, append-only and hash-chained
//! per tenant.
//!
//! Each tenant has its own chain (chain id = tenant id; chain 0 holds what concerns no single
//! tenant). A record's hash is SHA-256 over the previous record's hash and the record's own
//! fields, each length-prefixed; the chain's head (last seq and hash) is kept in
//! `audit_heads`, updated in the same transaction as the change it records. [`Control::verify_audit`]
//! recomputes every chain and reports each edited, removed, inserted or reordered record,
//! and a cut-off tail (the head no longer matches). Someone who can rewrite the whole
//! database can rewrite a whole chain; exporting the heads elsewhere
//! ([`Control::audit_heads`]) anchors them.

use sha2::Digest;

use crate::db::{Conn, params};
use crate::{Control, Result};

/// The previous hash of a chain's first record.
const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// One audit record.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct AuditRecord {
    /// The tenant whose chain holds it (`None`: the system chain).
    pub tenant: Option<String>,
    pub seq: i64,
    pub at_ns: i64,
    pub actor: String,
    /// What was done, `object.verb` (`alert.close`, `rule.approve`, `login.failure`).
    pub action: String,
    /// What it was done to (an id or a name).
    pub target: String,
    pub detail: serde_json::Value,
    pub hash: String,
}

/// Something wrong in a chain.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct AuditProblem {
    /// The tenant (`None`: the system chain).
    pub tenant: Option<String>,
    /// The record where it shows.
    pub seq: i64,
    pub message: String,
}

impl std::fmt::Display for AuditProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let chain = self.tenant.as_deref().unwrap_or("(system)");
        write!(f, "chain {chain}, record {}: {}", self.seq, self.message)
    }
}

#[allow(clippy::too_many_arguments)]
fn digest(
    prev: &str,
    chain: i64,
    seq: i64,
    at_ns: i64,
    actor: &str,
    action: &str,
    target: &str,
    detail: &str,
) -> String {
    let mut h = sha2::Sha256::new();
    for part in [
        prev,
        &chain.to_string(),
        &seq.to_string(),
        &at_ns.to_string(),
        actor,
        action,
        target,
        detail,
    ] {
        h.update(part.len().to_string().as_bytes());
        h.update(b":");
        h.update(part.as_bytes());
        h.update(b"\n");
    }
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// Appends a record to a tenant's chain (`chain` = tenant id, 0 for the system), inside the
/// caller's transaction.
pub(crate) fn append(
    c: &mut dyn Conn,
    chain: i64,
    at_ns: i64,
    actor: &str,
    action: &str,
    target: &str,
    detail: &serde_json::Value,
) -> Result<()> {
    // The UPDATE takes the head's row lock first (PostgreSQL), so concurrent writers of one
    // chain queue here instead of forking it.
    let head = c.query_opt(
        "UPDATE audit_heads SET seq = seq + 1 WHERE chain = $1 RETURNING seq, hash",
        params![chain],
    )?;
    let (seq, prev) = match head {
        Some(r) => (r.int(0)?, r.text(1)?),
        None => (1, GENESIS.to_string()),
    };
    let detail = detail.to_string();
    let hash = digest(&prev, chain, seq, at_ns, actor, action, target, &detail);
    c.execute(
        "INSERT INTO audit_log (chain, seq, at_ns, actor, action, target, detail, prev_hash, hash)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        params![
            chain, seq, at_ns, actor, action, target, detail, prev, &hash
        ],
    )?;
    if seq == 1 {
        c.execute(
            "INSERT INTO audit_heads (chain, seq, hash) VALUES ($1, 1, $2)",
            params![chain, hash],
        )?;
    } else {
        c.execute(
            "UPDATE audit_heads SET hash = $2 WHERE chain = $1",
            params![chain, hash],
        )?;
    }
    Ok(())
}

/// The chain id of a tenant name, or 0 when it names no tenant.
pub(crate) fn chain_of(c: &mut dyn Conn, tenant: &str) -> Result<i64> {
    Ok(
        c.query_opt("SELECT id FROM tenants WHERE name = $1", params![tenant])?
            .map(|r| r.int(0))
            .transpose()?
            .unwrap_or(0),
    )
}

fn tenant_names(c: &mut dyn Conn) -> Result<std::collections::HashMap<i64, String>> {
    c.query("SELECT id, name FROM tenants", &[])?
        .iter()
        .map(|r| Ok((r.int(0)?, r.text(1)?)))
        .collect()
}

impl Control {
    /// Audit records of the given tenants' chains (the system chain too when `system`),
    /// newest first, at most `limit`, older than `before` (a `(chain seq)` cursor is not
    /// needed: records are ordered by time, then chain and seq).
    pub fn audit_log(
        &self,
        tenants: &[String],
        system: bool,
        limit: u32,
    ) -> Result<Vec<AuditRecord>> {
        self.read(|c| {
            let names = tenant_names(c)?;
            let rows = c.query(
                "SELECT chain, seq, at_ns, actor, action, target, detail, hash FROM audit_log
                 ORDER BY at_ns DESC, chain, seq DESC",
                &[],
            )?;
            let mut out = Vec::new();
            for r in rows {
                let chain = r.int(0)?;
                let tenant = names.get(&chain).cloned();
                let wanted = match &tenant {
                    Some(t) => tenants.contains(t),
                    None => system,
                };
                if !wanted {
                    continue;
                }
                out.push(AuditRecord {
                    tenant,
                    seq: r.int(1)?,
                    at_ns: r.int(2)?,
                    actor: r.text(3)?,
                    action: r.text(4)?,
                    target: r.text(5)?,
                    detail: serde_json::from_str(&r.text(6)?).unwrap_or(serde_json::Value::Null),
                    hash: r.text(7)?,
                });
                if out.len() >= limit as usize {
                    break;
                }
            }
            Ok(out)
        })
    }

    /// Each chain's head: (tenant, last seq, last hash). Keep a copy elsewhere to anchor the
    /// chains.
    pub fn audit_heads(&self) -> Result<Vec<(Option<String>, i64, String)>> {
        self.read(|c| {
            let names = tenant_names(c)?;
            c.query(
                "SELECT chain, seq, hash FROM audit_heads ORDER BY chain",
                &[],
            )?
            .iter()
            .map(|r| Ok((names.get(&r.int(0)?).cloned(), r.int(1)?, r.text(2)?)))
            .collect()
        })
    }

    /// Recomputes every chain; returns the number of records checked and every problem.
    pub fn verify_audit(&self) -> Result<(u64, Vec<AuditProblem>)> {
        self.read(|c| {
            let names = tenant_names(c)?;
            let mut heads: std::collections::BTreeMap<i64, (i64, String)> = c
                .query("SELECT chain, seq, hash FROM audit_heads", &[])?
                .iter()
                .map(|r| Ok((r.int(0)?, (r.int(1)?, r.text(2)?))))
                .collect::<Result<_>>()?;
            let rows = c.query(
                "SELECT chain, seq, at_ns, actor, action, target, detail, prev_hash, hash
                 FROM audit_log ORDER BY chain, seq",
                &[],
            )?;
            let mut problems = Vec::new();
            let mut checked = 0u64;
            // (chain, expected next seq, hash of the previous record)
            let mut state: Option<(i64, i64, String)> = None;
            let finish = |state: Option<(i64, i64, String)>,
                          heads: &mut std::collections::BTreeMap<i64, (i64, String)>,
                          problems: &mut Vec<AuditProblem>| {
                if let Some((chain, next, last)) = state {
                    let tenant = names.get(&chain).cloned();
                    match heads.remove(&chain) {
                        Some((seq, hash)) if seq == next - 1 && hash == last => {}
                        Some((seq, _)) => problems.push(AuditProblem {
                            tenant,
                            seq,
                            message: format!(
                                "the chain ends at record {} but its head says {seq}: \
                                 records were removed from the end, or the head was edited",
                                next - 1
                            ),
                        }),
                        None => problems.push(AuditProblem {
                            tenant,
                            seq: next - 1,
                            message: "the chain has no head record".into(),
                        }),
                    }
                }
            };
            for r in rows {
                checked += 1;
                let chain = r.int(0)?;
                let seq = r.int(1)?;
                let tenant = || names.get(&chain).cloned();
                if state.as_ref().is_none_or(|s| s.0 != chain) {
                    finish(state.take(), &mut heads, &mut problems);
                    state = Some((chain, 1, GENESIS.to_string()));
                }
                let Some((_, next, prev)) = state.as_mut() else {
                    continue;
                };
                if seq != *next {
                    problems.push(AuditProblem {
                        tenant: tenant(),
                        seq,
                        message: if seq > *next {
                            format!("records {next} to {} are missing", seq - 1)
                        } else {
                            format!("record {seq} appears out of order")
                        },
                    });
                }
                let stored_prev = r.text(7)?;
                if stored_prev != *prev {
                    problems.push(AuditProblem {
                        tenant: tenant(),
                        seq,
                        message: "it does not follow the record before it (removed, inserted \
                                  or reordered records)"
                            .into(),
                    });
                }
                let hash = r.text(8)?;
                let again = digest(
                    &stored_prev,
                    chain,
                    seq,
                    r.int(2)?,
                    &r.text(3)?,
                    &r.text(4)?,
                    &r.text(5)?,
                    &r.text(6)?,
                );
                if again != hash {
                    problems.push(AuditProblem {
                        tenant: tenant(),
                        seq,
                        message: "its content was changed after it was written".into(),
                    });
                }
                *next = seq + 1;
                *prev = hash;
            }
            finish(state.take(), &mut heads, &mut problems);
            for (chain, (seq, _)) in heads {
                problems.push(AuditProblem {
                    tenant: names.get(&chain).cloned(),
                    seq,
                    message: "the head names records that are all gone".into(),
                });
            }
            Ok((checked, problems))
        })
    }
}

impl Control {
    /// Records an audit entry in `tenant`'s chain (the system chain when `None` or no such
    /// tenant), in a write of its own: for actions that change nothing else (a login, an
    /// export, a search).
    pub fn audit(
        &self,
        tenant: Option<&str>,
        now_ns: i64,
        actor: &str,
        action: &str,
        target: &str,
        detail: &serde_json::Value,
    ) -> Result<()> {
        self.write(|c| {
            let chain = match tenant {
                Some(t) => chain_of(c, t)?,
                None => 0,
            };
            append(c, chain, now_ns, actor, action, target, detail)
        })
    }
}
