//! Sign-in, token rotation, logout, password change, deactivation, and the
//! tokens that must be refused.

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::both_backends;
use crate::helpers::{Backend, SECRET, TestApp};

both_backends!(
    login_gives_a_working_token_and_a_wrong_password_is_401,
    refresh_rotates_and_reusing_an_old_token_revokes_the_family,
    logout_revokes_the_refresh_token,
    changing_the_password_retires_old_tokens_and_passwords,
    a_deactivated_users_tokens_stop_working_at_once,
    forged_expired_and_foreign_tokens_are_401,
    a_role_that_may_never_use_an_endpoint_gets_403,
);

async fn login_gives_a_working_token_and_a_wrong_password_is_401(backend: Backend) -> anyhow::Result<()> {
    let app = TestApp::spawn(backend).await?;
    let ok = app
        .call(Method::POST, "/v1/auth/login", None, Some(&json!({"email": "ADMIN@demo.sortie", "password": "demo"})))
        .await?;
    assert_eq!(ok.status, StatusCode::OK);
    assert_eq!(ok.body["token_type"], "Bearer");
    assert_eq!(ok.body["expires_in"], 900);
    let me = app.get("/v1/users/me", &ok.str("access_token")).await?;
    assert_eq!(me.body["email"], "admin@demo.sortie");
    assert_eq!(me.body["role"], "admin");

    let wrong = app
        .call(Method::POST, "/v1/auth/login", None, Some(&json!({"email": "admin@demo.sortie", "password": "nope"})))
        .await?;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert_eq!(wrong.code(), "unauthorized");
    let unknown = app
        .call(Method::POST, "/v1/auth/login", None, Some(&json!({"email": "ghost@demo.sortie", "password": "demo"})))
        .await?;
    assert_eq!(unknown.status, StatusCode::UNAUTHORIZED);
    let no_token = app.call(Method::GET, "/v1/users/me", None, None).await?;
    assert_eq!(no_token.status, StatusCode::UNAUTHORIZED);
    Ok(())
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

async fn logout_revokes_the_refresh_token(backend: Backend) -> anyhow::Result<()> {
    let app = TestApp::spawn(backend).await?;
    let (_, refresh) = app.login_pair("customer@demo.sortie").await?;
    let out = app.call(Method::POST, "/v1/auth/logout", None, Some(&json!({"refresh_token": refresh}))).await?;
    assert_eq!(out.status, StatusCode::NO_CONTENT);
    let again = app.call(Method::POST, "/v1/auth/refresh", None, Some(&json!({"refresh_token": refresh}))).await?;
    assert_eq!(again.status, StatusCode::UNAUTHORIZED);
    Ok(())
}

async fn changing_the_password_retires_old_tokens_and_passwords(backend: Backend) -> anyhow::Result<()> {
    let app = TestApp::spawn(backend).await?;
    let (old_access, old_refresh) = app.login_pair("tech1@demo.sortie").await?;
    // Tokens carry whole seconds: step past the second the old token was issued in.
    app.clock.advance(chrono::Duration::seconds(2));
    let weak = app
        .post("/v1/auth/password", &old_access, &json!({"current_password": "demo", "new_password": "short"}))
        .await?;
    assert_eq!(weak.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(weak.field(), "new_password");
    let wrong = app
        .post(
            "/v1/auth/password",
            &old_access,
            &json!({"current_password": "nope", "new_password": "long enough pass"}),
        )
        .await?;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);

    let changed = app
        .post(
            "/v1/auth/password",
            &old_access,
            &json!({"current_password": "demo", "new_password": "long enough pass"}),
        )
        .await?;
    assert_eq!(changed.status, StatusCode::OK);
    assert_eq!(app.get("/v1/users/me", &changed.str("access_token")).await?.status, StatusCode::OK);
    assert_eq!(app.get("/v1/users/me", &old_access).await?.status, StatusCode::UNAUTHORIZED);
    let old_refresh =
        app.call(Method::POST, "/v1/auth/refresh", None, Some(&json!({"refresh_token": old_refresh}))).await?;
    assert_eq!(old_refresh.status, StatusCode::UNAUTHORIZED);
    let old_password = app
        .call(Method::POST, "/v1/auth/login", None, Some(&json!({"email": "tech1@demo.sortie", "password": "demo"})))
        .await?;
    assert_eq!(old_password.status, StatusCode::UNAUTHORIZED);
    let new_password = app
        .call(
            Method::POST,
            "/v1/auth/login",
            None,
            Some(&json!({"email": "tech1@demo.sortie", "password": "long enough pass"})),
        )
        .await?;
    assert_eq!(new_password.status, StatusCode::OK);
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

fn sign(claims: &serde_json::Value, secret: &str) -> anyhow::Result<String> {
    Ok(jsonwebtoken::encode(&Header::new(Algorithm::HS256), claims, &EncodingKey::from_secret(secret.as_bytes()))?)
}

async fn forged_expired_and_foreign_tokens_are_401(backend: Backend) -> anyhow::Result<()> {
    use base64::Engine as _;
    let app = TestApp::spawn(backend).await?;
    let good = app.login("admin@demo.sortie").await?;
    let sub = app.get("/v1/users/me", &good).await?.str("id");
    let now = chrono::Utc::now().timestamp();
    let claims = |iss: &str, aud: &str, exp: i64| json!({"sub": sub, "role": "admin", "iss": iss, "aud": aud, "iat": now, "exp": exp});
    // A correctly signed token passes: the cases below differ in one thing each.
    assert_eq!(
        app.get("/v1/users/me", &sign(&claims("sortie", "sortie-api", now + 600), SECRET)?).await?.status,
        StatusCode::OK
    );

    let expired = sign(&claims("sortie", "sortie-api", now - 600), SECRET)?;
    let wrong_audience = sign(&claims("sortie", "someone-else", now + 600), SECRET)?;
    let wrong_issuer = sign(&claims("evil", "sortie-api", now + 600), SECRET)?;
    let wrong_key = sign(&claims("sortie", "sortie-api", now + 600), "another-secret-another-secret-!!")?;
    let no_exp = sign(&json!({"sub": sub, "role": "admin", "iss": "sortie", "aud": "sortie-api", "iat": now}), SECRET)?;
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let payload = b64.encode(claims("sortie", "sortie-api", now + 600).to_string());
    let alg_none = format!("{}.{payload}.", b64.encode(r#"{"alg":"none","typ":"JWT"}"#));
    let mut parts: Vec<&str> = good.split('.').collect();
    let tampered_payload = b64.encode(claims("sortie", "sortie-api", now + 99_999).to_string());
    parts[1] = &tampered_payload;
    let tampered = parts.join(".");

    for (name, token) in [
        ("expired", expired),
        ("wrong audience", wrong_audience),
        ("wrong issuer", wrong_issuer),
        ("wrong key", wrong_key),
        ("no exp", no_exp),
        ("alg none", alg_none),
        ("tampered", tampered),
        ("garbage", "not.a.token".to_owned()),
    ] {
        let r = app.get("/v1/users/me", &token).await?;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{name} token must be refused");
        assert_eq!(r.code(), "unauthorized", "{name}");
    }
    Ok(())
}

async fn a_role_that_may_never_use_an_endpoint_gets_403(backend: Backend) -> anyhow::Result<()> {
    let app = TestApp::spawn(backend).await?;
    let customer = app.login("customer@demo.sortie").await?;
    let tech = app.login("tech2@demo.sortie").await?;
    let dispatcher = app.login("dispatcher@volga.demo.sortie").await?;
    assert_eq!(app.get("/v1/jobs", &customer).await?.status, StatusCode::FORBIDDEN);
    assert_eq!(app.get("/v1/orgs", &tech).await?.status, StatusCode::FORBIDDEN);
    let r = app.call(Method::PUT, "/v1/orgs/x/territories", Some(&dispatcher), Some(&json!([]))).await?;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(r.code(), "forbidden");
    // A dispatcher may not create admins.
    let r = app
        .post("/v1/users", &dispatcher, &json!({"email": "x@y.ru", "password": "longpassword", "role": "admin"}))
        .await?;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    Ok(())
}
