//! Planned days in the product: routes with planned times, ETAs for
//! customers, re-planning on change and on demand.

use diesel::prelude::*;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::both_backends;
use crate::helpers::{Backend, TestApp};
use crate::offers::{JOB_LAT, JOB_LON, chain, job, login_with, probe_booking, technician};

both_backends!(
    accepted_jobs_join_the_technicians_route_in_window_order_and_customers_see_an_eta,
    cancelling_or_reassigning_takes_the_visit_out_of_the_old_route,
    an_org_plan_moves_visits_to_the_nearer_technician_but_never_one_under_way,
    a_visit_nobody_can_reach_in_its_window_is_kept_and_flagged,
    for_a_job_due_today_dispatch_prefers_the_least_added_travel_among_near_equals,
    the_phones_route_follows_the_plan_and_a_visit_under_way_leads_the_day,
);

/// Tomorrow's date and a window on it, given in Moscow time.
fn window(from_h: u32, to_h: u32) -> (String, Value) {
    let day = (chrono::Utc::now() + chrono::Duration::days(1)).date_naive();
    (
        day.to_string(),
        json!({"start": format!("{day}T{from_h:02}:00:00+03:00"), "end": format!("{day}T{to_h:02}:00:00+03:00")}),
    )
}

fn at(lat: f64, lon: f64, w: &Value) -> Value {
    let mut b = probe_booking();
    b["location"] = json!({"lat": lat, "lon": lon});
    b["window"] = w.clone();
    b
}

async fn route(app: &TestApp, token: &str, tech: &str, date: &str) -> anyhow::Result<Value> {
    let r = app.get(&format!("/v1/technicians/{tech}/route?date={date}"), token).await?;
    anyhow::ensure!(r.status == StatusCode::OK, "{}", r.body);
    Ok(r.body)
}

fn stop_jobs(route: &Value) -> Vec<String> {
    route["stops"].as_array().into_iter().flatten().filter_map(|s| s["job_id"].as_str().map(str::to_owned)).collect()
}

fn time(v: &Value) -> chrono::DateTime<chrono::Utc> {
    v.as_str()
        .and_then(|s| chrono::DateTime::parse_from_rfc3339(s).ok())
        .map(|t| t.with_timezone(&chrono::Utc))
        .unwrap_or_default()
}

async fn accepted_jobs_join_the_technicians_route_in_window_order_and_customers_see_an_eta(
    backend: Backend,
) -> anyhow::Result<()> {
    let app = TestApp::spawn(backend).await?;
    let c = chain(&app).await?;
    let customer = app.login("customer@demo.sortie").await?;
    let (date, late) = window(14, 16);
    let (_, early) = window(9, 11);
    // Booked late window first: the route still serves the early window first.
    let second = app.book(&customer, &at(JOB_LAT, JOB_LON, &late), None).await?.str("id");
    let first = app.book(&customer, &at(JOB_LAT + 0.05, JOB_LON, &early), None).await?.str("id");
    for id in [&second, &first] {
        let r = app.post(&format!("/v1/jobs/{id}/accept"), &c.dispatchers[3], &json!({})).await?;
        assert_eq!(r.body["technician_id"], c.techs[3].as_str(), "{}", r.body);
    }
    let day = route(&app, &c.dispatchers[3], &c.techs[3], &date).await?;
    assert_eq!(stop_jobs(&day), [first.clone(), second.clone()]);
    assert_eq!(day["timezone"], "Asia/Krasnoyarsk");
    for stop in day["stops"].as_array().into_iter().flatten() {
        assert_eq!(stop["feasible"], true);
        let start = time(&stop["planned_start"]);
        assert!(start >= time(&stop["window"]["start"]) && start <= time(&stop["window"]["end"]), "{stop}");
        assert!(time(&stop["planned_arrival"]) <= start);
        assert!(time(&stop["planned_departure"]) > start);
        // The shift starts at midnight, the windows in the afternoon: the technician leaves late
        // enough to arrive just in time, never hours early to wait at the door.
        assert!(start - time(&stop["planned_arrival"]) <= chrono::Duration::seconds(1), "{stop}");
    }
    // A day with nothing planned travels a plain zero (not -0.0).
    let (empty_date, _) = window(0, 1);
    let empty_date =
        (chrono::NaiveDate::parse_from_str(&empty_date, "%Y-%m-%d")? + chrono::Duration::days(3)).to_string();
    let empty = route(&app, &c.dispatchers[3], &c.techs[3], &empty_date).await?;
    assert_eq!(empty["travel_m"].as_f64().map(f64::is_sign_negative), Some(false), "{empty}");
    // The ETA window surrounds the planned start, for the customer and the tracking link.
    let planned = time(&day["stops"][1]["planned_start"]);
    let mine = app.get(&format!("/v1/requests/{second}"), &customer).await?;
    let (eta_start, eta_end) = (time(&mine.body["eta"]["start"]), time(&mine.body["eta"]["end"]));
    assert!(
        eta_start <= planned && planned <= eta_end && eta_end - eta_start == chrono::Duration::minutes(30),
        "{}",
        mine.body
    );
    assert!(
        eta_start >= time(&mine.body["window"]["start"]) && eta_end <= time(&mine.body["window"]["end"]),
        "the ETA lies inside the customer's window: {}",
        mine.body
    );
    let track =
        app.call(reqwest::Method::GET, &format!("/v1/track/{}", mine.str("tracking_token")), None, None).await?;
    assert_eq!(track.body["eta"], mine.body["eta"]);
    // Times are shown in the local offset, with the zone named.
    assert_eq!(track.body["timezone"], "Asia/Krasnoyarsk");
    for t in [&track.body["window"]["start"], &track.body["eta"]["end"], &mine.body["window"]["end"]] {
        assert!(t.as_str().is_some_and(|t| t.ends_with("+07:00")), "{t} in {}", track.body);
    }

    // The technician sees its own route; another partner's dispatcher gets 404; a bad date 422.
    let u = app.post("/v1/users", &c.admin, &json!({"email": "tech-d@probe.example", "password": "probe-password", "role": "technician", "technician_id": c.techs[3]})).await?;
    assert_eq!(u.status, StatusCode::CREATED, "{}", u.body);
    let own = login_with(&app, "tech-d@probe.example", "probe-password").await?;
    assert_eq!(stop_jobs(&route(&app, &own, &c.techs[3], &date).await?).len(), 2);
    let ural = app.login("dispatcher@ural.demo.sortie").await?;
    assert_eq!(
        app.get(&format!("/v1/technicians/{}/route?date={date}", c.techs[3]), &ural).await?.status,
        StatusCode::NOT_FOUND
    );
    let bad = app.get(&format!("/v1/technicians/{}/route?date=tomorrow", c.techs[3]), &own).await?;
    assert_eq!((bad.status, bad.field()), (StatusCode::UNPROCESSABLE_ENTITY, "date"));
    Ok(())
}

async fn cancelling_or_reassigning_takes_the_visit_out_of_the_old_route(backend: Backend) -> anyhow::Result<()> {
    let app = TestApp::spawn(backend).await?;
    let c = chain(&app).await?;
    let customer = app.login("customer@demo.sortie").await?;
    let (date, w) = window(10, 12);
    let (_, w2) = window(13, 15);
    let a = app.book(&customer, &at(JOB_LAT, JOB_LON, &w), None).await?.str("id");
    let b = app.book(&customer, &at(JOB_LAT, JOB_LON, &w2), None).await?.str("id");
    for id in [&a, &b] {
        app.post(&format!("/v1/jobs/{id}/accept"), &c.dispatchers[3], &json!({})).await?;
    }
    assert_eq!(stop_jobs(&route(&app, &c.admin, &c.techs[3], &date).await?).len(), 2);

    let r = app.post(&format!("/v1/requests/{a}/cancel"), &customer, &json!({})).await?;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.body["eta"].is_null(), "a cancelled request has no ETA");
    assert_eq!(stop_jobs(&route(&app, &c.admin, &c.techs[3], &date).await?), std::slice::from_ref(&b));

    let r =
        app.post(&format!("/v1/jobs/{b}/reassign"), &c.dispatchers[2], &json!({"technician_id": c.techs[2]})).await?;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert!(stop_jobs(&route(&app, &c.admin, &c.techs[3], &date).await?).is_empty());
    assert_eq!(stop_jobs(&route(&app, &c.admin, &c.techs[2], &date).await?), std::slice::from_ref(&b));
    Ok(())
}

async fn an_org_plan_moves_visits_to_the_nearer_technician_but_never_one_under_way(
    backend: Backend,
) -> anyhow::Result<()> {
    let app = TestApp::spawn(backend).await?;
    let c = chain(&app).await?;
    // Two technicians of D 100 km apart; jobs at each one's door given to the other.
    let south = technician(&app, &c.admin, &c.orgs[3], "South", 0.0, 5).await?;
    let north = technician(&app, &c.admin, &c.orgs[3], "North", 100.0, 5).await?;
    let near_north = JOB_LAT + 100.0 / 111.0;
    let customer = app.login("customer@demo.sortie").await?;
    let (date, w) = window(10, 12);
    let (_, w2) = window(13, 15);
    let mut booked = Vec::new();
    for (lat, win, wrong) in [(near_north, &w, &south), (JOB_LAT, &w, &north), (near_north, &w2, &south)] {
        let id = app.book(&customer, &at(lat, JOB_LON, win), None).await?.str("id");
        let r = app.post(&format!("/v1/jobs/{id}/accept"), &c.dispatchers[3], &json!({"technician_id": wrong})).await?;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        booked.push(id);
    }
    // The third is already under way with South: it must stay.
    let under_way = booked[2].clone();
    let id = under_way.clone();
    app.with_db(move |conn| {
        use api::db::schema::jobs;
        diesel::update(jobs::table.find(id)).set(jobs::status.eq("en_route")).execute(conn)?;
        Ok(())
    })
    .await?;

    let r = app
        .call(reqwest::Method::POST, &format!("/v1/orgs/{}/plan?date={date}", c.orgs[3]), Some(&c.dispatchers[3]), None)
        .await?;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["moved"], 2, "{}", r.body);
    let (before, after) =
        (r.body["distance_before_m"].as_f64().unwrap_or(0.0), r.body["distance_after_m"].as_f64().unwrap_or(f64::MAX));
    assert!(after < before, "{before} → {after}");
    assert_eq!(job(&app, &c.admin, &booked[0]).await?["technician_id"], north.as_str());
    // South's day now continues from the visit under way up north, so the visit at the
    // south end goes to D's first technician, 10 km away, rather than back to South.
    assert_eq!(job(&app, &c.admin, &booked[1]).await?["technician_id"], c.techs[3].as_str());
    assert_eq!(job(&app, &c.admin, &under_way).await?["technician_id"], south.as_str(), "never move a visit under way");
    let south_day = route(&app, &c.admin, &south, &date).await?;
    assert_eq!(stop_jobs(&south_day).first(), Some(&under_way), "the day continues from the visit under way");
    let events = app.get(&format!("/v1/jobs/{}/events", booked[0]), &c.admin).await?;
    let last = events.body["items"].as_array().and_then(|v| v.last()).cloned().unwrap_or_default();
    assert_eq!((last["type"].as_str(), last["data"]["reason"].as_str()), (Some("assigned"), Some("replanned")));
    // Another partner may not plan D.
    let ural = app.login("dispatcher@ural.demo.sortie").await?;
    let r =
        app.call(reqwest::Method::POST, &format!("/v1/orgs/{}/plan?date={date}", c.orgs[3]), Some(&ural), None).await?;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    Ok(())
}

async fn a_visit_nobody_can_reach_in_its_window_is_kept_and_flagged(backend: Backend) -> anyhow::Result<()> {
    let app = TestApp::spawn(backend).await?;
    let c = chain(&app).await?;
    // An evening technician of D (20:00-23:00 Krasnoyarsk) is given a 14:00-16:00 local visit.
    let evening = app
        .post(
            "/v1/technicians",
            &c.admin,
            &json!({"org_id": c.orgs[3], "name": "Evening", "skills": ["probe"],
            "home_base": {"lat": JOB_LAT, "lon": JOB_LON}, "shift": {"start": "20:00", "end": "23:00"},
            "timezone": "Asia/Krasnoyarsk", "daily_capacity": 3}),
        )
        .await?
        .str("id");
    let customer = app.login("customer@demo.sortie").await?;
    let (date, w) = window(10, 12);
    let id = app.book(&customer, &at(JOB_LAT, JOB_LON, &w), None).await?.str("id");
    let r = app.post(&format!("/v1/jobs/{id}/accept"), &c.dispatchers[3], &json!({"technician_id": evening})).await?;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let day = route(&app, &c.admin, &evening, &date).await?;
    assert_eq!(stop_jobs(&day), std::slice::from_ref(&id), "kept in the route, never dropped");
    assert_eq!(day["stops"][0]["feasible"], false);
    Ok(())
}

async fn for_a_job_due_today_dispatch_prefers_the_least_added_travel_among_near_equals(
    backend: Backend,
) -> anyhow::Result<()> {
    use chrono::Timelike as _;
    let app = TestApp::spawn(backend).await?;
    let c = chain(&app).await?;
    // Two technicians of D near point A, 55 km south of the chain's: P 100 m north, Q 400 m south.
    let a_lat = JOB_LAT - 0.5;
    let p = technician(&app, &c.admin, &c.orgs[3], "P", -0.5 * 111.0 + 0.1, 5).await?;
    let q = technician(&app, &c.admin, &c.orgs[3], "Q", -0.5 * 111.0 - 0.4, 5).await?;
    // Times on one Krasnoyarsk day, all within the next 24 hours.
    let krasnoyarsk = chrono::FixedOffset::east_opt(7 * 3600).ok_or_else(|| anyhow::anyhow!("offset"))?;
    let local = chrono::Utc::now().with_timezone(&krasnoyarsk);
    let base = if local.hour() < 17 {
        local
    } else {
        (local.date_naive() + chrono::Duration::days(1))
            .and_hms_opt(6, 0, 0)
            .and_then(|t| t.and_local_timezone(krasnoyarsk).single())
            .unwrap_or(local)
    };
    let w = |from_h: i64, to_h: i64| json!({"start": (base + chrono::Duration::hours(from_h)).to_rfc3339(), "end": (base + chrono::Duration::hours(to_h)).to_rfc3339()});
    let customer = app.login("customer@demo.sortie").await?;
    // Q already has a later visit 2 km north of A: A lies on Q's way there.
    let v = app.book(&customer, &at(a_lat + 0.018, JOB_LON, &w(3, 6)), None).await?.str("id");
    let r = app.post(&format!("/v1/jobs/{v}/accept"), &c.dispatchers[3], &json!({"technician_id": q})).await?;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);

    app.db.trace().start();
    let j = app.book(&customer, &at(a_lat, JOB_LON, &w(1, 2)), None).await?.str("id");
    let committed = app.db.trace().stop();
    // The re-ranking reads the candidates, their stored routes and their days' jobs in three statements,
    // whatever their number (it read four per candidate), and routes the offer to the re-ranked choice
    // through the snapshot the decision read: 18 in all.
    let booking = crate::requests::booking_transactions(&committed);
    let statements = booking.first().map_or(0, |tx| tx.len());
    assert!((1..=18).contains(&statements), "{statements} statements: {committed:#?}");
    let ex = app.get(&format!("/v1/jobs/{j}/explanation"), &c.admin).await?;
    let last = ex.body["decisions"].as_array().and_then(|d| d.last()).cloned().unwrap_or_default();
    assert_eq!(last["ranked"][0]["technician_id"], p.as_str(), "P is nearest: {last}");
    assert_eq!(last["reason"]["code"], "least_added_travel", "{last}");
    assert_eq!(last["chosen"], q.as_str(), "Q passes by anyway: {last}");
    let accepted = app.post(&format!("/v1/jobs/{j}/accept"), &c.dispatchers[3], &json!({})).await?;
    assert_eq!(accepted.body["technician_id"], q.as_str());
    Ok(())
}

/// The `route` entity of a full pull.
async fn pulled_route(app: &TestApp, token: &str, device: &str) -> anyhow::Result<Value> {
    let r = app.post("/v1/sync/pull", token, &json!({"device_id": device, "cursor": null, "limit": 500})).await?;
    anyhow::ensure!(r.status == StatusCode::OK, "{}", r.body);
    r.body["changes"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|c| c["entity"] == "route")
        .map(|c| c["data"].clone())
        .ok_or_else(|| anyhow::anyhow!("no route in {}", r.body))
}

async fn the_phones_route_follows_the_plan_and_a_visit_under_way_leads_the_day(backend: Backend) -> anyhow::Result<()> {
    let app = TestApp::spawn(backend).await?;
    let c = chain(&app).await?;
    let customer = app.login("customer@demo.sortie").await?;
    let (_, late) = window(14, 16);
    let (_, early) = window(9, 11);
    let b = app.book(&customer, &at(JOB_LAT, JOB_LON, &late), None).await?.str("id");
    let a = app.book(&customer, &at(JOB_LAT + 0.05, JOB_LON, &early), None).await?.str("id");
    for id in [&b, &a] {
        app.post(&format!("/v1/jobs/{id}/accept"), &c.dispatchers[3], &json!({})).await?;
    }
    let u = app.post("/v1/users", &c.admin, &json!({"email": "phone-d@probe.example", "password": "probe-password", "role": "technician", "technician_id": c.techs[3]})).await?;
    assert_eq!(u.status, StatusCode::CREATED, "{}", u.body);
    let tech = login_with(&app, "phone-d@probe.example", "probe-password").await?;
    let device =
        app.post("/v1/devices", &tech, &json!({"platform": "android", "app_version": "1.0.0"})).await?.str("device_id");

    let route = pulled_route(&app, &tech, &device).await?;
    let ids: Vec<&str> = route["stops"].as_array().into_iter().flatten().filter_map(|s| s["job_id"].as_str()).collect();
    assert_eq!(ids, [a.as_str(), b.as_str()], "{route}");
    assert!(route["stops"][0]["planned_start"].is_string(), "{route}");

    // Nobody is on the way to a visit more than a day away.
    let b_start = time(&late["start"]);
    let set_off = |seq: u64| json!({"device_id": device, "mutations": [{"seq": seq, "id": uuid::Uuid::new_v4().to_string(), "name": "job.set_status", "args": {"job_id": b, "status": "en_route"}}]});
    let now = api::clock::Clock::now(&*app.clock);
    app.clock.advance(b_start - chrono::Duration::hours(30) - now);
    let r = app.post("/v1/sync/push", &tech, &set_off(1)).await?;
    assert_eq!(
        (r.body["results"][0]["status"].as_str(), r.body["results"][0]["reason"].as_str()),
        (Some("rejected"), Some("not_today")),
        "{}",
        r.body
    );

    // Three hours before its window the technician sets off to the later visit first: the day is re-planned from it.
    app.clock.advance(chrono::Duration::hours(27));
    let r = app.post("/v1/sync/push", &tech, &set_off(2)).await?;
    assert_eq!(r.body["results"][0]["status"], "applied", "{}", r.body);
    // The ETA counts from now, is dated today, and never opens before the customer's window.
    let mine = app.get(&format!("/v1/requests/{b}"), &customer).await?;
    let (eta_start, eta_end) = (time(&mine.body["eta"]["start"]), time(&mine.body["eta"]["end"]));
    assert_eq!(eta_start, b_start, "{}", mine.body);
    assert_eq!(eta_end - eta_start, chrono::Duration::minutes(30), "{}", mine.body);
    let route = pulled_route(&app, &tech, &device).await?;
    let ids: Vec<&str> = route["stops"].as_array().into_iter().flatten().filter_map(|s| s["job_id"].as_str()).collect();
    assert_eq!(ids, [b.as_str(), a.as_str()], "{route}");
    Ok(())
}
