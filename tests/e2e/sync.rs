//! Mobile sync end to end: a simulated phone that goes offline, queues
//! mutations, reconnects with retries, duplicated and reordered batches, and
//! races a reassignment; after each scenario the phone's view and a fresh
//! full pull agree, and every mutation was applied exactly once or rejected
//! with a reason.

use std::collections::{BTreeMap, HashMap};

use chrono::{Duration, Utc};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::both_backends;
use crate::helpers::{Backend, Resp, TestApp, booking, soon};

both_backends!(
    an_offline_phone_queues_work_retries_duplicated_and_reordered_batches_and_converges,
    a_reassignment_or_cancellation_while_offline_is_answered_with_the_reason_and_never_blocks_the_rest,
    a_concurrent_reassignment_and_push_leave_every_mutation_applied_once_or_rejected,
    a_gap_in_seq_answers_409_with_the_expected_seq_and_applies_nothing,
    concurrent_writers_during_pulls_never_make_a_pull_miss_a_change,
    a_reset_drops_the_server_copy_but_keeps_the_phones_pending_work,
    clock_skew_of_hours_on_the_phone_changes_nothing,
    an_older_app_that_omits_newer_optional_fields_keeps_working,
    bad_mutations_are_rejected_one_by_one_and_bad_requests_apply_nothing,
    photos_upload_content_addressed_idempotent_and_limited,
    an_incomplete_visit_sends_the_job_back_with_its_reason_and_counts_the_visit,
    a_position_ping_moves_the_technician_in_the_dispatch_index,
    after_an_incomplete_visit_the_same_technician_is_scheduled_again_for_a_second_visit,
);

const LAT: f64 = 60.0;
const LON: f64 = 100.0;
const SHA_A: &str = "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"; // "hello"
const SHA_B: &str = "486ea46224d1bb4fb680f34f7c9ad96a8f24ec88be73ea8e5a6c65260e9cb8a7"; // "world"

/// An organisation with two `probe` technicians (each with a login) and a dispatcher.
struct Fixture {
    dispatcher: String,
    techs: Vec<String>,
    tech_tokens: Vec<String>,
    customer: String,
}

async fn fixture(app: &TestApp) -> anyhow::Result<Fixture> {
    let admin = app.login("admin@demo.sortie").await?;
    let vendor = app.org("vendor").await?.id;
    let org = app
        .post("/v1/orgs", &admin, &json!({"parent_id": vendor, "name": "Sync Org", "timezone": "Asia/Krasnoyarsk"}))
        .await?;
    anyhow::ensure!(org.status == StatusCode::CREATED, "{}", org.body);
    let org = org.str("id");
    let (mut techs, mut tech_tokens) = (Vec::new(), Vec::new());
    for (i, km) in [5.0, 10.0].into_iter().enumerate() {
        let t = app
            .post(
                "/v1/technicians",
                &admin,
                &json!({"org_id": org, "name": format!("Sync Tech {i}"), "skills": ["probe"],
                    "home_base": {"lat": LAT + km / 111.0, "lon": LON},
                    "shift": {"start": "00:00", "end": "23:59"}, "timezone": "Asia/Krasnoyarsk", "daily_capacity": 40,
                    "parts": [{"sku": "psu-12v", "qty": 5}]}),
            )
            .await?;
        anyhow::ensure!(t.status == StatusCode::CREATED, "{}", t.body);
        let id = t.str("id");
        let email = format!("sync-tech-{i}@probe.example");
        let login = json!({"email": email, "password": "probe-password", "role": "technician", "technician_id": id});
        tech_tokens.push(app.new_login(&admin, &login).await?);
        techs.push(id);
    }
    let dispatcher = app
        .new_login(
            &admin,
            &json!({"email": "sync-dispatcher@probe.example", "password": "probe-password", "role": "dispatcher", "org_id": org}),
        )
        .await?;
    let customer = app.login("customer@demo.sortie").await?;
    Ok(Fixture { dispatcher, techs, tech_tokens, customer })
}

impl Fixture {
    /// Books a `probe` job for the coming hours (a phone may set off to it) and has the
    /// dispatcher schedule it to technician `tech`.
    async fn job_for(&self, app: &TestApp, tech: usize, kind: &str) -> anyhow::Result<String> {
        let mut b = booking();
        let now = api::clock::Clock::now(&*app.clock);
        b["window"] = soon(now, 1, 3);
        b["location"] = json!({"lat": LAT, "lon": LON});
        b["required_skills"] = json!(["probe"]);
        b["kind"] = json!(kind);
        if kind == "parts_replacement" {
            b["parts"] = json!([{"sku": "psu-12v", "qty": 1}]);
        }
        let booked = app.book(&self.customer, &b, None).await?;
        anyhow::ensure!(booked.status == StatusCode::CREATED, "{}", booked.body);
        let id = booked.str("id");
        let r = app
            .post(&format!("/v1/jobs/{id}/accept"), &self.dispatcher, &json!({"technician_id": self.techs[tech]}))
            .await?;
        anyhow::ensure!(r.status == StatusCode::OK && r.body["status"] == "scheduled", "{}", r.body);
        Ok(id)
    }

    async fn reassign(&self, app: &TestApp, job: &str, tech: usize) -> anyhow::Result<Resp> {
        app.post(&format!("/v1/jobs/{job}/reassign"), &self.dispatcher, &json!({"technician_id": self.techs[tech]}))
            .await
    }
}

/// A simulated phone: a local copy of what the server sent, a queue of
/// unacknowledged mutations, and its own (possibly wrong) clock.
struct Phone<'a> {
    app: &'a TestApp,
    token: String,
    device_id: String,
    next_seq: u64,
    pending: Vec<Value>,
    view: BTreeMap<String, Value>,
    cursor: Option<String>,
    online: bool,
    skew: Duration,
    /// Final answer per mutation id (applied or rejected), and how many times each was answered `applied`.
    outcome: HashMap<String, Value>,
    applied_count: HashMap<String, usize>,
}

impl<'a> Phone<'a> {
    async fn register(app: &'a TestApp, token: &str) -> anyhow::Result<Phone<'a>> {
        let r = app
            .post(
                "/v1/devices",
                token,
                &json!({"platform": "android", "push_token": "fcm-token", "app_version": "1.4.0"}),
            )
            .await?;
        anyhow::ensure!(r.status == StatusCode::CREATED, "{}", r.body);
        Ok(Phone {
            app,
            token: token.to_owned(),
            device_id: r.str("device_id"),
            next_seq: 1,
            pending: Vec::new(),
            view: BTreeMap::new(),
            cursor: None,
            online: true,
            skew: Duration::zero(),
            outcome: HashMap::new(),
            applied_count: HashMap::new(),
        })
    }

    fn now(&self) -> chrono::DateTime<Utc> {
        Utc::now() + self.skew
    }

    /// Queues a mutation (offline or not); returns its id.
    fn queue(&mut self, name: &str, args: Value) -> String {
        let id = uuid::Uuid::new_v4().to_string();
        self.pending.push(json!({"seq": self.next_seq, "id": id, "name": name, "args": args}));
        self.next_seq += 1;
        id
    }

    async fn send(&self, mutations: &[Value]) -> anyhow::Result<Resp> {
        let body = json!({"device_id": self.device_id, "mutations": mutations, "sent_at": self.now().to_rfc3339()});
        self.app.post("/v1/sync/push", &self.token, &body).await
    }

    fn record(&mut self, results: &Value) {
        for r in results.as_array().into_iter().flatten() {
            let id = r["id"].as_str().unwrap_or_default().to_owned();
            if r["status"] == "applied" {
                *self.applied_count.entry(id.clone()).or_default() += 1;
            }
            if r["status"] != "duplicate" {
                self.outcome.insert(id.clone(), r.clone());
            } else {
                self.outcome.entry(id.clone()).or_insert_with(|| r.clone());
            }
            self.pending.retain(|m| m["id"] != id.as_str());
        }
    }

    /// Sends the queue; the answered mutations leave it.
    async fn push(&mut self) -> anyhow::Result<()> {
        if !self.online || self.pending.is_empty() {
            return Ok(());
        }
        let batch = self.pending.clone();
        let r = self.send(&batch).await?;
        anyhow::ensure!(r.status == StatusCode::OK, "push: {} {}", r.status, r.body);
        anyhow::ensure!(r.body["results"].as_array().map(Vec::len) == Some(batch.len()), "{}", r.body);
        self.record(&r.body["results"]);
        Ok(())
    }

    async fn pull_once(&self, cursor: Option<&str>) -> anyhow::Result<Value> {
        let r = self
            .app
            .post("/v1/sync/pull", &self.token, &json!({"device_id": self.device_id, "cursor": cursor, "limit": 7}))
            .await?;
        anyhow::ensure!(r.status == StatusCode::OK, "pull: {} {}", r.status, r.body);
        Ok(r.body)
    }

    fn apply(view: &mut BTreeMap<String, Value>, changes: &Value) {
        let mut seen = std::collections::HashSet::new();
        for c in changes.as_array().into_iter().flatten() {
            let key = format!("{}/{}", c["entity"].as_str().unwrap_or(""), c["id"].as_str().unwrap_or(""));
            assert!(seen.insert(key.clone()), "{key} twice in one answer: {changes}");
            if c["op"] == "delete" {
                view.remove(&key);
            } else {
                view.insert(key, c["data"].clone());
            }
        }
    }

    /// Pulls until nothing more is waiting (a reset drops the copy, never the queue).
    async fn pull(&mut self) -> anyhow::Result<()> {
        if !self.online {
            return Ok(());
        }
        for _ in 0..1000 {
            let body = self.pull_once(self.cursor.as_deref()).await?;
            if body["reset_required"] == true {
                self.view.clear();
                self.cursor = None;
                continue;
            }
            if self.cursor.is_none() {
                self.view.clear();
            }
            Self::apply(&mut self.view, &body["changes"]);
            self.cursor = Some(body["cursor"].as_str().unwrap_or_default().to_owned());
            if body["has_more"] != true {
                return Ok(());
            }
        }
        anyhow::bail!("pull never finished")
    }

    async fn sync(&mut self) -> anyhow::Result<()> {
        self.push().await?;
        self.pull().await
    }

    /// A checksum of a view: SHA-256 of its canonical JSON.
    fn checksum(view: &BTreeMap<String, Value>) -> String {
        api::app::sync::sha256_hex(&serde_json::to_vec(view).unwrap_or_default())
    }

    /// What a fresh phone would see now.
    async fn full_view(&self) -> anyhow::Result<BTreeMap<String, Value>> {
        let body = self.pull_once(None).await?;
        let mut view = BTreeMap::new();
        Self::apply(&mut view, &body["changes"]);
        Ok(view)
    }

    /// Syncs until the phone's copy equals a fresh full pull (on PostgreSQL a
    /// pull waits for transactions in flight, so it may take a round or two).
    async fn converge(&mut self) -> anyhow::Result<()> {
        let mut last = String::new();
        for _ in 0..100 {
            self.sync().await?;
            let full = self.full_view().await?;
            if Self::checksum(&full) == Self::checksum(&self.view) {
                anyhow::ensure!(self.pending.is_empty(), "unsent work left: {:?}", self.pending);
                return Ok(());
            }
            last = format!("phone {:#?}\nserver {:#?}", self.view, full);
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        anyhow::bail!("the phone never converged:\n{last}")
    }

    /// Every mutation this phone queued was applied exactly once or rejected with a reason.
    fn assert_exactly_once(&self) {
        for (id, r) in &self.outcome {
            match r["status"].as_str() {
                Some("applied") | Some("duplicate") => {
                    assert_eq!(self.applied_count.get(id).copied().unwrap_or(0), 1, "{id} applied once: {r}")
                }
                Some("rejected") => {
                    assert!(r["reason"].as_str().is_some_and(|s| !s.is_empty()), "{r}");
                    assert_eq!(self.applied_count.get(id), None, "{id}");
                }
                other => panic!("{other:?}"),
            }
        }
    }

    fn job(&self, id: &str) -> Option<&Value> {
        self.view.get(&format!("job/{id}"))
    }

    fn status_of(&self, id: &str) -> String {
        self.outcome.get(id).and_then(|r| r["status"].as_str()).unwrap_or("none").to_owned()
    }

    fn reason_of(&self, id: &str) -> String {
        self.outcome.get(id).and_then(|r| r["reason"].as_str()).unwrap_or("").to_owned()
    }
}

/// Rows of a table, counted in the database.
async fn count(app: &TestApp, sql: &'static str) -> anyhow::Result<i64> {
    #[derive(diesel::QueryableByName)]
    struct N {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    app.with_db(move |conn| {
        use diesel::RunQueryDsl as _;
        let n: N = diesel::sql_query(sql).get_result(conn)?;
        Ok(n.n)
    })
    .await
}

async fn event_types(app: &TestApp, id: &str) -> anyhow::Result<Vec<String>> {
    let admin = app.login("admin@demo.sortie").await?;
    let r = app.get(&format!("/v1/jobs/{id}/events?limit=200"), &admin).await?;
    Ok(r.body["items"]
        .as_array()
        .map(|v| v.iter().filter_map(|e| e["type"].as_str().map(str::to_owned)).collect())
        .unwrap_or_default())
}

fn note(job: &str, text: &str) -> Value {
    json!({"job_id": job, "note_id": uuid::Uuid::new_v4().to_string(), "text": text})
}

async fn an_offline_phone_queues_work_retries_duplicated_and_reordered_batches_and_converges(
    backend: Backend,
) -> anyhow::Result<()> {
    // Arrange: two scheduled jobs, the phone has them.
    let app = TestApp::spawn(backend).await?;
    let f = fixture(&app).await?;
    let job1 = f.job_for(&app, 0, "parts_replacement").await?;
    let job2 = f.job_for(&app, 0, "home_visit").await?;
    let mut phone = Phone::register(&app, &f.tech_tokens[0]).await?;
    phone.converge().await?;
    assert_eq!(phone.job(&job1).map(|j| j["status"].clone()), Some(json!("scheduled")));
    assert!(phone.job(&job2).is_some());
    let route = &phone.view["route/current"]["stops"];
    assert_eq!(route.as_array().map(Vec::len), Some(2), "{route}");

    // Act: offline in a basement, the technician does the whole visit.
    phone.online = false;
    let at = |m: i64| (phone.now() - Duration::minutes(m)).to_rfc3339();
    let (t50, t45, t5) = (at(50), at(45), at(5));
    let ids = vec![
        phone.queue("job.set_status", json!({"job_id": job1, "status": "en_route", "at": t50})),
        phone.queue("job.set_status", json!({"job_id": job1, "status": "on_site", "at": t45})),
        phone.queue("job.add_note", note(&job1, "Replaced the power supply")),
        phone.queue("job.set_checklist", json!({"job_id": job1, "item": "old_part_removed", "value": true})),
        phone.queue("job.set_checklist", json!({"job_id": job1, "item": "serial_recorded", "value": "SN-77"})),
        phone.queue(
            "job.add_part",
            json!({"job_id": job1, "part_use_id": uuid::Uuid::new_v4().to_string(), "sku": "psu-12v", "qty": 1, "serial": "SN-77"}),
        ),
        phone.queue(
            "job.attach_photo",
            json!({"job_id": job1, "photo_id": uuid::Uuid::new_v4().to_string(), "sha256": SHA_A, "taken_at": t5}),
        ),
        phone.queue("job.sign", json!({"job_id": job1, "signer_name": "Ivan Petrov", "image_sha256": SHA_B})),
        phone.queue("position.ping", json!({"lat": LAT + 0.01, "lon": LON, "accuracy_m": 8.0, "at": t5})),
        phone.queue("job.set_status", json!({"job_id": job1, "status": "completed"})),
        phone.queue("job.add_note", note(&job1, "Too late: the report is locked")),
        phone.queue("job.add_note", note(&job2, "Call before coming")),
    ];
    phone.push().await?;
    assert_eq!(phone.pending.len(), ids.len(), "offline: nothing sent");

    // Back online, the first push's answer is lost on the way back: the server applied it, the phone doesn't know.
    phone.online = true;
    let batch = phone.pending.clone();
    let lost = phone.send(&batch[..6]).await?;
    assert_eq!(lost.status, StatusCode::OK, "{}", lost.body);
    for r in lost.body["results"].as_array().into_iter().flatten() {
        // Counted, but the phone never saw it, so it stays queued.
        if r["status"] == "applied" {
            *phone.applied_count.entry(r["id"].as_str().unwrap_or_default().to_owned()).or_default() += 1;
        }
    }
    // The retry is duplicated and reordered.
    let mut retry: Vec<Value> = batch.iter().rev().cloned().collect();
    retry.extend(batch[..3].iter().cloned());
    let r = phone.send(&retry).await?;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let results = r.body["results"].as_array().cloned().unwrap_or_default();
    assert_eq!(results.len(), retry.len(), "one answer per mutation sent, in the order sent");
    for (sent, got) in retry.iter().zip(&results) {
        assert_eq!(sent["id"], got["id"]);
    }
    phone.record(&r.body["results"]);
    phone.converge().await?;

    // Assert: exactly once, completion locked the report and moved the job to review.
    phone.assert_exactly_once();
    for id in &ids[..10] {
        assert!(matches!(phone.status_of(id).as_str(), "applied" | "duplicate"), "{id}: {:?}", phone.outcome.get(id));
    }
    assert_eq!((phone.status_of(&ids[10]).as_str(), phone.reason_of(&ids[10]).as_str()), ("rejected", "report_locked"));
    assert_eq!(phone.status_of(&ids[11]), "applied");
    assert_eq!(count(&app, "SELECT COUNT(*) AS n FROM report_notes").await?, 2);
    assert_eq!(count(&app, "SELECT COUNT(*) AS n FROM report_parts").await?, 1);
    assert_eq!(count(&app, "SELECT COUNT(*) AS n FROM report_visits").await?, 1);
    let j1 = phone.job(&job1).cloned().unwrap_or_default();
    assert_eq!(j1["status"], "in_review");
    assert_eq!(j1["report"]["locked"], true);
    assert_eq!(j1["report"]["parts"][0]["serial"], "SN-77");
    assert_eq!(j1["report"]["signature"]["signer_name"], "Ivan Petrov");
    assert_eq!(j1["checklist"][0]["value"], true);
    assert_eq!(j1["checklist"][2]["value"], "SN-77");
    let on_site = j1["report"]["time_on_site_secs"].as_i64().unwrap_or(0);
    assert!((45 * 60 - 5..=45 * 60 + 5).contains(&on_site), "{on_site}");
    let types = event_types(&app, &job1).await?;
    assert_eq!(types[types.len() - 4..], ["status_changed", "status_changed", "completed", "status_changed"]);
    // The route holds only the job still to do; the position reached the technician record.
    assert_eq!(phone.view["route/current"]["stops"].as_array().map(Vec::len), Some(1));
    let position = &phone.view[&format!("technician/{}", f.techs[0])]["position"];
    assert!((position["lat"].as_f64().unwrap_or(0.0) - (LAT + 0.01)).abs() < 1e-9, "{position}");
    // A retry long after still changes nothing.
    let again = phone.send(&batch).await?;
    assert!(again.body["results"].as_array().into_iter().flatten().all(|r| r["status"] != "applied"), "{}", again.body);
    Ok(())
}

async fn a_reassignment_or_cancellation_while_offline_is_answered_with_the_reason_and_never_blocks_the_rest(
    backend: Backend,
) -> anyhow::Result<()> {
    let app = TestApp::spawn(backend).await?;
    let f = fixture(&app).await?;
    let moved = f.job_for(&app, 0, "home_visit").await?;
    let cancelled = f.job_for(&app, 0, "home_visit").await?;
    let kept = f.job_for(&app, 0, "home_visit").await?;
    let others = f.job_for(&app, 1, "home_visit").await?;
    let mut phone = Phone::register(&app, &f.tech_tokens[0]).await?;
    let mut phone2 = Phone::register(&app, &f.tech_tokens[1]).await?;
    phone.converge().await?;
    phone2.converge().await?;
    assert!(phone.job(&others).is_none(), "never another technician's job");

    // Offline, the technician works on three jobs and (by a forged id) on a colleague's.
    phone.online = false;
    let m_moved = phone.queue("job.set_status", json!({"job_id": moved, "status": "en_route"}));
    let m_moved_note = phone.queue("job.add_note", note(&moved, "On my way"));
    let m_cancelled = phone.queue("job.add_note", note(&cancelled, "Bring the ladder"));
    let m_forged = phone.queue("job.add_note", note(&others, "Not mine"));
    let m_kept = phone.queue("job.set_status", json!({"job_id": kept, "status": "en_route"}));
    // Meanwhile the dispatcher moves one job to the colleague and the customer cancels another.
    assert_eq!(f.reassign(&app, &moved, 1).await?.status, StatusCode::OK);
    let c = app.post(&format!("/v1/requests/{cancelled}/cancel"), &f.customer, &json!({"reason": "fixed it"})).await?;
    assert_eq!(c.status, StatusCode::OK, "{}", c.body);

    phone.online = true;
    phone.converge().await?;
    phone.assert_exactly_once();
    for (id, reason) in [
        (&m_moved, "not_assigned"),
        (&m_moved_note, "not_assigned"),
        (&m_cancelled, "job_cancelled"),
        (&m_forged, "not_assigned"),
    ] {
        assert_eq!((phone.status_of(id), phone.reason_of(id)), ("rejected".to_owned(), reason.to_owned()), "{id}");
    }
    assert_eq!(phone.outcome[&m_moved]["current"]["assigned"], false);
    assert_eq!(phone.outcome[&m_cancelled]["current"]["status"], "cancelled");
    assert_eq!(phone.status_of(&m_kept), "applied", "a rejection never blocks the rest");
    // The phone lost both jobs; the colleague's phone got the moved one, untouched.
    assert!(phone.job(&moved).is_none() && phone.job(&cancelled).is_none());
    assert_eq!(phone.job(&kept).map(|j| j["status"].clone()), Some(json!("en_route")));
    phone2.converge().await?;
    let j = phone2.job(&moved).cloned().unwrap_or_default();
    assert_eq!((j["status"].clone(), j["report"]["notes"].clone()), (json!("scheduled"), json!([])));
    assert_eq!(count(&app, "SELECT COUNT(*) AS n FROM report_notes").await?, 0);
    Ok(())
}

async fn a_concurrent_reassignment_and_push_leave_every_mutation_applied_once_or_rejected(
    backend: Backend,
) -> anyhow::Result<()> {
    let app = TestApp::spawn(backend).await?;
    let f = fixture(&app).await?;
    let mut jobs = Vec::new();
    for _ in 0..4 {
        jobs.push(f.job_for(&app, 0, "home_visit").await?);
    }
    let mut phone = Phone::register(&app, &f.tech_tokens[0]).await?;
    phone.converge().await?;
    for job in &jobs {
        for i in 0..3 {
            phone.queue("job.add_note", note(job, &format!("note {i}")));
        }
    }
    // Push and reassign at the same time; the job lock orders them.
    let batch = phone.pending.clone();
    let (pushed, moved) = tokio::join!(phone.send(&batch), async {
        let mut out = Vec::new();
        for job in &jobs[..2] {
            out.push(f.reassign(&app, job, 1).await);
        }
        out
    });
    let pushed = pushed?;
    assert_eq!(pushed.status, StatusCode::OK, "{}", pushed.body);
    for m in moved {
        assert_eq!(m?.status, StatusCode::OK);
    }
    phone.record(&pushed.body["results"]);
    phone.converge().await?;
    phone.assert_exactly_once();
    let applied = phone.outcome.values().filter(|r| r["status"] == "applied").count();
    let rejected: Vec<&Value> = phone.outcome.values().filter(|r| r["status"] == "rejected").collect();
    assert!(rejected.iter().all(|r| r["reason"] == "not_assigned"), "{rejected:?}");
    assert_eq!(applied + rejected.len(), 12);
    assert_eq!(count(&app, "SELECT COUNT(*) AS n FROM report_notes").await?, i64::try_from(applied)?);
    assert!(phone.job(&jobs[0]).is_none() && phone.job(&jobs[1]).is_none());
    let mut phone2 = Phone::register(&app, &f.tech_tokens[1]).await?;
    phone2.converge().await?;
    assert!(phone2.job(&jobs[0]).is_some() && phone2.job(&jobs[1]).is_some());
    Ok(())
}

async fn a_gap_in_seq_answers_409_with_the_expected_seq_and_applies_nothing(backend: Backend) -> anyhow::Result<()> {
    let app = TestApp::spawn(backend).await?;
    let f = fixture(&app).await?;
    let job = f.job_for(&app, 0, "home_visit").await?;
    let mut phone = Phone::register(&app, &f.tech_tokens[0]).await?;
    phone.queue("job.add_note", note(&job, "one"));
    phone.queue("job.add_note", note(&job, "two"));
    phone.push().await?;
    // The phone lost mutation 3 (say, a crash before it was saved) but has 4 and 5.
    let m3 = phone.queue("job.add_note", note(&job, "three"));
    phone.queue("job.add_note", note(&job, "four"));
    phone.queue("job.add_note", note(&job, "five"));
    let without3: Vec<Value> = phone.pending.iter().filter(|m| m["id"] != m3.as_str()).cloned().collect();
    let r = phone.send(&without3).await?;
    assert_eq!((r.status, r.code()), (StatusCode::CONFLICT, "seq_gap"));
    assert_eq!(r.body["error"]["expected_seq"], 3);
    assert_eq!(count(&app, "SELECT COUNT(*) AS n FROM report_notes").await?, 2, "nothing of the batch applied");
    phone.converge().await?;
    phone.assert_exactly_once();
    assert_eq!(count(&app, "SELECT COUNT(*) AS n FROM report_notes").await?, 5);
    assert_eq!(phone.job(&job).map(|j| j["report"]["notes"].as_array().map(Vec::len)), Some(Some(5)));
    Ok(())
}

async fn concurrent_writers_during_pulls_never_make_a_pull_miss_a_change(backend: Backend) -> anyhow::Result<()> {
    let app = TestApp::spawn(backend).await?;
    let f = fixture(&app).await?;
    let mut jobs = Vec::new();
    for _ in 0..6 {
        jobs.push(f.job_for(&app, 0, "home_visit").await?);
    }
    let tech = f.techs[0].clone();
    let mut reader = Phone::register(&app, &f.tech_tokens[0]).await?;
    reader.converge().await?;

    // 1. A slow transaction takes an earlier change-log number and commits last.
    let (slow_job, fast_job) = (jobs[0].clone(), jobs[1].clone());
    let slow = {
        let (db, tech) = (app.db.clone(), tech.clone());
        tokio::task::spawn_blocking(move || -> anyhow::Result<()> {
            let mut conn = db.get()?;
            api::db::write_tx(&mut conn, |c| {
                let now = chrono::Utc::now().naive_utc();
                let id = uuid::Uuid::new_v4().to_string();
                api::storage::reports::insert_note(c, &id, &slow_job, &tech, "written slowly", now)?;
                api::storage::change_log::log_change(
                    c,
                    api::storage::change_log::Change::upsert(api::domain::ChangeEntity::Job, &slow_job, Some(&tech)),
                    now,
                )?;
                std::thread::sleep(std::time::Duration::from_millis(700));
                Ok(())
            })?;
            Ok(())
        })
    };
    tokio::time::sleep(std::time::Duration::from_millis(150)).await;
    // 2. A second phone of the same technician writes to another job meanwhile (later number, commits first
    //    on PostgreSQL; on SQLite it waits for the writer lock).
    let mut writer = Phone::register(&app, &f.tech_tokens[0]).await?;
    let writer_push = {
        writer.queue("job.add_note", note(&fast_job, "written quickly"));
        let batch = writer.pending.clone();
        let w = &writer;
        async move { w.send(&batch).await }
    };
    // 3. The reader pulls all along, incrementally.
    let pulls = async {
        for _ in 0..10 {
            reader.pull().await?;
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        anyhow::Ok(())
    };
    let (pushed, pulled) = tokio::join!(writer_push, pulls);
    assert_eq!(pushed?.status, StatusCode::OK);
    pulled?;
    slow.await??;

    // 4. Many writers at once on the other jobs while the reader keeps pulling.
    let mut writers = Vec::new();
    for _ in 0..4 {
        writers.push(Phone::register(&app, &f.tech_tokens[0]).await?);
    }
    let work = futures_util::future::join_all(writers.iter_mut().enumerate().map(|(w, phone)| {
        let jobs = jobs.clone();
        async move {
            for (i, job) in jobs[2..].iter().enumerate() {
                phone.queue("job.add_note", note(job, &format!("writer {w} note {i}")));
                phone.push().await?;
            }
            anyhow::Ok(())
        }
    }));
    let pulls = async {
        for _ in 0..15 {
            reader.pull().await?;
            tokio::time::sleep(std::time::Duration::from_millis(30)).await;
        }
        anyhow::Ok(())
    };
    let (written, pulled) = tokio::join!(work, pulls);
    written.into_iter().collect::<anyhow::Result<Vec<()>>>()?;
    pulled?;

    // The reader never pulled from scratch again, yet holds every note.
    let mut pulled_only = false;
    for _ in 0..100 {
        reader.pull().await?;
        let notes: usize =
            jobs.iter().filter_map(|j| reader.job(j).and_then(|v| v["report"]["notes"].as_array().map(Vec::len))).sum();
        if notes == 2 + 4 * 4 {
            pulled_only = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(pulled_only, "incremental pulls missed a change: {:#?}", reader.view);
    let full = reader.full_view().await?;
    assert_eq!(Phone::checksum(&full), Phone::checksum(&reader.view));
    Ok(())
}

async fn a_reset_drops_the_server_copy_but_keeps_the_phones_pending_work(backend: Backend) -> anyhow::Result<()> {
    let app = TestApp::spawn(backend).await?;
    let f = fixture(&app).await?;
    let job = f.job_for(&app, 0, "home_visit").await?;
    let mut phone = Phone::register(&app, &f.tech_tokens[0]).await?;
    phone.converge().await?;
    phone.online = false;
    let queued = [
        phone.queue("job.set_status", json!({"job_id": job, "status": "en_route"})),
        phone.queue("job.add_note", note(&job, "Offline note")),
    ];
    // The server can no longer serve the phone's cursor (say, restored from a backup).
    phone.cursor = Some(mobile_sync::cursor::Cursor::at(u64::MAX / 4, i64::MAX / 4).encode());
    phone.online = true;
    let body = phone.pull_once(phone.cursor.as_deref()).await?;
    assert_eq!(body["reset_required"], true);
    // Garbage is answered the same way.
    assert_eq!(phone.pull_once(Some("not-a-cursor")).await?["reset_required"], true);
    phone.pull().await?;
    assert_eq!(phone.pending.len(), 2, "the reset kept the queue");
    assert_eq!(phone.job(&job).map(|j| j["status"].clone()), Some(json!("scheduled")));
    phone.converge().await?;
    phone.assert_exactly_once();
    assert!(queued.iter().all(|id| phone.status_of(id) == "applied"));
    assert_eq!(phone.job(&job).map(|j| j["status"].clone()), Some(json!("en_route")));
    Ok(())
}

async fn clock_skew_of_hours_on_the_phone_changes_nothing(backend: Backend) -> anyhow::Result<()> {
    let app = TestApp::spawn(backend).await?;
    let f = fixture(&app).await?;
    let job = f.job_for(&app, 0, "home_visit").await?;
    // Two phones of one technician: one five hours fast, one three hours slow.
    let mut fast = Phone::register(&app, &f.tech_tokens[0]).await?;
    fast.skew = Duration::hours(5);
    let mut slow = Phone::register(&app, &f.tech_tokens[0]).await?;
    slow.skew = -Duration::hours(3);

    let arrived = (fast.now() - Duration::minutes(40)).to_rfc3339();
    fast.queue("job.set_status", json!({"job_id": job, "status": "en_route"}));
    fast.queue("job.set_status", json!({"job_id": job, "status": "on_site", "at": arrived}));
    fast.queue("job.set_checklist", json!({"job_id": job, "item": "device_works", "value": "fast phone"}));
    fast.queue(
        "position.ping",
        json!({"lat": LAT, "lon": LON + 0.02, "accuracy_m": 5.0, "at": fast.now().to_rfc3339()}),
    );
    fast.push().await?;
    // The slow phone writes the same field later by server order, with a clock eight hours behind: it wins.
    slow.queue("job.set_checklist", json!({"job_id": job, "item": "device_works", "value": "slow phone"}));
    let departed = (slow.now() - Duration::minutes(10)).to_rfc3339();
    slow.queue("job.set_status", json!({"job_id": job, "status": "completed", "at": departed}));
    slow.push().await?;
    fast.converge().await?;
    slow.converge().await?;
    fast.assert_exactly_once();
    slow.assert_exactly_once();
    assert_eq!(Phone::checksum(&fast.view), Phone::checksum(&slow.view));

    let j = fast.job(&job).cloned().unwrap_or_default();
    assert_eq!(j["checklist"][2]["value"], "slow phone", "server order, not phone clocks");
    // The offsets measured at the pushes are kept per device (-5 h and +3 h, give or take the round trip).
    let five_fast = "SELECT COUNT(*) AS n FROM sync_devices WHERE clock_offset_ms BETWEEN -18030000 AND -17970000";
    let three_slow = "SELECT COUNT(*) AS n FROM sync_devices WHERE clock_offset_ms BETWEEN 10770000 AND 10830000";
    assert_eq!((count(&app, five_fast).await?, count(&app, three_slow).await?), (1, 1));
    let secs = j["report"]["time_on_site_secs"].as_i64().unwrap_or(0);
    assert!((30 * 60 - 10..=30 * 60 + 10).contains(&secs), "{secs}");
    let arrived_at =
        chrono::DateTime::parse_from_rfc3339(j["report"]["visits"][0]["arrived_at"].as_str().unwrap_or(""))?;
    let off = (arrived_at.with_timezone(&Utc) - (Utc::now() - Duration::minutes(40))).num_seconds().abs();
    assert!(off < 30, "arrival corrected to real time: {arrived_at}");
    let position_at = app
        .with_db({
            let id = f.techs[0].clone();
            move |conn| Ok(api::storage::technicians::find_with_org_path(conn, &id)?.and_then(|(t, _)| t.position_at))
        })
        .await?
        .unwrap_or_default();
    assert!((position_at.and_utc() - Utc::now()).num_seconds().abs() < 30, "{position_at}");
    Ok(())
}

async fn an_older_app_that_omits_newer_optional_fields_keeps_working(backend: Backend) -> anyhow::Result<()> {
    let app = TestApp::spawn(backend).await?;
    let f = fixture(&app).await?;
    let job = f.job_for(&app, 0, "parts_replacement").await?;
    let token = &f.tech_tokens[0];
    // No push token; no cursor or limit; no sent_at, no `at`, no serial.
    let d = app.post("/v1/devices", token, &json!({"platform": "ios", "app_version": "1.0.0"})).await?;
    assert_eq!(d.status, StatusCode::CREATED, "{}", d.body);
    let device = d.str("device_id");
    let p = app.post("/v1/sync/pull", token, &json!({"device_id": device})).await?;
    assert_eq!(p.status, StatusCode::OK, "{}", p.body);
    assert!(p.body["changes"].as_array().into_iter().flatten().any(|c| c["id"] == job.as_str()));
    let mutations = json!([
        {"seq": 1, "id": uuid::Uuid::new_v4(), "name": "job.set_status", "args": {"job_id": job, "status": "en_route"}},
        {"seq": 2, "id": uuid::Uuid::new_v4(), "name": "job.add_part",
            "args": {"job_id": job, "part_use_id": uuid::Uuid::new_v4(), "sku": "fuse", "qty": 2}},
    ]);
    let r = app.post("/v1/sync/push", token, &json!({"device_id": device, "mutations": mutations})).await?;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert!(r.body["results"].as_array().into_iter().flatten().all(|r| r["status"] == "applied"), "{}", r.body);
    assert!(r.body.get("clock_offset_ms").is_none());
    // On PostgreSQL a pull waits for transactions still in flight anywhere, so poll a little.
    let mut j = Value::Null;
    for _ in 0..100 {
        let p2 = app.post("/v1/sync/pull", token, &json!({"device_id": device, "cursor": p.body["cursor"]})).await?;
        assert_eq!(p2.status, StatusCode::OK, "{}", p2.body);
        if let Some(c) = p2.body["changes"].as_array().into_iter().flatten().find(|c| c["id"] == job.as_str()) {
            j = c.clone();
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(j["data"]["status"], "en_route");
    assert_eq!(j["data"]["report"]["parts"][0]["serial"], Value::Null);
    Ok(())
}

async fn bad_mutations_are_rejected_one_by_one_and_bad_requests_apply_nothing(backend: Backend) -> anyhow::Result<()> {
    let app = TestApp::spawn(backend).await?;
    let f = fixture(&app).await?;
    let job = f.job_for(&app, 0, "home_visit").await?;
    let mut phone = Phone::register(&app, &f.tech_tokens[0]).await?;
    let mut other_device = Phone::register(&app, &f.tech_tokens[0]).await?;
    let taken = other_device.queue("job.add_note", note(&job, "first"));
    other_device.push().await?;

    let ok1 = phone.queue("job.add_note", note(&job, "fine"));
    let unknown = phone.queue("job.teleport", json!({"job_id": job}));
    let malformed = phone.queue("job.add_note", json!({"job_id": job, "text": "no note id"}));
    let extra = phone
        .queue("job.add_note", json!({"job_id": job, "note_id": uuid::Uuid::new_v4(), "text": "x", "colour": "red"}));
    let illegal = phone.queue("job.set_status", json!({"job_id": job, "status": "completed"}));
    let unknown_item = phone.queue("job.set_checklist", json!({"job_id": job, "item": "launch_codes", "value": 1}));
    // A mutation id already used by another device.
    let seq = phone.next_seq;
    phone.pending.push(json!({"seq": seq, "id": taken, "name": "job.add_note", "args": note(&job, "reused id")}));
    phone.next_seq += 1;
    let ok2 = phone.queue("job.set_status", json!({"job_id": job, "status": "en_route"}));
    phone.push().await?;
    for (id, reason) in [
        (&unknown, "unknown_mutation"),
        (&malformed, "malformed_args"),
        (&extra, "malformed_args"),
        (&illegal, "invalid_transition"),
        (&unknown_item, "unknown_checklist_item"),
        (&taken, "mutation_id_reused"),
    ] {
        assert_eq!((phone.status_of(id), phone.reason_of(id)), ("rejected".to_owned(), reason.to_owned()), "{id}");
    }
    assert_eq!(phone.outcome[&illegal]["current"]["status"], "scheduled");
    assert_eq!((phone.status_of(&ok1), phone.status_of(&ok2)), ("applied".to_owned(), "applied".to_owned()));
    assert_eq!(count(&app, "SELECT COUNT(*) AS n FROM report_notes").await?, 2);
    assert_eq!(count(&app, "SELECT COUNT(*) AS n FROM sync_mutations WHERE status = 'applied'").await?, 3);
    // The other device's mutation was not disturbed.
    assert_eq!(other_device.status_of(&taken), "applied");

    // Request errors: nothing of the batch is applied.
    let token = &f.tech_tokens[0];
    let next = phone.next_seq;
    let valid = json!({"seq": next, "id": uuid::Uuid::new_v4(), "name": "job.add_note", "args": note(&job, "never")});
    let raw = app
        .client
        .post(format!("{}/v1/sync/push", app.base))
        .bearer_auth(token)
        .header("content-type", "application/json")
        .body("{\"device_id\": ")
        .send()
        .await?;
    assert_eq!(raw.status(), StatusCode::BAD_REQUEST);
    let unknown_field = app
        .post(
            "/v1/sync/push",
            token,
            &json!({"device_id": phone.device_id, "mutations": [valid.clone()], "priority": 1}),
        )
        .await?;
    assert_eq!((unknown_field.status, unknown_field.code()), (StatusCode::BAD_REQUEST, "unknown_field"));
    let envelope_extra = app
        .post("/v1/sync/push", token, &json!({"device_id": phone.device_id,
            "mutations": [valid.clone(), {"seq": next + 1, "id": uuid::Uuid::new_v4(), "name": "job.add_note", "args": {}, "x": 1}]}))
        .await?;
    assert_eq!(envelope_extra.status, StatusCode::BAD_REQUEST, "{}", envelope_extra.body);
    let zero = app
        .post(
            "/v1/sync/push",
            token,
            &json!({"device_id": phone.device_id,
            "mutations": [valid.clone(), {"seq": 0, "id": uuid::Uuid::new_v4(), "name": "job.add_note", "args": {}}]}),
        )
        .await?;
    assert_eq!(zero.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", zero.body);
    let big: Vec<Value> = (0..501)
        .map(|i| json!({"seq": next + i, "id": uuid::Uuid::new_v4(), "name": "job.add_note", "args": note(&job, "bulk")}))
        .collect();
    let too_many = app.post("/v1/sync/push", token, &json!({"device_id": phone.device_id, "mutations": big})).await?;
    assert_eq!((too_many.status, too_many.code()), (StatusCode::PAYLOAD_TOO_LARGE, "batch_too_large"));
    assert_eq!(count(&app, "SELECT COUNT(*) AS n FROM report_notes").await?, 2, "nothing half-applied");

    // Someone else's device is not found; other roles never sync.
    let theirs = app.post("/v1/sync/pull", &f.tech_tokens[1], &json!({"device_id": phone.device_id})).await?;
    assert_eq!(theirs.status, StatusCode::NOT_FOUND);
    let push_theirs =
        app.post("/v1/sync/push", &f.tech_tokens[1], &json!({"device_id": phone.device_id, "mutations": []})).await?;
    assert_eq!(push_theirs.status, StatusCode::NOT_FOUND);
    let dispatcher = app.post("/v1/sync/pull", &f.dispatcher, &json!({"device_id": phone.device_id})).await?;
    assert_eq!(dispatcher.status, StatusCode::FORBIDDEN);
    let bad_platform = app.post("/v1/devices", token, &json!({"platform": "nokia", "app_version": "1"})).await?;
    assert_eq!(bad_platform.status, StatusCode::UNPROCESSABLE_ENTITY);

    phone.converge().await?;
    phone.assert_exactly_once();
    Ok(())
}

async fn photos_upload_content_addressed_idempotent_and_limited(backend: Backend) -> anyhow::Result<()> {
    let app = TestApp::spawn(backend).await?;
    let f = fixture(&app).await?;
    let job = f.job_for(&app, 0, "home_visit").await?;
    let token = f.tech_tokens[0].clone();
    let put = |sha: String, body: Vec<u8>| {
        let req = app.client.put(format!("{}/v1/photos/{sha}", app.base)).bearer_auth(&token).body(body);
        async move { anyhow::Ok(req.send().await?.status()) }
    };
    let mut phone = Phone::register(&app, &f.tech_tokens[0]).await?;
    phone.queue("job.set_status", json!({"job_id": job, "status": "en_route"}));
    phone.queue(
        "job.attach_photo",
        json!({"job_id": job, "photo_id": uuid::Uuid::new_v4(), "sha256": SHA_A, "taken_at": phone.now().to_rfc3339()}),
    );
    phone.converge().await?;
    assert_eq!(phone.job(&job).map(|j| j["report"]["photos"][0]["uploaded"].clone()), Some(json!(false)));

    assert_eq!(put(SHA_A.into(), b"hello".to_vec()).await?, StatusCode::CREATED);
    assert_eq!(put(SHA_A.into(), b"hello".to_vec()).await?, StatusCode::OK, "idempotent");
    assert_eq!(put(SHA_B.into(), b"hello".to_vec()).await?, StatusCode::UNPROCESSABLE_ENTITY, "hash mismatch");
    assert_eq!(put("not-a-hash".into(), b"hello".to_vec()).await?, StatusCode::UNPROCESSABLE_ENTITY);
    let big = vec![7u8; 10 * 1024 * 1024 + 1];
    let big_sha = api::app::sync::sha256_hex(&big);
    assert_eq!(put(big_sha, big).await?, StatusCode::PAYLOAD_TOO_LARGE);
    let exactly = vec![8u8; 10 * 1024 * 1024];
    let exactly_sha = api::app::sync::sha256_hex(&exactly);
    assert_eq!(put(exactly_sha, exactly).await?, StatusCode::CREATED, "10 MB is allowed");
    assert_eq!(count(&app, "SELECT COUNT(*) AS n FROM photo_blobs").await?, 2);
    let dispatcher = app
        .client
        .put(format!("{}/v1/photos/{SHA_B}", app.base))
        .bearer_auth(&f.dispatcher)
        .body("world")
        .send()
        .await?;
    assert_eq!(dispatcher.status(), StatusCode::FORBIDDEN);
    // The photo shows as uploaded after the next sync (the job changes when its report does).
    phone.queue("job.add_note", note(&job, "photo sent"));
    phone.converge().await?;
    assert_eq!(phone.job(&job).map(|j| j["report"]["photos"][0]["uploaded"].clone()), Some(json!(true)));
    Ok(())
}

async fn an_incomplete_visit_sends_the_job_back_with_its_reason_and_counts_the_visit(
    backend: Backend,
) -> anyhow::Result<()> {
    let app = TestApp::spawn(backend).await?;
    let f = fixture(&app).await?;
    let job = f.job_for(&app, 0, "parts_replacement").await?;
    let mut phone = Phone::register(&app, &f.tech_tokens[0]).await?;
    let arrived = (phone.now() - Duration::minutes(20)).to_rfc3339();
    let ids = [
        phone.queue("job.set_status", json!({"job_id": job, "status": "en_route"})),
        phone.queue("job.set_status", json!({"job_id": job, "status": "on_site", "at": arrived})),
        phone.queue("job.set_status", json!({"job_id": job, "status": "incomplete", "reason": "part_missing"})),
        // Not after an incomplete visit: the job is back with the dispatcher.
        phone.queue("job.set_status", json!({"job_id": job, "status": "completed"})),
        phone.queue("job.add_note", note(&job, "after the visit")),
    ];
    phone.converge().await?;
    phone.assert_exactly_once();
    assert_eq!(ids[..3].iter().map(|id| phone.status_of(id)).collect::<Vec<_>>(), ["applied"; 3]);
    assert_eq!(phone.reason_of(&ids[3]), "invalid_transition");
    assert_eq!(phone.reason_of(&ids[4]), "job_not_active");
    let j = phone.job(&job).cloned().unwrap_or_default();
    assert_eq!(j["status"], "incomplete");
    assert_eq!(j["report"]["visits"][0]["outcome"], "incomplete");
    assert_eq!(j["report"]["visits"][0]["reason"], "part_missing");
    let secs = j["report"]["time_on_site_secs"].as_i64().unwrap_or(0);
    assert!((20 * 60 - 10..=20 * 60 + 10).contains(&secs), "{secs}");
    assert_eq!(phone.view["route/current"]["stops"], json!([]), "off the route until it is scheduled again");
    assert_eq!(event_types(&app, &job).await?.last().map(String::as_str), Some("incomplete"));
    let visits = app
        .with_db({
            let job = job.clone();
            move |conn| {
                Ok(api::storage::jobs::find_scoped(conn, &job, api::storage::jobs::JobScope::All)?
                    .map(|j| (j.visits, j.first_on_site_at.is_some())))
            }
        })
        .await?;
    assert_eq!(visits, Some((1, true)));
    Ok(())
}

async fn a_position_ping_moves_the_technician_in_the_dispatch_index(backend: Backend) -> anyhow::Result<()> {
    let app = TestApp::spawn(backend).await?;
    let f = fixture(&app).await?;
    // Technician 1 lives farther away, but pings from the job's doorstep.
    let mut phone = Phone::register(&app, &f.tech_tokens[1]).await?;
    let ping = phone
        .queue("position.ping", json!({"lat": LAT, "lon": LON, "accuracy_m": 5.0, "at": phone.now().to_rfc3339()}));
    phone.converge().await?;
    assert_eq!(phone.status_of(&ping), "applied");
    let mut b = booking();
    b["location"] = json!({"lat": LAT, "lon": LON});
    b["required_skills"] = json!(["probe"]);
    let id = app.book(&f.customer, &b, None).await?.str("id");
    let ex = app.get(&format!("/v1/jobs/{id}/explanation"), &f.dispatcher).await?;
    assert_eq!(ex.status, StatusCode::OK, "{}", ex.body);
    assert_eq!(ex.body["decisions"][0]["chosen"], f.techs[1].as_str(), "{}", ex.body);
    Ok(())
}

async fn after_an_incomplete_visit_the_same_technician_is_scheduled_again_for_a_second_visit(
    backend: Backend,
) -> anyhow::Result<()> {
    // Arrange: a visit ends incomplete (part missing).
    let app = TestApp::spawn(backend).await?;
    let f = fixture(&app).await?;
    let job = f.job_for(&app, 0, "parts_replacement").await?;
    let mut phone = Phone::register(&app, &f.tech_tokens[0]).await?;
    phone.queue("job.set_status", json!({"job_id": job, "status": "en_route"}));
    phone.queue("job.set_status", json!({"job_id": job, "status": "on_site"}));
    phone.queue("job.set_status", json!({"job_id": job, "status": "incomplete", "reason": "part_missing"}));
    let too_soon = phone.queue("job.set_status", json!({"job_id": job, "status": "en_route"}));
    phone.converge().await?;
    assert_eq!(phone.reason_of(&too_soon), "invalid_transition");

    // Act: the dispatcher gives it back to the same technician.
    let r = f.reassign(&app, &job, 0).await?;
    assert_eq!((r.status, r.body["status"].as_str()), (StatusCode::OK, Some("scheduled")), "{}", r.body);

    // Assert: the phone sees it scheduled, the report is editable, and the next arrival is visit 2.
    phone.converge().await?;
    assert_eq!(phone.job(&job).map(|j| j["status"].clone()), Some(json!("scheduled")));
    let ids = [
        phone.queue("job.add_note", note(&job, "part ordered")),
        phone.queue("job.set_status", json!({"job_id": job, "status": "en_route"})),
        phone.queue("job.set_status", json!({"job_id": job, "status": "on_site"})),
    ];
    phone.converge().await?;
    phone.assert_exactly_once();
    assert_eq!(ids.iter().map(|id| phone.status_of(id)).collect::<Vec<_>>(), ["applied"; 3]);
    let visits = app
        .with_db({
            let job = job.clone();
            move |conn| {
                Ok(api::storage::jobs::find_scoped(conn, &job, api::storage::jobs::JobScope::All)?.map(|j| j.visits))
            }
        })
        .await?;
    assert_eq!(visits, Some(2));

    // The customer's new window for an incomplete job schedules it with the same technician too.
    let second = f.job_for(&app, 1, "parts_replacement").await?;
    let mut other = Phone::register(&app, &f.tech_tokens[1]).await?;
    other.queue("job.set_status", json!({"job_id": second, "status": "en_route"}));
    other.queue("job.set_status", json!({"job_id": second, "status": "on_site"}));
    other.queue("job.set_status", json!({"job_id": second, "status": "incomplete", "reason": "second_visit_needed"}));
    other.converge().await?;
    let now = api::clock::Clock::now(&*app.clock);
    let r = app
        .post(&format!("/v1/requests/{second}/reschedule"), &f.customer, &json!({"window": soon(now, 4, 6)}))
        .await?;
    assert_eq!((r.status, r.body["status"].as_str()), (StatusCode::OK, Some("scheduled")), "{}", r.body);
    other.converge().await?;
    let j = other.job(&second).cloned().unwrap_or_default();
    assert_eq!(j["status"], "scheduled", "{j}");
    let krasnoyarsk = chrono::FixedOffset::east_opt(7 * 3600).ok_or_else(|| anyhow::anyhow!("offset"))?;
    let date = (now + Duration::hours(4)).with_timezone(&krasnoyarsk).date_naive();
    let route = app.get(&format!("/v1/technicians/{}/route?date={date}", f.techs[1]), &f.dispatcher).await?;
    assert!(
        route.body["stops"].as_array().into_iter().flatten().any(|s| s["job_id"] == second.as_str()),
        "{}",
        route.body
    );
    Ok(())
}
