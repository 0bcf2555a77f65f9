//! The quality loop end to end, through the real HTTP API and the phone
//! protocol: surveys issued on approval (or completion), read and answered
//! once through their link; scorecards of a technician, its organisation, the
//! parent partner and the vendor with figures computed by hand; the partners'
//! Service section, scoped to their subtree. Jobs are completed on the phone
//! and approved or returned by the vendor's review (`POST /v1/jobs/{id}/review`).

use api::clock::Clock as _;
use chrono::{Duration, NaiveDate, Utc};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::both_backends;
use crate::helpers::{Backend, Phone, Resp, TestApp, booking, events, hop, review, set_status, soon};

both_backends!(
    the_quality_loop_from_booking_to_the_scorecards_runs_through_the_api_and_the_phone,
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
    reviewer: String,
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
    app.login_with(email, "probe-password").await
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
    let reviewer = app.login("reviewer@demo.sortie").await?;
    Ok(Network {
        admin,
        reviewer,
        customer,
        vendor,
        a,
        a1,
        b,
        tech,
        tech_token,
        dispatcher_a,
        dispatcher_a1,
        dispatcher_b,
    })
}

impl Network {
    /// A booking only our technician can do, for a window opening within the hour (the phone may set off to it).
    fn booking(&self, app: &TestApp) -> Value {
        let mut b = booking();
        b["location"] = json!({"lat": LAT, "lon": LON});
        b["required_skills"] = json!([SKILL]);
        b["window"] = soon(app.clock.now(), 1, 3);
        b
    }

    /// Books a job only our technician can do and has A1's dispatcher accept it for them.
    async fn scheduled_job(&self, app: &TestApp) -> anyhow::Result<String> {
        let booked = app.book(&self.customer, &self.booking(app), None).await?;
        anyhow::ensure!(booked.status == StatusCode::CREATED, "{}", booked.body);
        let id = booked.str("id");
        let r = app
            .post(&format!("/v1/jobs/{id}/accept"), &self.dispatcher_a1, &json!({"technician_id": self.tech}))
            .await?;
        anyhow::ensure!(r.status == StatusCode::OK && r.body["status"] == "scheduled", "{}", r.body);
        Ok(id)
    }

    /// The technician's phone.
    async fn phone<'a>(&self, app: &'a TestApp) -> anyhow::Result<Phone<'a>> {
        Phone::register(app, &self.tech_token).await
    }

    /// The reviewer approves the job (`in_review` → `approved`).
    async fn approve(&self, app: &TestApp, job: &str) -> anyhow::Result<Resp> {
        let r = review(app, &self.reviewer, job, json!({"verdict": "approve"})).await?;
        anyhow::ensure!(r.status == StatusCode::OK && r.body["status"] == "approved", "{}", r.body);
        Ok(r)
    }

    /// A job scheduled, completed on the phone and approved.
    async fn approved_job(&self, app: &TestApp) -> anyhow::Result<String> {
        let job = self.scheduled_job(app).await?;
        visit(&mut self.phone(app).await?, &job).await?;
        self.approve(app, &job).await?;
        Ok(job)
    }

    /// The job's survey token as the customer sees it: `survey_url` of `GET /v1/requests/{id}`.
    async fn survey_token(&self, app: &TestApp, job: &str) -> anyhow::Result<Option<String>> {
        let r = app.get(&format!("/v1/requests/{job}"), &self.customer).await?;
        anyhow::ensure!(r.status == StatusCode::OK, "{}", r.body);
        Ok(r.body["survey_url"].as_str().map(|u| u.strip_prefix("/survey/").unwrap_or(u).to_owned()))
    }
}

/// One visit on the phone: on the way, on site, completed (→ `in_review`).
async fn visit(phone: &mut Phone<'_>, job: &str) -> anyhow::Result<()> {
    phone.push(&[set_status(job, "en_route"), set_status(job, "on_site"), set_status(job, "completed")]).await
}

/// The local date in Krasnoyarsk (UTC+7 all year), the time zone of the test network's organisations.
fn krasnoyarsk_today(app: &TestApp) -> NaiveDate {
    (app.clock.now() + Duration::hours(7)).date_naive()
}

fn answer(nps: i64, csat: i64, ces: i64, comment: Option<&str>) -> Value {
    let mut v = json!({"nps": nps, "csat": csat, "ces": ces});
    if let Some(c) = comment {
        v["comment"] = json!(c);
    }
    v
}

/// Issue #15's loop, one job from booking to the scorecards: returned once by the review, fixed at the
/// second visit, approved, and rated by the customer (NPS 10, CSAT 5, CES 2).
async fn the_quality_loop_from_booking_to_the_scorecards_runs_through_the_api_and_the_phone(
    backend: Backend,
) -> anyhow::Result<()> {
    // Arrange: vendor → partner A → sub-partner A1 with technician Olga (Krasnoyarsk); sibling partner B.
    let app = TestApp::spawn(backend).await?;
    let n = network(&app).await?;
    let mut phone = n.phone(&app).await?;

    // Book → dispatch → accept: the customer books; dispatch offers the job to A1, whose dispatcher accepts.
    let booked = app.book(&n.customer, &n.booking(&app), None).await?;
    assert_eq!(booked.status, StatusCode::CREATED, "{}", booked.body);
    let (job, tracking) = (booked.str("id"), format!("/v1/track/{}", booked.str("tracking_token")));
    let offered = app.get(&format!("/v1/jobs/{job}"), &n.dispatcher_a1).await?;
    assert_eq!(offered.body["status"], "offered", "{}", offered.body);
    assert_eq!(offered.body["offer"]["org_id"], n.a1.as_str(), "{}", offered.body);
    let accepted =
        app.post(&format!("/v1/jobs/{job}/accept"), &n.dispatcher_a1, &json!({"technician_id": n.tech})).await?;
    assert_eq!((accepted.status, accepted.body["status"].clone()), (StatusCode::OK, json!("scheduled")));
    assert_eq!(phone.pull_job(&job).await?["status"], "scheduled");

    // First visit: the phone sets off, arrives and completes; the job waits for the review. No survey yet.
    visit(&mut phone, &job).await?;
    let seen = app.get(&format!("/v1/jobs/{job}"), &n.reviewer).await?;
    assert_eq!((seen.body["status"].clone(), seen.body["visits"].clone()), (json!("in_review"), json!(1)));
    assert_eq!(n.survey_token(&app, &job).await?, None, "no survey before approval");

    // The review returns it; the phone pulls it back, scheduled, with the reason and an open report.
    let reason = "The receipt printer still jams: replace the roller too";
    let r = review(&app, &n.reviewer, &job, json!({"verdict": "return", "reason": reason})).await?;
    assert_eq!((r.status, r.body["status"].clone()), (StatusCode::OK, json!("scheduled")), "{}", r.body);
    let on_phone = phone.pull_job(&job).await?;
    assert_eq!(on_phone["status"], "scheduled", "{on_phone}");
    assert_eq!(on_phone["rework"]["reason"], reason, "{on_phone}");
    assert_eq!(on_phone["rework"]["visit"], 1, "{on_phone}");
    assert_eq!(on_phone["report"]["locked"], false, "{on_phone}");
    assert_eq!(n.survey_token(&app, &job).await?, None, "a return issues no survey");

    // Second visit, completed; the review approves it.
    visit(&mut phone, &job).await?;
    let on_phone = phone.pull_job(&job).await?;
    assert_eq!(on_phone["status"], "in_review", "{on_phone}");
    assert_eq!(on_phone["report"]["visits"].as_array().map(Vec::len), Some(2), "{on_phone}");
    let first_day = krasnoyarsk_today(&app);
    let approved = n.approve(&app, &job).await?;
    assert_eq!(approved.body["review"]["visit"], 2, "{}", approved.body);
    let seen = app.get(&format!("/v1/jobs/{job}"), &n.reviewer).await?;
    assert_eq!((seen.body["status"].clone(), seen.body["visits"].clone()), (json!("approved"), json!(2)));

    // The survey link shows on the customer's request and on the tracking view, now; not to the network.
    let token = n.survey_token(&app, &job).await?.expect("a survey is issued on approval");
    let track = app.call(Method::GET, &tracking, None, None).await?;
    assert_eq!(track.body["survey_url"], format!("/survey/{token}"), "{}", track.body);
    let theirs = app.get(&format!("/v1/requests/{job}"), &n.dispatcher_a1).await?;
    assert_eq!((theirs.status, theirs.body["survey_url"].clone()), (StatusCode::OK, Value::Null));

    // The customer answers through the link.
    let survey = app.call(Method::GET, &format!("/v1/surveys/{token}"), None, None).await?;
    assert_eq!(survey.body["technician_first_name"], "Olga", "{}", survey.body);
    let comment = "Second visit fixed it: the roller was worn";
    let r =
        app.call(Method::POST, &format!("/v1/surveys/{token}"), None, Some(&answer(10, 5, 2, Some(comment)))).await?;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.body);
    let last_day = krasnoyarsk_today(&app);

    // SLA per hop: the return misses first-time fix for A1, which took the offer and did the work, for the
    // vendor (the contractor) and for every organisation between them: all are answerable for the visit.
    let ev = events(&app, &n.reviewer, &job).await?;
    assert_eq!(hop(&ev, &n.a1)["sla"]["first_time_fix"], "missed", "{ev}");
    assert_eq!(hop(&ev, &n.vendor)["sla"]["first_time_fix"], "missed", "{ev}");
    for h in ev["hops"].as_array().into_iter().flatten() {
        assert_eq!(h["sla"]["first_time_fix"], "missed", "{h}");
    }

    // Scorecards over the local days of the approval and the answer (A1's time zone), by hand:
    // 1 job approved after 2 visits; first-time fix 0 of 1; rework 1 of 1;
    // NPS (1 promoter − 0 detractors) / 1 response = 100; CSAT 1 of 1 answers 4–5 = 100; CES 2 / 1 = 2.
    let period = format!("from={first_day}&to={}", last_day + Duration::days(1));
    let cards = [
        ("technician", format!("/v1/technicians/{}/scorecard?{period}", n.tech), &n.dispatcher_a1),
        ("A1", format!("/v1/orgs/{}/scorecard?{period}", n.a1), &n.dispatcher_a1),
        ("partner A", format!("/v1/orgs/{}/scorecard?{period}", n.a), &n.dispatcher_a),
        ("vendor", format!("/v1/orgs/{}/scorecard?{period}", n.vendor), &n.admin),
    ];
    for (who, path, token) in cards {
        let r = app.get(&path, token).await?;
        assert_eq!(r.status, StatusCode::OK, "{who}: {}", r.body);
        let s = &r.body;
        assert_eq!((s["from"].clone(), s["jobs_completed"].clone()), (json!(first_day), json!(1)), "{who}: {s}");
        assert_eq!(s["visits"], 2, "{who}: {s}");
        assert_eq!(s["first_time_fix_rate"], 0.0, "{who}: {s}");
        assert_eq!(s["counts"]["first_time_fix"], json!({"count": 0, "of": 1}), "{who}: {s}");
        assert_eq!(s["rework_rate"], 1.0, "{who}: {s}");
        assert_eq!(s["counts"]["rework"], json!({"count": 1, "of": 1}), "{who}: {s}");
        let nps = json!({"score": 100.0, "promoters": 1, "passives": 0, "detractors": 0, "responses": 1});
        assert_eq!(s["nps"], nps, "{who}: {s}");
        assert_eq!(s["csat"], json!({"score": 100.0, "responses": 1}), "{who}: {s}");
        assert_eq!(s["ces"], json!({"average": 2.0, "responses": 1}), "{who}: {s}");
    }

    // The Service section of the job's partners lists the comment, with the job and the technician's first name.
    for (org, token) in [(&n.a1, &n.dispatcher_a1), (&n.a, &n.dispatcher_a)] {
        let r = app.get(&format!("/v1/orgs/{org}/service?{period}"), token).await?;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        assert_eq!(r.body["scorecard"]["jobs_completed"], 1, "{}", r.body);
        let items = &r.body["comments"]["items"];
        assert_eq!(items.as_array().map(Vec::len), Some(1), "{}", r.body);
        assert_eq!(items[0]["comment"], comment);
        assert_eq!(items[0]["job_id"], job.as_str());
        assert_eq!(items[0]["technician_first_name"], "Olga");
    }

    // Sibling partner B: 404 on A's (and A1's) Service section, and none of it in its own.
    for org in [&n.a, &n.a1] {
        let r = app.get(&format!("/v1/orgs/{org}/service"), &n.dispatcher_b).await?;
        assert_eq!((r.status, r.code()), (StatusCode::NOT_FOUND, "not_found"), "{}", r.body);
    }
    let own = app.get(&format!("/v1/orgs/{}/service?{period}", n.b), &n.dispatcher_b).await?;
    assert_eq!(own.status, StatusCode::OK, "{}", own.body);
    let s = &own.body["scorecard"];
    assert_eq!((s["jobs_completed"].clone(), s["visits"].clone()), (json!(0), json!(0)), "{s}");
    assert_eq!((s["first_time_fix_rate"].clone(), s["rework_rate"].clone()), (Value::Null, Value::Null), "{s}");
    assert_eq!((s["nps"]["responses"].clone(), s["nps"]["score"].clone()), (json!(0), Value::Null), "{s}");
    assert_eq!(own.body["children"], json!([]));
    assert_eq!(own.body["technicians"], json!([]));
    assert_eq!(own.body["comments"]["items"], json!([]));
    let text = own.body.to_string();
    for theirs in [comment, job.as_str(), n.tech.as_str(), "Olga"] {
        assert!(!text.contains(theirs), "{theirs} in B's own section: {text}");
    }
    Ok(())
}

async fn scorecards_of_technician_org_parent_and_vendor_show_the_figures_computed_by_hand(
    backend: Backend,
) -> anyhow::Result<()> {
    // Arrange: two jobs. The first is approved at its first visit; the second is returned once by the
    // review and approved after a second visit. The customer rates them NPS 10 / CSAT 5 / CES 2 and
    // NPS 0 / CSAT 2 / CES 6.
    let app = TestApp::spawn(backend).await?;
    let n = network(&app).await?;
    let mut phone = n.phone(&app).await?;
    let (fixed, reworked) = (n.scheduled_job(&app).await?, n.scheduled_job(&app).await?);
    visit(&mut phone, &fixed).await?;
    n.approve(&app, &fixed).await?;
    visit(&mut phone, &reworked).await?;
    let r = review(&app, &n.reviewer, &reworked, json!({"verdict": "return", "reason": "photo missing"})).await?;
    assert_eq!((r.status, r.body["status"].clone()), (StatusCode::OK, json!("scheduled")), "{}", r.body);
    visit(&mut phone, &reworked).await?;
    n.approve(&app, &reworked).await?;
    for (job, body) in [(&fixed, answer(10, 5, 2, Some("Great"))), (&reworked, answer(0, 2, 6, None))] {
        let token = n.survey_token(&app, job).await?.expect("a survey is issued on approval");
        let r = app.call(Method::POST, &format!("/v1/surveys/{token}"), None, Some(&body)).await?;
        assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.body);
    }

    // Act + Assert: every level shows the same two jobs (the default period: the last 30 days).
    // Jobs 2, visits 1 + 2 = 3; first-time fix 1 of 2; rework 1 of 2; both arrived before the window opened;
    // NPS (1 promoter − 1 detractor) / 2 = 0; CSAT 1 of 2 answers 4–5 = 50; CES (2 + 6) / 2 = 4.
    let technician = app.get(&format!("/v1/technicians/{}/scorecard", n.tech), &n.dispatcher_a1).await?;
    let sub = app.get(&format!("/v1/orgs/{}/scorecard", n.a1), &n.dispatcher_a1).await?;
    let parent = app.get(&format!("/v1/orgs/{}/scorecard", n.a), &n.dispatcher_a).await?;
    let vendor = app.get(&format!("/v1/orgs/{}/scorecard", n.vendor), &n.admin).await?;
    for (who, r) in [("technician", &technician), ("A1", &sub), ("A", &parent), ("vendor", &vendor)] {
        assert_eq!(r.status, StatusCode::OK, "{who}: {}", r.body);
        let s = &r.body;
        assert_eq!(s["jobs_completed"], 2, "{who}: {s}");
        assert_eq!(s["visits"], 3, "{who}: {s}");
        assert_eq!(s["first_time_fix_rate"], 0.5, "{who}: {s}");
        assert_eq!(s["counts"]["first_time_fix"], json!({"count": 1, "of": 2}), "{who}");
        assert_eq!(s["rework_rate"], 0.5, "{who}: {s}");
        assert_eq!(s["counts"]["rework"], json!({"count": 1, "of": 2}), "{who}");
        assert_eq!(s["incomplete_rate"], 0.0, "{who}");
        assert_eq!(s["arrive_sla_met_rate"], 1.0, "{who}: {s}");
        assert_eq!(s["counts"]["arrive_sla_met"], json!({"count": 2, "of": 2}), "{who}");
        assert_eq!(
            s["nps"],
            json!({"score": 0.0, "promoters": 1, "passives": 0, "detractors": 1, "responses": 2}),
            "{who}"
        );
        assert_eq!(s["csat"], json!({"score": 50.0, "responses": 2}), "{who}");
        assert_eq!(s["ces"], json!({"average": 4.0, "responses": 2}), "{who}");
    }
    // Offers go to organisations: A1 accepted its two offers in time; the technician has no accept figure.
    assert_eq!(technician.body["accept_sla_met_rate"], Value::Null);
    assert_eq!(technician.body["counts"]["accept_sla_met"], json!({"count": 0, "of": 0}));
    for r in [&sub, &parent, &vendor] {
        assert_eq!(r.body["counts"]["accept_sla_met"], json!({"count": 2, "of": 2}), "{}", r.body);
    }
    // The sibling partner has nothing; a period without the jobs is all zeros and nulls.
    let b = app.get(&format!("/v1/orgs/{}/scorecard", n.b), &n.dispatcher_b).await?;
    assert_eq!((b.body["jobs_completed"].clone(), b.body["nps"]["score"].clone()), (json!(0), Value::Null));
    let old = app.get(&format!("/v1/orgs/{}/scorecard?from=2020-01-01&to=2020-02-01", n.vendor), &n.admin).await?;
    assert_eq!(old.status, StatusCode::OK, "{}", old.body);
    assert_eq!((old.body["from"].clone(), old.body["to"].clone()), (json!("2020-01-01"), json!("2020-02-01")));
    assert_eq!(old.body["jobs_completed"], 0);
    assert_eq!(old.body["first_time_fix_rate"], Value::Null);
    // A second approval is refused and counts nothing.
    let again = review(&app, &n.reviewer, &fixed, json!({"verdict": "approve"})).await?;
    assert_eq!((again.status, again.code()), (StatusCode::CONFLICT, "not_in_review"), "{}", again.body);
    // The hook itself is idempotent: called again directly, as a retried approval transaction would
    // (this checks `job_approved`, which no HTTP path calls twice), it counts nothing twice.
    let job = fixed.clone();
    let now = app.clock.now();
    app.with_db(move |conn| Ok(api::db::write_tx(conn, |conn| api::app::quality::job_approved(conn, &job, now))?))
        .await?;
    let vendor = app.get(&format!("/v1/orgs/{}/scorecard", n.vendor), &n.admin).await?;
    assert_eq!((vendor.body["jobs_completed"].clone(), vendor.body["visits"].clone()), (json!(2), json!(3)));
    Ok(())
}

async fn a_survey_is_issued_on_approval_read_without_personal_data_answered_once_and_expires(
    backend: Backend,
) -> anyhow::Result<()> {
    let app = TestApp::spawn(backend).await?;
    let n = network(&app).await?;
    let job = n.scheduled_job(&app).await?;
    visit(&mut n.phone(&app).await?, &job).await?;
    assert_eq!(n.survey_token(&app, &job).await?, None, "not before approval (the default trigger)");
    let before = app.get(&format!("/v1/requests/{job}"), &n.customer).await?;
    assert_eq!(before.body["survey_url"], Value::Null, "{}", before.body);
    n.approve(&app, &job).await?;
    let token = n.survey_token(&app, &job).await?.expect("issued on approval");
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
    let token2 = n.survey_token(&app, &job2).await?.expect("issued");
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
    let token = n.survey_token(&app, &job).await?.expect("issued");
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
    visit(&mut n.phone(&app).await?, &job).await?;
    // The phone's `completed` ran the quality hook: the survey exists before any review.
    let token = n.survey_token(&app, &job).await?.expect("issued on completion");
    n.approve(&app, &job).await?;
    assert_eq!(n.survey_token(&app, &job).await?, Some(token), "approval keeps the same survey");
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
        tokens.push((job.clone(), n.survey_token(&app, &job).await?.expect("issued")));
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
