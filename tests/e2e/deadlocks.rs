//! PostgreSQL deadlocks provoked for real: a second connection holds the technician's row while an offer's
//! accept (job row, then technician row) waits for it, then asks for the job's row. PostgreSQL aborts the
//! accept's transaction as the victim; the database layer runs the whole transaction again (`db::write_tx`),
//! so the dispatcher sees 200 once, or 503 `unavailable` with `Retry-After` when every attempt deadlocks —
//! never 500, and never anything written twice. PostgreSQL only (SQLite has one writer and no deadlocks).

use std::time::{Duration, Instant};

use diesel::connection::SimpleConnection as _;
use diesel::sql_types::{BigInt, Text};
use diesel::{Connection as _, PgConnection, RunQueryDsl as _};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{Backend, TestApp, events, postgres_available};
use crate::offers::{chain, job, probe_booking};

/// A transaction on a connection of its own holding row locks against the app's transactions.
struct Holder {
    conn: PgConnection,
}

#[derive(diesel::QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

impl Holder {
    fn begin(url: &str) -> anyhow::Result<Holder> {
        let mut conn = PgConnection::establish(url)?;
        // The app's sessions check for a deadlock after the server's 1 s; this one much later, so the
        // app's transaction, which waits first, is always the one PostgreSQL aborts.
        conn.batch_execute("BEGIN; SET LOCAL deadlock_timeout = '30s'")?;
        Ok(Holder { conn })
    }

    /// Locks one row as the app does (`FOR NO KEY UPDATE`); waits while another transaction holds it.
    fn lock(&mut self, table: &str, id: &str) -> anyhow::Result<()> {
        diesel::sql_query(format!("SELECT 1 FROM {table} WHERE id = $1 FOR NO KEY UPDATE"))
            .bind::<Text, _>(id)
            .execute(&mut self.conn)?;
        Ok(())
    }

    /// Returns once another session of this database waits for a lock this transaction holds
    /// (`pg_blocking_pids`, polled), or fails after `within`.
    fn until_someone_waits(&mut self, within: Duration) -> anyhow::Result<()> {
        let since = Instant::now();
        loop {
            let waiting: Count = diesel::sql_query(
                "SELECT count(*) AS n FROM pg_stat_activity \
                 WHERE datname = current_database() AND pg_backend_pid() = ANY(pg_blocking_pids(pid))",
            )
            .get_result(&mut self.conn)?;
            if waiting.n > 0 {
                return Ok(());
            }
            anyhow::ensure!(since.elapsed() < within, "nobody waited for the held row within {within:?}");
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Deadlocks the app's transaction once it waits for the technician: asks for the job's row it holds.
    /// Returns when PostgreSQL has aborted the app's transaction (only then is the row free), and
    /// gives the row back at once when `release` (a savepoint), so the next attempt can take it again.
    fn deadlock_once(&mut self, job_id: &str, release: bool) -> anyhow::Result<()> {
        self.until_someone_waits(Duration::from_secs(20))?;
        if release {
            self.conn.batch_execute("SAVEPOINT held_job")?;
        }
        self.lock("jobs", job_id)?;
        if release {
            self.conn.batch_execute("ROLLBACK TO SAVEPOINT held_job")?;
        }
        Ok(())
    }
}

/// `sortie_db_transaction_retries_total{reason="deadlock"}` on the app's `/metrics` (one recorder per process).
async fn deadlock_retries(app: &TestApp) -> anyhow::Result<f64> {
    let text = app.client.get(format!("{}/metrics", app.base)).send().await?.text().await?;
    Ok(text
        .lines()
        .find(|l| l.starts_with("sortie_db_transaction_retries_total{reason=\"deadlock\"}"))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0))
}

fn types(events: &Value) -> Vec<&str> {
    events["items"].as_array().into_iter().flatten().filter_map(|e| e["type"].as_str()).collect()
}

/// A chain of organisations and a booking offered to D, naming D's technician.
async fn offered(app: &TestApp) -> anyhow::Result<(crate::offers::Chain, String)> {
    let c = chain(app).await?;
    let customer = app.login("customer@demo.sortie").await?;
    let booked = app.book(&customer, &probe_booking(), None).await?;
    anyhow::ensure!(booked.body["status"] == "offered", "{}", booked.body);
    let id = booked.str("id");
    let j = job(app, &c.admin, &id).await?;
    anyhow::ensure!(j["offer"]["org_id"] == c.orgs[3].as_str(), "offered to D, naming D's technician: {j}");
    Ok((c, id))
}

/// A second connection in a transaction holding the technician's row lock (the one an accept waits for).
async fn holding_technician(app: &TestApp, technician_id: &str) -> anyhow::Result<Holder> {
    let (url, tech) = (app.db_url().to_owned(), technician_id.to_owned());
    tokio::task::spawn_blocking(move || -> anyhow::Result<Holder> {
        let mut h = Holder::begin(&url)?;
        h.lock("technicians", &tech)?;
        Ok(h)
    })
    .await?
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_offer_accept_chosen_as_a_deadlock_victim_runs_again_and_schedules_the_job_once() -> anyhow::Result<()> {
    if !postgres_available().await? {
        return Ok(());
    }
    let app = TestApp::spawn(Backend::Postgres).await?;
    let (c, id) = offered(&app).await?;
    let retries_before = deadlock_retries(&app).await?;

    let mut holder = holding_technician(&app, &c.techs[3]).await?;
    let (job_id, path, body) = (id.clone(), format!("/v1/jobs/{id}/accept"), json!({}));
    let (accepted, held) = tokio::join!(
        app.post(&path, &c.dispatchers[3], &body),
        tokio::task::spawn_blocking(move || -> anyhow::Result<()> {
            // The helper gets the job's row only after PostgreSQL aborted the accept holding it; it
            // then lets go of both rows, and the accept's next attempt goes through.
            holder.deadlock_once(&job_id, false)?;
            holder.conn.batch_execute("COMMIT")?;
            Ok(())
        }),
    );
    held??;
    let accepted = accepted?;
    assert_eq!(accepted.status, StatusCode::OK, "{}", accepted.body);
    assert_eq!(accepted.body["status"], "scheduled");
    assert_eq!(accepted.body["technician_id"], c.techs[3].as_str());
    assert!(deadlock_retries(&app).await? >= retries_before + 1.0, "the retry is counted");

    // Written once: one acceptance, one assignment, one closed offer, the visit once on the technician's day.
    let ev = events(&app, &c.admin, &id).await?;
    assert_eq!(types(&ev), ["created", "offered", "accepted", "assigned"]);
    let j = job(&app, &c.admin, &id).await?;
    assert_eq!(j["status"], "scheduled");
    let tech = c.techs[3].clone();
    let (offers, on_day) = app
        .with_db(move |conn| {
            let offers: Count = diesel::sql_query("SELECT count(*) AS n FROM offers WHERE job_id = $1")
                .bind::<Text, _>(&id)
                .get_result(conn)?;
            let on_day: Count =
                diesel::sql_query("SELECT count(*) AS n FROM jobs WHERE technician_id = $1 AND status = 'scheduled'")
                    .bind::<Text, _>(&tech)
                    .get_result(conn)?;
            Ok((offers.n, on_day.n))
        })
        .await?;
    assert_eq!((offers, on_day), (1, 1));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_offer_accept_that_deadlocks_on_every_attempt_answers_503_with_retry_after_and_changes_nothing()
-> anyhow::Result<()> {
    if !postgres_available().await? {
        return Ok(());
    }
    let app = TestApp::spawn(Backend::Postgres).await?;
    let (c, id) = offered(&app).await?;
    let retries_before = deadlock_retries(&app).await?;

    let mut holder = holding_technician(&app, &c.techs[3]).await?;
    let (job_id, path, body) = (id.clone(), format!("/v1/jobs/{id}/accept"), json!({}));
    let (accepted, held) = tokio::join!(
        app.post(&path, &c.dispatchers[3], &body),
        tokio::task::spawn_blocking(move || -> anyhow::Result<Holder> {
            // Keeps the technician's row all along and deadlocks each attempt in turn.
            for _ in 0..api::db::TRANSACTION_ATTEMPTS {
                holder.deadlock_once(&job_id, true)?;
            }
            Ok(holder)
        }),
    );
    let mut holder = held??;
    let accepted = accepted?;
    assert_eq!(
        (accepted.status, accepted.code()),
        (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
        "{}",
        accepted.body
    );
    assert_eq!(accepted.headers.get("retry-after").and_then(|v| v.to_str().ok()), Some("1"));
    let retries = deadlock_retries(&app).await? - retries_before;
    assert!(retries >= f64::from(api::db::TRANSACTION_ATTEMPTS - 1), "{retries}");
    tokio::task::spawn_blocking(move || holder.conn.batch_execute("ROLLBACK")).await??;

    // Nothing of the attempts stayed: the offer is still open to D, and D's accept now goes through.
    let j = job(&app, &c.admin, &id).await?;
    assert_eq!((j["status"].as_str(), j["offer"]["org_id"].as_str()), (Some("offered"), Some(c.orgs[3].as_str())));
    assert_eq!(types(&events(&app, &c.admin, &id).await?), ["created", "offered"]);
    let again = app.post(&format!("/v1/jobs/{id}/accept"), &c.dispatchers[3], &json!({})).await?;
    assert_eq!((again.status, again.body["status"].as_str()), (StatusCode::OK, Some("scheduled")), "{}", again.body);
    assert_eq!(types(&events(&app, &c.admin, &id).await?), ["created", "offered", "accepted", "assigned"]);
    Ok(())
}
