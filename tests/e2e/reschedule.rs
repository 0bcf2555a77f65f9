//! A customer's reschedule of a scheduled (or returned) visit: the technician
//! keeps it only when he is active, on shift and not absent in the new window
//! (as dispatch would offer it to him) and the new local day has room;
//! otherwise the visit leaves him and is dispatched again for its new window.

use api::clock::Clock as _;
use chrono::{DateTime, Duration, Utc};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::both_backends;
use crate::helpers::{Backend, Phone, TestApp, events, review, set_status};
use crate::offers::{Chain, chain, job, probe_booking, technician};

both_backends!(
    a_reschedule_onto_a_full_day_takes_the_visit_off_its_technician_and_dispatches_it_again,
    a_reschedule_onto_a_day_with_room_keeps_the_technician_and_plans_the_visit_there,
    a_reschedule_of_a_deactivated_technicians_visit_dispatches_it_again,
    two_reschedules_racing_onto_a_nearly_full_day_never_overbook_it,
    a_returned_visit_moved_onto_its_technicians_full_day_leaves_him_and_is_dispatched_again,
    a_visit_moved_onto_a_day_its_technician_is_absent_leaves_him_and_is_dispatched_again,
    a_visit_moved_outside_its_technicians_shift_leaves_him_and_inside_it_stays,
);

/// The chain of `offers.rs` plus "Keeper", nearest to the jobs (1 km) in D with `capacity` and a phone login.
struct Setup {
    app: TestApp,
    c: Chain,
    customer: String,
    keeper: String,
    keeper_token: String,
}

async fn setup(backend: Backend, capacity: u32) -> anyhow::Result<Setup> {
    let app = TestApp::spawn(backend).await?;
    let c = chain(&app).await?;
    let keeper = technician(&app, &c.admin, &c.orgs[3], "Keeper", 1.0, capacity).await?;
    let login = json!({"email": "keeper@probe.example", "password": "probe-password", "role": "technician",
        "technician_id": keeper});
    let keeper_token = app.new_login(&c.admin, &login).await?;
    let customer = app.login("customer@demo.sortie").await?;
    Ok(Setup { app, c, customer, keeper, keeper_token })
}

/// The probe booking's window moved by `days` (day 0: tomorrow 14:00–16:00 in Krasnoyarsk).
fn window(days: i64) -> Value {
    window_at(days, 0)
}

/// [`window`] moved by `hours` more within the day.
fn window_at(days: i64, hours: i64) -> Value {
    let w = probe_booking()["window"].clone();
    let at = |k: &str| {
        let t = DateTime::parse_from_rfc3339(w[k].as_str().unwrap()).unwrap();
        (t + Duration::days(days) + Duration::hours(hours)).to_rfc3339()
    };
    json!({"start": at("start"), "end": at("end")})
}

impl Setup {
    /// Books a probe job on day `days`; D's dispatcher accepts it for Keeper.
    async fn keepers_job(&self, days: i64) -> anyhow::Result<String> {
        let mut b = probe_booking();
        b["window"] = window(days);
        let booked = self.app.book(&self.customer, &b, None).await?;
        anyhow::ensure!(booked.status == StatusCode::CREATED, "{}", booked.body);
        let id = booked.str("id");
        let r = self
            .app
            .post(&format!("/v1/jobs/{id}/accept"), &self.c.dispatchers[3], &json!({"technician_id": self.keeper}))
            .await?;
        anyhow::ensure!(r.status == StatusCode::OK && r.body["status"] == "scheduled", "{}", r.body);
        Ok(id)
    }

    async fn reschedule(&self, id: &str, days: i64) -> anyhow::Result<crate::helpers::Resp> {
        self.reschedule_to(id, window(days)).await
    }

    async fn reschedule_to(&self, id: &str, window: Value) -> anyhow::Result<crate::helpers::Resp> {
        self.app.post(&format!("/v1/requests/{id}/reschedule"), &self.customer, &json!({"window": window})).await
    }

    /// Changes Keeper's record as his organisation's admin would (`PATCH /v1/technicians/{id}`).
    async fn patch_keeper(&self, patch: Value) -> anyhow::Result<()> {
        let path = format!("/v1/technicians/{}", self.keeper);
        let r = self.app.call(Method::PATCH, &path, Some(&self.c.admin), Some(&patch)).await?;
        anyhow::ensure!(r.status == StatusCode::OK, "{}", r.body);
        Ok(())
    }

    /// The technician the job's latest dispatch decision chose.
    async fn last_chosen(&self, id: &str) -> anyhow::Result<Value> {
        let ex = self.app.get(&format!("/v1/jobs/{id}/explanation"), &self.c.admin).await?;
        anyhow::ensure!(ex.status == StatusCode::OK, "{}", ex.body);
        Ok(ex.body["decisions"].as_array().and_then(|d| d.last()).map(|d| d["chosen"].clone()).unwrap_or_default())
    }

    /// Visits and reservations Keeper holds on day `days` (his local day in Krasnoyarsk).
    async fn keepers_day(&self, days: i64) -> anyhow::Result<usize> {
        let (keeper, start, now) = (self.keeper.clone(), start_of(days), self.app.clock.now());
        self.app
            .with_db(move |conn| {
                let (t, _) = api::storage::technicians::find_with_org_path(conn, &keeper)?
                    .ok_or_else(|| anyhow::anyhow!("no keeper"))?;
                Ok(api::app::capacity::taken_on_day(conn, &t, krasnoyarsk_date(start), now)?)
            })
            .await
    }

    /// The job ids on Keeper's planned route of day `days`.
    async fn keepers_route(&self, days: i64) -> anyhow::Result<Vec<String>> {
        let date = krasnoyarsk_date(start_of(days));
        let r = self.app.get(&format!("/v1/technicians/{}/route?date={date}", self.keeper), &self.c.admin).await?;
        anyhow::ensure!(r.status == StatusCode::OK, "{}", r.body);
        Ok(r.body["stops"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|s| s["job_id"].as_str().map(str::to_owned))
            .collect())
    }
}

fn start_of(days: i64) -> DateTime<Utc> {
    let w = window(days);
    DateTime::parse_from_rfc3339(w["start"].as_str().unwrap()).unwrap().with_timezone(&Utc)
}

/// Krasnoyarsk keeps UTC+7 all year.
fn krasnoyarsk_date(t: DateTime<Utc>) -> chrono::NaiveDate {
    (t + Duration::hours(7)).date_naive()
}

/// The `status_changed` event that took the job off its technician, if any.
async fn unassigned_event(s: &Setup, id: &str) -> anyhow::Result<Value> {
    let e = events(&s.app, &s.c.admin, id).await?;
    Ok(e["items"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|e| e["type"] == "status_changed" && e["data"]["from"] == "scheduled")
        .cloned()
        .unwrap_or(Value::Null))
}

async fn a_reschedule_onto_a_full_day_takes_the_visit_off_its_technician_and_dispatches_it_again(
    backend: Backend,
) -> anyhow::Result<()> {
    // Arrange: Keeper (capacity 1) has a visit on day 0 and his day 1 is full.
    let s = setup(backend, 1).await?;
    let moved = s.keepers_job(0).await?;
    s.keepers_job(1).await?;
    let mut phone = Phone::register(&s.app, &s.keeper_token).await?;
    assert_ne!(phone.pull_job(&moved).await?, "deleted");

    // Act: the customer moves the first visit onto day 1.
    let r = s.reschedule(&moved, 1).await?;

    // Assert: the customer's reschedule succeeded; the visit left Keeper and was offered to the next nearest.
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!((r.body["status"].as_str(), &r.body["technician_first_name"]), (Some("offered"), &Value::Null));
    assert_eq!(r.body["window"]["start"].as_str().map(|t| t.parse::<DateTime<Utc>>().ok()), Some(Some(start_of(1))));
    let j = job(&s.app, &s.c.admin, &moved).await?;
    assert_eq!(j["technician_id"], Value::Null, "{j}");
    assert_eq!(j["offer"]["org_id"], s.c.orgs[3].as_str(), "{j}");
    assert_eq!(s.keepers_day(1).await?, 1, "Keeper's full day stays at his capacity");
    assert!(!s.keepers_route(1).await?.contains(&moved));
    assert!(!s.keepers_route(0).await?.contains(&moved));
    assert_eq!(phone.pull_job(&moved).await?, "deleted");
    let why = unassigned_event(&s, &moved).await?;
    assert_eq!(why["data"]["reason"], "no_room_on_new_day", "{why}");
    assert_eq!(why["data"]["previous_technician_id"], s.keeper.as_str(), "{why}");
    let track = s.app.call(Method::GET, &format!("/v1/track/{}", r.str("tracking_token")), None, None).await?;
    assert_eq!((&track.body["stage"], &track.body["technician_first_name"]), (&r.body["stage"], &Value::Null));
    Ok(())
}

async fn a_reschedule_onto_a_day_with_room_keeps_the_technician_and_plans_the_visit_there(
    backend: Backend,
) -> anyhow::Result<()> {
    // Arrange: Keeper (capacity 2) has one visit on day 0 and one on day 1.
    let s = setup(backend, 2).await?;
    let moved = s.keepers_job(0).await?;
    s.keepers_job(1).await?;

    // Act
    let r = s.reschedule(&moved, 1).await?;

    // Assert: still Keeper's, on day 1's plan and off day 0's.
    assert_eq!((r.status, r.body["status"].as_str()), (StatusCode::OK, Some("scheduled")), "{}", r.body);
    assert_eq!(r.body["technician_first_name"], "Keeper");
    assert_eq!(job(&s.app, &s.c.admin, &moved).await?["technician_id"], s.keeper.as_str());
    assert_eq!(s.keepers_day(1).await?, 2);
    assert!(s.keepers_route(1).await?.contains(&moved));
    assert!(!s.keepers_route(0).await?.contains(&moved));
    assert_eq!(unassigned_event(&s, &moved).await?, Value::Null);
    Ok(())
}

async fn a_reschedule_of_a_deactivated_technicians_visit_dispatches_it_again(backend: Backend) -> anyhow::Result<()> {
    // Arrange: Keeper has room but has been deactivated since the visit was scheduled.
    let s = setup(backend, 5).await?;
    let moved = s.keepers_job(0).await?;
    let off = s
        .app
        .call(
            Method::PATCH,
            &format!("/v1/technicians/{}", s.keeper),
            Some(&s.c.admin),
            Some(&json!({"active": false})),
        )
        .await?;
    assert_eq!(off.status, StatusCode::OK, "{}", off.body);

    // Act
    let r = s.reschedule(&moved, 1).await?;

    // Assert
    assert_eq!((r.status, r.body["status"].as_str()), (StatusCode::OK, Some("offered")), "{}", r.body);
    let j = job(&s.app, &s.c.admin, &moved).await?;
    assert_eq!(j["technician_id"], Value::Null, "{j}");
    assert_eq!(unassigned_event(&s, &moved).await?["data"]["reason"], "technician_inactive");
    Ok(())
}

async fn two_reschedules_racing_onto_a_nearly_full_day_never_overbook_it(backend: Backend) -> anyhow::Result<()> {
    // Arrange: Keeper (capacity 2) has two visits on day 0 and one on day 1: room for one more there.
    let s = setup(backend, 2).await?;
    let (a, b) = (s.keepers_job(0).await?, s.keepers_job(0).await?);
    s.keepers_job(1).await?;

    // Act: both move onto day 1 at once.
    let (ra, rb) = tokio::join!(s.reschedule(&a, 1), s.reschedule(&b, 1));

    // Assert: both succeed, exactly one stays Keeper's, his day 1 is at capacity, not past it.
    let (ra, rb) = (ra?, rb?);
    assert_eq!((ra.status, rb.status), (StatusCode::OK, StatusCode::OK), "{} {}", ra.body, rb.body);
    let mut statuses = [ra.body["status"].as_str().unwrap_or_default(), rb.body["status"].as_str().unwrap_or_default()];
    statuses.sort_unstable();
    assert_eq!(statuses, ["offered", "scheduled"]);
    assert_eq!(s.keepers_day(1).await?, 2);
    Ok(())
}

async fn a_returned_visit_moved_onto_its_technicians_full_day_leaves_him_and_is_dispatched_again(
    backend: Backend,
) -> anyhow::Result<()> {
    // Arrange: Keeper (capacity 1) did a visit on day 0 and his day 1 is full; the reviewer returns the work
    // after day 0's window ended, so the job waits `returned`, still Keeper's.
    let s = setup(backend, 1).await?;
    let returned = s.keepers_job(0).await?;
    s.keepers_job(1).await?;
    s.app.clock.advance(start_of(0) - Duration::hours(1) - s.app.clock.now());
    let mut phone = Phone::register(&s.app, &s.keeper_token).await?;
    phone.pull_job(&returned).await?;
    phone.push(&["en_route", "on_site", "completed"].map(|st| set_status(&returned, st))).await?;
    s.app.clock.advance(start_of(0) + Duration::hours(3) - s.app.clock.now());
    let reviewer = s.app.login("reviewer@demo.sortie").await?;
    let r =
        review(&s.app, &reviewer, &returned, json!({"verdict": "return", "reason": "the drum still rattles"})).await?;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let j = job(&s.app, &s.c.admin, &returned).await?;
    assert_eq!((&j["status"], &j["technician_id"]), (&json!("returned"), &json!(s.keeper)), "{j}");

    // Act: the customer moves it onto Keeper's full day 1.
    let r = s.reschedule(&returned, 1).await?;

    // Assert: it left Keeper (his day 1 stays at capacity, his route without it) and was offered again.
    assert_eq!((r.status, r.body["status"].as_str()), (StatusCode::OK, Some("offered")), "{}", r.body);
    let j = job(&s.app, &s.c.admin, &returned).await?;
    assert_eq!(j["technician_id"], Value::Null, "{j}");
    assert_eq!(s.keepers_day(1).await?, 1, "Keeper's full day stays at his capacity");
    assert!(!s.keepers_route(1).await?.contains(&returned));
    let e = events(&s.app, &s.c.admin, &returned).await?;
    let left = e["items"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|e| e["type"] == "status_changed" && e["data"]["from"] == "returned");
    let left = left.cloned().unwrap_or(Value::Null);
    assert_eq!(
        (&left["data"]["reason"], &left["data"]["previous_technician_id"]),
        (&json!("no_room_on_new_day"), &json!(s.keeper)),
        "{left}"
    );
    Ok(())
}

/// Local midnight in Krasnoyarsk (UTC+7) starting day `days` of [`window`].
fn krasnoyarsk_midnight(days: i64) -> DateTime<Utc> {
    krasnoyarsk_date(start_of(days)).and_time(chrono::NaiveTime::MIN).and_utc() - Duration::hours(7)
}

async fn a_visit_moved_onto_a_day_its_technician_is_absent_leaves_him_and_is_dispatched_again(
    backend: Backend,
) -> anyhow::Result<()> {
    // Arrange: Keeper (room to spare) has a visit on day 0 and is away all of day 1.
    let s = setup(backend, 5).await?;
    let moved = s.keepers_job(0).await?;
    let away = json!([{"from": krasnoyarsk_midnight(1), "to": krasnoyarsk_midnight(2), "reason": "vacation"}]);
    s.patch_keeper(json!({"absences": away})).await?;
    let mut phone = Phone::register(&s.app, &s.keeper_token).await?;
    assert_ne!(phone.pull_job(&moved).await?, "deleted");

    // Act: the customer moves the visit onto day 1.
    let r = s.reschedule(&moved, 1).await?;

    // Assert: the reschedule succeeded; the visit left Keeper and was offered to D's other technician.
    assert_eq!((r.status, r.body["status"].as_str()), (StatusCode::OK, Some("offered")), "{}", r.body);
    assert_eq!(r.body["technician_first_name"], Value::Null);
    let j = job(&s.app, &s.c.admin, &moved).await?;
    assert_eq!((&j["technician_id"], &j["offer"]["org_id"]), (&Value::Null, &json!(s.c.orgs[3])), "{j}");
    assert_eq!(s.last_chosen(&moved).await?, s.c.techs[3].as_str(), "dispatch passes absent Keeper over too");
    assert_eq!(s.keepers_day(1).await?, 0);
    assert!(!s.keepers_route(0).await?.contains(&moved));
    assert_eq!(phone.pull_job(&moved).await?, "deleted");
    let why = unassigned_event(&s, &moved).await?;
    assert_eq!((&why["data"]["reason"], &why["data"]["previous_technician_id"]), (&json!("absent"), &json!(s.keeper)));
    Ok(())
}

async fn a_visit_moved_outside_its_technicians_shift_leaves_him_and_inside_it_stays(
    backend: Backend,
) -> anyhow::Result<()> {
    // Arrange: Keeper works 13:00–17:00 (Krasnoyarsk) and has a 14:00–16:00 visit on day 0.
    let s = setup(backend, 5).await?;
    s.patch_keeper(json!({"shift": {"start": "13:00", "end": "17:00"}})).await?;
    let moved = s.keepers_job(0).await?;

    // Act 1: moved to 15:00–17:00 on day 1, the end of his shift there.
    let r = s.reschedule_to(&moved, window_at(1, 1)).await?;

    // Assert 1: inside his shift, he keeps it.
    assert_eq!((r.status, r.body["status"].as_str()), (StatusCode::OK, Some("scheduled")), "{}", r.body);
    assert_eq!(job(&s.app, &s.c.admin, &moved).await?["technician_id"], s.keeper.as_str());
    assert!(s.keepers_route(1).await?.contains(&moved));

    // Act 2: moved to 18:00–20:00 on day 2, after his shift ends.
    let r = s.reschedule_to(&moved, window_at(2, 4)).await?;

    // Assert 2: it left him (off his day 1 plan too) and was offered to D's other technician, who works all day.
    assert_eq!((r.status, r.body["status"].as_str()), (StatusCode::OK, Some("offered")), "{}", r.body);
    let j = job(&s.app, &s.c.admin, &moved).await?;
    assert_eq!((&j["technician_id"], &j["offer"]["org_id"]), (&Value::Null, &json!(s.c.orgs[3])), "{j}");
    assert_eq!(s.last_chosen(&moved).await?, s.c.techs[3].as_str(), "dispatch passes off-shift Keeper over too");
    assert!(!s.keepers_route(1).await?.contains(&moved));
    assert_eq!(s.keepers_day(2).await?, 0);
    let why = unassigned_event(&s, &moved).await?;
    assert_eq!(
        (&why["data"]["reason"], &why["data"]["previous_technician_id"]),
        (&json!("off_shift"), &json!(s.keeper))
    );
    Ok(())
}
