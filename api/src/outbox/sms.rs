//! SMS behind a small trait, with one generic HTTP adapter: Russian SMS
//! gateways take a POST with a token, so [`HttpSms`] POSTs `{to, text}` as
//! JSON with `Authorization: Bearer`. A 2xx is sent; 429/5xx and network
//! errors retry; other answers fail with the status.

use std::time::Duration;

use anyhow::Context as _;
use futures_util::future::BoxFuture;
use secrecy::{ExposeSecret as _, SecretString};

use super::SendError;

/// Something that sends one SMS (already shortened to one segment).
pub trait SmsGateway: Send + Sync {
    /// Sends `text` to the E.164 number `to`.
    fn send<'a>(&'a self, to: &'a str, text: &'a str) -> BoxFuture<'a, Result<(), SendError>>;
}

/// The generic HTTP gateway.
pub struct HttpSms {
    http: reqwest::Client,
    url: String,
    token: Option<SecretString>,
}

impl HttpSms {
    /// A gateway at `url` with an optional bearer token.
    pub fn new(url: &str, token: Option<SecretString>) -> anyhow::Result<HttpSms> {
        anyhow::ensure!(
            url.starts_with("http://") || url.starts_with("https://"),
            "SORTIE_SMS_URL: expected an http(s) URL, got `{url}`"
        );
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .context("Failed to build the SMS HTTP client")?;
        Ok(HttpSms { http, url: url.to_owned(), token })
    }
}

impl SmsGateway for HttpSms {
    fn send<'a>(&'a self, to: &'a str, text: &'a str) -> BoxFuture<'a, Result<(), SendError>> {
        Box::pin(async move {
            let mut req = self.http.post(&self.url).json(&serde_json::json!({"to": to, "text": text}));
            if let Some(token) = &self.token {
                req = req.bearer_auth(token.expose_secret());
            }
            let res = req
                .send()
                .await
                .map_err(|e| SendError::Retry { error: format!("SMS gateway unreachable: {e}"), after: None })?;
            let status = res.status();
            if status.is_success() {
                return Ok(());
            }
            let after = super::fcm::retry_after(res.headers());
            let body: String = res.text().await.unwrap_or_default().chars().take(200).collect();
            let error = format!("SMS gateway answered {status}: {body}");
            if status.is_server_error() || status.as_u16() == 429 {
                Err(SendError::Retry { error, after })
            } else {
                Err(SendError::Fail(error))
            }
        })
    }
}
