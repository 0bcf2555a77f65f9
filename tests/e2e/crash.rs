//! Nothing acknowledged is lost: the real `sortie` binary is killed with
//! SIGKILL while bookings stream in, restarted, and every request it
//! answered 201 is still there.

use std::process::Stdio;
use std::sync::{Arc, Mutex};

use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt as _, BufReader};
use tokio::process::{Child, Command};

use crate::both_backends;
use crate::helpers::{Backend, SECRET, TestDb, booking};

both_backends!(acknowledged_bookings_survive_kill_9_and_restart);

/// Starts the binary on a free port; returns it and its base URL once it serves.
async fn start(url: &str) -> anyhow::Result<(Child, String)> {
    let mut child = Command::new(env!("CARGO_BIN_EXE_sortie-under-test"))
        .arg("serve")
        .env("DATABASE_URL", url)
        .env("SORTIE_BIND", "127.0.0.1:0")
        .env("SORTIE_JWT_SECRET", SECRET)
        .env("SORTIE_DEMO", "false")
        .env("SORTIE_WORKERS", "2")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()?;
    let stdout = child.stdout.take().ok_or_else(|| anyhow::anyhow!("no stdout"))?;
    let mut lines = BufReader::new(stdout).lines();
    let base = tokio::time::timeout(std::time::Duration::from_secs(60), async {
        while let Some(line) = lines.next_line().await? {
            if let Some(rest) = line.strip_prefix("Sortie is serving at ") {
                return Ok(rest.split_whitespace().next().unwrap_or_default().to_owned());
            }
        }
        anyhow::bail!("the server exited before serving")
    })
    .await??;
    // Keep draining stdout so the child never blocks on a full pipe.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    Ok((child, base))
}

async fn login(client: &reqwest::Client, base: &str) -> anyhow::Result<String> {
    let r: Value = client
        .post(format!("{base}/v1/auth/login"))
        .json(&json!({"email": "customer@demo.sortie", "password": "demo"}))
        .send()
        .await?
        .json()
        .await?;
    Ok(r["access_token"].as_str().unwrap_or_default().to_owned())
}

async fn acknowledged_bookings_survive_kill_9_and_restart(backend: Backend) -> anyhow::Result<()> {
    let db = TestDb::fresh(backend).await?;
    let client = reqwest::Client::new();
    let (mut child, base) = start(db.url()).await?;
    let token = login(&client, &base).await?;

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
    child.start_kill()?;
    child.wait().await?;
    for w in writers {
        w.await?;
    }
    let acked = acked.lock().map(|a| a.clone()).unwrap_or_default();
    assert!(acked.len() >= 40);

    // Restart on the same database: every acknowledged request is there, and
    // a retry with its key returns it rather than booking again.
    let (_child, base) = start(db.url()).await?;
    let token = login(&client, &base).await?;
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
