//! Builds the application: database, secrets, demo seed, HTTP server.

use std::net::TcpListener;
use std::sync::{Arc, OnceLock};
use std::time::Instant;

use actix_web::dev::{Server, ServerHandle, Service as _};
use actix_web::{App, HttpMessage as _, HttpResponse, HttpServer, web};
use anyhow::Context as _;
use secrecy::{ExposeSecret as _, SecretString};
use tracing_actix_web::{RequestId, TracingLogger};
use utoipa::OpenApi as _;
use utoipa_swagger_ui::SwaggerUi;

use crate::auth::jwt::{self, JwtKeys};
use crate::auth::password;
use crate::clock::{Clock, SystemClock};
use crate::config::Config;
use crate::db::{Db, DbOptions, write_tx};
use crate::demo::{self, DemoSummary};
use crate::error::ApiError;
use crate::extract::JsonLimit;
use crate::openapi::ApiDoc;
use crate::routes;
use crate::state::AppState;
use crate::storage::{self, settings, users};

/// A built, bound, not yet awaited server.
pub struct Application {
    port: u16,
    server: Server,
    db: Db,
    /// What the demo seed created, when it ran on this start.
    pub demo: Option<DemoSummary>,
    /// Whether the database was seeded as the demo network (now or earlier): the demo logins exist.
    pub demo_database: bool,
    workers: crate::workers::Workers,
    state: AppState,
}

/// The process-wide Prometheus recorder (installed once; tests build many apps).
fn metrics_handle() -> metrics_exporter_prometheus::PrometheusHandle {
    static HANDLE: OnceLock<metrics_exporter_prometheus::PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
            let handle = recorder.handle();
            // Another recorder may already be installed by an embedding program; then ours stays empty.
            drop(metrics::set_global_recorder(recorder));
            handle
        })
        .clone()
}

/// Opens the database and runs migrations (blocking; call from a blocking context).
pub fn open_database(config: &Config) -> anyhow::Result<Db> {
    Db::connect(&DbOptions {
        url: config.database_url.clone(),
        max_connections: config.db_max_connections,
        sqlite_synchronous_full: config.sqlite_synchronous_full,
        connect_timeout: config.limits.db_connect_timeout,
    })
}

/// The signing secret: configured, else (a database seeded as the demo only)
/// generated once and stored in it. A database created by `sortie init`, or
/// any database not seeded as the demo, refuses to start without
/// `SORTIE_JWT_SECRET`, whatever `SORTIE_DEMO` says.
fn jwt_secret(config: &Config, db: &Db) -> anyhow::Result<SecretString> {
    if let Some(secret) = &config.jwt_secret {
        anyhow::ensure!(secret.expose_secret().len() >= 32, "SORTIE_JWT_SECRET must be at least 32 bytes");
        return Ok(secret.clone());
    }
    let mut conn = db.get()?;
    let origin = settings::get(&mut conn, settings::ORIGIN).context("Failed to read the database's origin")?;
    match origin.as_deref() {
        Some(settings::ORIGIN_DEMO) => {}
        Some(settings::ORIGIN_INIT) => anyhow::bail!(
            "SORTIE_JWT_SECRET is not set: this database was created by `sortie init`, so the token signing secret \
             must come from the environment (at least 32 random bytes, e.g. `openssl rand -base64 48`); refusing to start"
        ),
        _ => anyhow::bail!(
            "SORTIE_JWT_SECRET is not set and this database is not a demo database (demo mode seeds only an empty \
             database: SORTIE_DEMO=true); set SORTIE_JWT_SECRET (at least 32 random bytes); refusing to start"
        ),
    }
    let stored = settings::get_or_insert(&mut conn, "jwt_secret", &jwt::new_secret())
        .context("Failed to store the demo JWT secret")?;
    Ok(SecretString::from(stored))
}

/// Whether the database was seeded as the demo network (demo logins exist).
pub fn is_demo_database(db: &Db) -> anyhow::Result<bool> {
    let mut conn = db.get()?;
    let origin = settings::get(&mut conn, settings::ORIGIN).context("Failed to read the database's origin")?;
    Ok(origin.as_deref() == Some(settings::ORIGIN_DEMO))
}

/// Seeds the demo network when demo mode is on and the database has no users.
pub fn seed_demo(config: &Config, db: &Db, now: chrono::DateTime<chrono::Utc>) -> anyhow::Result<Option<DemoSummary>> {
    if !config.demo {
        return Ok(None);
    }
    let mut conn = db.get()?;
    if users::any(&mut conn).context("Failed to look for existing users")? {
        return Ok(None);
    }
    let started = Instant::now();
    // One hash for every demo login: demo mode only, so start-up stays quick.
    let hash = password::hash(demo::DEMO_PASSWORD)?;
    let summary = write_tx(&mut conn, |conn| {
        // Another replica may have seeded between our check and our lock.
        if users::any(conn)? {
            return Ok(None);
        }
        let summary = demo::seed(conn, &hash, storage::db_time(now)).map_err(ApiError::Unexpected)?;
        settings::get_or_insert(conn, settings::ORIGIN, settings::ORIGIN_DEMO)?;
        Ok(Some(summary))
    })
    .map_err(|e| anyhow::anyhow!("Failed to seed the demo network: {e}"))?;
    if let Some(s) = &summary {
        tracing::info!(
            organisations = s.organisations,
            technicians = s.technicians,
            "Seeded the demo network in {} ms",
            started.elapsed().as_millis()
        );
    }
    Ok(summary)
}

impl Application {
    /// Builds the application with the wall clock.
    pub async fn build(config: Config) -> anyhow::Result<Application> {
        Application::build_with_clock(config, Arc::new(SystemClock)).await
    }

    /// Builds the application with an injected clock (tests move time with it).
    pub async fn build_with_clock(config: Config, clock: Arc<dyn Clock>) -> anyhow::Result<Application> {
        let now = clock.now();
        // A bad key file or channel URL stops the start with the variable's name.
        let channels = Arc::new(crate::outbox::Channels::from_config(&config.notify)?);
        let cfg = config.clone();
        let (db, secret, demo, demo_database) = tokio::task::spawn_blocking(move || -> anyhow::Result<_> {
            let db = open_database(&cfg)?;
            let demo = seed_demo(&cfg, &db, now)?;
            let secret = jwt_secret(&cfg, &db)?;
            let demo_database = is_demo_database(&db)?;
            Ok((db, secret, demo, demo_database))
        })
        .await
        .context("Start-up task failed")??;

        let state = AppState {
            db: db.clone(),
            config: Arc::new(config.clone()),
            keys: JwtKeys::new(&secret),
            clock,
            metrics: metrics_handle(),
            dispatch: crate::dispatch_cache::SharedCache::new(config.travel_speed_kmh).with_quality(
                config.quality_band_m,
                config.quality_prior,
                config.quality_refresh,
            ),
            channels,
            hasher: crate::auth::hashing::Hasher::new(config.limits.hash_concurrency, config.limits.hash_queue_wait),
            limiters: Arc::new(crate::limits::Limiters::new(&config.limits)),
        };
        // The dispatch cache is loaded before serving, not by the first booking inside its transaction.
        let (warm_db, warm_cache) = (db.clone(), state.dispatch.clone());
        let warmed = tokio::task::spawn_blocking(move || -> anyhow::Result<()> {
            let mut conn = warm_db.get()?;
            Ok(crate::dispatch_cache::warm(&warm_cache, &mut conn)?)
        })
        .await;
        if let Err(e) = warmed.map_err(anyhow::Error::from).and_then(|r| r) {
            tracing::warn!(error = %e, "Could not load the dispatch cache at start-up; the first decision will");
        }
        let workers = crate::workers::spawn(&state);
        let listener = TcpListener::bind(config.bind).with_context(|| format!("Failed to bind {}", config.bind))?;
        let port = listener.local_addr()?.port();
        let json_limit = JsonLimit(config.json_limit_bytes);
        let openapi = ApiDoc::openapi();
        let state_for_tests = state.clone();
        let server = HttpServer::new(move || {
            App::new()
                .app_data(web::Data::new(state.clone()))
                .app_data(web::Data::new(json_limit))
                .configure(routes::configure)
                .configure(crate::pages::configure)
                .service(SwaggerUi::new("/docs/{_:.*}").url("/openapi.json", openapi.clone()))
                .service(web::redirect("/docs", "/docs/"))
                .default_service(web::to(not_found))
                .wrap_fn(|req, srv| {
                    let started = Instant::now();
                    let method = req.method().to_string();
                    let call = srv.call(req);
                    async move {
                        let mut res = call.await?;
                        let path = res.request().match_pattern().unwrap_or_else(|| "unmatched".into());
                        let status = res.status().as_u16().to_string();
                        metrics::counter!("sortie_http_requests_total", "method" => method.clone(), "path" => path.clone(), "status" => status).increment(1);
                        metrics::histogram!("sortie_http_request_duration_seconds", "method" => method, "path" => path)
                            .record(started.elapsed().as_secs_f64());
                        let request_id = res.request().extensions().get::<RequestId>().map(|id| id.to_string());
                        if let Some(id) = request_id.and_then(|id| actix_web::http::header::HeaderValue::from_str(&id).ok()) {
                            res.headers_mut().insert(actix_web::http::header::HeaderName::from_static("x-request-id"), id);
                        }
                        Ok(res)
                    }
                })
                .wrap(TracingLogger::<crate::telemetry::RequestSpan>::new())
        })
        .listen(listener)?
        .workers(config.workers)
        .shutdown_timeout(10)
        .run();
        Ok(Application { port, server, db, demo, demo_database, workers, state: state_for_tests })
    }

    /// The bound port (useful with port 0).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The database pool.
    pub fn db(&self) -> &Db {
        &self.db
    }

    /// A handle to stop the server gracefully.
    pub fn handle(&self) -> ServerHandle {
        self.server.handle()
    }

    /// The shared state (tests drive workers through it).
    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves until stopped (SIGINT/SIGTERM stop gracefully: in-flight requests
    /// finish), then stops the background workers.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let result = self.server.await;
        self.workers.stop().await;
        result
    }
}

async fn not_found(req: actix_web::HttpRequest) -> HttpResponse {
    let error = ApiError::NoSuchRoute { method: req.method().to_string(), path: req.path().to_owned() };
    actix_web::ResponseError::error_response(&error)
}
