//! Local fakes of the notification channels' far ends: FCM HTTP v1 with its
//! OAuth token endpoint, an SMS gateway (both actix servers on a free port,
//! answering from a script) and an SMTP sink (a tiny tokio responder that
//! refuses chosen recipients). Each records what it received.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt as _, AsyncWriteExt as _, BufReader};

/// The test service account's project.
pub const PROJECT: &str = "sortie-test";
/// The test service account.
pub const CLIENT_EMAIL: &str = "notify@sortie-test.iam.gserviceaccount.com";
const PRIVATE_KEY: &str = include_str!("fixtures/fcm-test-key.pem");
const PUBLIC_KEY: &str = include_str!("fixtures/fcm-test-key.pub.pem");

/// A scripted answer.
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    pub body: Value,
    pub retry_after: Option<u64>,
}

impl Answer {
    pub fn ok() -> Answer {
        Answer { status: 200, body: json!({"name": format!("projects/{PROJECT}/messages/1")}), retry_after: None }
    }
    pub fn status(status: u16, body: Value) -> Answer {
        Answer { status, body, retry_after: None }
    }
    pub fn busy(retry_after: u64) -> Answer {
        Answer {
            status: 429,
            body: json!({"error": {"code": 429, "status": "RESOURCE_EXHAUSTED", "message": "quota"}}),
            retry_after: Some(retry_after),
        }
    }
    pub fn unregistered() -> Answer {
        Answer::status(
            404,
            json!({"error": {"code": 404, "status": "NOT_FOUND", "message": "Requested entity was not found.",
                "details": [{"@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError", "errorCode": "UNREGISTERED"}]}}),
        )
    }
    fn respond(&self) -> HttpResponse {
        let mut r = HttpResponse::build(actix_web::http::StatusCode::from_u16(self.status).unwrap_or_default());
        if let Some(s) = self.retry_after {
            r.insert_header(("Retry-After", s.to_string()));
        }
        r.json(&self.body)
    }
}

/// One request the fake received.
#[derive(Debug, Clone)]
pub struct Received {
    pub path: String,
    pub authorization: String,
    pub body: Value,
    /// Form fields (token endpoint).
    pub form: Vec<(String, String)>,
}

#[derive(Default)]
struct Shared {
    script: Mutex<VecDeque<Answer>>,
    received: Mutex<Vec<Received>>,
    tokens: Mutex<Vec<Received>>,
    latency: Mutex<Duration>,
    /// While set, sends are recorded and then never answered (a server hanging mid-send).
    hold: std::sync::atomic::AtomicBool,
}

/// A fake FCM HTTP v1 server with its token endpoint at `/token`.
pub struct FakeFcm {
    pub base: String,
    shared: Arc<Shared>,
    _server: actix_web::dev::ServerHandle,
}

impl FakeFcm {
    pub async fn start() -> anyhow::Result<FakeFcm> {
        let shared = Arc::new(Shared::default());
        let data = web::Data::from(shared.clone());
        let server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .route("/token", web::post().to(token))
                .route("/v1/projects/{project}/messages:send", web::post().to(send))
                .route("/sms", web::post().to(send))
        })
        .workers(2)
        .bind(("127.0.0.1", 0))?;
        let port = server.addrs()[0].port();
        let server = server.run();
        let handle = server.handle();
        tokio::spawn(server);
        Ok(FakeFcm { base: format!("http://127.0.0.1:{port}"), shared, _server: handle })
    }

    /// Answers to give, in order; then 200.
    pub fn script(&self, answers: impl IntoIterator<Item = Answer>) {
        self.shared.script.lock().unwrap().extend(answers);
    }

    /// Delays every send answer (the benchmark's 20 ms).
    pub fn set_latency(&self, d: Duration) {
        *self.shared.latency.lock().unwrap() = d;
    }

    /// Records sends but never answers them until [`FakeFcm::release`].
    pub fn hold(&self) {
        self.shared.hold.store(true, std::sync::atomic::Ordering::SeqCst);
    }

    /// Answers sends again.
    pub fn release(&self) {
        self.shared.hold.store(false, std::sync::atomic::Ordering::SeqCst);
    }

    /// Sends received (messages:send and /sms), in order.
    pub fn received(&self) -> Vec<Received> {
        self.shared.received.lock().unwrap().clone()
    }

    /// Token requests received.
    pub fn token_requests(&self) -> Vec<Received> {
        self.shared.tokens.lock().unwrap().clone()
    }

    /// Writes a service-account key file whose `token_uri` is this fake; returns its path (kept in `dir`).
    pub fn key_file(&self, dir: &tempfile::TempDir) -> anyhow::Result<std::path::PathBuf> {
        let path = dir.path().join("service-account.json");
        let key = json!({
            "type": "service_account", "project_id": PROJECT, "private_key_id": "test-key-1",
            "private_key": PRIVATE_KEY, "client_email": CLIENT_EMAIL, "client_id": "1",
            "token_uri": format!("{}/token", self.base),
        });
        std::fs::write(&path, serde_json::to_vec_pretty(&key)?)?;
        Ok(path)
    }

    /// The claims of a JWT assertion, verified with the test key's public half (RS256, `aud` = token_uri).
    pub fn verify_assertion(&self, assertion: &str) -> anyhow::Result<Value> {
        let key = jsonwebtoken::DecodingKey::from_rsa_pem(PUBLIC_KEY.as_bytes())?;
        let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
        validation.set_audience(&[format!("{}/token", self.base)]);
        validation.set_required_spec_claims(&["exp", "iat", "aud", "iss"]);
        Ok(jsonwebtoken::decode::<Value>(assertion, &key, &validation)?.claims)
    }
}

fn auth(req: &HttpRequest) -> String {
    req.headers().get("authorization").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned()
}

async fn token(req: HttpRequest, shared: web::Data<Shared>, form: web::Form<Vec<(String, String)>>) -> HttpResponse {
    let n = {
        let mut tokens = shared.tokens.lock().unwrap();
        tokens.push(Received {
            path: req.path().to_owned(),
            authorization: auth(&req),
            body: Value::Null,
            form: form.0,
        });
        tokens.len()
    };
    HttpResponse::Ok().json(json!({"access_token": format!("access-{n}"), "expires_in": 3599, "token_type": "Bearer"}))
}

async fn send(req: HttpRequest, shared: web::Data<Shared>, body: web::Json<Value>) -> HttpResponse {
    shared.received.lock().unwrap().push(Received {
        path: req.path().to_owned(),
        authorization: auth(&req),
        body: body.0,
        form: Vec::new(),
    });
    while shared.hold.load(std::sync::atomic::Ordering::SeqCst) {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let latency = *shared.latency.lock().unwrap();
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    let answer = shared.script.lock().unwrap().pop_front().unwrap_or_else(Answer::ok);
    answer.respond()
}

/// A message the SMTP sink accepted.
#[derive(Debug, Clone)]
pub struct Mail {
    pub from: String,
    pub to: Vec<String>,
    pub data: String,
}

/// A tiny SMTP server: accepts everything except the refused recipients (550).
pub struct SmtpSink {
    pub port: u16,
    mails: Arc<Mutex<Vec<Mail>>>,
}

impl SmtpSink {
    pub async fn start(refused: &[&str]) -> anyhow::Result<SmtpSink> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let port = listener.local_addr()?.port();
        let mails = Arc::new(Mutex::new(Vec::new()));
        let refused: Arc<Vec<String>> = Arc::new(refused.iter().map(|s| s.to_lowercase()).collect());
        let m = mails.clone();
        tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                let (mails, refused) = (m.clone(), refused.clone());
                tokio::spawn(async move {
                    let _ = session(socket, mails, refused).await;
                });
            }
        });
        Ok(SmtpSink { port, mails })
    }

    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    pub fn mails(&self) -> Vec<Mail> {
        self.mails.lock().unwrap().clone()
    }
}

async fn session(
    socket: tokio::net::TcpStream,
    mails: Arc<Mutex<Vec<Mail>>>,
    refused: Arc<Vec<String>>,
) -> std::io::Result<()> {
    let (read, mut write) = socket.into_split();
    let mut lines = BufReader::new(read).lines();
    write.write_all(b"220 sink ESMTP\r\n").await?;
    let (mut from, mut to) = (String::new(), Vec::new());
    while let Some(line) = lines.next_line().await? {
        let upper = line.to_ascii_uppercase();
        let reply: &[u8] = if upper.starts_with("EHLO") || upper.starts_with("HELO") {
            b"250-sink\r\n250 8BITMIME\r\n"
        } else if upper.starts_with("MAIL FROM:") {
            from = line[10..].trim().trim_matches(['<', '>']).to_owned();
            to.clear();
            b"250 OK\r\n"
        } else if upper.starts_with("RCPT TO:") {
            let rcpt = line[8..].trim().trim_matches(['<', '>']).to_lowercase();
            if refused.contains(&rcpt) {
                b"550 5.1.1 no such user\r\n"
            } else {
                to.push(rcpt);
                b"250 OK\r\n"
            }
        } else if upper == "DATA" {
            write.write_all(b"354 go ahead\r\n").await?;
            let mut data = String::new();
            while let Some(l) = lines.next_line().await? {
                if l == "." {
                    break;
                }
                data.push_str(&l);
                data.push('\n');
            }
            mails.lock().unwrap().push(Mail { from: from.clone(), to: to.clone(), data });
            b"250 queued\r\n"
        } else if upper == "QUIT" {
            write.write_all(b"221 bye\r\n").await?;
            return Ok(());
        } else {
            b"250 OK\r\n"
        };
        write.write_all(reply).await?;
    }
    Ok(())
}
