//! Configuration, read once from the environment and passed down.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use secrecy::SecretString;

use crate::db::Backend;

/// Average driving speed between visits (straight-line distance), km/h:
/// the default of `SORTIE_TRAVEL_SPEED_KMH`.
pub const DEFAULT_SPEED_KMH: f64 = 30.0;

/// Everything the server needs to start.
#[derive(Debug, Clone)]
pub struct Config {
    /// `postgres://…` or `sqlite://path`.
    pub database_url: String,
    /// Address to listen on.
    pub bind: SocketAddr,
    /// HMAC secret for access tokens; `None` is allowed only in demo mode.
    pub jwt_secret: Option<SecretString>,
    /// Seed the demo network into an empty database.
    pub demo: bool,
    /// Lifetime of an access token.
    pub access_token_ttl: Duration,
    /// Lifetime of a refresh token.
    pub refresh_token_ttl: Duration,
    /// Largest pool size.
    pub db_max_connections: u32,
    /// SQLite `synchronous=FULL` (survives power loss) instead of NORMAL.
    pub sqlite_synchronous_full: bool,
    /// Largest JSON body, in bytes.
    pub json_limit_bytes: usize,
    /// HTTP worker threads.
    pub workers: usize,
    /// Log as JSON lines instead of human-readable text.
    pub log_json: bool,
    /// How long a tracking link keeps working after its job closes.
    pub tracking_ttl_after_close: Duration,
    /// How often the deadline worker looks for expired offers; `None` disables it.
    pub deadline_sweep: Option<Duration>,
    /// How often the dispatch cache reads changes made by other replicas; `None` disables it.
    pub cache_refresh: Option<Duration>,
    /// How often today's routes are re-planned (orders and ETAs); `None` disables it.
    pub replan: Option<Duration>,
    /// Average travel speed between visits (straight-line), km/h, for routes and ETAs.
    pub travel_speed_kmh: f64,
    /// How far (m) a better-rated technician may be behind the nearest and still win: the quality weight in dispatch.
    pub quality_band_m: f64,
    /// Pseudo-observations pulling a small record toward its organisation's and the network's mean.
    pub quality_prior: f64,
    /// How often a replica re-reads the technicians' quality estimates for dispatch.
    pub quality_refresh: Duration,
    /// Notifications: channels and the outbox worker.
    pub notify: NotifyConfig,
    /// Limits against abuse and overload (issue #11).
    pub limits: Limits,
    /// How long pruned data is kept (issue #11).
    pub retention: Retention,
    /// Map tile URL template for the web pages (`{z}/{x}/{y}`, Leaflet's syntax); `None`: a plain background.
    pub map_tiles: Option<String>,
    /// How long a web console sign-in lasts.
    pub web_session_ttl: Duration,
    /// Mark the web session cookie `Secure` even when the request did not arrive over TLS (behind a proxy
    /// that does not say so); requests that say `https` get it anyway.
    pub secure_cookies: bool,
}

/// Notification channels and the outbox worker (issue #16). A channel without
/// its settings is off: its rows are marked `skipped` with the reason.
#[derive(Debug, Clone)]
pub struct NotifyConfig {
    /// Path of the Google service-account key (JSON) for FCM HTTP v1; `None`: push is off.
    pub fcm_credentials: Option<PathBuf>,
    /// FCM's base URL (tests point it at a fake).
    pub fcm_base_url: String,
    /// `smtp://host:port` (or `smtps://`, `?tls=required` for STARTTLS), optional `user:password@`; `None`: e-mail is off.
    pub smtp_url: Option<SecretString>,
    /// The From address of e-mail.
    pub mail_from: Option<String>,
    /// The SMS gateway's URL (POST `{to, text}`); `None`: SMS is off.
    pub sms_url: Option<String>,
    /// The SMS gateway's bearer token.
    pub sms_token: Option<SecretString>,
    /// Public address customers' links start with (tracking, survey), no trailing slash.
    pub public_url: String,
    /// How often the outbox worker looks for due rows; `None` disables it.
    pub poll: Option<Duration>,
    /// Rows claimed per pass.
    pub batch: i64,
    /// Sends in flight at once within one worker.
    pub concurrency: usize,
    /// Attempts before a row is `failed`.
    pub max_attempts: i32,
    /// Delay before the first retry; doubled each attempt (with jitter), at most an hour.
    pub backoff: Duration,
    /// How long a claimed row is reserved for its worker: after a crash it is due again this much later.
    pub lease: Duration,
    /// How long `sent` and `skipped` rows are kept (hourly purge by each worker).
    pub keep: Duration,
}

impl NotifyConfig {
    /// Every channel off, the worker disabled (tests and tools turn on what they need).
    pub fn off(public_url: String) -> NotifyConfig {
        NotifyConfig {
            fcm_credentials: None,
            fcm_base_url: "https://fcm.googleapis.com".to_owned(),
            smtp_url: None,
            mail_from: None,
            sms_url: None,
            sms_token: None,
            public_url,
            poll: None,
            batch: 100,
            concurrency: 32,
            max_attempts: 12,
            backoff: Duration::from_secs(5),
            lease: Duration::from_secs(60),
            keep: Duration::from_secs(30 * 86_400),
        }
    }

    fn from_env(bind: SocketAddr) -> anyhow::Result<NotifyConfig> {
        let public_url = var("SORTIE_PUBLIC_URL").unwrap_or_else(|| format!("http://{bind}"));
        Ok(NotifyConfig {
            fcm_credentials: var("SORTIE_FCM_CREDENTIALS").map(PathBuf::from),
            fcm_base_url: var("SORTIE_FCM_BASE_URL")
                .unwrap_or_else(|| "https://fcm.googleapis.com".to_owned())
                .trim_end_matches('/')
                .to_owned(),
            smtp_url: var("SORTIE_SMTP_URL").map(SecretString::from),
            mail_from: var("SORTIE_MAIL_FROM"),
            sms_url: var("SORTIE_SMS_URL"),
            sms_token: var("SORTIE_SMS_TOKEN").map(SecretString::from),
            public_url: public_url.trim_end_matches('/').to_owned(),
            poll: Some(Duration::from_millis(var_parsed("SORTIE_OUTBOX_POLL_MS")?.unwrap_or(500)))
                .filter(|d| !d.is_zero()),
            batch: var_parsed::<i64>("SORTIE_OUTBOX_BATCH")?.unwrap_or(100).clamp(1, 10_000),
            concurrency: var_parsed::<usize>("SORTIE_OUTBOX_CONCURRENCY")?.unwrap_or(32).max(1),
            max_attempts: var_parsed::<i32>("SORTIE_OUTBOX_MAX_ATTEMPTS")?.unwrap_or(12).max(1),
            backoff: Duration::from_millis(var_parsed("SORTIE_OUTBOX_BACKOFF_MS")?.unwrap_or(5_000)),
            lease: Duration::from_secs(var_parsed("SORTIE_OUTBOX_LEASE_SECS")?.unwrap_or(60).max(1)),
            keep: Duration::from_secs(86_400 * var_parsed::<u64>("SORTIE_OUTBOX_KEEP_DAYS")?.unwrap_or(30).max(1)),
        })
    }
}

/// Limits against abuse and overload. A limit of 0 turns it off.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Password hashes computed at once (each takes ~19 MiB).
    pub hash_concurrency: usize,
    /// How long a login waits for a hashing slot before 429.
    pub hash_queue_wait: Duration,
    /// Failed logins per account within `login_window` before the account answers 429 (shared by replicas).
    pub login_failures_per_account: u32,
    /// Failed logins per client address within `login_window` (per replica).
    pub login_failures_per_address: u32,
    /// The window (and lock-out) of the login limits.
    pub login_window: Duration,
    /// Use the first `X-Forwarded-For` / `Forwarded` address as the client's (only behind a trusted proxy).
    pub trust_forwarded: bool,
    /// Bookings per user per minute (per replica).
    pub bookings_per_minute: u32,
    /// Sync calls (pull, push) per user per minute (per replica).
    pub sync_per_minute: u32,
    /// How long a request waits for a database connection before 503.
    pub db_connect_timeout: Duration,
    /// Bytes of photos attached to no job one technician may hold (0: no quota).
    pub unattached_photo_quota_bytes: u64,
}

/// How long data nobody needs any more is kept before the retention worker prunes it.
#[derive(Debug, Clone)]
pub struct Retention {
    /// How often the worker runs; `None` disables it.
    pub every: Option<Duration>,
    /// Idempotency keys (at least a day: clients retry within that).
    pub idempotency_keys: Duration,
    /// The phones' change log; a cursor older than what is kept answers `reset_required`.
    pub change_log: Duration,
    /// Processed sync mutations (a retry older than this is applied as new: phones retry within minutes).
    pub sync_mutations: Duration,
    /// Dispatch explanations.
    pub explanations: Duration,
    /// Expired or revoked refresh tokens, kept this long after they stopped working.
    pub refresh_tokens: Duration,
    /// Photos attached to no job.
    pub unattached_photos: Duration,
    /// Rows deleted per statement (small batches keep locks short).
    pub batch: i64,
}

impl Limits {
    /// Safe defaults: cores for hashing, 10 failures per account and 50 per address in 15 minutes,
    /// 120 bookings and 1,200 sync calls per user per minute, 2 s to get a database connection.
    pub fn default_for_machine() -> Limits {
        Limits {
            hash_concurrency: std::thread::available_parallelism().map_or(2, |n| n.get()),
            hash_queue_wait: Duration::from_millis(2_000),
            login_failures_per_account: 10,
            login_failures_per_address: 50,
            login_window: Duration::from_secs(15 * 60),
            trust_forwarded: false,
            bookings_per_minute: 120,
            sync_per_minute: 1_200,
            db_connect_timeout: Duration::from_secs(2),
            unattached_photo_quota_bytes: 200 << 20,
        }
    }

    fn from_env() -> anyhow::Result<Limits> {
        let d = Limits::default_for_machine();
        Ok(Limits {
            hash_concurrency: var_parsed::<usize>("SORTIE_HASH_CONCURRENCY")?
                .filter(|n| *n > 0)
                .unwrap_or(d.hash_concurrency),
            hash_queue_wait: var_parsed("SORTIE_HASH_QUEUE_MS")?.map_or(d.hash_queue_wait, Duration::from_millis),
            login_failures_per_account: var_parsed("SORTIE_LOGIN_FAILURES_PER_ACCOUNT")?
                .unwrap_or(d.login_failures_per_account),
            login_failures_per_address: var_parsed("SORTIE_LOGIN_FAILURES_PER_ADDRESS")?
                .unwrap_or(d.login_failures_per_address),
            login_window: var_parsed("SORTIE_LOGIN_WINDOW_SECS")?
                .filter(|n| *n > 0)
                .map_or(d.login_window, Duration::from_secs),
            trust_forwarded: var_bool("SORTIE_TRUST_FORWARDED")?.unwrap_or(d.trust_forwarded),
            bookings_per_minute: var_parsed("SORTIE_BOOKINGS_PER_MINUTE")?.unwrap_or(d.bookings_per_minute),
            sync_per_minute: var_parsed("SORTIE_SYNC_PER_MINUTE")?.unwrap_or(d.sync_per_minute),
            db_connect_timeout: var_parsed("SORTIE_DB_CONNECT_TIMEOUT_MS")?
                .filter(|n| *n > 0)
                .map_or(d.db_connect_timeout, Duration::from_millis),
            unattached_photo_quota_bytes: var_parsed::<u64>("SORTIE_UNATTACHED_PHOTO_QUOTA_MB")?
                .map_or(d.unattached_photo_quota_bytes, |mb| mb << 20),
        })
    }
}

impl Default for Retention {
    /// Keys 7 days, change log 30 days, processed mutations 30 days, explanations 180 days, dead refresh
    /// tokens 7 days, unattached photos 7 days; hourly, 500 rows a statement.
    fn default() -> Retention {
        const DAY: u64 = 86_400;
        Retention {
            every: Some(Duration::from_secs(3_600)),
            idempotency_keys: Duration::from_secs(7 * DAY),
            change_log: Duration::from_secs(30 * DAY),
            sync_mutations: Duration::from_secs(30 * DAY),
            explanations: Duration::from_secs(180 * DAY),
            refresh_tokens: Duration::from_secs(7 * DAY),
            unattached_photos: Duration::from_secs(7 * DAY),
            batch: 500,
        }
    }
}

impl Retention {
    fn from_env() -> anyhow::Result<Retention> {
        let d = Retention::default();
        let days = |name: &str, default: Duration, min: u64| -> anyhow::Result<Duration> {
            Ok(var_parsed::<u64>(name)?.map_or(default, |n| Duration::from_secs(86_400 * n.max(min))))
        };
        Ok(Retention {
            every: match var_parsed::<u64>("SORTIE_RETENTION_EVERY_SECS")? {
                Some(n) => secs(n),
                None => d.every,
            },
            idempotency_keys: days("SORTIE_KEEP_IDEMPOTENCY_DAYS", d.idempotency_keys, 1)?,
            change_log: days("SORTIE_KEEP_CHANGE_LOG_DAYS", d.change_log, 1)?,
            sync_mutations: days("SORTIE_KEEP_SYNC_MUTATIONS_DAYS", d.sync_mutations, 1)?,
            explanations: days("SORTIE_KEEP_EXPLANATIONS_DAYS", d.explanations, 1)?,
            refresh_tokens: days("SORTIE_KEEP_DEAD_REFRESH_TOKENS_DAYS", d.refresh_tokens, 0)?,
            unattached_photos: days("SORTIE_KEEP_UNATTACHED_PHOTOS_DAYS", d.unattached_photos, 1)?,
            batch: var_parsed::<i64>("SORTIE_RETENTION_BATCH")?.filter(|n| *n > 0).unwrap_or(d.batch),
        })
    }
}

impl Config {
    /// Reads configuration from the environment.
    ///
    /// - `DATABASE_URL`: `postgres://…` or `sqlite://path`. Defaults to `sqlite://sortie.db`.
    /// - `SORTIE_BIND`: address to listen on. Defaults to `127.0.0.1:8080`; port 0 picks a free port.
    /// - `SORTIE_JWT_SECRET`: token signing secret (at least 32 bytes). Required unless demo mode is on,
    ///   which generates one and stores it in the database.
    /// - `SORTIE_DEMO`: seed the demo network into an empty database (booleans accept `1/0`,
    ///   `true/false`, `yes/no`, `on/off`).
    ///   Defaults to on for SQLite, off for PostgreSQL.
    /// - `SORTIE_ACCESS_TOKEN_TTL_SECS`: access token lifetime. Defaults to 900 (15 minutes).
    /// - `SORTIE_REFRESH_TOKEN_TTL_DAYS`: refresh token lifetime. Defaults to 30.
    /// - `SORTIE_DB_MAX_CONNECTIONS`: pool size. Defaults to 10 (SQLite is capped at 8).
    /// - `SORTIE_SQLITE_SYNCHRONOUS`: `normal` (default; survives kill -9) or `full` (survives power loss).
    /// - `SORTIE_JSON_LIMIT_BYTES`: largest JSON body. Defaults to 1048576 (1 MiB); larger answers 413.
    /// - `SORTIE_WORKERS`: HTTP worker threads. Defaults to the number of CPUs.
    /// - `SORTIE_LOG_FORMAT`: `text` (default) or `json`.
    /// - `SORTIE_TRACKING_TTL_HOURS`: how long tracking links work after the job closes. Defaults to 72.
    /// - `SORTIE_DEADLINE_SWEEP_SECS`: how often expired offers move on (0 disables). Defaults to 15.
    /// - `SORTIE_CACHE_REFRESH_SECS`: how often the dispatch cache follows other replicas (0 disables). Defaults to 2.
    /// - `SORTIE_REPLAN_SECS`: how often today's routes are re-planned (0 disables). Defaults to 900.
    /// - `SORTIE_TRAVEL_SPEED_KMH`: average straight-line travel speed for routes and ETAs. Defaults to 30.
    /// - `SORTIE_QUALITY_BAND_M`: the quality weight in dispatch: how many metres farther than the nearest a
    ///   technician with a better scorecard (90-day first-time fix and NPS) may be and still get the offer.
    ///   Defaults to 500; 0 lets quality break exact ties only.
    /// - `SORTIE_QUALITY_PRIOR`: pseudo-observations shrinking a small record toward its organisation's and the
    ///   network's mean. Defaults to 10.
    /// - `SORTIE_QUALITY_REFRESH_SECS`: how often a replica re-reads the quality estimates. Defaults to 300.
    /// - Notifications (a channel without its settings is off; its rows are kept as `skipped`):
    ///   - `SORTIE_FCM_CREDENTIALS`: path of a Google service-account key (JSON) for FCM HTTP v1; its
    ///     `token_uri` is the OAuth token endpoint. A missing or malformed file stops the start.
    ///   - `SORTIE_FCM_BASE_URL`: FCM's address. Defaults to `https://fcm.googleapis.com`.
    ///   - `SORTIE_SMTP_URL`: `smtp://[user:password@]host:port` (add `?tls=required` for STARTTLS) or
    ///     `smtps://…`; `SORTIE_MAIL_FROM`: the sender address (both needed for e-mail).
    ///   - `SORTIE_SMS_URL`, `SORTIE_SMS_TOKEN`: the SMS gateway (POST `{to, text}` JSON, bearer token).
    ///   - `SORTIE_PUBLIC_URL`: where customers' links point. Defaults to `http://` + `SORTIE_BIND`.
    ///   - `SORTIE_OUTBOX_POLL_MS`: how often the worker looks for due rows (0 disables it). Defaults to 500.
    ///   - `SORTIE_OUTBOX_BATCH` (100), `SORTIE_OUTBOX_CONCURRENCY` (32 sends in flight),
    ///     `SORTIE_OUTBOX_MAX_ATTEMPTS` (12, then `failed`: with the default backoff over an hour of
    ///     retrying), `SORTIE_OUTBOX_BACKOFF_MS` (5000: first retry,
    ///     doubled each time with jitter, at most an hour), `SORTIE_OUTBOX_LEASE_SECS` (60: after a crash
    ///     between sending and marking, a row is sent again this much later, at most once more),
    ///     `SORTIE_OUTBOX_KEEP_DAYS` (30: `sent` and `skipped` rows older than this are deleted hourly;
    ///     `pending` and `failed` ones stay).
    /// - Limits (0 turns a limit off; README "Limits"):
    ///   `SORTIE_HASH_CONCURRENCY` password hashes at once (default: the number of CPUs; each takes ~19 MiB);
    ///   `SORTIE_HASH_QUEUE_MS` how long a login waits for one before 429 (default 2000);
    ///   `SORTIE_LOGIN_FAILURES_PER_ACCOUNT` failed logins per account per window before 429, shared by
    ///   replicas through the database (default 10); `SORTIE_LOGIN_FAILURES_PER_ADDRESS` per client address,
    ///   per replica (default 50); `SORTIE_LOGIN_WINDOW_SECS` (default 900);
    ///   `SORTIE_TRUST_FORWARDED` take the client address from `X-Forwarded-For` / `Forwarded` (only behind
    ///   a proxy that sets them; default off); `SORTIE_BOOKINGS_PER_MINUTE` per user, per replica (default 120);
    ///   `SORTIE_SYNC_PER_MINUTE` pulls and pushes per user, per replica (default 1200);
    ///   `SORTIE_DB_CONNECT_TIMEOUT_MS` how long a request waits for a database connection before 503
    ///   with `Retry-After` (default 2000); `SORTIE_UNATTACHED_PHOTO_QUOTA_MB` photo bytes attached to no job one
    ///   technician may hold (default 200; 409 `photo_quota_exceeded` past it).
    /// - Retention (the worker prunes in small batches; README "Data retention"): `SORTIE_RETENTION_EVERY_SECS`
    ///   (default 3600; 0 disables), `SORTIE_KEEP_IDEMPOTENCY_DAYS` (7, at least 1),
    ///   `SORTIE_KEEP_CHANGE_LOG_DAYS` (30), `SORTIE_KEEP_SYNC_MUTATIONS_DAYS` (30),
    ///   `SORTIE_KEEP_EXPLANATIONS_DAYS` (180), `SORTIE_KEEP_DEAD_REFRESH_TOKENS_DAYS` (7),
    ///   `SORTIE_KEEP_UNATTACHED_PHOTOS_DAYS` (7), `SORTIE_RETENTION_BATCH` rows per statement (500).
    /// - `SORTIE_MAP_TILES`: map tile URL template for the web pages, e.g.
    ///   `https://tile.openstreetmap.org/{z}/{x}/{y}.png`. Unset: maps show points on a plain background (offline).
    /// - `SORTIE_WEB_SESSION_HOURS`: how long a web console sign-in lasts. Defaults to 12.
    /// - `SORTIE_SECURE_COOKIES`: always mark the session cookie `Secure` (boolean). Defaults to off; a request
    ///   that arrived over TLS (or through a proxy saying `X-Forwarded-Proto: https`) gets it anyway.
    /// - `RUST_LOG`: log filter. Defaults to `info`.
    pub fn from_env() -> anyhow::Result<Config> {
        let database_url = var("DATABASE_URL").unwrap_or_else(|| "sqlite://sortie.db".to_owned());
        let demo_default = Backend::from_url(&database_url) == Backend::Sqlite;
        let log_format = var("SORTIE_LOG_FORMAT").unwrap_or_else(|| "text".into());
        anyhow::ensure!(
            log_format == "text" || log_format == "json",
            "Failed to parse SORTIE_LOG_FORMAT: expected `text` or `json`, got `{log_format}`"
        );
        let synchronous = var("SORTIE_SQLITE_SYNCHRONOUS").unwrap_or_else(|| "normal".into());
        anyhow::ensure!(
            synchronous == "normal" || synchronous == "full",
            "Failed to parse SORTIE_SQLITE_SYNCHRONOUS: expected `normal` or `full`, got `{synchronous}`"
        );
        let bind = var_parsed("SORTIE_BIND")?.unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 8080)));
        Ok(Config {
            database_url,
            bind,
            jwt_secret: var("SORTIE_JWT_SECRET").map(SecretString::from),
            demo: var_bool("SORTIE_DEMO")?.unwrap_or(demo_default),
            access_token_ttl: Duration::from_secs(var_parsed("SORTIE_ACCESS_TOKEN_TTL_SECS")?.unwrap_or(900)),
            refresh_token_ttl: Duration::from_secs(
                86_400 * var_parsed::<u64>("SORTIE_REFRESH_TOKEN_TTL_DAYS")?.unwrap_or(30),
            ),
            db_max_connections: var_parsed("SORTIE_DB_MAX_CONNECTIONS")?.unwrap_or(10),
            sqlite_synchronous_full: synchronous == "full",
            json_limit_bytes: var_parsed("SORTIE_JSON_LIMIT_BYTES")?.unwrap_or(1 << 20),
            workers: var_parsed("SORTIE_WORKERS")?
                .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get())),
            log_json: log_format == "json",
            tracking_ttl_after_close: Duration::from_secs(
                3600 * var_parsed::<u64>("SORTIE_TRACKING_TTL_HOURS")?.unwrap_or(72),
            ),
            deadline_sweep: secs(var_parsed("SORTIE_DEADLINE_SWEEP_SECS")?.unwrap_or(15)),
            cache_refresh: secs(var_parsed("SORTIE_CACHE_REFRESH_SECS")?.unwrap_or(2)),
            replan: secs(var_parsed("SORTIE_REPLAN_SECS")?.unwrap_or(900)),
            travel_speed_kmh: var_parsed::<f64>("SORTIE_TRAVEL_SPEED_KMH")?
                .filter(|s| s.is_finite() && *s > 0.0)
                .unwrap_or(DEFAULT_SPEED_KMH),
            quality_band_m: var_parsed::<f64>("SORTIE_QUALITY_BAND_M")?
                .filter(|m| m.is_finite() && *m >= 0.0)
                .unwrap_or(500.0),
            quality_prior: var_parsed::<f64>("SORTIE_QUALITY_PRIOR")?
                .filter(|k| k.is_finite() && *k >= 0.0)
                .unwrap_or(10.0),
            quality_refresh: Duration::from_secs(var_parsed("SORTIE_QUALITY_REFRESH_SECS")?.unwrap_or(300)),
            notify: NotifyConfig::from_env(bind)?,
            limits: Limits::from_env()?,
            retention: Retention::from_env()?,
            map_tiles: var("SORTIE_MAP_TILES"),
            web_session_ttl: Duration::from_secs(3600 * var_parsed::<u64>("SORTIE_WEB_SESSION_HOURS")?.unwrap_or(12)),
            secure_cookies: var_bool("SORTIE_SECURE_COOKIES")?.unwrap_or(false),
        })
    }

    /// A configuration for tests and tools: the given database, a free port,
    /// no demo data, a fixed secret.
    pub fn for_database(database_url: &str) -> Config {
        Config {
            database_url: database_url.to_owned(),
            bind: SocketAddr::from(([127, 0, 0, 1], 0)),
            jwt_secret: Some(SecretString::from("test-secret-test-secret-test-secret!")),
            demo: false,
            access_token_ttl: Duration::from_secs(900),
            refresh_token_ttl: Duration::from_secs(30 * 86_400),
            db_max_connections: 8,
            sqlite_synchronous_full: false,
            json_limit_bytes: 1 << 20,
            workers: 2,
            log_json: false,
            tracking_ttl_after_close: Duration::from_secs(72 * 3600),
            deadline_sweep: None,
            cache_refresh: None,
            replan: None,
            travel_speed_kmh: DEFAULT_SPEED_KMH,
            quality_band_m: 500.0,
            quality_prior: 10.0,
            quality_refresh: Duration::from_secs(300),
            notify: NotifyConfig::off("http://127.0.0.1:8080".to_owned()),
            limits: Limits::default_for_machine(),
            retention: Retention::default(),
            map_tiles: None,
            web_session_ttl: Duration::from_secs(12 * 3600),
            secure_cookies: false,
        }
    }

    /// Which database backend the URL names.
    pub fn backend(&self) -> Backend {
        Backend::from_url(&self.database_url)
    }
}

fn secs(n: u64) -> Option<Duration> {
    (n > 0).then(|| Duration::from_secs(n))
}

fn var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

fn var_parsed<T>(name: &str) -> anyhow::Result<Option<T>>
where
    T: std::str::FromStr,
    T::Err: std::error::Error + Send + Sync + 'static,
{
    var(name).map(|v| v.trim().parse::<T>().with_context(|| format!("Failed to parse {name}"))).transpose()
}

/// A boolean setting: `1/0`, `true/false`, `yes/no`, `on/off` (any case).
fn var_bool(name: &str) -> anyhow::Result<Option<bool>> {
    var(name)
        .map(|v| {
            parse_bool(&v).with_context(|| {
                format!("Failed to parse {name}: expected 1/0, true/false, yes/no or on/off, got `{}`", v.trim())
            })
        })
        .transpose()
}

/// Parses the boolean spellings every setting accepts; `None` for anything else.
pub fn parse_bool(value: &str) -> Option<bool> {
    match value.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Some(true),
        "0" | "false" | "no" | "off" => Some(false),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::parse_bool;

    #[test]
    fn boolean_settings_accept_the_usual_spellings_and_refuse_anything_else() {
        for yes in ["1", "true", "TRUE", "yes", "On", " on "] {
            assert_eq!(parse_bool(yes), Some(true), "{yes}");
        }
        for no in ["0", "false", "No", "off"] {
            assert_eq!(parse_bool(no), Some(false), "{no}");
        }
        for bad in ["2", "y", "enabled", ""] {
            assert_eq!(parse_bool(bad), None, "{bad}");
        }
    }
}
