//! A small FCM HTTP v1 client: `POST {base}/v1/projects/{project}/messages:send`
//! with an OAuth2 access token from a service-account key (JWT bearer grant,
//! RS256, signed with `jsonwebtoken`; the token endpoint is the key's own
//! `token_uri`), cached until a minute before it expires. FCM's answers map to
//! [`SendError`]: 429/5xx retry (honouring `Retry-After`), `UNREGISTERED` and
//! token-related `INVALID_ARGUMENT` drop the token, 401 refreshes the access
//! token once, other 4xx fail with the reason.

use std::path::Path;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::Context as _;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::SendError;

/// The OAuth scope FCM needs.
pub const SCOPE: &str = "https://www.googleapis.com/auth/firebase.messaging";
/// How long before its expiry a cached access token is replaced.
const REFRESH_MARGIN: Duration = Duration::from_secs(60);

/// The fields of a Google service-account key the client uses.
#[derive(Clone, Deserialize)]
struct ServiceAccountKey {
    project_id: String,
    client_email: String,
    private_key: String,
    private_key_id: Option<String>,
    token_uri: String,
}

/// The JWT assertion's claims (Google's "JWT bearer" grant).
#[derive(Debug, Serialize, Deserialize)]
pub struct Assertion {
    pub iss: String,
    pub scope: String,
    pub aud: String,
    pub iat: u64,
    pub exp: u64,
}

/// A push: the device token, its data, and a visible notification or none (a data-only poke).
#[derive(Debug, Clone)]
pub struct Push {
    pub token: String,
    pub data: Vec<(String, String)>,
    pub notification: Option<(String, String)>,
    pub collapse_key: Option<String>,
}

/// An FCM HTTP v1 client for one project.
pub struct Fcm {
    http: reqwest::Client,
    key: ServiceAccountKey,
    signing: jsonwebtoken::EncodingKey,
    base_url: String,
    token: tokio::sync::Mutex<Option<(String, Instant)>>,
}

impl Fcm {
    /// Reads and checks the key file; errors name `SORTIE_FCM_CREDENTIALS`.
    pub fn from_key_file(path: &Path, base_url: &str) -> anyhow::Result<Fcm> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("SORTIE_FCM_CREDENTIALS: cannot read {}", path.display()))?;
        let key: ServiceAccountKey = serde_json::from_str(&text).with_context(|| {
            format!(
                "SORTIE_FCM_CREDENTIALS: {} is not a service-account key (JSON with project_id, client_email, \
                 private_key, token_uri)",
                path.display()
            )
        })?;
        let signing = jsonwebtoken::EncodingKey::from_rsa_pem(key.private_key.as_bytes()).with_context(|| {
            format!("SORTIE_FCM_CREDENTIALS: the private_key in {} is not an RSA PEM key", path.display())
        })?;
        anyhow::ensure!(
            key.token_uri.starts_with("https://") || key.token_uri.starts_with("http://"),
            "SORTIE_FCM_CREDENTIALS: token_uri in {} is not a URL",
            path.display()
        );
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .context("Failed to build the FCM HTTP client")?;
        Ok(Fcm { http, key, signing, base_url: base_url.trim_end_matches('/').to_owned(), token: Default::default() })
    }

    fn assertion(&self) -> Result<String, SendError> {
        let iat = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
        let claims = Assertion {
            iss: self.key.client_email.clone(),
            scope: SCOPE.to_owned(),
            aud: self.key.token_uri.clone(),
            iat,
            exp: iat + 3600,
        };
        let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
        header.kid = self.key.private_key_id.clone();
        jsonwebtoken::encode(&header, &claims, &self.signing).map_err(|e| SendError::Fail(format!("signing: {e}")))
    }

    /// The cached access token, or a new one (`refresh` forces a new one).
    async fn access_token(&self, refresh: bool) -> Result<String, SendError> {
        let mut cached = self.token.lock().await;
        if !refresh
            && let Some((token, expires)) = cached.as_ref()
            && Instant::now() + REFRESH_MARGIN < *expires
        {
            return Ok(token.clone());
        }
        #[derive(Deserialize)]
        struct TokenAnswer {
            access_token: String,
            expires_in: Option<u64>,
        }
        let form = [("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"), ("assertion", &self.assertion()?)];
        let res = self.http.post(&self.key.token_uri).form(&form).send().await.map_err(network)?;
        let status = res.status();
        if !status.is_success() {
            let body = res.text().await.unwrap_or_default();
            let error = format!("token endpoint answered {status}: {}", short(&body));
            return Err(if status.is_server_error() || status.as_u16() == 429 {
                SendError::Retry { error, after: None }
            } else {
                SendError::Fail(error)
            });
        }
        let answer: TokenAnswer =
            res.json().await.map_err(|e| SendError::Retry { error: format!("token answer: {e}"), after: None })?;
        let expires = Instant::now() + Duration::from_secs(answer.expires_in.unwrap_or(3600));
        *cached = Some((answer.access_token.clone(), expires));
        Ok(answer.access_token)
    }

    /// The message as FCM HTTP v1 takes it.
    pub fn body(push: &Push) -> Value {
        let data: serde_json::Map<String, Value> =
            push.data.iter().map(|(k, v)| (k.clone(), Value::String(v.clone()))).collect();
        let mut message = json!({"token": push.token, "data": data});
        let mut android = json!({"priority": "high"});
        let mut apns_headers = serde_json::Map::new();
        if let Some(key) = &push.collapse_key {
            android["collapse_key"] = json!(key);
            apns_headers.insert("apns-collapse-id".into(), json!(key));
        }
        match &push.notification {
            Some((title, body)) => {
                message["notification"] = json!({"title": title, "body": body});
                message["apns"] = json!({"headers": apns_headers});
            }
            None => {
                // Data only: a background wake-up on iOS.
                apns_headers.insert("apns-push-type".into(), json!("background"));
                apns_headers.insert("apns-priority".into(), json!("5"));
                message["apns"] = json!({"headers": apns_headers, "payload": {"aps": {"content-available": 1}}});
            }
        }
        message["android"] = android;
        json!({"message": message})
    }

    /// Sends one push; a 401 refreshes the access token and tries once more.
    pub async fn send(&self, push: &Push) -> Result<(), SendError> {
        let url = format!("{}/v1/projects/{}/messages:send", self.base_url, self.key.project_id);
        let body = Fcm::body(push);
        let mut refreshed = false;
        loop {
            let token = self.access_token(refreshed).await?;
            let res = self.http.post(&url).bearer_auth(&token).json(&body).send().await.map_err(network)?;
            let status = res.status();
            if status.is_success() {
                return Ok(());
            }
            if status.as_u16() == 401 && !refreshed {
                refreshed = true;
                continue;
            }
            let after = retry_after(res.headers());
            let text = res.text().await.unwrap_or_default();
            return Err(classify(status.as_u16(), &text, after));
        }
    }
}

fn network(e: reqwest::Error) -> SendError {
    SendError::Retry { error: format!("network: {e}"), after: None }
}

fn short(s: &str) -> String {
    s.chars().take(300).collect()
}

/// `Retry-After` in seconds (the form FCM uses).
pub fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    headers
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_secs)
}

/// What an FCM error answer means for the row and the token.
pub fn classify(status: u16, body: &str, after: Option<Duration>) -> SendError {
    let v: Value = serde_json::from_str(body).unwrap_or(Value::Null);
    let error = &v["error"];
    let fcm_status = error["status"].as_str().unwrap_or_default();
    let message = error["message"].as_str().unwrap_or_default();
    let codes: Vec<&str> =
        error["details"].as_array().into_iter().flatten().filter_map(|d| d["errorCode"].as_str()).collect();
    let reason =
        format!("FCM {status} {}: {}", if fcm_status.is_empty() { "error" } else { fcm_status }, short(message));
    let about_token =
        message.to_ascii_lowercase().contains("token") || error["details"].to_string().contains("message.token");
    match status {
        429 | 500..=599 => SendError::Retry { error: reason, after },
        404 if codes.contains(&"UNREGISTERED") || fcm_status == "NOT_FOUND" => SendError::DropToken(reason),
        400 if (fcm_status == "INVALID_ARGUMENT" || codes.contains(&"INVALID_ARGUMENT")) && about_token => {
            SendError::DropToken(reason)
        }
        _ => SendError::Fail(reason),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fcm_answers_map_to_retry_drop_or_fail() {
        let unregistered = r#"{"error":{"code":404,"message":"Requested entity was not found.","status":"NOT_FOUND",
            "details":[{"@type":"type.googleapis.com/google.firebase.fcm.v1.FcmError","errorCode":"UNREGISTERED"}]}}"#;
        assert!(matches!(classify(404, unregistered, None), SendError::DropToken(_)));
        let bad_token = r#"{"error":{"code":400,"message":"The registration token is not a valid FCM registration token",
            "status":"INVALID_ARGUMENT"}}"#;
        assert!(matches!(classify(400, bad_token, None), SendError::DropToken(_)));
        let bad_field =
            r#"{"error":{"code":400,"message":"Invalid value at 'message.data'","status":"INVALID_ARGUMENT"}}"#;
        assert!(matches!(classify(400, bad_field, None), SendError::Fail(_)));
        let busy = classify(429, "{}", Some(Duration::from_secs(7)));
        assert!(matches!(busy, SendError::Retry { after: Some(d), .. } if d == Duration::from_secs(7)));
        assert!(matches!(classify(503, "", None), SendError::Retry { after: None, .. }));
        assert!(matches!(classify(403, "{}", None), SendError::Fail(_)));
    }
}
