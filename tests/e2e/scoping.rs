//! Access scoping: objects outside the caller's scope answer 404, whoever asks.

use reqwest::StatusCode;
use serde_json::json;

use crate::both_backends;
use crate::helpers::{Backend, TestApp, booking};

both_backends!(
    a_partners_dispatcher_cannot_read_another_partners_job_customer_or_technician,
    a_customer_sees_only_their_own_requests,
    an_ancestor_sees_its_descendants_jobs_but_not_the_reverse,
);

async fn a_partners_dispatcher_cannot_read_another_partners_job_customer_or_technician(
    backend: Backend,
) -> anyhow::Result<()> {
    let app = TestApp::spawn(backend).await?;
    let central = app.login("dispatcher@central.demo.sortie").await?;
    let ural = app.login("dispatcher@ural.demo.sortie").await?;
    let mut body = booking();
    body["contact"] = json!({"name": "Anna Central", "phone": "+7 901 111-22-33"});
    let r = app.book(&central, &body, None).await?;
    assert_eq!(r.status, StatusCode::CREATED);
    let (job, customer) = (r.str("id"), r.str("customer_id"));
    let tech = app
        .post(
            "/v1/technicians",
            &central,
            &json!({"org_id": app.org("central").await?.id, "name": "Local Tech",
        "home_base": {"lat": 55.7, "lon": 37.6}, "shift": {"start": "09:00", "end": "18:00"}, "daily_capacity": 5}),
        )
        .await?
        .str("id");

    // The owner sees everything.
    for path in [
        format!("/v1/jobs/{job}"),
        format!("/v1/jobs/{job}/events"),
        format!("/v1/customers/{customer}"),
        format!("/v1/technicians/{tech}"),
        format!("/v1/requests/{job}"),
    ] {
        assert_eq!(app.get(&path, &central).await?.status, StatusCode::OK, "{path}");
    }
    // Another partner: 404 for each, never 403, and the body does not say it exists.
    for path in [
        format!("/v1/jobs/{job}"),
        format!("/v1/jobs/{job}/events"),
        format!("/v1/customers/{customer}"),
        format!("/v1/technicians/{tech}"),
        format!("/v1/requests/{job}"),
    ] {
        let r = app.get(&path, &ural).await?;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{path}");
        assert_eq!(r.code(), "not_found");
    }
    assert_eq!(app.post(&format!("/v1/jobs/{job}/cancel"), &ural, &json!({})).await?.status, StatusCode::NOT_FOUND);
    let listed = app.get("/v1/jobs", &ural).await?;
    assert!(listed.body["items"].as_array().is_some_and(|items| items.iter().all(|j| j["id"] != job.as_str())));
    // The same as an unknown id.
    assert_eq!(app.get("/v1/jobs/00000000-0000-0000-0000-000000000000", &ural).await?.status, StatusCode::NOT_FOUND);
    Ok(())
}

async fn a_customer_sees_only_their_own_requests(backend: Backend) -> anyhow::Result<()> {
    let app = TestApp::spawn(backend).await?;
    let admin = app.login("admin@demo.sortie").await?;
    let customer = app.login("customer@demo.sortie").await?;
    let r = app
        .post(
            "/v1/users",
            &admin,
            &json!({"email": "other@customer.example", "password": "password-9", "role": "customer"}),
        )
        .await?;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let other = app
        .call(
            reqwest::Method::POST,
            "/v1/auth/login",
            None,
            Some(&json!({"email": "other@customer.example", "password": "password-9"})),
        )
        .await?
        .str("access_token");
    let mut body = booking();
    body["contact"] = json!({"name": "Other Person", "phone": "+7 902 222-33-44"});
    let theirs = app.book(&other, &body, None).await?;
    assert_eq!(theirs.status, StatusCode::CREATED);
    let id = theirs.str("id");
    assert_eq!(app.get(&format!("/v1/requests/{id}"), &other).await?.status, StatusCode::OK);
    assert_eq!(app.get(&format!("/v1/requests/{id}"), &customer).await?.status, StatusCode::NOT_FOUND);
    assert_eq!(
        app.post(&format!("/v1/requests/{id}/cancel"), &customer, &json!({})).await?.status,
        StatusCode::NOT_FOUND
    );
    // The new customer's login was linked to the card the booking created.
    let me = app.get("/v1/users/me", &other).await?;
    assert_eq!(me.body["customer_id"], theirs.body["customer_id"]);
    Ok(())
}

async fn an_ancestor_sees_its_descendants_jobs_but_not_the_reverse(backend: Backend) -> anyhow::Result<()> {
    let app = TestApp::spawn(backend).await?;
    // The Moscow sub-partner books (it is the general contractor); the central
    // partner above it and the vendor see the job; a sibling sub-partner does not.
    let sub = app.org("central-moscow").await?;
    let deep = app.login("dispatcher@central-moscow.demo.sortie").await?;
    // A skill nobody has: the job stays with its contractor (unassignable), offered to nobody below.
    let mut body = booking();
    body["required_skills"] = json!(["no_such_skill"]);
    let r = app.book(&deep, &body, None).await?;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let id = r.str("id");
    let job = app.get(&format!("/v1/jobs/{id}"), &deep).await?;
    assert_eq!(job.body["contractor_org_id"], sub.id.as_str());
    for email in
        ["dispatcher@central.demo.sortie", "dispatcher@vendor.demo.sortie", "reviewer@demo.sortie", "admin@demo.sortie"]
    {
        let t = app.login(email).await?;
        assert_eq!(app.get(&format!("/v1/jobs/{id}/events"), &t).await?.status, StatusCode::OK, "{email}");
    }
    // The level-3 crew under the Moscow sub-partner is a descendant, not an ancestor.
    let below = app.login("dispatcher@central-moscow-field.demo.sortie").await?;
    assert_eq!(app.get(&format!("/v1/jobs/{id}"), &below).await?.status, StatusCode::NOT_FOUND);
    Ok(())
}
