//! `sortie bench sync`: the mobile sync protocol under load, over real HTTP
//! against a real server, on SQLite and PostgreSQL.
//!
//! 1. Pull of a 20-job day (a full pull from `cursor: null`), p50/p99.
//! 2. Push of 100 mutations in one batch (notes and checklist answers over that day), p50/p99.
//! 3. Many phones (distinct devices and technicians, 3 jobs each) driven by a
//!    pool of concurrent clients: each sync pushes a few mutations (a position
//!    ping, a note, a checklist answer) and pulls until nothing is waiting.
//!    Reports syncs/s, latency and errors (a non-200 answer or a rejected
//!    mutation is an error; there must be none).
//!
//! Each backend runs on a throwaway database: a temporary SQLite file, or a
//! fresh PostgreSQL database created on the server named by `--postgres-url`
//! and dropped afterwards.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use chrono::Utc;

use serde_json::{Value, json};

use crate::auth::jwt::{AUDIENCE, Claims, ISSUER};
use crate::config::Config;
use crate::db::{DbConnection, write_tx};
use crate::domain::lifecycle::{self, Actor as By};
use crate::domain::{ChangeEntity, JobKind, JobStatus, Priority, Role};
use crate::startup::Application;
use crate::storage::change_log::{self, Change};
use crate::storage::{self, db_time, jobs, new_id, offers, orgs, technicians, users};

/// Flags of `sortie bench sync`.
#[derive(Debug, Clone, clap::Args)]
pub struct SyncBenchArgs {
    /// `sqlite`, `postgres` or `both`.
    #[arg(long, default_value = "both")]
    pub backend: String,
    /// A PostgreSQL server to create the throwaway database on.
    #[arg(long, default_value = "postgres://postgres@127.0.0.1:5432/postgres")]
    pub postgres_url: String,
    /// Simulated phones (each its own technician and device).
    #[arg(long, default_value_t = 1000)]
    pub phones: usize,
    /// Concurrent clients driving them.
    #[arg(long, default_value_t = 64)]
    pub clients: usize,
    /// Syncs per phone in the load phase.
    #[arg(long, default_value_t = 3)]
    pub rounds: usize,
    /// Samples of the 20-job pull and of the 100-mutation push.
    #[arg(long, default_value_t = 100)]
    pub samples: usize,
}

/// Runs the benchmark on the chosen backends and prints the figures.
pub async fn bench_sync(args: &SyncBenchArgs) -> anyhow::Result<()> {
    let backends: &[&str] = match args.backend.as_str() {
        "sqlite" => &["sqlite"],
        "postgres" => &["postgres"],
        "both" => &["sqlite", "postgres"],
        other => anyhow::bail!("--backend must be sqlite, postgres or both, not `{other}`"),
    };
    let mut failed = false;
    for backend in backends {
        let (url, cleanup) = super::throwaway::database("sync", backend, &args.postgres_url)?;
        let outcome = run_backend(backend, &url, args).await;
        cleanup();
        let report = outcome.with_context(|| format!("Failed to benchmark sync on {backend}"))?;
        println!("{report}");
        failed |= report.errors > 0;
    }
    anyhow::ensure!(!failed, "the load phase had errors");
    Ok(())
}

/// The figures of one backend.
#[derive(Debug)]
pub struct Report {
    backend: String,
    pull_day: Percentiles,
    push_100: Percentiles,
    phones: usize,
    clients: usize,
    syncs: usize,
    elapsed: Duration,
    sync_latency: Percentiles,
    errors: usize,
}

impl std::fmt::Display for Report {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let rate = self.syncs as f64 / self.elapsed.as_secs_f64().max(1e-9);
        writeln!(f, "== {} ==", self.backend)?;
        writeln!(f, "pull of a 20-job day     p50 {} p99 {}", self.pull_day.p50, self.pull_day.p99)?;
        writeln!(f, "push of 100 mutations    p50 {} p99 {}", self.push_100.p50, self.push_100.p99)?;
        writeln!(
            f,
            "{} phones, {} clients: {} syncs in {:.1} s = {rate:.0} syncs/s, sync p50 {} p99 {}, errors {}",
            self.phones,
            self.clients,
            self.syncs,
            self.elapsed.as_secs_f64(),
            self.sync_latency.p50,
            self.sync_latency.p99,
            self.errors
        )
    }
}

#[derive(Debug)]
struct Percentiles {
    p50: String,
    p99: String,
}

fn percentiles(h: &hdrhistogram::Histogram<u64>) -> Percentiles {
    let ms = |us: u64| format!("{:.1} ms", us as f64 / 1000.0);
    Percentiles { p50: ms(h.value_at_quantile(0.5)), p99: ms(h.value_at_quantile(0.99)) }
}

fn histogram() -> anyhow::Result<hdrhistogram::Histogram<u64>> {
    hdrhistogram::Histogram::new_with_bounds(1, 120_000_000, 3).context("Failed to make a histogram")
}

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX).max(1)
}

/// A seeded technician with a token.
struct Phone {
    token: String,
    jobs: Vec<String>,
}

/// Seeds `phones` technicians (the first with a 20-job day, the others with 3 jobs each) and signs their tokens.
fn seed(conn: &mut DbConnection, app_keys: &crate::auth::jwt::JwtKeys, phones: usize) -> anyhow::Result<Vec<Phone>> {
    let now = Utc::now();
    let now_db = db_time(now);
    let vendor = orgs::find_by_slug(conn, "vendor")?.context("the demo network has no vendor")?;
    let admin = users::find_by_email(conn, "admin@demo.sortie")?.context("the demo network has no admin")?;
    let template: technicians::Technician =
        storage::technicians::first(conn)?.context("the demo network has no technician")?;
    let customer_id = new_id();
    storage::customers::insert(
        conn,
        &storage::customers::NewCustomer {
            id: &customer_id,
            name: "Bench Customer",
            phone: Some("+79990001122"),
            email: None,
            preferred_address_form: None,
            contracted_org_id: None,
            created_at: now_db,
            updated_at: now_db,
        },
    )?;
    let mut out = Vec::with_capacity(phones);
    for chunk_start in (0..phones).step_by(100) {
        let chunk: Vec<Phone> = write_tx(conn, |conn| {
            let mut chunk = Vec::new();
            for i in chunk_start..(chunk_start + 100).min(phones) {
                let tech_id = new_id();
                let mut t = template.clone();
                t.id = tech_id.clone();
                t.org_id = vendor.id.clone();
                t.name = format!("Bench T{i}");
                t.daily_capacity = 30;
                technicians::insert_many(conn, std::slice::from_ref(&t))?;
                let user_id = new_id();
                let email = format!("bench-{i}@bench.sortie");
                users::insert(
                    conn,
                    &users::NewUser {
                        id: &user_id,
                        email: &email,
                        password_hash: "bench-no-login",
                        role: Role::Technician,
                        name: None,
                        org_id: None,
                        technician_id: Some(&tech_id),
                        customer_id: None,
                        active: true,
                        password_changed_at: now_db - chrono::Duration::minutes(1),
                        created_at: now_db,
                        updated_at: now_db,
                    },
                )?;
                let n_jobs = if i == 0 { 20 } else { 3 };
                let mut job_ids = Vec::with_capacity(n_jobs);
                for k in 0..n_jobs {
                    let id = new_id();
                    let start = now_db + chrono::Duration::minutes(30 * i64::try_from(k).unwrap_or(0));
                    jobs::insert(
                        conn,
                        &jobs::NewJob {
                            id: id.clone(),
                            kind: JobKind::HomeVisit,
                            status: JobStatus::New,
                            priority: Priority::Normal,
                            customer_id: customer_id.clone(),
                            created_by: admin.id.clone(),
                            contractor_org_id: vendor.id.clone(),
                            lat: t.home_lat,
                            lon: t.home_lon,
                            address: format!("Bench street {k}"),
                            problem: "The cash register does not print receipts".into(),
                            required_skills: "[]".into(),
                            parts: "[]".into(),
                            window_start: start,
                            window_end: start + chrono::Duration::hours(2),
                            contact_name: "Ivan Petrov".into(),
                            contact_phone: "+79161234567".into(),
                            contact_email: None,
                            tracking_token: new_id(),
                            created_at: now_db,
                            updated_at: now_db,
                        },
                    )?;
                    // Through the lifecycle's own moves: offered by dispatch, scheduled by a dispatcher.
                    let offered = lifecycle::check(JobStatus::New, JobStatus::Offered, By::Worker)?;
                    offers::assign(conn, &id, offered, None, now_db)?;
                    let scheduled = lifecycle::check(JobStatus::Offered, JobStatus::Scheduled, By::Dispatcher)?;
                    offers::assign(conn, &id, scheduled, Some(&tech_id), now_db)?;
                    change_log::log_change(conn, Change::upsert(ChangeEntity::Job, &id, Some(&tech_id)), now_db)?;
                    job_ids.push(id);
                }
                let claims = Claims {
                    sub: user_id,
                    role: Role::Technician,
                    iss: ISSUER.into(),
                    aud: AUDIENCE.into(),
                    iat: now.timestamp(),
                    exp: now.timestamp() + 6 * 3600,
                    pwv: None,
                };
                chunk.push(Phone { token: app_keys.encode(&claims)?, jobs: job_ids });
            }
            Ok(chunk)
        })?;
        out.extend(chunk);
    }
    Ok(out)
}

/// A phone over HTTP: its device, next seq and cursor.
struct Client {
    http: reqwest::Client,
    base: String,
    token: String,
    device_id: String,
    next_seq: u64,
    cursor: Option<String>,
}

impl Client {
    async fn register(http: &reqwest::Client, base: &str, token: &str) -> anyhow::Result<Client> {
        let r = http
            .post(format!("{base}/v1/devices"))
            .bearer_auth(token)
            .json(&json!({"platform": "android", "app_version": "bench"}))
            .send()
            .await?;
        anyhow::ensure!(r.status().as_u16() == 201, "device registration answered {}", r.status());
        let body: Value = r.json().await?;
        Ok(Client {
            http: http.clone(),
            base: base.to_owned(),
            token: token.to_owned(),
            device_id: body["device_id"].as_str().unwrap_or_default().to_owned(),
            next_seq: 1,
            cursor: None,
        })
    }

    async fn post(&self, path: &str, body: &Value) -> anyhow::Result<Value> {
        let r = self.http.post(format!("{}{path}", self.base)).bearer_auth(&self.token).json(body).send().await?;
        let status = r.status();
        let body: Value = r.json().await.unwrap_or(Value::Null);
        anyhow::ensure!(status.as_u16() == 200, "{path} answered {status}: {body}");
        Ok(body)
    }

    /// Pulls until nothing is waiting; returns the number of changes.
    async fn pull(&mut self, from_scratch: bool) -> anyhow::Result<usize> {
        let mut n = 0;
        let mut cursor = if from_scratch { None } else { self.cursor.clone() };
        loop {
            let body = self.post("/v1/sync/pull", &json!({"device_id": self.device_id, "cursor": cursor})).await?;
            anyhow::ensure!(body["reset_required"] != true, "unexpected reset");
            n += body["changes"].as_array().map_or(0, Vec::len);
            cursor = body["cursor"].as_str().map(str::to_owned);
            if body["has_more"] != true {
                break;
            }
        }
        self.cursor = cursor;
        Ok(n)
    }

    fn mutation(&mut self, name: &str, args: Value) -> Value {
        let m = json!({"seq": self.next_seq, "id": uuid::Uuid::new_v4(), "name": name, "args": args});
        self.next_seq += 1;
        m
    }

    /// Pushes a batch; returns how many mutations were not applied.
    async fn push(&mut self, mutations: Vec<Value>) -> anyhow::Result<usize> {
        let body = json!({"device_id": self.device_id, "mutations": mutations, "sent_at": Utc::now().to_rfc3339()});
        let answer = self.post("/v1/sync/push", &body).await?;
        Ok(answer["results"].as_array().map_or(usize::MAX, |r| r.iter().filter(|r| r["status"] != "applied").count()))
    }
}

fn note(job: &str, i: u64) -> Value {
    json!({"job_id": job, "note_id": uuid::Uuid::new_v4(), "text": format!("bench note {i}")})
}

async fn run_backend(backend: &str, url: &str, args: &SyncBenchArgs) -> anyhow::Result<Report> {
    let mut config = Config::for_database(url);
    config.demo = true;
    config.db_max_connections = if backend == "postgres" { 32 } else { 8 };
    config.workers = std::thread::available_parallelism().map_or(2, |n| n.get());
    let app = Application::build(config).await?;
    let base = format!("http://127.0.0.1:{}", app.port());
    let db = app.db().clone();
    let keys = app.state().keys.clone();
    let handle = app.handle();
    tokio::spawn(app.run_until_stopped());

    let phones = args.phones.max(1);
    eprintln!("{backend}: seeding {phones} technicians …");
    let seeded = tokio::task::spawn_blocking(move || -> anyhow::Result<Vec<Phone>> {
        let mut conn = db.get()?;
        seed(&mut conn, &keys, phones)
    })
    .await??;
    let http = reqwest::Client::builder().pool_max_idle_per_host(args.clients.max(1) * 2).build()?;

    // 1 and 2: the 20-job day.
    eprintln!("{backend}: pull of a 20-job day and push of 100 mutations …");
    let day = &seeded[0];
    let mut phone = Client::register(&http, &base, &day.token).await?;
    let mut pull_h = histogram()?;
    for _ in 0..args.samples.max(1) {
        let t = Instant::now();
        let n = phone.pull(true).await?;
        pull_h.record(micros(t.elapsed()))?;
        anyhow::ensure!(n == 22, "a 20-job day pulls 20 jobs, the technician and the route, not {n}");
    }
    let mut push_h = histogram()?;
    let mut errors = 0usize;
    for s in 0..args.samples.clamp(1, 50) {
        let batch: Vec<Value> = (0..100u64)
            .map(|i| {
                let job = &day.jobs[usize::try_from(i).unwrap_or(0) % day.jobs.len()];
                if i % 2 == 0 {
                    phone.mutation("job.add_note", note(job, i))
                } else {
                    let value = json!(format!("answer {s}"));
                    phone.mutation("job.set_checklist", json!({"job_id": job, "item": "device_works", "value": value}))
                }
            })
            .collect();
        let t = Instant::now();
        errors += phone.push(batch).await?;
        push_h.record(micros(t.elapsed()))?;
    }

    // 3: many phones, a pool of clients.
    eprintln!("{backend}: {phones} phones × {} syncs over {} clients …", args.rounds, args.clients);
    let mut clients = Vec::with_capacity(phones);
    for p in &seeded {
        let mut c = Client::register(&http, &base, &p.token).await?;
        c.pull(true).await?;
        clients.push((c, p.jobs.clone()));
    }
    let queue = Arc::new(tokio::sync::Mutex::new(clients.into_iter().collect::<std::collections::VecDeque<_>>()));
    let todo = Arc::new(AtomicUsize::new(phones * args.rounds.max(1)));
    let error_count = Arc::new(AtomicUsize::new(0));
    let done = Arc::new(AtomicU64::new(0));
    let latencies = Arc::new(std::sync::Mutex::new(histogram()?));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..args.clients.max(1) {
        let (queue, todo, error_count, done, latencies) =
            (queue.clone(), todo.clone(), error_count.clone(), done.clone(), latencies.clone());
        tasks.push(tokio::spawn(async move {
            loop {
                if todo.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1)).is_err() {
                    break;
                }
                let Some((mut c, jobs)) = queue.lock().await.pop_front() else { break };
                let t = Instant::now();
                let i = c.next_seq;
                let job = &jobs[usize::try_from(i).unwrap_or(0) % jobs.len()];
                let batch = vec![
                    c.mutation(
                        "position.ping",
                        json!({"lat": 55.75, "lon": 37.61, "accuracy_m": 10.0,
                        "at": Utc::now().to_rfc3339()}),
                    ),
                    c.mutation("job.add_note", note(job, i)),
                    c.mutation("job.set_checklist", json!({"job_id": job, "item": "power_checked", "value": true})),
                ];
                let outcome = async {
                    let rejected = c.push(batch).await?;
                    c.pull(false).await?;
                    anyhow::Ok(rejected)
                }
                .await;
                match outcome {
                    Ok(0) => {}
                    Ok(n) => {
                        error_count.fetch_add(n, Ordering::SeqCst);
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "A sync failed");
                        error_count.fetch_add(1, Ordering::SeqCst);
                    }
                }
                if let Ok(mut h) = latencies.lock() {
                    let _ = h.record(micros(t.elapsed()));
                }
                done.fetch_add(1, Ordering::SeqCst);
                queue.lock().await.push_back((c, jobs));
            }
        }));
    }
    for t in tasks {
        t.await?;
    }
    let elapsed = started.elapsed();
    drop(handle.stop(true));
    let sync_latency = latencies.lock().map(|h| percentiles(&h)).map_err(|_| anyhow::anyhow!("poisoned"))?;
    Ok(Report {
        backend: backend.to_owned(),
        pull_day: percentiles(&pull_h),
        push_100: percentiles(&push_h),
        phones,
        clients: args.clients,
        syncs: usize::try_from(done.load(Ordering::SeqCst)).unwrap_or(0),
        elapsed,
        sync_latency,
        errors: errors + error_count.load(Ordering::SeqCst),
    })
}
