//! Spawns the real app on a random port against a fresh database: a copy of
//! a per-process template (migrated, demo network seeded) so each test
//! starts in milliseconds. SQLite: a file in a temporary directory.
//! PostgreSQL: `CREATE DATABASE … TEMPLATE …` on the local server
//! (`TEST_DATABASE_URL`, default `postgres://postgres@127.0.0.1:5432/postgres`).
//! The templates are removed when the test process exits; databases left by a
//! killed process are dropped by the next test run (see [`run_key`]).

pub mod process;

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context as _;
use api::clock::OffsetClock;
use api::config::Config;
use api::startup::Application;
use diesel::{Connection as _, PgConnection, RunQueryDsl as _};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tokio::sync::OnceCell;

/// Which database a test runs against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Runs one async scenario against both backends, as two tests named
/// `<scenario>::sqlite` and `<scenario>::postgres`.
#[macro_export]
macro_rules! both_backends {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() -> anyhow::Result<()> {
                super::$name($crate::helpers::Backend::Sqlite).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() -> anyhow::Result<()> {
                if !$crate::helpers::postgres_available().await? {
                    return Ok(());
                }
                super::$name($crate::helpers::Backend::Postgres).await
            }
        }
    )*};
}

/// The demo password.
pub const PASSWORD: &str = "demo";
/// The HMAC secret the test apps sign with.
pub const SECRET: &str = "test-secret-test-secret-test-secret!";

fn admin_url() -> String {
    std::env::var("TEST_DATABASE_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

fn url_for(db_name: &str) -> String {
    let base = admin_url();
    let cut = base.rfind('/').map_or(base.len(), |i| i);
    format!("{}/{db_name}", &base[..cut])
}

/// Whether PostgreSQL tests can run. Under `CI=true` an unreachable server is
/// an error (so CI cannot pass with the PostgreSQL half skipped); otherwise
/// the test is skipped with a loud message.
pub async fn postgres_available() -> anyhow::Result<bool> {
    static AVAILABLE: OnceCell<bool> = OnceCell::const_new();
    let ok = *AVAILABLE
        .get_or_init(|| async {
            tokio::task::spawn_blocking(|| PgConnection::establish(&admin_url()).is_ok()).await.unwrap_or(false)
        })
        .await;
    if ok {
        return Ok(true);
    }
    if std::env::var("CI").is_ok_and(|v| v == "true" || v == "1") {
        anyhow::bail!("PostgreSQL at {} is unreachable and CI=true: PostgreSQL tests must run", admin_url());
    }
    eprintln!("!!! SKIPPING a PostgreSQL test: {} is unreachable (set CI=true to make this fail)", admin_url());
    Ok(false)
}

fn demo_config(url: &str) -> Config {
    let mut config = Config::for_database(url);
    config.demo = true;
    config.workers = 1;
    config.db_max_connections = 6;
    config
}

/// Migrates and seeds a database, then closes every connection to it.
fn prepare_template(url: &str) -> anyhow::Result<()> {
    let config = demo_config(url);
    let db = api::startup::open_database(&config)?;
    api::startup::seed_demo(&config, &db, chrono::Utc::now())?;
    let mut conn = db.get()?;
    if let api::db::DbConnection::Sqlite(c) = &mut **conn {
        use diesel::connection::SimpleConnection as _;
        c.batch_execute("PRAGMA wal_checkpoint(TRUNCATE);")?;
    }
    Ok(())
}

/// This test process's key: it names the process's databases and template
/// directory, and the process holds it as a PostgreSQL advisory lock for its
/// whole life. Another process tells whether the owner still runs by trying
/// that lock (a PID would wrap, and repeats across containers sharing one
/// server). Random, so two processes never share a name.
fn run_key() -> i64 {
    static KEY: std::sync::OnceLock<i64> = std::sync::OnceLock::new();
    *KEY.get_or_init(|| (uuid::Uuid::new_v4().as_u64_pair().0 >> 1) as i64)
}

/// Name prefix of every database of the process with `key`.
fn db_prefix(key: i64) -> String {
    format!("sortie_t_{key:016x}_")
}

/// The session holding [`run_key`]'s advisory lock; also drops the template at exit.
static LOCK_HOLDER: std::sync::Mutex<Option<PgConnection>> = std::sync::Mutex::new(None);
static SQLITE_TEMPLATE: OnceCell<PathBuf> = OnceCell::const_new();
static POSTGRES_TEMPLATE: OnceCell<String> = OnceCell::const_new();

/// Removes the process's templates when it exits (the test harness runs no
/// destructors of statics); per-test databases are removed by [`TestDb`]'s drop.
extern "C" fn remove_templates_at_exit() {
    if let Some(path) = SQLITE_TEMPLATE.get().and_then(|p| p.parent()) {
        let _ = std::fs::remove_dir_all(path);
    }
    if let (Some(name), Ok(mut holder)) = (POSTGRES_TEMPLATE.get(), LOCK_HOLDER.lock())
        && let Some(conn) = holder.as_mut()
    {
        let _ = diesel::sql_query(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).execute(conn);
    }
}

fn remove_templates_at_exit_once() {
    static REGISTERED: std::sync::Once = std::sync::Once::new();
    // SAFETY: registers a plain `extern "C" fn` with no arguments, as atexit(3) expects.
    REGISTERED.call_once(|| unsafe {
        libc::atexit(remove_templates_at_exit);
    });
}

/// The process's SQLite template file.
async fn sqlite_template() -> anyhow::Result<PathBuf> {
    SQLITE_TEMPLATE
        .get_or_try_init(|| async {
            let dir = std::env::temp_dir().join(format!("sortie-e2e-{:016x}", run_key()));
            std::fs::create_dir_all(&dir)?;
            remove_templates_at_exit_once();
            let path = dir.join("template.sqlite3");
            let url = format!("sqlite://{}", path.display());
            tokio::task::spawn_blocking(move || prepare_template(&url)).await??;
            Ok::<_, anyhow::Error>(path)
        })
        .await
        .cloned()
}

/// The process's PostgreSQL template database (databases of test processes that are gone are dropped first).
async fn postgres_template() -> anyhow::Result<String> {
    POSTGRES_TEMPLATE
        .get_or_try_init(|| async {
            let name = format!("{}template", db_prefix(run_key()));
            let url = url_for(&name);
            let n = name.clone();
            tokio::task::spawn_blocking(move || -> anyhow::Result<()> {
                let mut holder = PgConnection::establish(&admin_url())?;
                diesel::sql_query(format!("SELECT pg_advisory_lock({})", run_key())).execute(&mut holder)?;
                drop_stale_databases(&mut holder)?;
                diesel::sql_query(format!("CREATE DATABASE {n}")).execute(&mut holder)?;
                *LOCK_HOLDER.lock().map_err(|_| anyhow::anyhow!("lock holder poisoned"))? = Some(holder);
                remove_templates_at_exit_once();
                prepare_template(&url)
            })
            .await??;
            Ok::<_, anyhow::Error>(name)
        })
        .await
        .cloned()
}

#[derive(diesel::QueryableByName)]
struct DbName {
    #[diesel(sql_type = diesel::sql_types::Text)]
    datname: String,
}

#[derive(diesel::QueryableByName)]
struct Free {
    #[diesel(sql_type = diesel::sql_types::Bool)]
    free: bool,
}

/// Drops the databases of test processes that are gone: `sortie_t_<key>_*`
/// whose key's advisory lock nobody holds (and, from before keys, `sortie_e2e_<pid>_*`
/// whose PID does not run).
fn drop_stale_databases(admin: &mut PgConnection) -> anyhow::Result<()> {
    let names: Vec<DbName> =
        diesel::sql_query("SELECT datname FROM pg_database WHERE datname LIKE 'sortie%'").load(admin)?;
    let mut keys: Vec<i64> = Vec::new();
    for DbName { datname } in &names {
        if let Some(rest) = datname.strip_prefix("sortie_t_") {
            let key = rest.split('_').next().and_then(|k| i64::from_str_radix(k, 16).ok());
            if let Some(key) = key.filter(|k| *k != run_key() && !keys.contains(k)) {
                keys.push(key);
            }
        } else if datname.starts_with("sortie_e2e_") {
            let pid = datname.split('_').nth(2).and_then(|p| p.parse::<u32>().ok());
            if !pid.is_some_and(|p| std::path::Path::new(&format!("/proc/{p}")).exists()) {
                diesel::sql_query(format!("DROP DATABASE IF EXISTS {datname} WITH (FORCE)")).execute(admin)?;
            }
        }
    }
    for key in keys {
        let [Free { free }]: [Free; 1] = diesel::sql_query(format!("SELECT pg_try_advisory_lock({key}) AS free"))
            .load(admin)?
            .try_into()
            .map_err(|_| anyhow::anyhow!("pg_try_advisory_lock answered no row"))?;
        if !free {
            continue; // its process still runs
        }
        let prefix = db_prefix(key);
        for DbName { datname } in names.iter().filter(|n| n.datname.starts_with(&prefix)) {
            diesel::sql_query(format!("DROP DATABASE IF EXISTS {datname} WITH (FORCE)")).execute(admin)?;
        }
        diesel::sql_query(format!("SELECT pg_advisory_unlock({key})")).execute(admin)?;
    }
    Ok(())
}

/// A fresh database for one test; removed on drop.
pub enum TestDb {
    Sqlite {
        _dir: tempfile::TempDir,
        url: String,
    },
    Postgres {
        name: String,
        url: String,
    },
    /// Another test's database (a second replica); not removed on drop.
    Shared {
        url: String,
    },
}

impl TestDb {
    /// A copy of the seeded template.
    pub async fn fresh(backend: Backend) -> anyhow::Result<TestDb> {
        match backend {
            Backend::Sqlite => {
                let template = sqlite_template().await?;
                let dir = tempfile::tempdir()?;
                let path = dir.path().join("sortie.sqlite3");
                std::fs::copy(&template, &path).context("copy the SQLite template")?;
                Ok(TestDb::Sqlite { url: format!("sqlite://{}", path.display()), _dir: dir })
            }
            Backend::Postgres => {
                let template = postgres_template().await?;
                let name = format!("{}{}", db_prefix(run_key()), uuid::Uuid::new_v4().simple());
                let n = name.clone();
                tokio::task::spawn_blocking(move || -> anyhow::Result<()> {
                    let mut admin = PgConnection::establish(&admin_url())?;
                    diesel::sql_query(format!("CREATE DATABASE {n} TEMPLATE {template}")).execute(&mut admin)?;
                    Ok(())
                })
                .await??;
                Ok(TestDb::Postgres { url: url_for(&name), name })
            }
        }
    }

    /// An empty database: no tables, no data (for `sortie init`, a first start, an outage).
    pub async fn empty(backend: Backend) -> anyhow::Result<TestDb> {
        match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir()?;
                let path = dir.path().join("empty.sqlite3");
                Ok(TestDb::Sqlite { url: format!("sqlite://{}", path.display()), _dir: dir })
            }
            Backend::Postgres => {
                // The template call holds the process's key, so a stale-database sweep spares this one.
                postgres_template().await?;
                let name = format!("{}{}", db_prefix(run_key()), uuid::Uuid::new_v4().simple());
                let n = name.clone();
                tokio::task::spawn_blocking(move || -> anyhow::Result<()> {
                    let mut admin = PgConnection::establish(&admin_url())?;
                    diesel::sql_query(format!("CREATE DATABASE {n}")).execute(&mut admin)?;
                    Ok(())
                })
                .await??;
                Ok(TestDb::Postgres { url: url_for(&name), name })
            }
        }
    }

    /// The name of a PostgreSQL test database (`None` on SQLite).
    pub fn pg_name(&self) -> Option<&str> {
        match self {
            TestDb::Postgres { name, .. } => Some(name),
            _ => None,
        }
    }

    /// The `DATABASE_URL` of this database.
    pub fn url(&self) -> &str {
        match self {
            TestDb::Sqlite { url, .. } | TestDb::Postgres { url, .. } | TestDb::Shared { url } => url,
        }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let TestDb::Postgres { name, .. } = self {
            let name = name.clone();
            // Drop is synchronous; a short-lived thread keeps it off the runtime.
            let _ = std::thread::spawn(move || {
                if let Ok(mut admin) = PgConnection::establish(&admin_url()) {
                    let _ =
                        diesel::sql_query(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).execute(&mut admin);
                }
            })
            .join();
        }
    }
}

/// A response: status, JSON body (or `Null`) and headers.
#[derive(Debug)]
pub struct Resp {
    pub status: StatusCode,
    pub body: Value,
    pub headers: reqwest::header::HeaderMap,
}

impl Resp {
    /// The error object's `code`.
    pub fn code(&self) -> &str {
        self.body["error"]["code"].as_str().unwrap_or("")
    }
    /// The error object's `field`.
    pub fn field(&self) -> &str {
        self.body["error"]["field"].as_str().unwrap_or("")
    }
    /// A string field of the body.
    pub fn str(&self, key: &str) -> String {
        self.body[key].as_str().unwrap_or_default().to_owned()
    }
}

/// The app under test.
pub struct TestApp {
    pub base: String,
    pub client: reqwest::Client,
    pub db: api::db::Db,
    pub clock: Arc<OffsetClock>,
    state: api::state::AppState,
    handle: actix_web::dev::ServerHandle,
    // Declared last: dropped after the server is told to stop.
    test_db: TestDb,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        // Sends the stop command now; the workers wind down on their own.
        drop(self.handle.stop(false));
    }
}

impl TestApp {
    /// The app on a fresh copy of the demo database.
    pub async fn spawn(backend: Backend) -> anyhow::Result<TestApp> {
        let test_db = TestDb::fresh(backend).await?;
        TestApp::spawn_on(test_db, |_| {}).await
    }

    /// The app on a given database, with a chance to adjust the configuration.
    pub async fn spawn_on(test_db: TestDb, tweak: impl FnOnce(&mut Config)) -> anyhow::Result<TestApp> {
        let mut config = demo_config(test_db.url());
        tweak(&mut config);
        let clock = Arc::new(OffsetClock::default());
        let app = Application::build_with_clock(config, clock.clone()).await?;
        let base = format!("http://127.0.0.1:{}", app.port());
        let db = app.db().clone();
        let handle = app.handle();
        let state = app.state().clone();
        tokio::spawn(app.run_until_stopped());
        Ok(TestApp { base, client: reqwest::Client::new(), db, clock, state, handle, test_db })
    }

    /// Sends a request with an optional bearer token and JSON body.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
    ) -> anyhow::Result<Resp> {
        let mut req = self.client.request(method, format!("{}{path}", self.base));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(b);
        }
        Resp::read(req.send().await?).await
    }

    /// GET with a token.
    pub async fn get(&self, path: &str, token: &str) -> anyhow::Result<Resp> {
        self.call(Method::GET, path, Some(token), None).await
    }

    /// POST JSON with a token.
    pub async fn post(&self, path: &str, token: &str, body: &Value) -> anyhow::Result<Resp> {
        self.call(Method::POST, path, Some(token), Some(body)).await
    }

    /// Signs in with the demo password; returns the access token.
    pub async fn login(&self, email: &str) -> anyhow::Result<String> {
        self.login_pair(email).await.map(|(access, _)| access)
    }

    /// Signs in with a given password; returns the access token.
    pub async fn login_with(&self, email: &str, password: &str) -> anyhow::Result<String> {
        let r = self
            .call(Method::POST, "/v1/auth/login", None, Some(&json!({"email": email, "password": password})))
            .await?;
        anyhow::ensure!(r.status == StatusCode::OK, "login of {email} failed: {} {}", r.status, r.body);
        Ok(r.str("access_token"))
    }

    /// Creates a login through `POST /v1/users` as `admin` (the body's `email`
    /// and `password` are used to sign in) and returns its access token.
    pub async fn new_login(&self, admin: &str, user: &Value) -> anyhow::Result<String> {
        let created = self.post("/v1/users", admin, user).await?;
        anyhow::ensure!(created.status == StatusCode::CREATED, "{}", created.body);
        let field = |k: &str| user[k].as_str().unwrap_or_default().to_owned();
        self.login_with(&field("email"), &field("password")).await
    }

    /// Signs in; returns the access and refresh tokens.
    pub async fn login_pair(&self, email: &str) -> anyhow::Result<(String, String)> {
        let r = self
            .call(Method::POST, "/v1/auth/login", None, Some(&json!({"email": email, "password": PASSWORD})))
            .await?;
        anyhow::ensure!(r.status == StatusCode::OK, "login of {email} failed: {} {}", r.status, r.body);
        Ok((r.str("access_token"), r.str("refresh_token")))
    }

    /// Books a request with an optional idempotency key.
    pub async fn book(&self, token: &str, body: &Value, key: Option<&str>) -> anyhow::Result<Resp> {
        let mut req = self.client.post(format!("{}/v1/requests", self.base)).bearer_auth(token).json(body);
        if let Some(k) = key {
            req = req.header("Idempotency-Key", k);
        }
        Resp::read(req.send().await?).await
    }

    /// An organisation of the demo network by slug.
    pub async fn org(&self, slug: &str) -> anyhow::Result<api::storage::orgs::Org> {
        let slug = slug.to_owned();
        let db = self.db.clone();
        tokio::task::spawn_blocking(move || -> anyhow::Result<_> {
            let mut conn = db.get()?;
            api::storage::orgs::find_by_slug(&mut conn, &slug)?.with_context(|| format!("no organisation {slug}"))
        })
        .await?
    }

    /// Runs a query directly against the test database (fixtures and after-the-fact checks).
    pub async fn with_db<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut api::db::DbConnection) -> anyhow::Result<T> + Send + 'static,
    ) -> anyhow::Result<T> {
        let db = self.db.clone();
        tokio::task::spawn_blocking(move || {
            let mut conn = db.get()?;
            f(&mut conn)
        })
        .await?
    }

    /// A second replica: another app on the same database.
    pub async fn replica(&self) -> anyhow::Result<TestApp> {
        TestApp::spawn_on(TestDb::Shared { url: self.test_db.url().to_owned() }, |_| {}).await
    }

    /// The `DATABASE_URL` of this app's database.
    pub fn db_url(&self) -> &str {
        self.test_db.url()
    }

    /// A second replica on the same database with its own configuration tweak.
    pub async fn replica_with(&self, tweak: impl FnOnce(&mut Config)) -> anyhow::Result<TestApp> {
        TestApp::spawn_on(TestDb::Shared { url: self.test_db.url().to_owned() }, tweak).await
    }

    /// Runs one pass of the outbox worker at the app's clock; returns how many rows it claimed.
    pub async fn outbox_pass(&self) -> anyhow::Result<usize> {
        Ok(api::outbox::pass(&self.state).await?)
    }

    /// The app's shared state (to run a worker's pass by hand).
    pub fn state(&self) -> &api::state::AppState {
        &self.state
    }

    /// Loads the app's dispatch cache again (after fixtures written straight to the database).
    pub async fn reload_dispatch_cache(&self) -> anyhow::Result<()> {
        let shared = self.state.dispatch.clone();
        self.with_db(move |conn| Ok(api::dispatch_cache::warm(&shared, conn)?)).await
    }

    /// How many times this app loaded its whole dispatch cache.
    pub fn dispatch_full_loads(&self) -> u64 {
        self.state.dispatch.full_loads()
    }

    /// Runs one pass of the deadline worker at the app's (possibly advanced) clock.
    pub async fn sweep(&self) -> anyhow::Result<usize> {
        Ok(api::workers::sweep_once(&self.state).await?)
    }

    /// How many jobs the database holds.
    pub async fn job_count(&self) -> anyhow::Result<i64> {
        self.with_db(|conn| {
            use diesel::QueryDsl as _;
            Ok(api::db::schema::jobs::table.count().get_result::<i64>(conn)?)
        })
        .await
    }
}

impl Resp {
    async fn read(res: reqwest::Response) -> anyhow::Result<Resp> {
        let status = res.status();
        let headers = res.headers().clone();
        let bytes = res.bytes().await?;
        let body = if bytes.is_empty() { Value::Null } else { serde_json::from_slice(&bytes).unwrap_or(Value::Null) };
        Ok(Resp { status, body, headers })
    }
}

/// A valid booking for tomorrow 10:00–12:00 Moscow time in central Moscow.
/// "Tomorrow" is fixed once per test process, so retries compare equal even across midnight.
pub fn booking() -> Value {
    static DAY: std::sync::OnceLock<chrono::NaiveDate> = std::sync::OnceLock::new();
    let day = *DAY.get_or_init(|| (chrono::Utc::now() + chrono::Duration::days(1)).date_naive());
    json!({
        "kind": "home_visit",
        "location": {"lat": 55.7558, "lon": 37.6173},
        "address": "Tverskaya 1, Moscow",
        "problem": "The cash register does not print receipts",
        "required_skills": ["cash_register"],
        "window": {"start": format!("{day}T10:00:00+03:00"), "end": format!("{day}T12:00:00+03:00")},
        "priority": "normal",
        "contact": {"name": "Ivan Petrov", "phone": "+7 916 123-45-67"}
    })
}

/// A booking window from `from_h` to `to_h` hours after `now` (pass the app's clock): a phone may
/// set off to it at once (`en_route` is refused `not_today` for a window days or a local day away).
pub fn soon(now: chrono::DateTime<chrono::Utc>, from_h: i64, to_h: i64) -> Value {
    let at = |h| (now + chrono::Duration::hours(h)).to_rfc3339();
    json!({"start": at(from_h), "end": at(to_h)})
}

/// A minimal technician's phone on the sync protocol: a device, the next seq, and the last pull's cursor.
pub struct Phone<'a> {
    app: &'a TestApp,
    token: String,
    pub device_id: String,
    seq: u64,
    cursor: Option<String>,
}

impl<'a> Phone<'a> {
    /// Registers a device (`POST /v1/devices`) for the technician signed in with `token`.
    pub async fn register(app: &'a TestApp, token: &str) -> anyhow::Result<Phone<'a>> {
        let r = app
            .post("/v1/devices", token, &json!({"platform": "android", "push_token": "fcm", "app_version": "1.0.0"}))
            .await?;
        anyhow::ensure!(r.status == StatusCode::CREATED, "{}", r.body);
        Ok(Phone { app, token: token.to_owned(), device_id: r.str("device_id"), seq: 0, cursor: None })
    }

    /// The cursor of the last pull.
    pub fn cursor(&self) -> Option<String> {
        self.cursor.clone()
    }

    /// Pushes mutations `(name, args)` in one batch; every one must be applied.
    pub async fn push(&mut self, mutations: &[(&str, Value)]) -> anyhow::Result<()> {
        let batch: Vec<Value> = mutations
            .iter()
            .map(|(name, args)| {
                self.seq += 1;
                json!({"seq": self.seq, "id": uuid::Uuid::new_v4(), "name": name, "args": args})
            })
            .collect();
        let r = self
            .app
            .post("/v1/sync/push", &self.token, &json!({"device_id": self.device_id, "mutations": batch}))
            .await?;
        anyhow::ensure!(r.status == StatusCode::OK, "push: {}", r.body);
        for res in r.body["results"].as_array().into_iter().flatten() {
            anyhow::ensure!(res["status"] == "applied", "not applied: {res}");
        }
        Ok(())
    }

    /// Pulls everything since the last cursor; returns the job upserts and deletes by id (latest wins).
    pub async fn pull(&mut self) -> anyhow::Result<std::collections::HashMap<String, Value>> {
        let mut jobs = std::collections::HashMap::new();
        for _ in 0..100 {
            let r = self
                .app
                .post(
                    "/v1/sync/pull",
                    &self.token,
                    &json!({"device_id": self.device_id, "cursor": self.cursor, "limit": 100}),
                )
                .await?;
            anyhow::ensure!(r.status == StatusCode::OK, "pull: {}", r.body);
            for c in r.body["changes"].as_array().into_iter().flatten().filter(|c| c["entity"] == "job") {
                let v = if c["op"] == "delete" { json!("deleted") } else { c["data"].clone() };
                jobs.insert(c["id"].as_str().unwrap_or_default().to_owned(), v);
            }
            self.cursor = r.body["cursor"].as_str().map(str::to_owned);
            if r.body["has_more"] != true {
                return Ok(jobs);
            }
        }
        anyhow::bail!("pull never finished")
    }

    /// Pulls until the job shows up (on PostgreSQL a pull waits for transactions still running anywhere on
    /// the server, so a change may take a round or two); returns its latest view, or `"deleted"`.
    pub async fn pull_job(&mut self, job: &str) -> anyhow::Result<Value> {
        for _ in 0..100 {
            if let Some(v) = self.pull().await?.remove(job) {
                return Ok(v);
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        anyhow::bail!("the phone never saw job {job} change")
    }
}

/// The phone's `job.set_status` mutation.
pub fn set_status(job: &str, s: &str) -> (&'static str, Value) {
    ("job.set_status", json!({"job_id": job, "status": s}))
}

/// A review verdict: `POST /v1/jobs/{job}/review`.
pub async fn review(app: &TestApp, token: &str, job: &str, body: Value) -> anyhow::Result<Resp> {
    app.post(&format!("/v1/jobs/{job}/review"), token, &body).await
}

/// A job's events with each hop's SLA outcomes (`GET /v1/jobs/{job}/events`).
pub async fn events(app: &TestApp, token: &str, job: &str) -> anyhow::Result<Value> {
    let r = app.get(&format!("/v1/jobs/{job}/events?limit=200"), token).await?;
    anyhow::ensure!(r.status == StatusCode::OK, "{}", r.body);
    Ok(r.body)
}

/// The hop of organisation `org` in [`events`]' answer, or `Null`.
pub fn hop<'v>(events: &'v Value, org: &str) -> &'v Value {
    events["hops"].as_array().and_then(|h| h.iter().find(|h| h["org_id"] == org)).unwrap_or(&Value::Null)
}
