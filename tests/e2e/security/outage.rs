//! Hole 8: when PostgreSQL stops accepting connections, `/readyz` answers 503
//! promptly (not after the pool's old 15 s timeout), requests fail fast with
//! 503 + `Retry-After`, the error names the real cause, and service resumes
//! when the database is back.

use std::time::Duration;

use diesel::{Connection as _, PgConnection, RunQueryDsl as _};
use reqwest::StatusCode;

use crate::helpers::{Backend, TestApp, TestDb, postgres_available};

fn admin_url() -> String {
    std::env::var("TEST_DATABASE_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

/// Stops (or again allows) connections to a database and ends the ones it has.
fn allow_connections(name: &str, allow: bool) -> anyhow::Result<()> {
    let mut admin = PgConnection::establish(&admin_url())?;
    diesel::sql_query(format!("ALTER DATABASE {name} ALLOW_CONNECTIONS {allow}")).execute(&mut admin)?;
    if !allow {
        diesel::sql_query(format!(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}' AND pid <> pg_backend_pid()"
        ))
        .execute(&mut admin)?;
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_outage_answers_503_fast_with_retry_after_and_the_real_cause_then_recovers() -> anyhow::Result<()> {
    if !postgres_available().await? {
        return Ok(());
    }
    let db = TestDb::fresh(Backend::Postgres).await?;
    let name = db.pg_name().unwrap_or_default().to_owned();
    let app = TestApp::spawn_on(db, |c| c.deadline_sweep = None).await?;
    let token = app.login("dispatcher@vendor.demo.sortie").await?;
    // A client that gives up after 5 s: the old behaviour (15 s waits) fails this test.
    let client = reqwest::Client::builder().timeout(Duration::from_secs(5)).build()?;
    let get = |path: &str, auth: bool| {
        let mut req = client.get(format!("{}{path}", app.base));
        if auth {
            req = req.bearer_auth(&token);
        }
        req.send()
    };
    assert_eq!(get("/readyz", false).await?.status(), StatusCode::OK);

    let n = name.clone();
    tokio::task::spawn_blocking(move || allow_connections(&n, false)).await??;
    for path in ["/readyz", "/v1/jobs"] {
        let r = get(path, path != "/readyz").await?;
        assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE, "{path}");
        assert!(r.headers().contains_key("retry-after"), "{path}: no Retry-After");
        let body: serde_json::Value = r.json().await?;
        assert_eq!(body["error"]["code"], "unavailable");
    }
    // The cause the log line carries is the database's own words, not the multi-connection's.
    let db = app.db.clone();
    let cause = tokio::task::spawn_blocking(move || db.get().err().map(|e| format!("{e:#}"))).await?;
    let cause = cause.unwrap_or_default();
    assert!(cause.contains("not currently accepting connections"), "cause: {cause}");

    let n = name.clone();
    tokio::task::spawn_blocking(move || allow_connections(&n, true)).await??;
    // Back: the pool reconnects on the next request (polled with a deadline, no sleeps).
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        if get("/v1/jobs", true).await.is_ok_and(|r| r.status() == StatusCode::OK) {
            break;
        }
        anyhow::ensure!(tokio::time::Instant::now() < deadline, "the service did not recover");
        tokio::task::yield_now().await;
    }
    assert_eq!(get("/readyz", false).await?.status(), StatusCode::OK);
    Ok(())
}
