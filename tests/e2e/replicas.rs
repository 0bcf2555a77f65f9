//! Two replicas, one PostgreSQL, hammered (issue #11): two real `sortie` processes on one database while
//! concurrent clients book (every idempotency key sent to both replicas at once), dispatchers race to accept
//! and decline the same offers on different replicas, a third replica whose injected clock runs two hours
//! ahead expires every open offer, and phones push each batch to both replicas at once. Afterwards the
//! database is checked: no double assignment, no technician over capacity, one request per key, every
//! acknowledged mutation exactly once, every job's offers and events consistent with its status.
//! Prints the counts.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use diesel::{Connection as _, PgConnection, RunQueryDsl as _};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::process::{Server, get_json, login_at};
use crate::helpers::{Backend, TestApp, TestDb, booking, postgres_available};

#[derive(diesel::QueryableByName)]
struct Count {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}

#[derive(diesel::QueryableByName)]
struct Login {
    #[diesel(sql_type = diesel::sql_types::Text)]
    email: String,
    #[diesel(sql_type = diesel::sql_types::Text)]
    technician_id: String,
}

fn count(conn: &mut PgConnection, sql: &str) -> anyhow::Result<i64> {
    let rows: Vec<Count> = diesel::sql_query(sql).load(conn)?;
    Ok(rows.first().map_or(0, |r| r.n))
}

/// Outcomes by kind of operation and status.
#[derive(Default)]
struct Tally(Mutex<BTreeMap<String, BTreeMap<u16, u64>>>);

impl Tally {
    fn add(&self, kind: &str, status: StatusCode) {
        if let Ok(mut t) = self.0.lock() {
            *t.entry(kind.to_owned()).or_default().entry(status.as_u16()).or_default() += 1;
        }
    }
    fn fives(&self) -> u64 {
        self.0.lock().map(|t| t.values().flat_map(|m| m.iter()).filter(|(s, _)| **s >= 500).map(|(_, n)| n).sum()).unwrap_or(0)
    }
}

async fn send(client: &reqwest::Client, base: &str, path: &str, token: &str, body: &Value) -> anyhow::Result<(StatusCode, Value)> {
    let r = client.post(format!("{base}{path}")).bearer_auth(token).json(body).send().await?;
    let status = r.status();
    Ok((status, r.json().await.unwrap_or(Value::Null)))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_on_one_postgresql_hammered_keep_every_invariant() -> anyhow::Result<()> {
    if !postgres_available().await? {
        return Ok(());
    }
    // Arrange: every technician may take 2 jobs a day, so capacity is contended.
    let db = TestDb::fresh(Backend::Postgres).await?;
    let url = db.url().to_owned();
    let logins: Vec<Login> = tokio::task::spawn_blocking({
        let url = url.clone();
        move || -> anyhow::Result<Vec<Login>> {
            let mut conn = PgConnection::establish(&url)?;
            diesel::sql_query("UPDATE technicians SET daily_capacity = 2").execute(&mut conn)?;
            Ok(diesel::sql_query("SELECT email, technician_id FROM users WHERE technician_id IS NOT NULL").load(&mut conn)?)
        }
    })
    .await??;
    let tech_logins: HashMap<String, String> = logins.into_iter().map(|l| (l.technician_id, l.email)).collect();
    let env = [("SORTIE_BOOKINGS_PER_MINUTE", "100000"), ("SORTIE_SYNC_PER_MINUTE", "100000")];
    let replicas = [Server::start(&url, &env).await?, Server::start(&url, &env).await?];
    let bases: Vec<String> = replicas.iter().map(|r| r.base.clone()).collect();
    // The expiring replica: in-process, its clock two hours ahead, so every open offer is past its deadline.
    let sweeper = TestApp::spawn_on(TestDb::Shared { url: url.clone() }, |c| {
        c.limits.bookings_per_minute = 100_000;
    })
    .await?;
    sweeper.clock.advance(chrono::Duration::hours(2));
    let client = reqwest::Client::new();
    let customer = replicas[0].login(&client, "customer@demo.sortie").await?;
    let vendor = replicas[1].login(&client, "dispatcher@vendor.demo.sortie").await?;
    let admin = replicas[0].login(&client, "admin@demo.sortie").await?;
    let tally = Arc::new(Tally::default());
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));

    // Act. Bookers: each key to both replicas at once, then once more.
    let ids_by_key: Arc<Mutex<HashMap<String, HashSet<String>>>> = Arc::default();
    let mut bookers = Vec::new();
    for task in 0..4 {
        let (client, bases, customer, tally, ids_by_key) =
            (client.clone(), bases.clone(), customer.clone(), tally.clone(), ids_by_key.clone());
        bookers.push(tokio::spawn(async move {
            for i in 0..25 {
                let key = format!("hammer-{task}-{i}");
                let one = |base: String| {
                    let (client, customer, key) = (client.clone(), customer.clone(), key.clone());
                    async move {
                        let r = client
                            .post(format!("{base}/v1/requests"))
                            .bearer_auth(&customer)
                            .header("Idempotency-Key", &key)
                            .json(&booking())
                            .send()
                            .await?;
                        let status = r.status();
                        anyhow::Ok((status, r.json::<Value>().await.unwrap_or(Value::Null)))
                    }
                };
                let (a, b) = tokio::join!(one(bases[0].clone()), one(bases[1].clone()));
                let c = one(bases[(task + i) % 2].clone()).await;
                for (status, body) in [a?, b?, c?] {
                    tally.add("book", status);
                    if status == StatusCode::CREATED
                        && let Ok(mut m) = ids_by_key.lock()
                    {
                        m.entry(key.clone()).or_default().insert(body["id"].as_str().unwrap_or_default().to_owned());
                    }
                }
            }
            anyhow::Ok(())
        }));
    }
    // Dispatchers: three, each on the replica it likes, answering every open offer they see with the
    // offered organisation's dispatcher (accept mostly, decline one in four); two often pick the same job.
    let org_tokens: Arc<tokio::sync::Mutex<HashMap<String, String>>> = Arc::default();
    let mut dispatchers = Vec::new();
    for task in 0..3usize {
        let (client, bases, vendor, admin, tally, done, org_tokens) = (
            client.clone(),
            bases.clone(),
            vendor.clone(),
            admin.clone(),
            tally.clone(),
            done.clone(),
            org_tokens.clone(),
        );
        dispatchers.push(tokio::spawn(async move {
            let mut n = task;
            while !done.load(std::sync::atomic::Ordering::Relaxed) {
                let base = &bases[n % 2];
                let page = get_json(&client, base, "/v1/jobs?status=offered&limit=20", &vendor).await?;
                for job in page["items"].as_array().into_iter().flatten() {
                    n += 1;
                    let (Some(id), Some(org)) = (job["id"].as_str(), job["offer"]["org_id"].as_str()) else { continue };
                    let token = {
                        let mut tokens = org_tokens.lock().await;
                        if !tokens.contains_key(org) {
                            let o = get_json(&client, base, &format!("/v1/orgs/{org}"), &admin).await?;
                            let email = format!("dispatcher@{}.demo.sortie", o["slug"].as_str().unwrap_or_default());
                            tokens.insert(org.to_owned(), login_at(&client, base, &email).await?);
                        }
                        tokens[org].clone()
                    };
                    let (kind, body) =
                        if n % 4 == 0 { ("decline", json!({"reason": "busy"})) } else { ("accept", json!({})) };
                    let (status, _) = send(&client, &bases[n % 2], &format!("/v1/jobs/{id}/{kind}"), &token, &body).await?;
                    tally.add(kind, status);
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            anyhow::Ok(())
        }));
    }
    // The expiring replica sweeps every 200 ms.
    let expiries = {
        let (done, tally) = (done.clone(), tally.clone());
        let sweeper = &sweeper;
        async move {
            let mut expired = 0usize;
            while !done.load(std::sync::atomic::Ordering::Relaxed) {
                let n = sweeper.sweep().await?;
                expired += n;
                tally.add("sweep", StatusCode::OK);
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            anyhow::Ok(expired)
        }
    };
    // Phones: for scheduled jobs whose technician has a login, push a note and a ping to both replicas at once.
    let acked: Arc<Mutex<HashSet<String>>> = Arc::default();
    let notes: Arc<Mutex<HashSet<String>>> = Arc::default();
    let phones = {
        let (client, bases, vendor, tally, done, acked, notes) =
            (client.clone(), bases.clone(), vendor.clone(), tally.clone(), done.clone(), acked.clone(), notes.clone());
        tokio::spawn(async move {
            let mut devices: HashMap<String, (String, String, u64)> = HashMap::new();
            while !done.load(std::sync::atomic::Ordering::Relaxed) {
                let page = get_json(&client, &bases[0], "/v1/jobs?status=scheduled&limit=50", &vendor).await?;
                for job in page["items"].as_array().into_iter().flatten() {
                    let (Some(id), Some(tech)) = (job["id"].as_str(), job["technician_id"].as_str()) else { continue };
                    let Some(email) = tech_logins.get(tech) else { continue };
                    if !devices.contains_key(tech) {
                        let token = login_at(&client, &bases[1], email).await?;
                        let (_, d) = send(&client, &bases[0], "/v1/devices", &token, &json!({"platform": "android", "push_token": "t", "app_version": "1.0.0"})).await?;
                        devices.insert(tech.to_owned(), (token, d["device_id"].as_str().unwrap_or_default().to_owned(), 0));
                    }
                    let Some((token, device, seq)) = devices.get_mut(tech) else { continue };
                    let note = uuid::Uuid::new_v4().to_string();
                    let batch = json!({"device_id": device, "mutations": [
                        {"seq": *seq + 1, "id": uuid::Uuid::new_v4(), "name": "job.add_note", "args": {"job_id": id, "note_id": note, "text": "hammered"}},
                        {"seq": *seq + 2, "id": uuid::Uuid::new_v4(), "name": "position.ping", "args": {"lat": 55.75, "lon": 37.61, "accuracy_m": 5.0, "at": chrono::Utc::now().to_rfc3339()}},
                    ]});
                    *seq += 2;
                    let (a, b) = tokio::join!(
                        send(&client, &bases[0], "/v1/sync/push", token, &batch),
                        send(&client, &bases[1], "/v1/sync/push", token, &batch)
                    );
                    for (status, body) in [a?, b?] {
                        tally.add("push", status);
                        for (m, r) in batch["mutations"].as_array().into_iter().flatten().zip(body["results"].as_array().into_iter().flatten()) {
                            tally.add(&format!("mutation {}", r["status"].as_str().unwrap_or("?")), status);
                            if r["status"] == "applied" || r["status"] == "duplicate" {
                                if let Ok(mut a) = acked.lock() {
                                    a.insert(m["id"].as_str().unwrap_or_default().to_owned());
                                }
                                if m["name"] == "job.add_note" && r["status"] == "applied"
                                    && let Ok(mut n) = notes.lock()
                                {
                                    n.insert(note.clone());
                                }
                            }
                        }
                    }
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            anyhow::Ok(())
        })
    };
    let started = std::time::Instant::now();
    let stopper = {
        let done = done.clone();
        async move {
            for b in bookers {
                b.await??;
            }
            // Let dispatchers, expiries and phones work on what was booked for a few more seconds.
            tokio::time::sleep(Duration::from_secs(4)).await;
            done.store(true, std::sync::atomic::Ordering::Relaxed);
            anyhow::Ok(())
        }
    };
    let (stopped, expired) = tokio::join!(stopper, expiries);
    stopped?;
    let expired = expired?;
    for d in dispatchers {
        d.await??;
    }
    phones.await??;
    let elapsed = started.elapsed();

    // Assert, from the database.
    let ids_by_key = ids_by_key.lock().map(|m| m.clone()).unwrap_or_default();
    let acked = acked.lock().map(|a| a.clone()).unwrap_or_default();
    let notes = notes.lock().map(|a| a.clone()).unwrap_or_default();
    let customer_id = {
        let r = get_json(&client, &bases[0], "/v1/users/me", &customer).await?;
        r["id"].as_str().unwrap_or_default().to_owned()
    };
    let (acked_list, notes_list) = (acked.iter().cloned().collect::<Vec<_>>(), notes.iter().cloned().collect::<Vec<_>>());
    let figures = tokio::task::spawn_blocking(move || -> anyhow::Result<BTreeMap<&'static str, i64>> {
        let mut conn = PgConnection::establish(&url)?;
        let quoted = |ids: &[String]| {
            if ids.is_empty() { "''".to_owned() } else { ids.iter().map(|i| format!("'{i}'")).collect::<Vec<_>>().join(",") }
        };
        let mut f = BTreeMap::new();
        f.insert("jobs booked by the customer", count(&mut conn, &format!("SELECT count(*) AS n FROM jobs WHERE created_by = '{customer_id}'"))?);
        f.insert("keys with a request", count(&mut conn, &format!("SELECT count(*) AS n FROM idempotency_keys WHERE user_id = '{customer_id}' AND job_id IS NOT NULL"))?);
        f.insert("jobs accepted twice", count(&mut conn, "SELECT count(*) AS n FROM (SELECT job_id FROM offers WHERE status = 'accepted' GROUP BY job_id HAVING count(*) > 1) d")?);
        f.insert("jobs with two accepted events", count(&mut conn, "SELECT count(*) AS n FROM (SELECT job_id FROM job_events WHERE type = 'accepted' GROUP BY job_id HAVING count(*) > 1) d")?);
        f.insert("technician-days over capacity", count(&mut conn, "SELECT count(*) AS n FROM (SELECT j.technician_id, t.daily_capacity, count(*) AS c FROM jobs j JOIN technicians t ON t.id = j.technician_id WHERE j.status IN ('scheduled','en_route','on_site','completed','in_review','approved','returned') GROUP BY j.technician_id, t.daily_capacity, CAST(j.window_start AS date)) x WHERE c > daily_capacity")?);
        f.insert("offered jobs without exactly one pending offer", count(&mut conn, "SELECT count(*) AS n FROM jobs j WHERE j.status = 'offered' AND (SELECT count(*) FROM offers o WHERE o.job_id = j.id AND o.status = 'pending') <> 1")?);
        f.insert("other jobs with a pending offer", count(&mut conn, "SELECT count(*) AS n FROM jobs j WHERE j.status <> 'offered' AND EXISTS (SELECT 1 FROM offers o WHERE o.job_id = j.id AND o.status = 'pending')")?);
        f.insert("scheduled jobs without a technician or an accept/assign event", count(&mut conn, "SELECT count(*) AS n FROM jobs j WHERE j.status = 'scheduled' AND (j.technician_id IS NULL OR NOT EXISTS (SELECT 1 FROM job_events e WHERE e.job_id = j.id AND e.type IN ('accepted', 'assigned')))")?);
        f.insert("jobs without exactly one created event", count(&mut conn, "SELECT count(*) AS n FROM jobs j WHERE (SELECT count(*) FROM job_events e WHERE e.job_id = j.id AND e.type = 'created') <> 1")?);
        f.insert("offers expired", count(&mut conn, "SELECT count(*) AS n FROM offers WHERE status = 'expired'")?);
        f.insert("jobs scheduled", count(&mut conn, "SELECT count(*) AS n FROM jobs WHERE status = 'scheduled'")?);
        f.insert("mutation ids recorded twice", count(&mut conn, "SELECT count(*) AS n FROM (SELECT mutation_id FROM sync_mutations GROUP BY mutation_id HAVING count(*) > 1) d")?);
        f.insert("acknowledged mutations recorded", count(&mut conn, &format!("SELECT count(*) AS n FROM sync_mutations WHERE mutation_id IN ({})", quoted(&acked_list)))?);
        f.insert("applied notes stored", count(&mut conn, &format!("SELECT count(*) AS n FROM report_notes WHERE id IN ({})", quoted(&notes_list)))?);
        Ok(f)
    })
    .await??;
    let tally_text = format!("{:?}", tally.0.lock().map(|t| t.clone()).unwrap_or_default());
    eprintln!(
        "two replicas hammered in {elapsed:.1?}: {} keys, {expired} offers expired by the sweeping replica\n  answers: {tally_text}\n  database: {figures:#?}",
        ids_by_key.len()
    );
    assert_eq!(tally.fives(), 0, "server errors: {tally_text}");
    assert!(ids_by_key.len() >= 90, "too few bookings acknowledged: {}", ids_by_key.len());
    let doubled: Vec<_> = ids_by_key.iter().filter(|(_, ids)| ids.len() != 1).collect();
    assert!(doubled.is_empty(), "keys answered with two requests: {doubled:?}");
    assert_eq!(figures["jobs booked by the customer"], ids_by_key.len() as i64, "one request per key");
    assert_eq!(figures["keys with a request"], ids_by_key.len() as i64);
    for zero in [
        "jobs accepted twice",
        "jobs with two accepted events",
        "technician-days over capacity",
        "offered jobs without exactly one pending offer",
        "other jobs with a pending offer",
        "scheduled jobs without a technician or an accept/assign event",
        "jobs without exactly one created event",
        "mutation ids recorded twice",
    ] {
        assert_eq!(figures[zero], 0, "{zero}");
    }
    assert_eq!(figures["acknowledged mutations recorded"], acked.len() as i64, "an acknowledged mutation was lost");
    assert_eq!(figures["applied notes stored"], notes.len() as i64, "an applied note was lost");
    assert!(figures["jobs scheduled"] > 0 && !acked.is_empty(), "the load never reached accepts and pushes");
    for r in replicas {
        r.kill_9().await?;
    }
    Ok(())
}
