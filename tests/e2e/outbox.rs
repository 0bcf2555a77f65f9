//! Notifications through the outbox (issue #16): rows are written with the
//! change that causes them (and vanish with it when it rolls back), to the
//! right people, and the worker sends them through local fakes of FCM HTTP v1
//! (with its OAuth token endpoint), an SMTP server and an SMS gateway.

use chrono::{DateTime, Duration, Utc};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::both_backends;
use api::clock::Clock as _;

use crate::helpers::{Backend, Resp, TestApp, booking, soon};

both_backends!(
    a_booking_tells_the_customer_and_schedules_a_reminder_and_a_rolled_back_change_tells_nobody,
    phones_of_dispatchers_and_technicians_hear_of_offers_visits_and_changes,
);

const LAT: f64 = 61.0;
const LON: f64 = 101.0;

/// An organisation under the vendor with a `notify` technician and a dispatcher, each with a phone.
pub struct Fixture {
    pub org: String,
    pub admin: String,
    pub dispatcher: String,
    pub tech: String,
    pub tech_token: String,
    pub customer: String,
}

pub async fn fixture(app: &TestApp) -> anyhow::Result<Fixture> {
    let admin = app.login("admin@demo.sortie").await?;
    let vendor = app.org("vendor").await?.id;
    let org = app
        .post("/v1/orgs", &admin, &json!({"parent_id": vendor, "name": "Notify Org", "timezone": "Asia/Krasnoyarsk"}))
        .await?;
    anyhow::ensure!(org.status == StatusCode::CREATED, "{}", org.body);
    let org = org.str("id");
    let t = app
        .post(
            "/v1/technicians",
            &admin,
            &json!({"org_id": org, "name": "Notify Tech", "skills": ["notify"],
                "home_base": {"lat": LAT, "lon": LON},
                "shift": {"start": "00:00", "end": "23:59"}, "timezone": "Asia/Krasnoyarsk", "daily_capacity": 40}),
        )
        .await?;
    anyhow::ensure!(t.status == StatusCode::CREATED, "{}", t.body);
    let tech = t.str("id");
    let login = json!({"email": "notify-tech@probe.example", "password": "probe-password", "role": "technician",
        "technician_id": tech});
    let tech_token = app.new_login(&admin, &login).await?;
    let dispatcher = app
        .new_login(
            &admin,
            &json!({"email": "notify-dispatcher@probe.example", "password": "probe-password", "role": "dispatcher",
                "org_id": org}),
        )
        .await?;
    Ok(Fixture { org, admin, dispatcher, tech, tech_token, customer: app.login("customer@demo.sortie").await? })
}

/// Registers a phone with this push token; returns the device id.
pub async fn device(app: &TestApp, token: &str, push_token: &str) -> anyhow::Result<String> {
    let r = app
        .post("/v1/devices", token, &json!({"platform": "android", "push_token": push_token, "app_version": "1.0.0"}))
        .await?;
    anyhow::ensure!(r.status == StatusCode::CREATED, "{}", r.body);
    Ok(r.str("device_id"))
}

/// A `notify` booking at this window, near the fixture's technician.
pub fn notify_booking(window: Value) -> Value {
    let mut b = booking();
    b["window"] = window;
    b["location"] = json!({"lat": LAT, "lon": LON});
    b["required_skills"] = json!(["notify"]);
    b
}

impl Fixture {
    /// Books a job and has the dispatcher accept it for the technician; returns the job id.
    pub async fn scheduled_job(&self, app: &TestApp, window: Value) -> anyhow::Result<String> {
        let booked = app.book(&self.customer, &notify_booking(window), None).await?;
        anyhow::ensure!(booked.status == StatusCode::CREATED, "{}", booked.body);
        let id = booked.str("id");
        let r =
            app.post(&format!("/v1/jobs/{id}/accept"), &self.dispatcher, &json!({"technician_id": self.tech})).await?;
        anyhow::ensure!(r.status == StatusCode::OK && r.body["status"] == "scheduled", "{}", r.body);
        Ok(id)
    }
}

/// One outbox row as a test reads it.
#[derive(Debug, Clone)]
pub struct OutRow {
    pub id: String,
    pub channel: String,
    pub kind: String,
    pub recipient: String,
    pub status: String,
    pub attempts: i32,
    pub last_error: Option<String>,
    pub due: DateTime<Utc>,
    pub payload: Value,
}

/// Every outbox row, oldest first.
pub async fn rows(app: &TestApp) -> anyhow::Result<Vec<OutRow>> {
    app.with_db(|conn| {
        use diesel::{ExpressionMethods as _, QueryDsl as _, RunQueryDsl as _};
        let all: Vec<api::storage::outbox::Row> = api::db::schema::outbox::table
            .order((api::db::schema::outbox::created_at.asc(), api::db::schema::outbox::id.asc()))
            .load(conn)?;
        Ok(all
            .into_iter()
            .map(|r| OutRow {
                id: r.id,
                channel: r.channel.to_string(),
                kind: r.kind,
                recipient: r.recipient,
                status: r.status.to_string(),
                attempts: r.attempts,
                last_error: r.last_error,
                due: r.next_attempt_at.and_utc(),
                payload: serde_json::from_str(&r.payload).unwrap_or(Value::Null),
            })
            .collect())
    })
    .await
}

/// `(channel, kind, recipient)` of the rows.
fn summary(rows: &[OutRow]) -> Vec<(String, String, String)> {
    rows.iter().map(|r| (r.channel.clone(), r.kind.clone(), r.recipient.clone())).collect()
}

fn has(rows: &[OutRow], channel: &str, kind: &str, recipient: &str) -> bool {
    rows.iter().any(|r| r.channel == channel && r.kind == kind && r.recipient == recipient)
}

async fn a_booking_tells_the_customer_and_schedules_a_reminder_and_a_rolled_back_change_tells_nobody(
    backend: Backend,
) -> anyhow::Result<()> {
    // Arrange: a visit three days ahead, 10:00–12:00 in Krasnoyarsk (UTC+7).
    let app = TestApp::spawn(backend).await?;
    let f = fixture(&app).await?;
    let day = (app.clock.now() + Duration::days(3)).date_naive();
    let window = json!({"start": format!("{day}T10:00:00+07:00"), "end": format!("{day}T12:00:00+07:00")});

    // Act
    let booked: Resp = app.book(&f.customer, &notify_booking(window), None).await?;
    assert_eq!(booked.status, StatusCode::CREATED, "{}", booked.body);
    let token = booked.str("tracking_token");

    // Assert: the confirmation now by SMS to the booking's phone and by e-mail to the card's address,
    // with the tracking token and no name; the reminder at noon, local time, the day before, in the
    // general contractor's zone (the vendor's, Moscow) while nobody is assigned.
    let all = rows(&app).await?;
    assert!(has(&all, "sms", "booking_confirmed", "+79161234567"), "{:?}", summary(&all));
    assert!(has(&all, "email", "booking_confirmed", "customer@demo.sortie"), "{:?}", summary(&all));
    let confirm = all.iter().find(|r| r.kind == "booking_confirmed").expect("a confirmation");
    assert_eq!(confirm.payload["tracking_token"], token.as_str());
    assert_eq!(confirm.payload["lang"], "ru");
    assert!(!confirm.payload.to_string().contains("Ivan"), "{}", confirm.payload);
    let noon_before = |offset: &str| -> anyhow::Result<DateTime<Utc>> {
        Ok(DateTime::parse_from_rfc3339(&format!("{}T12:00:00{offset}", day - Duration::days(1)))?.into())
    };
    let reminders: Vec<DateTime<Utc>> = all.iter().filter(|r| r.kind == "reminder").map(|r| r.due).collect();
    assert_eq!(reminders, vec![noon_before("+03:00")?, noon_before("+03:00")?], "one per channel");
    assert!(all.iter().all(|r| r.status == "pending"), "{:?}", summary(&all));

    // Assigned to the Krasnoyarsk technician: the reminder is planned again at noon there.
    let r = app
        .post(&format!("/v1/jobs/{}/accept", booked.str("id")), &f.dispatcher, &json!({"technician_id": f.tech}))
        .await?;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let all = rows(&app).await?;
    let local_noon = noon_before("+07:00")?;
    assert_eq!(all.iter().filter(|r| r.kind == "reminder" && r.due == local_noon).count(), 2, "{:?}", summary(&all));

    // A visit booked less than 12 hours ahead gets a confirmation but no reminder.
    let before = rows(&app).await?.len();
    let soon_booked = app.book(&f.customer, &notify_booking(soon(app.clock.now(), 2, 4)), None).await?;
    assert_eq!(soon_booked.status, StatusCode::CREATED, "{}", soon_booked.body);
    let kinds: Vec<String> = rows(&app).await?[before..].iter().map(|r| r.kind.clone()).collect();
    assert!(kinds.contains(&"booking_confirmed".to_owned()) && !kinds.contains(&"reminder".to_owned()), "{kinds:?}");

    // A cancellation whose transaction rolls back leaves no notification behind.
    let job_id = booked.str("id");
    let before = rows(&app).await?.len();
    let admin_id = app
        .with_db(|conn| {
            Ok(api::storage::users::find_by_email(conn, "admin@demo.sortie")?.map(|u| u.id).unwrap_or_default())
        })
        .await?;
    let now = app.clock.now();
    let rolled_back = app
        .with_db(move |conn| {
            let caller = api::domain::Caller {
                id: admin_id,
                role: api::domain::Role::Admin,
                org_id: None,
                org_path: None,
                technician_id: None,
                customer_id: None,
            };
            Ok(api::db::write_tx(conn, |c| {
                api::app::booking::cancel(c, &caller, &job_id, Some("test"), now, 30.0)?;
                Err::<(), _>(api::app_error::ApiError::Unavailable("the change fails after the cancellation".into()))
            }))
        })
        .await?;
    assert!(rolled_back.is_err());
    assert_eq!(rows(&app).await?.len(), before, "a rolled-back change must write no outbox row");
    let job = app.get(&format!("/v1/requests/{}", booked.str("id")), &f.customer).await?;
    assert_ne!(job.body["status"], "cancelled");

    // The same cancellation committed does tell the customer.
    let cancelled = app.post(&format!("/v1/requests/{}/cancel", booked.str("id")), &f.customer, &json!({})).await?;
    assert_eq!(cancelled.status, StatusCode::OK, "{}", cancelled.body);
    assert!(has(&rows(&app).await?[before..], "sms", "cancelled", "+79161234567"));
    let _ = f.admin;
    Ok(())
}

async fn phones_of_dispatchers_and_technicians_hear_of_offers_visits_and_changes(
    backend: Backend,
) -> anyhow::Result<()> {
    // Arrange: both have phones.
    let app = TestApp::spawn(backend).await?;
    let f = fixture(&app).await?;
    let dispatcher_phone = device(&app, &f.dispatcher, "dispatcher-token").await?;
    let tech_phone = device(&app, &f.tech_token, "tech-token").await?;

    // Act: book (dispatch offers it to the organisation), accept for the technician.
    let job = f.scheduled_job(&app, soon(app.clock.now(), 2, 4)).await?;

    // Assert: the dispatcher heard of the offer (and its expiry notice is due 10 min before the
    // deadline); the technician of the new visit, plus one collapsed data poke.
    let all = rows(&app).await?;
    assert!(has(&all, "push", "offer_new", &dispatcher_phone), "{:?}", summary(&all));
    let expiring = all.iter().find(|r| r.kind == "offer_expiring").expect("an expiry notice");
    let deadline: DateTime<Utc> = serde_json::from_value(expiring.payload["deadline"].clone())?;
    assert_eq!(expiring.due, deadline - Duration::minutes(10));
    assert!(has(&all, "push", "job_new", &tech_phone), "{:?}", summary(&all));
    let pokes = all.iter().filter(|r| r.kind == "sync" && r.recipient == tech_phone).count();
    assert_eq!(pokes, 1, "a burst of changes is one pending poke: {:?}", summary(&all));
    assert!(!all.iter().any(|r| r.kind == "sync" && r.recipient == dispatcher_phone));

    // Once a worker has claimed that poke (it may be on its way, and the phone may pull before the next
    // change commits), the next change queues another one.
    let now = app.clock.now();
    app.with_db(move |c| {
        let lease = (now + Duration::minutes(1)).naive_utc();
        api::db::write_tx(c, |c| Ok(api::storage::outbox::claim_due(c, now.naive_utc(), lease, 1000)?))?;
        Ok(())
    })
    .await?;

    // A new window: the technician hears the visit moved, the customer the new time.
    let r = app
        .post(&format!("/v1/requests/{job}/reschedule"), &f.customer, &json!({"window": soon(app.clock.now(), 3, 5)}))
        .await?;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let all = rows(&app).await?;
    assert!(has(&all, "push", "job_moved", &tech_phone), "{:?}", summary(&all));
    assert!(has(&all, "sms", "rescheduled", "+79161234567"), "{:?}", summary(&all));
    let pokes = all.iter().filter(|r| r.kind == "sync" && r.recipient == tech_phone).count();
    assert_eq!(pokes, 2, "{:?}", summary(&all));

    // Cancelled: the technician's phone is told.
    let r = app.post(&format!("/v1/jobs/{job}/cancel"), &f.dispatcher, &json!({"reason": "customer called"})).await?;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert!(has(&rows(&app).await?, "push", "job_cancelled", &tech_phone));
    let _ = (f.org, f.admin);
    Ok(())
}
