//! The OpenAPI document describes the API as it answers: every request and
//! 2xx body has a real schema, every error response the error object, and
//! real answers of the sync endpoints (and the requests that caused them)
//! validate against the document's schemas (JSON Schema 2020-12, which
//! OpenAPI 3.1 schemas are, with formats checked).
//!
//! SQLite only: the document does not depend on the database.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{Backend, Resp, TestApp, booking};

/// The served document.
async fn document(app: &TestApp) -> anyhow::Result<Value> {
    let r = app.call(Method::GET, "/openapi.json", None, None).await?;
    anyhow::ensure!(r.status == StatusCode::OK, "{}", r.status);
    Ok(r.body)
}

/// A validator for the component `name` of `doc` (its `$ref`s resolve inside the document).
fn validator(doc: &Value, name: &str) -> anyhow::Result<jsonschema::Validator> {
    let schema = json!({
        "$ref": format!("#/components/schemas/{name}"),
        "components": doc["components"],
    });
    jsonschema::draft202012::options()
        .should_validate_formats(true)
        .build(&schema)
        .map_err(|e| anyhow::anyhow!("schema {name} does not compile: {e}"))
}

/// Fails with every violation when `instance` does not match the component `name`.
#[track_caller]
fn check(doc: &Value, name: &str, instance: &Value) {
    let v = validator(doc, name).unwrap();
    let errors: Vec<String> = v.iter_errors(instance).map(|e| format!("{} at {}", e, e.instance_path())).collect();
    assert!(errors.is_empty(), "{name} does not describe {instance:#}:\n{}", errors.join("\n"));
}

/// Fails when `instance` matches the component `name`.
#[track_caller]
fn check_refused(doc: &Value, name: &str, instance: &Value) {
    assert!(!validator(doc, name).unwrap().is_valid(instance), "{name} should refuse {instance:#}");
}

/// Follows a local `$ref`.
fn resolve<'a>(doc: &'a Value, schema: &'a Value) -> &'a Value {
    match schema.get("$ref").and_then(Value::as_str).and_then(|r| r.strip_prefix("#/components/schemas/")) {
        Some(name) => &doc["components"]["schemas"][name],
        None => schema,
    }
}

/// An object schema that says nothing about its members: no properties, no
/// composition, no `additionalProperties` schema and no description.
fn is_bare(schema: &Value) -> bool {
    let Some(o) = schema.as_object() else { return false };
    let object_type =
        o.get("type").is_some_and(|t| t == "object" || t.as_array().is_some_and(|a| a.contains(&json!("object"))));
    let said = ["properties", "oneOf", "anyOf", "allOf", "$ref", "items", "enum", "description"]
        .iter()
        .any(|k| o.get(*k).is_some_and(|v| v.as_object().is_none_or(|m| !m.is_empty())))
        || o.get("additionalProperties").is_some_and(Value::is_object);
    o.is_empty() || (object_type && !said)
}

/// Every schema nested in `schema` (properties, items, compositions), with a path.
fn walk<'a>(path: String, schema: &'a Value, out: &mut Vec<(String, &'a Value)>) {
    out.push((path.clone(), schema));
    if let Some(props) = schema.get("properties").and_then(Value::as_object) {
        for (k, v) in props {
            walk(format!("{path}.{k}"), v, out);
        }
    }
    for key in ["items", "additionalProperties"] {
        if let Some(v) = schema.get(key).filter(|v| v.is_object()) {
            walk(format!("{path}[{key}]"), v, out);
        }
    }
    for key in ["oneOf", "anyOf", "allOf"] {
        for (i, v) in schema.get(key).and_then(Value::as_array).into_iter().flatten().enumerate() {
            walk(format!("{path}/{key}[{i}]"), v, out);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_body_has_a_schema_and_every_error_the_error_object() -> anyhow::Result<()> {
    // Arrange
    let app = TestApp::spawn(Backend::Sqlite).await?;

    // Act
    let doc = document(&app).await?;

    // Assert
    let mut problems = Vec::new();
    let mut operation_ids = std::collections::HashSet::new();
    for (path, item) in doc["paths"].as_object().into_iter().flatten() {
        for (method, op) in item.as_object().into_iter().flatten() {
            let at = format!("{} {path}", method.to_uppercase());
            if !operation_ids.insert(op["operationId"].as_str().unwrap_or_default().to_owned()) {
                problems.push(format!("{at}: operationId {} is not unique", op["operationId"]));
            }
            let responses = op["responses"].as_object().cloned().unwrap_or_default();
            if let Some(content) = op["requestBody"]["content"].as_object() {
                for (ctype, c) in content {
                    if ctype.contains("json") && is_bare(resolve(&doc, &c["schema"])) {
                        problems.push(format!("{at}: request body is a bare object"));
                    }
                }
            }
            let bearer = op["security"].as_array().is_some_and(|s| !s.is_empty());
            if bearer && !responses.contains_key("401") {
                problems.push(format!("{at}: bearer endpoint without 401"));
            }
            for (status, response) in &responses {
                let content = response["content"].as_object();
                if status.starts_with('2') && status != "204" {
                    match content {
                        None => problems.push(format!("{at} {status}: no body schema")),
                        Some(c) => {
                            for (ctype, c) in c {
                                if ctype.contains("json") && is_bare(resolve(&doc, &c["schema"])) {
                                    problems.push(format!("{at} {status}: bare object"));
                                }
                            }
                        }
                    }
                } else if status == "default" {
                    problems.push(format!("{at}: a `default` response would make any status documented"));
                } else if status.starts_with('4') || status.starts_with('5') {
                    let schema = content.and_then(|c| c.get("application/json")).map(|c| &c["schema"]);
                    if schema.and_then(|s| s["$ref"].as_str()) != Some("#/components/schemas/Error") {
                        problems.push(format!("{at} {status}: not the Error schema"));
                    }
                }
            }
        }
    }
    // Nested bare objects in components: free-form parts must at least say what they hold.
    for (name, schema) in doc["components"]["schemas"].as_object().into_iter().flatten() {
        let mut all = Vec::new();
        walk(name.clone(), schema, &mut all);
        for (path, s) in all {
            if is_bare(s) {
                problems.push(format!("component {path} is a bare object"));
            }
        }
    }
    // Every `$ref` points at a component that exists (a dangling one leaves a parameter untested by clients).
    let mut refs = Vec::new();
    collect_refs(&doc, &mut refs);
    for r in refs {
        let name = r.strip_prefix("#/components/schemas/").unwrap_or(r);
        if doc["components"]["schemas"].get(name).is_none() {
            problems.push(format!("$ref {r} does not resolve"));
        }
    }
    assert!(problems.is_empty(), "undocumented bodies:\n{}", problems.join("\n"));
    // The sync bodies are described member by member.
    let schemas = &doc["components"]["schemas"];
    assert_eq!(schemas["PushRequest"]["additionalProperties"], json!(false));
    assert_eq!(schemas["Mutation"]["oneOf"].as_array().map(Vec::len), Some(mobile_sync::mutation::NAMES.len()));
    for name in mobile_sync::mutation::NAMES {
        assert!(
            schemas["Mutation"]["discriminator"]["mapping"].get(*name).is_some(),
            "mutation {name} is not documented"
        );
    }
    Ok(())
}

/// Every `$ref` string anywhere under `value`.
fn collect_refs<'a>(value: &'a Value, out: &mut Vec<&'a str>) {
    match value {
        Value::Object(map) => {
            for (key, v) in map {
                match (key.as_str(), v.as_str()) {
                    ("$ref", Some(r)) => out.push(r),
                    _ => collect_refs(v, out),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| collect_refs(v, out)),
        _ => {}
    }
}

/// An organisation with one technician (with a login) and a dispatcher, near (60, 100).
struct Fixture {
    dispatcher: String,
    technician_id: String,
    technician: String,
    customer: String,
}

async fn login(app: &TestApp, email: &str, password: &str) -> anyhow::Result<String> {
    let r =
        app.call(Method::POST, "/v1/auth/login", None, Some(&json!({"email": email, "password": password}))).await?;
    anyhow::ensure!(r.status == StatusCode::OK, "login {email}: {}", r.body);
    Ok(r.str("access_token"))
}

async fn fixture(app: &TestApp) -> anyhow::Result<Fixture> {
    let admin = app.login("admin@demo.sortie").await?;
    let vendor = app.org("vendor").await?.id;
    let org = app
        .post("/v1/orgs", &admin, &json!({"parent_id": vendor, "name": "Doc Org", "timezone": "Asia/Krasnoyarsk"}))
        .await?;
    anyhow::ensure!(org.status == StatusCode::CREATED, "{}", org.body);
    let org = org.str("id");
    let t = app
        .post(
            "/v1/technicians",
            &admin,
            &json!({"org_id": org, "name": "Doc Tech", "skills": ["probe"], "home_base": {"lat": 60.05, "lon": 100.0},
                "shift": {"start": "00:00", "end": "23:59"}, "timezone": "Asia/Krasnoyarsk", "daily_capacity": 40,
                "parts": [{"sku": "psu-12v", "qty": 5}]}),
        )
        .await?;
    anyhow::ensure!(t.status == StatusCode::CREATED, "{}", t.body);
    let technician_id = t.str("id");
    for (email, role, link) in [
        ("doc-tech@probe.example", "technician", json!({"technician_id": technician_id})),
        ("doc-dispatcher@probe.example", "dispatcher", json!({"org_id": org})),
    ] {
        let mut body = json!({"email": email, "password": "probe-password", "role": role});
        body.as_object_mut().unwrap().extend(link.as_object().unwrap().clone());
        let u = app.post("/v1/users", &admin, &body).await?;
        anyhow::ensure!(u.status == StatusCode::CREATED, "{}", u.body);
    }
    Ok(Fixture {
        dispatcher: login(app, "doc-dispatcher@probe.example", "probe-password").await?,
        technician: login(app, "doc-tech@probe.example", "probe-password").await?,
        technician_id,
        customer: app.login("customer@demo.sortie").await?,
    })
}

impl Fixture {
    /// Books a `probe` job for the coming hours (the phone may set off to it) and has the
    /// dispatcher schedule it to the technician.
    async fn scheduled_job(&self, app: &TestApp) -> anyhow::Result<String> {
        let mut b = booking();
        let now = api::clock::Clock::now(&*app.clock);
        b["window"] = json!({"start": (now + chrono::Duration::hours(1)).to_rfc3339(),
            "end": (now + chrono::Duration::hours(3)).to_rfc3339()});
        b["location"] = json!({"lat": 60.0, "lon": 100.0});
        b["required_skills"] = json!(["probe"]);
        let booked = app.book(&self.customer, &b, None).await?;
        anyhow::ensure!(booked.status == StatusCode::CREATED, "{}", booked.body);
        let id = booked.str("id");
        let r = app
            .post(&format!("/v1/jobs/{id}/accept"), &self.dispatcher, &json!({"technician_id": self.technician_id}))
            .await?;
        anyhow::ensure!(r.status == StatusCode::OK && r.body["status"] == "scheduled", "{}", r.body);
        Ok(id)
    }
}

fn mutation(seq: u64, name: &str, args: Value) -> Value {
    json!({"seq": seq, "id": uuid::Uuid::new_v4(), "name": name, "args": args})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_sync_requests_and_answers_match_the_document() -> anyhow::Result<()> {
    // Arrange
    let app = TestApp::spawn(Backend::Sqlite).await?;
    let doc = document(&app).await?;
    let f = fixture(&app).await?;
    let job = f.scheduled_job(&app).await?;
    let cancelled = f.scheduled_job(&app).await?;
    let tech = f.technician.as_str();

    // Act and assert, step by step.
    let register = json!({"platform": "android", "push_token": "fcm-token", "app_version": "1.4.2"});
    check(&doc, "RegisterDevice", &register);
    let r = app.post("/v1/devices", tech, &register).await?;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    check(&doc, "DeviceRegistered", &r.body);
    let device = r.str("device_id");

    let pull = json!({"device_id": device, "cursor": null});
    check(&doc, "PullRequest", &pull);
    let r = app.post("/v1/sync/pull", tech, &pull).await?;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    check(&doc, "PullResponse", &r.body);
    let cursor = r.str("cursor");
    assert!(r.body["changes"].as_array().is_some_and(|c| c.iter().any(|c| c["entity"] == "job")), "{}", r.body);

    let cancel = app
        .post(&format!("/v1/jobs/{cancelled}/cancel"), &f.dispatcher, &json!({"reason": "no longer needed"}))
        .await?;
    assert_eq!(cancel.status, StatusCode::OK, "{}", cancel.body);
    let sha = "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824";
    let batch = json!({"device_id": device, "sent_at": "2030-01-01T10:00:00+03:00", "mutations": [
        mutation(1, "job.set_status", json!({"job_id": job, "status": "en_route", "at": "2030-01-01T09:00:00+03:00"})),
        mutation(2, "job.set_status", json!({"job_id": job, "status": "on_site"})),
        mutation(3, "job.add_note", json!({"job_id": job, "note_id": uuid::Uuid::new_v4(), "text": "Cleaned the print head."})),
        mutation(4, "job.set_checklist", json!({"job_id": job, "item": "power_checked", "value": true})),
        mutation(5, "job.add_part", json!({"job_id": job, "part_use_id": uuid::Uuid::new_v4(), "sku": "psu-12v", "qty": 1, "serial": "S-1"})),
        mutation(6, "job.attach_photo", json!({"job_id": job, "photo_id": uuid::Uuid::new_v4(), "sha256": sha, "taken_at": "2030-01-01T09:30:00+03:00"})),
        mutation(7, "job.sign", json!({"job_id": job, "signer_name": "Ivan Petrov", "image_sha256": sha})),
        mutation(8, "position.ping", json!({"lat": 60.0, "lon": 100.0, "accuracy_m": 5.0, "at": "2030-01-01T09:40:00+03:00"})),
        mutation(9, "job.set_status", json!({"job_id": job, "status": "completed"})),
        mutation(10, "job.set_status", json!({"job_id": cancelled, "status": "en_route"})),
        mutation(11, "job.add_note", json!({"job_id": job, "note_id": uuid::Uuid::new_v4(), "text": "After completion"})),
    ]});
    check(&doc, "PushRequest", &batch);
    let r = app.post("/v1/sync/push", tech, &batch).await?;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    check(&doc, "PushResponse", &r.body);
    let statuses: Vec<&str> =
        r.body["results"].as_array().unwrap().iter().map(|m| m["status"].as_str().unwrap()).collect();
    assert_eq!(statuses[..9], ["applied"; 9], "{}", r.body);
    assert_eq!(r.body["results"][9]["reason"], "job_cancelled", "{}", r.body);
    assert_eq!(r.body["results"][10]["reason"], "report_locked", "{}", r.body);

    let retry = app.post("/v1/sync/push", tech, &batch).await?;
    assert_eq!(retry.status, StatusCode::OK, "{}", retry.body);
    check(&doc, "PushResponse", &retry.body);
    assert_eq!(retry.body["results"][0]["status"], "duplicate", "{}", retry.body);

    // Arguments the schema refuses are answered `rejected`, one by one.
    let odd = json!({"device_id": device, "mutations": [
        mutation(12, "job.add_part", json!({"job_id": job, "part_use_id": uuid::Uuid::new_v4(), "sku": "Bad Sku", "qty": 0})),
        mutation(13, "job.teleport", json!({"job_id": job})),
        mutation(14, "job.add_note", json!({"job_id": uuid::Uuid::new_v4(), "note_id": uuid::Uuid::new_v4(), "text": "x"})),
    ]});
    check_refused(&doc, "PushRequest", &odd);
    let r = app.post("/v1/sync/push", tech, &odd).await?;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    check(&doc, "PushResponse", &r.body);
    let reasons: Vec<&str> =
        r.body["results"].as_array().unwrap().iter().map(|m| m["reason"].as_str().unwrap()).collect();
    assert_eq!(reasons, ["invalid_args", "unknown_mutation", "not_assigned"], "{}", r.body);

    let r = app.post("/v1/sync/pull", tech, &json!({"device_id": device, "cursor": cursor})).await?;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    check(&doc, "PullResponse", &r.body);
    assert!(r.body["changes"].as_array().unwrap().iter().any(|c| c["op"] == "delete"), "{}", r.body);
    let r = app.post("/v1/sync/pull", tech, &json!({"device_id": device, "cursor": "c1.not-a-cursor"})).await?;
    check(&doc, "PullResponse", &r.body);
    assert_eq!(r.body["reset_required"], true);

    let photo = app.client.put(format!("{}/v1/photos/{sha}", app.base)).bearer_auth(tech).body("hello").send().await?;
    assert_eq!(photo.status(), StatusCode::CREATED);
    check(&doc, "PhotoStored", &photo.json::<Value>().await?);

    // Errors: each validates as the error object.
    let errors: Vec<Resp> = vec![
        app.post("/v1/sync/push", tech, &json!({"device_id": device, "mutations": [mutation(99, "position.ping", json!({}))]})).await?,
        app.post("/v1/sync/push", tech, &json!({"device_id": device, "mutations": (1..=501).map(|i| mutation(i, "position.ping", json!({}))).collect::<Vec<_>>()})).await?,
        app.post("/v1/sync/pull", tech, &json!({"device_id": "nope"})).await?,
        app.post("/v1/sync/pull", tech, &json!({"device_id": device, "colour": "blue"})).await?,
        app.post("/v1/sync/pull", &f.customer, &json!({"device_id": device})).await?,
        app.call(Method::POST, "/v1/sync/pull", None, Some(&json!({"device_id": device}))).await?,
        app.post(&format!("/v1/jobs/{job}/cancel"), &f.dispatcher, &json!({})).await?,
    ];
    let got: Vec<u16> = errors.iter().map(|r| r.status.as_u16()).collect();
    assert_eq!(got, [409, 413, 404, 400, 403, 401, 409], "{:?}", errors.iter().map(|r| &r.body).collect::<Vec<_>>());
    for r in &errors {
        check(&doc, "Error", &r.body);
    }
    assert_eq!(errors[0].body["error"]["expected_seq"], 15);
    assert_eq!(errors[1].body["error"]["max_mutations"], 500);
    Ok(())
}
