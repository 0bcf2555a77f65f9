//! `sortie bench outbox`: notifications through the real outbox worker and
//! FCM HTTP v1 client against a local fake FCM (and its OAuth token endpoint)
//! that answers each send after a fixed latency (20 ms by default).
//!
//! 1. Throughput: `--rows` due pushes written at once, then worker passes
//!    (the same `outbox::pass` every replica runs) until none is due; rows/s.
//! 2. Lag at a steady rate: the worker running as in production while rows
//!    are written at `--rate` per second for `--secs`; the outbox lag (age of
//!    the oldest due row) sampled every 50 ms, p50/p99/max.
//!
//! The key file is a throwaway RSA key made for this benchmark (and the tests); it signs
//! nothing but the fake's token requests.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use actix_web::{App, HttpResponse, HttpServer, web};
use anyhow::Context as _;
use chrono::Utc;
use serde_json::json;

use crate::config::Config;
use crate::db::{DbConnection, write_tx};
use crate::domain::notification::Message;
use crate::domain::{Channel, Role};
use crate::startup::Application;
use crate::storage::{db_time, new_id, sync as sync_store, users};

const BENCH_KEY: &str = include_str!("bench-fcm-key.pem");
const DEVICES: usize = 200;

/// Flags of `sortie bench outbox`.
#[derive(Debug, Clone, clap::Args)]
pub struct OutboxBenchArgs {
    /// `sqlite`, `postgres` or `both`.
    #[arg(long, default_value = "both")]
    pub backend: String,
    /// A PostgreSQL server to create the throwaway database on.
    #[arg(long, default_value = "postgres://postgres@127.0.0.1:5432/postgres")]
    pub postgres_url: String,
    /// Rows of the throughput phase.
    #[arg(long, default_value_t = 5000)]
    pub rows: usize,
    /// The fake FCM's answer latency, ms.
    #[arg(long, default_value_t = 20)]
    pub latency_ms: u64,
    /// Rows per second written in the lag phase.
    #[arg(long, default_value_t = 100)]
    pub rate: u64,
    /// Length of the lag phase, seconds.
    #[arg(long, default_value_t = 30)]
    pub secs: u64,
    /// Sends in flight per worker (`SORTIE_OUTBOX_CONCURRENCY`).
    #[arg(long, default_value_t = 32)]
    pub concurrency: usize,
}

/// Runs the benchmark on the chosen backends and prints the figures.
pub async fn bench_outbox(args: &OutboxBenchArgs) -> anyhow::Result<()> {
    let backends: &[&str] = match args.backend.as_str() {
        "sqlite" => &["sqlite"],
        "postgres" => &["postgres"],
        "both" => &["sqlite", "postgres"],
        other => anyhow::bail!("--backend must be sqlite, postgres or both, not `{other}`"),
    };
    let fake = FakeFcm::start(Duration::from_millis(args.latency_ms))?;
    let key_dir = std::env::temp_dir().join(format!("sortie-bench-outbox-{}", std::process::id()));
    std::fs::create_dir_all(&key_dir)?;
    let key_path = key_dir.join("service-account.json");
    let key = json!({"type": "service_account", "project_id": "sortie-bench", "private_key_id": "bench",
        "private_key": BENCH_KEY, "client_email": "bench@sortie-bench.iam.gserviceaccount.com",
        "token_uri": format!("{}/token", fake.base)});
    std::fs::write(&key_path, serde_json::to_vec(&key)?)?;
    for backend in backends {
        let (url, cleanup) = super::throwaway::database("outbox", backend, &args.postgres_url)?;
        let outcome = run_backend(backend, &url, &key_path, &fake.base, args).await;
        cleanup();
        println!("{}", outcome.with_context(|| format!("Failed to benchmark the outbox on {backend}"))?);
    }
    let _ = std::fs::remove_dir_all(&key_dir);
    println!("fake FCM received {} sends", fake.sends.load(Ordering::Relaxed));
    Ok(())
}

async fn run_backend(
    backend: &str,
    url: &str,
    key: &std::path::Path,
    fcm_base: &str,
    args: &OutboxBenchArgs,
) -> anyhow::Result<String> {
    let mut config = Config::for_database(url);
    config.demo = true;
    config.db_max_connections = if backend == "postgres" { 32 } else { 8 };
    config.notify.fcm_credentials = Some(key.to_owned());
    config.notify.fcm_base_url = fcm_base.to_owned();
    config.notify.concurrency = args.concurrency.max(1);
    let app = Application::build(config).await?;
    let state = app.state().clone();
    let handle = app.handle();
    tokio::spawn(app.run_until_stopped());
    let db = state.db.clone();
    let devices = tokio::task::spawn_blocking(move || -> anyhow::Result<Vec<String>> {
        let mut conn = db.get()?;
        seed_devices(&mut conn)
    })
    .await??;

    // 1. Throughput.
    let n = args.rows.max(1);
    enqueue(&state, &devices, n).await?;
    let started = Instant::now();
    let mut passes = 0;
    while crate::outbox::pass(&state).await? > 0 {
        passes += 1;
    }
    let elapsed = started.elapsed();
    let rate = n as f64 / elapsed.as_secs_f64().max(1e-9);

    // 2. Lag at a steady rate, the worker running as in production.
    let worker = crate::outbox::spawn(state.clone(), state.config.notify.poll.unwrap_or(Duration::from_millis(500)));
    let mut lag = hdrhistogram::Histogram::<u64>::new(3)?;
    let per_tick = args.rate.max(1).div_ceil(20);
    let tick = Duration::from_millis(1000 * per_tick / args.rate.max(1));
    let until = Instant::now() + Duration::from_secs(args.secs.max(1));
    let mut next_write = Instant::now();
    let mut next_sample = Instant::now();
    let mut written = 0u64;
    while Instant::now() < until {
        let now = Instant::now();
        if now >= next_write {
            enqueue(&state, &devices, usize::try_from(per_tick).unwrap_or(1)).await?;
            written += per_tick;
            next_write += tick;
        }
        if now >= next_sample {
            let at = state.now();
            let oldest = state.db.run(move |c| Ok(crate::storage::outbox::oldest_due(c, db_time(at))?)).await?;
            let ms = oldest.map_or(0, |t| (at - t.and_utc()).num_milliseconds().max(0));
            lag.record(u64::try_from(ms).unwrap_or(0))?;
            next_sample += Duration::from_millis(50);
        }
        tokio::time::sleep(next_write.min(next_sample).saturating_duration_since(Instant::now())).await;
    }
    worker.abort();
    handle.stop(true).await;
    Ok(format!(
        "== {backend} ==\nthroughput: {n} pushes in {:.2} s = {rate:.0}/s ({passes} passes, {} in flight, FCM latency {} ms)\n\
         steady {}/s for {} s ({written} rows): outbox lag p50 {} ms, p99 {} ms, max {} ms",
        elapsed.as_secs_f64(),
        args.concurrency,
        args.latency_ms,
        args.rate,
        args.secs,
        lag.value_at_quantile(0.5),
        lag.value_at_quantile(0.99),
        lag.max(),
    ))
}

/// Devices with push tokens, all the demo admin's (the sender does not care whose).
fn seed_devices(conn: &mut DbConnection) -> anyhow::Result<Vec<String>> {
    let admin = users::find_by_email(conn, "admin@demo.sortie")?.context("the demo admin")?;
    anyhow::ensure!(admin.role == Role::Admin, "the demo admin is not an admin");
    let now = db_time(Utc::now());
    let ids: Vec<String> = (0..DEVICES).map(|_| new_id()).collect();
    write_tx(conn, |c| {
        for (i, id) in ids.iter().enumerate() {
            let device = sync_store::Device {
                id: id.clone(),
                user_id: admin.id.clone(),
                technician_id: None,
                platform: "android".into(),
                push_token: Some(format!("bench-token-{i}")),
                app_version: "bench".into(),
                last_seq: 0,
                clock_offset_ms: None,
                created_at: now,
                last_seen_at: now,
            };
            sync_store::insert_device(c, &device)?;
        }
        Ok(())
    })?;
    Ok(ids)
}

/// Writes `n` due visible pushes, round-robin over the devices, in one transaction.
async fn enqueue(state: &crate::state::AppState, devices: &[String], n: usize) -> anyhow::Result<()> {
    let devices = devices.to_vec();
    let now = state.now();
    state
        .db
        .write(move |c| {
            for i in 0..n {
                let message = Message::JobCancelled { job_id: format!("bench-{i}") };
                crate::app::notify::enqueue(c, Channel::Push, &devices[i % devices.len()], None, &message, now, now)?;
            }
            Ok(())
        })
        .await?;
    Ok(())
}

/// A fake FCM: the token endpoint and `messages:send`, answering after `latency`.
struct FakeFcm {
    base: String,
    sends: Arc<AtomicU64>,
}

impl FakeFcm {
    fn start(latency: Duration) -> anyhow::Result<FakeFcm> {
        let sends = Arc::new(AtomicU64::new(0));
        let counter = sends.clone();
        let server = HttpServer::new(move || {
            let counter = counter.clone();
            App::new()
                .route(
                    "/token",
                    web::post().to(|| async {
                        HttpResponse::Ok()
                            .json(json!({"access_token": "bench", "expires_in": 3600, "token_type": "Bearer"}))
                    }),
                )
                .route(
                    "/v1/projects/{project}/messages:send",
                    web::post().to(move || {
                        let counter = counter.clone();
                        async move {
                            tokio::time::sleep(latency).await;
                            counter.fetch_add(1, Ordering::Relaxed);
                            HttpResponse::Ok().json(json!({"name": "projects/sortie-bench/messages/1"}))
                        }
                    }),
                )
        })
        .workers(2)
        .bind(("127.0.0.1", 0))
        .context("Failed to bind the fake FCM")?;
        let port = server.addrs()[0].port();
        tokio::spawn(server.run());
        Ok(FakeFcm { base: format!("http://127.0.0.1:{port}"), sends })
    }
}
