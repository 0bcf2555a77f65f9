//! The outbox worker against local fakes: FCM HTTP v1 and its OAuth token
//! endpoint (request format, token caching and refresh, each scripted error),
//! the demo without credentials, a bad key file at start, and two workers on
//! one database.

use std::time::Duration;

use chrono::Utc;
use serde_json::{Value, json};

use crate::both_backends;
use crate::fakes::{Answer, CLIENT_EMAIL, FakeFcm, PROJECT};
use crate::helpers::{Backend, TestApp, TestDb, soon};
use crate::outbox::{device, fixture, rows};
use api::clock::Clock as _;

both_backends!(
    pushes_go_to_fcm_v1_with_a_cached_oauth_token_and_the_message_json,
    fcm_errors_back_off_drop_dead_tokens_refresh_the_access_token_and_give_up,
    without_credentials_rows_are_skipped_with_the_reason_and_the_app_keeps_working,
    two_workers_on_one_database_never_send_a_row_twice,
);

/// The app with push on, through the fake.
async fn app_with_fcm(backend: Backend, fcm: &FakeFcm, dir: &tempfile::TempDir) -> anyhow::Result<TestApp> {
    let key = fcm.key_file(dir)?;
    let base = fcm.base.clone();
    TestApp::spawn_on(TestDb::fresh(backend).await?, move |c| {
        c.notify.fcm_credentials = Some(key);
        c.notify.fcm_base_url = base;
        c.notify.backoff = Duration::from_secs(10);
        c.notify.max_attempts = 4;
    })
    .await
}

/// Passes until nothing is due.
async fn drain(app: &TestApp) -> anyhow::Result<()> {
    for _ in 0..100 {
        if app.outbox_pass().await? == 0 {
            return Ok(());
        }
    }
    anyhow::bail!("the outbox never drained")
}

/// One visible push to `device` (a cancelled-visit notice), due now.
async fn enqueue_one(app: &TestApp, device: &str) -> anyhow::Result<String> {
    let (device, now) = (device.to_owned(), app.clock.now());
    app.with_db(move |conn| {
        let message = api::domain::notification::Message::JobCancelled { job_id: "job-x".into() };
        api::app::notify::enqueue(conn, api::domain::Channel::Push, &device, None, &message, now, now)?;
        Ok(())
    })
    .await?;
    Ok(rows(app).await?.last().map(|r| r.id.clone()).unwrap_or_default())
}

fn row<'a>(all: &'a [crate::outbox::OutRow], id: &str) -> &'a crate::outbox::OutRow {
    all.iter().find(|r| r.id == id).expect("the row")
}

async fn pushes_go_to_fcm_v1_with_a_cached_oauth_token_and_the_message_json(backend: Backend) -> anyhow::Result<()> {
    // Arrange
    let fcm = FakeFcm::start().await?;
    let dir = tempfile::tempdir()?;
    let app = app_with_fcm(backend, &fcm, &dir).await?;
    let f = fixture(&app).await?;
    let phone = device(&app, &f.tech_token, "tech-token").await?;
    let job = f.scheduled_job(&app, soon(app.clock.now(), 2, 4)).await?;

    // Act
    let before = Utc::now().timestamp();
    drain(&app).await?;

    // Assert: one token request, a JWT bearer grant signed RS256 by the key with Google's claims.
    let tokens = fcm.token_requests();
    assert_eq!(tokens.len(), 1, "the access token is cached across sends");
    let form: std::collections::HashMap<_, _> = tokens[0].form.iter().cloned().collect();
    assert_eq!(form["grant_type"], "urn:ietf:params:oauth:grant-type:jwt-bearer");
    let claims = fcm.verify_assertion(&form["assertion"])?;
    assert_eq!(claims["iss"], CLIENT_EMAIL);
    assert_eq!(claims["scope"], "https://www.googleapis.com/auth/firebase.messaging");
    assert_eq!(claims["aud"], format!("{}/token", fcm.base));
    let iat = claims["iat"].as_i64().unwrap_or_default();
    assert!((before - 5..=Utc::now().timestamp() + 5).contains(&iat), "iat {iat}");
    assert_eq!(claims["exp"].as_i64(), Some(iat + 3600));

    // The sends: the v1 URL, the cached bearer, the message JSON.
    let sent = fcm.received();
    assert!(!sent.is_empty());
    for s in &sent {
        assert_eq!(s.path, format!("/v1/projects/{PROJECT}/messages:send"));
        assert_eq!(s.authorization, "Bearer access-1");
        assert_eq!(s.body["message"]["token"], "tech-token");
    }
    let new_job = sent.iter().find(|s| s.body["message"]["data"]["kind"] == "job_new").expect("the new-visit push");
    let m = &new_job.body["message"];
    assert_eq!(m["data"]["job_id"], job.as_str());
    assert_eq!(m["notification"]["title"], "Новый выезд");
    assert!(m["data"]["outbox_id"].is_string());
    let poke = sent.iter().find(|s| s.body["message"]["data"]["kind"] == "sync").expect("the sync poke");
    let m = &poke.body["message"];
    assert_eq!(m["notification"], Value::Null, "a poke is data only");
    assert_eq!(m["android"]["collapse_key"], format!("sync:{phone}"));
    assert_eq!(m["apns"]["payload"]["aps"]["content-available"], 1);
    let all = rows(&app).await?;
    let pushes: Vec<_> = all.iter().filter(|r| r.channel == "push").collect();
    assert!(pushes.iter().all(|r| r.status == "sent" && r.attempts == 1), "{pushes:?}");
    Ok(())
}

async fn fcm_errors_back_off_drop_dead_tokens_refresh_the_access_token_and_give_up(
    backend: Backend,
) -> anyhow::Result<()> {
    let fcm = FakeFcm::start().await?;
    let dir = tempfile::tempdir()?;
    let app = app_with_fcm(backend, &fcm, &dir).await?;
    let f = fixture(&app).await?;
    let phone = device(&app, &f.tech_token, "tech-token").await?;
    let id = enqueue_one(&app, &phone).await?;

    // 429 with Retry-After: 120 s → pending, the wait at least what the server asked.
    fcm.script([Answer::busy(120)]);
    let t0 = app.clock.now();
    app.outbox_pass().await?;
    let r = row(&rows(&app).await?, &id).clone();
    assert_eq!((r.status.as_str(), r.attempts), ("pending", 1));
    assert!(r.last_error.as_deref().unwrap_or_default().contains("429"), "{:?}", r.last_error);
    assert!(r.due >= t0 + chrono::Duration::seconds(120), "due {} vs {t0}", r.due);
    assert!(r.due <= t0 + chrono::Duration::seconds(121));
    assert_eq!(app.outbox_pass().await?, 0, "not due before its time");

    // 503 on the second attempt: exponential backoff with jitter, 10 s × 2 × [0.5, 1].
    app.clock.advance(chrono::Duration::seconds(121));
    fcm.script([Answer::status(503, json!({"error": {"status": "UNAVAILABLE", "message": "down"}}))]);
    let t1 = app.clock.now();
    app.outbox_pass().await?;
    let r = row(&rows(&app).await?, &id).clone();
    assert_eq!((r.status.as_str(), r.attempts), ("pending", 2));
    let wait = (r.due - t1).num_milliseconds();
    assert!((9_900..=20_100).contains(&wait), "backoff {wait} ms");

    // 401: the access token is refreshed once and the send goes through.
    app.clock.advance(chrono::Duration::seconds(21));
    fcm.script([Answer::status(401, json!({"error": {"status": "UNAUTHENTICATED", "message": "expired"}}))]);
    app.outbox_pass().await?;
    let r = row(&rows(&app).await?, &id).clone();
    assert_eq!((r.status.as_str(), r.attempts), ("sent", 3));
    assert_eq!(fcm.token_requests().len(), 2, "one refresh after the 401");
    assert_eq!(fcm.received().last().map(|s| s.authorization.clone()), Some("Bearer access-2".into()));

    // Another 4xx: failed with the reason, not retried.
    let id = enqueue_one(&app, &phone).await?;
    fcm.script([Answer::status(
        403,
        json!({"error": {"status": "PERMISSION_DENIED", "message": "sender id mismatch"}}),
    )]);
    app.outbox_pass().await?;
    let r = row(&rows(&app).await?, &id).clone();
    assert_eq!(r.status, "failed");
    assert!(r.last_error.as_deref().unwrap_or_default().contains("PERMISSION_DENIED"), "{:?}", r.last_error);

    // 5xx every time: failed after the configured 4 attempts, and stays visible.
    let id = enqueue_one(&app, &phone).await?;
    for _ in 0..4 {
        fcm.script([Answer::status(500, json!({}))]);
        app.outbox_pass().await?;
        app.clock.advance(chrono::Duration::hours(2));
    }
    let r = row(&rows(&app).await?, &id).clone();
    assert_eq!((r.status.as_str(), r.attempts), ("failed", 4));
    assert!(r.last_error.as_deref().unwrap_or_default().contains("gave up after 4 attempts"), "{:?}", r.last_error);

    // 404 UNREGISTERED: the token is dropped; nothing more is sent to that device.
    let id = enqueue_one(&app, &phone).await?;
    fcm.script([Answer::unregistered()]);
    app.outbox_pass().await?;
    let r = row(&rows(&app).await?, &id).clone();
    assert_eq!(r.status, "skipped");
    assert!(r.last_error.as_deref().unwrap_or_default().contains("token was dropped"), "{:?}", r.last_error);
    let sends = fcm.received().len();
    let id = enqueue_one(&app, &phone).await?;
    app.outbox_pass().await?;
    assert_eq!(fcm.received().len(), sends, "no send to a dropped token");
    assert_eq!(row(&rows(&app).await?, &id).status, "skipped");
    let job = f.scheduled_job(&app, soon(app.clock.now(), 2, 4)).await?;
    assert!(!rows(&app).await?.iter().any(|r| r.channel == "push" && r.payload["job_id"] == job.as_str()));
    Ok(())
}

async fn without_credentials_rows_are_skipped_with_the_reason_and_the_app_keeps_working(
    backend: Backend,
) -> anyhow::Result<()> {
    // The demo: no channel configured.
    let app = TestApp::spawn(backend).await?;
    let f = fixture(&app).await?;
    device(&app, &f.tech_token, "tech-token").await?;
    f.scheduled_job(&app, soon(app.clock.now(), 2, 4)).await?;
    drain(&app).await?;
    let all = rows(&app).await?;
    assert!(!all.is_empty());
    for r in &all {
        assert_eq!(r.status, "skipped", "{r:?}");
        let want = match r.channel.as_str() {
            "push" => "SORTIE_FCM_CREDENTIALS",
            "email" => "SORTIE_SMTP_URL",
            _ => "SORTIE_SMS_URL",
        };
        assert!(r.last_error.as_deref().unwrap_or_default().contains(want), "{r:?}");
    }
    // A missing or malformed key file stops the start, naming the variable.
    let dir = tempfile::tempdir()?;
    for (name, content) in [("missing.json", None), ("bad.json", Some("{\"project_id\": 1}"))] {
        let path = dir.path().join(name);
        if let Some(c) = content {
            std::fs::write(&path, c)?;
        }
        let started = TestApp::spawn_on(TestDb::fresh(backend).await?, |c| c.notify.fcm_credentials = Some(path)).await;
        let error = format!("{:#}", started.err().expect("the start must fail"));
        assert!(error.contains("SORTIE_FCM_CREDENTIALS"), "{error}");
    }
    Ok(())
}

async fn two_workers_on_one_database_never_send_a_row_twice(backend: Backend) -> anyhow::Result<()> {
    // Arrange: 200 due pushes, two replicas with workers, one fake FCM.
    let fcm = FakeFcm::start().await?;
    fcm.set_latency(Duration::from_millis(5));
    let dir = tempfile::tempdir()?;
    let app = app_with_fcm(backend, &fcm, &dir).await?;
    let f = fixture(&app).await?;
    let phone = device(&app, &f.tech_token, "tech-token").await?;
    let now = app.clock.now();
    app.with_db(move |conn| {
        let message = api::domain::notification::Message::JobCancelled { job_id: "job-x".into() };
        for _ in 0..200 {
            api::app::notify::enqueue(conn, api::domain::Channel::Push, &phone, None, &message, now, now)?;
        }
        Ok(())
    })
    .await?;
    let (key, base) = (fcm.key_file(&dir)?, fcm.base.clone());
    let other = app
        .replica_with(move |c| {
            c.notify.fcm_credentials = Some(key);
            c.notify.fcm_base_url = base;
            c.notify.batch = 20;
        })
        .await?;

    // Act: both drain at once.
    let (a, b) = tokio::join!(drain(&app), drain(&other));
    a?;
    b?;

    // Assert: every row sent, each exactly once.
    let all = rows(&app).await?;
    assert!(all.iter().filter(|r| r.channel == "push").all(|r| r.status == "sent"));
    let mut ids: Vec<String> = fcm
        .received()
        .iter()
        .filter(|s| s.body["message"]["data"]["kind"] == "job_cancelled")
        .map(|s| s.body["message"]["data"]["outbox_id"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(ids.len(), 200);
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 200, "a row was sent twice");
    Ok(())
}
