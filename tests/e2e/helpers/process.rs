//! The real `sortie` binary as a child process: started on a free port against
//! a test database, killed with SIGKILL by the crash tests, measured through
//! `/proc` by the login storm.

use std::process::Stdio;
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt as _, BufReader};
use tokio::process::{Child, Command};

use super::SECRET;

/// A running `sortie serve` process.
pub struct Server {
    child: Child,
    /// `http://127.0.0.1:<port>`.
    pub base: String,
    /// The process id (for `/proc/<pid>/status`).
    pub pid: u32,
}

impl Server {
    /// Starts the binary on a free port against `database_url` (never seeding it: the test database is a
    /// copy of the demo template) with 2 workers and the test signing secret; `env` adds or overrides
    /// variables. Returns once it prints that it serves.
    pub async fn start(database_url: &str, env: &[(&str, &str)]) -> anyhow::Result<Server> {
        let mut command = Command::new(env!("CARGO_BIN_EXE_sortie-under-test"));
        command
            .arg("serve")
            .env("DATABASE_URL", database_url)
            .env("SORTIE_BIND", "127.0.0.1:0")
            .env("SORTIE_JWT_SECRET", SECRET)
            .env("SORTIE_DEMO", "false")
            .env("SORTIE_WORKERS", "2")
            .env("RUST_LOG", "warn");
        for (k, v) in env {
            command.env(k, v);
        }
        let mut child = command.stdout(Stdio::piped()).stderr(Stdio::null()).kill_on_drop(true).spawn()?;
        let pid = child.id().ok_or_else(|| anyhow::anyhow!("no pid"))?;
        let stdout = child.stdout.take().ok_or_else(|| anyhow::anyhow!("no stdout"))?;
        let mut lines = BufReader::new(stdout).lines();
        let base = tokio::time::timeout(Duration::from_secs(60), async {
            while let Some(line) = lines.next_line().await? {
                if let Some(rest) = line.strip_prefix("Sortie is serving at ") {
                    return Ok(rest.split_whitespace().next().unwrap_or_default().to_owned());
                }
            }
            anyhow::bail!("the server exited before serving")
        })
        .await??;
        // Keep draining stdout so the child never blocks on a full pipe; its errors go to the test's output.
        tokio::spawn(async move {
            while let Ok(Some(line)) = lines.next_line().await {
                if line.contains("ERROR") {
                    eprintln!("[sortie {pid}] {line}");
                }
            }
        });
        Ok(Server { child, base, pid })
    }

    /// SIGKILL, then waits for the process to be gone.
    pub async fn kill_9(mut self) -> anyhow::Result<()> {
        self.child.start_kill()?;
        self.child.wait().await?;
        Ok(())
    }

    /// Signs in `email` with the demo password; returns the access token.
    pub async fn login(&self, client: &reqwest::Client, email: &str) -> anyhow::Result<String> {
        login_at(client, &self.base, email).await
    }

    /// VmRSS of the process, in KiB.
    pub fn rss_kib(&self) -> anyhow::Result<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid))?;
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| anyhow::anyhow!("no VmRSS for {}", self.pid))
    }
}

/// Polls `check` every 50 ms for up to `timeout`; fails naming `what`.
pub async fn until(
    what: &str,
    timeout: Duration,
    mut check: impl AsyncFnMut() -> anyhow::Result<bool>,
) -> anyhow::Result<()> {
    let deadline = tokio::time::Instant::now() + timeout;
    while tokio::time::Instant::now() < deadline {
        if check().await? {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    anyhow::bail!("timed out after {timeout:?} waiting for {what}")
}

/// Signs in `email` with the demo password at the server at `base`; returns the access token.
pub async fn login_at(client: &reqwest::Client, base: &str, email: &str) -> anyhow::Result<String> {
    let r = client
        .post(format!("{base}/v1/auth/login"))
        .json(&json!({"email": email, "password": super::PASSWORD}))
        .send()
        .await?;
    anyhow::ensure!(r.status() == StatusCode::OK, "login of {email}: {}", r.status());
    let body: Value = r.json().await?;
    Ok(body["access_token"].as_str().unwrap_or_default().to_owned())
}

/// `GET base + path` with a bearer token; the JSON body.
pub async fn get_json(client: &reqwest::Client, base: &str, path: &str, token: &str) -> anyhow::Result<Value> {
    Ok(client.get(format!("{base}{path}")).bearer_auth(token).send().await?.json().await?)
}
