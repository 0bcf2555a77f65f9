//! Notifications along a job's life: "on the way" with the ETA when the phone
//! sets off, returned work, the survey link after approval; scheduled rows
//! that went out of date (an answered offer, a moved visit) are skipped when
//! due; and the worker's figures on `/metrics`.

use reqwest::StatusCode;
use serde_json::json;

use crate::both_backends;
use crate::fakes::FakeFcm;
use crate::helpers::{Backend, Phone, TestApp, TestDb, review, set_status, soon};
use crate::outbox::{device, fixture, rows};
use api::clock::Clock as _;

both_backends!(
    the_customer_hears_of_the_way_and_the_survey_and_the_technician_of_returned_work,
    out_of_date_scheduled_rows_are_skipped_when_due_and_metrics_count_the_outcomes,
);

async fn the_customer_hears_of_the_way_and_the_survey_and_the_technician_of_returned_work(
    backend: Backend,
) -> anyhow::Result<()> {
    let app = TestApp::spawn(backend).await?;
    let f = fixture(&app).await?;
    let reviewer = app.login("reviewer@demo.sortie").await?;
    let job = f.scheduled_job(&app, soon(app.clock.now(), 1, 3)).await?;
    let mut phone = Phone::register(&app, &f.tech_token).await?;
    phone.pull_job(&job).await?;

    // On the way: the customer gets the ETA window the re-plan set.
    phone.push(&[set_status(&job, "en_route")]).await?;
    let all = rows(&app).await?;
    let way = all.iter().find(|r| r.kind == "on_the_way" && r.channel == "sms").expect("an on-the-way SMS");
    let eta = app.get(&format!("/v1/jobs/{job}"), &f.dispatcher).await?.body["eta"].clone();
    assert!(eta.is_object(), "{eta}");
    let at = |v: &serde_json::Value| v.as_str().and_then(|s| chrono::DateTime::parse_from_rfc3339(s).ok());
    assert_eq!(at(&way.payload["eta"][0]), at(&eta["start"]));

    // Returned: the technician's phone is told.
    phone.push(&[set_status(&job, "on_site"), set_status(&job, "completed")]).await?;
    let r = review(&app, &reviewer, &job, json!({"verdict": "return", "reason": "the printer still jams"})).await?;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert!(rows(&app).await?.iter().any(|r| r.kind == "job_returned" && r.recipient == phone.device_id));

    // Approved after a second visit: the survey link goes to the customer.
    phone.pull_job(&job).await?;
    phone.push(&[set_status(&job, "en_route"), set_status(&job, "on_site"), set_status(&job, "completed")]).await?;
    let r = review(&app, &reviewer, &job, json!({"verdict": "approve"})).await?;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let survey_url = app.get(&format!("/v1/requests/{job}"), &f.customer).await?.body["survey_url"].clone();
    let token = survey_url.as_str().and_then(|u| u.rsplit('/').next()).unwrap_or_default().to_owned();
    let all = rows(&app).await?;
    let survey = all.iter().filter(|r| r.kind == "survey").collect::<Vec<_>>();
    assert_eq!(survey.len(), 2, "e-mail and SMS: {survey:?}");
    assert!(survey.iter().all(|r| r.payload["survey_token"] == token.as_str()), "{survey:?}");
    Ok(())
}

async fn out_of_date_scheduled_rows_are_skipped_when_due_and_metrics_count_the_outcomes(
    backend: Backend,
) -> anyhow::Result<()> {
    // Push and SMS on, through one fake.
    let fcm = FakeFcm::start().await?;
    let dir = tempfile::tempdir()?;
    let (key, base) = (fcm.key_file(&dir)?, fcm.base.clone());
    let app = TestApp::spawn_on(TestDb::fresh(backend).await?, move |c| {
        c.notify.fcm_credentials = Some(key);
        c.notify.sms_url = Some(format!("{base}/sms"));
        c.notify.fcm_base_url = base;
    })
    .await?;
    let f = fixture(&app).await?;
    device(&app, &f.dispatcher, "dispatcher-phone").await?;
    // A visit three days ahead: a reminder is planned; the offer's expiry notice too.
    let day = (app.clock.now() + chrono::Duration::days(3)).date_naive();
    let window = json!({"start": format!("{day}T10:00:00+07:00"), "end": format!("{day}T12:00:00+07:00")});
    let job = f.scheduled_job(&app, window).await?;
    app.outbox_pass().await?;
    // Moved by a day: the old reminder no longer applies.
    let next = day + chrono::Duration::days(1);
    let moved = json!({"start": format!("{next}T10:00:00+07:00"), "end": format!("{next}T12:00:00+07:00")});
    let r = app.post(&format!("/v1/requests/{job}/reschedule"), &f.customer, &json!({"window": moved})).await?;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);

    // Act: on the moved visit's morning (09:00 at +07:00, before its window) every scheduled row is due,
    // whatever the time of day the test runs at.
    let morning = next.and_hms_opt(2, 0, 0).expect("a valid time").and_utc();
    app.clock.advance(morning - app.clock.now());
    for _ in 0..10 {
        if app.outbox_pass().await? == 0 {
            break;
        }
    }

    // Assert: the answered offer's notice and the moved visit's first reminder were skipped, the new one sent.
    let all = rows(&app).await?;
    let expiring = all.iter().find(|r| r.kind == "offer_expiring").expect("an expiry notice");
    assert_eq!(expiring.status, "skipped");
    assert_eq!(expiring.last_error.as_deref(), Some("the offer was answered"));
    let reminders: Vec<_> = all.iter().filter(|r| r.kind == "reminder" && r.channel == "sms").collect();
    assert!(
        reminders.iter().any(|r| r.status == "skipped" && r.last_error.as_deref() == Some("the visit moved")),
        "{reminders:?}"
    );
    assert!(reminders.iter().any(|r| r.status == "sent"), "{reminders:?}");
    let reminder_texts: Vec<_> = fcm
        .received()
        .into_iter()
        .filter(|s| s.path == "/sms")
        .map(|s| s.body["text"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert!(reminder_texts.iter().any(|t| t.starts_with("Завтра визит")), "{reminder_texts:?}");

    // The figures: sent and skipped per channel, and the lag gauge.
    let metrics = app.client.get(format!("{}/metrics", app.base)).send().await?.text().await?;
    assert!(metrics.contains("sortie_notifications_total{channel=\"sms\",outcome=\"sent\"}"), "{metrics}");
    assert!(metrics.contains("sortie_notifications_total{channel=\"push\",outcome=\"skipped\"}"), "{metrics}");
    assert!(metrics.contains("sortie_outbox_lag_seconds"), "{metrics}");
    Ok(())
}
