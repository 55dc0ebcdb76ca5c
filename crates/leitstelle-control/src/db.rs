//! The SQL layer under the control plane: a [`Backend`] runs read and write transactions and
//! hands out a [`Conn`], which executes SQL with [`Val`] parameters and returns [`Row`]s of
//! [`Val`]s. Two backends: SQLite (`rusqlite`, embedded default) and PostgreSQL (`postgres`,
//! the synchronous client).
//!
//! Why the trait sits at this level and not at the level of domain operations: every rule of
//! the desk (the triage state machine, four-eyes approval, the audit hash chain, scopes) is
//! written once, above this layer, so two backends cannot disagree about them. They differ
//! only in connections, transactions and dialect, which this module and `schema` hold.
//!
//! The SQL dialect the domain code writes: PostgreSQL-style positional parameters (`$1`),
//! `RETURNING id`, `ON CONFLICT`, `CASE` instead of the scalar `min`/`max`, integers (`BIGINT`)
//! for times, counts and flags, no `LIKE` (its case rules differ), and casts to `BIGINT` on
//! aggregates (`sum` is `numeric` in PostgreSQL). The SQLite backend rewrites `$n` to `?n`.
//!
//! Never call a PostgreSQL-backed [`crate::Control`] on an async runtime's worker thread: the
//! synchronous client blocks (and refuses to run inside a runtime); the server calls the
//! control plane from its blocking pool.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use crate::{ControlError, Result};

/// A parameter or column value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Val {
    Null,
    Int(i64),
    Text(String),
    Blob(Vec<u8>),
}

impl From<i64> for Val {
    fn from(v: i64) -> Val {
        Val::Int(v)
    }
}
impl From<u32> for Val {
    fn from(v: u32) -> Val {
        Val::Int(i64::from(v))
    }
}
impl From<bool> for Val {
    fn from(v: bool) -> Val {
        Val::Int(i64::from(v))
    }
}
impl From<&str> for Val {
    fn from(v: &str) -> Val {
        Val::Text(v.to_string())
    }
}
impl From<String> for Val {
    fn from(v: String) -> Val {
        Val::Text(v)
    }
}
impl From<&String> for Val {
    fn from(v: &String) -> Val {
        Val::Text(v.clone())
    }
}
impl From<&[u8]> for Val {
    fn from(v: &[u8]) -> Val {
        Val::Blob(v.to_vec())
    }
}
impl From<Vec<u8>> for Val {
    fn from(v: Vec<u8>) -> Val {
        Val::Blob(v)
    }
}
impl<T: Into<Val>> From<Option<T>> for Val {
    fn from(v: Option<T>) -> Val {
        v.map_or(Val::Null, Into::into)
    }
}

/// Parameters, as `params![a, b]` builds them.
macro_rules! params {
    ($($v:expr),* $(,)?) => { &[$($crate::db::Val::from($v)),*][..] };
}
pub(crate) use params;

/// One result row.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Row(pub Vec<Val>);

impl Row {
    fn at(&self, i: usize) -> Result<&Val> {
        self.0.get(i).ok_or(ControlError::Corrupt {
            column: "row",
            detail: format!("no column {i}"),
        })
    }

    fn wrong(i: usize, want: &str, got: &Val) -> ControlError {
        ControlError::Corrupt {
            column: "row",
            detail: format!("column {i}: expected {want}, found {got:?}"),
        }
    }

    pub fn int(&self, i: usize) -> Result<i64> {
        match self.at(i)? {
            Val::Int(v) => Ok(*v),
            v => Err(Self::wrong(i, "an integer", v)),
        }
    }

    pub fn opt_int(&self, i: usize) -> Result<Option<i64>> {
        match self.at(i)? {
            Val::Null => Ok(None),
            Val::Int(v) => Ok(Some(*v)),
            v => Err(Self::wrong(i, "an integer or null", v)),
        }
    }

    pub fn text(&self, i: usize) -> Result<String> {
        match self.at(i)? {
            Val::Text(v) => Ok(v.clone()),
            v => Err(Self::wrong(i, "text", v)),
        }
    }

    pub fn opt_text(&self, i: usize) -> Result<Option<String>> {
        match self.at(i)? {
            Val::Null => Ok(None),
            Val::Text(v) => Ok(Some(v.clone())),
            v => Err(Self::wrong(i, "text or null", v)),
        }
    }

    pub fn blob(&self, i: usize) -> Result<Vec<u8>> {
        match self.at(i)? {
            Val::Blob(v) => Ok(v.clone()),
            v => Err(Self::wrong(i, "bytes", v)),
        }
    }

    pub fn bool(&self, i: usize) -> Result<bool> {
        Ok(self.int(i)? != 0)
    }
}

/// A connection inside a transaction.
pub trait Conn {
    /// Runs a statement; returns the number of rows it changed.
    fn execute(&mut self, sql: &str, params: &[Val]) -> Result<u64>;
    /// Runs a query; returns every row.
    fn query(&mut self, sql: &str, params: &[Val]) -> Result<Vec<Row>>;
    /// Whether this is PostgreSQL (for the few functions named differently).
    fn is_postgres(&self) -> bool;
}

impl dyn Conn + '_ {
    /// The first row, if any.
    pub fn query_opt(&mut self, sql: &str, params: &[Val]) -> Result<Option<Row>> {
        Ok(self.query(sql, params)?.into_iter().next())
    }

    /// Exactly one row (an error otherwise).
    pub fn query_one(&mut self, sql: &str, params: &[Val]) -> Result<Row> {
        self.query_opt(sql, params)?
            .ok_or_else(|| ControlError::Corrupt {
                column: "row",
                detail: format!("no row from {}", sql.trim()),
            })
    }

    /// Runs an `INSERT … RETURNING id` and returns the id.
    pub fn insert(&mut self, sql: &str, params: &[Val]) -> Result<i64> {
        self.query_one(sql, params)?.int(0)
    }
}

/// A control-plane database engine.
pub trait Backend: Send + Sync {
    /// `sqlite` or `postgres`.
    fn name(&self) -> &'static str;
    /// Where the data is (a path, or a URL without its password).
    fn location(&self) -> String;
    /// Runs `f` in a write transaction, committed when it returns `Ok`, rolled back otherwise.
    fn write(&self, f: &mut dyn FnMut(&mut dyn Conn) -> Result<()>) -> Result<()>;
    /// Runs `f` in a read-only transaction (one consistent snapshot).
    fn read(&self, f: &mut dyn FnMut(&mut dyn Conn) -> Result<()>) -> Result<()>;
}

// ---------------------------------------------------------------------------------------------
// SQLite

/// `$n` placeholders to SQLite's `?n` (outside quoted strings). Runs for every statement
/// (the recorder's run per detection), so it works on bytes: `$`, `?`, `'` and digits are
/// ASCII, and replacing an ASCII byte by another keeps the text UTF-8.
pub(crate) fn sqlite_sql(sql: &str) -> std::borrow::Cow<'_, str> {
    if !sql.contains('$') {
        return std::borrow::Cow::Borrowed(sql);
    }
    let mut out = sql.as_bytes().to_vec();
    let mut quoted = false;
    for i in 0..out.len() {
        match out[i] {
            b'\'' => quoted = !quoted,
            b'$' if !quoted && out.get(i + 1).is_some_and(u8::is_ascii_digit) => out[i] = b'?',
            _ => {}
        }
    }
    std::borrow::Cow::Owned(
        String::from_utf8(out)
            .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned()),
    )
}

struct SqliteConn<'a>(&'a rusqlite::Connection);

fn sqlite_val(v: &Val) -> rusqlite::types::Value {
    use rusqlite::types::Value;
    match v {
        Val::Null => Value::Null,
        Val::Int(i) => Value::Integer(*i),
        Val::Text(s) => Value::Text(s.clone()),
        Val::Blob(b) => Value::Blob(b.clone()),
    }
}

impl Conn for SqliteConn<'_> {
    fn is_postgres(&self) -> bool {
        false
    }

    fn execute(&mut self, sql: &str, params: &[Val]) -> Result<u64> {
        let mut st = self.0.prepare_cached(&sqlite_sql(sql))?;
        let n = st.execute(rusqlite::params_from_iter(params.iter().map(sqlite_val)))?;
        Ok(n as u64)
    }

    fn query(&mut self, sql: &str, params: &[Val]) -> Result<Vec<Row>> {
        use rusqlite::types::ValueRef;
        let mut st = self.0.prepare_cached(&sqlite_sql(sql))?;
        let n = st.column_count();
        let mut rows = st.query(rusqlite::params_from_iter(params.iter().map(sqlite_val)))?;
        let mut out = Vec::new();
        while let Some(r) = rows.next()? {
            let mut cols = Vec::with_capacity(n);
            for i in 0..n {
                cols.push(match r.get_ref(i)? {
                    ValueRef::Null => Val::Null,
                    ValueRef::Integer(v) => Val::Int(v),
                    ValueRef::Real(v) => Val::Int(v as i64),
                    ValueRef::Text(t) => Val::Text(
                        std::str::from_utf8(t)
                            .map_err(|e| ControlError::Corrupt {
                                column: "text",
                                detail: e.to_string(),
                            })?
                            .to_string(),
                    ),
                    ValueRef::Blob(b) => Val::Blob(b.to_vec()),
                });
            }
            out.push(Row(cols));
        }
        Ok(out)
    }
}

/// The embedded backend: one SQLite file in WAL mode, one writer connection behind a mutex
/// and a small pool of readers (readers do not wait for the writer).
pub struct Sqlite {
    path: PathBuf,
    writer: Mutex<rusqlite::Connection>,
    readers: Mutex<Vec<rusqlite::Connection>>,
}

impl Sqlite {
    pub fn open(path: &Path) -> Result<Sqlite> {
        let conn = crate::schema::sqlite_connect(path)?;
        crate::schema::sqlite_migrate(&conn, path)?;
        Ok(Sqlite {
            path: path.to_path_buf(),
            writer: Mutex::new(conn),
            readers: Mutex::new(Vec::new()),
        })
    }
}

impl Backend for Sqlite {
    fn name(&self) -> &'static str {
        "sqlite"
    }

    fn location(&self) -> String {
        self.path.display().to_string()
    }

    fn write(&self, f: &mut dyn FnMut(&mut dyn Conn) -> Result<()>) -> Result<()> {
        let mut conn = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        f(&mut SqliteConn(&tx))?;
        tx.commit()?;
        Ok(())
    }

    fn read(&self, f: &mut dyn FnMut(&mut dyn Conn) -> Result<()>) -> Result<()> {
        let pooled = self.readers.lock().unwrap_or_else(|p| p.into_inner()).pop();
        let mut conn = match pooled {
            Some(c) => c,
            None => crate::schema::sqlite_connect(&self.path)?,
        };
        let out = (|| {
            let tx = conn.transaction()?;
            f(&mut SqliteConn(&tx))?;
            tx.finish()?;
            Ok(())
        })();
        let mut pool = self.readers.lock().unwrap_or_else(|p| p.into_inner());
        if pool.len() < 8 {
            pool.push(conn);
        }
        out
    }
}

// ---------------------------------------------------------------------------------------------
// PostgreSQL

mod pg {
    use postgres::types::{FromSql, IsNull, ToSql, Type, to_sql_checked};

    use super::Val;

    type BoxError = Box<dyn std::error::Error + Sync + Send>;

    fn integer(ty: &Type) -> bool {
        matches!(*ty, Type::INT2 | Type::INT4 | Type::INT8 | Type::BOOL)
    }
    fn textual(ty: &Type) -> bool {
        matches!(
            *ty,
            Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME | Type::UNKNOWN
        )
    }

    impl ToSql for Val {
        fn to_sql(
            &self,
            ty: &Type,
            out: &mut postgres::types::private::BytesMut,
        ) -> Result<IsNull, BoxError> {
            match self {
                Val::Null => Ok(IsNull::Yes),
                Val::Int(v) => match *ty {
                    Type::INT8 => v.to_sql(ty, out),
                    Type::INT4 => i32::try_from(*v)?.to_sql(ty, out),
                    Type::INT2 => i16::try_from(*v)?.to_sql(ty, out),
                    Type::BOOL => (*v != 0).to_sql(ty, out),
                    _ => v.to_string().to_sql(ty, out),
                },
                Val::Text(s) => s.to_sql(ty, out),
                Val::Blob(b) => b.to_sql(ty, out),
            }
        }

        fn accepts(ty: &Type) -> bool {
            integer(ty) || textual(ty) || *ty == Type::BYTEA
        }

        to_sql_checked!();
    }

    impl<'a> FromSql<'a> for Val {
        fn from_sql(ty: &Type, raw: &'a [u8]) -> Result<Val, BoxError> {
            Ok(match *ty {
                Type::INT8 => Val::Int(i64::from_sql(ty, raw)?),
                Type::INT4 => Val::Int(i64::from(i32::from_sql(ty, raw)?)),
                Type::INT2 => Val::Int(i64::from(i16::from_sql(ty, raw)?)),
                Type::BOOL => Val::Int(i64::from(bool::from_sql(ty, raw)?)),
                Type::BYTEA => Val::Blob(Vec::<u8>::from_sql(ty, raw)?),
                _ => Val::Text(String::from_sql(ty, raw)?),
            })
        }

        fn from_sql_null(_: &Type) -> Result<Val, BoxError> {
            Ok(Val::Null)
        }

        fn accepts(ty: &Type) -> bool {
            integer(ty) || textual(ty) || *ty == Type::BYTEA
        }
    }
}

/// A connection with its prepared statements.
struct PgClient {
    client: postgres::Client,
    statements: HashMap<String, postgres::Statement>,
}

struct PgConn<'a, 't> {
    tx: &'a mut postgres::Transaction<'t>,
    statements: &'a mut HashMap<String, postgres::Statement>,
}

impl PgConn<'_, '_> {
    fn statement(&mut self, sql: &str) -> Result<postgres::Statement> {
        if let Some(s) = self.statements.get(sql) {
            return Ok(s.clone());
        }
        let s = self.tx.prepare(sql)?;
        if self.statements.len() > 512 {
            self.statements.clear();
        }
        self.statements.insert(sql.to_string(), s.clone());
        Ok(s)
    }
}

fn pg_params(params: &[Val]) -> Vec<&(dyn postgres::types::ToSql + Sync)> {
    params
        .iter()
        .map(|p| p as &(dyn postgres::types::ToSql + Sync))
        .collect()
}

impl Conn for PgConn<'_, '_> {
    fn is_postgres(&self) -> bool {
        true
    }

    fn execute(&mut self, sql: &str, params: &[Val]) -> Result<u64> {
        let st = self.statement(sql)?;
        Ok(self.tx.execute(&st, &pg_params(params))?)
    }

    fn query(&mut self, sql: &str, params: &[Val]) -> Result<Vec<Row>> {
        let st = self.statement(sql)?;
        let rows = self.tx.query(&st, &pg_params(params))?;
        let mut out = Vec::with_capacity(rows.len());
        for r in rows {
            let mut cols = Vec::with_capacity(r.len());
            for i in 0..r.len() {
                cols.push(r.try_get::<_, Val>(i)?);
            }
            out.push(Row(cols));
        }
        Ok(out)
    }
}

/// The PostgreSQL backend: one writer connection behind a mutex (writes of one server are
/// serialised, as with SQLite) and a pool of readers; a broken connection is replaced on its
/// next use.
pub struct Postgres {
    config: postgres::Config,
    location: String,
    writer: Mutex<Option<PgClient>>,
    readers: Mutex<Vec<PgClient>>,
}

impl Postgres {
    /// Connects to `url` (`postgres://user@host/db`, key=value strings also work) and
    /// brings the schema up to date.
    pub fn open(url: &str) -> Result<Postgres> {
        let config: postgres::Config = url.parse().map_err(|e| ControlError::Url {
            url: redact(url),
            source: e,
        })?;
        let pg = Postgres {
            config,
            location: redact(url),
            writer: Mutex::new(None),
            readers: Mutex::new(Vec::new()),
        };
        let mut client = pg.connect()?;
        crate::schema::pg_migrate(&mut client.client)?;
        *pg.writer.lock().unwrap_or_else(|p| p.into_inner()) = Some(client);
        Ok(pg)
    }

    fn connect(&self) -> Result<PgClient> {
        let client = self
            .config
            .connect(postgres::NoTls)
            .map_err(|e| ControlError::Connect {
                url: self.location.clone(),
                source: e,
            })?;
        Ok(PgClient {
            client,
            statements: HashMap::new(),
        })
    }

    fn run(
        client: &mut PgClient,
        read_only: bool,
        f: &mut dyn FnMut(&mut dyn Conn) -> Result<()>,
    ) -> Result<()> {
        let mut tx = client
            .client
            .build_transaction()
            .read_only(read_only)
            .start()?;
        f(&mut PgConn {
            tx: &mut tx,
            statements: &mut client.statements,
        })?;
        tx.commit()?;
        Ok(())
    }
}

impl Drop for Postgres {
    /// The synchronous client runs a small runtime of its own, which refuses to shut down on
    /// a thread that drives another runtime's tasks: connections are closed on a thread of
    /// their own, so dropping the backend is safe anywhere.
    fn drop(&mut self) {
        let writer = self
            .writer
            .get_mut()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        let readers = std::mem::take(self.readers.get_mut().unwrap_or_else(|p| p.into_inner()));
        let _ = std::thread::spawn(move || drop((writer, readers))).join();
    }
}

/// A database URL without its password, for messages.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let creds = &url[s + 3..at];
            match creds.find(':') {
                Some(c) => format!("{}{}:***{}", &url[..s + 3], &creds[..c], &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

impl Backend for Postgres {
    fn name(&self) -> &'static str {
        "postgres"
    }

    fn location(&self) -> String {
        self.location.clone()
    }

    fn write(&self, f: &mut dyn FnMut(&mut dyn Conn) -> Result<()>) -> Result<()> {
        let mut slot = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        if slot.as_ref().is_some_and(|c| c.client.is_closed()) {
            *slot = None;
        }
        let client = match slot.take() {
            Some(c) => c,
            None => self.connect()?,
        };
        let client = slot.insert(client);
        let out = Self::run(client, false, f);
        if client.client.is_closed() {
            *slot = None;
        }
        out
    }

    fn read(&self, f: &mut dyn FnMut(&mut dyn Conn) -> Result<()>) -> Result<()> {
        let pooled = self.readers.lock().unwrap_or_else(|p| p.into_inner()).pop();
        let mut client = match pooled {
            Some(c) if !c.client.is_closed() => c,
            _ => self.connect()?,
        };
        let out = Self::run(&mut client, true, f);
        let mut pool = self.readers.lock().unwrap_or_else(|p| p.into_inner());
        if pool.len() < 8 && !client.client.is_closed() {
            pool.push(client);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_become_sqlite_numbered_parameters() {
        assert_eq!(
            sqlite_sql("SELECT a FROM t WHERE a = $1 AND b = $12 AND c = '$1'"),
            "SELECT a FROM t WHERE a = ?1 AND b = ?12 AND c = '$1'"
        );
        assert_eq!(sqlite_sql("SELECT '$' || x"), "SELECT '$' || x");
        assert_eq!(
            sqlite_sql("SELECT 'Grüße $1' || $2 AS ü"),
            "SELECT 'Grüße $1' || ?2 AS ü"
        );
    }

    #[test]
    fn passwords_are_left_out_of_locations() {
        assert_eq!(
            redact("postgres://soc:s3cret@db.example/leitstelle"),
            "postgres://soc:***@db.example/leitstelle"
        );
        assert_eq!(
            redact("postgres://soc@db.example/x"),
            "postgres://soc@db.example/x"
        );
        assert_eq!(redact("host=/run/postgresql"), "host=/run/postgresql");
    }
}
