//! Hole 7 (photos): a technician's photos attached to no job are held to a
//! quota, and the retention worker removes them after a week.

use reqwest::StatusCode;

use crate::both_backends;
use crate::helpers::{Backend, TestApp, TestDb};

both_backends!(unattached_photos_are_held_to_a_quota_and_expire,);

async fn put(app: &TestApp, token: &str, bytes: &[u8]) -> anyhow::Result<(StatusCode, String)> {
    let sha = api::app::sync::sha256_hex(bytes);
    let r = app
        .client
        .put(format!("{}/v1/photos/{sha}", app.base))
        .bearer_auth(token)
        .header("content-type", "application/octet-stream")
        .body(bytes.to_vec())
        .send()
        .await?;
    let status = r.status();
    let body: serde_json::Value = r.json().await.unwrap_or_default();
    Ok((status, body["error"]["code"].as_str().unwrap_or_default().to_owned()))
}

async fn unattached_photos_are_held_to_a_quota_and_expire(backend: Backend) -> anyhow::Result<()> {
    let app = TestApp::spawn_on(TestDb::fresh(backend).await?, |c| {
        c.limits.unattached_photo_quota_bytes = 1_000;
        c.retention.every = None;
    })
    .await?;
    let tech = app.login("tech1@demo.sortie").await?;
    let (a, b) = (vec![1u8; 600], vec![2u8; 600]);
    assert_eq!(put(&app, &tech, &a).await?.0, StatusCode::CREATED);
    // A second unattached photo would exceed 1,000 bytes.
    assert_eq!(put(&app, &tech, &b).await?, (StatusCode::CONFLICT, "photo_quota_exceeded".to_owned()));
    // Bytes already stored cost nothing.
    assert_eq!(put(&app, &tech, &a).await?.0, StatusCode::OK);
    // Another technician has its own quota.
    let other = app.login("tech2@demo.sortie").await?;
    assert_eq!(put(&app, &other, &b).await?.0, StatusCode::CREATED);

    // A week and a day later the retention pass removes them; the quota is free again.
    app.clock.advance(chrono::Duration::days(8));
    let pruned = api::workers::retention_once(app.state()).await?;
    assert_eq!(pruned.photos, 2, "{pruned:?}");
    let sha = api::app::sync::sha256_hex(&a);
    assert_eq!(app.get(&format!("/v1/photos/{sha}"), &tech).await?.status, StatusCode::NOT_FOUND);
    let c = vec![3u8; 600];
    assert_eq!(put(&app, &tech, &c).await?.0, StatusCode::CREATED);
    Ok(())
}
