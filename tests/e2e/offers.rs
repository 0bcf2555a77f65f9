//! The offer flow: who gets a job, accept, decline, deadlines, escalation
//! through four levels, manual routing and subcontracting, reassigning, and
//! races that must have exactly one winner.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::both_backends;
use crate::helpers::{Backend, TestApp, booking};

both_backends!(
    a_job_is_offered_to_the_nearest_eligible_technicians_org_and_accepting_schedules_it,
    a_decline_or_a_missed_deadline_moves_the_offer_to_the_next_nearest,
    with_nobody_left_the_search_escalates_through_four_levels_to_unassignable,
    manual_routing_stops_the_offer_and_the_dispatcher_subcontracts_it_down,
    two_concurrent_accepts_of_one_job_have_exactly_one_winner,
    a_technician_is_never_booked_past_capacity_even_when_accepts_race,
    reassigning_moves_the_job_within_the_assignees_subtree_only,
    two_replicas_on_one_database_follow_each_others_changes_and_never_accept_twice,
    a_job_the_deadline_worker_cannot_handle_does_not_hold_up_the_others,
);

/// A chain vendor → A → B → C → D with one `probe` technician each, D's nearest
/// to the job and A's farthest, and a dispatcher login per organisation.
pub struct Chain {
    pub orgs: Vec<String>,
    pub techs: Vec<String>,
    pub dispatchers: Vec<String>,
    pub admin: String,
}

pub const JOB_LAT: f64 = 60.0;
pub const JOB_LON: f64 = 100.0;

pub async fn login_with(app: &TestApp, email: &str, password: &str) -> anyhow::Result<String> {
    let r =
        app.call(Method::POST, "/v1/auth/login", None, Some(&json!({"email": email, "password": password}))).await?;
    anyhow::ensure!(r.status == StatusCode::OK, "login {email}: {}", r.body);
    Ok(r.str("access_token"))
}

pub async fn technician(
    app: &TestApp,
    admin: &str,
    org: &str,
    name: &str,
    km_away: f64,
    capacity: u32,
) -> anyhow::Result<String> {
    let t = app
        .post(
            "/v1/technicians",
            admin,
            &json!({"org_id": org, "name": name, "skills": ["probe"],
            "home_base": {"lat": JOB_LAT + km_away / 111.0, "lon": JOB_LON},
            "shift": {"start": "00:00", "end": "23:59"}, "timezone": "Asia/Krasnoyarsk", "daily_capacity": capacity}),
        )
        .await?;
    anyhow::ensure!(t.status == StatusCode::CREATED, "{}", t.body);
    Ok(t.str("id"))
}

pub async fn chain(app: &TestApp) -> anyhow::Result<Chain> {
    let admin = app.login("admin@demo.sortie").await?;
    let mut parent = app.org("vendor").await?.id;
    let (mut orgs, mut techs, mut dispatchers) = (Vec::new(), Vec::new(), Vec::new());
    for (i, name) in ["A", "B", "C", "D"].iter().enumerate() {
        let org = app
            .post(
                "/v1/orgs",
                &admin,
                &json!({"parent_id": parent, "name": format!("Probe {name}"), "timezone": "Asia/Krasnoyarsk"}),
            )
            .await?;
        anyhow::ensure!(org.status == StatusCode::CREATED, "{}", org.body);
        let id = org.str("id");
        // D (i = 3) nearest at 10 km, A farthest at 40 km.
        techs.push(technician(app, &admin, &id, &format!("Tech {name}"), 10.0 * (4 - i) as f64, 5).await?);
        let email = format!("dispatcher-{}@probe.example", name.to_lowercase());
        let u = app
            .post(
                "/v1/users",
                &admin,
                &json!({"email": email, "password": "probe-password", "role": "dispatcher", "org_id": id}),
            )
            .await?;
        anyhow::ensure!(u.status == StatusCode::CREATED, "{}", u.body);
        dispatchers.push(login_with(app, &email, "probe-password").await?);
        parent = id.clone();
        orgs.push(id);
    }
    Ok(Chain { orgs, techs, dispatchers, admin })
}

pub fn probe_booking() -> Value {
    let mut b = booking();
    b["location"] = json!({"lat": JOB_LAT, "lon": JOB_LON});
    b["required_skills"] = json!(["probe"]);
    b
}

pub async fn job(app: &TestApp, token: &str, id: &str) -> anyhow::Result<Value> {
    let r = app.get(&format!("/v1/jobs/{id}"), token).await?;
    anyhow::ensure!(r.status == StatusCode::OK, "{}", r.body);
    Ok(r.body)
}

async fn event_types(app: &TestApp, token: &str, id: &str) -> anyhow::Result<Vec<String>> {
    let r = app.get(&format!("/v1/jobs/{id}/events?limit=200"), token).await?;
    Ok(r.body["items"]
        .as_array()
        .map(|v| v.iter().filter_map(|e| e["type"].as_str().map(str::to_owned)).collect())
        .unwrap_or_default())
}

async fn a_job_is_offered_to_the_nearest_eligible_technicians_org_and_accepting_schedules_it(
    backend: Backend,
) -> anyhow::Result<()> {
    let app = TestApp::spawn(backend).await?;
    let c = chain(&app).await?;
    let customer = app.login("customer@demo.sortie").await?;
    let booked = app.book(&customer, &probe_booking(), None).await?;
    assert_eq!(booked.body["status"], "offered", "{}", booked.body);
    let id = booked.str("id");

    let j = job(&app, &c.admin, &id).await?;
    assert_eq!(j["offer"]["org_id"], c.orgs[3].as_str(), "offered to D, whose technician is nearest");
    // The deadline comes from the vendor's agreement: 120 minutes for `normal`.
    let deadline = chrono::DateTime::parse_from_rfc3339(j["offer"]["deadline"].as_str().unwrap_or_default())?;
    let minutes = (deadline.with_timezone(&chrono::Utc) - chrono::Utc::now()).num_minutes();
    assert!((115..=120).contains(&minutes), "{minutes}");
    // A, B and C were passed automatically and are in the chain; each sees the job.
    let hops: Vec<&str> = j["org_chain"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|l| l["role"] == "hop")
        .filter_map(|l| l["org_id"].as_str())
        .collect();
    assert_eq!(hops, [c.orgs[0].as_str(), c.orgs[1].as_str(), c.orgs[2].as_str()]);
    assert_eq!(app.get(&format!("/v1/jobs/{id}/events"), &c.dispatchers[0]).await?.status, StatusCode::OK);

    // The explanation names the chosen technician, the distances, and who was excluded why.
    let ex = app.get(&format!("/v1/jobs/{id}/explanation"), &c.dispatchers[3]).await?;
    assert_eq!(ex.status, StatusCode::OK);
    let decision = &ex.body["decisions"][0];
    assert_eq!(decision["chosen"], c.techs[3].as_str());
    assert_eq!(decision["reason"]["code"], "nearest");
    let ranked: Vec<f64> =
        decision["ranked"].as_array().into_iter().flatten().filter_map(|r| r["distance_m"].as_f64()).collect();
    assert!(ranked.first().is_some_and(|d| (9_000.0..11_000.0).contains(d)), "{ranked:?}");

    // C was never offered the job: 404. D accepts: dispatch's technician is named, the job is scheduled.
    assert_eq!(
        app.post(&format!("/v1/jobs/{id}/accept"), &c.dispatchers[2], &json!({})).await?.status,
        StatusCode::NOT_FOUND
    );
    // Every field of accept is optional, so no body at all is `{}`.
    let accepted = app.call(Method::POST, &format!("/v1/jobs/{id}/accept"), Some(&c.dispatchers[3]), None).await?;
    assert_eq!(accepted.status, StatusCode::OK, "{}", accepted.body);
    assert_eq!(accepted.body["status"], "scheduled");
    assert_eq!(accepted.body["technician_id"], c.techs[3].as_str());
    // Twice: 409 with the current state.
    let again = app.post(&format!("/v1/jobs/{id}/accept"), &c.dispatchers[3], &json!({})).await?;
    assert_eq!(again.status, StatusCode::CONFLICT);
    assert_eq!(again.body["error"]["current"]["status"], "scheduled");
    assert_eq!(event_types(&app, &c.admin, &id).await?, ["created", "offered", "accepted", "assigned"]);

    // The customer sees the technician's first name.
    let mine = app.get(&format!("/v1/requests/{id}"), &customer).await?;
    assert_eq!(mine.body["stage"], "scheduled");
    assert_eq!(mine.body["technician_first_name"], "Tech");

    // D's own agreement, set now, gives the next offer to D its deadline (dispatch reads agreements from its
    // snapshot of the network, which the edit refreshes).
    let agreement = json!({"accept_within_min": {"low": 60, "normal": 45, "high": 15, "urgent": 5},
        "arrive_within_min": {"low": 2000, "normal": 1000, "high": 500, "urgent": 100}, "first_time_fix_target": 0.9});
    let path = format!("/v1/orgs/{}/agreement", c.orgs[3]);
    assert_eq!(app.call(Method::PUT, &path, Some(&c.admin), Some(&agreement)).await?.status, StatusCode::OK);
    let next = app.book(&customer, &probe_booking(), None).await?;
    let j = job(&app, &c.admin, &next.str("id")).await?;
    assert_eq!(j["offer"]["org_id"], c.orgs[3].as_str(), "{j}");
    let deadline = chrono::DateTime::parse_from_rfc3339(j["offer"]["deadline"].as_str().unwrap_or_default())?;
    let minutes = (deadline.with_timezone(&chrono::Utc) - chrono::Utc::now()).num_minutes();
    assert!((40..=45).contains(&minutes), "{minutes}");
    Ok(())
}

async fn a_decline_or_a_missed_deadline_moves_the_offer_to_the_next_nearest(backend: Backend) -> anyhow::Result<()> {
    let app = TestApp::spawn(backend).await?;
    let c = chain(&app).await?;
    let customer = app.login("customer@demo.sortie").await?;
    let id = app.book(&customer, &probe_booking(), None).await?.str("id");

    let r = app.post(&format!("/v1/jobs/{id}/decline"), &c.dispatchers[3], &json!({"reason": "no one free"})).await?;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["offer_org_id"], c.orgs[2].as_str(), "D declined: C's technician is next nearest");
    let missing = app.post(&format!("/v1/jobs/{id}/decline"), &c.dispatchers[2], &json!({})).await?;
    assert_eq!((missing.status, missing.field()), (StatusCode::BAD_REQUEST, "reason"));

    // C lets the deadline pass: the worker expires the offer and B gets it.
    app.clock.advance(chrono::Duration::minutes(121));
    assert!(app.sweep().await? >= 1);
    let j = job(&app, &c.admin, &id).await?;
    assert_eq!(j["offer"]["org_id"], c.orgs[1].as_str());
    let late = app.post(&format!("/v1/jobs/{id}/accept"), &c.dispatchers[2], &json!({})).await?;
    assert_eq!(late.status, StatusCode::CONFLICT, "accepting after the timeout");
    assert_eq!(late.body["error"]["current"]["offer"]["org_id"], c.orgs[1].as_str());
    // B does not answer either, but the worker has not run yet: B's own late accept is refused too.
    app.clock.advance(chrono::Duration::minutes(121));
    let b_late = app.post(&format!("/v1/jobs/{id}/accept"), &c.dispatchers[1], &json!({})).await?;
    assert_eq!((b_late.status, b_late.code()), (StatusCode::CONFLICT, "offer_expired"));
    assert_eq!(
        event_types(&app, &c.admin, &id).await?,
        ["created", "offered", "declined", "offered", "offer_expired", "offered"]
    );
    let events = app.get(&format!("/v1/jobs/{id}/events"), &c.admin).await?;
    assert_eq!(events.body["items"][2]["data"]["reason"], "no one free");
    Ok(())
}

async fn with_nobody_left_the_search_escalates_through_four_levels_to_unassignable(
    backend: Backend,
) -> anyhow::Result<()> {
    let app = TestApp::spawn(backend).await?;
    let c = chain(&app).await?;
    // The customer has a contract with D (partner-led): the search starts in D's subtree.
    let customer = app.login("customer@demo.sortie").await?;
    let card = app.book(&customer, &booking(), None).await?.str("customer_id");
    let r = app
        .call(
            Method::PATCH,
            &format!("/v1/customers/{card}"),
            Some(&c.admin),
            Some(&json!({"contracted_org_id": c.orgs[3]})),
        )
        .await?;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let id = app.book(&customer, &probe_booking(), None).await?.str("id");
    assert_eq!(job(&app, &c.admin, &id).await?["contractor_org_id"], c.orgs[3].as_str());

    for level in (0..4).rev() {
        let j = job(&app, &c.admin, &id).await?;
        assert_eq!(j["offer"]["org_id"], c.orgs[level].as_str(), "level {level}");
        let r = app.post(&format!("/v1/jobs/{id}/decline"), &c.dispatchers[level], &json!({"reason": "busy"})).await?;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    }
    let j = job(&app, &c.admin, &id).await?;
    assert_eq!(j["status"], "unassignable");
    assert!(j["offer"].is_null());
    let types = event_types(&app, &c.admin, &id).await?;
    assert_eq!(types.iter().filter(|t| *t == "escalated").count(), 3, "{types:?}");
    assert_eq!(types.last().map(String::as_str), Some("unassignable"));
    // It waits in the vendor's queue.
    let vendor = app.login("dispatcher@vendor.demo.sortie").await?;
    let queue = app.get("/v1/jobs?status=unassignable", &vendor).await?;
    assert!(queue.body["items"].as_array().is_some_and(|v| v.iter().any(|j| j["id"] == id.as_str())));
    let ex = app.get(&format!("/v1/jobs/{id}/explanation"), &vendor).await?;
    let last = ex.body["decisions"].as_array().and_then(|d| d.last()).cloned().unwrap_or_default();
    assert_eq!(last["reason"]["code"], "nobody_eligible");
    Ok(())
}

async fn manual_routing_stops_the_offer_and_the_dispatcher_subcontracts_it_down(
    backend: Backend,
) -> anyhow::Result<()> {
    let app = TestApp::spawn(backend).await?;
    let c = chain(&app).await?;
    let r = app
        .call(Method::PATCH, &format!("/v1/orgs/{}", c.orgs[1]), Some(&c.admin), Some(&json!({"manual_routing": true})))
        .await?;
    assert_eq!(r.status, StatusCode::OK);
    let customer = app.login("customer@demo.sortie").await?;
    let id = app.book(&customer, &probe_booking(), None).await?.str("id");
    let j = job(&app, &c.admin, &id).await?;
    assert_eq!(j["offer"]["org_id"], c.orgs[1].as_str(), "B routes by hand: the offer stops there");

    // B may pass it only below itself.
    let south = app.org("south").await?.id;
    let r = app.post(&format!("/v1/jobs/{id}/subcontract"), &c.dispatchers[1], &json!({"org_id": south})).await?;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let r = app.post(&format!("/v1/jobs/{id}/subcontract"), &c.dispatchers[1], &json!({"org_id": c.orgs[0]})).await?;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "its parent is not below it");
    let r = app.post(&format!("/v1/jobs/{id}/subcontract"), &c.dispatchers[1], &json!({"org_id": c.orgs[3]})).await?;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["offer_org_id"], c.orgs[3].as_str());

    // D names a technician of another organisation: 404; its own: scheduled.
    let r =
        app.post(&format!("/v1/jobs/{id}/accept"), &c.dispatchers[3], &json!({"technician_id": c.techs[2]})).await?;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let second = technician(&app, &c.admin, &c.orgs[3], "Second D", 25.0, 5).await?;
    let r = app.post(&format!("/v1/jobs/{id}/accept"), &c.dispatchers[3], &json!({"technician_id": second})).await?;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["technician_id"], second.as_str());
    assert_eq!(
        event_types(&app, &c.admin, &id).await?,
        ["created", "offered", "subcontracted", "offered", "accepted", "assigned"]
    );
    Ok(())
}

async fn two_concurrent_accepts_of_one_job_have_exactly_one_winner(backend: Backend) -> anyhow::Result<()> {
    let app = TestApp::spawn(backend).await?;
    let c = chain(&app).await?;
    // A second dispatcher of D, so two people answer the same offer at once.
    let u = app.post("/v1/users", &c.admin, &json!({"email": "second-d@probe.example", "password": "probe-password", "role": "dispatcher", "org_id": c.orgs[3]})).await?;
    assert_eq!(u.status, StatusCode::CREATED);
    let other = login_with(&app, "second-d@probe.example", "probe-password").await?;
    let customer = app.login("customer@demo.sortie").await?;
    for round in 0..5 {
        let id = app.book(&customer, &probe_booking(), None).await?.str("id");
        let path = format!("/v1/jobs/{id}/accept");
        let empty = json!({});
        let (a, b) = tokio::join!(app.post(&path, &c.dispatchers[3], &empty), app.post(&path, &other, &empty));
        let mut statuses = [a?.status, b?.status];
        statuses.sort();
        assert_eq!(statuses, [StatusCode::OK, StatusCode::CONFLICT], "round {round}");
        let types = event_types(&app, &c.admin, &id).await?;
        assert_eq!(types.iter().filter(|t| *t == "accepted").count(), 1);
    }
    Ok(())
}

async fn a_technician_is_never_booked_past_capacity_even_when_accepts_race(backend: Backend) -> anyhow::Result<()> {
    let app = TestApp::spawn(backend).await?;
    let c = chain(&app).await?;
    let solo = technician(&app, &c.admin, &c.orgs[3], "Solo", 5.0, 1).await?;
    let customer = app.login("customer@demo.sortie").await?;
    let first = app.book(&customer, &probe_booking(), None).await?.str("id");
    let second = app.book(&customer, &probe_booking(), None).await?.str("id");
    // Both offered to D naming Solo (nearest); two dispatchers accept both at once.
    let u = app.post("/v1/users", &c.admin, &json!({"email": "third-d@probe.example", "password": "probe-password", "role": "dispatcher", "org_id": c.orgs[3]})).await?;
    assert_eq!(u.status, StatusCode::CREATED);
    let other = login_with(&app, "third-d@probe.example", "probe-password").await?;
    let body = json!({"technician_id": solo});
    let (path_a, path_b) = (format!("/v1/jobs/{first}/accept"), format!("/v1/jobs/{second}/accept"));
    let (a, b) = tokio::join!(app.post(&path_a, &c.dispatchers[3], &body), app.post(&path_b, &other, &body));
    let (a, b) = (a?, b?);
    let mut statuses = [a.status, b.status];
    statuses.sort();
    assert_eq!(statuses, [StatusCode::OK, StatusCode::CONFLICT], "{} / {}", a.body, b.body);
    let loser = if a.status == StatusCode::CONFLICT { &a } else { &b };
    assert_eq!(loser.code(), "technician_at_capacity");
    // The losing job is still offered to D, untouched.
    let lost = if a.status == StatusCode::CONFLICT { &first } else { &second };
    assert_eq!(job(&app, &c.admin, lost).await?["status"], "offered");
    Ok(())
}

async fn reassigning_moves_the_job_within_the_assignees_subtree_only(backend: Backend) -> anyhow::Result<()> {
    let app = TestApp::spawn(backend).await?;
    let c = chain(&app).await?;
    let customer = app.login("customer@demo.sortie").await?;
    let id = app.book(&customer, &probe_booking(), None).await?.str("id");
    app.post(&format!("/v1/jobs/{id}/accept"), &c.dispatchers[3], &json!({})).await?;
    let another_d = technician(&app, &c.admin, &c.orgs[3], "Another D", 30.0, 5).await?;

    // An unrelated partner: 404. D's own dispatcher, to a technician outside D: 404.
    let ural = app.login("dispatcher@ural.demo.sortie").await?;
    assert_eq!(
        app.post(&format!("/v1/jobs/{id}/reassign"), &ural, &json!({"technician_id": another_d})).await?.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.post(&format!("/v1/jobs/{id}/reassign"), &c.dispatchers[3], &json!({"technician_id": c.techs[2]}))
            .await?
            .status,
        StatusCode::NOT_FOUND
    );
    let r =
        app.post(&format!("/v1/jobs/{id}/reassign"), &c.dispatchers[3], &json!({"technician_id": another_d})).await?;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["technician_id"], another_d.as_str());
    // C is D's parent: it may move the job to its own technician.
    let r =
        app.post(&format!("/v1/jobs/{id}/reassign"), &c.dispatchers[2], &json!({"technician_id": c.techs[2]})).await?;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["technician_id"], c.techs[2].as_str());
    let types = event_types(&app, &c.admin, &id).await?;
    assert_eq!(types.iter().filter(|t| *t == "assigned").count(), 3);
    Ok(())
}

async fn two_replicas_on_one_database_follow_each_others_changes_and_never_accept_twice(
    backend: Backend,
) -> anyhow::Result<()> {
    let one = TestApp::spawn(backend).await?;
    let c = chain(&one).await?;
    let two = one.replica().await?;
    let customer = two.login("customer@demo.sortie").await?;
    // Replica two dispatches (and loads its cache): D's technician is nearest.
    let first = two.book(&customer, &probe_booking(), None).await?.str("id");
    assert_eq!(job(&two, &c.admin, &first).await?["offer"]["org_id"], c.orgs[3].as_str());

    // D's technician drives away, reported through replica one; replica two's next decision knows.
    let tech = one.login("admin@demo.sortie").await?;
    let moved = one
        .post(&format!("/v1/technicians/{}/position", c.techs[3]), &tech, &json!({"lat": 70.0, "lon": 150.0}))
        .await?;
    assert_eq!(moved.status, StatusCode::NO_CONTENT, "{}", moved.body);
    let second = two.book(&customer, &probe_booking(), None).await?.str("id");
    assert_eq!(job(&two, &c.admin, &second).await?["offer"]["org_id"], c.orgs[2].as_str(), "C is nearest now");

    // Two dispatchers of C accept the same job at once, one through each replica.
    let u = one.post("/v1/users", &c.admin, &json!({"email": "second-c@probe.example", "password": "probe-password", "role": "dispatcher", "org_id": c.orgs[2]})).await?;
    assert_eq!(u.status, StatusCode::CREATED);
    let other = login_with(&two, "second-c@probe.example", "probe-password").await?;
    let path = format!("/v1/jobs/{second}/accept");
    let empty = json!({});
    let (a, b) = tokio::join!(one.post(&path, &c.dispatchers[2], &empty), two.post(&path, &other, &empty));
    let mut statuses = [a?.status, b?.status];
    statuses.sort();
    assert_eq!(statuses, [StatusCode::OK, StatusCode::CONFLICT]);
    Ok(())
}

async fn a_job_the_deadline_worker_cannot_handle_does_not_hold_up_the_others(backend: Backend) -> anyhow::Result<()> {
    use diesel::prelude::*;
    let app = TestApp::spawn(backend).await?;
    let c = chain(&app).await?;
    let customer = app.login("customer@demo.sortie").await?;
    let broken = app.book(&customer, &probe_booking(), None).await?.str("id");
    let fine = app.book(&customer, &probe_booking(), None).await?.str("id");
    // Break one job for real: its stored skills no longer parse, so re-dispatching it fails.
    let id = broken.clone();
    app.with_db(move |conn| {
        use api::db::schema::jobs;
        diesel::update(jobs::table.find(id)).set(jobs::required_skills.eq("not json")).execute(conn)?;
        Ok(())
    })
    .await?;
    app.clock.advance(chrono::Duration::minutes(121));
    assert_eq!(app.sweep().await?, 1, "the healthy job moved on");
    assert_eq!(job(&app, &c.admin, &fine).await?["offer"]["org_id"], c.orgs[2].as_str());
    // The broken one keeps its (expired, still pending) offer for the next pass; nothing half-done.
    let events = app.get(&format!("/v1/jobs/{broken}/events"), &c.admin).await?;
    let types: Vec<&str> =
        events.body["items"].as_array().into_iter().flatten().filter_map(|e| e["type"].as_str()).collect();
    assert_eq!(types, ["created", "offered"]);
    Ok(())
}
