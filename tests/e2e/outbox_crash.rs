//! A replica killed with SIGKILL after FCM took a message but before the row
//! was marked: after a restart the row is sent once more (never zero times,
//! never more), then marked.

use std::time::Duration;

use crate::both_backends;
use crate::fakes::FakeFcm;
use crate::helpers::process::{Server, until};
use crate::helpers::{Backend, TestApp};
use crate::outbox::{device, fixture, rows};
use api::clock::Clock as _;

both_backends!(a_kill_9_between_sending_and_marking_sends_the_row_once_more);

/// The real binary with push on through the fake, its worker polling every 100 ms, leases of 1 s.
async fn start(url: &str, key: &std::path::Path, fcm: &FakeFcm) -> anyhow::Result<Server> {
    let key = key.to_string_lossy();
    Server::start(
        url,
        &[
            ("SORTIE_WORKERS", "1"),
            ("SORTIE_FCM_CREDENTIALS", &key),
            ("SORTIE_FCM_BASE_URL", &fcm.base),
            ("SORTIE_OUTBOX_POLL_MS", "100"),
            ("SORTIE_OUTBOX_LEASE_SECS", "1"),
        ],
    )
    .await
}

async fn a_kill_9_between_sending_and_marking_sends_the_row_once_more(backend: Backend) -> anyhow::Result<()> {
    // Arrange: one due push on the database; the in-test app has no worker.
    let fcm = FakeFcm::start().await?;
    let dir = tempfile::tempdir()?;
    let key = fcm.key_file(&dir)?;
    let app = TestApp::spawn(backend).await?;
    let f = fixture(&app).await?;
    let phone = device(&app, &f.tech_token, "tech-token").await?;
    let now = app.clock.now();
    app.with_db(move |conn| {
        let message = api::domain::notification::Message::JobCancelled { job_id: "job-x".into() };
        api::app::notify::enqueue(conn, api::domain::Channel::Push, &phone, None, &message, now, now)?;
        Ok(())
    })
    .await?;
    let id = rows(&app).await?.last().map(|r| r.id.clone()).unwrap_or_default();
    let sends_of =
        |fcm: &FakeFcm| fcm.received().iter().filter(|s| s.body["message"]["data"]["outbox_id"] == id.as_str()).count();

    // Act: FCM takes the message and hangs; the replica is killed before it can mark the row.
    fcm.hold();
    let child = start(app.db_url(), &key, &fcm).await?;
    until("the first send", Duration::from_secs(30), async || Ok(sends_of(&fcm) == 1)).await?;
    child.kill_9().await?;
    fcm.release();
    let r = rows(&app).await?.into_iter().find(|r| r.id == id).expect("the row");
    assert_eq!((r.status.as_str(), r.attempts), ("pending", 1), "claimed, never marked");

    // A restarted replica sends it again once its lease has run out, and marks it.
    let child = start(app.db_url(), &key, &fcm).await?;
    let app_ref = &app;
    let id_ref = &id;
    until("the row to be marked sent", Duration::from_secs(30), async || {
        Ok(rows(app_ref).await?.iter().any(|r| r.id == *id_ref && r.status == "sent"))
    })
    .await?;
    child.kill_9().await?;

    // Assert: exactly one more send.
    assert_eq!(sends_of(&fcm), 2);
    let r = rows(&app).await?.into_iter().find(|r| r.id == id).expect("the row");
    assert_eq!(r.attempts, 2);
    Ok(())
}
