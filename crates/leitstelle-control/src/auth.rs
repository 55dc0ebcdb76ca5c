//! Users, roles and API tokens.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use base64::Engine as _;
use rusqlite::{OptionalExtension, params};
use sha2::Digest;

use crate::{Control, ControlError, Result, tenant_id, valid_name};

/// What a token or user may do within its tenant.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// May only send events.
    Ingest,
    /// May do everything within its tenant.
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Ingest => "ingest",
            Role::Admin => "admin",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "ingest" => Some(Role::Ingest),
            "admin" => Some(Role::Admin),
            _ => None,
        }
    }

    /// Every role name, for messages.
    pub const NAMES: &'static [&'static str] = &["ingest", "admin"];
}

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

/// Who is calling, as established from a token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Principal {
    pub token_id: i64,
    pub tenant_id: i64,
    pub tenant: String,
    pub role: Role,
    pub label: String,
    /// The tenants this principal may read: its own, plus the customers its tenant is
    /// contracted for when it is a provider ([`Control::add_scope`]). Sorted.
    pub scope: Vec<String>,
}

/// A local user.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct User {
    pub id: i64,
    pub name: String,
    /// (tenant, role) pairs.
    pub roles: Vec<(String, Role)>,
}

/// Token secrets start with this, so a leaked one is easy to recognise (secret scanners).
pub const TOKEN_PREFIX: &str = "lst_";

fn random_bytes<const N: usize>() -> Result<[u8; N]> {
    let mut b = [0u8; N];
    getrandom::fill(&mut b).map_err(|e| ControlError::Random(e.to_string()))?;
    Ok(b)
}

fn token_hash(secret: &str) -> String {
    let digest = sha2::Sha256::digest(secret.as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// A random password of 24 URL-safe characters (144 bits).
pub fn random_password() -> Result<String> {
    Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(random_bytes::<18>()?))
}

fn role_of(column: &'static str, s: String) -> Result<Role> {
    Role::parse(&s).ok_or(ControlError::Corrupt { column, detail: s })
}

impl Control {
    /// Creates an API token; returns its description and the secret, which is shown once
    /// and never stored.
    pub fn create_token(
        &self,
        tenant: &str,
        role: Role,
        label: &str,
        now_ns: i64,
    ) -> Result<(TokenInfo, String)> {
        if !valid_name(label) {
            return Err(ControlError::InvalidName(label.into()));
        }
        let secret = format!(
            "{TOKEN_PREFIX}{}",
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(random_bytes::<32>()?)
        );
        let prefix: String = secret.chars().take(TOKEN_PREFIX.len() + 6).collect();
        let hash = token_hash(&secret);
        self.write(|tx| {
            let tid = tenant_id(tx, tenant)?;
            tx.execute(
                "INSERT INTO tokens (tenant_id, role, label, hash, prefix, created_ns)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![tid, role.as_str(), label, hash, prefix, now_ns],
            )?;
            Ok((
                TokenInfo {
                    id: tx.last_insert_rowid(),
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
            let mut st = c.prepare(
                "SELECT k.id, t.name, k.role, k.label, k.prefix, k.created_ns, k.revoked_ns
                 FROM tokens k JOIN tenants t ON t.id = k.tenant_id
                 WHERE ?1 IS NULL OR t.name = ?1 ORDER BY k.id",
            )?;
            let rows = st.query_map([tenant], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, String>(3)?,
                    r.get::<_, String>(4)?,
                    r.get::<_, i64>(5)?,
                    r.get::<_, Option<i64>>(6)?,
                ))
            })?;
            let mut out = Vec::new();
            for row in rows {
                let (id, tenant, role, label, prefix, created_ns, revoked_ns) = row?;
                out.push(TokenInfo {
                    id,
                    tenant,
                    role: role_of("tokens.role", role)?,
                    label,
                    prefix,
                    created_ns,
                    revoked_ns,
                });
            }
            Ok(out)
        })
    }

    /// Revokes a token; `false` when there is no such (unrevoked) token.
    pub fn revoke_token(&self, id: i64, now_ns: i64) -> Result<bool> {
        self.write(|tx| {
            let n = tx.execute(
                "UPDATE tokens SET revoked_ns = ?2 WHERE id = ?1 AND revoked_ns IS NULL",
                params![id, now_ns],
            )?;
            Ok(n == 1)
        })
    }

    /// The principal a token secret stands for, if it is a valid, unrevoked token.
    pub fn authenticate_token(&self, secret: &str) -> Result<Option<Principal>> {
        if !secret.starts_with(TOKEN_PREFIX) || secret.len() > 128 {
            return Ok(None);
        }
        let hash = token_hash(secret);
        self.read(|c| {
            let row = c
                .query_row(
                    "SELECT k.id, k.tenant_id, t.name, k.role, k.label
                     FROM tokens k JOIN tenants t ON t.id = k.tenant_id
                     WHERE k.hash = ?1 AND k.revoked_ns IS NULL",
                    [hash],
                    |r| {
                        Ok((
                            r.get::<_, i64>(0)?,
                            r.get::<_, i64>(1)?,
                            r.get::<_, String>(2)?,
                            r.get::<_, String>(3)?,
                            r.get::<_, String>(4)?,
                        ))
                    },
                )
                .optional()?;
            row.map(|(token_id, tenant_id, tenant, role, label)| {
                Ok(Principal {
                    token_id,
                    tenant_id,
                    scope: scope_of(c, tenant_id, &tenant)?,
                    tenant,
                    role: role_of("tokens.role", role)?,
                    label,
                })
            })
            .transpose()
        })
    }

    /// Contracts `customer` to `provider`: tokens of the provider tenant may then read the
    /// customer's events and alerts. Returns whether it was new.
    pub fn add_scope(&self, provider: &str, customer: &str, now_ns: i64) -> Result<bool> {
        self.write(|tx| {
            let p = tenant_id(tx, provider)?;
            let c = tenant_id(tx, customer)?;
            if p == c {
                return Ok(false);
            }
            let n = tx.execute(
                "INSERT OR IGNORE INTO tenant_scopes (provider_id, customer_id, created_ns)
                 VALUES (?1, ?2, ?3)",
                params![p, c, now_ns],
            )?;
            Ok(n > 0)
        })
    }

    /// Ends a contract made with [`Control::add_scope`]. Returns whether it existed.
    pub fn remove_scope(&self, provider: &str, customer: &str) -> Result<bool> {
        self.write(|tx| {
            let n = tx.execute(
                "DELETE FROM tenant_scopes WHERE
                   provider_id = (SELECT id FROM tenants WHERE name = ?1) AND
                   customer_id = (SELECT id FROM tenants WHERE name = ?2)",
                params![provider, customer],
            )?;
            Ok(n > 0)
        })
    }

    /// Every contract, as (provider, customer) names.
    pub fn scopes(&self) -> Result<Vec<(String, String)>> {
        self.read(|c| {
            let mut st = c.prepare(
                "SELECT p.name, t.name FROM tenant_scopes s
                 JOIN tenants p ON p.id = s.provider_id JOIN tenants t ON t.id = s.customer_id
                 ORDER BY p.name, t.name",
            )?;
            let rows = st.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
            Ok(rows.collect::<std::result::Result<Vec<_>, _>>()?)
        })
    }

    /// Creates a local user with a role in a tenant; the password is stored as an argon2id
    /// hash.
    pub fn create_user(
        &self,
        name: &str,
        password: &str,
        tenant: &str,
        role: Role,
        now_ns: i64,
    ) -> Result<User> {
        if !valid_name(name) {
            return Err(ControlError::InvalidName(name.into()));
        }
        let salt = SaltString::encode_b64(&random_bytes::<16>()?)
            .map_err(|e| ControlError::Hash(e.to_string()))?;
        let hash = argon2::Argon2::default()
            .hash_password(password.as_bytes(), &salt)
            .map_err(|e| ControlError::Hash(e.to_string()))?
            .to_string();
        self.write(|tx| {
            let tid = tenant_id(tx, tenant)?;
            let exists: Option<i64> = tx
                .query_row("SELECT id FROM users WHERE name = ?1", [name], |r| r.get(0))
                .optional()?;
            if exists.is_some() {
                return Err(ControlError::UserExists(name.into()));
            }
            tx.execute(
                "INSERT INTO users (name, password_hash, created_ns) VALUES (?1, ?2, ?3)",
                params![name, hash, now_ns],
            )?;
            let id = tx.last_insert_rowid();
            tx.execute(
                "INSERT INTO user_roles (user_id, tenant_id, role) VALUES (?1, ?2, ?3)",
                params![id, tid, role.as_str()],
            )?;
            Ok(User {
                id,
                name: name.into(),
                roles: vec![(tenant.into(), role)],
            })
        })
    }

    /// The user, if the name and password are right (and the user is not disabled).
    pub fn verify_password(&self, name: &str, password: &str) -> Result<Option<User>> {
        let row: Option<(i64, String)> = self.read(|c| {
            Ok(c.query_row(
                "SELECT id, password_hash FROM users WHERE name = ?1 AND disabled = 0",
                [name],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?)
        })?;
        let Some((id, stored)) = row else {
            return Ok(None);
        };
        let parsed = PasswordHash::new(&stored).map_err(|e| ControlError::Corrupt {
            column: "users.password_hash",
            detail: e.to_string(),
        })?;
        if argon2::Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_err()
        {
            return Ok(None);
        }
        let roles = self.read(|c| {
            let mut st = c.prepare(
                "SELECT t.name, r.role FROM user_roles r JOIN tenants t ON t.id = r.tenant_id
                 WHERE r.user_id = ?1 ORDER BY t.name, r.role",
            )?;
            let rows = st.query_map([id], |r| Ok((r.get::<_, String>(0)?, r.get(1)?)))?;
            let mut out = Vec::new();
            for row in rows {
                let (t, role) = row?;
                out.push((t, role_of("user_roles.role", role)?));
            }
            Ok(out)
        })?;
        Ok(Some(User {
            id,
            name: name.into(),
            roles,
        }))
    }
}

/// A tenant's own name plus the customers it is contracted for, sorted.
fn scope_of(c: &rusqlite::Connection, tenant_id: i64, tenant: &str) -> Result<Vec<String>> {
    let mut st = c.prepare_cached(
        "SELECT t.name FROM tenant_scopes s JOIN tenants t ON t.id = s.customer_id
         WHERE s.provider_id = ?1",
    )?;
    let mut out: Vec<String> = st
        .query_map([tenant_id], |r| r.get::<_, String>(0))?
        .collect::<std::result::Result<_, _>>()?;
    out.push(tenant.to_string());
    out.sort();
    out.dedup();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::temp_db;

    #[test]
    fn tokens_authenticate_until_revoked() {
        let db = temp_db("tokens");
        let c = &db.control;
        c.create_tenant("acme", 1).expect("tenant");
        let (info, secret) = c
            .create_token("acme", Role::Ingest, "winlogbeat", 5)
            .expect("token");
        assert!(secret.starts_with(TOKEN_PREFIX));
        assert!(secret.starts_with(&info.prefix));
        let p = c.authenticate_token(&secret).expect("auth").expect("valid");
        assert_eq!((p.tenant.as_str(), p.role), ("acme", Role::Ingest));
        assert_eq!(c.authenticate_token("lst_wrong").expect("auth"), None);
        assert_eq!(c.authenticate_token("").expect("auth"), None);
        assert_eq!(c.tokens(Some("acme")).expect("list"), vec![info.clone()]);
        assert!(c.tokens(Some("other")).expect("list").is_empty());
        assert!(c.revoke_token(info.id, 9).expect("revoke"));
        assert!(!c.revoke_token(info.id, 10).expect("revoke twice"));
        assert_eq!(c.authenticate_token(&secret).expect("auth"), None);
        assert_eq!(c.tokens(None).expect("list")[0].revoked_ns, Some(9));
        // nothing secret is stored
        let stored: String = c
            .read(|conn| Ok(conn.query_row("SELECT hash FROM tokens", [], |r| r.get(0))?))
            .expect("hash");
        assert!(!stored.contains(&secret[TOKEN_PREFIX.len()..]));
    }

    #[test]
    fn provider_scopes_widen_only_the_provider() {
        let db = temp_db("scopes");
        let c = &db.control;
        for t in ["mssp", "acme", "globex"] {
            c.create_tenant(t, 1).expect("tenant");
        }
        let (_, provider) = c.create_token("mssp", Role::Admin, "p", 1).expect("token");
        let (_, customer) = c.create_token("acme", Role::Admin, "c", 1).expect("token");
        let scope = |s: &str| c.authenticate_token(s).expect("auth").expect("valid").scope;
        assert_eq!(scope(&provider), ["mssp"]);
        assert!(c.add_scope("mssp", "acme", 2).expect("add"));
        assert!(!c.add_scope("mssp", "acme", 2).expect("again"));
        assert!(!c.add_scope("mssp", "mssp", 2).expect("self"));
        assert!(matches!(
            c.add_scope("mssp", "nope", 2),
            Err(ControlError::NoTenant(_))
        ));
        assert!(c.add_scope("mssp", "globex", 2).expect("add"));
        assert_eq!(scope(&provider), ["acme", "globex", "mssp"]);
        assert_eq!(
            scope(&customer),
            ["acme"],
            "a customer does not see its provider"
        );
        assert_eq!(
            c.scopes().expect("list"),
            [
                ("mssp".to_string(), "acme".to_string()),
                ("mssp".into(), "globex".into())
            ]
        );
        assert!(c.remove_scope("mssp", "acme").expect("remove"));
        assert!(!c.remove_scope("mssp", "acme").expect("remove"));
        assert_eq!(scope(&provider), ["globex", "mssp"]);
    }

    #[test]
    fn tokens_need_a_tenant() {
        let db = temp_db("token-tenant");
        assert!(matches!(
            db.control.create_token("nope", Role::Admin, "x", 1),
            Err(ControlError::NoTenant(_))
        ));
    }

    #[test]
    fn passwords_are_hashed_and_verified() {
        let db = temp_db("users");
        let c = &db.control;
        c.create_tenant("default", 1).expect("tenant");
        let pw = random_password().expect("password");
        assert_eq!(pw.len(), 24);
        let u = c
            .create_user("admin", &pw, "default", Role::Admin, 2)
            .expect("user");
        assert!(matches!(
            c.create_user("admin", "x", "default", Role::Admin, 3),
            Err(ControlError::UserExists(_))
        ));
        let v = c
            .verify_password("admin", &pw)
            .expect("verify")
            .expect("ok");
        assert_eq!(v.id, u.id);
        assert_eq!(v.roles, vec![("default".to_string(), Role::Admin)]);
        assert_eq!(c.verify_password("admin", "wrong").expect("verify"), None);
        assert_eq!(c.verify_password("nobody", &pw).expect("verify"), None);
        let stored: String = c
            .read(|conn| Ok(conn.query_row("SELECT password_hash FROM users", [], |r| r.get(0))?))
            .expect("hash");
        assert!(stored.starts_with("$argon2id$"));
        assert!(!stored.contains(&pw));
    }
}
