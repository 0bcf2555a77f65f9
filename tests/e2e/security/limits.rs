//! Holes 3 and 4: password hashing is bounded (memory stays flat under a
//! login storm) and logins, bookings and sync answer 429 with `Retry-After`
//! past their limits; failed logins per account are shared by replicas.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::both_backends;
use crate::helpers::process::Server;
use crate::helpers::{Backend, Phone, TestApp, TestDb, booking};

both_backends!(
    the_web_sign_in_page_counts_toward_the_same_lock_as_the_api,
    failed_logins_lock_the_account_on_every_replica_and_the_address_then_429_with_retry_after,
    bookings_and_sync_past_the_per_user_limit_answer_429_with_retry_after,
    a_storm_of_64_parallel_logins_keeps_memory_flat_and_never_fails_with_5xx,
);

fn retry_after(r: &crate::helpers::Resp) -> u64 {
    r.headers.get("retry-after").and_then(|v| v.to_str().ok()).and_then(|v| v.parse().ok()).unwrap_or(0)
}

async fn try_login(app: &TestApp, email: &str, password: &str) -> anyhow::Result<crate::helpers::Resp> {
    app.call(Method::POST, "/v1/auth/login", None, Some(&json!({"email": email, "password": password}))).await
}

async fn failed_logins_lock_the_account_on_every_replica_and_the_address_then_429_with_retry_after(
    backend: Backend,
) -> anyhow::Result<()> {
    let app = TestApp::spawn_on(TestDb::fresh(backend).await?, |c| {
        c.limits.login_failures_per_account = 5;
        c.limits.login_failures_per_address = 8;
    })
    .await?;
    let replica = app.replica().await?;
    // Five wrong passwords for the admin: 401 each.
    for _ in 0..5 {
        assert_eq!(try_login(&app, "admin@demo.sortie", "guess").await?.status, StatusCode::UNAUTHORIZED);
    }
    // Now even the right password is refused, here and on the other replica, with a time to retry.
    for on in [&app, &replica] {
        let r = try_login(on, "Admin@Demo.Sortie", "demo").await?;
        assert_eq!((r.status, r.code()), (StatusCode::TOO_MANY_REQUESTS, "too_many_requests"), "{}", r.body);
        assert!((1..=900).contains(&retry_after(&r)), "Retry-After {:?}", r.headers.get("retry-after"));
    }
    // Another account is not locked; an unknown one is counted like a known one.
    assert_eq!(try_login(&app, "reviewer@demo.sortie", "demo").await?.status, StatusCode::OK);
    // After the window the right password works again.
    app.clock.advance(chrono::Duration::minutes(16));
    assert_eq!(try_login(&app, "admin@demo.sortie", "demo").await?.status, StatusCode::OK);
    // Per address: 8 failures over any accounts, then this address waits, even with a right password.
    for n in 0..3 {
        let r = try_login(&app, &format!("nobody{n}@example.com"), "guess").await?;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    }
    let r = try_login(&app, "customer@demo.sortie", "demo").await?;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "{}", r.body);
    assert!(retry_after(&r) >= 1);
    Ok(())
}

async fn bookings_and_sync_past_the_per_user_limit_answer_429_with_retry_after(backend: Backend) -> anyhow::Result<()> {
    let app = TestApp::spawn_on(TestDb::fresh(backend).await?, |c| {
        c.limits.bookings_per_minute = 2;
        c.limits.sync_per_minute = 3;
    })
    .await?;
    let customer = app.login("customer@demo.sortie").await?;
    for _ in 0..2 {
        assert_eq!(app.book(&customer, &booking(), None).await?.status, StatusCode::CREATED);
    }
    let before = app.job_count().await?;
    let r = app.book(&customer, &booking(), None).await?;
    assert_eq!((r.status, r.code()), (StatusCode::TOO_MANY_REQUESTS, "too_many_requests"), "{}", r.body);
    assert!((1..=60).contains(&retry_after(&r)));
    assert_eq!(app.job_count().await?, before, "a refused booking creates nothing");
    // The limit is per user.
    let dispatcher = app.login("dispatcher@central.demo.sortie").await?;
    assert_eq!(app.book(&dispatcher, &booking(), None).await?.status, StatusCode::CREATED);

    let tech = app.login("tech1@demo.sortie").await?;
    let phone = Phone::register(&app, &tech).await?;
    let pull = json!({"device_id": phone.device_id, "cursor": null});
    for _ in 0..3 {
        assert_eq!(app.post("/v1/sync/pull", &tech, &pull).await?.status, StatusCode::OK);
    }
    let r = app.post("/v1/sync/pull", &tech, &pull).await?;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "{}", r.body);
    assert!(retry_after(&r) >= 1);
    Ok(())
}

/// The bound this test states: 64 parallel logins add less than this to the server's memory
/// (each argon2 hash takes ~19 MiB; unbounded, 64 at once took gigabytes and kept them).
const STORM_GROWTH_BOUND_MIB: u64 = 200;

async fn a_storm_of_64_parallel_logins_keeps_memory_flat_and_never_fails_with_5xx(
    backend: Backend,
) -> anyhow::Result<()> {
    let db = TestDb::fresh(backend).await?;
    let server = Server::start(db.url(), &[("SORTIE_HASH_CONCURRENCY", "2")]).await?;
    let base = server.base.clone();
    let client = reqwest::Client::new();
    let login = |client: reqwest::Client, base: String| async move {
        let r = client
            .post(format!("{base}/v1/auth/login"))
            .json(&json!({"email": "customer@demo.sortie", "password": "demo"}))
            .send()
            .await?;
        anyhow::Ok((r.status(), r.headers().get("retry-after").is_some()))
    };
    // Warm up: one login, so the one hashing buffer and the pools exist before measuring.
    assert_eq!(login(client.clone(), base.clone()).await?.0, StatusCode::OK);
    let before = server.rss_kib()?;
    for _round in 0..2 {
        let storm: Vec<_> = (0..64).map(|_| tokio::spawn(login(client.clone(), base.clone()))).collect();
        for answer in storm {
            let (status, has_retry_after) = answer.await??;
            assert!(
                status == StatusCode::OK || (status == StatusCode::TOO_MANY_REQUESTS && has_retry_after),
                "a login in the storm answered {status}"
            );
        }
    }
    let after = server.rss_kib()?;
    eprintln!(
        "login storm ({backend:?}): RSS {} MiB before, {} MiB after 2 × 64 parallel logins",
        before / 1024,
        after / 1024
    );
    assert!(
        after < before + STORM_GROWTH_BOUND_MIB * 1024,
        "memory grew from {} MiB to {} MiB",
        before / 1024,
        after / 1024
    );
    server.kill_9().await?;
    Ok(())
}

async fn the_web_sign_in_page_counts_toward_the_same_lock_as_the_api(backend: Backend) -> anyhow::Result<()> {
    let app = TestApp::spawn_on(TestDb::fresh(backend).await?, |c| c.limits.login_failures_per_account = 3).await?;
    let mut web = crate::web::WebClient::new(&app);
    web.get("/login").await?;
    // Three wrong passwords on the page: each shows the form again (401).
    for _ in 0..3 {
        let r = web.post("/login", &[("email", "admin@demo.sortie"), ("password", "guess")], true).await?;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.body);
        assert!(r.body.contains("name=\"password\""), "the form again");
    }
    // The account is now locked for the page (429 with Retry-After) and for the API alike.
    let r = web.post("/login", &[("email", "admin@demo.sortie"), ("password", "demo")], true).await?;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "{}", r.body);
    assert!(r.headers.get("retry-after").is_some());
    assert!(!web.has_cookie("sortie_session"), "no session");
    let api = try_login(&app, "admin@demo.sortie", "demo").await?;
    assert_eq!(api.status, StatusCode::TOO_MANY_REQUESTS, "{}", api.body);
    Ok(())
}
