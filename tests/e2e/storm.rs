//! Issue #14: dispatch under a booking storm. Pending offers hold their
//! technician's room, so a burst of same-day bookings into one small area on
//! two replicas ends with every job scheduled or moved on (never stuck
//! `offered` because of capacity), nobody over `daily_capacity`, nobody
//! assigned twice; accepting falls back to another technician of the
//! organisation; a losing accept shows the state as it is now.

use std::collections::HashMap;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::both_backends;
use crate::helpers::{Backend, TestApp};
use crate::offers::{JOB_LAT, JOB_LON, chain, job, login_with, probe_booking, technician};

both_backends!(
    a_burst_of_same_day_bookings_on_two_replicas_never_overbooks_and_every_accept_wins,
    a_losing_accept_shows_the_job_as_it_is_now,
    accepting_without_a_technician_falls_back_to_another_of_the_organisation_or_names_alternatives,
    a_moscow_job_is_never_offered_to_a_sub_partner_in_omsk_beyond_its_service_radius,
    with_thousands_of_technicians_edits_during_a_burst_take_effect_without_a_full_reload,
    a_page_of_jobs_shows_each_jobs_own_chain,
);

/// Scheduled jobs per technician, straight from the database.
async fn scheduled_per_technician(app: &TestApp) -> anyhow::Result<HashMap<String, i64>> {
    app.with_db(|conn| {
        use api::db::schema::jobs;
        use diesel::prelude::*;
        let rows: Vec<(Option<String>, i64)> = jobs::table
            .filter(jobs::status.eq("scheduled"))
            .group_by(jobs::technician_id)
            .select((jobs::technician_id, diesel::dsl::count_star()))
            .load(conn)?;
        Ok(rows.into_iter().map(|(t, n)| (t.unwrap_or_default(), n)).collect())
    })
    .await
}

async fn set_capacity(app: &TestApp, admin: &str, technician: &str, capacity: u32) -> anyhow::Result<()> {
    let path = format!("/v1/technicians/{technician}");
    let body = json!({"daily_capacity": capacity});
    let r = app.call(reqwest::Method::PATCH, &path, Some(admin), Some(&body)).await?;
    anyhow::ensure!(r.status == StatusCode::OK, "{}", r.body);
    Ok(())
}

async fn a_burst_of_same_day_bookings_on_two_replicas_never_overbooks_and_every_accept_wins(
    backend: Backend,
) -> anyhow::Result<()> {
    let one = TestApp::spawn(backend).await?;
    let c = chain(&one).await?; // four technicians near the job, 5 visits a day each
    let two = one.replica().await?;
    let apps = [&one, &two];
    let customer = one.login("customer@demo.sortie").await?;
    const BOOKINGS: usize = 30;
    // Each client books through one replica and, as soon as the job is offered,
    // the offered organisation's dispatcher accepts it (`{}`) through the other.
    let clients = (0..BOOKINGS).map(|i| {
        let (booker, accepter) = (apps[i % 2], apps[(i + 1) % 2]);
        let (customer, c) = (&customer, &c);
        async move {
            let booked = booker.book(customer, &probe_booking(), None).await?;
            anyhow::ensure!(booked.status == StatusCode::CREATED, "{}", booked.body);
            let id = booked.str("id");
            if booked.body["status"] != "offered" {
                return Ok::<_, anyhow::Error>((id, None));
            }
            let offered_to =
                job(accepter, &c.admin, &id).await?["offer"]["org_id"].as_str().unwrap_or_default().to_owned();
            let org = c.orgs.iter().position(|o| *o == offered_to).expect("offered to a chain organisation");
            let answer = accepter.post(&format!("/v1/jobs/{id}/accept"), &c.dispatchers[org], &json!({})).await?;
            Ok((id, Some((answer.status, answer.body))))
        }
    });
    let results = futures_util::future::join_all(clients).await;
    let mut statuses: HashMap<String, usize> = HashMap::new();
    for r in results {
        let (id, answer) = r?;
        if let Some((status, body)) = answer {
            assert_eq!(status, StatusCode::OK, "every accept of an offer wins: {body}");
        }
        let j = job(&one, &c.admin, &id).await?;
        *statuses.entry(j["status"].as_str().unwrap_or_default().to_owned()).or_default() += 1;
        // Never two assignments: one `accepted` event per job at most.
        let events = one.get(&format!("/v1/jobs/{id}/events?limit=200"), &c.admin).await?;
        let accepted =
            events.body["items"].as_array().into_iter().flatten().filter(|e| e["type"] == "accepted").count();
        assert!(accepted <= 1, "job {id} accepted {accepted} times");
    }
    // 4 technicians × 5 visits: 20 scheduled; the other 10 escalated to the vendor's queue.
    assert_eq!(statuses.get("scheduled"), Some(&20), "{statuses:?}");
    assert_eq!(statuses.get("unassignable"), Some(&10), "{statuses:?}");
    assert_eq!(statuses.get("offered"), None, "no job waits for a deadline because of capacity: {statuses:?}");
    let per_tech = scheduled_per_technician(&one).await?;
    for t in &c.techs {
        assert_eq!(per_tech.get(t), Some(&5), "each chain technician is full, never over: {per_tech:?}");
    }
    Ok(())
}

async fn a_losing_accept_shows_the_job_as_it_is_now(backend: Backend) -> anyhow::Result<()> {
    let one = TestApp::spawn(backend).await?;
    let c = chain(&one).await?;
    let two = one.replica().await?;
    let customer = one.login("customer@demo.sortie").await?;
    let id = one.book(&customer, &probe_booking(), None).await?.str("id");
    let u = one
        .post(
            "/v1/users",
            &c.admin,
            &json!({"email": "second-d@probe.example", "password": "probe-password", "role": "dispatcher", "org_id": c.orgs[3]}),
        )
        .await?;
    assert_eq!(u.status, StatusCode::CREATED, "{}", u.body);
    let other = login_with(&two, "second-d@probe.example", "probe-password").await?;
    let path = format!("/v1/jobs/{id}/accept");
    let empty = json!({});
    let (a, b) = tokio::join!(one.post(&path, &c.dispatchers[3], &empty), two.post(&path, &other, &empty));
    let (a, b) = (a?, b?);
    let loser = if a.status == StatusCode::OK { b } else { a };
    assert_eq!(loser.status, StatusCode::CONFLICT, "{}", loser.body);
    assert_eq!(loser.code(), "offer_not_open");
    let current = &loser.body["error"]["current"];
    assert_eq!(current["status"], "scheduled", "the winner's result, not a stale `offered`: {current}");
    assert_eq!(current["offer"], Value::Null, "{current}");
    assert_eq!(current["technician_id"], c.techs[3].as_str(), "{current}");
    Ok(())
}

async fn accepting_without_a_technician_falls_back_to_another_of_the_organisation_or_names_alternatives(
    backend: Backend,
) -> anyhow::Result<()> {
    let app = TestApp::spawn(backend).await?;
    let c = chain(&app).await?;
    let d = &c.orgs[3];
    let second = technician(&app, &c.admin, d, "Second D", 12.0, 5).await?;
    // Nearer than `second` but without the job's skill: not eligible, yet it has room.
    let unskilled = app
        .post(
            "/v1/technicians",
            &c.admin,
            &json!({"org_id": d, "name": "Unskilled D", "skills": [],
                "home_base": {"lat": JOB_LAT + 11.0 / 111.0, "lon": JOB_LON},
                "shift": {"start": "00:00", "end": "23:59"}, "timezone": "Asia/Krasnoyarsk", "daily_capacity": 5}),
        )
        .await?;
    assert_eq!(unskilled.status, StatusCode::CREATED, "{}", unskilled.body);
    let unskilled = unskilled.str("id");
    let customer = app.login("customer@demo.sortie").await?;
    let first = app.book(&customer, &probe_booking(), None).await?.str("id");
    assert_eq!(job(&app, &c.admin, &first).await?["offer"]["org_id"], d.as_str());

    // Dispatch's choice has no room any more (its capacity went to 0): accepting takes the next one of D.
    set_capacity(&app, &c.admin, &c.techs[3], 0).await?;
    let accepted = app.post(&format!("/v1/jobs/{first}/accept"), &c.dispatchers[3], &json!({})).await?;
    assert_eq!(accepted.status, StatusCode::OK, "{}", accepted.body);
    assert_eq!(accepted.body["status"], "scheduled");
    assert_eq!(accepted.body["technician_id"], second.as_str(), "the best available technician of D");

    // Now `second` is full too: 409 naming the technician who has room but lacks the skill.
    let booked = app.book(&customer, &probe_booking(), None).await?.str("id");
    assert_eq!(job(&app, &c.admin, &booked).await?["offer"]["org_id"], d.as_str());
    set_capacity(&app, &c.admin, &second, 1).await?;
    let refused = app.post(&format!("/v1/jobs/{booked}/accept"), &c.dispatchers[3], &json!({})).await?;
    assert_eq!(refused.status, StatusCode::CONFLICT, "{}", refused.body);
    assert_eq!(refused.code(), "technician_at_capacity");
    assert_eq!(refused.body["error"]["current"]["status"], "offered", "the offer stays open: {}", refused.body);
    let alternatives = refused.body["error"]["alternatives"].as_array().cloned().unwrap_or_default();
    assert_eq!(alternatives.len(), 1, "{}", refused.body);
    assert_eq!(alternatives[0]["technician_id"], unskilled.as_str());
    assert_eq!(alternatives[0]["not_eligible"][0]["code"], "missing_skill");
    // The dispatcher names the alternative.
    let named =
        app.post(&format!("/v1/jobs/{booked}/accept"), &c.dispatchers[3], &json!({"technician_id": unskilled})).await?;
    assert_eq!(named.status, StatusCode::OK, "{}", named.body);
    assert_eq!(named.body["technician_id"], unskilled.as_str());
    Ok(())
}

async fn a_moscow_job_is_never_offered_to_a_sub_partner_in_omsk_beyond_its_service_radius(
    backend: Backend,
) -> anyhow::Result<()> {
    let app = TestApp::spawn(backend).await?;
    let admin = app.login("admin@demo.sortie").await?;
    let vendor = app.org("vendor").await?.id;
    let partner = app
        .post(
            "/v1/orgs",
            &admin,
            &json!({"parent_id": vendor, "name": "Radius Partner", "timezone": "Europe/Moscow", "max_travel_km": 300}),
        )
        .await?;
    assert_eq!(partner.status, StatusCode::CREATED, "{}", partner.body);
    assert_eq!(partner.body["max_travel_km"], 300.0);
    let partner = partner.str("id");
    // The sub-partner sets no radius of its own: its partner's 300 km apply.
    let omsk = app
        .post("/v1/orgs", &admin, &json!({"parent_id": partner, "name": "Omsk Sub", "timezone": "Asia/Omsk"}))
        .await?;
    assert_eq!(omsk.status, StatusCode::CREATED, "{}", omsk.body);
    assert_eq!(omsk.body["max_travel_km"], Value::Null);
    let omsk = omsk.str("id");
    let tech = app
        .post(
            "/v1/technicians",
            &admin,
            &json!({"org_id": omsk, "name": "Omsk Tech", "skills": ["radius_probe"],
                "home_base": {"lat": 54.99, "lon": 73.37}, "shift": {"start": "00:00", "end": "23:59"},
                "daily_capacity": 5}),
        )
        .await?;
    assert_eq!(tech.status, StatusCode::CREATED, "{}", tech.body);
    assert_eq!(tech.body["max_travel_km"], Value::Null);
    let tech = tech.str("id");
    let dispatcher = app
        .new_login(
            &admin,
            &json!({"email": "radius@probe.example", "password": "probe-password", "role": "dispatcher", "org_id": partner}),
        )
        .await?;
    // The partner's dispatcher books for a customer in central Moscow: the partner is the general contractor.
    let mut moscow = crate::helpers::booking();
    moscow["required_skills"] = json!(["radius_probe"]);
    let book = |key: &'static str| {
        let (app, dispatcher, moscow) = (&app, &dispatcher, &moscow);
        async move {
            let r = app.book(dispatcher, moscow, Some(key)).await?;
            anyhow::ensure!(r.status == StatusCode::CREATED, "{}", r.body);
            Ok::<_, anyhow::Error>(r)
        }
    };
    let first = book("radius-1").await?;
    assert_eq!(first.body["status"], "unassignable", "Omsk is 2,230 km away: escalated, nobody else: {}", first.body);
    let why = app.get(&format!("/v1/jobs/{}/explanation", first.str("id")), &admin).await?;
    assert!(why.body.to_string().contains("beyond_radius"), "the explanation says why: {}", why.body);

    // The technician's own radius overrides its organisation's…
    let path = format!("/v1/technicians/{tech}");
    let far = app.call(reqwest::Method::PATCH, &path, Some(&admin), Some(&json!({"max_travel_km": 3000}))).await?;
    assert_eq!(far.status, StatusCode::OK, "{}", far.body);
    let second = book("radius-2").await?;
    assert_eq!(second.body["status"], "offered", "{}", second.body);
    assert_eq!(job(&app, &admin, &second.str("id")).await?["offer"]["org_id"], omsk.as_str());
    // …and `null` goes back to it.
    let back = app.call(reqwest::Method::PATCH, &path, Some(&admin), Some(&json!({"max_travel_km": null}))).await?;
    assert_eq!(back.body["max_travel_km"], Value::Null, "{}", back.body);
    assert_eq!(book("radius-3").await?.body["status"], "unassignable");
    // A radius must be positive.
    let bad = app.call(reqwest::Method::PATCH, &path, Some(&admin), Some(&json!({"max_travel_km": 0}))).await?;
    assert_eq!((bad.status, bad.field()), (StatusCode::UNPROCESSABLE_ENTITY, "max_travel_km"));
    Ok(())
}

/// Where the big network of the next test lives (far from the demo's technicians).
const BIG_LAT: f64 = 62.0;
const BIG_LON: f64 = 130.0;

async fn with_thousands_of_technicians_edits_during_a_burst_take_effect_without_a_full_reload(
    backend: Backend,
) -> anyhow::Result<()> {
    const TECHNICIANS: usize = 3_000;
    let app = TestApp::spawn(backend).await?;
    let admin = app.login("admin@demo.sortie").await?;
    let vendor = app.org("vendor").await?.id;
    let mut orgs = Vec::new();
    for name in ["Big Partner", "Local Partner"] {
        let r = app
            .post("/v1/orgs", &admin, &json!({"parent_id": vendor, "name": name, "timezone": "Asia/Yakutsk"}))
            .await?;
        anyhow::ensure!(r.status == StatusCode::CREATED, "{}", r.body);
        orgs.push(r.str("id"));
    }
    let (big, local) = (orgs[0].clone(), orgs[1].clone());
    let big_id = big.clone();
    // Thousands of technicians of the big partner within ~50 km (stored directly: a fixture, not the subject);
    // the first one is the nearest, 0.5 km away.
    let ids = app
        .with_db(move |conn| {
            use api::domain::shift::{Shift, every_day};
            let now = chrono::Utc::now().naive_utc();
            let shift = api::storage::json::shift_text(&Shift::parse("00:00", "23:59", every_day())?)?;
            let mut rows = Vec::with_capacity(TECHNICIANS);
            for i in 0..TECHNICIANS {
                let km = 0.5 + (i as f64) * 50.0 / TECHNICIANS as f64;
                let angle = i as f64;
                rows.push(api::storage::technicians::NewTechnician {
                    id: uuid::Uuid::new_v4().to_string(),
                    org_id: big.clone(),
                    name: format!("Big {i}"),
                    skills: r#"["storm_probe"]"#.into(),
                    home_lat: BIG_LAT + km / 111.0 * angle.sin(),
                    home_lon: BIG_LON + km / 52.0 * angle.cos(),
                    pos_lat: None,
                    pos_lon: None,
                    position_at: None,
                    shift: shift.clone(),
                    absences: "[]".into(),
                    timezone: "Asia/Yakutsk".into(),
                    daily_capacity: 3,
                    parts: "[]".into(),
                    active: true,
                    created_at: now,
                    updated_at: now,
                    max_travel_km: None,
                });
            }
            api::db::write_tx(conn, |c| Ok(api::storage::technicians::insert_many(c, &rows)?))?;
            Ok(rows.into_iter().map(|r| r.id).collect::<Vec<_>>())
        })
        .await?;
    let nearest = ids[0].clone();
    app.reload_dispatch_cache().await?; // the fixture bypassed the change log
    let loads = app.dispatch_full_loads();
    // The local partner's technician is 30 km away: nobody offers it anything while the big one is nearer.
    technician_at(&app, &admin, &local, BIG_LAT + 30.0 / 111.0, BIG_LON).await?;
    let customer = app.login("customer@demo.sortie").await?;
    let mut body = probe_booking();
    body["location"] = json!({"lat": BIG_LAT, "lon": BIG_LON});
    body["required_skills"] = json!(["storm_probe"]);

    // A burst of bookings; meanwhile the local partner gets an exclusive territory around the job and the
    // nearest big technician is deactivated.
    let read = |id: String| {
        let (app, admin) = (&app, &admin);
        async move { Ok::<_, anyhow::Error>(job(app, admin, &id).await?["offer"]["org_id"].as_str().map(str::to_owned)) }
    };
    let burst = |n: usize| {
        let (app, customer, body) = (&app, &customer, &body);
        futures_util::future::join_all((0..n).map(move |_| async move {
            let started = chrono::Utc::now();
            let r = app.book(customer, body, None).await?;
            anyhow::ensure!(r.status == StatusCode::CREATED, "{}", r.body);
            Ok::<_, anyhow::Error>((started, r.str("id")))
        }))
    };
    let edits = async {
        let square = json!({"type": "Polygon", "coordinates": [[[BIG_LON - 2.0, BIG_LAT - 1.0], [BIG_LON + 2.0, BIG_LAT - 1.0],
            [BIG_LON + 2.0, BIG_LAT + 1.0], [BIG_LON - 2.0, BIG_LAT + 1.0], [BIG_LON - 2.0, BIG_LAT - 1.0]]]});
        let put = app
            .call(
                reqwest::Method::PUT,
                &format!("/v1/orgs/{local}/territories"),
                Some(&admin),
                Some(&json!([{"geometry": square, "exclusive": true}])),
            )
            .await?;
        anyhow::ensure!(put.status == StatusCode::OK, "{}", put.body);
        let off = app
            .call(
                reqwest::Method::PATCH,
                &format!("/v1/technicians/{nearest}"),
                Some(&admin),
                Some(&json!({"active": false})),
            )
            .await?;
        anyhow::ensure!(off.status == StatusCode::OK, "{}", off.body);
        Ok::<_, anyhow::Error>(chrono::Utc::now())
    };
    // Before the edits the big partner's nearest technician gets the job.
    let (_, warm) = burst(1).await.pop().expect("one booking")?;
    assert_eq!(read(warm).await?.as_deref(), Some(big_id.as_str()));
    let (first, edited) = tokio::join!(burst(20), edits);
    let edited = edited?;
    let second = burst(20).await;
    let mut after = 0;
    for r in first.into_iter().chain(second) {
        let (started, id) = r?;
        let offered_to = read(id.clone()).await?;
        if started > edited {
            after += 1;
            assert_eq!(offered_to.as_deref(), Some(local.as_str()), "the new exclusive territory decides job {id}");
        }
    }
    assert_eq!(after, 20, "the second burst started after the edits");
    // The deactivated technician is never offered anything after its deactivation committed.
    let since = edited.naive_utc();
    let late = app
        .with_db(move |conn| {
            use api::db::schema::offers;
            use diesel::prelude::*;
            Ok(offers::table
                .filter(offers::technician_id.eq(nearest))
                .filter(offers::created_at.gt(since))
                .count()
                .get_result::<i64>(conn)?)
        })
        .await?;
    assert_eq!(late, 0);
    assert_eq!(app.dispatch_full_loads(), loads, "edits are applied as deltas, never by reloading everything");
    Ok(())
}

async fn technician_at(app: &TestApp, admin: &str, org: &str, lat: f64, lon: f64) -> anyhow::Result<String> {
    let r = app
        .post(
            "/v1/technicians",
            admin,
            &json!({"org_id": org, "name": "Local", "skills": ["storm_probe"], "home_base": {"lat": lat, "lon": lon},
                "shift": {"start": "00:00", "end": "23:59"}, "daily_capacity": 50}),
        )
        .await?;
    anyhow::ensure!(r.status == StatusCode::CREATED, "{}", r.body);
    Ok(r.str("id"))
}

async fn a_page_of_jobs_shows_each_jobs_own_chain(backend: Backend) -> anyhow::Result<()> {
    let app = TestApp::spawn(backend).await?;
    let c = chain(&app).await?;
    let customer = app.login("customer@demo.sortie").await?;
    // Different chains: offered to D (A, B, C passed), then C (D full), then one declined by its offeree.
    set_capacity(&app, &c.admin, &c.techs[3], 1).await?;
    let mut ids = Vec::new();
    for _ in 0..3 {
        ids.push(app.book(&customer, &probe_booking(), None).await?.str("id"));
    }
    let declined =
        app.post(&format!("/v1/jobs/{}/decline", ids[2]), &c.dispatchers[2], &json!({"reason": "busy"})).await?;
    assert_eq!(declined.status, StatusCode::OK, "{}", declined.body);
    for (token, status) in [(&c.admin, "offered"), (&c.dispatchers[0], "offered")] {
        let page = app.get(&format!("/v1/jobs?status={status}&limit=100"), token).await?;
        assert_eq!(page.status, StatusCode::OK, "{}", page.body);
        let items = page.body["items"].as_array().cloned().unwrap_or_default();
        let listed: Vec<&Value> = items.iter().filter(|j| ids.iter().any(|id| j["id"] == id.as_str())).collect();
        assert_eq!(listed.len(), 3, "{}", page.body);
        for item in listed {
            let one = job(&app, &c.admin, item["id"].as_str().unwrap_or_default()).await?;
            assert_eq!(item["org_chain"], one["org_chain"], "the page shows the job's own chain");
            assert_eq!(item["offer"], one["offer"]);
        }
    }
    Ok(())
}
