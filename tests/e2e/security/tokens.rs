//! Hole 7 (tokens): a token issued before a password change stops working,
//! even when it was issued in the same second as the change.

use base64::Engine as _;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::both_backends;
use crate::helpers::{Backend, TestApp};

both_backends!(a_token_issued_in_the_same_second_before_a_password_change_stops_working,);

/// The `iat` of an access token (read, not verified).
fn iat(token: &str) -> i64 {
    let payload = token.split('.').nth(1).unwrap_or_default();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload).unwrap_or_default();
    serde_json::from_slice::<Value>(&bytes).ok().and_then(|v| v["iat"].as_i64()).unwrap_or(-1)
}

async fn a_token_issued_in_the_same_second_before_a_password_change_stops_working(
    backend: Backend,
) -> anyhow::Result<()> {
    let app = TestApp::spawn(backend).await?;
    let mut password = "demo".to_owned();
    // Retry until the old token and the change fall in the same second (the case that leaked).
    for attempt in 0..20 {
        let old = app.login_with("reviewer@demo.sortie", &password).await?;
        let next = format!("new-password-{attempt}");
        let r = app
            .call(
                Method::POST,
                "/v1/auth/password",
                Some(&old),
                Some(&json!({"current_password": password, "new_password": next})),
            )
            .await?;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        password = next;
        let new = r.str("access_token");
        if iat(&old) != iat(&new) {
            continue;
        }
        assert_eq!(app.get("/v1/reviews", &old).await?.status, StatusCode::UNAUTHORIZED, "the old token still works");
        assert_eq!(app.get("/v1/reviews", &new).await?.status, StatusCode::OK);
        return Ok(());
    }
    anyhow::bail!("never observed a login and a password change in the same second")
}
