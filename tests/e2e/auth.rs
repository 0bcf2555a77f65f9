//! Sign-in, logout, password change and roles. The attacks on tokens (forged, out of time, reused,
//! of a deactivated user) are in `security::tokens`.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::both_backends;
use crate::helpers::{Backend, TestApp};

both_backends!(
    login_gives_a_working_token_and_a_wrong_password_is_401,
    logout_revokes_the_refresh_token,
    changing_the_password_retires_old_tokens_and_passwords,
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
