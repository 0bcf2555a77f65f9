//! `sortie bench dispatch`: booking and dispatch through the product, over
//! real HTTP against a real server, on SQLite or PostgreSQL.
//!
//! 1. Seed: the demo network (a 4-level chain over real Russian cities),
//!    scaled to `--technicians` by copying its technicians (organisation,
//!    skills, shift, zone, capacity) to new ones within ~20 km of the copied one.
//! 2. Book `--bookings` requests with `--clients` concurrent clients (the demo
//!    customer; a random demo technician's city and one of its skills, a
//!    two-hour window between 08:00 and 19:00 in the place's time zone, as a
//!    customer books, the day after tomorrow, so that whatever the time of day
//!    the bench runs no booking is due within 24 h, which would add the same-day
//!    travel re-ranking): bookings/s, booking latency p50/p99, the
//!    share that ended `offered`, the decision time p50/p99 from the flow's histogram
//!    (`sortie_dispatch_decision_seconds` on `/metrics`: the walk over the
//!    cache's snapshot, in memory; and its thread CPU time,
//!    `sortie_dispatch_decision_cpu_seconds`, which unlike the wall time does
//!    not grow while the thread waits for a core), the time to get an up-to-date snapshot
//!    (`sortie_dispatch_snapshot_seconds`: the change-log probe, a refresh when
//!    due), CPU per booking of the server process (with SQLite, which runs in
//!    it; the clients run in a child process, `sortie bench dispatch-load`, so
//!    their CPU is not the server's and is reported apart), on PostgreSQL the
//!    database's CPU per booking (its backends for the bench database, from
//!    `/proc`), commits per booking (PostgreSQL's `xact_commit`), resident memory.
//! 3. Read: `GET /v1/jobs?status=offered&limit=100` as the vendor's admin, p50/p99.
//!
//! With `--json` the last line is one JSON object with the figures.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use chrono::Utc;
use rand::rngs::StdRng;
use rand::{Rng as _, SeedableRng as _};
use serde_json::{Value, json};

use crate::config::Config;
use crate::db::{DbConnection, write_tx};
use crate::startup::Application;
use crate::storage::{self, db_time, technicians};

/// Flags of `sortie bench dispatch`.
#[derive(Debug, Clone, clap::Args)]
pub struct DispatchBenchArgs {
    /// Technicians in the network (the demo's 300 included).
    #[arg(long, default_value_t = 1000)]
    pub technicians: usize,
    /// Requests booked.
    #[arg(long, default_value_t = 2000)]
    pub bookings: usize,
    /// Concurrent clients booking them.
    #[arg(long, default_value_t = 32)]
    pub clients: usize,
    /// `sqlite` or `postgres`.
    #[arg(long, default_value = "sqlite")]
    pub backend: String,
    /// A PostgreSQL server to create the throwaway database on.
    #[arg(long, default_value = "postgres://postgres@127.0.0.1:5432/postgres")]
    pub postgres_url: String,
    /// Jobs stored before the bookings (a third each `offered`, `unassignable`, `cancelled`; windows in the
    /// past month), so the read phase pages a table of realistic size.
    #[arg(long, default_value_t = 0)]
    pub history_jobs: usize,
    /// Reads of a page of 100 offered jobs in the read phase.
    #[arg(long, default_value_t = 200)]
    pub reads: usize,
    /// The server's database connections (`SORTIE_DB_MAX_CONNECTIONS`); default: 32 on PostgreSQL, 8 on SQLite.
    #[arg(long)]
    pub db_connections: Option<u32>,
    /// Keep the benchmark's database afterwards (its URL is printed) to look at the jobs, offers and
    /// dispatch explanations it left.
    #[arg(long)]
    pub keep_database: bool,
    /// Print the figures as one JSON object on the last line. `cpu_ms_per_booking` is the server process's CPU
    /// during the booking phase ÷ bookings (with SQLite, which runs in the server process); the clients run in a
    /// child process whose CPU is `client_cpu_ms_per_booking`; `db_cpu_ms_per_booking` is PostgreSQL's CPU (its
    /// backends for the bench database, read from /proc; null on SQLite or a server on another machine).
    #[arg(long)]
    pub json: bool,
}

/// Runs the benchmark and prints the figures.
pub async fn bench_dispatch(args: &DispatchBenchArgs) -> anyhow::Result<()> {
    anyhow::ensure!(
        matches!(args.backend.as_str(), "sqlite" | "postgres"),
        "--backend must be sqlite or postgres, not `{}`",
        args.backend
    );
    let (url, cleanup) = super::throwaway::database("dispatch", &args.backend, &args.postgres_url)?;
    let outcome = run(&url, args).await;
    if args.keep_database {
        eprintln!("database kept: {url}");
    } else {
        cleanup();
    }
    let figures = outcome.with_context(|| format!("Failed to benchmark dispatch on {}", args.backend))?;
    println!("== dispatch on {} ==", args.backend);
    for (key, value) in figures.as_object().into_iter().flatten() {
        println!("{key:<22} {value}");
    }
    if args.json {
        println!("{figures}");
    }
    Ok(())
}

/// Copies the demo's technicians until the network has `total`; returns how many it has.
fn scale_network(conn: &mut DbConnection, total: usize) -> anyhow::Result<usize> {
    let templates = technicians::all(conn)?;
    anyhow::ensure!(!templates.is_empty(), "the demo network has no technician");
    let now = db_time(Utc::now());
    let mut rng = StdRng::seed_from_u64(14);
    let mut have = templates.len();
    while have < total {
        let batch = (total - have).min(5_000);
        let rows: Vec<technicians::NewTechnician> = (0..batch)
            .map(|i| {
                let t = &templates[rng.random_range(0..templates.len())];
                let (lat, lon) = (t.home_lat + rng.random_range(-0.18..0.18), t.home_lon + rng.random_range(-0.3..0.3));
                technicians::NewTechnician {
                    id: storage::new_id(),
                    name: format!("Bench T{}", have + i),
                    home_lat: lat,
                    home_lon: lon,
                    pos_lat: Some(lat),
                    pos_lon: Some(lon),
                    position_at: Some(now),
                    created_at: now,
                    updated_at: now,
                    ..t.clone()
                }
            })
            .collect();
        write_tx(conn, |c| Ok(technicians::insert_many(c, &rows)?))?;
        have += batch;
    }
    Ok(have)
}

/// Stores `n` past jobs of the demo customer (see `--history-jobs`).
fn seed_history(conn: &mut DbConnection, n: usize) -> anyhow::Result<()> {
    use crate::domain::{JobKind, JobStatus, Priority};
    use crate::storage::{jobs, orgs, users};
    let vendor = orgs::find_by_slug(conn, "vendor")?.context("the demo network has no vendor")?;
    let partners: Vec<String> = orgs::all(conn)?.into_iter().filter(|o| o.level == 1).map(|o| o.id).collect();
    let admin = users::find_by_email(conn, "admin@demo.sortie")?.context("the demo network has no admin")?;
    let customer = users::find_by_email(conn, "customer@demo.sortie")?
        .and_then(|u| u.customer_id)
        .context("the demo customer has no client card")?;
    let now = Utc::now();
    let mut rng = StdRng::seed_from_u64(15);
    for chunk in (0..n).collect::<Vec<_>>().chunks(5_000) {
        write_tx(conn, |c| {
            for &i in chunk {
                let at = db_time(now - chrono::Duration::minutes(rng.random_range(60..43_200)));
                let status = [JobStatus::Offered, JobStatus::Unassignable, JobStatus::Cancelled][i % 3];
                let id = storage::new_id();
                jobs::insert(
                    c,
                    &jobs::NewJob {
                        id: id.clone(),
                        kind: JobKind::HomeVisit,
                        status,
                        priority: Priority::Normal,
                        customer_id: customer.clone(),
                        created_by: admin.id.clone(),
                        contractor_org_id: vendor.id.clone(),
                        lat: 55.75 + rng.random_range(-1.0..1.0),
                        lon: 37.62 + rng.random_range(-1.0..1.0),
                        address: format!("History street {i}"),
                        problem: "Benchmark history".into(),
                        required_skills: "[]".into(),
                        parts: "[]".into(),
                        window_start: at,
                        window_end: at + chrono::Duration::hours(2),
                        contact_name: "Bench Customer".into(),
                        contact_phone: "+79000000000".into(),
                        contact_email: None,
                        tracking_token: storage::new_id(),
                        created_at: at,
                        updated_at: at,
                    },
                )?;
                if status == JobStatus::Offered && !partners.is_empty() {
                    let org = &partners[i % partners.len()];
                    jobs::add_to_chain(c, &id, org, crate::domain::ChainRole::Offeree, at)?;
                }
            }
            Ok(())
        })?;
    }
    Ok(())
}

/// CPU time (user + system) of a process so far: `self` or a pid (None when it cannot be read).
fn try_process_cpu(pid: &str) -> Option<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // After the command name (which may hold spaces) come fields 3…; utime and stime are fields 14 and 15.
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let field = |n: usize| fields.get(n - 3).and_then(|f| f.parse::<u64>().ok());
    let ticks = field(14)? + field(15)?;
    Some(Duration::from_millis(ticks * 10)) // USER_HZ is 100 on Linux
}

/// CPU time (user + system) of a process so far, zero when it cannot be read.
fn process_cpu(pid: &str) -> Duration {
    try_process_cpu(pid).unwrap_or_default()
}

/// CPU time so far of each PostgreSQL backend connected to the bench's database, by pid.
struct BackendsCpu(std::collections::HashMap<i32, Duration>);

impl BackendsCpu {
    /// CPU the backends spent between `self` and `after`: a backend that connected in between counts whole
    /// (one that disconnected in between is lost: the pool keeps its connections through the booking phase).
    fn spent_until(&self, after: &BackendsCpu) -> Duration {
        after.0.iter().map(|(pid, cpu)| cpu.saturating_sub(self.0.get(pid).copied().unwrap_or_default())).sum()
    }
}

/// The bench database's backends' CPU (PostgreSQL on this machine only: read from `/proc`; None when the
/// server is elsewhere or its processes cannot be read).
async fn backends_cpu(db: &crate::db::Db) -> Option<BackendsCpu> {
    #[derive(diesel::QueryableByName)]
    struct Row {
        #[diesel(sql_type = diesel::sql_types::Integer)]
        pid: i32,
    }
    use diesel::RunQueryDsl as _;
    let db = db.clone();
    let pids = tokio::task::spawn_blocking(move || {
        let mut conn = db.get().ok()?;
        match &mut **conn {
            DbConnection::Postgres(pg) => diesel::sql_query(
                "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND backend_type = 'client backend'",
            )
            .load::<Row>(pg)
            .ok(),
            DbConnection::Sqlite(_) => None,
        }
    })
    .await
    .ok()??;
    let cpu: Option<std::collections::HashMap<i32, Duration>> =
        pids.iter().map(|r| try_process_cpu(&r.pid.to_string()).map(|c| (r.pid, c))).collect();
    cpu.map(BackendsCpu)
}

/// What the load process needs: `sortie bench dispatch-load` reads it as JSON on stdin.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct LoadParams {
    base: String,
    /// The demo customer's access token.
    token: String,
    bookings: usize,
    clients: usize,
    /// Booking places: latitude, longitude, a skill, the time zone.
    places: Vec<(f64, f64, String, String)>,
    /// The bookings' local day.
    day: chrono::NaiveDate,
}

/// What the load process prints as JSON on its last line of stdout.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct LoadOutcome {
    /// Booking latency, µs: (value, count) pairs of the histogram.
    histogram: Vec<(u64, u64)>,
    offered: usize,
    /// From the first booking sent to the last answered.
    elapsed_s: f64,
    /// The load process's own CPU (HTTP clients, JSON).
    cpu_ms: f64,
}

/// Runs the booking load in a child process (`sortie bench dispatch-load`), so that this process's CPU
/// meanwhile is the server's.
async fn run_load(params: &LoadParams) -> anyhow::Result<LoadOutcome> {
    use tokio::io::AsyncWriteExt as _;
    let exe = std::env::current_exe().context("Failed to find the sortie binary")?;
    let mut child = tokio::process::Command::new(exe)
        .args(["bench", "dispatch-load"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .context("Failed to start the load process")?;
    let mut stdin = child.stdin.take().context("the load process has no stdin")?;
    stdin.write_all(&serde_json::to_vec(params)?).await?;
    drop(stdin);
    let out = child.wait_with_output().await?;
    anyhow::ensure!(out.status.success(), "the load process failed ({})", out.status);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let last = stdout.lines().last().context("the load process printed nothing")?;
    serde_json::from_str(last).context("Failed to read the load process's figures")
}

/// The SQL statements of one more booking's transaction, `BEGIN` and `COMMIT` included (the pool's statement
/// trace, on for that booking only; after the load, so the statement caches are warm).
async fn statements_per_booking(
    http: &reqwest::Client,
    db: &crate::db::Db,
    load: &LoadParams,
) -> anyhow::Result<usize> {
    let body = booking_body(load, load.bookings, &mut StdRng::seed_from_u64(u64::MAX));
    db.trace().start();
    let r = http
        .post(format!("{}/v1/requests", load.base))
        .bearer_auth(&load.token)
        .header("Idempotency-Key", uuid::Uuid::new_v4().to_string())
        .json(&body)
        .send()
        .await?;
    let committed = db.trace().stop();
    anyhow::ensure!(r.status().as_u16() == 201, "the traced booking answered {}", r.status());
    let inserts_job = |sql: &String| sql.starts_with("INSERT INTO `jobs`") || sql.starts_with("INSERT INTO \"jobs\"");
    let booking = committed.iter().find(|tx| tx.iter().any(inserts_job));
    booking.map(Vec::len).context("the traced booking's transaction was not seen")
}

/// `sortie bench dispatch-load` (hidden): the bench's clients. Reads [`LoadParams`] as JSON on stdin, books
/// over HTTP, prints [`LoadOutcome`] as JSON on stdout.
pub async fn dispatch_load() -> anyhow::Result<()> {
    let mut input = String::new();
    std::io::Read::read_to_string(&mut std::io::stdin(), &mut input)?;
    let params: LoadParams = serde_json::from_str(&input).context("Failed to read the load's parameters")?;
    anyhow::ensure!(!params.places.is_empty(), "no place to book at");
    let http = reqwest::Client::builder().pool_max_idle_per_host(params.clients * 2).build()?;
    let params = Arc::new(params);
    let (cpu0, started) = (process_cpu("self"), Instant::now());
    let next = Arc::new(AtomicUsize::new(0));
    let offered = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for c in 0..params.clients.max(1) {
        let (http, params, next, offered) = (http.clone(), params.clone(), next.clone(), offered.clone());
        tasks.push(tokio::spawn(async move {
            let mut h = histogram()?;
            let mut rng = StdRng::seed_from_u64(c as u64);
            let url = format!("{}/v1/requests", params.base);
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= params.bookings {
                    return Ok::<_, anyhow::Error>(h);
                }
                let body = booking_body(&params, i, &mut rng);
                let t = Instant::now();
                let r = http
                    .post(&url)
                    .bearer_auth(&params.token)
                    .header("Idempotency-Key", uuid::Uuid::new_v4().to_string())
                    .json(&body)
                    .send()
                    .await?;
                let status = r.status();
                let answer: Value = r.json().await.unwrap_or(Value::Null);
                anyhow::ensure!(status.as_u16() == 201, "booking answered {status}: {answer}");
                h.record(u64::try_from(t.elapsed().as_micros()).unwrap_or(u64::MAX).max(1))?;
                if answer["status"] == "offered" {
                    offered.fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
    }
    let mut booking = histogram()?;
    for t in tasks {
        booking.add(t.await??)?;
    }
    let (elapsed, cpu) = (started.elapsed(), process_cpu("self").saturating_sub(cpu0));
    let outcome = LoadOutcome {
        histogram: booking.iter_recorded().map(|v| (v.value_iterated_to(), v.count_at_value())).collect(),
        offered: offered.load(Ordering::Relaxed),
        elapsed_s: elapsed.as_secs_f64(),
        cpu_ms: cpu.as_secs_f64() * 1000.0,
    };
    println!("{}", serde_json::to_string(&outcome)?);
    Ok(())
}

/// The `i`th booking: a random place's city and skill, a two-hour window on the bookings' day.
fn booking_body(params: &LoadParams, i: usize, rng: &mut StdRng) -> Value {
    let (lat, lon, skill, zone) = &params.places[rng.random_range(0..params.places.len())];
    // Customers book their own daytime: 08:00–19:00 in the place's zone.
    let zone: chrono_tz::Tz = zone.parse().unwrap_or(chrono_tz::UTC);
    let local = |hour: usize| {
        let at = params.day.and_hms_opt(u32::try_from(hour).unwrap_or(8), 0, 0).unwrap_or_default();
        at.and_local_timezone(zone).earliest().map_or_else(|| at.and_utc().to_rfc3339(), |t| t.to_rfc3339())
    };
    let hour = 8 + (i % 10);
    json!({
        "kind": "home_visit",
        "location": {"lat": lat + rng.random_range(-0.05..0.05), "lon": lon + rng.random_range(-0.08..0.08)},
        "address": format!("Bench street {i}"),
        "problem": "Benchmark visit",
        "required_skills": [skill],
        "window": {"start": local(hour), "end": local(hour + 2)},
        "contact": {"name": "Bench Customer", "phone": "+7 900 000-00-00"}
    })
}

/// Resident memory of the process, MiB.
fn rss_mb() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let kb = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse::<f64>().ok())
        .unwrap_or(0.0);
    kb / 1024.0
}

/// Committed transactions of the database so far (PostgreSQL only).
fn commits(conn: &mut DbConnection) -> Option<i64> {
    #[derive(diesel::QueryableByName)]
    struct Row {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    use diesel::RunQueryDsl as _;
    match conn {
        DbConnection::Postgres(pg) => {
            diesel::sql_query("SELECT xact_commit AS n FROM pg_stat_database WHERE datname = current_database()")
                .get_result::<Row>(pg)
                .ok()
                .map(|r| r.n)
        }
        DbConnection::Sqlite(_) => None,
    }
}

/// A quantile of one of the flow's histograms (`decision`, `snapshot`), from `/metrics` (a summary), in µs.
fn flow_quantile(metrics: &str, histogram: &str, q: &str) -> Option<f64> {
    let prefix = format!("sortie_dispatch_{histogram}_seconds{{quantile=\"{q}\"}} ");
    metrics.lines().find_map(|l| l.strip_prefix(&prefix)).and_then(|v| v.trim().parse::<f64>().ok()).map(|s| s * 1e6)
}

fn histogram() -> anyhow::Result<hdrhistogram::Histogram<u64>> {
    hdrhistogram::Histogram::new_with_bounds(1, 120_000_000, 3).context("Failed to make a histogram")
}

fn ms(h: &hdrhistogram::Histogram<u64>, q: f64) -> f64 {
    (h.value_at_quantile(q) as f64 / 1000.0 * 100.0).round() / 100.0
}

async fn run(url: &str, args: &DispatchBenchArgs) -> anyhow::Result<Value> {
    let postgres = args.backend == "postgres";
    let mut config = Config::for_database(url);
    config.demo = true;
    // The bench's clients are one customer booking thousands of visits: the per-user limit would answer 429.
    config.limits.bookings_per_minute = 0;
    config.db_max_connections = args.db_connections.unwrap_or(if postgres { 32 } else { 8 });
    config.workers = std::thread::available_parallelism().map_or(2, |n| n.get());
    let app = Application::build(config).await?;
    let base = format!("http://127.0.0.1:{}", app.port());
    let db = app.db().clone();
    let shared = app.state().dispatch.clone();
    let handle = app.handle();
    tokio::spawn(app.run_until_stopped());

    eprintln!("{}: seeding {} technicians …", args.backend, args.technicians);
    let (total, places) = {
        let db = db.clone();
        let (wanted, history) = (args.technicians, args.history_jobs);
        tokio::task::spawn_blocking(move || -> anyhow::Result<_> {
            let mut conn = db.get()?;
            let total = scale_network(&mut conn, wanted)?;
            seed_history(&mut conn, history)?;
            // The copies bypassed the change log: load the cache again (as a restart would).
            let started = Instant::now();
            crate::dispatch_cache::warm(&shared, &mut conn)?;
            eprintln!("dispatch cache of {total} technicians loaded in {:.1} s", started.elapsed().as_secs_f64());
            crate::db::analyze(&mut conn)?;
            // Booking places: the demo technicians' home bases and first skills.
            let places: Vec<(f64, f64, String, String)> = technicians::all(&mut conn)?
                .into_iter()
                .take(300)
                .filter_map(|t| {
                    let skill = crate::storage::json::codes(&t.skills).ok()?.into_iter().next()?;
                    Some((t.home_lat, t.home_lon, skill, t.timezone))
                })
                .collect();
            Ok((total, places))
        })
        .await??
    };
    anyhow::ensure!(!places.is_empty(), "no technician with a skill to book for");
    let http = reqwest::Client::builder().pool_max_idle_per_host(args.clients.max(1) * 2).build()?;
    let login = |email: &'static str| {
        let (http, base) = (&http, &base);
        async move {
            let r = http
                .post(format!("{base}/v1/auth/login"))
                .json(&json!({"email": email, "password": crate::demo::DEMO_PASSWORD}))
                .send()
                .await?;
            let body: Value = r.json().await?;
            body["access_token"].as_str().map(str::to_owned).context("login failed")
        }
    };
    let (customer, admin) = (login("customer@demo.sortie").await?, login("admin@demo.sortie").await?);
    let day = (Utc::now() + chrono::Duration::days(2)).date_naive();
    let load = LoadParams {
        base: base.clone(),
        token: customer,
        bookings: args.bookings,
        clients: args.clients.max(1),
        places,
        day,
    };

    let before_commits = tokio::task::spawn_blocking({
        let db = db.clone();
        move || db.get().ok().and_then(|mut c| commits(&mut c))
    })
    .await?;
    let db_cpu0 = if postgres { backends_cpu(&db).await } else { None };
    let cpu0 = process_cpu("self");
    let done = run_load(&load).await?;
    let cpu = process_cpu("self").saturating_sub(cpu0);
    let db_cpu = match db_cpu0 {
        Some(before) => backends_cpu(&db).await.map(|after| before.spent_until(&after)),
        None => None,
    };
    let mut booking = histogram()?;
    for &(value, count) in &done.histogram {
        booking.record_n(value, count)?;
    }
    let elapsed = Duration::from_secs_f64(done.elapsed_s);
    let after_commits = tokio::task::spawn_blocking({
        let db = db.clone();
        move || {
            // PostgreSQL publishes other sessions' counters about once a second.
            std::thread::sleep(Duration::from_millis(1500));
            db.get().ok().and_then(|mut c| commits(&mut c))
        }
    })
    .await?;
    let metrics = http.get(format!("{base}/metrics")).send().await?.text().await?;
    let statements = statements_per_booking(&http, &db, &load).await?;

    // The read phase: a page of 100 offered jobs, as the vendor's admin.
    let mut reads = histogram()?;
    for _ in 0..args.reads.max(1) {
        let t = Instant::now();
        let r = http.get(format!("{base}/v1/jobs?status=offered&limit=100")).bearer_auth(&admin).send().await?;
        anyhow::ensure!(r.status().as_u16() == 200, "job list answered {}", r.status());
        r.bytes().await?;
        reads.record(u64::try_from(t.elapsed().as_micros()).unwrap_or(u64::MAX).max(1))?;
    }
    let jobs_in_table = tokio::task::spawn_blocking(move || -> anyhow::Result<i64> {
        use diesel::{QueryDsl as _, RunQueryDsl as _};
        Ok(crate::db::schema::jobs::table.count().get_result(&mut **db.get()?)?)
    })
    .await??;
    drop(handle.stop(true));

    let n = args.bookings.max(1) as f64;
    let round = |x: f64| (x * 100.0).round() / 100.0;
    Ok(json!({
        "backend": args.backend,
        "technicians": total,
        "bookings": args.bookings,
        "clients": args.clients,
        "bookings_per_s": round(n / elapsed.as_secs_f64().max(1e-9)),
        "booking_p50_ms": ms(&booking, 0.5),
        "booking_p99_ms": ms(&booking, 0.99),
        "decision_p50_us": flow_quantile(&metrics, "decision", "0.5").map(round),
        "decision_p99_us": flow_quantile(&metrics, "decision", "0.99").map(round),
        "decision_cpu_p50_us": flow_quantile(&metrics, "decision_cpu", "0.5").map(round),
        "decision_cpu_p99_us": flow_quantile(&metrics, "decision_cpu", "0.99").map(round),
        "snapshot_p50_us": flow_quantile(&metrics, "snapshot", "0.5").map(round),
        "snapshot_p99_us": flow_quantile(&metrics, "snapshot", "0.99").map(round),
        "offered_share": round(done.offered as f64 / n),
        "cpu_ms_per_booking": round(cpu.as_secs_f64() * 1000.0 / n),
        "client_cpu_ms_per_booking": round(done.cpu_ms / n),
        "db_cpu_ms_per_booking": db_cpu.map(|d| round(d.as_secs_f64() * 1000.0 / n)),
        "commits_per_booking": before_commits.zip(after_commits).map(|(a, b)| round((b - a) as f64 / n)),
        "statements_per_booking": statements,
        "rss_mb": round(rss_mb()),
        "jobs_in_table": jobs_in_table,
        "read_page_100_p50_ms": ms(&reads, 0.5),
        "read_page_100_p99_ms": ms(&reads, 0.99),
    }))
}
