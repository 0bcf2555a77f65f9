//! The quality loop end to end: surveys issued on approval (or completion),
//! read and answered once through their link; scorecards of a technician,
//! its organisation, the parent partner and the vendor with figures computed
//! by hand; the partners' Service section, scoped to their subtree.
//!
//! The vendor review (`POST /v1/jobs/{id}/review`) is not built yet: these
//! tests drive a job to `in_review` through the real API and phone protocol,
//! then approve it in SQL and call `api::app::quality::job_approved` in the
//! same transaction, exactly where the review will. A return for rework is
//! likewise written as its `review_returned` event. The review's own e2e
//! test will cover the real path.

use api::clock::Clock as _;
use api::domain::{EventType, JobStatus};
use api::storage::{db_time, jobs};
use chrono::{Duration, Utc};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::both_backends;
use crate::helpers::{Backend, TestApp, booking};

both_backends!(
    scorecards_of_technician_org_parent_and_vendor_show_the_figures_computed_by_hand,
    a_survey_is_issued_on_approval_read_without_personal_data_answered_once_and_expires,
    bad_survey_answers_are_refused_and_change_nothing,
    surveys_can_be_issued_on_completion_instead,
    a_sibling_partner_gets_404_on_the_service_section_and_sees_none_of_it_in_its_own,
    scorecards_are_for_staff_in_scope_only,
    quality_breaks_a_near_tie_in_dispatch,
);

const LAT: f64 = 60.0;
const LON: f64 = 100.0;
const SKILL: &str = "quality_probe";

/// vendor → partner A → sub-partner A1 (one technician with a login); a
/// sibling partner B. A dispatcher in each.
struct Network {
    admin: String,
    customer: String,
    vendor: String,
    a: String,
    a1: String,
    b: String,
    tech: String,
    tech_token: String,
    dispatcher_a: String,
    dispatcher_a1: String,
    dispatcher_b: String,
}

async fn login(app: &TestApp, email: &str) -> anyhow::Result<String> {
    let r = app
        .call(Method::POST, "/v1/auth/login", None, Some(&json!({"email": email, "password": "probe-password"})))
        .await?;
    anyhow::ensure!(r.status == StatusCode::OK, "login {email}: {}", r.body);
    Ok(r.str("access_token"))
}

async fn org(app: &TestApp, admin: &str, parent: &str, name: &str) -> anyhow::Result<String> {
    let r = app
        .post("/v1/orgs", admin, &json!({"parent_id": parent, "name": name, "timezone": "Asia/Krasnoyarsk"}))
        .await?;
    anyhow::ensure!(r.status == StatusCode::CREATED, "{}", r.body);
    Ok(r.str("id"))
}

async fn user(app: &TestApp, admin: &str, email: &str, extra: Value) -> anyhow::Result<String> {
    let mut body = json!({"email": email, "password": "probe-password"});
    for (k, v) in extra.as_object().into_iter().flatten() {
        body[k] = v.clone();
    }
    let r = app.post("/v1/users", admin, &body).await?;
    anyhow::ensure!(r.status == StatusCode::CREATED, "{}", r.body);
    login(app, email).await
}

async fn network(app: &TestApp) -> anyhow::Result<Network> {
    let admin = app.login("admin@demo.sortie").await?;
    let vendor = app.org("vendor").await?.id;
    let a = org(app, &admin, &vendor, "Quality Partner A").await?;
    let a1 = org(app, &admin, &a, "Quality Sub A1").await?;
    let b = org(app, &admin, &vendor, "Quality Partner B").await?;
    let t = app
        .post(
            "/v1/technicians",
            &admin,
            &json!({"org_id": a1, "name": "Olga Smirnova", "skills": [SKILL],
                "home_base": {"lat": LAT + 0.05, "lon": LON}, "shift": {"start": "00:00", "end": "23:59"},
                "timezone": "Asia/Krasnoyarsk", "daily_capacity": 40}),
        )
        .await?;
    anyhow::ensure!(t.status == StatusCode::CREATED, "{}", t.body);
    let tech = t.str("id");
    let tech_token =
        user(app, &admin, "q-tech@probe.example", json!({"role": "technician", "technician_id": tech})).await?;
    let dispatcher_a = user(app, &admin, "q-a@probe.example", json!({"role": "dispatcher", "org_id": a})).await?;
    let dispatcher_a1 = user(app, &admin, "q-a1@probe.example", json!({"role": "dispatcher", "org_id": a1})).await?;
    let dispatcher_b = user(app, &admin, "q-b@probe.example", json!({"role": "dispatcher", "org_id": b})).await?;
    let customer = app.login("customer@demo.sortie").await?;
    Ok(Network { admin, customer, vendor, a, a1, b, tech, tech_token, dispatcher_a, dispatcher_a1, dispatcher_b })
}

impl Network {
    /// Books a job only our technician can do and has A1's dispatcher accept it for them.
    async fn scheduled_job(&self, app: &TestApp) -> anyhow::Result<String> {
        let mut b = booking();
        b["location"] = json!({"lat": LAT, "lon": LON});
        b["required_skills"] = json!([SKILL]);
        let booked = app.book(&self.customer, &b, None).await?;
        anyhow::ensure!(booked.status == StatusCode::CREATED, "{}", booked.body);
        let id = booked.str("id");
        let r = app
            .post(&format!("/v1/jobs/{id}/accept"), &self.dispatcher_a1, &json!({"technician_id": self.tech}))
            .await?;
        anyhow::ensure!(r.status == StatusCode::OK && r.body["status"] == "scheduled", "{}", r.body);
        Ok(id)
    }

    /// The technician's phone reports the visit: on the way, on site, completed (→ `in_review`).
    async fn complete(&self, app: &TestApp, job: &str) -> anyhow::Result<()> {
        let d = app
            .post(
                "/v1/devices",
                &self.tech_token,
                &json!({"platform": "android", "push_token": "fcm-token", "app_version": "1.4.0"}),
            )
            .await?;
        anyhow::ensure!(d.status == StatusCode::CREATED, "{}", d.body);
        let mutations: Vec<Value> = ["en_route", "on_site", "completed"]
            .iter()
            .enumerate()
            .map(|(i, s)| {
                json!({"seq": i + 1, "id": uuid::Uuid::new_v4().to_string(), "name": "job.set_status",
                    "args": {"job_id": job, "status": s}})
            })
            .collect();
        let r = app
            .post("/v1/sync/push", &self.tech_token, &json!({"device_id": d.str("device_id"), "mutations": mutations}))
            .await?;
        anyhow::ensure!(r.status == StatusCode::OK, "{}", r.body);
        for result in r.body["results"].as_array().into_iter().flatten() {
            anyhow::ensure!(result["status"] == "applied", "{}", r.body);
        }
        Ok(())
    }

    /// A job scheduled, completed on the phone and approved.
    async fn approved_job(&self, app: &TestApp) -> anyhow::Result<String> {
        let job = self.scheduled_job(app).await?;
        self.complete(app, &job).await?;
        approve(app, &job).await?;
        Ok(job)
    }
}

/// Stands in for the review's approval: `in_review` → `approved` and
/// `job_approved` in one transaction (no review API exists yet).
async fn approve(app: &TestApp, job: &str) -> anyhow::Result<()> {
    let job = job.to_owned();
    let now = app.clock.now();
    app.with_db(move |conn| {
        Ok(api::db::write_tx(conn, |conn| {
            let step = api::domain::lifecycle::check(
                JobStatus::InReview,
                JobStatus::Approved,
                api::domain::lifecycle::Actor::Reviewer,
            )
            .expect("the review may approve");
            let moved = jobs::set_status(conn, &job, step, db_time(now))?;
            assert!(moved, "job {job} was not in review");
            let actor = jobs::Actor { user_id: None, org_id: None };
            jobs::append_event(
                conn,
                &job,
                EventType::ReviewApproved,
                actor,
                &json!({"status": "approved"}),
                db_time(now),
            )?;
            api::app::quality::job_approved(conn, &job, now)
        })?)
    })
    .await
}

/// Stands in for a review that returned the work once (its event is what the roll-up counts).
async fn record_return(app: &TestApp, job: &str) -> anyhow::Result<()> {
    let job = job.to_owned();
    let now = db_time(app.clock.now());
    app.with_db(move |conn| {
        let actor = jobs::Actor { user_id: None, org_id: None };
        jobs::append_event(conn, &job, EventType::ReviewReturned, actor, &json!({"reason": "photo missing"}), now)?;
        Ok(())
    })
    .await
}

/// The job's survey token, read from the database (the notifications issue sends it by SMS/e-mail).
async fn survey_token(app: &TestApp, job: &str) -> anyhow::Result<Option<String>> {
    let job = job.to_owned();
    app.with_db(move |conn| Ok(api::storage::quality::find_by_job(conn, &job)?.map(|s| s.token))).await
}

fn answer(nps: i64, csat: i64, ces: i64, comment: Option<&str>) -> Value {
    let mut v = json!({"nps": nps, "csat": csat, "ces": ces});
    if let Some(c) = comment {
        v["comment"] = json!(c);
    }
    v
}

async fn scorecards_of_technician_org_parent_and_vendor_show_the_figures_computed_by_hand(
    backend: Backend,
) -> anyhow::Result<()> {
    // Arrange: one job, returned once by the review, then approved; the customer answers NPS 10.
    let app = TestApp::spawn(backend).await?;
    let n = network(&app).await?;
    let job = n.scheduled_job(&app).await?;
    n.complete(&app, &job).await?;
    record_return(&app, &job).await?;
    approve(&app, &job).await?;
    let token = survey_token(&app, &job).await?.expect("a survey is issued on approval");
    let r =
        app.call(Method::POST, &format!("/v1/surveys/{token}"), None, Some(&answer(10, 5, 2, Some("Great")))).await?;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.body);

    // Act + Assert: every level shows the same job.
    let technician = app.get(&format!("/v1/technicians/{}/scorecard", n.tech), &n.dispatcher_a1).await?;
    let sub = app.get(&format!("/v1/orgs/{}/scorecard", n.a1), &n.dispatcher_a1).await?;
    let parent = app.get(&format!("/v1/orgs/{}/scorecard", n.a), &n.dispatcher_a).await?;
    let vendor = app.get(&format!("/v1/orgs/{}/scorecard", n.vendor), &n.admin).await?;
    for (who, r) in [("technician", &technician), ("A1", &sub), ("A", &parent), ("vendor", &vendor)] {
        assert_eq!(r.status, StatusCode::OK, "{who}: {}", r.body);
        let s = &r.body;
        assert_eq!(s["jobs_completed"], 1, "{who}: {s}");
        assert_eq!(s["visits"], 1, "{who}: {s}");
        assert_eq!(s["first_time_fix_rate"], 0.0, "{who}: first-time fix 0 of 1: {s}");
        assert_eq!(s["counts"]["first_time_fix"], json!({"count": 0, "of": 1}), "{who}");
        assert_eq!(s["rework_rate"], 1.0, "{who}: rework 1 of 1: {s}");
        assert_eq!(s["incomplete_rate"], 0.0, "{who}");
        assert_eq!(s["arrive_sla_met_rate"], 1.0, "{who}: on site before the window opened: {s}");
        assert_eq!(
            s["nps"],
            json!({"score": 100.0, "promoters": 1, "passives": 0, "detractors": 0, "responses": 1}),
            "{who}"
        );
        assert_eq!(s["csat"], json!({"score": 100.0, "responses": 1}), "{who}");
        assert_eq!(s["ces"], json!({"average": 2.0, "responses": 1}), "{who}");
    }
    // Offers go to organisations: A1 accepted its one offer in time; the technician has no accept figure.
    assert_eq!(technician.body["accept_sla_met_rate"], Value::Null);
    assert_eq!(technician.body["counts"]["accept_sla_met"], json!({"count": 0, "of": 0}));
    for r in [&sub, &parent, &vendor] {
        assert_eq!(r.body["counts"]["accept_sla_met"], json!({"count": 1, "of": 1}), "{}", r.body);
    }
    // The sibling partner has nothing; a period without the job is all zeros and nulls.
    let b = app.get(&format!("/v1/orgs/{}/scorecard", n.b), &n.dispatcher_b).await?;
    assert_eq!((b.body["jobs_completed"].clone(), b.body["nps"]["score"].clone()), (json!(0), Value::Null));
    let old = app.get(&format!("/v1/orgs/{}/scorecard?from=2020-01-01&to=2020-02-01", n.vendor), &n.admin).await?;
    assert_eq!(old.status, StatusCode::OK, "{}", old.body);
    assert_eq!((old.body["from"].clone(), old.body["to"].clone()), (json!("2020-01-01"), json!("2020-02-01")));
    assert_eq!(old.body["jobs_completed"], 0);
    assert_eq!(old.body["first_time_fix_rate"], Value::Null);
    // Approving twice (a retried hook) counts nothing twice.
    let again = job.clone();
    let now = app.clock.now();
    app.with_db(move |conn| Ok(api::db::write_tx(conn, |conn| api::app::quality::job_approved(conn, &again, now))?))
        .await?;
    let vendor = app.get(&format!("/v1/orgs/{}/scorecard", n.vendor), &n.admin).await?;
    assert_eq!(vendor.body["jobs_completed"], 1);
    Ok(())
}

async fn a_survey_is_issued_on_approval_read_without_personal_data_answered_once_and_expires(
    backend: Backend,
) -> anyhow::Result<()> {
    let app = TestApp::spawn(backend).await?;
    let n = network(&app).await?;
    let job = n.scheduled_job(&app).await?;
    n.complete(&app, &job).await?;
    assert_eq!(survey_token(&app, &job).await?, None, "not before approval (the default trigger)");
    let before = app.get(&format!("/v1/requests/{job}"), &n.customer).await?;
    assert_eq!(before.body["survey_url"], Value::Null, "{}", before.body);
    approve(&app, &job).await?;
    let token = survey_token(&app, &job).await?.expect("issued on approval");
    assert!(token.len() >= 24 && !token.contains(['/', '+', '=']), "{token}");

    // The customer sees the link on the request and the tracking view; the network does not.
    let mine = app.get(&format!("/v1/requests/{job}"), &n.customer).await?;
    assert_eq!(mine.body["survey_url"], format!("/survey/{token}"), "{}", mine.body);
    let theirs = app.get(&format!("/v1/requests/{job}"), &n.dispatcher_a1).await?;
    assert_eq!(theirs.status, StatusCode::OK, "{}", theirs.body);
    assert_eq!(theirs.body["survey_url"], Value::Null);
    let tracking = app.call(Method::GET, &format!("/v1/track/{}", mine.str("tracking_token")), None, None).await?;
    assert_eq!(tracking.body["survey_url"], format!("/survey/{token}"), "{}", tracking.body);

    // What is being rated, nothing personal.
    let r = app.call(Method::GET, &format!("/v1/surveys/{token}"), None, None).await?;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["kind"], "home_visit");
    assert_eq!(r.body["technician_first_name"], "Olga");
    assert_eq!(r.body["answered"], false);
    assert!(r.body["date"].as_str().is_some_and(|d| d.len() == 10), "{}", r.body);
    let text = r.body.to_string();
    for personal in ["Ivan", "Petrov", "+7 916", "123-45-67", "79161234567", "Tverskaya", "Smirnova"] {
        assert!(!text.contains(personal), "{personal} leaked: {text}");
    }

    // Answered once; the second answer is 409.
    let path = format!("/v1/surveys/{token}");
    let first = app.call(Method::POST, &path, None, Some(&answer(9, 4, 3, Some("On time, polite")))).await?;
    assert_eq!(first.status, StatusCode::NO_CONTENT, "{}", first.body);
    let second = app.call(Method::POST, &path, None, Some(&answer(0, 1, 7, None))).await?;
    assert_eq!((second.status, second.code()), (StatusCode::CONFLICT, "survey_answered"), "{}", second.body);
    let r = app.call(Method::GET, &path, None, None).await?;
    assert_eq!(r.body["answered"], true);
    let s = app.get(&format!("/v1/technicians/{}/scorecard", n.tech), &n.admin).await?;
    assert_eq!(s.body["nps"]["promoters"], 1, "the first answer stands: {}", s.body);
    assert_eq!(s.body["ces"]["average"], 3.0);

    // Unknown token: 404. A second job's survey, unanswered, expires after 30 days.
    let r = app.call(Method::GET, "/v1/surveys/no-such-token", None, None).await?;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let job2 = n.approved_job(&app).await?;
    let token2 = survey_token(&app, &job2).await?.expect("issued");
    let path2 = format!("/v1/surveys/{token2}");
    app.clock.advance(Duration::days(29));
    assert_eq!(app.call(Method::GET, &path2, None, None).await?.status, StatusCode::OK);
    app.clock.advance(Duration::days(1) + Duration::minutes(1));
    assert_eq!(app.call(Method::GET, &path2, None, None).await?.status, StatusCode::NOT_FOUND);
    let late = app.call(Method::POST, &path2, None, Some(&answer(10, 5, 1, None))).await?;
    assert_eq!((late.status, late.code()), (StatusCode::NOT_FOUND, "not_found"), "{}", late.body);
    let (from, to) = ((Utc::now() - Duration::days(5)).date_naive(), (Utc::now() + Duration::days(40)).date_naive());
    let s = app.get(&format!("/v1/technicians/{}/scorecard?from={from}&to={to}", n.tech), &n.admin).await?;
    assert_eq!(s.body["nps"]["responses"], 1, "the expired answer changed nothing: {}", s.body);
    Ok(())
}

async fn bad_survey_answers_are_refused_and_change_nothing(backend: Backend) -> anyhow::Result<()> {
    let app = TestApp::spawn(backend).await?;
    let n = network(&app).await?;
    let job = n.approved_job(&app).await?;
    let token = survey_token(&app, &job).await?.expect("issued");
    let path = format!("/v1/surveys/{token}");
    let long = "x".repeat(10_000);
    let just_over = "é".repeat(2001);
    let cases: Vec<(Value, StatusCode, &str, &str)> = vec![
        (answer(11, 5, 1, None), StatusCode::UNPROCESSABLE_ENTITY, "invalid_value", "nps"),
        (answer(-1, 5, 1, None), StatusCode::UNPROCESSABLE_ENTITY, "invalid_value", "nps"),
        (answer(10, 0, 1, None), StatusCode::UNPROCESSABLE_ENTITY, "invalid_value", "csat"),
        (answer(10, 6, 1, None), StatusCode::UNPROCESSABLE_ENTITY, "invalid_value", "csat"),
        (answer(10, 5, 8, None), StatusCode::UNPROCESSABLE_ENTITY, "invalid_value", "ces"),
        (answer(10, 5, 0, None), StatusCode::UNPROCESSABLE_ENTITY, "invalid_value", "ces"),
        (answer(10, 5, 1, Some(&long)), StatusCode::UNPROCESSABLE_ENTITY, "invalid_value", "comment"),
        (answer(10, 5, 1, Some(&just_over)), StatusCode::UNPROCESSABLE_ENTITY, "invalid_value", "comment"),
        (json!({"nps": 10, "csat": 5}), StatusCode::BAD_REQUEST, "", ""),
        (json!({"nps": 10, "csat": 5, "ces": 1, "stars": 5}), StatusCode::BAD_REQUEST, "", ""),
        (json!({"nps": 9.5, "csat": 5, "ces": 1}), StatusCode::UNPROCESSABLE_ENTITY, "invalid_value", "nps"),
        (json!({"nps": "10", "csat": 5, "ces": 1}), StatusCode::UNPROCESSABLE_ENTITY, "invalid_value", "nps"),
    ];
    for (body, status, code, field) in cases {
        let r = app.call(Method::POST, &path, None, Some(&body)).await?;
        let shown: String = body.to_string().chars().take(80).collect();
        assert_eq!(r.status, status, "{shown}: {}", r.body);
        if !code.is_empty() {
            assert_eq!((r.code(), r.field()), (code, field), "{shown}: {}", r.body);
        }
    }
    // Nothing changed: still open, no response counted; 2,000 characters exactly is fine.
    let r = app.call(Method::GET, &path, None, None).await?;
    assert_eq!(r.body["answered"], false);
    let s = app.get(&format!("/v1/orgs/{}/scorecard", n.vendor), &n.admin).await?;
    assert_eq!(s.body["nps"]["responses"], 0, "{}", s.body);
    let exactly = "é".repeat(2000);
    let ok = app.call(Method::POST, &path, None, Some(&answer(10, 5, 1, Some(&exactly)))).await?;
    assert_eq!(ok.status, StatusCode::NO_CONTENT, "{}", ok.body);
    let service = app.get(&format!("/v1/orgs/{}/service", n.a1), &n.dispatcher_a1).await?;
    assert_eq!(service.body["comments"]["items"][0]["comment"], exactly.as_str(), "stored as sent");
    Ok(())
}

async fn surveys_can_be_issued_on_completion_instead(backend: Backend) -> anyhow::Result<()> {
    let app = TestApp::spawn(backend).await?;
    let n = network(&app).await?;
    let r = app.get("/v1/settings/surveys", &n.admin).await?;
    assert_eq!(r.body, json!({"trigger": "approval"}));
    let forbidden = app
        .call(Method::PUT, "/v1/settings/surveys", Some(&n.dispatcher_a), Some(&json!({"trigger": "completion"})))
        .await?;
    assert_eq!(forbidden.status, StatusCode::FORBIDDEN);
    let bad =
        app.call(Method::PUT, "/v1/settings/surveys", Some(&n.admin), Some(&json!({"trigger": "sometimes"}))).await?;
    assert_eq!((bad.status, bad.field()), (StatusCode::UNPROCESSABLE_ENTITY, "trigger"), "{}", bad.body);
    let r =
        app.call(Method::PUT, "/v1/settings/surveys", Some(&n.admin), Some(&json!({"trigger": "completion"}))).await?;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(app.get("/v1/settings/surveys", &n.admin).await?.body, json!({"trigger": "completion"}));

    let job = n.scheduled_job(&app).await?;
    n.complete(&app, &job).await?;
    // The phone's `completed` ran the quality hook: the survey exists before any review.
    let token = survey_token(&app, &job).await?.expect("issued on completion");
    approve(&app, &job).await?;
    assert_eq!(survey_token(&app, &job).await?, Some(token), "approval keeps the same survey");
    Ok(())
}

async fn a_sibling_partner_gets_404_on_the_service_section_and_sees_none_of_it_in_its_own(
    backend: Backend,
) -> anyhow::Result<()> {
    let app = TestApp::spawn(backend).await?;
    let n = network(&app).await?;
    let mut tokens = Vec::new();
    for _ in 0..3 {
        let job = n.approved_job(&app).await?;
        tokens.push((job.clone(), survey_token(&app, &job).await?.expect("issued")));
    }
    for (i, (_, token)) in tokens.iter().enumerate() {
        let body = answer(10 - i as i64 * 4, 5, 2, Some(&format!("comment {i}")));
        let r = app.call(Method::POST, &format!("/v1/surveys/{token}"), None, Some(&body)).await?;
        assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.body);
    }

    // Partner A's dispatcher: its subtree, per child and technician, comments newest first, paged.
    let r = app.get(&format!("/v1/orgs/{}/service?limit=2", n.a), &n.dispatcher_a).await?;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["scorecard"]["jobs_completed"], 3);
    // NPS answers 10, 6, 2: one promoter, two detractors → (1 − 2) / 3 = −33.3.
    let score = r.body["scorecard"]["nps"]["score"].as_f64().unwrap_or_default();
    assert!((score + 100.0 / 3.0).abs() < 1e-9, "{score}");
    assert_eq!(r.body["children"].as_array().map(Vec::len), Some(1));
    assert_eq!(r.body["children"][0]["org_id"], n.a1.as_str());
    assert_eq!(r.body["children"][0]["scorecard"]["jobs_completed"], 3);
    assert_eq!(r.body["technicians"][0]["technician_id"], n.tech.as_str());
    assert_eq!(r.body["technicians"][0]["scorecard"]["nps"]["responses"], 3);
    let items = r.body["comments"]["items"].as_array().cloned().unwrap_or_default();
    assert_eq!(
        items.iter().map(|c| c["comment"].clone()).collect::<Vec<_>>(),
        [json!("comment 2"), json!("comment 1")]
    );
    assert_eq!(items[0]["technician_first_name"], "Olga");
    assert_eq!(items[0]["job_id"], tokens[2].0.as_str());
    let text = r.body.to_string();
    for personal in ["Ivan", "Petrov", "+7 916", "123-45-67", "79161234567", "Tverskaya"] {
        assert!(!text.contains(personal), "{personal} leaked");
    }
    let cursor = r.body["comments"]["next_cursor"].as_str().expect("a second page").to_owned();
    let page2 = app.get(&format!("/v1/orgs/{}/service?limit=2&cursor={cursor}", n.a), &n.dispatcher_a).await?;
    assert_eq!(page2.body["comments"]["items"][0]["comment"], "comment 0", "{}", page2.body);
    assert_eq!(page2.body["comments"]["next_cursor"], Value::Null);

    // The vendor sees it too.
    let r = app.get(&format!("/v1/orgs/{}/service", n.a), &n.admin).await?;
    assert_eq!(r.body["scorecard"]["jobs_completed"], 3);

    // Sibling B: 404 on A's section and A1's scorecard, and nothing of A in its own.
    for path in [
        format!("/v1/orgs/{}/service", n.a),
        format!("/v1/orgs/{}/service", n.a1),
        format!("/v1/orgs/{}/scorecard", n.a),
        format!("/v1/technicians/{}/scorecard", n.tech),
        format!("/v1/orgs/{}/service", n.vendor),
    ] {
        let r = app.get(&path, &n.dispatcher_b).await?;
        assert_eq!((r.status, r.code()), (StatusCode::NOT_FOUND, "not_found"), "{path}: {}", r.body);
    }
    let own = app.get(&format!("/v1/orgs/{}/service", n.b), &n.dispatcher_b).await?;
    assert_eq!(own.status, StatusCode::OK, "{}", own.body);
    assert_eq!(own.body["scorecard"]["jobs_completed"], 0);
    assert_eq!(own.body["technicians"], json!([]));
    assert_eq!(own.body["comments"]["items"], json!([]));
    // A sub-partner does not see its parent's section either.
    let up = app.get(&format!("/v1/orgs/{}/service", n.a), &n.dispatcher_a1).await?;
    assert_eq!(up.status, StatusCode::NOT_FOUND);
    Ok(())
}

async fn scorecards_are_for_staff_in_scope_only(backend: Backend) -> anyhow::Result<()> {
    let app = TestApp::spawn(backend).await?;
    let n = network(&app).await?;
    for token in [&n.customer, &n.tech_token] {
        for path in [
            format!("/v1/orgs/{}/scorecard", n.a1),
            format!("/v1/technicians/{}/scorecard", n.tech),
            format!("/v1/orgs/{}/service", n.a1),
        ] {
            let r = app.get(&path, token).await?;
            assert_eq!(r.status, StatusCode::FORBIDDEN, "{path}: {}", r.body);
        }
    }
    let reviewer = app.login("reviewer@demo.sortie").await?;
    assert_eq!(app.get(&format!("/v1/orgs/{}/scorecard", n.a1), &reviewer).await?.status, StatusCode::OK);
    for (query, field) in [
        ("from=2026-13-01", "from"),
        ("from=2026-03-01&to=2026-03-01", "to"),
        ("from=2020-01-01&to=2026-01-01", "from"),
    ] {
        let r = app.get(&format!("/v1/orgs/{}/scorecard?{query}", n.a), &n.dispatcher_a).await?;
        assert_eq!((r.status, r.field()), (StatusCode::UNPROCESSABLE_ENTITY, field), "{query}: {}", r.body);
    }
    let r = app.get(&format!("/v1/orgs/{}/scorecard?since=2026-01-01", n.a), &n.dispatcher_a).await?;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let r = app.get("/v1/orgs/no-such-org/scorecard", &n.admin).await?;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    Ok(())
}

async fn quality_breaks_a_near_tie_in_dispatch(backend: Backend) -> anyhow::Result<()> {
    // Arrange: two technicians at the same spot; the one with the lower id (who would win the
    // tie-break) fixed 4 of 20 jobs at the first visit over the last weeks, the other 19 of 20.
    let app = TestApp::spawn(backend).await?;
    let admin = app.login("admin@demo.sortie").await?;
    let vendor = app.org("vendor").await?.id;
    let q = org(&app, &admin, &vendor, "Quality Tie Org").await?;
    let mut techs = Vec::new();
    for name in ["Anna Tie", "Boris Tie"] {
        let t = app
            .post(
                "/v1/technicians",
                &admin,
                &json!({"org_id": q, "name": name, "skills": ["quality_tie"],
                    "home_base": {"lat": LAT + 0.05, "lon": LON}, "shift": {"start": "00:00", "end": "23:59"},
                    "timezone": "Asia/Krasnoyarsk", "daily_capacity": 40}),
            )
            .await?;
        anyhow::ensure!(t.status == StatusCode::CREATED, "{}", t.body);
        techs.push(t.str("id"));
    }
    techs.sort();
    let (poor, good) = (techs[0].clone(), techs[1].clone());
    let q_org = app
        .with_db({
            let q = q.clone();
            move |conn| Ok(api::storage::orgs::find(conn, &q)?.expect("created"))
        })
        .await?;
    let day = (Utc::now() - Duration::days(3)).date_naive().to_string();
    app.with_db({
        let (poor, good) = (poor.clone(), good.clone());
        move |conn| {
            use api::storage::quality::{Counters, DayRow, ORG_ROW, add};
            let record =
                |fixed| Counters { jobs_completed: 20, visits: 20, first_time_fixed: fixed, ..Counters::default() };
            let row = |t: &str, c| DayRow {
                org_id: q_org.id.clone(),
                org_path: q_org.path.clone(),
                technician_id: t.to_owned(),
                day: day.clone(),
                add: c,
            };
            let mut both = record(4);
            both += record(19);
            add(conn, &[row(&poor, record(4)), row(&good, record(19)), row(ORG_ROW, both)])?;
            Ok(())
        }
    })
    .await?;

    // Act: a job only these two can do, equally far from both.
    let customer = app.login("customer@demo.sortie").await?;
    let mut b = booking();
    b["location"] = json!({"lat": LAT, "lon": LON});
    b["required_skills"] = json!(["quality_tie"]);
    // Three days ahead: ranked by dispatch alone (jobs due within a day are also compared by added travel).
    let day = (Utc::now() + Duration::days(3)).date_naive();
    b["window"] = json!({"start": format!("{day}T10:00:00+07:00"), "end": format!("{day}T12:00:00+07:00")});
    let booked = app.book(&customer, &b, None).await?;
    anyhow::ensure!(booked.status == StatusCode::CREATED, "{}", booked.body);

    // Assert: the better first-time fixer gets it, and the explanation shows the quality term.
    let ex = app.get(&format!("/v1/jobs/{}/explanation", booked.str("id")), &admin).await?;
    assert_eq!(ex.status, StatusCode::OK, "{}", ex.body);
    let d = &ex.body["decisions"][0];
    assert_eq!(d["chosen"], good.as_str(), "{}", ex.body);
    assert_eq!(d["reason"]["code"], "near_equal_better_quality", "{}", ex.body);
    assert_eq!(d["reason"]["nearest"], poor.as_str());
    let quality = |id: &str| {
        d["ranked"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|c| c["technician_id"] == id)
            .and_then(|c| c["quality"].as_f64())
    };
    let (q_good, q_poor) = (quality(&good).expect("scored"), quality(&poor).expect("scored"));
    assert!(q_good > q_poor, "{q_good} vs {q_poor}");
    Ok(())
}
