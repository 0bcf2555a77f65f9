//! Token attacks, in one place: forged tokens (alg `none`, HS/RS confusion, another key, another HMAC
//! algorithm, a tampered payload or signature), tokens out of time (expired, not yet valid), for another
//! issuer or audience, with claims missing, of an unknown or deactivated user, issued before a password
//! change (even in the same second), and a reused refresh token revoking its whole family.

use base64::Engine as _;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::both_backends;
use crate::helpers::{Backend, SECRET, TestApp, booking};

both_backends!(
    a_token_issued_in_the_same_second_before_a_password_change_stops_working,
    every_forged_foreign_or_out_of_time_token_is_401_and_the_genuine_one_works,
    refresh_rotates_and_reusing_an_old_token_revokes_the_family,
    a_deactivated_users_tokens_stop_working_at_once,
);

/// The test key pair's public half (a PEM that an HS/RS confusion attack would use as the HMAC secret).
const PUBLIC_PEM: &str = include_str!("../fixtures/fcm-test-key.pub.pem");
const PRIVATE_PEM: &str = include_str!("../fixtures/fcm-test-key.pem");

fn b64(bytes: impl AsRef<[u8]>) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

async fn every_forged_foreign_or_out_of_time_token_is_401_and_the_genuine_one_works(
    backend: Backend,
) -> anyhow::Result<()> {
    // Arrange: a customer's genuine token and its claims; each attack below differs in one thing.
    let app = TestApp::spawn(backend).await?;
    let genuine = app.login("customer@demo.sortie").await?;
    let sub = app.get("/v1/users/me", &genuine).await?.str("id");
    let now = chrono::Utc::now().timestamp();
    let base =
        json!({"sub": sub, "role": "customer", "iss": "sortie", "aud": "sortie-api", "iat": now, "exp": now + 600});
    let with = |k: &str, v: Value| {
        let mut c = base.clone();
        c[k] = v;
        c
    };
    let without = |k: &str| {
        let mut c = base.clone();
        c.as_object_mut().map(|o| o.remove(k));
        c
    };
    let hs = |alg: Algorithm, claims: &Value, secret: &[u8]| {
        jsonwebtoken::encode(&Header::new(alg), claims, &EncodingKey::from_secret(secret))
    };
    let right = |claims: &Value| hs(Algorithm::HS256, claims, SECRET.as_bytes());
    assert_eq!(app.get("/v1/users/me", &right(&base)?).await?.status, StatusCode::OK, "the control token must work");

    let payload = b64(base.to_string());
    let escalated = b64(with("role", json!("admin")).to_string());
    let genuine_parts: Vec<&str> = genuine.split('.').collect();
    let mut flipped_signature = genuine_parts[2].to_owned();
    let last = if flipped_signature.ends_with('A') { 'B' } else { 'A' };
    flipped_signature.pop();
    flipped_signature.push(last);
    let attacks: Vec<(&str, String)> = vec![
        ("alg none", format!("{}.{payload}.", b64(r#"{"alg":"none","typ":"JWT"}"#))),
        ("alg None without a dot", format!("{}.{payload}", b64(r#"{"alg":"None","typ":"JWT"}"#))),
        ("alg NONE with the genuine signature", format!("{}.{payload}.{}", b64(r#"{"alg":"NONE"}"#), genuine_parts[2])),
        (
            "RS256 with a key pair of the attacker's",
            jsonwebtoken::encode(
                &Header::new(Algorithm::RS256),
                &base,
                &EncodingKey::from_rsa_pem(PRIVATE_PEM.as_bytes())?,
            )?,
        ),
        ("HS256 keyed with the public key's PEM text", hs(Algorithm::HS256, &base, PUBLIC_PEM.as_bytes())?),
        ("HS384 with the right secret", hs(Algorithm::HS384, &base, SECRET.as_bytes())?),
        ("HS512 with the right secret", hs(Algorithm::HS512, &base, SECRET.as_bytes())?),
        ("another secret", hs(Algorithm::HS256, &base, b"another-secret-another-secret-!!")?),
        ("an empty secret", hs(Algorithm::HS256, &base, b"")?),
        ("payload changed to role admin", format!("{}.{escalated}.{}", genuine_parts[0], genuine_parts[2])),
        ("signature changed", format!("{}.{}.{flipped_signature}", genuine_parts[0], genuine_parts[1])),
        ("signature dropped", format!("{}.{}.", genuine_parts[0], genuine_parts[1])),
        ("expired", right(&with("exp", json!(now - 600)))?),
        ("not valid before a future time", right(&with("nbf", json!(now + 600)))?),
        ("issued in the future", right(&with("iat", json!(now + 600)))?),
        ("another issuer", right(&with("iss", json!("evil")))?),
        ("another audience", right(&with("aud", json!("someone-else")))?),
        ("no exp", right(&without("exp"))?),
        ("no sub", right(&without("sub"))?),
        ("no iss", right(&without("iss"))?),
        ("no aud", right(&without("aud"))?),
        ("no role", right(&without("role"))?),
        ("no iat", right(&without("iat"))?),
        ("a user that does not exist", right(&with("sub", json!(uuid::Uuid::new_v4())))?),
        ("exp as a string", right(&with("exp", json!((now + 600).to_string())))?),
        ("garbage", "not.a.token".to_owned()),
        ("empty", String::new()),
    ];

    // Act and assert: every one is 401 with the error object, on a customer's and on an admin's endpoint.
    let mut accepted = Vec::new();
    for (name, token) in &attacks {
        for path in ["/v1/users/me", "/v1/outbox"] {
            let r = app.get(path, token).await?;
            if r.status != StatusCode::UNAUTHORIZED || r.code() != "unauthorized" {
                accepted.push(format!("{name} on {path}: {} {}", r.status, r.body));
            }
        }
    }
    // Other schemes than Bearer are not a token.
    for header in [format!("Basic {genuine}"), format!("Token {genuine}"), genuine.clone()] {
        let r = app.client.get(format!("{}/v1/users/me", app.base)).header("Authorization", &header).send().await?;
        if r.status() != StatusCode::UNAUTHORIZED {
            accepted.push(format!("Authorization: {}…: {}", &header[..12], r.status()));
        }
    }
    assert!(
        accepted.is_empty(),
        "{} of {} attacks were not refused with 401:\n{}",
        accepted.len(),
        attacks.len(),
        accepted.join("\n")
    );
    Ok(())
}

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
        // The booking reads its caller in its own database task (#14): the old token is refused there too,
        // before the role (a reviewer may not book: 403 with the new one).
        assert_eq!(app.book(&old, &booking(), None).await?.status, StatusCode::UNAUTHORIZED);
        assert_eq!(app.book(&new, &booking(), None).await?.status, StatusCode::FORBIDDEN);
        assert_eq!(app.get("/v1/reviews", &new).await?.status, StatusCode::OK);
        return Ok(());
    }
    anyhow::bail!("never observed a login and a password change in the same second")
}

async fn refresh_rotates_and_reusing_an_old_token_revokes_the_family(backend: Backend) -> anyhow::Result<()> {
    let app = TestApp::spawn(backend).await?;
    let (_, r1) = app.login_pair("dispatcher@central.demo.sortie").await?;
    let rotated = app.call(Method::POST, "/v1/auth/refresh", None, Some(&json!({"refresh_token": r1}))).await?;
    assert_eq!(rotated.status, StatusCode::OK);
    let r2 = rotated.str("refresh_token");
    assert_ne!(r1, r2);
    assert_eq!(app.get("/v1/users/me", &rotated.str("access_token")).await?.status, StatusCode::OK);

    // The old token again: refused, and the whole family (r2 too) is revoked.
    let reuse = app.call(Method::POST, "/v1/auth/refresh", None, Some(&json!({"refresh_token": r1}))).await?;
    assert_eq!(reuse.status, StatusCode::UNAUTHORIZED);
    let after = app.call(Method::POST, "/v1/auth/refresh", None, Some(&json!({"refresh_token": r2}))).await?;
    assert_eq!(after.status, StatusCode::UNAUTHORIZED);

    // Another session of the same user is another family and keeps working.
    let (_, other) = app.login_pair("dispatcher@central.demo.sortie").await?;
    let ok = app.call(Method::POST, "/v1/auth/refresh", None, Some(&json!({"refresh_token": other}))).await?;
    assert_eq!(ok.status, StatusCode::OK);
    Ok(())
}

async fn a_deactivated_users_tokens_stop_working_at_once(backend: Backend) -> anyhow::Result<()> {
    let app = TestApp::spawn(backend).await?;
    let admin = app.login("admin@demo.sortie").await?;
    let (access, refresh) = app.login_pair("dispatcher@south.demo.sortie").await?;
    let me = app.get("/v1/users/me", &access).await?;
    assert_eq!(me.status, StatusCode::OK);
    let id = me.str("id");

    let off =
        app.call(Method::PATCH, &format!("/v1/users/{id}"), Some(&admin), Some(&json!({"active": false}))).await?;
    assert_eq!(off.status, StatusCode::OK);
    assert_eq!(off.body["active"], false);
    assert_eq!(app.get("/v1/users/me", &access).await?.status, StatusCode::UNAUTHORIZED);
    // The booking reads its caller inside its own database task (#14): the same check, nothing booked.
    let jobs_before = app.job_count().await?;
    let booked = app.book(&access, &booking(), Some("after-deactivation")).await?;
    assert_eq!(booked.status, StatusCode::UNAUTHORIZED, "{}", booked.body);
    assert_eq!(booked.code(), "unauthorized");
    assert_eq!(app.job_count().await?, jobs_before, "a deactivated dispatcher booked");
    let r = app.call(Method::POST, "/v1/auth/refresh", None, Some(&json!({"refresh_token": refresh}))).await?;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    let login = app
        .call(
            Method::POST,
            "/v1/auth/login",
            None,
            Some(&json!({"email": "dispatcher@south.demo.sortie", "password": "demo"})),
        )
        .await?;
    assert_eq!(login.status, StatusCode::UNAUTHORIZED);

    let on = app.call(Method::PATCH, &format!("/v1/users/{id}"), Some(&admin), Some(&json!({"active": true}))).await?;
    assert_eq!(on.status, StatusCode::OK);
    assert!(app.login("dispatcher@south.demo.sortie").await.is_ok());
    Ok(())
}
