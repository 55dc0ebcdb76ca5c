//! Users, roles, login sessions, API tokens and provider scopes.
//!
//! Secrets are never stored: API tokens and session ids are random 256-bit values kept as
//! their SHA-256 (they have full entropy, so a slow hash buys nothing), passwords as
//! `argon2id` hashes. After [`MAX_FAILED_LOGINS`] wrong passwords in a row a user is locked
//! out for [`LOCKOUT_NS`]; while locked even the right password is refused.

use std::collections::BTreeMap;

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use base64::Engine as _;
use serde_json::json;
use sha2::Digest;

use crate::audit::append;
use crate::authz::{Perm, Principal, PrincipalKind, Role};
use crate::db::{Conn, params};
use crate::{Control, ControlError, Result, tenant_id, valid_name};

/// An API token as listed (never its secret).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct TokenInfo {
    pub id: i64,
    pub tenant: String,
    pub role: Role,
    pub label: String,
    /// The first characters of the secret, to recognise it.
    pub prefix: String,
    pub created_ns: i64,
    pub revoked_ns: Option<i64>,
}

/// A local user.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct User {
    pub id: i64,
    pub name: String,
    /// The organisation the user belongs to: a provider's staff belong to the provider's
    /// tenant, a customer's own staff to the customer's.
    pub tenant: String,
    pub display_name: String,
    pub email: String,
    /// (tenant, role) grants, sorted.
    pub roles: Vec<(String, Role)>,
    pub disabled: bool,
    /// Locked out until then (after too many wrong passwords); 0 when not locked.
    pub locked_until_ns: i64,
}

/// A login session, as created by [`Control::login`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Session {
    /// The session id for the cookie (shown once, stored hashed).
    pub secret: String,
    /// The CSRF token the console sends back with every state-changing request.
    pub csrf: String,
    pub expires_ns: i64,
    pub principal: Principal,
}

/// What a login attempt came to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Login {
    Ok(Box<Session>),
    /// Wrong name or password (the two are not told apart).
    Invalid,
    /// Too many failures: refused until then, whatever the password.
    Locked {
        until_ns: i64,
    },
}

/// Token secrets start with this, so a leaked one is easy to recognise (secret scanners).
pub const TOKEN_PREFIX: &str = "lst_";
/// Session ids start with this.
const SESSION_PREFIX: &str = "lss_";
/// Wrong passwords in a row before a lockout.
pub const MAX_FAILED_LOGINS: i64 = 5;
/// How long a lockout lasts (15 minutes).
pub const LOCKOUT_NS: i64 = 15 * 60 * 1_000_000_000;
/// How long a login session lasts (12 hours: a shift).
pub const SESSION_NS: i64 = 12 * 3600 * 1_000_000_000;

fn random_bytes<const N: usize>() -> Result<[u8; N]> {
    let mut b = [0u8; N];
    getrandom::fill(&mut b).map_err(|e| ControlError::Random(e.to_string()))?;
    Ok(b)
}

fn random_secret(prefix: &str) -> Result<String> {
    Ok(format!(
        "{prefix}{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(random_bytes::<32>()?)
    ))
}

/// SHA-256 as hex.
pub(crate) fn sha256_hex(data: &[u8]) -> String {
    sha2::Sha256::digest(data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A random password of 24 URL-safe characters (144 bits).
pub fn random_password() -> Result<String> {
    Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(random_bytes::<18>()?))
}

fn hash_password(password: &str) -> Result<String> {
    let salt = SaltString::encode_b64(&random_bytes::<16>()?)
        .map_err(|e| ControlError::Hash(e.to_string()))?;
    Ok(argon2::Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map_err(|e| ControlError::Hash(e.to_string()))?
        .to_string())
}

pub(crate) fn role_of(column: &'static str, s: String) -> Result<Role> {
    Role::parse(&s).ok_or(ControlError::Corrupt { column, detail: s })
}

/// Refuses unless `who` may do `p` in `tenant`.
pub(crate) fn require(who: &Principal, p: Perm, tenant: &str) -> Result<()> {
    if who.can(p, tenant) {
        Ok(())
    } else {
        Err(ControlError::Forbidden(format!(
            "{} may not {p:?} in tenant `{tenant}`",
            who.actor()
        )))
    }
}

/// Refuses unless `who` may do `p` for every tenant (global changes).
pub(crate) fn require_global(who: &Principal, p: Perm) -> Result<()> {
    if who.can_globally(p) {
        Ok(())
    } else {
        Err(ControlError::Forbidden(format!(
            "{} may not {p:?} for all tenants",
            who.actor()
        )))
    }
}

/// Every provider's customers, by provider name.
fn customers_of(c: &mut dyn Conn) -> Result<BTreeMap<String, Vec<String>>> {
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for r in c.query(
        "SELECT p.name, t.name FROM tenant_scopes s
         JOIN tenants p ON p.id = s.provider_id JOIN tenants t ON t.id = s.customer_id",
        &[],
    )? {
        out.entry(r.text(0)?).or_default().push(r.text(1)?);
    }
    Ok(out)
}

/// Whether a tenant is nobody's customer.
fn is_operator(c: &mut dyn Conn, tenant_id: i64) -> Result<bool> {
    Ok(c.query_opt(
        "SELECT 1 FROM tenant_scopes WHERE customer_id = $1",
        params![tenant_id],
    )?
    .is_none())
}

fn user_grants(c: &mut dyn Conn, user_id: i64) -> Result<Vec<(String, Role)>> {
    c.query(
        "SELECT t.name, r.role FROM user_roles r JOIN tenants t ON t.id = r.tenant_id
         WHERE r.user_id = $1 ORDER BY t.name, r.role",
        params![user_id],
    )?
    .into_iter()
    .map(|r| Ok((r.text(0)?, role_of("user_roles.role", r.text(1)?)?)))
    .collect()
}

/// The principal of a user (by id), or `None` if disabled or unknown.
pub(crate) fn principal_by_id(c: &mut dyn Conn, user_id: i64) -> Result<Option<Principal>> {
    let Some(r) = c.query_opt(
        "SELECT u.name, u.tenant_id, t.name FROM users u JOIN tenants t ON t.id = u.tenant_id
         WHERE u.id = $1 AND u.disabled = 0",
        params![user_id],
    )?
    else {
        return Ok(None);
    };
    let (name, tid, tenant) = (r.text(0)?, r.int(1)?, r.text(2)?);
    let grants = user_grants(c, user_id)?;
    let customers = customers_of(c)?;
    let operator = is_operator(c, tid)?;
    Ok(Some(Principal::new(
        PrincipalKind::User { id: user_id, name },
        tenant,
        tid,
        &grants,
        &customers,
        operator,
    )))
}

fn user_row(c: &mut dyn Conn, r: &crate::db::Row) -> Result<User> {
    let id = r.int(0)?;
    Ok(User {
        id,
        name: r.text(1)?,
        tenant: r.text(2)?,
        display_name: r.text(3)?,
        email: r.text(4)?,
        disabled: r.bool(5)?,
        locked_until_ns: r.int(6)?,
        roles: user_grants(c, id)?,
    })
}

const USER_COLUMNS: &str = "u.id, u.name, t.name, u.display_name, u.email, u.disabled,
    u.locked_until_ns FROM users u JOIN tenants t ON t.id = u.tenant_id";

/// Opens a session for a user whose identity was established by `method` (`password`
/// here; an OIDC login would map the identity provider's subject to a local user and call
/// this the same way), inside the caller's transaction; audited as `login.success`.
fn open_session(
    c: &mut dyn Conn,
    uid: i64,
    tid: i64,
    name: &str,
    method: &str,
    now_ns: i64,
) -> Result<Session> {
    let secret = random_secret(SESSION_PREFIX)?;
    let csrf = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(random_bytes::<24>()?);
    let expires_ns = now_ns + SESSION_NS;
    c.execute(
        "INSERT INTO sessions (id_hash, user_id, csrf, created_ns, expires_ns, last_seen_ns)
         VALUES ($1, $2, $3, $4, $5, $4)",
        params![
            sha256_hex(secret.as_bytes()),
            uid,
            &csrf,
            now_ns,
            expires_ns
        ],
    )?;
    c.execute(
        "DELETE FROM sessions WHERE expires_ns < $1",
        params![now_ns],
    )?;
    append(
        c,
        tid,
        now_ns,
        name,
        "login.success",
        name,
        &json!({"method": method}),
    )?;
    let principal = principal_by_id(c, uid)?.ok_or_else(|| ControlError::NoUser(name.into()))?;
    Ok(Session {
        secret,
        csrf,
        expires_ns,
        principal,
    })
}

impl Control {
    /// Creates an API token; returns its description and the secret, which is shown once
    /// and never stored. Needs `admin` in the tenant.
    pub fn create_token(
        &self,
        who: &Principal,
        tenant: &str,
        role: Role,
        label: &str,
        now_ns: i64,
    ) -> Result<(TokenInfo, String)> {
        require(who, Perm::Admin, tenant)?;
        if !valid_name(label) {
            return Err(ControlError::InvalidName(label.into()));
        }
        let secret = random_secret(TOKEN_PREFIX)?;
        let prefix: String = secret.chars().take(TOKEN_PREFIX.len() + 6).collect();
        let hash = sha256_hex(secret.as_bytes());
        self.write(|c| {
            let tid = tenant_id(c, tenant)?;
            let id = c.insert(
                "INSERT INTO tokens (tenant_id, role, label, hash, prefix, created_ns)
                 VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
                params![tid, role.as_str(), label, hash, &prefix, now_ns],
            )?;
            append(
                c,
                tid,
                now_ns,
                &who.actor(),
                "token.create",
                &id.to_string(),
                &json!({"role": role.as_str(), "label": label, "prefix": prefix}),
            )?;
            Ok((
                TokenInfo {
                    id,
                    tenant: tenant.into(),
                    role,
                    label: label.into(),
                    prefix,
                    created_ns: now_ns,
                    revoked_ns: None,
                },
                secret,
            ))
        })
    }

    /// Tokens, of one tenant or of all.
    pub fn tokens(&self, tenant: Option<&str>) -> Result<Vec<TokenInfo>> {
        self.read(|c| {
            c.query(
                "SELECT k.id, t.name, k.role, k.label, k.prefix, k.created_ns, k.revoked_ns
                 FROM tokens k JOIN tenants t ON t.id = k.tenant_id
                 WHERE CAST($1 AS TEXT) IS NULL OR t.name = $1 ORDER BY k.id",
                params![tenant],
            )?
            .into_iter()
            .map(|r| {
                Ok(TokenInfo {
                    id: r.int(0)?,
                    tenant: r.text(1)?,
                    role: role_of("tokens.role", r.text(2)?)?,
                    label: r.text(3)?,
                    prefix: r.text(4)?,
                    created_ns: r.int(5)?,
                    revoked_ns: r.opt_int(6)?,
                })
            })
            .collect()
        })
    }

    /// Revokes a token; `false` when there is no such (unrevoked) token within `who`'s
    /// admin scope.
    pub fn revoke_token(&self, who: &Principal, id: i64, now_ns: i64) -> Result<bool> {
        self.write(|c| {
            let Some(r) = c.query_opt(
                "SELECT k.tenant_id, t.name FROM tokens k JOIN tenants t ON t.id = k.tenant_id
                 WHERE k.id = $1 AND k.revoked_ns IS NULL",
                params![id],
            )?
            else {
                return Ok(false);
            };
            let (tid, tenant) = (r.int(0)?, r.text(1)?);
            if !who.can(Perm::Admin, &tenant) {
                return Ok(false);
            }
            c.execute(
                "UPDATE tokens SET revoked_ns = $2 WHERE id = $1",
                params![id, now_ns],
            )?;
            append(
                c,
                tid,
                now_ns,
                &who.actor(),
                "token.revoke",
                &id.to_string(),
                &json!({}),
            )?;
            Ok(true)
        })
    }

    /// The principal a token secret stands for, if it is a valid, unrevoked token.
    pub fn authenticate_token(&self, secret: &str) -> Result<Option<Principal>> {
        if !secret.starts_with(TOKEN_PREFIX) || secret.len() > 128 {
            return Ok(None);
        }
        let hash = sha256_hex(secret.as_bytes());
        self.read(|c| {
            let Some(r) = c.query_opt(
                "SELECT k.id, k.tenant_id, t.name, k.role, k.label
                 FROM tokens k JOIN tenants t ON t.id = k.tenant_id
                 WHERE k.hash = $1 AND k.revoked_ns IS NULL",
                params![hash],
            )?
            else {
                return Ok(None);
            };
            let (id, tid, tenant) = (r.int(0)?, r.int(1)?, r.text(2)?);
            let role = role_of("tokens.role", r.text(3)?)?;
            let customers = customers_of(c)?;
            let operator = is_operator(c, tid)?;
            Ok(Some(Principal::new(
                PrincipalKind::Token {
                    id,
                    label: r.text(4)?,
                },
                tenant.clone(),
                tid,
                &[(tenant, role)],
                &customers,
                operator,
            )))
        })
    }

    /// Contracts `customer` to `provider`: the provider's staff and tokens then hold their
    /// roles in the customer's tenant too. Returns whether it was new. Needs global admin.
    pub fn add_scope(
        &self,
        who: &Principal,
        provider: &str,
        customer: &str,
        now_ns: i64,
    ) -> Result<bool> {
        self.set_scope(who, provider, customer, true, now_ns)
    }

    /// Ends a contract made with [`Control::add_scope`]. Returns whether it existed.
    pub fn remove_scope(
        &self,
        who: &Principal,
        provider: &str,
        customer: &str,
        now_ns: i64,
    ) -> Result<bool> {
        self.set_scope(who, provider, customer, false, now_ns)
    }

    fn set_scope(
        &self,
        who: &Principal,
        provider: &str,
        customer: &str,
        add: bool,
        now_ns: i64,
    ) -> Result<bool> {
        require_global(who, Perm::Admin)?;
        self.write(|c| {
            let p = tenant_id(c, provider)?;
            let t = tenant_id(c, customer)?;
            let n = if !add {
                c.execute(
                    "DELETE FROM tenant_scopes WHERE provider_id = $1 AND customer_id = $2",
                    params![p, t],
                )?
            } else if p == t {
                0
            } else {
                c.execute(
                    "INSERT INTO tenant_scopes (provider_id, customer_id, created_ns)
                     VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
                    params![p, t, now_ns],
                )?
            };
            if n > 0 {
                append(
                    c,
                    t,
                    now_ns,
                    &who.actor(),
                    if add { "scope.add" } else { "scope.remove" },
                    customer,
                    &json!({"provider": provider}),
                )?;
            }
            Ok(n > 0)
        })
    }

    /// Every contract, as (provider, customer) names.
    pub fn scopes(&self) -> Result<Vec<(String, String)>> {
        self.read(|c| {
            c.query(
                "SELECT p.name, t.name FROM tenant_scopes s
                 JOIN tenants p ON p.id = s.provider_id JOIN tenants t ON t.id = s.customer_id
                 ORDER BY p.name, t.name",
                &[],
            )?
            .into_iter()
            .map(|r| Ok((r.text(0)?, r.text(1)?)))
            .collect()
        })
    }

    /// Creates a local user belonging to `tenant`, with `role` there; the password is stored
    /// as an argon2id hash. Needs `admin` in the tenant.
    pub fn create_user(
        &self,
        who: &Principal,
        name: &str,
        password: &str,
        tenant: &str,
        role: Role,
        now_ns: i64,
    ) -> Result<User> {
        require(who, Perm::Admin, tenant)?;
        if !valid_name(name) {
            return Err(ControlError::InvalidName(name.into()));
        }
        let hash = hash_password(password)?;
        self.write(|c| {
            let tid = tenant_id(c, tenant)?;
            if c.query_opt("SELECT id FROM users WHERE name = $1", params![name])?
                .is_some()
            {
                return Err(ControlError::UserExists(name.into()));
            }
            let id = c.insert(
                "INSERT INTO users (name, password_hash, created_ns, tenant_id)
                 VALUES ($1, $2, $3, $4) RETURNING id",
                params![name, hash, now_ns, tid],
            )?;
            c.execute(
                "INSERT INTO user_roles (user_id, tenant_id, role) VALUES ($1, $2, $3)",
                params![id, tid, role.as_str()],
            )?;
            append(
                c,
                tid,
                now_ns,
                &who.actor(),
                "user.create",
                name,
                &json!({"role": role.as_str()}),
            )?;
            Ok(User {
                id,
                name: name.into(),
                tenant: tenant.into(),
                display_name: String::new(),
                email: String::new(),
                roles: vec![(tenant.into(), role)],
                disabled: false,
                locked_until_ns: 0,
            })
        })
    }

    /// Gives `user` a role in `tenant` (or takes it away when `grant` is false). Needs
    /// `admin` in that tenant. Returns whether anything changed.
    pub fn set_role(
        &self,
        who: &Principal,
        user: &str,
        tenant: &str,
        role: Role,
        grant: bool,
        now_ns: i64,
    ) -> Result<bool> {
        require(who, Perm::Admin, tenant)?;
        self.write(|c| {
            let tid = tenant_id(c, tenant)?;
            let uid = c
                .query_opt("SELECT id FROM users WHERE name = $1", params![user])?
                .ok_or_else(|| ControlError::NoUser(user.into()))?
                .int(0)?;
            let n = if grant {
                c.execute(
                    "INSERT INTO user_roles (user_id, tenant_id, role) VALUES ($1, $2, $3)
                     ON CONFLICT DO NOTHING",
                    params![uid, tid, role.as_str()],
                )?
            } else {
                c.execute(
                    "DELETE FROM user_roles WHERE user_id = $1 AND tenant_id = $2 AND role = $3",
                    params![uid, tid, role.as_str()],
                )?
            };
            if n > 0 {
                append(
                    c,
                    tid,
                    now_ns,
                    &who.actor(),
                    if grant { "role.grant" } else { "role.revoke" },
                    user,
                    &json!({"role": role.as_str()}),
                )?;
            }
            Ok(n > 0)
        })
    }

    /// Users who belong to, or hold a role in, one of `tenants`.
    pub fn users(&self, tenants: &[String]) -> Result<Vec<User>> {
        self.read(|c| {
            let rows = c.query(&format!("SELECT {USER_COLUMNS} ORDER BY u.name"), &[])?;
            let mut out = Vec::new();
            for r in rows {
                let u = user_row(c, &r)?;
                if tenants.contains(&u.tenant) || u.roles.iter().any(|(t, _)| tenants.contains(t)) {
                    out.push(u);
                }
            }
            Ok(out)
        })
    }

    /// One user by name.
    pub fn user(&self, name: &str) -> Result<Option<User>> {
        self.read(|c| {
            let Some(r) = c.query_opt(
                &format!("SELECT {USER_COLUMNS} WHERE u.name = $1"),
                params![name],
            )?
            else {
                return Ok(None);
            };
            Ok(Some(user_row(c, &r)?))
        })
    }

    /// Sets a user's password (and lifts a lockout). Needs `admin` in the user's tenant, or
    /// being that user.
    pub fn set_password(
        &self,
        who: &Principal,
        user: &str,
        password: &str,
        now_ns: i64,
    ) -> Result<()> {
        let hash = hash_password(password)?;
        self.write(|c| {
            let r = c
                .query_opt(
                    "SELECT u.id, u.tenant_id, t.name FROM users u
                     JOIN tenants t ON t.id = u.tenant_id WHERE u.name = $1",
                    params![user],
                )?
                .ok_or_else(|| ControlError::NoUser(user.into()))?;
            let (uid, tid, tenant) = (r.int(0)?, r.int(1)?, r.text(2)?);
            if who.user_id() != Some(uid) {
                require(who, Perm::Admin, &tenant)?;
            }
            c.execute(
                "UPDATE users SET password_hash = $2, failed_logins = 0, locked_until_ns = 0
                 WHERE id = $1",
                params![uid, hash],
            )?;
            c.execute("DELETE FROM sessions WHERE user_id = $1", params![uid])?;
            append(
                c,
                tid,
                now_ns,
                &who.actor(),
                "user.password",
                user,
                &json!({}),
            )
        })
    }

    /// Checks a name and password and opens a session. Every attempt is audited; after
    /// [`MAX_FAILED_LOGINS`] failures in a row the user is locked out for [`LOCKOUT_NS`].
    pub fn login(&self, name: &str, password: &str, now_ns: i64) -> Result<Login> {
        let row = self.read(|c| {
            c.query_opt(
                "SELECT id, password_hash, locked_until_ns, tenant_id FROM users
                 WHERE name = $1 AND disabled = 0",
                params![name],
            )
        })?;
        let Some(row) = row else {
            // Hash anyway, so an unknown name takes as long as a wrong password.
            let _ = hash_password(password);
            self.audit(
                None,
                now_ns,
                name,
                "login.failure",
                name,
                &json!({"reason": "unknown user"}),
            )?;
            return Ok(Login::Invalid);
        };
        let (uid, stored, locked_until, tid) =
            (row.int(0)?, row.text(1)?, row.int(2)?, row.int(3)?);
        if locked_until > now_ns {
            self.write(|c| {
                append(
                    c,
                    tid,
                    now_ns,
                    name,
                    "login.refused",
                    name,
                    &json!({"reason": "locked out", "until_ns": locked_until}),
                )
            })?;
            return Ok(Login::Locked {
                until_ns: locked_until,
            });
        }
        let parsed = PasswordHash::new(&stored).map_err(|e| ControlError::Corrupt {
            column: "users.password_hash",
            detail: e.to_string(),
        })?;
        let good = argon2::Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok();
        if !good {
            return self.write(|c| {
                let failures = c
                    .query_one(
                        "UPDATE users SET failed_logins = failed_logins + 1 WHERE id = $1
                         RETURNING failed_logins",
                        params![uid],
                    )?
                    .int(0)?;
                let lock = failures >= MAX_FAILED_LOGINS;
                if lock {
                    c.execute(
                        "UPDATE users SET locked_until_ns = $2, failed_logins = 0 WHERE id = $1",
                        params![uid, now_ns + LOCKOUT_NS],
                    )?;
                }
                append(
                    c,
                    tid,
                    now_ns,
                    name,
                    "login.failure",
                    name,
                    &json!({"reason": "wrong password", "failures": failures, "locked": lock}),
                )?;
                Ok(if lock {
                    Login::Locked {
                        until_ns: now_ns + LOCKOUT_NS,
                    }
                } else {
                    Login::Invalid
                })
            });
        }
        self.write(|c| {
            c.execute(
                "UPDATE users SET failed_logins = 0, locked_until_ns = 0 WHERE id = $1",
                params![uid],
            )?;
            open_session(c, uid, tid, name, "password", now_ns).map(|s| Login::Ok(Box::new(s)))
        })
    }

    /// The principal and CSRF token of a live session.
    pub fn authenticate_session(
        &self,
        secret: &str,
        now_ns: i64,
    ) -> Result<Option<(Principal, String)>> {
        if !secret.starts_with(SESSION_PREFIX) || secret.len() > 128 {
            return Ok(None);
        }
        let hash = sha256_hex(secret.as_bytes());
        self.read(|c| {
            let Some(r) = c.query_opt(
                "SELECT user_id, csrf FROM sessions WHERE id_hash = $1 AND expires_ns > $2",
                params![hash, now_ns],
            )?
            else {
                return Ok(None);
            };
            let csrf = r.text(1)?;
            Ok(principal_by_id(c, r.int(0)?)?.map(|p| (p, csrf)))
        })
    }

    /// Ends a session. Returns whether it was live.
    pub fn logout(&self, secret: &str, now_ns: i64) -> Result<bool> {
        let hash = sha256_hex(secret.as_bytes());
        self.write(|c| {
            let Some(r) = c.query_opt(
                "SELECT u.id, u.name, u.tenant_id FROM sessions s JOIN users u ON u.id = s.user_id
                 WHERE s.id_hash = $1",
                params![&hash],
            )?
            else {
                return Ok(false);
            };
            c.execute("DELETE FROM sessions WHERE id_hash = $1", params![hash])?;
            let name = r.text(1)?;
            append(c, r.int(2)?, now_ns, &name, "logout", &name, &json!({}))?;
            Ok(true)
        })
    }

    /// The principal of a user by name (for local commands that act as a user).
    pub fn principal_of_user(&self, name: &str) -> Result<Option<Principal>> {
        self.read(|c| {
            let Some(r) = c.query_opt("SELECT id FROM users WHERE name = $1", params![name])?
            else {
                return Ok(None);
            };
            principal_by_id(c, r.int(0)?)
        })
    }
}
