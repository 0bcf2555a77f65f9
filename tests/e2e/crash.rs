//! Nothing acknowledged is lost: the real `sortie` binary is killed with
//! SIGKILL while bookings stream in, restarted, and every request it
//! answered 201 is still there.

use std::sync::{Arc, Mutex};

use reqwest::StatusCode;
use serde_json::Value;

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
