//! Devices' push tokens (bad ones refused, moving between users, forgotten on
//! sign-out and deactivation), the client card's notification settings, and
//! the operator's outbox endpoints.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::both_backends;
use crate::fakes::{Answer, FakeFcm};
use crate::helpers::{Backend, TestApp, TestDb, soon};
use crate::outbox::{device, fixture, notify_booking, rows};
use api::clock::Clock as _;

both_backends!(
    push_tokens_are_checked_move_between_users_and_are_forgotten_on_sign_out_and_deactivation,
    customers_choose_language_channel_and_opt_out_on_their_card,
    admins_see_the_outbox_by_status_and_retry_a_failed_notification,
);

async fn token_of(app: &TestApp, device: &str) -> anyhow::Result<Option<String>> {
    let device = device.to_owned();
    app.with_db(move |conn| Ok(api::storage::devices::push_token(conn, &device)?)).await
}

async fn push_token_are_refused(app: &TestApp, token: &str, push_token: &str) -> anyhow::Result<()> {
    let r = app
        .post("/v1/devices", token, &json!({"platform": "android", "push_token": push_token, "app_version": "1.0.0"}))
        .await?;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
    assert_eq!(r.field(), "push_token");
    Ok(())
}

async fn push_tokens_are_checked_move_between_users_and_are_forgotten_on_sign_out_and_deactivation(
    backend: Backend,
) -> anyhow::Result<()> {
    let app = TestApp::spawn(backend).await?;
    let f = fixture(&app).await?;

    // An empty or 10 KB token is refused with the field named.
    push_token_are_refused(&app, &f.tech_token, "").await?;
    push_token_are_refused(&app, &f.tech_token, &"x".repeat(10 * 1024)).await?;

    // The same phone signs in as the dispatcher: the token moves; the technician gets no more pushes.
    let tech_phone = device(&app, &f.tech_token, "shared-phone").await?;
    let dispatcher_phone = device(&app, &f.dispatcher, "shared-phone").await?;
    assert_eq!(token_of(&app, &tech_phone).await?, None);
    assert_eq!(token_of(&app, &dispatcher_phone).await?.as_deref(), Some("shared-phone"));
    let job = f.scheduled_job(&app, soon(app.clock.now(), 2, 4)).await?;
    let all = rows(&app).await?;
    assert!(!all.iter().any(|r| r.recipient == tech_phone), "no push to the old owner");
    assert!(all.iter().any(|r| r.recipient == dispatcher_phone && r.kind == "offer_new"));
    let _ = job;

    // Sign-out forgets the user's tokens.
    let (access, refresh) = app.login_pair("customer@demo.sortie").await?;
    let customer_phone = device(&app, &access, "customer-phone").await?;
    let r = app.call(Method::POST, "/v1/auth/logout", Some(&access), Some(&json!({"refresh_token": refresh}))).await?;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.body);
    assert_eq!(token_of(&app, &customer_phone).await?, None);

    // Deactivation forgets them too.
    let tech_phone = device(&app, &f.tech_token, "tech-phone-2").await?;
    let me = app.get("/v1/users/me", &f.tech_token).await?;
    let r = app
        .call(Method::PATCH, &format!("/v1/users/{}", me.str("id")), Some(&f.admin), Some(&json!({"active": false})))
        .await?;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(token_of(&app, &tech_phone).await?, None);
    Ok(())
}

async fn customers_choose_language_channel_and_opt_out_on_their_card(backend: Backend) -> anyhow::Result<()> {
    let app = TestApp::spawn(backend).await?;
    let f = fixture(&app).await?;
    // The card exists after a first booking.
    let first = app.book(&f.customer, &notify_booking(soon(app.clock.now(), 2, 4)), None).await?;
    assert_eq!(first.status, StatusCode::CREATED, "{}", first.body);
    let card = app.get("/v1/customers/me", &f.customer).await?;
    assert_eq!((card.body["language"].as_str(), card.body["notify_channel"].as_str()), (Some("ru"), Some("both")));
    assert_eq!(card.body["notify_opt_out"], false);

    // English, SMS only.
    let r = app
        .call(
            Method::PATCH,
            "/v1/customers/me",
            Some(&f.customer),
            Some(&json!({"language": "en", "notify_channel": "sms"})),
        )
        .await?;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["language"], "en");
    let before = rows(&app).await?.len();
    let booked = app.book(&f.customer, &notify_booking(soon(app.clock.now(), 2, 4)), None).await?;
    assert_eq!(booked.status, StatusCode::CREATED, "{}", booked.body);
    let new: Vec<_> = rows(&app).await?.into_iter().skip(before).filter(|r| r.kind == "booking_confirmed").collect();
    assert_eq!(new.len(), 1, "{new:?}");
    assert_eq!((new[0].channel.as_str(), new[0].payload["lang"].as_str()), ("sms", Some("en")));

    // Opted out: nothing for the customer.
    let r =
        app.call(Method::PATCH, "/v1/customers/me", Some(&f.customer), Some(&json!({"notify_opt_out": true}))).await?;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let before = rows(&app).await?.len();
    let booked = app.book(&f.customer, &notify_booking(soon(app.clock.now(), 2, 4)), None).await?;
    assert_eq!(booked.status, StatusCode::CREATED, "{}", booked.body);
    let new: Vec<_> = rows(&app).await?.into_iter().skip(before).filter(|r| r.channel != "push").collect();
    assert!(new.is_empty(), "{new:?}");

    // An unknown value is refused; a customer cannot use the admin's edit.
    let r = app.call(Method::PATCH, "/v1/customers/me", Some(&f.customer), Some(&json!({"language": "de"}))).await?;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
    assert_eq!(r.field(), "language");
    let id = card.str("id");
    let r = app
        .call(Method::PATCH, &format!("/v1/customers/{id}"), Some(&f.customer), Some(&json!({"notify_opt_out": false})))
        .await?;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    // The admin may change it back.
    let r = app
        .call(Method::PATCH, &format!("/v1/customers/{id}"), Some(&f.admin), Some(&json!({"notify_opt_out": false})))
        .await?;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["notify_opt_out"], false);
    Ok(())
}

async fn admins_see_the_outbox_by_status_and_retry_a_failed_notification(backend: Backend) -> anyhow::Result<()> {
    // An SMS gateway refusing the first message (400), then accepting.
    let gateway = FakeFcm::start().await?;
    gateway.script([Answer::status(400, json!({"error": "bad number"}))]);
    let sms_url = format!("{}/sms", gateway.base);
    let app = TestApp::spawn_on(TestDb::fresh(backend).await?, move |c| c.notify.sms_url = Some(sms_url)).await?;
    let f = fixture(&app).await?;
    let booked = app.book(&f.customer, &notify_booking(soon(app.clock.now(), 2, 4)), None).await?;
    assert_eq!(booked.status, StatusCode::CREATED, "{}", booked.body);

    // Pending before the worker runs.
    let pending = app.get("/v1/outbox", &f.admin).await?;
    assert_eq!(pending.status, StatusCode::OK, "{}", pending.body);
    assert!(pending.body["items"].as_array().is_some_and(|i| !i.is_empty()));
    app.outbox_pass().await?;

    // The SMS failed with the gateway's answer; the e-mail is skipped (channel off) with the reason.
    let failed = app.get("/v1/outbox?status=failed", &f.admin).await?;
    let items = failed.body["items"].as_array().cloned().unwrap_or_default();
    assert_eq!(items.len(), 1, "{}", failed.body);
    assert_eq!(items[0]["channel"], "sms");
    assert!(items[0]["last_error"].as_str().unwrap_or_default().contains("400"), "{}", items[0]);
    let skipped = app.get("/v1/outbox?status=skipped&limit=1", &f.admin).await?;
    assert_eq!(skipped.body["items"][0]["channel"], "email");
    assert!(skipped.body["items"][0]["last_error"].as_str().unwrap_or_default().contains("SORTIE_SMTP_URL"));

    // Re-queued, then sent.
    let id = items[0]["id"].as_str().unwrap_or_default().to_owned();
    let r = app.post(&format!("/v1/outbox/{id}/retry"), &f.admin, &json!({})).await?;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!((r.body["status"].as_str(), r.body["attempts"].as_i64()), (Some("pending"), Some(0)));
    app.outbox_pass().await?;
    let sent = app.get("/v1/outbox?status=sent", &f.admin).await?;
    assert!(sent.body["items"].as_array().into_iter().flatten().any(|i| i["id"] == id.as_str()), "{}", sent.body);
    let again = app.post(&format!("/v1/outbox/{id}/retry"), &f.admin, &json!({})).await?;
    assert_eq!(again.status, StatusCode::CONFLICT);
    assert_eq!(again.code(), "not_failed");
    let unknown = app.post("/v1/outbox/nope/retry", &f.admin, &json!({})).await?;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);

    // Admins only; a bad status or limit is refused.
    assert_eq!(app.get("/v1/outbox", &f.dispatcher).await?.status, StatusCode::FORBIDDEN);
    let bad = app.get("/v1/outbox?status=lost", &f.admin).await?;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", bad.body);
    assert_eq!(app.get("/v1/outbox?limit=0", &f.admin).await?.status, StatusCode::UNPROCESSABLE_ENTITY);

    // Retention: a month later sent and skipped rows are purged; pending and failed ones stay.
    let id_failed = app
        .with_db(|conn| {
            use api::db::schema::outbox;
            use diesel::{ExpressionMethods as _, QueryDsl as _, RunQueryDsl as _};
            Ok(diesel::update(outbox::table.filter(outbox::channel.eq("email")))
                .set(outbox::status.eq("failed"))
                .returning(outbox::id)
                .get_results::<String>(conn)?)
        })
        .await?;
    let later = app.clock.now() + chrono::Duration::days(31) - chrono::Duration::days(30);
    app.with_db(move |conn| Ok(api::storage::outbox::purge(conn, later.naive_utc())?)).await?;
    let left = rows(&app).await?;
    assert!(left.iter().all(|r| r.status == "failed" || r.status == "pending"), "{left:?}");
    assert!(id_failed.iter().all(|id| left.iter().any(|r| &r.id == id)));
    assert!(!left.iter().any(|r| r.id == id), "the sent row is purged");
    Ok(())
}
