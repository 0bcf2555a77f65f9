//! The vendor's quality review end to end, through the real HTTP API and the
//! phone protocol: book → dispatch → accept → the phone completes → the review
//! returns it → the phone pulls the reason → a second visit → approve; the
//! SLA outcome of each hop; bad reviews; and working the unassignable queue.

use chrono::{DateTime, Duration, Utc};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::both_backends;
use api::clock::Clock as _;

use crate::helpers::{Backend, Phone, Resp, TestApp, booking, events, hop, review, set_status, soon};

both_backends!(
    a_returned_job_goes_back_to_its_technician_with_the_reason_and_is_approved_after_a_second_visit,
    a_late_arrival_misses_the_arrive_promise_and_an_approval_without_rework_meets_first_time_fix,
    two_racing_reviews_of_the_same_visit_leave_exactly_one_verdict,
    bad_reviews_are_refused_with_clear_errors_and_change_nothing,
    a_return_with_redispatch_takes_the_job_off_the_technician_and_dispatches_it_again,
    the_unassignable_queue_can_offer_assign_and_dispatch_again,
    a_customer_reschedule_of_an_unassignable_job_dispatches_it_again,
);

const LAT: f64 = 60.0;
const LON: f64 = 100.0;
const HELLO: &[u8] = b"hello";
const SHA_HELLO: &str = "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824";

/// An organisation under the vendor with two `probe` technicians (with logins) and a dispatcher.
struct Fixture {
    org: String,
    admin: String,
    reviewer: String,
    dispatcher: String,
    techs: Vec<String>,
    tech_tokens: Vec<String>,
    customer: String,
}

async fn technician(app: &TestApp, admin: &str, org: &str, name: &str, skill: &str, km: f64) -> anyhow::Result<String> {
    let t = app
        .post(
            "/v1/technicians",
            admin,
            &json!({"org_id": org, "name": name, "skills": [skill],
                "home_base": {"lat": LAT + km / 111.0, "lon": LON},
                "shift": {"start": "00:00", "end": "23:59"}, "timezone": "Asia/Krasnoyarsk", "daily_capacity": 40}),
        )
        .await?;
    anyhow::ensure!(t.status == StatusCode::CREATED, "{}", t.body);
    Ok(t.str("id"))
}

async fn fixture(app: &TestApp) -> anyhow::Result<Fixture> {
    let admin = app.login("admin@demo.sortie").await?;
    let vendor = app.org("vendor").await?.id;
    let org = app
        .post("/v1/orgs", &admin, &json!({"parent_id": vendor, "name": "Review Org", "timezone": "Asia/Krasnoyarsk"}))
        .await?;
    anyhow::ensure!(org.status == StatusCode::CREATED, "{}", org.body);
    let org = org.str("id");
    let (mut techs, mut tech_tokens) = (Vec::new(), Vec::new());
    for (i, km) in [5.0, 10.0].into_iter().enumerate() {
        let id = technician(app, &admin, &org, &format!("Review Tech {i}"), "probe", km).await?;
        let email = format!("review-tech-{i}@probe.example");
        let login = json!({"email": email, "password": "probe-password", "role": "technician", "technician_id": id});
        tech_tokens.push(app.new_login(&admin, &login).await?);
        techs.push(id);
    }
    let dispatcher = app
        .new_login(
            &admin,
            &json!({"email": "review-dispatcher@probe.example", "password": "probe-password", "role": "dispatcher", "org_id": org}),
        )
        .await?;
    Ok(Fixture {
        org,
        reviewer: app.login("reviewer@demo.sortie").await?,
        customer: app.login("customer@demo.sortie").await?,
        admin,
        dispatcher,
        techs,
        tech_tokens,
    })
}

/// A booking needing `skill`, for a window opening within the hour (the phone may set off to it at once).
fn probe_booking(app: &TestApp, skill: &str) -> Value {
    let mut b = booking();
    b["window"] = soon(app.clock.now(), 1, 3);
    b["location"] = json!({"lat": LAT, "lon": LON});
    b["required_skills"] = json!([skill]);
    b
}

impl Fixture {
    /// Books a `probe` job; dispatch offers it to the fixture's organisation, whose dispatcher accepts it
    /// for technician `tech`. Returns the booking's answer.
    async fn scheduled_job(&self, app: &TestApp, tech: usize) -> anyhow::Result<Resp> {
        let booked = app.book(&self.customer, &probe_booking(app, "probe"), None).await?;
        anyhow::ensure!(booked.status == StatusCode::CREATED, "{}", booked.body);
        let id = booked.str("id");
        let job = app.get(&format!("/v1/jobs/{id}"), &self.dispatcher).await?;
        anyhow::ensure!(job.body["offer"]["org_id"] == self.org.as_str(), "{}", job.body);
        let r = app
            .post(&format!("/v1/jobs/{id}/accept"), &self.dispatcher, &json!({"technician_id": self.techs[tech]}))
            .await?;
        anyhow::ensure!(r.status == StatusCode::OK && r.body["status"] == "scheduled", "{}", r.body);
        Ok(booked)
    }
}

fn time(v: &Value) -> DateTime<Utc> {
    v.as_str().and_then(|s| DateTime::parse_from_rfc3339(s).ok()).map(|t| t.with_timezone(&Utc)).unwrap_or_default()
}

/// Pending reviews as the reviewer sees them.
async fn pending(app: &TestApp, reviewer: &str) -> anyhow::Result<Vec<Value>> {
    let r = app.get("/v1/reviews?status=pending", reviewer).await?;
    anyhow::ensure!(r.status == StatusCode::OK, "{}", r.body);
    Ok(r.body["items"].as_array().cloned().unwrap_or_default())
}

async fn a_returned_job_goes_back_to_its_technician_with_the_reason_and_is_approved_after_a_second_visit(
    backend: Backend,
) -> anyhow::Result<()> {
    // Arrange: a scheduled job and the technician's phone.
    let app = TestApp::spawn(backend).await?;
    let f = fixture(&app).await?;
    let booked = f.scheduled_job(&app, 0).await?;
    let job = booked.str("id");
    let mut phone = Phone::register(&app, &f.tech_tokens[0]).await?;
    assert_eq!(phone.pull_job(&job).await?["status"], "scheduled");

    // Act 1: the first visit, with a full report, completed.
    phone
        .push(&[
            set_status(&job, "en_route"),
            set_status(&job, "on_site"),
            ("job.add_note", json!({"job_id": job, "note_id": uuid::Uuid::new_v4(), "text": "replaced the PSU"})),
            (
                "job.add_part",
                json!({"job_id": job, "part_use_id": uuid::Uuid::new_v4(), "sku": "psu-12v", "qty": 1, "serial": "SN-1"}),
            ),
            (
                "job.attach_photo",
                json!({"job_id": job, "photo_id": uuid::Uuid::new_v4(), "sha256": SHA_HELLO, "taken_at": Utc::now().to_rfc3339()}),
            ),
            ("job.sign", json!({"job_id": job, "signer_name": "Ivan Petrov", "image_sha256": SHA_HELLO})),
            set_status(&job, "completed"),
        ])
        .await?;
    let put = app
        .client
        .put(format!("{}/v1/photos/{SHA_HELLO}", app.base))
        .bearer_auth(&f.tech_tokens[0])
        .body(HELLO.to_vec())
        .send()
        .await?;
    assert!(put.status().is_success(), "{}", put.status());

    // Assert 1: the reviewer's queue carries the report, and the photo downloads.
    let items = pending(&app, &f.reviewer).await?;
    let item = items.iter().find(|i| i["job"]["id"] == job.as_str()).cloned().unwrap_or_default();
    assert_eq!(item["job"]["status"], "in_review", "{item}");
    assert_eq!(item["job"]["technician"]["id"], f.techs[0].as_str());
    assert_eq!(item["job"]["technician"]["name"], "Review Tech 0");
    assert_eq!(item["visits_count"], 1);
    assert_eq!(item["visits"][0]["visit"], 1);
    assert_eq!(item["visits"][0]["outcome"], "completed");
    assert_eq!(item["report"]["notes"][0]["text"], "replaced the PSU");
    assert_eq!(item["report"]["parts"][0], json!({"sku": "psu-12v", "qty": 1, "serial": "SN-1"}));
    assert_eq!(item["report"]["photos"][0]["url"], format!("/v1/photos/{SHA_HELLO}"));
    assert_eq!(item["report"]["photos"][0]["uploaded"], true);
    assert_eq!(item["report"]["signature"]["signer_name"], "Ivan Petrov");
    assert!(item["chain"].as_array().is_some_and(|c| c.iter().any(|h| h["org_id"] == f.org.as_str())), "{item}");
    let photo = app.client.get(format!("{}/v1/photos/{SHA_HELLO}", app.base)).bearer_auth(&f.reviewer).send().await?;
    assert_eq!(photo.status(), StatusCode::OK);
    assert_eq!(photo.headers()["x-content-type-options"], "nosniff");
    assert!(photo.headers()["cache-control"].to_str()?.starts_with("private"));
    assert_eq!(photo.bytes().await?.as_ref(), HELLO);
    let customer_photo = app.get(&format!("/v1/photos/{SHA_HELLO}"), &f.customer).await?;
    assert_eq!(customer_photo.status, StatusCode::FORBIDDEN);

    // Act 2: the reviewer returns the work.
    let reason = "The receipt printer still jams: replace the roller too";
    let r = review(&app, &f.reviewer, &job, json!({"verdict": "return", "reason": reason})).await?;

    // Assert 2: back to the same technician, and the phone pulls the reason with an open report.
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["status"], "scheduled");
    assert_eq!(r.body["technician_id"], f.techs[0].as_str());
    assert_eq!(r.body["review"]["verdict"], "returned");
    assert_eq!(r.body["review"]["visit"], 1);
    let on_phone = &phone.pull_job(&job).await?;
    assert_eq!(on_phone["status"], "scheduled", "{on_phone}");
    assert_eq!(on_phone["rework"]["reason"], reason);
    assert_eq!(on_phone["rework"]["visit"], 1);
    assert_eq!(on_phone["report"]["locked"], false);
    assert_eq!(on_phone["report"]["visits"].as_array().map(Vec::len), Some(1));
    let again = review(&app, &f.reviewer, &job, json!({"verdict": "approve"})).await?;
    assert_eq!((again.status, again.code()), (StatusCode::CONFLICT, "not_in_review"), "{}", again.body);
    assert_eq!(again.body["error"]["current"]["status"], "scheduled", "{}", again.body);
    let returned = app.get("/v1/reviews?status=returned", &f.reviewer).await?;
    assert!(returned.body["items"].as_array().is_some_and(|i| i.iter().any(|i| i["job"]["id"] == job.as_str())));

    // Act 3: the second visit, completed, and approved.
    phone.push(&[set_status(&job, "en_route"), set_status(&job, "on_site"), set_status(&job, "completed")]).await?;
    let item = pending(&app, &f.reviewer).await?.into_iter().find(|i| i["job"]["id"] == job.as_str());
    let item = item.unwrap_or_default();
    assert_eq!(item["visits_count"], 2, "{item}");
    assert_eq!(
        item["visits"].as_array().map(|v| v.iter().map(|v| v["visit"].clone()).collect()),
        Some(vec![json!(1), json!(2)])
    );
    assert_eq!(item["reviews"][0]["verdict"], "returned");
    assert_eq!(item["reviews"][0]["reason"], reason);
    let r = review(&app, &f.reviewer, &job, json!({"verdict": "approve"})).await?;

    // Assert 3: closed; the phone drops it; the events show the hops' SLA; the link expires 72 h later.
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["status"], "approved");
    assert_eq!(r.body["review"]["visit"], 2);
    assert_eq!(phone.pull_job(&job).await?, "deleted");
    let ev = events(&app, &f.reviewer, &job).await?;
    let types: Vec<&str> = ev["items"].as_array().into_iter().flatten().filter_map(|e| e["type"].as_str()).collect();
    assert!(types.contains(&"review_returned") && types.last() == Some(&"review_approved"), "{types:?}");
    let ours = hop(&ev, &f.org);
    // Accepted right after the offer, long before its deadline.
    assert!(time(&ours["answered_at"]) <= time(&ours["deadline"]), "{ours}");
    assert_eq!(ours["sla"]["accept"], "met", "{ours}");
    // On site before the window even opened.
    assert_eq!(ours["sla"]["arrive"], "met", "{ours}");
    assert_eq!(ours["sla"]["first_time_fix"], "missed", "a return misses first-time fix: {ours}");
    let vendor = app.org("vendor").await?.id;
    assert_eq!(hop(&ev, &vendor)["sla"]["accept"], Value::Null, "the contractor had no offer: {ev}");
    let track = format!("/v1/track/{}", booked.str("tracking_token"));
    assert_eq!(app.call(Method::GET, &track, None, None).await?.status, StatusCode::OK);
    app.clock.advance(Duration::hours(73));
    assert_eq!(app.call(Method::GET, &track, None, None).await?.status, StatusCode::NOT_FOUND);
    Ok(())
}

async fn a_late_arrival_misses_the_arrive_promise_and_an_approval_without_rework_meets_first_time_fix(
    backend: Backend,
) -> anyhow::Result<()> {
    // Arrange
    let app = TestApp::spawn(backend).await?;
    let f = fixture(&app).await?;
    let job = f.scheduled_job(&app, 0).await?.str("id");
    let ev = events(&app, &f.dispatcher, &job).await?;
    assert_eq!(hop(&ev, &f.org)["sla"]["arrive"], "open", "{ev}");
    assert_eq!(hop(&ev, &f.org)["sla"]["first_time_fix"], "open", "{ev}");
    let mut phone = Phone::register(&app, &f.tech_tokens[0]).await?;

    // Act: the technician arrives four days later (the server's clock), then the work is approved.
    app.clock.advance(Duration::days(4));
    phone.push(&[set_status(&job, "en_route"), set_status(&job, "on_site"), set_status(&job, "completed")]).await?;
    let r = review(&app, &f.reviewer, &job, json!({"verdict": "approve", "reason": "clean work"})).await?;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);

    // Assert
    let ev = events(&app, &f.dispatcher, &job).await?;
    let ours = hop(&ev, &f.org);
    assert_eq!(ours["sla"], json!({"accept": "met", "arrive": "missed", "first_time_fix": "met"}), "{ours}");
    assert_eq!(ours["answer"], "accepted");
    let approved = app.get("/v1/reviews?status=approved", &f.reviewer).await?;
    assert!(approved.body["items"].as_array().is_some_and(|i| i.iter().any(|i| i["job"]["id"] == job.as_str())));
    Ok(())
}

async fn two_racing_reviews_of_the_same_visit_leave_exactly_one_verdict(backend: Backend) -> anyhow::Result<()> {
    // Arrange
    let app = TestApp::spawn(backend).await?;
    let replica = app.replica().await?;
    let f = fixture(&app).await?;
    let job = f.scheduled_job(&app, 0).await?.str("id");
    let mut phone = Phone::register(&app, &f.tech_tokens[0]).await?;
    phone.push(&[set_status(&job, "en_route"), set_status(&job, "on_site"), set_status(&job, "completed")]).await?;

    // Act: approve on one replica, return on the other, at once.
    let (a, b) = tokio::join!(
        review(&app, &f.reviewer, &job, json!({"verdict": "approve"})),
        review(&replica, &f.admin, &job, json!({"verdict": "return", "reason": "redo"})),
    );
    let (a, b) = (a?, b?);

    // Assert
    let mut statuses = [a.status, b.status];
    statuses.sort();
    assert_eq!(statuses, [StatusCode::OK, StatusCode::CONFLICT], "{} / {}", a.body, b.body);
    let loser = if a.status == StatusCode::CONFLICT { &a } else { &b };
    assert!(["not_in_review", "already_reviewed"].contains(&loser.code()), "{}", loser.body);
    let verdicts = app
        .with_db({
            let job = job.clone();
            move |conn| {
                use api::db::schema::reviews;
                use diesel::prelude::*;
                Ok(reviews::table.filter(reviews::job_id.eq(job)).count().get_result::<i64>(conn)?)
            }
        })
        .await?;
    assert_eq!(verdicts, 1);
    Ok(())
}

async fn bad_reviews_are_refused_with_clear_errors_and_change_nothing(backend: Backend) -> anyhow::Result<()> {
    // Arrange: one job in review, one still scheduled.
    let app = TestApp::spawn(backend).await?;
    let f = fixture(&app).await?;
    let job = f.scheduled_job(&app, 0).await?.str("id");
    let scheduled = f.scheduled_job(&app, 1).await?.str("id");
    let mut phone = Phone::register(&app, &f.tech_tokens[0]).await?;
    phone.push(&[set_status(&job, "en_route"), set_status(&job, "on_site"), set_status(&job, "completed")]).await?;
    let before = events(&app, &f.reviewer, &job).await?["items"].as_array().map(Vec::len);
    let unknown = uuid::Uuid::new_v4().to_string();
    let (reviewer, partner, technician, customer) =
        (f.reviewer.as_str(), f.dispatcher.as_str(), f.tech_tokens[0].as_str(), f.customer.as_str());
    let (job_id, scheduled_id, unknown_id) = (job.as_str(), scheduled.as_str(), unknown.as_str());
    let long = "x".repeat(2001);

    // Act + Assert: each one refused.
    // (what, token, job, body, status, code, field)
    let cases: Vec<(&str, &str, &str, Value, StatusCode, &str, &str)> = vec![
        (
            "unknown verdict",
            reviewer,
            job_id,
            json!({"verdict": "maybe"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_value",
            "verdict",
        ),
        (
            "return without a reason",
            reviewer,
            job_id,
            json!({"verdict": "return"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_value",
            "reason",
        ),
        (
            "blank reason",
            reviewer,
            job_id,
            json!({"verdict": "return", "reason": "  "}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_value",
            "reason",
        ),
        (
            "reason too long",
            reviewer,
            job_id,
            json!({"verdict": "return", "reason": long}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_value",
            "reason",
        ),
        (
            "redispatch with approve",
            reviewer,
            job_id,
            json!({"verdict": "approve", "redispatch": true}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_value",
            "redispatch",
        ),
        (
            "unknown field",
            reviewer,
            job_id,
            json!({"verdict": "approve", "score": 5}),
            StatusCode::BAD_REQUEST,
            "unknown_field",
            "score",
        ),
        (
            "missing verdict",
            reviewer,
            job_id,
            json!({"reason": "fine"}),
            StatusCode::BAD_REQUEST,
            "missing_field",
            "verdict",
        ),
        (
            "not in review",
            reviewer,
            scheduled_id,
            json!({"verdict": "approve"}),
            StatusCode::CONFLICT,
            "not_in_review",
            "",
        ),
        ("partner dispatcher", partner, job_id, json!({"verdict": "approve"}), StatusCode::FORBIDDEN, "forbidden", ""),
        ("technician", technician, job_id, json!({"verdict": "approve"}), StatusCode::FORBIDDEN, "forbidden", ""),
        ("customer", customer, job_id, json!({"verdict": "approve"}), StatusCode::FORBIDDEN, "forbidden", ""),
        ("unknown job", reviewer, unknown_id, json!({"verdict": "approve"}), StatusCode::NOT_FOUND, "not_found", ""),
    ];
    for (what, token, id, body, want, code, field) in cases {
        let r = review(&app, token, id, body).await?;
        assert_eq!(r.status, want, "{what}: {}", r.body);
        if !code.is_empty() {
            assert_eq!(r.code(), code, "{what}: {}", r.body);
        }
        if !field.is_empty() {
            assert_eq!(r.field(), field, "{what}: {}", r.body);
        }
    }
    let q = app.get("/v1/reviews?status=everything", &f.reviewer).await?;
    assert_eq!((q.status, q.code()), (StatusCode::UNPROCESSABLE_ENTITY, "invalid_value"), "{}", q.body);
    assert_eq!(app.get("/v1/reviews", &f.dispatcher).await?.status, StatusCode::FORBIDDEN);

    // Nothing changed.
    let item = pending(&app, &f.reviewer).await?.into_iter().find(|i| i["job"]["id"] == job.as_str());
    assert_eq!(item.as_ref().map(|i| i["reviews"].clone()), Some(json!([])), "{item:?}");
    assert_eq!(events(&app, &f.reviewer, &job).await?["items"].as_array().map(Vec::len), before);
    Ok(())
}

async fn a_return_with_redispatch_takes_the_job_off_the_technician_and_dispatches_it_again(
    backend: Backend,
) -> anyhow::Result<()> {
    // Arrange
    let app = TestApp::spawn(backend).await?;
    let f = fixture(&app).await?;
    let job = f.scheduled_job(&app, 0).await?.str("id");
    let mut phone = Phone::register(&app, &f.tech_tokens[0]).await?;
    phone.push(&[set_status(&job, "en_route"), set_status(&job, "on_site"), set_status(&job, "completed")]).await?;
    phone.pull().await?;

    // Act
    let r = review(
        &app,
        &f.reviewer,
        &job,
        json!({"verdict": "return", "reason": "send someone else", "redispatch": true}),
    )
    .await?;

    // Assert: offered again, to the other technician's organisation, without the first technician.
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["status"], "offered", "{}", r.body);
    assert_eq!(r.body["technician_id"], Value::Null);
    assert_eq!(phone.pull_job(&job).await?, "deleted");
    let ex = app.get(&format!("/v1/jobs/{job}/explanation"), &f.dispatcher).await?;
    let last = ex.body["decisions"].as_array().and_then(|d| d.last()).cloned().unwrap_or_default();
    assert_eq!(last["chosen"], f.techs[1].as_str(), "{last}");
    let accepted = app.post(&format!("/v1/jobs/{job}/accept"), &f.dispatcher, &json!({})).await?;
    assert_eq!(accepted.body["technician_id"], f.techs[1].as_str(), "{}", accepted.body);
    Ok(())
}

/// A job nobody can do: it needs a skill no technician has.
async fn unassignable_job(app: &TestApp, f: &Fixture, skill: &str) -> anyhow::Result<String> {
    let booked = app.book(&f.customer, &probe_booking(app, skill), None).await?;
    anyhow::ensure!(booked.status == StatusCode::CREATED, "{}", booked.body);
    anyhow::ensure!(booked.body["status"] == "unassignable", "{}", booked.body);
    Ok(booked.str("id"))
}

async fn the_unassignable_queue_can_offer_assign_and_dispatch_again(backend: Backend) -> anyhow::Result<()> {
    // Arrange
    let app = TestApp::spawn(backend).await?;
    let f = fixture(&app).await?;
    let vendor_dispatcher = app.login("dispatcher@vendor.demo.sortie").await?;
    let offered = unassignable_job(&app, &f, "rare_probe").await?;
    let assigned = unassignable_job(&app, &f, "rare_probe").await?;
    let again = unassignable_job(&app, &f, "rare_probe").await?;
    let vendor = app.org("vendor").await?.id;

    // Act + Assert: offer to a chosen organisation, with its deadline.
    let r = app.post(&format!("/v1/jobs/{offered}/offer"), &vendor_dispatcher, &json!({"org_id": f.org})).await?;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!((r.body["status"].clone(), r.body["offer_org_id"].clone()), (json!("offered"), json!(f.org)));
    let job = app.get(&format!("/v1/jobs/{offered}"), &f.dispatcher).await?;
    assert!(job.body["offer"]["deadline"].is_string(), "{}", job.body);
    let twice = app.post(&format!("/v1/jobs/{offered}/offer"), &vendor_dispatcher, &json!({"org_id": f.org})).await?;
    assert_eq!((twice.status, twice.code()), (StatusCode::CONFLICT, "invalid_transition"), "{}", twice.body);
    assert_eq!(twice.body["error"]["current"]["status"], "offered");
    let to_vendor = app.post(&format!("/v1/jobs/{assigned}/offer"), &f.admin, &json!({"org_id": vendor})).await?;
    assert_eq!((to_vendor.status, to_vendor.field()), (StatusCode::UNPROCESSABLE_ENTITY, "org_id"));
    // A partner's dispatcher does not see the vendor's queue.
    let partner = app.post(&format!("/v1/jobs/{assigned}/redispatch"), &f.dispatcher, &json!({})).await?;
    assert_eq!(partner.status, StatusCode::NOT_FOUND, "{}", partner.body);
    assert_eq!(
        app.post(&format!("/v1/jobs/{assigned}/redispatch"), &f.customer, &json!({})).await?.status,
        StatusCode::FORBIDDEN
    );

    // Assign a chosen technician directly.
    let r = app
        .post(&format!("/v1/jobs/{assigned}/assign"), &vendor_dispatcher, &json!({"technician_id": f.techs[1]}))
        .await?;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!((r.body["status"].clone(), r.body["technician_id"].clone()), (json!("scheduled"), json!(f.techs[1])));
    let mut phone = Phone::register(&app, &f.tech_tokens[1]).await?;
    assert_eq!(phone.pull_job(&assigned).await?["status"], "scheduled");

    // Dispatch again: nobody yet, then after a technician with the skill joins.
    let r = app.call(Method::POST, &format!("/v1/jobs/{again}/redispatch"), Some(&f.admin), None).await?;
    assert_eq!((r.status, r.body["status"].clone()), (StatusCode::OK, json!("unassignable")), "{}", r.body);
    let newcomer = technician(&app, &f.admin, &f.org, "Rare Tech", "rare_probe", 3.0).await?;
    let r = app.post(&format!("/v1/jobs/{again}/redispatch"), &vendor_dispatcher, &json!({})).await?;
    assert_eq!((r.status, r.body["offer_org_id"].clone()), (StatusCode::OK, json!(f.org)), "{}", r.body);
    let accepted = app.post(&format!("/v1/jobs/{again}/accept"), &f.dispatcher, &json!({})).await?;
    assert_eq!(accepted.body["technician_id"], newcomer.as_str(), "{}", accepted.body);
    let scheduled = app.post(&format!("/v1/jobs/{again}/redispatch"), &f.admin, &json!({})).await?;
    assert_eq!((scheduled.status, scheduled.code()), (StatusCode::CONFLICT, "invalid_transition"));
    Ok(())
}

async fn a_customer_reschedule_of_an_unassignable_job_dispatches_it_again(backend: Backend) -> anyhow::Result<()> {
    // Arrange: an unassignable job, then a technician who can do it.
    let app = TestApp::spawn(backend).await?;
    let f = fixture(&app).await?;
    let job = unassignable_job(&app, &f, "rare_probe").await?;
    technician(&app, &f.admin, &f.org, "Rare Tech", "rare_probe", 3.0).await?;
    let mut window = probe_booking(&app, "rare_probe")["window"].clone();
    for k in ["start", "end"] {
        let t = time(&window[k]) + Duration::days(1);
        window[k] = json!(t.to_rfc3339());
    }

    // Act
    let r = app.post(&format!("/v1/requests/{job}/reschedule"), &f.customer, &json!({"window": window})).await?;

    // Assert
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let seen = app.get(&format!("/v1/jobs/{job}"), &f.admin).await?;
    assert_eq!(seen.body["status"], "offered", "{}", seen.body);
    assert_eq!(seen.body["offer"]["org_id"], f.org.as_str());
    Ok(())
}
