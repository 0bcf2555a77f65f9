//! Hole 6: demo mode (a generated signing secret stored in the database, demo
//! logins) only for a database seeded as the demo; a database created by
//! `sortie init` refuses to start without `SORTIE_JWT_SECRET`.

use std::process::Command;
use std::sync::Arc;

use api::clock::SystemClock;
use api::config::Config;
use api::startup::Application;
use reqwest::StatusCode;
use serde_json::json;

use crate::both_backends;
use crate::helpers::{Backend, TestDb};

both_backends!(a_database_made_by_init_refuses_to_start_without_the_secret_and_a_demo_one_starts,);

async fn start(url: &str, demo: bool, secret: bool) -> anyhow::Result<Application> {
    let mut config = Config::for_database(url);
    config.demo = demo;
    config.workers = 1;
    if !secret {
        config.jwt_secret = None;
    }
    Application::build_with_clock(config, Arc::new(SystemClock)).await
}

async fn a_database_made_by_init_refuses_to_start_without_the_secret_and_a_demo_one_starts(
    backend: Backend,
) -> anyhow::Result<()> {
    // Arrange: `sortie init` on an empty database, as an operator would.
    let db = TestDb::empty(backend).await?;
    let out = Command::new(env!("CARGO_BIN_EXE_sortie-under-test"))
        .args(["init", "--database-url", db.url(), "--vendor-name", "Probe Vendor"])
        .args(["--admin-email", "admin@probe.example", "--admin-password", "probe-password-1"])
        .env_remove("SORTIE_JWT_SECRET")
        .env_remove("SORTIE_DEMO")
        .env_remove("DATABASE_URL")
        .output()?;
    assert!(out.status.success(), "init failed: {}", String::from_utf8_lossy(&out.stderr));

    // Act + assert: without the secret the server refuses, even with demo mode asked for, and says why.
    for demo in [true, false] {
        let refused = start(db.url(), demo, false).await;
        let message = format!("{:#}", refused.err().ok_or_else(|| anyhow::anyhow!("started without a secret"))?);
        assert!(message.contains("SORTIE_JWT_SECRET") && message.contains("sortie init"), "{message}");
    }
    // With the secret it starts, seeds nothing and knows no demo login.
    let app = start(db.url(), true, true).await?;
    assert!(app.demo.is_none() && !app.demo_database);
    let base = format!("http://127.0.0.1:{}", app.port());
    let handle = app.handle();
    tokio::spawn(app.run_until_stopped());
    let login = |email: &str, password: &str| {
        reqwest::Client::new()
            .post(format!("{base}/v1/auth/login"))
            .json(&json!({"email": email, "password": password}))
            .send()
    };
    assert_eq!(login("admin@demo.sortie", "demo").await?.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(login("admin@probe.example", "probe-password-1").await?.status(), StatusCode::OK);
    handle.stop(false).await;

    // A fresh database in demo mode: seeded, a generated secret, and it starts again without one.
    let demo_db = TestDb::empty(backend).await?;
    let first = start(demo_db.url(), true, false).await?;
    assert!(first.demo.is_some() && first.demo_database);
    drop(first.handle().stop(false));
    let again = start(demo_db.url(), false, false).await?;
    assert!(again.demo.is_none() && again.demo_database, "a demo database stays a demo database");
    drop(again.handle().stop(false));
    Ok(())
}

/// Hole 9: every boolean setting accepts `1/0`, `true/false`, `yes/no`, `on/off`; anything else stops with
/// a message naming the variable.
#[test]
fn boolean_settings_accept_one_zero_yes_no_on_off_and_name_the_variable_otherwise() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let url = format!("sqlite://{}", dir.path().join("b.sqlite3").display());
    let migrate = |var: &str, value: &str| {
        Command::new(env!("CARGO_BIN_EXE_sortie-under-test"))
            .args(["migrate", "--database-url", &url])
            .env_remove("SORTIE_DEMO")
            .env(var, value)
            .output()
    };
    for var in ["SORTIE_DEMO", "SORTIE_TRUST_FORWARDED"] {
        for value in ["1", "0", "true", "FALSE", "yes", "no", "on", "Off"] {
            let out = migrate(var, value)?;
            assert!(out.status.success(), "{var}={value}: {}", String::from_utf8_lossy(&out.stderr));
        }
        let out = migrate(var, "maybe")?;
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success() && err.contains(var) && err.contains("yes/no"), "{var}=maybe: {err}");
    }
    Ok(())
}
