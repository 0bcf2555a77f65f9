//! Operations endpoints: health, readiness, metrics, OpenAPI and docs, request ids.

use reqwest::{Method, StatusCode};

use crate::both_backends;
use crate::helpers::{Backend, TestApp};

both_backends!(health_readiness_metrics_and_docs_are_served);

async fn health_readiness_metrics_and_docs_are_served(backend: Backend) -> anyhow::Result<()> {
    let app = TestApp::spawn(backend).await?;
    let health = app.call(Method::GET, "/healthz", None, None).await?;
    assert_eq!(health.status, StatusCode::OK);
    assert!(health.headers.get("x-request-id").is_some_and(|v| !v.is_empty()));
    let ready = app.call(Method::GET, "/readyz", None, None).await?;
    assert_eq!(ready.status, StatusCode::OK);
    let expected = match backend {
        Backend::Sqlite => "sqlite",
        Backend::Postgres => "postgres",
    };
    assert_eq!(ready.body["database"], expected);

    let metrics = app.client.get(format!("{}/metrics", app.base)).send().await?.text().await?;
    assert!(metrics.contains("sortie_http_requests_total"), "{metrics}");
    assert!(metrics.contains("path=\"/readyz\""));

    let spec = app.call(Method::GET, "/openapi.json", None, None).await?;
    assert_eq!(spec.status, StatusCode::OK);
    assert!(spec.body["openapi"].as_str().is_some_and(|v| v.starts_with('3')));
    for path in
        ["/v1/requests", "/v1/auth/login", "/v1/jobs/{id}/events", "/v1/orgs/{id}/territories", "/v1/track/{token}"]
    {
        assert!(spec.body["paths"][path].is_object(), "{path} missing from the OpenAPI document");
    }
    // The docs page and its assets come from the binary, not a CDN.
    let page = app.client.get(format!("{}/docs/", app.base)).send().await?;
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await?;
    assert!(!html.contains("https://"), "the docs page must not load anything from the internet");
    let js = app.client.get(format!("{}/docs/swagger-ui-bundle.js", app.base)).send().await?;
    assert_eq!(js.status(), StatusCode::OK);

    // A path no route matches says so, unlike an object outside the caller's scope.
    let unknown = app.call(Method::GET, "/v1/nothing-here", None, None).await?;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    assert_eq!(unknown.code(), "no_such_route");
    let wrong_method = app.call(Method::DELETE, "/v1/requests", None, None).await?;
    assert_eq!(wrong_method.code(), "no_such_route");
    Ok(())
}
