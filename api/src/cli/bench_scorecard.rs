//! `sortie bench scorecard`: how fast managers' scorecards read, over real
//! HTTP against a real server, on SQLite and PostgreSQL.
//!
//! Seeds a year of history over the demo network (300 technicians in ~60
//! organisations): `--jobs` approved jobs (default 1,000,000), each with its
//! visits, first-time-fix / rework / incomplete outcome, arrive and accept
//! SLA outcomes, and for three in ten a survey answer. What is seeded:
//! - the daily roll-ups those jobs produce (`scorecard_days`: one row per
//!   technician and day and per organisation and day, exactly the rows the
//!   approval and answer hooks would have written), in bulk
//!   (`storage::quality::add_bulk`, 1,000 rows per statement);
//! - one in `--raw-every` jobs (default 100, so 10,000) as a real job row with
//!   an answered survey and comment, so the Service section's comment index
//!   has realistic volume. The other jobs exist only as counters: scorecards
//!   never read jobs.
//!
//! Then times, sequentially after a warm-up: the vendor's scorecard for the
//! last year, a partner's for the last month, a technician's for the last
//! week, and a partner's Service section for the last month; p50/p99 each.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use chrono::Utc;
use rand::{Rng as _, SeedableRng as _};
use serde_json::{Value, json};

use crate::auth::jwt::{AUDIENCE, Claims, ISSUER};
use crate::config::Config;
use crate::db::{DbConnection, write_tx};
use crate::domain::{JobKind, JobStatus, Priority, Role};
use crate::startup::Application;
use crate::storage::quality::{self as store, Counters, DayRow, ORG_ROW};
use crate::storage::{self, db_time, jobs, new_id, orgs, technicians, users};

/// Flags of `sortie bench scorecard`.
#[derive(Debug, Clone, clap::Args)]
pub struct ScorecardBenchArgs {
    /// `sqlite`, `postgres` or `both`.
    #[arg(long, default_value = "both")]
    pub backend: String,
    /// A PostgreSQL server to create the throwaway database on.
    #[arg(long, default_value = "postgres://postgres@127.0.0.1:5432/postgres")]
    pub postgres_url: String,
    /// Approved jobs over the last year.
    #[arg(long, default_value_t = 1_000_000)]
    pub jobs: u64,
    /// Every n-th job is also seeded as a full job row with its survey comment.
    #[arg(long, default_value_t = 100)]
    pub raw_every: u64,
    /// Timed requests per query.
    #[arg(long, default_value_t = 200)]
    pub samples: usize,
    /// Print one JSON object per backend instead of text.
    #[arg(long)]
    pub json: bool,
}

/// Runs the benchmark on the chosen backends and prints the figures.
pub async fn bench_scorecard(args: &ScorecardBenchArgs) -> anyhow::Result<()> {
    let backends: &[&str] = match args.backend.as_str() {
        "sqlite" => &["sqlite"],
        "postgres" => &["postgres"],
        "both" => &["sqlite", "postgres"],
        other => anyhow::bail!("--backend must be sqlite, postgres or both, not `{other}`"),
    };
    for backend in backends {
        let (url, cleanup) = super::throwaway::database("scorecard", backend, &args.postgres_url)?;
        let outcome = run_backend(backend, &url, args).await;
        cleanup();
        let report = outcome.with_context(|| format!("Failed to benchmark scorecards on {backend}"))?;
        if args.json {
            println!("{}", report.json());
        } else {
            println!("{report}");
        }
    }
    Ok(())
}

/// One timed query.
#[derive(Debug)]
struct Timing {
    name: &'static str,
    jobs_counted: i64,
    p50_ms: f64,
    p99_ms: f64,
}

/// The figures of one backend.
#[derive(Debug)]
struct Report {
    backend: String,
    jobs: u64,
    raw_jobs: u64,
    rollup_rows: usize,
    seed_secs: f64,
    timings: Vec<Timing>,
}

impl Report {
    fn json(&self) -> Value {
        json!({
            "backend": self.backend, "jobs": self.jobs, "raw_jobs": self.raw_jobs,
            "rollup_rows": self.rollup_rows, "seed_secs": self.seed_secs,
            "queries": self.timings.iter().map(|t| json!({"query": t.name, "jobs_counted": t.jobs_counted,
                "p50_ms": t.p50_ms, "p99_ms": t.p99_ms})).collect::<Vec<_>>(),
        })
    }
}

impl std::fmt::Display for Report {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "== {} == {} jobs ({} as full rows with survey comments), {} roll-up rows, seeded in {:.1} s",
            self.backend, self.jobs, self.raw_jobs, self.rollup_rows, self.seed_secs
        )?;
        for t in &self.timings {
            writeln!(
                f,
                "{:<34} p50 {:>7.1} ms  p99 {:>7.1} ms  ({} jobs in the figures)",
                t.name, t.p50_ms, t.p99_ms, t.jobs_counted
            )?;
        }
        Ok(())
    }
}

/// What the timed reads need.
struct Seeded {
    vendor: String,
    partner: String,
    technician: String,
    admin_user: String,
    rollup_rows: usize,
    raw_jobs: u64,
}

/// Adds one job's counters under a key.
fn bump(map: &mut HashMap<(usize, usize, u16), Counters>, key: (usize, usize, u16), add: Counters) {
    *map.entry(key).or_default() += add;
}

fn seed(conn: &mut DbConnection, args: &ScorecardBenchArgs) -> anyhow::Result<Seeded> {
    let now = Utc::now();
    let all_orgs = orgs::all(conn)?;
    let vendor = all_orgs.iter().find(|o| o.parent_id.is_none()).context("no vendor")?.clone();
    let techs = technicians::all(conn)?;
    anyhow::ensure!(!techs.is_empty(), "the demo network has no technicians");
    let org_index: HashMap<&str, usize> = all_orgs.iter().enumerate().map(|(i, o)| (o.id.as_str(), i)).collect();
    let tech_org: Vec<usize> = techs.iter().map(|t| org_index.get(t.org_id.as_str()).copied().unwrap_or(0)).collect();
    // The partner with the most technicians in its subtree.
    let partner = all_orgs
        .iter()
        .filter(|o| o.level == 1)
        .max_by_key(|p| {
            techs.iter().filter(|t| all_orgs[org_index[t.org_id.as_str()]].path.starts_with(&p.path)).count()
        })
        .context("no partner")?
        .clone();
    let days: Vec<String> = (0..365).map(|d| (now - chrono::Duration::days(d)).date_naive().to_string()).collect();

    // Counters per (org, technician or none, day), as the hooks would add them.
    const NO_TECH: usize = usize::MAX;
    let mut rng = rand::rngs::StdRng::seed_from_u64(15);
    let mut map: HashMap<(usize, usize, u16), Counters> = HashMap::new();
    let mut raw: Vec<(usize, u16)> = Vec::new();
    let progress = indicatif::ProgressBar::new(args.jobs).with_message("jobs drawn");
    for n in 0..args.jobs {
        let t = rng.random_range(0..techs.len());
        let day = rng.random_range(0..days.len() as u16);
        let org = tech_org[t];
        let incomplete = rng.random_bool(0.08);
        let reworked = rng.random_bool(0.05);
        let mut c = Counters {
            jobs_completed: 1,
            visits: 1 + i64::from(incomplete),
            first_time_fixed: i64::from(!incomplete && !reworked),
            reworked: i64::from(reworked),
            incomplete: i64::from(incomplete),
            arrive_met: i64::from(rng.random_bool(0.9)),
            arrive_total: 1,
            ..Counters::default()
        };
        if rng.random_bool(0.3) {
            let nps = rng.random_range(0..=10);
            let csat = rng.random_range(1..=5);
            c.promoters = i64::from(nps >= 9);
            c.passives = i64::from((7..=8).contains(&nps));
            c.detractors = i64::from(nps <= 6);
            c.csat_satisfied = i64::from(csat >= 4);
            c.csat_responses = 1;
            c.ces_sum = rng.random_range(1..=7);
            c.ces_responses = 1;
        }
        bump(&mut map, (org, t, day), c);
        let accept = Counters { accept_met: i64::from(rng.random_bool(0.92)), accept_total: 1, ..Counters::default() };
        let mut org_add = c;
        org_add += accept;
        bump(&mut map, (org, NO_TECH, day), org_add);
        if args.raw_every > 0 && n % args.raw_every == 0 {
            raw.push((t, day));
        }
        if n % 10_000 == 0 {
            progress.set_position(n);
        }
    }
    progress.finish_and_clear();

    let rows: Vec<DayRow> = map
        .into_iter()
        .map(|((org, t, day), add)| DayRow {
            org_id: all_orgs[org].id.clone(),
            org_path: all_orgs[org].path.clone(),
            technician_id: if t == NO_TECH { ORG_ROW.to_owned() } else { techs[t].id.clone() },
            day: days[usize::from(day)].clone(),
            add,
        })
        .collect();
    let progress = indicatif::ProgressBar::new(rows.len() as u64).with_message("roll-up rows");
    for chunk in rows.chunks(1000) {
        write_tx(conn, |conn| Ok(store::add_bulk(conn, chunk)?))?;
        progress.inc(chunk.len() as u64);
    }
    progress.finish_and_clear();

    // A sample of real jobs with answered surveys (the Service section's comments).
    let admin = users::find_by_email(conn, "admin@demo.sortie")?.context("no demo admin")?;
    let customer_id = new_id();
    let now_db = db_time(now);
    storage::customers::insert(
        conn,
        &storage::customers::NewCustomer {
            id: &customer_id,
            name: "Bench Customer",
            phone: Some("+79990001133"),
            email: None,
            preferred_address_form: None,
            contracted_org_id: None,
            created_at: now_db,
            updated_at: now_db,
        },
    )?;
    let progress = indicatif::ProgressBar::new(raw.len() as u64).with_message("jobs with surveys");
    for chunk in raw.chunks(500) {
        write_tx(conn, |conn| {
            for (t, day) in chunk {
                let tech = &techs[*t];
                let org = &all_orgs[tech_org[*t]];
                let at = db_time(now - chrono::Duration::days(i64::from(*day)));
                let id = new_id();
                jobs::insert(
                    conn,
                    &jobs::NewJob {
                        id: id.clone(),
                        kind: JobKind::HomeVisit,
                        status: JobStatus::Approved,
                        priority: Priority::Normal,
                        customer_id: customer_id.clone(),
                        created_by: admin.id.clone(),
                        contractor_org_id: vendor.id.clone(),
                        lat: tech.home_lat,
                        lon: tech.home_lon,
                        address: "Bench street 1".into(),
                        problem: "The cash register does not print receipts".into(),
                        required_skills: "[]".into(),
                        parts: "[]".into(),
                        window_start: at,
                        window_end: at + chrono::Duration::hours(2),
                        contact_name: "Bench Customer".into(),
                        contact_phone: "+79990001133".into(),
                        contact_email: None,
                        tracking_token: new_id(),
                        created_at: at,
                        updated_at: at,
                    },
                )?;
                let token = new_id();
                store::insert_survey(
                    conn,
                    &store::NewSurvey {
                        job_id: &id,
                        token: &token,
                        technician_id: Some(&tech.id),
                        org_id: &org.id,
                        org_path: &org.path,
                        issued_at: at,
                        expires_at: at + chrono::Duration::days(30),
                    },
                )?;
                let answer = store::Answer { nps: 9, csat: 5, ces: 2, comment: Some("Fast and polite, thank you") };
                store::answer(conn, &token, &answer, &days[usize::from(*day)], at)?;
            }
            Ok(())
        })?;
        progress.inc(chunk.len() as u64);
    }
    progress.finish_and_clear();
    crate::db::analyze(conn)?;
    let technician = techs.iter().find(|t| t.org_id != vendor.id).unwrap_or(&techs[0]).id.clone();
    Ok(Seeded {
        vendor: vendor.id,
        partner: partner.id,
        technician,
        admin_user: admin.id,
        rollup_rows: rows.len(),
        raw_jobs: raw.len() as u64,
    })
}

async fn run_backend(backend: &str, url: &str, args: &ScorecardBenchArgs) -> anyhow::Result<Report> {
    let mut config = Config::for_database(url);
    config.demo = true;
    config.db_max_connections = if backend == "postgres" { 16 } else { 8 };
    config.workers = std::thread::available_parallelism().map_or(2, |n| n.get());
    let app = Application::build(config).await?;
    let base = format!("http://127.0.0.1:{}", app.port());
    let db = app.db().clone();
    let keys = app.state().keys.clone();
    let handle = app.handle();
    tokio::spawn(app.run_until_stopped());

    eprintln!("{backend}: seeding a year of {} jobs …", args.jobs);
    let started = Instant::now();
    let seed_args = args.clone();
    let seeded = tokio::task::spawn_blocking(move || -> anyhow::Result<Seeded> {
        let mut conn = db.get()?;
        seed(&mut conn, &seed_args)
    })
    .await??;
    let seed_secs = started.elapsed().as_secs_f64();
    let now = Utc::now();
    let token = keys.encode(&Claims {
        sub: seeded.admin_user.clone(),
        role: Role::Admin,
        iss: ISSUER.into(),
        aud: AUDIENCE.into(),
        iat: now.timestamp(),
        exp: now.timestamp() + 6 * 3600,
        pwv: None,
    })?;
    let today = now.date_naive();
    let period = |days: i64| {
        format!("from={}&to={}", today - chrono::Duration::days(days - 1), today + chrono::Duration::days(1))
    };
    let queries: Vec<(&'static str, String)> = vec![
        ("vendor scorecard, year", format!("/v1/orgs/{}/scorecard?{}", seeded.vendor, period(365))),
        ("partner scorecard, month", format!("/v1/orgs/{}/scorecard?{}", seeded.partner, period(30))),
        ("technician scorecard, week", format!("/v1/technicians/{}/scorecard?{}", seeded.technician, period(7))),
        ("partner Service section, month", format!("/v1/orgs/{}/service?{}", seeded.partner, period(30))),
    ];
    let http = reqwest::Client::new();
    let mut timings = Vec::new();
    for (name, path) in queries {
        let mut h = hdrhistogram::Histogram::<u64>::new_with_bounds(1, 120_000_000, 3)?;
        let mut jobs_counted = 0;
        for i in 0..(args.samples + 10) {
            let t = Instant::now();
            let r = http.get(format!("{base}{path}")).bearer_auth(&token).send().await?;
            let status = r.status();
            let body: Value = r.json().await.unwrap_or(Value::Null);
            let elapsed = t.elapsed();
            anyhow::ensure!(status.as_u16() == 200, "{path} answered {status}: {body}");
            let card = if body.get("scorecard").is_some() { &body["scorecard"] } else { &body };
            jobs_counted = card["jobs_completed"].as_i64().unwrap_or(0);
            if i >= 10 {
                h.record(u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX).max(1))?;
            }
        }
        let ms = |q: f64| h.value_at_quantile(q) as f64 / 1000.0;
        timings.push(Timing { name, jobs_counted, p50_ms: ms(0.5), p99_ms: ms(0.99) });
    }
    handle.stop(true).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    Ok(Report {
        backend: backend.to_owned(),
        jobs: args.jobs,
        raw_jobs: seeded.raw_jobs,
        rollup_rows: seeded.rollup_rows,
        seed_secs,
        timings,
    })
}
