//! Database access shared by SQLite and PostgreSQL: one connection enum,
//! one pool, embedded migrations, and the transaction helpers handlers use.
//!
//! Diesel is blocking, so every use goes through [`Db::run`] or
//! [`Db::write`], which move the work to tokio's blocking pool.

pub mod native;
pub mod schema;
mod trace;

use std::time::Duration;

use anyhow::Context as _;
use diesel::connection::{AnsiTransactionManager, SimpleConnection, TransactionManager};
use diesel::r2d2::{CustomizeConnection, ManageConnection, Pool, PooledConnection, R2D2Connection};
use diesel::{Connection, PgConnection, SqliteConnection};
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};

use crate::app_error::ApiError;
pub use trace::StatementTrace;

const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("../migrations/sqlite");
const POSTGRES_MIGRATIONS: EmbeddedMigrations = embed_migrations!("../migrations/postgres");

/// A connection to either backend; SQLite is last because it accepts any path.
#[derive(diesel::MultiConnection)]
pub enum DbConnection {
    Postgres(PgConnection),
    Sqlite(SqliteConnection),
}

/// Which backend a URL names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    /// Picks the backend from the URL scheme; anything not `postgres://` is a SQLite path.
    pub fn from_url(url: &str) -> Backend {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Backend::Postgres
        } else {
            Backend::Sqlite
        }
    }
}

/// Strips `sqlite://` / `sqlite:` so the rest is a file path SQLite opens.
pub fn sqlite_path(url: &str) -> &str {
    url.strip_prefix("sqlite://").or_else(|| url.strip_prefix("sqlite:")).unwrap_or(url)
}

/// Opens connections of the one backend the URL names. (diesel's own manager
/// for a `MultiConnection` tries every backend and, when the server refuses,
/// reports only "Invalid connection url for multiconnection"; this one keeps
/// the real cause, e.g. "database … is not currently accepting connections",
/// which the pool's timeout error and the 503's log line then carry.)
#[derive(Debug)]
pub struct Manager {
    url: String,
    backend: Backend,
    trace: std::sync::Arc<StatementTrace>,
}

/// How recently a connection must have been returned healthy to be handed
/// out again without a round trip to check it (HikariCP's `aliveBypassWindowMs`
/// does the same). Under load every checkout is within it, so a booking pays
/// no `SELECT 1` (on PostgreSQL each is a round trip and a commit); an idle
/// connection is still checked before use.
const TRUSTED_FOR: Duration = Duration::from_millis(500);

thread_local! {
    /// Set when this thread saw the server go away under a connection
    /// ([`connection_lost`]); the pool then drops that connection when it
    /// comes back rather than handing it out again.
    static LOST: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Notes that the connection this thread is using lost its server (a closed
/// connection or a command that could not be sent): it is dropped, not reused.
pub(crate) fn connection_lost() {
    LOST.set(true);
}

/// A pooled connection and when it was last returned healthy. Dereferences to
/// the [`DbConnection`].
pub struct Pooled {
    conn: DbConnection,
    returned_at: std::time::Instant,
}

impl std::ops::Deref for Pooled {
    type Target = DbConnection;
    fn deref(&self) -> &DbConnection {
        &self.conn
    }
}

impl std::ops::DerefMut for Pooled {
    fn deref_mut(&mut self) -> &mut DbConnection {
        &mut self.conn
    }
}

impl ManageConnection for Manager {
    type Connection = Pooled;
    type Error = diesel::r2d2::Error;

    fn connect(&self) -> Result<Pooled, Self::Error> {
        let mut conn = match self.backend {
            Backend::Postgres => PgConnection::establish(&self.url).map(DbConnection::Postgres),
            Backend::Sqlite => SqliteConnection::establish(&self.url).map(DbConnection::Sqlite),
        }
        .map_err(diesel::r2d2::Error::ConnectionError)?;
        conn.set_instrumentation(self.trace.tracer());
        Ok(Pooled { conn, returned_at: std::time::Instant::now() })
    }

    fn is_valid(&self, conn: &mut Pooled) -> Result<(), Self::Error> {
        if conn.returned_at.elapsed() < TRUSTED_FOR {
            return Ok(());
        }
        conn.conn.ping().map_err(diesel::r2d2::Error::QueryError)
    }

    fn has_broken(&self, conn: &mut Pooled) -> bool {
        let broken = LOST.replace(false) || std::thread::panicking() || conn.conn.is_broken();
        conn.returned_at = std::time::Instant::now();
        broken
    }
}

/// A pooled connection.
pub type PooledConn = PooledConnection<Manager>;

/// Runs on every connection the pool opens.
#[derive(Debug, Clone, Copy)]
struct Pragmas {
    synchronous_full: bool,
}

impl CustomizeConnection<Pooled, diesel::r2d2::Error> for Pragmas {
    fn on_acquire(&self, conn: &mut Pooled) -> Result<(), diesel::r2d2::Error> {
        let sql = match &conn.conn {
            DbConnection::Sqlite(_) => {
                // WAL + NORMAL survives kill -9; FULL also survives power loss.
                let sync = if self.synchronous_full { "FULL" } else { "NORMAL" };
                format!(
                    "PRAGMA journal_mode = WAL; PRAGMA synchronous = {sync}; \
                     PRAGMA busy_timeout = 10000; PRAGMA foreign_keys = ON;"
                )
            }
            DbConnection::Postgres(_) => "SET TIME ZONE 'UTC';".to_owned(),
        };
        conn.batch_execute(&sql).map_err(diesel::r2d2::Error::QueryError)
    }
}

/// The pool plus what kind of database is behind it.
#[derive(Clone)]
pub struct Db {
    pool: Pool<Manager>,
    backend: Backend,
    trace: std::sync::Arc<StatementTrace>,
}

/// Pool settings from configuration.
#[derive(Debug, Clone)]
pub struct DbOptions {
    pub url: String,
    pub max_connections: u32,
    pub sqlite_synchronous_full: bool,
    /// How long a caller waits for a connection before 503 (the pool's connection timeout).
    pub connect_timeout: Duration,
}

impl Db {
    /// Opens the pool (creating the SQLite file if needed) and runs pending migrations.
    pub fn connect(options: &DbOptions) -> anyhow::Result<Db> {
        let backend = Backend::from_url(&options.url);
        let url = match backend {
            Backend::Sqlite => sqlite_path(&options.url).to_owned(),
            Backend::Postgres => options.url.clone(),
        };
        let trace = std::sync::Arc::new(StatementTrace::default());
        let manager = Manager { url, backend, trace: trace.clone() };
        // SQLite allows one writer at a time; a few connections still let
        // readers run beside it in WAL mode.
        let max = match backend {
            Backend::Sqlite => options.max_connections.min(8),
            Backend::Postgres => options.max_connections,
        };
        let pool = Pool::builder()
            .max_size(max)
            // Checked unless returned healthy within `TRUSTED_FOR` (`Manager::is_valid`).
            .test_on_check_out(true)
            .min_idle(Some(1))
            .connection_timeout(options.connect_timeout)
            .connection_customizer(Box::new(Pragmas { synchronous_full: options.sqlite_synchronous_full }))
            .build(manager)
            .with_context(|| format!("Failed to open the {backend:?} database"))?;
        let db = Db { pool, backend, trace };
        db.migrate()?;
        Ok(db)
    }

    /// Checks that the database answers within `within` (`/readyz`): 503 naming the cause otherwise,
    /// never a hang, even when the server accepts TCP but does not answer.
    pub async fn ready(&self, within: Duration) -> Result<(), ApiError> {
        let pool = self.pool.clone();
        let check = tokio::task::spawn_blocking(move || {
            let mut conn = pool.get_timeout(within).map_err(|e| ApiError::Unavailable(e.to_string()))?;
            ping(&mut conn).map_err(|e| {
                connection_lost();
                ApiError::Unavailable(format!("the database did not answer: {e}"))
            })
        });
        match tokio::time::timeout(within + Duration::from_millis(100), check).await {
            Ok(joined) => joined.map_err(|e| ApiError::Unexpected(anyhow::anyhow!("readiness check failed: {e}")))?,
            Err(_) => {
                Err(ApiError::Unavailable(format!("the database did not answer within {} ms", within.as_millis())))
            }
        }
    }

    /// Which backend this is.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The statements this pool's connections run, once [`StatementTrace::start`] is called (tests).
    pub fn trace(&self) -> &StatementTrace {
        &self.trace
    }

    fn migrate(&self) -> anyhow::Result<()> {
        let mut conn = self.pool.get().context("Failed to get a connection for migrations")?;
        let applied = match &mut **conn {
            DbConnection::Sqlite(c) => c.run_pending_migrations(SQLITE_MIGRATIONS).map(|v| v.len()),
            DbConnection::Postgres(c) => c.run_pending_migrations(POSTGRES_MIGRATIONS).map(|v| v.len()),
        }
        .map_err(|e| anyhow::anyhow!("Failed to run migrations: {e}"))?;
        if applied > 0 {
            tracing::info!(migrations = applied, "Applied {applied} database migration(s)");
        }
        Ok(())
    }

    /// A connection for synchronous code (startup, CLI); not for request
    /// handlers. Always checked with a round trip: connections whose server
    /// went away are dropped until a live one (or the cause) comes back.
    pub fn get(&self) -> anyhow::Result<PooledConn> {
        loop {
            let mut conn = self.pool.get().context("Failed to get a database connection")?;
            if ping(&mut conn).is_ok() {
                return Ok(conn);
            }
            connection_lost();
        }
    }

    /// Runs `f` with a connection on the blocking pool (reads, or writes that
    /// open their own transaction). `f` runs once: a statement outside a transaction
    /// may have committed, so only each [`write_tx`] it opens is run again on a deadlock.
    pub async fn run<T, F>(&self, f: F) -> Result<T, ApiError>
    where
        T: Send + 'static,
        F: FnOnce(&mut DbConnection) -> Result<T, ApiError> + Send + 'static,
    {
        let pool = self.pool.clone();
        tokio::task::spawn_blocking(move || {
            let mut conn = pool.get().map_err(|e| ApiError::Unavailable(e.to_string()))?;
            LOST.set(false);
            f(&mut conn)
        })
        .await
        .map_err(|e| ApiError::Unexpected(anyhow::anyhow!("blocking task failed: {e}")))?
    }

    /// Runs `f` inside one write transaction on the blocking pool; any error rolls it back. A transaction
    /// PostgreSQL rolled back for a deadlock or a serialisation failure runs again ([`write_tx`]), so `f`
    /// may be called more than once: it must do nothing outside the transaction that a second call repeats.
    pub async fn write<T, F>(&self, f: F) -> Result<T, ApiError>
    where
        T: Send + 'static,
        F: FnMut(&mut DbConnection) -> Result<T, ApiError> + Send + 'static,
    {
        self.run(move |conn| write_tx(conn, f)).await
    }
}

/// How many times [`write_tx`] runs a transaction PostgreSQL rolled back for a deadlock or a
/// serialisation failure before it answers 503.
pub const TRANSACTION_ATTEMPTS: u32 = 3;

/// The pause before attempt `attempt + 1`: 10 ms doubled per attempt, times a jitter of 0.5–1.5, so two
/// transactions that deadlocked do not meet again in step.
fn retry_pause(attempt: u32) -> Duration {
    let base = 10.0 * f64::from(1u32 << attempt.saturating_sub(1).min(6));
    Duration::from_micros((base * (0.5 + rand::random::<f64>()) * 1000.0) as u64)
}

/// One write transaction, run again when PostgreSQL rolled it back as a deadlock's victim (40P01) or as
/// not serialisable (40001), at most [`TRANSACTION_ATTEMPTS`] times, each retry counted in
/// `sortie_db_transaction_retries_total{reason}` and logged. Only an outermost transaction is run again:
/// then the failed attempt was rolled back entirely, nothing of it committed and nothing sent (outbox rows
/// are in it). Nested in another transaction (a savepoint) it runs once. The last failure is
/// `ApiError::Contended`: 503 with `Retry-After`.
pub fn write_tx<T, F>(conn: &mut DbConnection, mut f: F) -> Result<T, ApiError>
where
    F: FnMut(&mut DbConnection) -> Result<T, ApiError>,
{
    let outermost = outside_transactions(conn);
    let mut attempt = 1;
    loop {
        let outcome = write_tx_once(conn, &mut f);
        let reason = match &outcome {
            Err(e) if outermost => e.contention(),
            _ => None,
        };
        let Some(reason) = reason else { return outcome };
        if attempt >= TRANSACTION_ATTEMPTS {
            // A deadlock a use case wrapped in its own context is 503 too, never 500.
            return match outcome {
                Err(ApiError::Unexpected(e)) => Err(ApiError::Contended { reason, message: format!("{e:#}") }),
                other => other,
            };
        }
        metrics::counter!("sortie_db_transaction_retries_total", "reason" => reason.as_str()).increment(1);
        tracing::info!(reason = reason.as_str(), attempt, "The database rolled a transaction back; running it again");
        std::thread::sleep(retry_pause(attempt));
        attempt += 1;
    }
}

/// Whether no transaction is open on the connection (a transaction begun now is an outermost one).
fn outside_transactions(conn: &mut DbConnection) -> bool {
    matches!(
        <DbConnection as Connection>::TransactionManager::transaction_manager_status_mut(conn).transaction_depth(),
        Ok(None)
    )
}

/// One attempt of a write transaction. On SQLite it is `BEGIN IMMEDIATE`, so
/// the write lock is taken up front and a read-then-write body cannot fail
/// with SQLITE_BUSY half-way (a deferred transaction cannot wait for the lock
/// once it has read). On PostgreSQL it is a plain `BEGIN` (READ COMMITTED);
/// bodies take row locks or rely on constraints where races matter.
fn write_tx_once<T, F>(conn: &mut DbConnection, f: F) -> Result<T, ApiError>
where
    F: FnOnce(&mut DbConnection) -> Result<T, ApiError>,
{
    match conn {
        DbConnection::Sqlite(c) => {
            AnsiTransactionManager::begin_transaction_sql(c, "BEGIN IMMEDIATE").map_err(ApiError::from)?;
        }
        DbConnection::Postgres(_) => {
            <DbConnection as Connection>::TransactionManager::begin_transaction(conn).map_err(ApiError::from)?;
        }
    }
    match f(conn) {
        Ok(value) => {
            <DbConnection as Connection>::TransactionManager::commit_transaction(conn).map_err(ApiError::from)?;
            Ok(value)
        }
        Err(e) => {
            if let Err(rollback) = <DbConnection as Connection>::TransactionManager::rollback_transaction(conn) {
                tracing::error!(error = %rollback, "Failed to roll back a transaction");
            }
            Err(e)
        }
    }
}

/// True when a database error is a unique-constraint violation.
pub fn is_unique_violation(e: &diesel::result::Error) -> bool {
    matches!(e, diesel::result::Error::DatabaseError(diesel::result::DatabaseErrorKind::UniqueViolation, _))
}

/// Runs an `INSERT` statement with `ON CONFLICT DO NOTHING` on either backend (diesel's
/// multi-backend connection cannot express it, so the statement is built once per backend):
/// `Ok(rows inserted)`, no savepoint. On PostgreSQL a concurrent insert of the same key still waits
/// for the other transaction to finish first (then does nothing if it committed).
macro_rules! insert_or_ignore {
    ($conn:expr, $insert:expr) => {{
        use diesel::RunQueryDsl as _;
        match $conn {
            $crate::db::DbConnection::Sqlite(c) => $insert.on_conflict_do_nothing().execute(c),
            $crate::db::DbConnection::Postgres(c) => $insert.on_conflict_do_nothing().execute(c),
        }
    }};
}
pub(crate) use insert_or_ignore;

/// Runs an insert inside a savepoint and reports a unique-constraint
/// violation as `Ok(false)`. The savepoint keeps the surrounding transaction
/// usable on PostgreSQL, which otherwise aborts it on any error. It costs two
/// statements more than [`insert_or_ignore!`], which hot paths use instead.
/// On PostgreSQL a concurrent insert of the same key waits for the other
/// transaction to finish first.
pub fn insert_unless_exists<F>(conn: &mut DbConnection, insert: F) -> diesel::QueryResult<bool>
where
    F: FnOnce(&mut DbConnection) -> diesel::QueryResult<usize>,
{
    match conn.transaction(insert) {
        Ok(n) => Ok(n > 0),
        Err(e) if is_unique_violation(&e) => Ok(false),
        Err(e) => Err(e),
    }
}

/// Runs `f` in a savepoint (a nested transaction) of the caller's
/// transaction: on error only `f`'s writes are undone and the outer
/// transaction goes on.
pub fn savepoint<T, E, F>(conn: &mut DbConnection, f: F) -> Result<T, E>
where
    F: FnOnce(&mut DbConnection) -> Result<T, E>,
    E: From<diesel::result::Error>,
{
    conn.transaction(f)
}

/// Whether the database answers (`SELECT 1`), for readiness.
pub fn ping(conn: &mut DbConnection) -> diesel::QueryResult<()> {
    use diesel::RunQueryDsl as _;
    diesel::sql_query("SELECT 1").execute(conn).map(drop)
}

/// Refreshes the planner's statistics after a bulk load (PostgreSQL; SQLite
/// needs nothing).
pub fn analyze(conn: &mut DbConnection) -> diesel::QueryResult<()> {
    use diesel::RunQueryDsl as _;
    if let DbConnection::Postgres(c) = conn {
        diesel::sql_query("ANALYZE").execute(c)?;
    }
    Ok(())
}

/// Creates an empty PostgreSQL database `name` through the server at
/// `admin_url` (benchmarks' throwaway databases). `name` is not quoted: pass
/// only generated identifiers.
pub fn create_postgres_database(admin_url: &str, name: &str) -> anyhow::Result<()> {
    use diesel::RunQueryDsl as _;
    let mut admin = PgConnection::establish(admin_url).context("Failed to connect to the PostgreSQL server")?;
    diesel::sql_query(format!("CREATE DATABASE {name}")).execute(&mut admin)?;
    Ok(())
}

/// Drops a PostgreSQL database made by [`create_postgres_database`], best effort.
pub fn drop_postgres_database(admin_url: &str, name: &str) {
    use diesel::RunQueryDsl as _;
    if let Ok(mut admin) = PgConnection::establish(admin_url) {
        let _ = diesel::sql_query(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).execute(&mut admin);
    }
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;

    use diesel::RunQueryDsl as _;
    use diesel::result::{DatabaseErrorKind, Error};

    use super::*;
    use crate::app_error::Contention;

    fn db_error(kind: DatabaseErrorKind, message: &str) -> Error {
        Error::DatabaseError(kind, Box::new(message.to_owned()))
    }

    fn deadlock() -> Error {
        db_error(DatabaseErrorKind::Unknown, "deadlock detected")
    }

    #[test]
    fn only_a_deadlock_or_a_serialization_failure_is_worth_running_again() {
        let retried = |e: Error| ApiError::from(e).contention();
        assert_eq!(retried(deadlock()), Some(Contention::Deadlock));
        assert_eq!(
            retried(db_error(DatabaseErrorKind::SerializationFailure, "could not serialize access")),
            Some(Contention::SerializationFailure)
        );
        // SQLite's busy database already waited for its lock; a lost connection may have committed.
        assert_eq!(retried(db_error(DatabaseErrorKind::Unknown, "database is locked")), None);
        assert_eq!(retried(db_error(DatabaseErrorKind::ClosedConnection, "server closed the connection")), None);
        assert_eq!(retried(db_error(DatabaseErrorKind::UniqueViolation, "duplicate key")), None);
        assert_eq!(retried(db_error(DatabaseErrorKind::Unknown, "syntax error")), None);
        assert_eq!(retried(Error::NotFound), None);
        // A deadlock carried inside an unexpected error (a use case's own context) is still one.
        let wrapped = ApiError::Unexpected(anyhow::Error::new(deadlock()).context("planning the day"));
        assert_eq!(wrapped.contention(), Some(Contention::Deadlock));
        assert_eq!(ApiError::Unavailable("pool timed out".into()).contention(), None);
        // Both answer 503 `unavailable`, never 500.
        let e = ApiError::from(deadlock());
        assert_eq!(e.code(), "unavailable");
        assert!(matches!(
            ApiError::from(db_error(DatabaseErrorKind::Unknown, "database is locked")),
            ApiError::Unavailable(_)
        ));
    }

    fn memory() -> DbConnection {
        let mut conn = DbConnection::Sqlite(SqliteConnection::establish(":memory:").unwrap_or_else(|e| panic!("{e}")));
        conn.batch_execute("CREATE TABLE t (n INTEGER NOT NULL)").unwrap_or_else(|e| panic!("{e}"));
        conn
    }

    fn rows(conn: &mut DbConnection) -> i64 {
        #[derive(diesel::QueryableByName)]
        struct Count {
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            n: i64,
        }
        let c: Count =
            diesel::sql_query("SELECT count(*) AS n FROM t").get_result(conn).unwrap_or_else(|e| panic!("{e}"));
        c.n
    }

    fn insert_then(conn: &mut DbConnection, fail: Option<Error>) -> Result<(), ApiError> {
        diesel::sql_query("INSERT INTO t (n) VALUES (1)").execute(conn)?;
        match fail {
            Some(e) => Err(e.into()),
            None => Ok(()),
        }
    }

    #[test]
    fn a_transaction_rolled_back_for_a_deadlock_runs_again_from_the_start_and_commits_once() {
        let mut conn = memory();
        let calls = Cell::new(0);
        let done = write_tx(&mut conn, |c| {
            calls.set(calls.get() + 1);
            insert_then(c, (calls.get() < 3).then(deadlock))
        });
        assert!(done.is_ok(), "{done:?}");
        assert_eq!(calls.get(), 3);
        // The failed attempts' inserts were rolled back: the row is there once.
        assert_eq!(rows(&mut conn), 1);
    }

    #[test]
    fn a_transaction_that_keeps_deadlocking_gives_up_with_503_after_the_last_attempt() {
        let mut conn = memory();
        let calls = Cell::new(0);
        let done = write_tx(&mut conn, |c| {
            calls.set(calls.get() + 1);
            insert_then(c, Some(deadlock()))
        });
        assert!(matches!(done, Err(ApiError::Contended { reason: Contention::Deadlock, .. })), "{done:?}");
        assert_eq!(calls.get(), TRANSACTION_ATTEMPTS);
        assert_eq!(rows(&mut conn), 0);

        // A deadlock a use case wrapped in its own context is retried and ends as 503 too, not 500.
        let calls = Cell::new(0);
        let done: Result<(), ApiError> = write_tx(&mut conn, |_| {
            calls.set(calls.get() + 1);
            Err(ApiError::Unexpected(anyhow::Error::new(deadlock()).context("planning the day")))
        });
        assert!(matches!(done, Err(ApiError::Contended { reason: Contention::Deadlock, .. })), "{done:?}");
        assert_eq!(calls.get(), TRANSACTION_ATTEMPTS);
    }

    #[test]
    fn other_failures_run_once_and_a_transaction_inside_another_is_not_outermost() {
        let mut conn = memory();
        let calls = Cell::new(0);
        let done = write_tx(&mut conn, |c| {
            calls.set(calls.get() + 1);
            insert_then(c, Some(db_error(DatabaseErrorKind::UniqueViolation, "duplicate key")))
        });
        assert!(done.is_err());
        assert_eq!(calls.get(), 1);
        // Inside an open transaction (here a savepoint's) only part of the work would run again: not retried.
        assert!(outside_transactions(&mut conn));
        let nested: Result<bool, ApiError> = conn.transaction(|c| Ok(outside_transactions(c)));
        assert_eq!(nested.ok(), Some(false));
    }
}
