//! Hole 7 (input and scope): bidirectional overrides are refused in names
//! and notes; a dispatcher's users list holds exactly the users it may open.

use reqwest::StatusCode;
use serde_json::json;

use crate::both_backends;
use crate::helpers::{Backend, Phone, TestApp, booking};

both_backends!(
    bidirectional_overrides_are_refused_in_names_and_notes,
    a_dispatchers_users_list_holds_exactly_the_users_it_may_open,
);

async fn bidirectional_overrides_are_refused_in_names_and_notes(backend: Backend) -> anyhow::Result<()> {
    let app = TestApp::spawn(backend).await?;
    let customer = app.login("customer@demo.sortie").await?;
    let before = app.job_count().await?;
    let mut b = booking();
    // "Ivan <RLO>vorteP" displays as "Ivan Petrov".
    b["contact"] = json!({"name": "Ivan \u{202E}vorteP", "phone": "+7 916 123-45-67"});
    let r = app.book(&customer, &b, None).await?;
    assert_eq!((r.status, r.field()), (StatusCode::UNPROCESSABLE_ENTITY, "contact.name"), "{}", r.body);
    let mut b = booking();
    b["problem"] = json!("printer \u{2066}broken\u{2069}");
    assert_eq!(app.book(&customer, &b, None).await?.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(app.job_count().await?, before);

    // A technician's note from the phone: rejected, the batch goes on.
    let tech = app.login("tech1@demo.sortie").await?;
    let phone = Phone::register(&app, &tech).await?;
    let note = json!({"job_id": uuid::Uuid::new_v4(), "note_id": uuid::Uuid::new_v4(), "text": "ok \u{202E}kcab"});
    let r = app
        .post(
            "/v1/sync/push",
            &tech,
            &json!({"device_id": phone.device_id, "mutations": [
                {"seq": 1, "id": uuid::Uuid::new_v4(), "name": "job.add_note", "args": note}]}),
        )
        .await?;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let result = &r.body["results"][0];
    assert_eq!(result["status"], "rejected", "{result}");
    assert!(result.to_string().contains("bidirectional"), "{result}");
    Ok(())
}

async fn a_dispatchers_users_list_holds_exactly_the_users_it_may_open(backend: Backend) -> anyhow::Result<()> {
    let app = TestApp::spawn(backend).await?;
    let vendor = app.login("dispatcher@vendor.demo.sortie").await?;
    let mut cursor: Option<String> = None;
    let mut seen = 0;
    loop {
        let path = match &cursor {
            Some(c) => format!("/v1/users?limit=200&cursor={c}"),
            None => "/v1/users?limit=200".to_owned(),
        };
        let page = app.get(&path, &vendor).await?;
        assert_eq!(page.status, StatusCode::OK, "{}", page.body);
        for u in page.body["items"].as_array().into_iter().flatten() {
            let role = u["role"].as_str().unwrap_or_default();
            assert!(role == "dispatcher" || role == "technician", "a dispatcher lists a {role}: {u}");
            seen += 1;
            if seen % 25 == 1 {
                let id = u["id"].as_str().unwrap_or_default();
                let one = app.get(&format!("/v1/users/{id}"), &vendor).await?;
                assert_eq!(one.status, StatusCode::OK, "listed but 404 by id: {u}");
            }
        }
        cursor = page.body["next_cursor"].as_str().map(str::to_owned);
        if cursor.is_none() {
            break;
        }
    }
    assert!(seen > 10, "the vendor's dispatcher manages the network's dispatchers and technicians");
    // Admins and reviewers stay 404 by id, as before.
    let admin_id = app.get("/v1/users/me", &app.login("admin@demo.sortie").await?).await?.str("id");
    assert_eq!(app.get(&format!("/v1/users/{admin_id}"), &vendor).await?.status, StatusCode::NOT_FOUND);
    Ok(())
}
