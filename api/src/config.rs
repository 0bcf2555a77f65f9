//! Configuration, read once from the environment and passed down.

use std::net::SocketAddr;
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
    /// Map tile URL template for the web pages (`{z}/{x}/{y}`, Leaflet's syntax); `None`: a plain background.
    pub map_tiles: Option<String>,
    /// How long a web console sign-in lasts.
    pub web_session_ttl: Duration,
    /// Mark the web session cookie `Secure` even when the request did not arrive over TLS (behind a proxy
    /// that does not say so); requests that say `https` get it anyway.
    pub secure_cookies: bool,
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
        Ok(Config {
            database_url,
            bind: var_parsed("SORTIE_BIND")?.unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 8080))),
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
