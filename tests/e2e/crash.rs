//! Nothing acknowledged is lost: the real `sortie` binary is killed with
//! SIGKILL while bookings stream in, restarted, and every request it
//! answered 201 is still there.

use std::sync::{Arc, Mutex};

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::both_backends;
use crate::helpers::process::Server;
use crate::helpers::{Backend, TestDb, booking};

both_backends!(acknowledged_bookings_survive_kill_9_and_restart);

async fn acknowledged_bookings_survive_kill_9_and_restart(backend: Backend) -> anyhow::Result<()> {
    let db = TestDb::fresh(backend).await?;
    let client = reqwest::Client::new();
    let server = Server::start(db.url(), &[]).await?;
    let base = server.base.clone();
    let token = server.login(&client, "customer@demo.sortie").await?;

    // Book continuously from two clients; remember every 201.
    let acked: Arc<Mutex<Vec<(String, String)>>> = Arc::default();
    let mut writers = Vec::new();
    for w in 0..2 {
        let (client, base, token, acked) = (client.clone(), base.clone(), token.clone(), acked.clone());
        writers.push(tokio::spawn(async move {
            for n in 0.. {
                let key = format!("crash-{w}-{n}");
                let sent = client
                    .post(format!("{base}/v1/requests"))
                    .bearer_auth(&token)
                    .header("Idempotency-Key", &key)
                    .json(&booking())
                    .send()
                    .await;
                let Ok(res) = sent else { break };
                if res.status() != StatusCode::CREATED {
                    break;
                }
                let Ok(body) = res.json::<Value>().await else { break };
                if let Ok(mut a) = acked.lock() {
                    a.push((key, body["id"].as_str().unwrap_or_default().to_owned()));
                }
            }
        }));
    }
    // Kill -9 mid-stream, once a good number of bookings were acknowledged.
    tokio::time::timeout(std::time::Duration::from_secs(60), async {
        while acked.lock().map(|a| a.len()).unwrap_or(0) < 40 {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    })
    .await?;
    server.kill_9().await?;
    for w in writers {
        w.await?;
    }
    let acked = acked.lock().map(|a| a.clone()).unwrap_or_default();
    assert!(acked.len() >= 40);

    // Restart on the same database: every acknowledged request is there, and
    // a retry with its key returns it rather than booking again.
    let server = Server::start(db.url(), &[]).await?;
    let base = &server.base;
    let token = server.login(&client, "customer@demo.sortie").await?;
    for (key, id) in &acked {
        let r = client.get(format!("{base}/v1/requests/{id}")).bearer_auth(&token).send().await?;
        assert_eq!(r.status(), StatusCode::OK, "acknowledged request {id} was lost");
        let retry: Value = client
            .post(format!("{base}/v1/requests"))
            .bearer_auth(&token)
            .header("Idempotency-Key", key)
            .json(&booking())
            .send()
            .await?
            .json()
            .await?;
        assert_eq!(retry["id"].as_str(), Some(id.as_str()));
    }
    Ok(())
}

both_backends!(every_acknowledged_booking_and_mutation_survives_kill_9_in_a_loop);

/// The per-user booking limit out of the way of a load from one customer.
const UNLIMITED: &[(&str, &str)] = &[("SORTIE_BOOKINGS_PER_MINUTE", "100000")];

/// Rounds of start, load, SIGKILL.
const ROUNDS: usize = 5;

/// What the clients were told, across rounds.
#[derive(Default)]
struct Acked {
    /// Idempotency key → request id, from every 201.
    bookings: std::collections::HashMap<String, String>,
    /// Keys sent without an answer (the server died): retried in the next round, as a client would.
    unanswered: Vec<String>,
    /// Mutation ids answered `applied` or `duplicate`, and the note ids of applied notes.
    mutations: std::collections::HashSet<String>,
    notes: std::collections::HashSet<String>,
    /// A batch sent without an answer, resent as it was (same seq and ids) after the restart.
    pending_batch: Option<Value>,
    seq: u64,
}

/// A random delay in `[from, to)` ms (the kill comes at a random moment of the load).
fn random_ms(from: u64, to: u64) -> std::time::Duration {
    std::time::Duration::from_millis(from + uuid::Uuid::new_v4().as_u64_pair().0 % (to - from))
}

async fn every_acknowledged_booking_and_mutation_survives_kill_9_in_a_loop(backend: Backend) -> anyhow::Result<()> {
    // Arrange: a scheduled job of tech1 (a stranded booking the vendor queue assigns), tech1's phone.
    let db = TestDb::fresh(backend).await?;
    let client = reqwest::Client::new();
    let server = Server::start(db.url(), &[]).await?;
    let base = server.base.clone();
    let admin = server.login(&client, "admin@demo.sortie").await?;
    let tech = server.login(&client, "tech1@demo.sortie").await?;
    let me: Value = client.get(format!("{base}/v1/users/me")).bearer_auth(&tech).send().await?.json().await?;
    let mut stranded = booking();
    stranded["required_skills"] = json!(["nobody_has_this"]);
    let job: Value =
        client.post(format!("{base}/v1/requests")).bearer_auth(&admin).json(&stranded).send().await?.json().await?;
    let job = job["id"].as_str().unwrap_or_default().to_owned();
    let r = client
        .post(format!("{base}/v1/jobs/{job}/assign"))
        .bearer_auth(&admin)
        .json(&json!({"technician_id": me["technician_id"]}))
        .send()
        .await?;
    anyhow::ensure!(r.status() == StatusCode::OK, "assign: {}", r.text().await?);
    let device: Value = client
        .post(format!("{base}/v1/devices"))
        .bearer_auth(&tech)
        .json(&json!({"platform": "android", "push_token": "t", "app_version": "1.0.0"}))
        .send()
        .await?
        .json()
        .await?;
    let device = device["device_id"].as_str().unwrap_or_default().to_owned();
    server.kill_9().await?;
    let acked: Arc<Mutex<Acked>> = Arc::default();

    // Act: rounds of start, two bookers and a phone, SIGKILL at a random moment, restart.
    for round in 0..ROUNDS {
        let server = Server::start(db.url(), UNLIMITED).await?;
        let customer = server.login(&client, "customer@demo.sortie").await?;
        let tech = server.login(&client, "tech1@demo.sortie").await?;
        let mut load = Vec::new();
        for w in 0..2 {
            let (client, base, customer, acked) = (client.clone(), server.base.clone(), customer.clone(), acked.clone());
            load.push(tokio::spawn(async move {
                let retries: Vec<String> =
                    if w == 0 { acked.lock().map(|mut a| std::mem::take(&mut a.unanswered)).unwrap_or_default() } else { vec![] };
                let fresh = (0..).map(|n| format!("loop-{round}-{w}-{n}"));
                for key in retries.into_iter().chain(fresh) {
                    let sent = client
                        .post(format!("{base}/v1/requests"))
                        .bearer_auth(&customer)
                        .header("Idempotency-Key", &key)
                        .json(&booking())
                        .send()
                        .await;
                    let answer = match sent {
                        Ok(res) if res.status() == StatusCode::CREATED => res.json::<Value>().await.ok(),
                        Ok(res) => panic!("booking {key}: {} {}", res.status(), res.text().await.unwrap_or_default()),
                        Err(_) => None,
                    };
                    let Ok(mut a) = acked.lock() else { break };
                    match answer {
                        Some(body) => {
                            let id = body["id"].as_str().unwrap_or_default().to_owned();
                            if let Some(before) = a.bookings.insert(key.clone(), id.clone()) {
                                assert_eq!(before, id, "key {key} answered two requests");
                            }
                        }
                        None => {
                            a.unanswered.push(key);
                            break;
                        }
                    }
                }
            }));
        }
        {
            let (client, base, tech, acked, device, job) =
                (client.clone(), server.base.clone(), tech.clone(), acked.clone(), device.clone(), job.clone());
            load.push(tokio::spawn(async move {
                loop {
                    let batch = {
                        let Ok(mut a) = acked.lock() else { break };
                        match a.pending_batch.clone() {
                            Some(b) => b,
                            None => {
                                let seq = a.seq;
                                a.seq += 2;
                                let b = json!({"device_id": device, "mutations": [
                                    {"seq": seq + 1, "id": uuid::Uuid::new_v4(), "name": "job.add_note", "args": {"job_id": job, "note_id": uuid::Uuid::new_v4(), "text": "crash loop"}},
                                    {"seq": seq + 2, "id": uuid::Uuid::new_v4(), "name": "position.ping", "args": {"lat": 55.75, "lon": 37.61, "accuracy_m": 5.0, "at": chrono::Utc::now().to_rfc3339()}},
                                ]});
                                a.pending_batch = Some(b.clone());
                                b
                            }
                        }
                    };
                    let sent = client.post(format!("{base}/v1/sync/push")).bearer_auth(&tech).json(&batch).send().await;
                    let body = match sent {
                        Ok(res) if res.status() == StatusCode::OK => res.json::<Value>().await.ok(),
                        _ => None,
                    };
                    let Some(body) = body else { break };
                    let Ok(mut a) = acked.lock() else { break };
                    a.pending_batch = None;
                    for (m, r) in batch["mutations"].as_array().into_iter().flatten().zip(body["results"].as_array().into_iter().flatten()) {
                        assert!(r["status"] == "applied" || r["status"] == "duplicate", "{r}");
                        a.mutations.insert(m["id"].as_str().unwrap_or_default().to_owned());
                        if m["name"] == "job.add_note" {
                            a.notes.insert(m["args"]["note_id"].as_str().unwrap_or_default().to_owned());
                        }
                    }
                }
            }));
        }
        tokio::time::sleep(random_ms(1000, 3000)).await;
        server.kill_9().await?;
        for l in load {
            l.await?;
        }
    }

    // Assert: after a last restart, every acknowledged booking is there once and its key still answers it;
    // every acknowledged mutation is recorded once, every applied note stored once.
    // Every acknowledged key is retried below: no per-user booking limit in the way.
    let server = Server::start(db.url(), UNLIMITED).await?;
    let customer = server.login(&client, "customer@demo.sortie").await?;
    let a = acked.lock().map(|a| (a.bookings.clone(), a.mutations.clone(), a.notes.clone()));
    let (bookings, mutations, notes) = a.map_err(|_| anyhow::anyhow!("poisoned"))?;
    eprintln!(
        "kill -9 loop ({backend:?}): {ROUNDS} rounds, {} bookings and {} mutations acknowledged",
        bookings.len(),
        mutations.len()
    );
    assert!(bookings.len() >= 5 && !mutations.is_empty(), "too little load: {} / {}", bookings.len(), mutations.len());
    for (key, id) in &bookings {
        let r = client.get(format!("{}/v1/requests/{id}", server.base)).bearer_auth(&customer).send().await?;
        assert_eq!(r.status(), StatusCode::OK, "acknowledged request {id} was lost");
        let retry: Value = client
            .post(format!("{}/v1/requests", server.base))
            .bearer_auth(&customer)
            .header("Idempotency-Key", key)
            .json(&booking())
            .send()
            .await?
            .json()
            .await?;
        assert_eq!(retry["id"].as_str(), Some(id.as_str()), "key {key}");
    }
    let (mutation_ids, note_ids) = (mutations.into_iter().collect::<Vec<_>>(), notes.into_iter().collect::<Vec<_>>());
    let (url, customer_id) = (db.url().to_owned(), {
        let me: Value = client.get(format!("{}/v1/users/me", server.base)).bearer_auth(&customer).send().await?.json().await?;
        me["id"].as_str().unwrap_or_default().to_owned()
    });
    let n_bookings = bookings.len();
    let config = api::config::Config::for_database(&url);
    let pool = api::startup::open_database(&config)?;
    let counts = tokio::task::spawn_blocking(move || -> anyhow::Result<(usize, usize, usize, usize, i64)> {
        use api::db::schema::{jobs, report_notes, sync_mutations};
        use diesel::{ExpressionMethods as _, QueryDsl as _, RunQueryDsl as _};
        let mut conn = pool.get()?;
        let recorded: Vec<String> =
            sync_mutations::table.filter(sync_mutations::mutation_id.eq_any(&mutation_ids)).select(sync_mutations::mutation_id).load(&mut **conn)?;
        let stored: Vec<String> = report_notes::table.filter(report_notes::id.eq_any(&note_ids)).select(report_notes::id).load(&mut **conn)?;
        let jobs_of_customer: i64 = jobs::table.filter(jobs::created_by.eq(&customer_id)).count().get_result(&mut **conn)?;
        Ok((mutation_ids.len(), recorded.len(), note_ids.len(), stored.len(), jobs_of_customer))
    })
    .await??;
    let (acked_mutations, recorded, acked_notes, stored_notes, jobs_of_customer) = counts;
    // A mutation id is recorded once per device (the primary key is (device, seq) and its id is unique).
    assert_eq!(recorded, acked_mutations, "every acknowledged mutation recorded exactly once");
    assert_eq!(stored_notes, acked_notes, "an acknowledged note was lost");
    // A booking whose answer was lost may exist without an acknowledgement (its retry above got it back).
    assert!(jobs_of_customer as usize >= n_bookings, "{jobs_of_customer} jobs for {n_bookings} acknowledged keys");
    server.kill_9().await?;
    Ok(())
}
