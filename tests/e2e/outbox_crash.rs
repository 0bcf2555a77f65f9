//! A replica killed with SIGKILL after FCM took a message but before the row
//! was marked: after a restart the row is sent once more (never zero times,
//! never more), then marked.

use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt as _, BufReader};
use tokio::process::{Child, Command};

use crate::both_backends;
use crate::fakes::FakeFcm;
use crate::helpers::{Backend, SECRET, TestApp};
use crate::outbox::{device, fixture, rows};
use api::clock::Clock as _;

both_backends!(a_kill_9_between_sending_and_marking_sends_the_row_once_more);

/// The real binary with push on through the fake, its worker polling every 100 ms, leases of 1 s.
async fn start(url: &str, key: &std::path::Path, fcm: &FakeFcm) -> anyhow::Result<Child> {
    let mut child = Command::new(env!("CARGO_BIN_EXE_sortie-under-test"))
        .arg("serve")
        .env("DATABASE_URL", url)
        .env("SORTIE_BIND", "127.0.0.1:0")
        .env("SORTIE_JWT_SECRET", SECRET)
        .env("SORTIE_DEMO", "false")
        .env("SORTIE_WORKERS", "1")
        .env("SORTIE_FCM_CREDENTIALS", key)
        .env("SORTIE_FCM_BASE_URL", &fcm.base)
        .env("SORTIE_OUTBOX_POLL_MS", "100")
        .env("SORTIE_OUTBOX_LEASE_SECS", "1")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()?;
    let stdout = child.stdout.take().ok_or_else(|| anyhow::anyhow!("no stdout"))?;
    let mut lines = BufReader::new(stdout).lines();
    tokio::time::timeout(Duration::from_secs(60), async {
        while let Some(line) = lines.next_line().await? {
            if line.starts_with("Sortie is serving at ") {
                return Ok(());
            }
        }
        anyhow::bail!("the server exited before serving")
    })
    .await??;
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    Ok(child)
}

/// Polls `check` every 50 ms for up to 30 s.
async fn until(what: &str, mut check: impl AsyncFnMut() -> anyhow::Result<bool>) -> anyhow::Result<()> {
    for _ in 0..600 {
        if check().await? {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    anyhow::bail!("timed out waiting for {what}")
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
    let mut child = start(app.db_url(), &key, &fcm).await?;
    until("the first send", async || Ok(sends_of(&fcm) == 1)).await?;
    child.kill().await?;
    fcm.release();
    let r = rows(&app).await?.into_iter().find(|r| r.id == id).expect("the row");
    assert_eq!((r.status.as_str(), r.attempts), ("pending", 1), "claimed, never marked");

    // A restarted replica sends it again once its lease has run out, and marks it.
    let mut child = start(app.db_url(), &key, &fcm).await?;
    let app_ref = &app;
    let id_ref = &id;
    until("the row to be marked sent", async || {
        Ok(rows(app_ref).await?.iter().any(|r| r.id == *id_ref && r.status == "sent"))
    })
    .await?;
    child.kill().await?;

    // Assert: exactly one more send.
    assert_eq!(sends_of(&fcm), 2);
    let r = rows(&app).await?.into_iter().find(|r| r.id == id).expect("the row");
    assert_eq!(r.attempts, 2);
    Ok(())
}
