//! Hole 5: only the organisation that accepted a job (or an ancestor) names or
//! changes its technician; another link of the chain cannot take it.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::both_backends;
use crate::helpers::{Backend, TestApp};
use crate::offers::{chain, job, login_with, probe_booking, technician};

both_backends!(a_sibling_in_the_chain_cannot_take_an_accepted_job_for_its_own_technician,);

async fn a_sibling_in_the_chain_cannot_take_an_accepted_job_for_its_own_technician(
    backend: Backend,
) -> anyhow::Result<()> {
    // Arrange: vendor → A → B (routes by hand) → C → D, and E, a second child of B.
    let app = TestApp::spawn(backend).await?;
    let c = chain(&app).await?;
    let r = app
        .call(Method::PATCH, &format!("/v1/orgs/{}", c.orgs[1]), Some(&c.admin), Some(&json!({"manual_routing": true})))
        .await?;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let e = app
        .post("/v1/orgs", &c.admin, &json!({"parent_id": c.orgs[1], "name": "Probe E", "timezone": "Asia/Krasnoyarsk"}))
        .await?
        .str("id");
    let tech_e = technician(&app, &c.admin, &e, "Tech E", 20.0, 5).await?;
    let u = app
        .post(
            "/v1/users",
            &c.admin,
            &json!({"email": "dispatcher-e@probe.example", "password": "probe-password", "role": "dispatcher", "org_id": e}),
        )
        .await?;
    assert_eq!(u.status, StatusCode::CREATED, "{}", u.body);
    let disp_e = login_with(&app, "dispatcher-e@probe.example", "probe-password").await?;
    let customer = app.login("customer@demo.sortie").await?;
    let id = app.book(&customer, &probe_booking(), None).await?.str("id");
    let b = &c.dispatchers[1];
    // B passes the offer to E, E declines (it stays in the chain and sees the job), the offer comes back to B,
    // and B accepts without naming a technician.
    let r = app.post(&format!("/v1/jobs/{id}/subcontract"), b, &json!({"org_id": e})).await?;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let r = app.post(&format!("/v1/jobs/{id}/decline"), &disp_e, &json!({"reason": "busy"})).await?;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(job(&app, &c.admin, &id).await?["offer"]["org_id"], c.orgs[1].as_str(), "back at B");
    let r = app.post(&format!("/v1/jobs/{id}/accept"), b, &json!({})).await?;
    assert_eq!((r.status, r.str("status")), (StatusCode::OK, "accepted".to_owned()), "{}", r.body);
    assert_eq!(app.get(&format!("/v1/jobs/{id}"), &disp_e).await?.status, StatusCode::OK, "E still sees it");

    // Act + assert: E names its own technician: 404, and nothing changed.
    let r = app.post(&format!("/v1/jobs/{id}/reassign"), &disp_e, &json!({"technician_id": tech_e})).await?;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.body);
    let j = job(&app, &c.admin, &id).await?;
    assert_eq!((j["status"].clone(), j["technician_id"].clone()), (json!("accepted"), json!(null)));

    // The accepting organisation and its ancestors may: B names D's technician, A moves it to its own.
    let r = app.post(&format!("/v1/jobs/{id}/reassign"), b, &json!({"technician_id": c.techs[3]})).await?;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let r =
        app.post(&format!("/v1/jobs/{id}/reassign"), &c.dispatchers[0], &json!({"technician_id": c.techs[0]})).await?;
    assert_eq!((r.status, r.str("technician_id")), (StatusCode::OK, c.techs[0].clone()), "{}", r.body);
    // E still cannot take it, now that it has a technician.
    let r = app.post(&format!("/v1/jobs/{id}/reassign"), &disp_e, &json!({"technician_id": tech_e})).await?;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.body);
    Ok(())
}
