//! Personal data (issue #11): consent recorded with a booking, a person's
//! export, erasure on request, and the append-only audit log, on both backends.

use api::clock::Clock as _;
use chrono::Utc;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::both_backends;
use crate::helpers::{Backend, Phone, TestApp, booking, review, set_status, soon};

both_backends!(
    a_booking_records_the_consent_with_its_text_version,
    an_export_holds_the_persons_data_and_nothing_of_another_customer,
    erasure_anonymises_the_person_everywhere_and_keeps_the_job,
    the_audit_log_records_card_reads_and_admin_actions_and_refuses_changes,
    two_replicas_erasing_the_same_card_at_once_erase_it_once,
);

const SKILL: &str = "privacy_probe";
const HELLO: &[u8] = b"hello";
const SHA_HELLO: &str = "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824";

/// The person erased in the erasure scenario: every trace of these must go.
const PERSONAL: &[&str] = &["Kseniya", "Orlova", "555-12-34", "79035551234", "kseniya@probe.example", "Lenina 7"];

fn assert_nothing_personal(what: &str, body: &Value) {
    let text = body.to_string();
    for p in PERSONAL {
        assert!(!text.contains(p), "{what} still shows {p}: {text}");
    }
}

async fn new_customer(app: &TestApp, admin: &str, email: &str) -> anyhow::Result<String> {
    app.new_login(admin, &json!({"email": email, "password": "probe-password", "role": "customer"})).await
}

async fn consent_version(app: &TestApp, language: &str) -> anyhow::Result<String> {
    let r = app.call(Method::GET, &format!("/v1/consent-texts/current?language={language}"), None, None).await?;
    anyhow::ensure!(r.status == StatusCode::OK, "{}", r.body);
    Ok(r.str("version"))
}

async fn export(app: &TestApp, token: &str, path: &str) -> anyhow::Result<Value> {
    let r = app.get(path, token).await?;
    anyhow::ensure!(r.status == StatusCode::OK, "{path}: {} {}", r.status, r.body);
    Ok(r.body)
}

async fn a_booking_records_the_consent_with_its_text_version(backend: Backend) -> anyhow::Result<()> {
    // Arrange
    let app = TestApp::spawn(backend).await?;
    let admin = app.login("admin@demo.sortie").await?;
    let customer = new_customer(&app, &admin, "consent@probe.example").await?;
    let text = app.call(Method::GET, "/v1/consent-texts/current?language=en", None, None).await?;
    assert_eq!(text.status, StatusCode::OK);
    assert!(text.str("text").contains("personal data"), "{}", text.body);
    let ru = app.call(Method::GET, "/v1/consent-texts/current", None, None).await?;
    assert!(ru.str("text").contains("персональных данных"), "Russian by default: {}", ru.body);
    let version = text.str("version");

    // Act: refused consents change nothing; a given one is stored once, also when the booking is retried.
    let mut b = booking();
    b["consent"] = json!({"personal_data": false, "text_version": version, "language": "en"});
    let r = app.book(&customer, &b, None).await?;
    assert_eq!((r.status, r.field()), (StatusCode::UNPROCESSABLE_ENTITY, "consent.personal_data"), "{}", r.body);
    b["consent"] = json!({"personal_data": true, "text_version": "1999-01-01", "language": "en"});
    let r = app.book(&customer, &b, None).await?;
    assert_eq!((r.status, r.field()), (StatusCode::UNPROCESSABLE_ENTITY, "consent.text_version"), "{}", r.body);
    b["consent"] = json!({"personal_data": true, "text_version": version, "language": "en", "notifications": true});
    let first = app.book(&customer, &b, Some("consent-key")).await?;
    assert_eq!(first.status, StatusCode::CREATED, "{}", first.body);
    let again = app.book(&customer, &b, Some("consent-key")).await?;
    assert_eq!(again.str("id"), first.str("id"));

    // Assert
    let e = export(&app, &customer, "/v1/customers/me/export").await?;
    let consents = e["consents"].as_array().cloned().unwrap_or_default();
    assert_eq!(consents.len(), 1, "{}", e["consents"]);
    let c = &consents[0];
    assert_eq!(c["job_id"], first.str("id"));
    assert_eq!(c["text_version"], version.as_str());
    assert_eq!((c["language"].clone(), c["personal_data"].clone()), (json!("en"), json!(true)));
    assert_eq!((c["notifications"].clone(), c["marketing"].clone()), (json!(true), json!(false)));
    assert!(c["given_at"].as_str().is_some_and(|t| !t.is_empty()));
    Ok(())
}

async fn an_export_holds_the_persons_data_and_nothing_of_another_customer(backend: Backend) -> anyhow::Result<()> {
    // Arrange: two people booked by the admin on their behalf, one twice.
    let app = TestApp::spawn(backend).await?;
    let admin = app.login("admin@demo.sortie").await?;
    let mut a = booking();
    a["contact"] = json!({"name": "Anna Belova", "phone": "+7 901 111-22-33", "email": "anna@probe.example"});
    a["address"] = json!("Arbat 10, Moscow");
    let a1 = app.book(&admin, &a, None).await?;
    a["problem"] = json!("A second visit for Anna");
    let a2 = app.book(&admin, &a, None).await?;
    let mut b = booking();
    b["contact"] = json!({"name": "Boris Glebov", "phone": "+7 902 444-55-66"});
    b["address"] = json!("Pokrovka 3, Moscow");
    let b1 = app.book(&admin, &b, None).await?;
    for r in [&a1, &a2, &b1] {
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    }
    let (card_a, card_b) = (a1.str("customer_id"), b1.str("customer_id"));
    assert_eq!(a2.str("customer_id"), card_a);
    assert_ne!(card_a, card_b);

    // Act: the whole export in pages of one job.
    let first = export(&app, &admin, &format!("/v1/customers/{card_a}/export?limit=1")).await?;
    let cursor = first["next_cursor"].as_str().unwrap_or_default().to_owned();
    assert!(!cursor.is_empty(), "{first}");
    let second = export(&app, &admin, &format!("/v1/customers/{card_a}/export?limit=1&cursor={cursor}")).await?;

    // Assert: the person's card, addresses and both jobs; nothing of the other customer.
    assert_eq!(first["card"]["name"], "Anna Belova");
    assert_eq!(first["card"]["phone"], "+79011112233");
    assert_eq!(first["card"]["email"], "anna@probe.example");
    assert_eq!(first["addresses"][0]["address"], "Arbat 10, Moscow");
    let jobs: Vec<Value> =
        [&first, &second].iter().flat_map(|p| p["jobs"].as_array().cloned().unwrap_or_default()).collect();
    let ids: Vec<&str> = jobs.iter().filter_map(|j| j["id"].as_str()).collect();
    assert_eq!(ids, [a1.str("id"), a2.str("id")], "oldest first, one per page");
    assert_eq!(second["next_cursor"], Value::Null);
    assert_eq!(jobs[0]["address"], "Arbat 10, Moscow");
    assert_eq!(jobs[0]["contact"]["name"], "Anna Belova");
    assert_eq!(jobs[1]["problem"], "A second visit for Anna");
    assert!(jobs[0]["messages"].as_array().is_some_and(|m| !m.is_empty()), "the confirmation: {}", jobs[0]);
    let text = format!("{first}{second}");
    for other in ["Boris", "Glebov", "444-55-66", "79024445566", "Pokrovka", &card_b, &b1.str("id")] {
        assert!(!text.contains(other), "the export of {card_a} shows {other}");
    }

    // Only an admin, or the customer for itself: a dispatcher 403, someone else's card 404.
    let dispatcher = app.login("dispatcher@vendor.demo.sortie").await;
    if let Ok(d) = dispatcher {
        assert_eq!(app.get(&format!("/v1/customers/{card_a}/export"), &d).await?.status, StatusCode::FORBIDDEN);
    }
    let customer = new_customer(&app, &admin, "export@probe.example").await?;
    let r = app.get(&format!("/v1/customers/{card_a}/export"), &customer).await?;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.body);
    let r = app.get("/v1/customers/me/export", &customer).await?;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "no card before the first booking: {}", r.body);
    Ok(())
}

/// vendor → partner (timezone Krasnoyarsk) with a dispatcher and one technician with a login.
struct Field {
    admin: String,
    org: String,
    reviewer: String,
    dispatcher: String,
    tech: String,
    tech_token: String,
}

async fn field(app: &TestApp) -> anyhow::Result<Field> {
    let admin = app.login("admin@demo.sortie").await?;
    let vendor = app.org("vendor").await?.id;
    let org = app
        .post(
            "/v1/orgs",
            &admin,
            &json!({"parent_id": vendor, "name": "Privacy Partner", "timezone": "Asia/Krasnoyarsk"}),
        )
        .await?;
    anyhow::ensure!(org.status == StatusCode::CREATED, "{}", org.body);
    let org = org.str("id");
    let t = app
        .post(
            "/v1/technicians",
            &admin,
            &json!({"org_id": org, "name": "Petr Ivanov", "skills": [SKILL],
                "home_base": {"lat": 60.05, "lon": 100.0}, "shift": {"start": "00:00", "end": "23:59"},
                "timezone": "Asia/Krasnoyarsk", "daily_capacity": 40}),
        )
        .await?;
    anyhow::ensure!(t.status == StatusCode::CREATED, "{}", t.body);
    let tech = t.str("id");
    let login = |email: &str, extra: Value| {
        let mut body = json!({"email": email, "password": "probe-password"});
        for (k, v) in extra.as_object().into_iter().flatten() {
            body[k] = v.clone();
        }
        body
    };
    let tech_token = app
        .new_login(&admin, &login("p-tech@probe.example", json!({"role": "technician", "technician_id": tech})))
        .await?;
    let dispatcher =
        app.new_login(&admin, &login("p-disp@probe.example", json!({"role": "dispatcher", "org_id": org}))).await?;
    let reviewer = app.login("reviewer@demo.sortie").await?;
    Ok(Field { admin, org, reviewer, dispatcher, tech, tech_token })
}

async fn erasure_anonymises_the_person_everywhere_and_keeps_the_job(backend: Backend) -> anyhow::Result<()> {
    // Arrange: Kseniya books two visits with consent; one is done (note, photo, signature, survey comment),
    // the other still open.
    let app = TestApp::spawn(backend).await?;
    let f = field(&app).await?;
    let customer = new_customer(&app, &f.admin, "kseniya@probe.example").await?;
    let mut b = booking();
    b["location"] = json!({"lat": 60.0123, "lon": 100.0456});
    b["required_skills"] = json!([SKILL]);
    b["window"] = soon(app.clock.now(), 1, 3);
    b["address"] = json!("Lenina 7, flat 12, Krasnoyarsk");
    b["problem"] = json!("Kseniya's register jams");
    b["contact"] = json!({"name": "Kseniya Orlova", "phone": "+7 903 555-12-34", "email": "kseniya@probe.example"});
    b["consent"] = json!({"personal_data": true, "text_version": consent_version(&app, "ru").await?, "language": "ru"});
    let done = app.book(&customer, &b, Some("k-1")).await?;
    assert_eq!(done.status, StatusCode::CREATED, "{}", done.body);
    let (job, card, old_token) = (done.str("id"), done.str("customer_id"), done.str("tracking_token"));
    let r = app.post(&format!("/v1/jobs/{job}/accept"), &f.dispatcher, &json!({"technician_id": f.tech})).await?;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let mut phone = Phone::register(&app, &f.tech_token).await?;
    phone
        .push(&[
            set_status(&job, "en_route"),
            set_status(&job, "on_site"),
            ("job.add_note", json!({"job_id": job, "note_id": uuid::Uuid::new_v4(), "text": "Kseniya Orlova asked for a call"})),
            (
                "job.attach_photo",
                json!({"job_id": job, "photo_id": uuid::Uuid::new_v4(), "sha256": SHA_HELLO, "taken_at": Utc::now().to_rfc3339()}),
            ),
            ("job.sign", json!({"job_id": job, "signer_name": "Kseniya Orlova", "image_sha256": SHA_HELLO})),
            set_status(&job, "completed"),
        ])
        .await?;
    let put = app
        .client
        .put(format!("{}/v1/photos/{SHA_HELLO}", app.base))
        .bearer_auth(&f.tech_token)
        .body(HELLO.to_vec())
        .send()
        .await?;
    assert!(put.status().is_success(), "{}", put.status());
    let r = review(&app, &f.reviewer, &job, json!({"verdict": "approve"})).await?;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let mine = app.get(&format!("/v1/requests/{job}"), &customer).await?;
    let survey = mine.body["survey_url"].as_str().unwrap_or_default().replace("/survey/", "/v1/surveys/");
    let answer = json!({"nps": 9, "csat": 5, "ces": 2, "comment": "Kseniya Orlova says thanks"});
    let r = app.call(Method::POST, survey.as_str(), None, Some(&answer)).await?;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{survey}: {}", r.body);
    b["window"] = soon(app.clock.now(), 5, 7);
    let open = app.book(&customer, &b, None).await?;
    assert_eq!(open.status, StatusCode::CREATED, "{}", open.body);
    let scorecard = format!("/v1/technicians/{}/scorecard", f.tech);
    let before = app.get(&scorecard, &f.admin).await?;
    assert_eq!(before.body["jobs_completed"], 1, "{}", before.body);

    // Act 1: not while a request is open.
    let erase = format!("/v1/customers/{card}/erase");
    let r = app.post(&erase, &f.admin, &json!({})).await?;
    assert_eq!((r.status, r.code()), (StatusCode::CONFLICT, "open_requests"), "{}", r.body);
    assert_eq!(app.get(&format!("/v1/customers/{card}"), &f.admin).await?.body["name"], "Kseniya Orlova");
    let cancel = json!({"reason": "Kseniya Orlova moved away"});
    let r = app.post(&format!("/v1/requests/{}/cancel", open.str("id")), &customer, &cancel).await?;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    // A non-admin may not erase.
    assert_eq!(app.post(&erase, &f.dispatcher, &json!({})).await?.status, StatusCode::FORBIDDEN);

    // Act 2
    let r = app.post(&erase, &f.admin, &json!({})).await?;

    // Assert: done, and a second erase is harmless.
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!((r.body["already_erased"].clone(), r.body["jobs"].clone()), (json!(false), json!(2)), "{}", r.body);
    assert_eq!(r.body["images"], 1, "{}", r.body);
    let again = app.post(&erase, &f.admin, &json!({})).await?;
    assert_eq!((again.status, again.body["already_erased"].clone()), (StatusCode::OK, json!(true)), "{}", again.body);
    assert_eq!(again.body["erased_at"], r.body["erased_at"]);

    // Nothing personal in any view: card, jobs, requests, chain, review queue, Service comments, export, outbox.
    let card_view = app.get(&format!("/v1/customers/{card}"), &f.admin).await?;
    assert_eq!(card_view.status, StatusCode::OK);
    assert_eq!((card_view.body["phone"].clone(), card_view.body["email"].clone()), (Value::Null, Value::Null));
    assert_nothing_personal("the card", &card_view.body);
    let job_view = app.get(&format!("/v1/jobs/{job}"), &f.admin).await?;
    assert_eq!(
        (job_view.status, job_view.body["status"].clone()),
        (StatusCode::OK, json!("approved")),
        "the job stays"
    );
    assert_nothing_personal("the job", &job_view.body);
    let lat = job_view.body["location"]["lat"].as_f64().unwrap_or_default();
    assert!((lat - 60.0).abs() < 1e-9, "the location is coarsened to 0.1°: {}", job_view.body["location"]);
    for path in [
        format!("/v1/requests/{job}"),
        format!("/v1/jobs/{job}/events?limit=200"),
        format!("/v1/requests/{}", open.str("id")),
        format!("/v1/jobs/{}/events?limit=200", open.str("id")),
        "/v1/reviews?status=approved".to_owned(),
        format!("/v1/customers/{card}/export"),
        "/v1/outbox?status=sent&limit=200".to_owned(),
        "/v1/outbox?status=skipped&limit=200".to_owned(),
        "/v1/outbox?status=pending&limit=200".to_owned(),
        "/v1/outbox?status=failed&limit=200".to_owned(),
    ] {
        let r = app.get(&path, &f.admin).await?;
        assert_eq!(r.status, StatusCode::OK, "{path}: {}", r.body);
        assert_nothing_personal(&path, &r.body);
    }
    let service = app.get(&format!("/v1/orgs/{}/service", f.org), &f.admin).await?;
    assert_eq!(service.status, StatusCode::OK, "{}", service.body);
    assert_nothing_personal("the Service section", &service.body);
    let e = export(&app, &f.admin, &format!("/v1/customers/{card}/export")).await?;
    assert_eq!(e["jobs"][0]["report"]["photos"][0]["uploaded"], false, "the photo is gone: {}", e["jobs"][0]);
    assert_eq!(e["jobs"][0]["survey"]["nps"], 9, "the answer's scores stay");
    assert_eq!(e["logins"][0]["active"], false);
    assert_eq!(e["consents"].as_array().map(Vec::len), Some(2), "the consents (one per booking) stay as proof");
    // Whatever the technician's phone pulls now holds nothing of her.
    let pulled = phone.pull().await?;
    assert_nothing_personal("the phone's pull", &json!(pulled));

    // The statistics stay; the old tracking link, the login and the phone number find nothing.
    assert_eq!(app.get(&scorecard, &f.admin).await?.body["jobs_completed"], 1);
    let track = app.call(Method::GET, &format!("/v1/track/{old_token}"), None, None).await?;
    assert_eq!(track.status, StatusCode::NOT_FOUND);
    let login = app
        .call(
            Method::POST,
            "/v1/auth/login",
            None,
            Some(&json!({"email": "kseniya@probe.example", "password": "probe-password"})),
        )
        .await?;
    assert_eq!(login.status, StatusCode::UNAUTHORIZED, "{}", login.body);
    assert_eq!(app.get("/v1/customers/me", &customer).await?.status, StatusCode::UNAUTHORIZED);
    let mut same_phone = booking();
    same_phone["contact"] = json!({"name": "Somebody Else", "phone": "+7 903 555-12-34"});
    let r = app.book(&f.admin, &same_phone, None).await?;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_ne!(r.str("customer_id"), card, "an erased card is not found by its old phone");
    Ok(())
}

async fn the_audit_log_records_card_reads_and_admin_actions_and_refuses_changes(
    backend: Backend,
) -> anyhow::Result<()> {
    // Arrange
    let app = TestApp::spawn(backend).await?;
    let admin = app.login("admin@demo.sortie").await?;
    let admin_id = app.get("/v1/users/me", &admin).await?.str("id");
    let customer = new_customer(&app, &admin, "audited@probe.example").await?;
    let mut b = booking();
    b["consent"] = json!({"personal_data": true, "text_version": consent_version(&app, "en").await?, "language": "en"});
    let booked = app.book(&customer, &b, None).await?;
    assert_eq!(booked.status, StatusCode::CREATED, "{}", booked.body);
    let card = booked.str("customer_id");

    // Act: the admin reads the card; the customer reads its own (not audited).
    assert_eq!(app.get(&format!("/v1/customers/{card}"), &admin).await?.status, StatusCode::OK);
    assert_eq!(app.get("/v1/customers/me", &customer).await?.status, StatusCode::OK);

    // Assert
    let reads = app.get(&format!("/v1/audit?subject={card}&action=customer_read"), &admin).await?;
    assert_eq!(reads.status, StatusCode::OK, "{}", reads.body);
    let items = reads.body["items"].as_array().cloned().unwrap_or_default();
    assert_eq!(items.len(), 1, "{}", reads.body);
    assert_eq!((items[0]["actor_user_id"].clone(), items[0]["actor_role"].clone()), (json!(admin_id), json!("admin")));
    assert_eq!(items[0]["subject_type"], "customer");
    let created = app.get(&format!("/v1/audit?actor={admin_id}&action=user_create"), &admin).await?;
    assert_eq!(created.body["items"][0]["details"]["role"], "customer", "{}", created.body);
    // Paged like the other lists, newest first.
    let page1 = app.get(&format!("/v1/audit?actor={admin_id}&limit=1"), &admin).await?;
    let cursor = page1.body["next_cursor"].as_str().unwrap_or_default().to_owned();
    let page2 = app.get(&format!("/v1/audit?actor={admin_id}&limit=1&cursor={cursor}"), &admin).await?;
    assert!(
        page1.body["items"][0]["id"].as_i64() > page2.body["items"][0]["id"].as_i64(),
        "{} {}",
        page1.body,
        page2.body
    );
    let later = (Utc::now() + chrono::Duration::hours(1)).to_rfc3339().replace('+', "%2B");
    let none = app.get(&format!("/v1/audit?since={later}"), &admin).await?;
    assert_eq!(none.body["items"], json!([]), "{}", none.body);
    // Admins only.
    assert_eq!(app.get("/v1/audit", &customer).await?.status, StatusCode::FORBIDDEN);
    let reviewer = app.login("reviewer@demo.sortie").await?;
    assert_eq!(app.get("/v1/audit", &reviewer).await?.status, StatusCode::FORBIDDEN);
    // The database refuses to change or remove an entry or a consent.
    for sql in [
        "UPDATE audit_log SET actor_user_id = NULL",
        "DELETE FROM audit_log",
        "UPDATE consents SET marketing = TRUE",
        "DELETE FROM consents",
    ] {
        let outcome = app
            .with_db(move |conn| {
                use diesel::RunQueryDsl as _;
                Ok(diesel::sql_query(sql).execute(conn).map_err(|e| e.to_string()))
            })
            .await?;
        assert!(outcome.as_ref().is_err_and(|e| e.contains("append-only")), "{sql}: {outcome:?}");
    }
    let still = app.get(&format!("/v1/audit?subject={card}&action=customer_read"), &admin).await?;
    assert_eq!(still.body["items"].as_array().map(Vec::len), Some(1));
    Ok(())
}

async fn two_replicas_erasing_the_same_card_at_once_erase_it_once(backend: Backend) -> anyhow::Result<()> {
    // Arrange: a customer with one cancelled request; a second replica on the same database.
    let app = TestApp::spawn(backend).await?;
    let other = app.replica().await?;
    let admin = app.login("admin@demo.sortie").await?;
    let customer = new_customer(&app, &admin, "twice@probe.example").await?;
    let booked = app.book(&customer, &booking(), None).await?;
    let (job, card) = (booked.str("id"), booked.str("customer_id"));
    let r = app.post(&format!("/v1/requests/{job}/cancel"), &customer, &json!({})).await?;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);

    // Act
    let path = format!("/v1/customers/{card}/erase");
    let empty = json!({});
    let (a, b) = tokio::join!(app.post(&path, &admin, &empty), other.post(&path, &admin, &empty));
    let (a, b) = (a?, b?);

    // Assert: both 200, exactly one did the work, and one audit entry says so.
    assert_eq!((a.status, b.status), (StatusCode::OK, StatusCode::OK), "{} {}", a.body, b.body);
    let done: Vec<bool> = [&a, &b].iter().map(|r| r.body["already_erased"] == false).collect();
    assert_eq!(done.iter().filter(|d| **d).count(), 1, "{} {}", a.body, b.body);
    assert_eq!(a.body["erased_at"], b.body["erased_at"]);
    let entries = app.get(&format!("/v1/audit?subject={card}&action=customer_erase"), &admin).await?;
    assert_eq!(entries.body["items"].as_array().map(Vec::len), Some(1), "{}", entries.body);
    Ok(())
}
