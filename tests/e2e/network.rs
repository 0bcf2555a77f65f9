//! The partner network: the demo tree, organisations, territories,
//! agreements, technicians and users, each within the caller's subtree.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::both_backends;
use crate::helpers::{Backend, TestApp};

both_backends!(
    the_demo_network_has_a_vendor_regional_partners_depth_four_and_300_technicians,
    an_admin_builds_a_four_level_chain_and_each_dispatcher_sees_only_its_subtree,
    exclusive_territories_may_not_overlap_unless_one_org_is_an_ancestor,
    an_organisation_without_an_agreement_inherits_its_nearest_ancestors,
    dispatchers_manage_technicians_and_users_of_their_own_subtree_only,
);

fn square(lon: f64, lat: f64, size: f64) -> Value {
    json!({"type": "Polygon", "coordinates": [[[lon, lat], [lon + size, lat], [lon + size, lat + size], [lon, lat + size], [lon, lat]]]})
}

async fn all_pages(app: &TestApp, path: &str, token: &str) -> anyhow::Result<Vec<Value>> {
    let mut items = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let sep = if path.contains('?') { '&' } else { '?' };
        let url = match &cursor {
            Some(c) => format!("{path}{sep}limit=50&cursor={c}"),
            None => format!("{path}{sep}limit=50"),
        };
        let page = app.get(&url, token).await?;
        anyhow::ensure!(page.status == StatusCode::OK, "{url}: {} {}", page.status, page.body);
        items.extend(page.body["items"].as_array().cloned().unwrap_or_default());
        match page.body["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => return Ok(items),
        }
    }
}

async fn the_demo_network_has_a_vendor_regional_partners_depth_four_and_300_technicians(
    backend: Backend,
) -> anyhow::Result<()> {
    let app = TestApp::spawn(backend).await?;
    let admin = app.login("admin@demo.sortie").await?;
    let orgs = all_pages(&app, "/v1/orgs", &admin).await?;
    let level = |n: i64| orgs.iter().filter(|o| o["level"] == n).count();
    assert_eq!(level(0), 1, "one vendor");
    assert_eq!(level(1), 8, "one regional partner per federal district");
    assert!(level(2) >= 8 && level(4) >= 1, "sub-partners down to depth 4: {orgs:?}");
    let techs = all_pages(&app, "/v1/technicians", &admin).await?;
    assert_eq!(techs.len(), 300);
    // Technicians stand in Russian cities (Kaliningrad to Chukotka) with IANA time zones.
    for t in &techs {
        let (lat, lon) = (t["home_base"]["lat"].as_f64().unwrap_or(0.0), t["home_base"]["lon"].as_f64().unwrap_or(0.0));
        assert!((40.0..78.0).contains(&lat) && !(-168.0..=19.0).contains(&lon), "{t}");
        assert!(t["timezone"].as_str().is_some_and(|tz| tz.contains('/')));
    }
    let in_moscow = techs.iter().filter(|t| t["timezone"] == "Europe/Moscow").count();
    assert!(in_moscow > 60, "weighted by population, Moscow time holds many technicians: {in_moscow}");
    // Every role can sign in.
    for email in
        ["reviewer@demo.sortie", "customer@demo.sortie", "tech300@demo.sortie", "dispatcher@vendor.demo.sortie"]
    {
        app.login(email).await?;
    }
    Ok(())
}

async fn an_admin_builds_a_four_level_chain_and_each_dispatcher_sees_only_its_subtree(
    backend: Backend,
) -> anyhow::Result<()> {
    let app = TestApp::spawn(backend).await?;
    let admin = app.login("admin@demo.sortie").await?;
    let south = app.org("south").await?;
    let mut parent = south.id.clone();
    let mut ids = Vec::new();
    for depth in 2..=4 {
        let r = app
            .post(
                "/v1/orgs",
                &admin,
                &json!({"parent_id": parent, "name": format!("Level {depth} Crew"), "manual_routing": depth == 3}),
            )
            .await?;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
        assert_eq!(r.body["level"], depth);
        assert_eq!(r.body["timezone"], south.timezone.as_str(), "time zone inherited from the parent");
        parent = r.str("id");
        ids.push(parent.clone());
    }
    // A dispatcher of the level-2 org creates a child below it, and sees levels 2-5 but not its parent.
    let d2_email = "d2@south.example";
    let r = app
        .post(
            "/v1/users",
            &admin,
            &json!({"email": d2_email, "password": "password-2", "role": "dispatcher", "org_id": ids[0]}),
        )
        .await?;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let d2 = app
        .call(Method::POST, "/v1/auth/login", None, Some(&json!({"email": d2_email, "password": "password-2"})))
        .await?
        .str("access_token");
    let child =
        app.post("/v1/orgs", &d2, &json!({"parent_id": ids[2], "name": "Level 5 Crew", "slug": "level-five"})).await?;
    assert_eq!(child.status, StatusCode::CREATED, "{}", child.body);
    assert_eq!(child.body["level"], 5);
    let seen = all_pages(&app, "/v1/orgs", &d2).await?;
    let seen_ids: Vec<&str> = seen.iter().filter_map(|o| o["id"].as_str()).collect();
    assert_eq!(seen.len(), 4, "{seen_ids:?}");
    assert!(!seen_ids.contains(&south.id.as_str()));
    assert_eq!(app.get(&format!("/v1/orgs/{}", south.id), &d2).await?.status, StatusCode::NOT_FOUND);
    let outside = app.post("/v1/orgs", &d2, &json!({"parent_id": south.id, "name": "Sibling"})).await?;
    assert_eq!(outside.status, StatusCode::NOT_FOUND);
    let taken =
        app.post("/v1/orgs", &admin, &json!({"parent_id": south.id, "name": "Again", "slug": "level-five"})).await?;
    assert_eq!(taken.status, StatusCode::CONFLICT);
    // Patch: routing mode and name.
    let p = app
        .call(
            Method::PATCH,
            &format!("/v1/orgs/{}", ids[1]),
            Some(&d2),
            Some(&json!({"manual_routing": false, "name": "Renamed"})),
        )
        .await?;
    assert_eq!(p.status, StatusCode::OK);
    assert_eq!(p.body["manual_routing"], false);
    assert_eq!(p.body["name"], "Renamed");
    Ok(())
}

async fn exclusive_territories_may_not_overlap_unless_one_org_is_an_ancestor(backend: Backend) -> anyhow::Result<()> {
    let app = TestApp::spawn(backend).await?;
    let admin = app.login("admin@demo.sortie").await?;
    let ural = app.org("ural").await?;
    let siberia = app.org("siberia").await?;
    let put = |org: String, body: Value| {
        let app = &app;
        let admin = admin.clone();
        async move { app.call(Method::PUT, &format!("/v1/orgs/{org}/territories"), Some(&admin), Some(&body)).await }
    };
    let r = put(ural.id.clone(), json!([{"geometry": square(60.0, 55.0, 2.0), "exclusive": true}])).await?;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);

    // An unrelated organisation overlapping: 409, and nothing stored.
    let r = put(siberia.id.clone(), json!([{"geometry": square(61.0, 56.0, 2.0), "exclusive": true}])).await?;
    assert_eq!(r.status, StatusCode::CONFLICT);
    assert_eq!(r.code(), "territory_overlap");
    assert_eq!(r.body["error"]["org_id"], ural.id.as_str());
    let stored = app.get(&format!("/v1/orgs/{}/territories", siberia.id), &admin).await?;
    assert_eq!(stored.body, json!([]));
    // Sharing only an edge is fine; a non-exclusive overlap is fine.
    let r = put(
        siberia.id.clone(),
        json!([
            {"geometry": square(62.0, 55.0, 2.0), "exclusive": true},
            {"geometry": square(60.5, 55.5, 1.0), "exclusive": false}
        ]),
    )
    .await?;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);

    // A descendant of ural may overlap ural (the deeper one wins at dispatch).
    let child = app.post("/v1/orgs", &admin, &json!({"parent_id": ural.id, "name": "Chelyabinsk Crew"})).await?;
    let r = put(child.str("id"), json!([{"geometry": square(60.5, 55.5, 0.5), "exclusive": true}])).await?;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);

    // Bad geometry: 422 naming the field; a multipolygon split at 180° is accepted.
    let open_ring = json!([{"geometry": {"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1], [0, 1]]]}, "exclusive": false}]);
    let r = put(siberia.id.clone(), open_ring).await?;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(r.field(), "[0].geometry.coordinates[0]");
    let r =
        put(siberia.id.clone(), json!([{"geometry": {"type": "Point", "coordinates": [0, 0]}, "exclusive": false}]))
            .await?;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(r.field(), "[0].geometry.type");
    let chukotka = json!([{"geometry": {"type": "MultiPolygon", "coordinates": [
        [[[175.0, 64.0], [180.0, 64.0], [180.0, 66.0], [175.0, 66.0], [175.0, 64.0]]],
        [[[-180.0, 64.0], [-175.0, 64.0], [-175.0, 66.0], [-180.0, 66.0], [-180.0, 64.0]]]
    ]}, "exclusive": true}]);
    let far_east = app.org("fareast").await?;
    assert_eq!(put(far_east.id, chukotka).await?.status, StatusCode::OK);
    Ok(())
}

async fn an_organisation_without_an_agreement_inherits_its_nearest_ancestors(backend: Backend) -> anyhow::Result<()> {
    let app = TestApp::spawn(backend).await?;
    let admin = app.login("admin@demo.sortie").await?;
    let vendor = app.org("vendor").await?;
    let volga = app.org("volga").await?;
    let child = app.post("/v1/orgs", &admin, &json!({"parent_id": volga.id, "name": "Kazan Crew"})).await?.str("id");
    let a = app.get(&format!("/v1/orgs/{child}/agreement"), &admin).await?;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(a.body["inherited_from"], vendor.id.as_str());

    let body = json!({"accept_within_min": {"low": 60, "normal": 30, "high": 15, "urgent": 5},
        "arrive_within_min": {"low": 2000, "normal": 1000, "high": 500, "urgent": 100}, "first_time_fix_target": 0.9});
    let put = app.call(Method::PUT, &format!("/v1/orgs/{}/agreement", volga.id), Some(&admin), Some(&body)).await?;
    assert_eq!(put.status, StatusCode::OK, "{}", put.body);
    let a = app.get(&format!("/v1/orgs/{child}/agreement"), &admin).await?;
    assert_eq!(a.body["inherited_from"], volga.id.as_str());
    assert_eq!(a.body["accept_within_min"]["urgent"], 5);
    // Replacing it keeps one agreement.
    let mut body2 = body.clone();
    body2["first_time_fix_target"] = json!(0.7);
    app.call(Method::PUT, &format!("/v1/orgs/{}/agreement", volga.id), Some(&admin), Some(&body2)).await?;
    assert_eq!(app.get(&format!("/v1/orgs/{child}/agreement"), &admin).await?.body["first_time_fix_target"], 0.7);

    let mut bad = body.clone();
    bad["accept_within_min"]["urgent"] = json!(0);
    let r = app.call(Method::PUT, &format!("/v1/orgs/{}/agreement", volga.id), Some(&admin), Some(&bad)).await?;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(r.field(), "accept_within_min.urgent");
    let mut missing = body.clone();
    missing["arrive_within_min"].as_object_mut().map(|m| m.remove("low"));
    let r = app.call(Method::PUT, &format!("/v1/orgs/{}/agreement", volga.id), Some(&admin), Some(&missing)).await?;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.field(), "arrive_within_min.low");
    Ok(())
}

async fn dispatchers_manage_technicians_and_users_of_their_own_subtree_only(backend: Backend) -> anyhow::Result<()> {
    let app = TestApp::spawn(backend).await?;
    let central = app.org("central").await?;
    let ural = app.org("ural").await?;
    let d = app.login("dispatcher@central.demo.sortie").await?;
    let tech = json!({"org_id": central.id, "name": "Pyotr Ivanov", "skills": ["cash_register", "network"],
        "home_base": {"lat": 55.75, "lon": 37.61}, "shift": {"start": "08:00", "end": "17:00", "days": [1, 2, 3, 4, 5]},
        "daily_capacity": 6, "parts": [{"sku": "fn-36", "qty": 2}]});
    let created = app.post("/v1/technicians", &d, &tech).await?;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    assert_eq!(created.body["timezone"], central.timezone.as_str());
    let id = created.str("id");

    let patched = app
        .call(
            Method::PATCH,
            &format!("/v1/technicians/{id}"),
            Some(&d),
            Some(&json!({"daily_capacity": 3, "active": false})),
        )
        .await?;
    assert_eq!(patched.status, StatusCode::OK);
    assert_eq!(patched.body["daily_capacity"], 3);
    assert_eq!(patched.body["active"], false);
    assert_eq!(patched.body["skills"], json!(["cash_register", "network"]));

    // A login for it, by the same dispatcher.
    let u = app.post("/v1/users", &d, &json!({"email": "pyotr@central.example", "password": "password-1", "role": "technician", "technician_id": id})).await?;
    assert_eq!(u.status, StatusCode::CREATED, "{}", u.body);
    assert_eq!(u.body["org_id"], central.id.as_str());
    let dup = app.post("/v1/users", &d, &json!({"email": "pyotr@central.example", "password": "password-1", "role": "technician", "technician_id": id})).await?;
    assert_eq!(dup.status, StatusCode::CONFLICT);

    // Another partner's dispatcher: 404 on the technician and its login, and cannot add technicians here.
    let other = app.login("dispatcher@ural.demo.sortie").await?;
    assert_eq!(app.get(&format!("/v1/technicians/{id}"), &other).await?.status, StatusCode::NOT_FOUND);
    assert_eq!(app.get(&format!("/v1/users/{}", u.str("id")), &other).await?.status, StatusCode::NOT_FOUND);
    let r =
        app.call(Method::PATCH, &format!("/v1/technicians/{id}"), Some(&other), Some(&json!({"active": true}))).await?;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(app.post("/v1/technicians", &other, &tech).await?.status, StatusCode::NOT_FOUND);
    let mut in_ural = tech.clone();
    in_ural["org_id"] = json!(ural.id);
    assert_eq!(app.post("/v1/technicians", &other, &in_ural).await?.status, StatusCode::CREATED);
    // Lists are scoped the same way.
    let listed = all_pages(&app, "/v1/technicians", &other).await?;
    assert!(listed.iter().all(|t| t["id"] != id.as_str()));

    // The users list filters by technician, organisation and role, inside the caller's scope.
    let by_tech = app.get(&format!("/v1/users?technician_id={id}"), &d).await?;
    assert_eq!(by_tech.status, StatusCode::OK, "{}", by_tech.body);
    assert_eq!(by_tech.body["items"].as_array().map(Vec::len), Some(1), "{}", by_tech.body);
    assert_eq!(by_tech.body["items"][0]["id"], u.body["id"]);
    let outside = app.get(&format!("/v1/users?technician_id={id}"), &other).await?;
    assert_eq!(outside.status, StatusCode::OK);
    assert_eq!(outside.body["items"], json!([]));
    let admin = app.login("admin@demo.sortie").await?;
    let techs = app.get(&format!("/v1/users?org_id={}&role=technician&limit=200", central.id), &admin).await?;
    assert_eq!(techs.status, StatusCode::OK, "{}", techs.body);
    let techs = techs.body["items"].as_array().cloned().unwrap_or_default();
    assert!(techs.iter().any(|t| t["id"] == u.body["id"]));
    assert!(techs.iter().all(|t| t["role"] == "technician" && t["org_id"] == central.id.as_str()));
    let customers = app.get("/v1/users?role=customer", &d).await?;
    assert_eq!(customers.body["items"], json!([]), "dispatchers never list customer logins");
    assert_eq!(app.get("/v1/users?role=pilot", &admin).await?.status, StatusCode::UNPROCESSABLE_ENTITY);

    // Invalid values name their field.
    for (patch, field) in [
        (json!({"shift": {"start": "25:00", "end": "17:00"}}), "shift.start"),
        (json!({"home_base": {"lat": 91.0, "lon": 0.0}}), "home_base.lat"),
        (json!({"skills": ["Bad Skill"]}), "skills[0]"),
        (json!({"timezone": "Mars/Olympus"}), "timezone"),
        (json!({"daily_capacity": -1}), "daily_capacity"),
    ] {
        let r = app.call(Method::PATCH, &format!("/v1/technicians/{id}"), Some(&d), Some(&patch)).await?;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{patch}");
        assert_eq!(r.field(), field, "{patch}");
    }
    Ok(())
}
