//! Data lifecycle: the retention worker prunes old idempotency keys, change
//! log, processed mutations and dead tokens in batches; a phone whose cursor
//! is older than the retained log gets `reset_required` and loses no queued work.

use diesel::prelude::*;
use reqwest::StatusCode;
use serde_json::json;

use crate::both_backends;
use crate::helpers::{Backend, Phone, TestApp, TestDb, booking};

both_backends!(a_phone_behind_the_retained_change_log_resets_and_keeps_its_queued_work,);

async fn count(app: &TestApp, table: &'static str) -> anyhow::Result<i64> {
    app.with_db(move |conn| {
        #[derive(QueryableByName)]
        struct N {
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            n: i64,
        }
        let n: N = diesel::sql_query(format!("SELECT COUNT(*) AS n FROM {table}")).get_result(conn)?;
        Ok(n.n)
    })
    .await
}

async fn a_phone_behind_the_retained_change_log_resets_and_keeps_its_queued_work(
    backend: Backend,
) -> anyhow::Result<()> {
    // Small batches, so the pass really works in several.
    let app = TestApp::spawn_on(TestDb::fresh(backend).await?, |c| {
        c.retention.every = None;
        c.retention.batch = 3;
    })
    .await?;
    let customer = app.login("customer@demo.sortie").await?;
    assert_eq!(app.book(&customer, &booking(), Some("old-key")).await?.status, StatusCode::CREATED);
    let tech = app.login("tech1@demo.sortie").await?;
    let mut phone = Phone::register(&app, &tech).await?;
    phone.pull().await?;
    let old_cursor = phone.cursor().unwrap_or_default();
    // Four pings after that cursor: four changes in the log the phone has not pulled yet.
    let ping = |n: f64| {
        let at = (chrono::Utc::now() + chrono::Duration::seconds(n as i64)).to_rfc3339();
        ("position.ping", json!({"lat": 55.75 + n / 1000.0, "lon": 37.61, "accuracy_m": 5.0, "at": at}))
    };
    phone.push(&[ping(1.0), ping(2.0), ping(3.0), ping(4.0)]).await?;
    assert!(count(&app, "change_log").await? >= 4);

    // A month and a day later the retention pass runs.
    app.clock.advance(chrono::Duration::days(31));
    let mut pruned = api::workers::retention_once(app.state()).await?;
    assert!(pruned.sync_mutations == 4 && pruned.idempotency_keys >= 1, "{pruned:?}");
    // On PostgreSQL a change is pruned only once every transaction older than it has ended (another test's
    // may still run on the shared server): pass again until the four are gone, within a deadline.
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(60);
    while pruned.change_log < 4 {
        anyhow::ensure!(tokio::time::Instant::now() < deadline, "the change log was not pruned: {pruned:?}");
        tokio::task::yield_now().await;
        pruned.change_log += api::workers::retention_once(app.state()).await?.change_log;
    }
    assert_eq!(count(&app, "idempotency_keys").await?, 0);
    assert_eq!(count(&app, "change_log").await?, 0);
    assert_eq!(api::workers::retention_once(app.state()).await?.total(), 0, "a last pass finds nothing");

    // The phone comes back with its old cursor and a queued ping: reset, and the ping is applied.
    let r = app.post("/v1/sync/pull", &tech, &json!({"device_id": phone.device_id, "cursor": old_cursor})).await?;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["reset_required"], true, "{}", r.body);
    let at = (chrono::Utc::now() + chrono::Duration::days(31)).to_rfc3339();
    phone.push(&[("position.ping", json!({"lat": 55.75, "lon": 37.61, "accuracy_m": 5.0, "at": at}))]).await?;
    assert_eq!(count(&app, "sync_mutations").await?, 1, "the queued mutation was recorded once");
    // A retry of a mutation whose record was pruned is not applied again (`unknown_seq`, as the protocol says).
    let retry = json!({"device_id": phone.device_id, "mutations": [{"seq": 1, "id": uuid::Uuid::new_v4(),
        "name": "position.ping", "args": {"lat": 1.0, "lon": 1.0, "accuracy_m": 5.0, "at": chrono::Utc::now().to_rfc3339()}}]});
    let r = app.post("/v1/sync/push", &tech, &retry).await?;
    let result = &r.body["results"][0];
    assert_eq!(
        (result["status"].clone(), result["reason"].clone()),
        (json!("rejected"), json!("unknown_seq")),
        "{result}"
    );
    assert_eq!(count(&app, "sync_mutations").await?, 1);
    let fresh = app.post("/v1/sync/pull", &tech, &json!({"device_id": phone.device_id, "cursor": null})).await?;
    assert_eq!((fresh.status, fresh.body["reset_required"].clone()), (StatusCode::OK, json!(false)));
    // A cursor issued after the pruning is served normally.
    let cursor = fresh.body["cursor"].clone();
    let next = app.post("/v1/sync/pull", &tech, &json!({"device_id": phone.device_id, "cursor": cursor})).await?;
    assert_eq!(next.body["reset_required"], false, "{}", next.body);
    Ok(())
}
